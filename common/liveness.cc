#include "common/liveness.h"

#include <algorithm>
#include <limits>

namespace wb {
namespace {

// No Monotonic() time is this large: the mark of a part that waits for work.
constexpr std::int64_t kIdle = std::numeric_limits<std::int64_t>::max();

std::int64_t Nanos(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

}  // namespace

Liveness::Heartbeat::Heartbeat(std::string name, std::chrono::milliseconds deadline,
                               const Clock& clock)
    : name_(std::move(name)),
      deadline_(deadline),
      clock_(clock),
      last_beat_ns_(Nanos(clock.Monotonic())) {}

void Liveness::Heartbeat::Beat() {
  last_beat_ns_.store(Nanos(clock_.Monotonic()), std::memory_order_relaxed);
}

void Liveness::Heartbeat::Idle() { last_beat_ns_.store(kIdle, std::memory_order_relaxed); }

bool Liveness::Heartbeat::idle() const {
  return last_beat_ns_.load(std::memory_order_relaxed) == kIdle;
}

std::chrono::milliseconds Liveness::Heartbeat::Silence() const {
  const std::int64_t now = Nanos(clock_.Monotonic());
  const std::int64_t last = last_beat_ns_.load(std::memory_order_relaxed);
  // kIdle is larger than any `now`, so an idle part has no silence either.
  // A beat taken between the two reads is newer than `now`: no silence, not a negative one.
  return std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::nanoseconds(std::max<std::int64_t>(0, now - last)));
}

Liveness::Heartbeat& Liveness::Add(std::string name, std::chrono::milliseconds deadline) {
  std::lock_guard lock(mu_);
  reported_.push_back(false);
  return parts_.emplace_back(std::move(name), deadline, clock_);
}

Liveness::Verdict Liveness::Check() {
  std::lock_guard lock(mu_);
  Verdict v;
  for (std::size_t i = 0; i < parts_.size(); ++i) {
    const Heartbeat& part = parts_[i];
    const std::chrono::milliseconds silence = part.Silence();
    const bool stalled = silence > part.deadline();
    if (stalled) {
      v.alive = false;
      if (!reported_[i]) v.newly_stalled.push_back({part.name(), silence, part.deadline()});
    } else if (reported_[i]) {
      v.recovered.push_back(part.name());
    }
    reported_[i] = stalled;
  }
  return v;
}

std::chrono::milliseconds Liveness::IdleWake(std::chrono::milliseconds deadline) {
  return std::max(std::chrono::milliseconds(1), deadline / 4);
}

}  // namespace wb
