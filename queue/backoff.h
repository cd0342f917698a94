#pragma once
// Capped exponential backoff with jitter, for retrying transient failures.

#include <chrono>

namespace wb::queue {

struct BackoffPolicy {
  std::chrono::milliseconds base{1'000};
  std::chrono::milliseconds cap{300'000};
};

// The delay before attempt `attempts + 1`, after `attempts` (>= 1) failed attempts:
// d = min(cap, base * 2^(attempts-1)), then d * (1/2 + r/2) with r in [0, 1) from the caller's
// randomness. Never negative; never above cap.
std::chrono::milliseconds BackoffDelay(const BackoffPolicy& policy, int attempts, double r);

}  // namespace wb::queue
