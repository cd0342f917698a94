#pragma once
// Log lines for a loop that keeps retrying, without flooding the log (OpenSSH's rule: rate-
// limit lines that repeat in loops). The first failure and every change of error are warned
// about at once; repeats of the same error go to debug and are summarised at warn at most
// once per `summary_every`; a success after failures says how many there were.
//
// Not thread-safe; owned by one reconnect loop.

#include <spdlog/logger.h>

#include <chrono>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/status.h"

namespace wb::channel {

class RetryLog {
 public:
  RetryLog(spdlog::logger& log, const Clock& clock,
           std::chrono::seconds summary_every = std::chrono::minutes(5));

  // An attempt failed (or a connection dropped) and the next one starts in `retry_in`.
  void Failure(const Status& error, std::chrono::milliseconds retry_in);
  // An attempt succeeded; `what` names the peer, e.g. "wss://cloud.example.com/agent".
  void Success(std::string_view what);

 private:
  spdlog::logger& log_;
  const Clock& clock_;
  std::chrono::seconds summary_every_;
  std::string last_error_;  // Status::ToString() of the last failure; empty after a success
  int repeats_ = 0;         // failures equal to last_error_ not yet summarised
  int failures_ = 0;        // since the last success
  std::chrono::steady_clock::time_point last_warn_{};
  WallTime first_failure_{};
};

}  // namespace wb::channel
