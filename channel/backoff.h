#pragma once
// Reconnect delays: capped exponential backoff with jitter. No I/O, no clock: the caller
// decides when a delay starts, so tests check the sequence directly.

#include <chrono>
#include <functional>

namespace wb::channel {

struct BackoffPolicy {
  std::chrono::milliseconds initial{1'000};  // the delay after the first failure
  std::chrono::milliseconds max{60'000};     // the cap
  double multiplier = 2.0;                   // growth per consecutive failure, >= 1
  // Fraction of the delay that is random: a delay d becomes d * (1 - jitter * r), r in [0, 1),
  // so agents that lost the cloud together do not all come back in the same second.
  double jitter = 0.5;
};

// Not thread-safe; owned by one reconnect loop.
class Backoff {
 public:
  // `uniform01` returns values in [0, 1); it is called once per Next().
  Backoff(BackoffPolicy policy, std::function<double()> uniform01);

  // The delay before the next attempt, after one more failure.
  std::chrono::milliseconds Next();
  // After a stable connection: the next failure starts again from `initial`.
  void Reset() { failures_ = 0; }
  int failures() const { return failures_; }

 private:
  BackoffPolicy policy_;
  std::function<double()> uniform01_;
  int failures_ = 0;
};

}  // namespace wb::channel
