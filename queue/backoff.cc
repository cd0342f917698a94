#include "queue/backoff.h"

#include <algorithm>

namespace wb::queue {

std::chrono::milliseconds BackoffDelay(const BackoffPolicy& policy, int attempts, double r) {
  const auto cap = std::max(policy.cap, std::chrono::milliseconds(0));
  auto d = std::clamp(policy.base, std::chrono::milliseconds(0), cap);
  // Doubling stops at the cap, so large attempt counts cannot overflow.
  for (int i = 1; i < attempts && d < cap; ++i) d = std::min(cap, d * 2);
  r = std::clamp(r, 0.0, 1.0);
  return std::chrono::milliseconds(static_cast<long long>(d.count() * (0.5 + r / 2)));
}

}  // namespace wb::queue
