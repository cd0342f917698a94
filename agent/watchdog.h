#pragma once
// systemd's watchdog, fed honestly (internal to agent/): a thread of its own checks the
// Liveness (common/liveness.h) every `interval` and sends WATCHDOG=1 only while every part is
// alive. It runs apart from the main loop so that a part that blocks the main loop too (a worker
// that hangs holding the queue's lock) is still named in the log; the main loop is a part like
// the others. Each stall is logged once at error, naming the part; a recovery at warn.

#include <spdlog/logger.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "common/liveness.h"

namespace wb::agent {

class Watchdog {
 public:
  // `ping`: whether systemd asked for pings (WatchdogSec=); without it, stalls are still logged.
  Watchdog(Liveness& liveness, std::chrono::milliseconds interval, bool ping, spdlog::logger& log);
  ~Watchdog();  // Stop()
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  // No more pings (the agent is stopping); joins the thread. Idempotent.
  void Stop();

 private:
  void Run();
  void CheckOnce();

  Liveness& liveness_;
  const std::chrono::milliseconds interval_;
  const bool ping_;
  spdlog::logger& log_;
  std::mutex mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace wb::agent
