#include "queue/backoff.h"

#include <gtest/gtest.h>

namespace wb::queue {
namespace {

using std::chrono::milliseconds;

const BackoffPolicy kPolicy{milliseconds(100), milliseconds(1000)};

TEST(BackoffTest, DoublesFromTheBase) {
  EXPECT_EQ(BackoffDelay(kPolicy, 1, 0.0), milliseconds(50));
  EXPECT_EQ(BackoffDelay(kPolicy, 2, 0.0), milliseconds(100));
  EXPECT_EQ(BackoffDelay(kPolicy, 3, 0.0), milliseconds(200));
  EXPECT_EQ(BackoffDelay(kPolicy, 4, 0.0), milliseconds(400));
}

TEST(BackoffTest, StopsAtTheCap) {
  EXPECT_EQ(BackoffDelay(kPolicy, 5, 0.0), milliseconds(500));
  EXPECT_EQ(BackoffDelay(kPolicy, 6, 0.0), milliseconds(500));
  EXPECT_LE(BackoffDelay(kPolicy, 6, 0.99999), milliseconds(1000));
}

TEST(BackoffTest, JitterSpansTheUpperHalf) {
  EXPECT_EQ(BackoffDelay(kPolicy, 2, 0.5), milliseconds(150));
  EXPECT_EQ(BackoffDelay(kPolicy, 2, 0.99), milliseconds(199));
}

TEST(BackoffTest, HugeAttemptCountsDoNotOverflow) {
  EXPECT_EQ(BackoffDelay(kPolicy, 1'000'000, 0.0), milliseconds(500));
}

TEST(BackoffTest, RandomnessOutsideTheUnitIntervalIsClamped) {
  EXPECT_EQ(BackoffDelay(kPolicy, 1, -3.0), milliseconds(50));
  EXPECT_EQ(BackoffDelay(kPolicy, 1, 7.0), milliseconds(100));
}

}  // namespace
}  // namespace wb::queue
