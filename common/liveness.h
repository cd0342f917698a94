#pragma once
// Liveness: whether each long-lived thread of the daemon has shown progress recently, so that
// systemd's watchdog (WATCHDOG=1) is fed only while the agent really works. A thread that hangs
// stops the pings and systemd restarts the agent (WatchdogSec= in the unit).
//
// Contract:
//   - Progress: a part (one thread) calls Heartbeat::Beat() when it completed a step of its
//     work and each time it wakes from waiting for work.
//   - Idle: a part about to wait for work (a condition variable that another thread signals)
//     calls Heartbeat::Idle() first. An idle part is never stalled, however long it waits, so
//     an idle agent needs no wakeups to prove it is alive; its next Beat ends the idleness.
//     Only a wait for work may be idle: a wait on a disk, a lock held by other work, or a
//     directory is progress that may stall, and must stay under the deadline. A part whose
//     wait cannot be told apart from its work (an event loop) bounds each wait instead, well
//     under its deadline: a quarter of the deadline (Liveness::IdleWake) is what the agent uses.
//   - Deadline: set per part at Add; the longest that part may legitimately go without a beat
//     (for a worker: one directory call bounded by its timeouts, plus the queue's and the audit
//     trail's writes). A part whose last beat is older than its deadline is stalled, e.g. a
//     worker inside a directory call longer than its timeouts allow or an I/O thread blocked.
//   - Time: Clock::Monotonic, so unit tests move a FakeClock instead of sleeping.
//   - Threads: Add from any thread (parts are usually added before their threads start);
//     Beat from any thread, lock-free; Check from one thread at a time (the main loop).
//     The Liveness must outlive every Heartbeat user.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

#include "common/clock.h"

namespace wb {

class Liveness {
 public:
  class Heartbeat {
   public:
    Heartbeat(std::string name, std::chrono::milliseconds deadline, const Clock& clock);
    Heartbeat(const Heartbeat&) = delete;
    Heartbeat& operator=(const Heartbeat&) = delete;

    // The part made progress now (and is no longer idle).
    void Beat();
    // The part waits for work from now until its next Beat: it is not stalled meanwhile.
    void Idle();
    bool idle() const;
    const std::string& name() const { return name_; }
    std::chrono::milliseconds deadline() const { return deadline_; }
    // Time since the last beat (since Add when there was none); zero while idle.
    std::chrono::milliseconds Silence() const;

   private:
    const std::string name_;
    const std::chrono::milliseconds deadline_;
    const Clock& clock_;
    // Monotonic(), since its epoch; kIdle while the part waits for work.
    std::atomic<std::int64_t> last_beat_ns_;
  };

  struct Stall {
    std::string part;
    std::chrono::milliseconds silence{0};
    std::chrono::milliseconds deadline{0};
  };
  struct Verdict {
    bool alive = true;                   // no part is stalled: WATCHDOG=1 may be sent
    std::vector<Stall> newly_stalled;    // stalled now and not at the previous Check
    std::vector<std::string> recovered;  // stalled at the previous Check, beating again
  };

  explicit Liveness(const Clock& clock) : clock_(clock) {}
  Liveness(const Liveness&) = delete;
  Liveness& operator=(const Liveness&) = delete;

  // A new part, counted from now. The reference stays valid as long as the Liveness.
  Heartbeat& Add(std::string name, std::chrono::milliseconds deadline);

  // Which parts are stalled. Each stall is reported once in newly_stalled, so that the caller
  // logs it once; a part that beats again is reported once in recovered.
  Verdict Check();

  // How long a part with this deadline may wait for work before it wakes to beat.
  static std::chrono::milliseconds IdleWake(std::chrono::milliseconds deadline);

 private:
  const Clock& clock_;
  std::mutex mu_;
  std::deque<Heartbeat> parts_;  // guarded by mu_; a deque keeps references stable
  std::vector<bool> reported_;   // guarded by mu_; per part: stalled at the last Check
};

}  // namespace wb
