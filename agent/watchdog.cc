#include "agent/watchdog.h"

#include <pthread.h>
#include <systemd/sd-daemon.h>

#include "agent/logging.h"

namespace wb::agent {

Watchdog::Watchdog(Liveness& liveness, std::chrono::milliseconds interval, bool ping,
                   spdlog::logger& log)
    : liveness_(liveness), interval_(interval), ping_(ping), log_(log) {
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "wb-watchdog");
    Run();
  });
}

Watchdog::~Watchdog() { Stop(); }

void Watchdog::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Watchdog::Run() {
  std::unique_lock lock(mu_);
  while (!stop_cv_.wait_for(lock, interval_, [this] { return stopping_; })) {
    lock.unlock();
    CheckOnce();
    lock.lock();
  }
}

void Watchdog::CheckOnce() {
  const Liveness::Verdict v = liveness_.Check();
  for (const Liveness::Stall& stall : v.newly_stalled) {
    Log(log_, spdlog::level::err, {.event = LogEvent::kWatchdogStalled},
        "watchdog: {} has shown no progress for {} s (allowed: {} s){}; see "
        "docs/troubleshooting.md, \"The watchdog stopped the agent\"",
        stall.part, stall.silence.count() / 1000, stall.deadline.count() / 1000,
        ping_ ? ": WATCHDOG=1 is no longer sent, so systemd restarts the agent" : "");
  }
  for (const std::string& part : v.recovered) {
    Log(log_, spdlog::level::warn, {.event = LogEvent::kWatchdogRecovered},
        "watchdog: {} shows progress again", part);
  }
  if (ping_ && v.alive) sd_notify(0, "WATCHDOG=1");
}

}  // namespace wb::agent
