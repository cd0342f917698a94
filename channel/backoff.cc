#include "channel/backoff.h"

#include <algorithm>
#include <utility>

namespace wb::channel {

Backoff::Backoff(BackoffPolicy policy, std::function<double()> uniform01)
    : policy_(policy), uniform01_(std::move(uniform01)) {
  policy_.multiplier = std::max(1.0, policy_.multiplier);
  policy_.jitter = std::clamp(policy_.jitter, 0.0, 1.0);
  policy_.max = std::max(policy_.max, policy_.initial);
}

std::chrono::milliseconds Backoff::Next() {
  // Grow in floating point and stop at the cap, so many failures never overflow.
  double base = static_cast<double>(policy_.initial.count());
  const double cap = static_cast<double>(policy_.max.count());
  for (int i = 0; i < failures_ && base < cap; ++i) base *= policy_.multiplier;
  base = std::min(base, cap);
  ++failures_;
  const double r = std::clamp(uniform01_(), 0.0, 1.0);
  const double delay = base * (1.0 - policy_.jitter * r);
  return std::chrono::milliseconds(static_cast<long long>(std::max(delay, 1.0)));
}

}  // namespace wb::channel
