#include <gtest/gtest.h>

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

TEST(ParseIntegerTest, RejectsTrailingGarbage) {
  EXPECT_EQ(ParseInteger(std::string("-1")), -1);
  EXPECT_FALSE(ParseInteger(std::string("12x")).has_value());
  EXPECT_FALSE(ParseInteger(std::nullopt).has_value());
}

}  // namespace
}  // namespace wb::ldap
