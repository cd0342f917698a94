#include "channel/backoff.h"

#include <gtest/gtest.h>

namespace wb::channel {
namespace {

using std::chrono::milliseconds;

TEST(BackoffTest, GrowsExponentiallyUpToTheCapWithoutJitter) {
  Backoff b(
      {.initial = milliseconds(100), .max = milliseconds(1000), .multiplier = 2.0, .jitter = 0.5},
      [] { return 0.0; });
  EXPECT_EQ(b.Next(), milliseconds(100));
  EXPECT_EQ(b.Next(), milliseconds(200));
  EXPECT_EQ(b.Next(), milliseconds(400));
  EXPECT_EQ(b.Next(), milliseconds(800));
  EXPECT_EQ(b.Next(), milliseconds(1000));
  EXPECT_EQ(b.Next(), milliseconds(1000));
  EXPECT_EQ(b.failures(), 6);
}

TEST(BackoffTest, JitterTakesAtMostItsFractionOff) {
  Backoff b({.initial = milliseconds(1000), .max = milliseconds(60000), .jitter = 0.5},
            [] { return 0.999; });
  const auto d = b.Next();
  EXPECT_GE(d, milliseconds(500));
  EXPECT_LT(d, milliseconds(1000));
}

TEST(BackoffTest, DifferentRandomnessSpreadsAgents) {
  Backoff a({.initial = milliseconds(1000)}, [] { return 0.1; });
  Backoff b({.initial = milliseconds(1000)}, [] { return 0.9; });
  EXPECT_NE(a.Next(), b.Next());
}

TEST(BackoffTest, ResetStartsOver) {
  Backoff b({.initial = milliseconds(100), .max = milliseconds(1000), .jitter = 0.0},
            [] { return 0.5; });
  b.Next();
  b.Next();
  b.Reset();
  EXPECT_EQ(b.failures(), 0);
  EXPECT_EQ(b.Next(), milliseconds(100));
}

TEST(BackoffTest, ManyFailuresNeverOverflow) {
  Backoff b({.initial = milliseconds(1000), .max = milliseconds(60000), .jitter = 0.0},
            [] { return 0.0; });
  for (int i = 0; i < 10000; ++i) b.Next();
  EXPECT_EQ(b.Next(), milliseconds(60000));
}

}  // namespace
}  // namespace wb::channel
