#include <gtest/gtest.h>

#include <limits>

#include "ldap/kind.h"

namespace wb::ldap {
namespace {

TEST(AdQuotedUtf16Test, AsciiIsQuotedAndWidened) {
  auto v = AdQuotedUtf16("ab");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->view(), std::string("\"\0a\0b\0\"\0", 8));
}

TEST(AdQuotedUtf16Test, NonAsciiAndSupplementaryCharactersAreEncoded) {
  auto v = AdQuotedUtf16("\xc3\xa9\xf0\x9f\x94\x91");  // é and U+1F511 (a key)
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->view(), std::string("\"\0\xe9\0\x3d\xd8\x11\xdd\"\0", 10));
}

TEST(AdQuotedUtf16Test, InvalidUtf8IsRefused) {
  EXPECT_FALSE(AdQuotedUtf16("\xff").ok());
  EXPECT_FALSE(AdQuotedUtf16("\xc3").ok());          // truncated
  EXPECT_FALSE(AdQuotedUtf16("\xc0\xaf").ok());      // overlong
  EXPECT_FALSE(AdQuotedUtf16("\xed\xa0\x80").ok());  // a surrogate
}

TEST(GeneralizedTimeTest, ParsesOpenLdapTimestamps) {
  auto t = ParseGeneralizedTime("20261122004800Z");
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(std::chrono::system_clock::to_time_t(*t), 1795308480);
  EXPECT_TRUE(ParseGeneralizedTime("20261122004800.123456Z").has_value());
  EXPECT_FALSE(ParseGeneralizedTime("garbage").has_value());
}

// A directory's timestamps are untrusted input: one the clock cannot hold is no timestamp,
// not an overflow (which was undefined behaviour, and a garbage "password changed at").
TEST(GeneralizedTimeTest, ATimeBeyondTheClocksRangeIsNone) {
  EXPECT_FALSE(ParseGeneralizedTime("99991231235959Z").has_value());
  EXPECT_FALSE(ParseGeneralizedTime("10000101000000Z").has_value());
  auto last = ParseGeneralizedTime("22600101000000Z");
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(std::chrono::system_clock::to_time_t(*last), 9151488000);
}

TEST(FileTimeTest, ConvertsPwdLastSetAndRefusesWhatTheClockCannotHold) {
  // 2026-11-22 00:48:00 UTC, as AD writes it.
  auto t = FileTimeToWallTime(134397820800000000LL);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(std::chrono::system_clock::to_time_t(*t), 1795308480);
  EXPECT_FALSE(FileTimeToWallTime(0).has_value());  // "must change at next logon"
  EXPECT_FALSE(FileTimeToWallTime(-1).has_value());
  EXPECT_FALSE(FileTimeToWallTime(std::numeric_limits<long long>::max()).has_value());
  EXPECT_FALSE(FileTimeToWallTime(1).has_value());  // 1601: before what the clock holds
}

TEST(ParseIntegerTest, RejectsTrailingGarbage) {
  EXPECT_EQ(ParseInteger(std::string("-1")), -1);
  EXPECT_FALSE(ParseInteger(std::string("12x")).has_value());
  EXPECT_FALSE(ParseInteger(std::nullopt).has_value());
}

}  // namespace
}  // namespace wb::ldap
