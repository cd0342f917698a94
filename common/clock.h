#pragma once
// Time as a dependency. Components take a Clock& so tests can move time with a FakeClock
// instead of sleeping (retries, backoff, expiry, rotation, replay windows).

#include <chrono>
#include <optional>
#include <string>

namespace wb {

using WallTime = std::chrono::system_clock::time_point;

// `t` as ISO 8601 UTC to the second, e.g. "2026-11-22T04:55:26Z" (for logs and messages).
std::string FormatUtcSeconds(WallTime t);

// `count` units of `Unit` since the Unix epoch, when WallTime can hold it (it counts
// nanoseconds in 64 bits: about the years 1678 to 2261); nullopt otherwise. For times read
// from outside (a directory, a file), where a value out of range would overflow.
template <class Unit>
std::optional<WallTime> WallTimeSinceEpoch(long long count) {
  constexpr long long kLimit =
      std::chrono::duration_cast<Unit>(WallTime::duration::max()).count() - 1;
  if (count > kLimit || count < -kLimit) return std::nullopt;
  return WallTime(std::chrono::duration_cast<WallTime::duration>(Unit(count)));
}

// `seconds` since the Unix epoch, held at the nearest end of WallTime's range when beyond it:
// for dates whose meaning survives that, such as a certificate's notAfter of 9999-12-31
// (RFC 5280's "no well-defined expiration"), which is "far in the future" either way.
inline WallTime SaturatedWallTimeFromSeconds(long long seconds) {
  if (auto t = WallTimeSinceEpoch<std::chrono::seconds>(seconds)) return *t;
  return seconds > 0 ? WallTime::max() : WallTime::min();
}

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock time (UTC), for timestamps and request expiry.
  virtual WallTime Now() const = 0;
  // Monotonic time, for timeouts and durations; never jumps.
  virtual std::chrono::steady_clock::time_point Monotonic() const = 0;
};

class SystemClock final : public Clock {
 public:
  WallTime Now() const override { return std::chrono::system_clock::now(); }
  std::chrono::steady_clock::time_point Monotonic() const override {
    return std::chrono::steady_clock::now();
  }
};

}  // namespace wb
