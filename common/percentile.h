#pragma once
// The one way wbagent's measurements read a percentile (wbcloud load, the benches), so that
// figures printed side by side (the agent's p99 beside the baseline's, in bench/load.sh) are
// the same statistic.
//
// NearestRank is the nearest-rank method: the smallest sample such that at least p of all
// samples are at most it, the k-th smallest with k = ceil(p * n), at least 1. Always one of
// the samples, never an interpolation: p = 1 is the maximum, p = 0 the minimum. An empty
// input gives 0.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <span>
#include <vector>

namespace wb {

// `sorted` ascending.
inline double NearestRank(std::span<const double> sorted, double p) {
  if (sorted.empty()) return 0;
  const auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(sorted.size())));
  return sorted[std::clamp<std::size_t>(rank, 1, sorted.size()) - 1];
}

// The same on unsorted samples (a copy is sorted).
inline double NearestRankOf(std::vector<double> samples, double p) {
  std::sort(samples.begin(), samples.end());
  return NearestRank(samples, p);
}

}  // namespace wb
