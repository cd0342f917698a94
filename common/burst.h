#pragma once
// Burst summaries: a stream of similar events (rejections of forged envelopes, for one) is
// recorded one by one up to a budget per window; beyond it the events are only counted, and
// the count is handed back once as a summary. So a flood costs one record per window instead
// of one per event, and no event goes uncounted.
//
//   Note(kind) -> {record, summary}
//     record:  true for the first `per_window` events of a window: record this one fully
//     summary: set when a window that suppressed events has ended: record it first
//   Flush()    -> the summary of the current window's suppressed events, if any (at a
//                 disconnect or at shutdown, so that a count is never lost)
//
// A window starts at the first event after the previous one ended and lasts `window`
// (monotonic time, from the Clock). Not thread-safe.

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>

#include "common/clock.h"

namespace wb {

struct BurstSummary {
  WallTime first;                              // the first suppressed event
  WallTime last;                               // the last one
  std::uint64_t total = 0;                     // events suppressed
  std::map<std::string, std::uint64_t> kinds;  // kind -> count, in name order

  // "40 events from 2026-12-05T07:00:00Z to 2026-12-05T07:00:09Z: bad_signature 38, malformed 2"
  std::string Describe(std::string_view what) const;
};

class BurstLimiter {
 public:
  BurstLimiter(std::size_t per_window, std::chrono::milliseconds window, const Clock& clock)
      : per_window_(per_window), window_(window), clock_(clock) {}

  struct Decision {
    bool record = false;
    std::optional<BurstSummary> summary;
  };
  Decision Note(const std::string& kind);
  std::optional<BurstSummary> Flush();

 private:
  const std::size_t per_window_;
  const std::chrono::milliseconds window_;
  const Clock& clock_;
  std::optional<std::chrono::steady_clock::time_point> window_start_;
  std::size_t in_window_ = 0;
  std::optional<BurstSummary> suppressed_;
};

// The keys noted within the last `window`, at most `capacity` of them (the oldest forgotten
// first, so memory is bounded whatever a peer sends): Seen(key) says whether `key` was noted
// within the window, and notes it now when it was not. For telling an event repeated (the same
// envelope rejected again for the same reason) from a new one. Not thread-safe.
class RecentKeys {
 public:
  RecentKeys(std::size_t capacity, std::chrono::milliseconds window, const Clock& clock)
      : capacity_(capacity), window_(window), clock_(clock) {}
  bool Seen(const std::string& key);

 private:
  void ForgetOld(std::chrono::steady_clock::time_point now);

  const std::size_t capacity_;
  const std::chrono::milliseconds window_;
  const Clock& clock_;
  std::deque<std::pair<std::chrono::steady_clock::time_point, std::string>> order_;
  std::set<std::string, std::less<>> keys_;
};

}  // namespace wb
