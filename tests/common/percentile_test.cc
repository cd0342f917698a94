#include "common/percentile.h"

#include <gtest/gtest.h>

#include <vector>

namespace wb {
namespace {

// The k-th smallest with k = ceil(p * n): a sample, never an interpolation.
TEST(NearestRankTest, IsTheSmallestSampleWithAtLeastPOfTheSamplesAtOrBelowIt) {
  const std::vector<double> hundred = [] {
    std::vector<double> v;
    for (int i = 1; i <= 100; ++i) v.push_back(i);
    return v;
  }();
  EXPECT_EQ(NearestRank(hundred, 0.50), 50);
  EXPECT_EQ(NearestRank(hundred, 0.99), 99);
  EXPECT_EQ(NearestRank(hundred, 0.991), 100);
  EXPECT_EQ(NearestRank(hundred, 1.0), 100);
  EXPECT_EQ(NearestRank(hundred, 0.0), 1);

  const std::vector<double> four{10, 20, 30, 40};
  EXPECT_EQ(NearestRank(four, 0.50), 20);  // not 25: no interpolation
  EXPECT_EQ(NearestRank(four, 0.51), 30);
  EXPECT_EQ(NearestRank(four, 0.99), 40);
}

TEST(NearestRankTest, FewSamplesRoundTheRankUp) {
  // Ten samples: p99 is the largest (rank ceil(9.9) = 10), p50 the fifth, p90 the ninth.
  const std::vector<double> ten{1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  EXPECT_EQ(NearestRank(ten, 0.99), 10);
  EXPECT_EQ(NearestRank(ten, 0.50), 5);
  EXPECT_EQ(NearestRank(ten, 0.90), 9);
}

TEST(NearestRankTest, OneSampleIsEveryPercentileAndNoneIsZero) {
  const std::vector<double> one{7.5};
  EXPECT_EQ(NearestRank(one, 0.01), 7.5);
  EXPECT_EQ(NearestRank(one, 0.99), 7.5);
  EXPECT_EQ(NearestRank(std::vector<double>{}, 0.5), 0);
  EXPECT_EQ(NearestRankOf({}, 0.99), 0);
}

TEST(NearestRankTest, OfUnsortedSamplesSortsACopy) {
  std::vector<double> samples{5, 1, 4, 2, 3};
  EXPECT_EQ(NearestRankOf(samples, 0.8), 4);
  EXPECT_EQ(NearestRankOf(samples, 1.0), 5);
  EXPECT_EQ(samples, (std::vector<double>{5, 1, 4, 2, 3}));
}

}  // namespace
}  // namespace wb
