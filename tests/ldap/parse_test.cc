#include <gtest/gtest.h>

#include <cstdint>
#include <ctime>
#include <limits>
#include <string>
#include <vector>

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

// replPropertyMetaData as a DC returns it: a 16-byte header, then 48-byte stamps.
struct Stamp {
  std::uint32_t attid;
  std::uint64_t seconds_since_1601;
};

void PutLe(std::string& b, std::uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) b.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

std::string MetaData(const std::vector<Stamp>& stamps, std::uint32_t version = 1) {
  std::string b;
  PutLe(b, version, 4);
  PutLe(b, 0, 4);
  PutLe(b, stamps.size(), 4);
  PutLe(b, 0, 4);
  for (const Stamp& s : stamps) {
    PutLe(b, s.attid, 4);
    PutLe(b, 3, 4);  // the attribute's version
    PutLe(b, s.seconds_since_1601, 8);
    b.append(16, '\x5a');  // the originating DC's invocation ID
    PutLe(b, 4018, 8);     // originating USN
    PutLe(b, 4018, 8);     // local USN
  }
  return b;
}

// 2026-12-07 06:21:07 UTC, as a Samba DC stamped a user's unicodePwd.
constexpr std::uint64_t kStampTime = 13441098067;
constexpr std::time_t kStampUnixTime = 1796624467;

TEST(AttributeWrittenAtTest, FindsTheAttributesStampAmongOthers) {
  const std::string meta = MetaData(
      {{0x0, 1}, {0x90001, kStampTime - 50}, {kUnicodePwdAttid, kStampTime}, {0x90060, 7}});
  auto t = AttributeWrittenAt(meta, kUnicodePwdAttid);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(std::chrono::system_clock::to_time_t(*t), kStampUnixTime);
  EXPECT_EQ(std::chrono::system_clock::to_time_t(*AttributeWrittenAt(meta, 0x90001)),
            kStampUnixTime - 50);
}

TEST(AttributeWrittenAtTest, AnAttributeWithoutAStampHasNoTime) {
  EXPECT_FALSE(AttributeWrittenAt(MetaData({{0x90001, kStampTime}}), kUnicodePwdAttid));
  EXPECT_FALSE(AttributeWrittenAt(MetaData({}), kUnicodePwdAttid));
  EXPECT_FALSE(AttributeWrittenAt("", kUnicodePwdAttid));
}

TEST(AttributeWrittenAtTest, AValueOfAnotherLayoutIsRefused) {
  EXPECT_FALSE(AttributeWrittenAt(MetaData({{kUnicodePwdAttid, kStampTime}}, 2), kUnicodePwdAttid));
  std::string longer = MetaData({{kUnicodePwdAttid, kStampTime}});
  longer.push_back('\0');
  EXPECT_FALSE(AttributeWrittenAt(longer, kUnicodePwdAttid));
  // The count says two stamps, the value holds one: the count is not trusted.
  std::string miscounted = MetaData({{kUnicodePwdAttid, kStampTime}});
  miscounted[8] = 2;
  EXPECT_FALSE(AttributeWrittenAt(miscounted, kUnicodePwdAttid));
  miscounted[8] = 0;
  EXPECT_FALSE(AttributeWrittenAt(miscounted, kUnicodePwdAttid));
}

TEST(AttributeWrittenAtTest, EveryTruncationIsRefusedWithoutReadingPastTheEnd) {
  const std::string meta = MetaData({{0x90001, kStampTime}, {kUnicodePwdAttid, kStampTime}});
  ASSERT_TRUE(AttributeWrittenAt(meta, kUnicodePwdAttid));
  for (std::size_t n = 0; n < meta.size(); ++n) {
    // A copy of its own, so that the sanitizers see a read past the prefix.
    const std::string prefix = meta.substr(0, n);
    EXPECT_FALSE(AttributeWrittenAt(prefix, kUnicodePwdAttid)) << n << " bytes";
  }
}

TEST(AttributeWrittenAtTest, ATimeTheClockCannotHoldIsNoTime) {
  EXPECT_FALSE(AttributeWrittenAt(MetaData({{kUnicodePwdAttid, 0}}), kUnicodePwdAttid));
  EXPECT_FALSE(AttributeWrittenAt(MetaData({{kUnicodePwdAttid, 11644473600}}), kUnicodePwdAttid));
  EXPECT_FALSE(AttributeWrittenAt(MetaData({{kUnicodePwdAttid, UINT64_MAX}}), kUnicodePwdAttid));
  EXPECT_FALSE(AttributeWrittenAt(MetaData({{kUnicodePwdAttid, 11644473600 + (1ULL << 40)}}),
                                  kUnicodePwdAttid));
}

TEST(ParseIntegerTest, RejectsTrailingGarbage) {
  EXPECT_EQ(ParseInteger(std::string("-1")), -1);
  EXPECT_FALSE(ParseInteger(std::string("12x")).has_value());
  EXPECT_FALSE(ParseInteger(std::nullopt).has_value());
}

}  // namespace
}  // namespace wb::ldap
