#pragma once
// Test support: a Clock that moves only when the test says so. Thread-safe.

#include <atomic>
#include <chrono>

#include "common/clock.h"

namespace wb::testing {

class FakeClock final : public Clock {
 public:
  explicit FakeClock(WallTime start = WallTime(std::chrono::seconds(1'800'000'000)))
      : wall_(start.time_since_epoch().count()) {}

  WallTime Now() const override { return WallTime(WallTime::duration(wall_.load())); }
  std::chrono::steady_clock::time_point Monotonic() const override {
    return std::chrono::steady_clock::time_point(std::chrono::steady_clock::duration(mono_.load()));
  }
  void Advance(std::chrono::nanoseconds by) {
    wall_ += std::chrono::duration_cast<WallTime::duration>(by).count();
    mono_ += std::chrono::duration_cast<std::chrono::steady_clock::duration>(by).count();
  }

 private:
  std::atomic<WallTime::rep> wall_;
  std::atomic<std::chrono::steady_clock::rep> mono_{0};
};

}  // namespace wb::testing
