#include "common/burst.h"

#include <utility>

namespace wb {

std::string BurstSummary::Describe(std::string_view what) const {
  std::string out = std::to_string(total);
  out.append(" ").append(what).append(" from ").append(FormatUtcSeconds(first));
  out.append(" to ").append(FormatUtcSeconds(last)).append(":");
  const char* separator = " ";
  for (const auto& [kind, count] : kinds) {
    out.append(separator).append(kind).append(" ").append(std::to_string(count));
    separator = ", ";
  }
  return out;
}

BurstLimiter::Decision BurstLimiter::Note(const std::string& kind) {
  Decision d;
  const auto now = clock_.Monotonic();
  if (!window_start_ || now - *window_start_ >= window_) {
    d.summary = Flush();
    window_start_ = now;
    in_window_ = 0;
  }
  if (++in_window_ <= per_window_) {
    d.record = true;
    return d;
  }
  if (!suppressed_) suppressed_ = BurstSummary{.first = clock_.Now()};
  suppressed_->last = clock_.Now();
  ++suppressed_->total;
  ++suppressed_->kinds[kind];
  return d;
}

std::optional<BurstSummary> BurstLimiter::Flush() {
  return std::exchange(suppressed_, std::nullopt);
}

bool RecentKeys::Seen(const std::string& key) {
  const auto now = clock_.Monotonic();
  ForgetOld(now);
  if (keys_.contains(key)) return true;
  if (capacity_ == 0) return false;
  if (order_.size() >= capacity_) {
    keys_.erase(order_.front().second);
    order_.pop_front();
  }
  keys_.insert(key);
  order_.emplace_back(now, key);
  return false;
}

void RecentKeys::ForgetOld(std::chrono::steady_clock::time_point now) {
  while (!order_.empty() && now - order_.front().first >= window_) {
    keys_.erase(order_.front().second);
    order_.pop_front();
  }
}

}  // namespace wb
