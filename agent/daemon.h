#pragma once
// The running agent: owns the components and wires them together (internal to agent/).
// Nothing here decides anything about a request; that is the components' job.

#include <spdlog/logger.h>

#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "agent/breaker_file.h"
#include "agent/pipeline.h"
#include "agent/status_writer.h"
#include "audit/audit.h"
#include "channel/channel.h"
#include "common/clock.h"
#include "common/liveness.h"
#include "common/thread_annotations.h"
#include "config/config.h"
#include "ldap/directory.h"
#include "metrics/metrics.h"
#include "policy/policy.h"
#include "queue/queue.h"

namespace wb::agent {

class Daemon {
 public:
  // Why Open failed. The exit status (agent.h) tells systemd whether a restart can help.
  struct OpenError {
    Status status;
    // The audit trail failed the checks audit::Writer::Open makes (its kCorruption: the last
    // record or the checkpoint does not verify, or the end was removed). A restart cannot fix
    // that; an auditor must (docs/audit.md).
    bool audit_trail_refused = false;
  };

  // Opens the audit trail, the queue, the directories and the enrollment keys, in that
  // order, so that everything after the audit trail is recorded. Nothing connects yet.
  // `audit_failed` is called (from any thread, once, without blocking) when an audit append
  // of the pipeline fails: the caller then stops the daemon (AuditFailed).
  static Result<std::unique_ptr<Daemon>, OpenError> Open(const config::Config& config,
                                                         std::shared_ptr<spdlog::logger> log,
                                                         std::function<void()> audit_failed);
  ~Daemon();

  // Recovers interrupted work, starts the workers and the channel.
  Status Start();
  // Stops taking requests, finishes the ones in flight, flushes the audit trail.
  void Stop();
  // Periodic work from the main loop: queue maintenance, the witness.
  void Tick(bool maintenance);
  // Whether an audit append has failed: the audit Writer is then broken for good, and the
  // pipeline acts no more (agent/pipeline.h, "When the audit trail fails"). The main loop then
  // stops the process (woken by Open's audit_failed, or at its next tick for the daemon's own
  // appends), which exits with status 1 so that systemd restarts it.
  bool AuditFailed() const;
  // The heartbeats of the channel's I/O thread and of the workers (common/liveness.h); the
  // main loop adds its own, and agent/watchdog.h feeds systemd's watchdog from them.
  Liveness& liveness() { return liveness_; }
  // A reloaded config: applies what can change while running (the log level, [policy] and the
  // scope tables), audits the reload, and warns of what needs a restart. False when nothing of
  // it applies: `accepted` was false, or its policy rules could not be opened (the running
  // configuration stays; the trail has config_rejected with the reason).
  bool Reloaded(const config::Config& config, bool accepted, const std::string& why);
  // At every reload (SIGHUP), whatever the config says: re-reads the directories' secret
  // files and retries at once the requests that wait out a back-off, so that a fixed service
  // account or CA lets them through now.
  void ReloadSecrets();

 private:
  class ChannelOutbound;
  class Link;
  Daemon() = default;
  // Open's steps after the audit trail: the queue, the directories, the keys, the wiring.
  Status OpenComponents(const config::Config& config);
  // The components' state now (metrics.h): what status.json and the metrics endpoint show.
  // Thread-safe (the status writer's and the endpoint's threads call it).
  metrics::Snapshot TakeSnapshot(metrics::Detail detail) const;
  // What status.json shows (StatusWriter adds updated_at).
  nlohmann::json StatusView() const;
  // The metrics endpoint, when [metrics] listen is set. A port that cannot be bound is logged,
  // and the agent runs without it.
  void StartMetrics();
  // Each directory's service-account bind, on a thread of its own (a down server takes
  // connect_timeout): each result logged, a failure at error with the fix.
  void CheckDirectoriesInBackground();
  void LogServiceBinds();
  // Sends the cloud the policy summary (agent/policy_summary.h) when it changed.
  void RefreshPolicySummary();
  // Keeps the breaker's state in breaker.json (with the last administrator action, when one
  // is given, else the one kept) and rewrites the status.
  void KeepBreaker(const policy::BreakerState& state, std::optional<BreakerOutcome> action);
  // Writes `file` as breaker.json; a file that could not be written is kept in
  // unsaved_breaker_ and written again at every tick (RetryBreaker), until it is (or a newer
  // state is). REQUIRES: breaker_mu_ held.
  void WriteBreakerLocked(BreakerFile file);
  void RetryBreaker();
  void KeepUnsavedBreakerAtStop();
  std::optional<BreakerOutcome> LastBreakerAction();  // REQUIRES: breaker_mu_ held
  // A reload changed [policy] or a scope table: the pipeline's rules are replaced, and the
  // reload recorded as config_loaded (`why`) just before. The error when they cannot be opened.
  Status ReloadPolicy(const config::Config& config, const std::string& why);
  // Carries out a pending `wbagent breaker release|reject` (breaker_file.h).
  void ApplyBreakerCommand();

  config::Config config_;
  std::shared_ptr<spdlog::logger> log_;
  // The breaker's state that breaker.json does not hold yet (WriteBreakerLocked): a tripped breaker
  // the next start would not know of, and so admit what it holds by the ordinary rules.
  // Guarded by breaker_mu_, which also keeps the writes of breaker.json in order: the
  // pipeline's breaker changes come on the intake's thread, the ticks' retries on this one.
  std::optional<BreakerFile> unsaved_breaker_;
  std::mutex breaker_mu_;
  std::function<void()> audit_failed_;  // Open's
  SystemClock clock_;
  // What the pipeline and the channel count for the metrics; before the components that
  // count into it, so that it outlives them.
  metrics::Recorder recorder_;
  // The heartbeats of the channel's I/O thread and of the workers; outlives both.
  Liveness liveness_{clock_};
  // First, so that it outlives the components that tell it of changes; its thread is
  // stopped by Stop() before they go.
  std::unique_ptr<StatusWriter> status_;
  std::unique_ptr<audit::Writer> audit_;
  std::unique_ptr<queue::Queue> queue_;
  std::unique_ptr<ldap::Router> router_;
  // The directories as opened: their names and UPN suffixes, for the policy summary, change
  // only with a restart (so the background check reads them without a lock).
  std::vector<config::DirectoryConfig> directories_;
  static constexpr int kSummaryRefreshEvery = 10;  // maintenance ticks (a minute each)
  int maintenance_ticks_ = 0;                      // the main loop's thread only
  // In the order they are built, each from the ones before it (no late wiring): the channel,
  // the pipeline's way out through it, the pipeline, and the handler the channel starts with.
  std::unique_ptr<channel::Channel> channel_;
  std::unique_ptr<ChannelOutbound> outbound_;
  std::unique_ptr<Pipeline> pipeline_;
  std::unique_ptr<Intake> intake_;
  std::unique_ptr<Link> link_;
  // Last: reads the others; stopped first (Stop), destroyed first.
  std::unique_ptr<metrics::Endpoint> endpoint_;
  std::thread directory_check_;  // CheckDirectoriesInBackground; joined by Stop
  Mutex check_mu_;
  bool check_running_ WB_GUARDED_BY(check_mu_) = false;
  bool check_again_ WB_GUARDED_BY(check_mu_) = false;  // a reload came during a check
};

}  // namespace wb::agent
