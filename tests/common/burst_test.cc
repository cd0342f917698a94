#include "common/burst.h"

#include <gtest/gtest.h>

#include "tests/support/fake_clock.h"

namespace wb {
namespace {

using namespace std::chrono_literals;

TEST(BurstLimiterTest, RecordsTheFirstEventsOfAWindowOneByOne) {
  testing::FakeClock clock;
  BurstLimiter limiter(2, 60s, clock);
  EXPECT_TRUE(limiter.Note("bad_signature").record);
  EXPECT_TRUE(limiter.Note("bad_signature").record);
  EXPECT_FALSE(limiter.Note("bad_signature").record);
}

TEST(BurstLimiterTest, SuppressedEventsComeBackAsOneSummaryWhenTheWindowEnds) {
  testing::FakeClock clock;
  BurstLimiter limiter(1, 60s, clock);
  ASSERT_TRUE(limiter.Note("bad_signature").record);
  const WallTime first = clock.Now();
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(limiter.Note("bad_signature").record);
  clock.Advance(10s);
  EXPECT_FALSE(limiter.Note("malformed").record);
  clock.Advance(60s);
  BurstLimiter::Decision next = limiter.Note("bad_signature");
  EXPECT_TRUE(next.record);  // a new window
  ASSERT_TRUE(next.summary.has_value());
  EXPECT_EQ(next.summary->total, 6u);
  EXPECT_EQ(next.summary->kinds.at("bad_signature"), 5u);
  EXPECT_EQ(next.summary->kinds.at("malformed"), 1u);
  EXPECT_EQ(next.summary->first, first);
  EXPECT_EQ(next.summary->last, first + 10s);
  EXPECT_EQ(next.summary->Describe("rejections"),
            "6 rejections from 2027-01-15T08:00:00Z to 2027-01-15T08:00:10Z: bad_signature 5, "
            "malformed 1");
}

TEST(BurstLimiterTest, AWindowWithoutSuppressedEventsHasNoSummary) {
  testing::FakeClock clock;
  BurstLimiter limiter(3, 60s, clock);
  ASSERT_TRUE(limiter.Note("a").record);
  clock.Advance(61s);
  EXPECT_FALSE(limiter.Note("a").summary.has_value());
  EXPECT_FALSE(limiter.Flush().has_value());
}

TEST(BurstLimiterTest, FlushHandsOverTheCountOnceSoNothingIsLostOrCountedTwice) {
  testing::FakeClock clock;
  BurstLimiter limiter(0, 60s, clock);
  EXPECT_FALSE(limiter.Note("a").record);
  EXPECT_FALSE(limiter.Note("a").record);
  auto summary = limiter.Flush();
  ASSERT_TRUE(summary.has_value());
  EXPECT_EQ(summary->total, 2u);
  EXPECT_FALSE(limiter.Flush().has_value());
}

TEST(RecentKeysTest, AKeyIsSeenWithinTheWindowAndNewAfterIt) {
  testing::FakeClock clock;
  RecentKeys recent(8, std::chrono::minutes(15), clock);
  EXPECT_FALSE(recent.Seen("a"));
  EXPECT_TRUE(recent.Seen("a"));
  EXPECT_FALSE(recent.Seen("b"));
  clock.Advance(std::chrono::minutes(15));
  EXPECT_FALSE(recent.Seen("a")) << "remembered past its window";
  EXPECT_TRUE(recent.Seen("a"));
}

// A peer that sends ever new keys cannot grow the memory: the oldest is forgotten first.
TEST(RecentKeysTest, BeyondItsCapacityTheOldestKeyIsForgotten) {
  testing::FakeClock clock;
  RecentKeys recent(3, std::chrono::minutes(15), clock);
  for (const char* k : {"a", "b", "c", "d"}) EXPECT_FALSE(recent.Seen(k));
  EXPECT_TRUE(recent.Seen("d"));
  EXPECT_TRUE(recent.Seen("b"));
  EXPECT_FALSE(recent.Seen("a")) << "the oldest key should have made room";
}

}  // namespace
}  // namespace wb
