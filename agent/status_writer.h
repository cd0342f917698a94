#pragma once
// Keeps <state_dir>/status.json, the running agent's view for `wbagent status`, current
// (internal to agent/).
//
// Written when the view changes, not on a timer:
//   - Changed() wakes the writer's thread, which renders the view and writes the file
//     (atomically: WriteFileAtomic) when it differs from the last one written;
//   - writes are at least `min_gap` apart, so a burst of changes under load costs one write,
//     and the file is right within about `min_gap` of a change;
//   - with no change, the file is rewritten every `heartbeat`, so that its age tells
//     `wbagent status` that the process is still there (kStaleAfter is three heartbeats).
//
// The render function is called on the writer's thread (and on the caller's in Stop), so what
// it reads must be thread-safe. A failed write is retried at the next change or heartbeat;
// status.json is a view, never evidence, so a failure is not an error of the agent.
//
//   constructed --Start--> writing --Stop--> stopped (a final write on the caller's thread)

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "common/clock.h"
#include "common/thread_annotations.h"
#include "metrics/metrics.h"

namespace wb::agent {

// status.json's fields (docs/operations.md, "Status") from the snapshot the metrics read too.
nlohmann::json StatusJson(const metrics::Snapshot& s);

class StatusWriter {
 public:
  using Render = std::function<nlohmann::json()>;
  struct Options {
    std::filesystem::path file;
    std::chrono::milliseconds min_gap{500};
    std::chrono::seconds heartbeat{30};
  };

  StatusWriter(Options options, Render render, const Clock& clock);
  ~StatusWriter();  // Stop()
  StatusWriter(const StatusWriter&) = delete;
  StatusWriter& operator=(const StatusWriter&) = delete;

  // Writes the first view (on the caller's thread, so that the file exists on return), then
  // starts the thread.
  void Start();
  // Something in the view may have changed. Cheap, never blocks on I/O; any thread. Wakes the
  // writer's thread only when it waits for a change that is not noted yet: under load, the
  // changes that come during a write or its gap cost no wakeup each.
  void Changed();
  // How many times Changed() woke the writer's thread (for tests).
  std::uint64_t Wakeups() const;
  // Joins the thread, then writes the final view (nothing when never started). Idempotent.
  void Stop();

 private:
  void Loop();
  // Renders and writes when the view differs from the last written or the heartbeat is due.
  // Whether it wrote, or tried to (a failed write is spaced out like one that succeeded).
  bool WriteIfDue();

  const Options options_;
  const Render render_;
  const Clock& clock_;

  mutable Mutex mu_;
  std::condition_variable_any cv_;
  bool changed_ WB_GUARDED_BY(mu_) = false;
  bool waiting_for_change_ WB_GUARDED_BY(mu_) = false;
  std::uint64_t wakeups_ WB_GUARDED_BY(mu_) = 0;
  bool stopping_ WB_GUARDED_BY(mu_) = false;
  std::thread thread_;

  // The writer's thread only (and Stop's caller, after the join).
  nlohmann::json last_written_;
  std::optional<std::chrono::steady_clock::time_point> last_write_;
};

}  // namespace wb::agent
