// `wbagent run`: the daemon's lifecycle. Loads the config, opens the components (Daemon),
// tells systemd it is ready, reloads on SIGHUP, ticks the status file and queue maintenance,
// and on SIGTERM/SIGINT stops taking requests, finishes the ones in flight and exits 0; the
// same, exiting 1, when the audit trail cannot be written (docs/audit.md).
#include <signal.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <memory>
#include <optional>
#include <string>

#include "agent/commands.h"
#include "agent/daemon.h"
#include "agent/logging.h"
#include "agent/watchdog.h"
#include "common/liveness.h"
#include "common/secure_memory.h"
#include "common/version.h"
#include "config/config.h"

namespace wb::agent {
namespace {

// Raised by the daemon itself (Daemon::Open's audit_failed) to wake the main loop at once.
constexpr int kWakeSignal = SIGUSR1;

// The signals the daemon acts on. They are blocked in every thread and taken synchronously
// with sigwaitinfo, so no work ever runs inside a signal handler.
sigset_t ControlSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, kWakeSignal);
  return set;
}

// Waits up to `timeout` for one of `set`; 0 when none came.
int WaitForSignal(const sigset_t& set, std::chrono::milliseconds timeout) {
  const timespec ts{static_cast<time_t>(timeout.count() / 1000),
                    static_cast<long>(timeout.count() % 1000) * 1'000'000};
  for (;;) {
    int sig = sigtimedwait(&set, nullptr, &ts);
    if (sig > 0) return sig;
    if (errno == EAGAIN) return 0;  // EINTR from an unrelated signal: wait again
  }
}

// Keys the config sets that have no effect yet, and settings that deny what they seem to
// allow: never ignored silently.
void LogWarnings(const config::Config& config, spdlog::logger& log) {
  for (const auto& w : config.warnings) log.warn("{}", w.ToString());
}

// A new config is validated in full before it replaces the running one; a bad one is
// reported and the agent keeps running on the old.
void Reload(config::Config& running, const config::LoadOptions& options, Daemon& daemon,
            spdlog::logger& log) {
  sd_notify(0, "RELOADING=1");
  auto loaded = config::LoadConfig(running.file, options);
  if (!loaded.ok()) {
    Log(log, spdlog::level::err, {.event = LogEvent::kReloadRefused},
        "reload of {} refused, keeping the running configuration: {} problem(s)",
        running.file.string(), loaded.error().size());
    for (const auto& e : loaded.error()) log.error("  {}", e.ToString());
    daemon.Reloaded(running, false, config::FormatErrors(loaded.error()));
  } else if (*loaded == running) {
    log.info("reload of {}: no change to the configuration", running.file.string());
    LogWarnings(*loaded, log);
  } else if (!daemon.Reloaded(*loaded, true, running.file.string())) {
    Log(log, spdlog::level::err, {.event = LogEvent::kReloadRefused},
        "reload of {} refused, keeping the running configuration: its policy rules could not be "
        "put in force (the error is above)",
        running.file.string());
  } else {
    running = std::move(*loaded);
    ApplyLogLevel(log, running.log.level);
    Log(log, spdlog::level::info, {.event = LogEvent::kReloaded}, "reloaded configuration from {}",
        running.file.string());
    LogWarnings(running, log);
  }
  // Secret files are re-read even when the config is unchanged or refused: rewriting the
  // bind password file and reloading is the documented fix for service_bind_failed.
  daemon.ReloadSecrets();
  sd_notify(0, "READY=1");
}

// The main loop's ticks and reloads: a reload re-reads the config and the secret files; a tick
// sends the audit head when it moved and, once a minute, runs the queue's maintenance and
// looks at the status file.
constexpr std::chrono::milliseconds kMainLoopDeadline{60'000};

// How often the main loop ticks: the audit head goes to the cloud at most this often when it
// has moved (docs/protocol.md).
constexpr std::chrono::milliseconds kTick{5000};

// How often the watchdog checks the heartbeats: three times per WatchdogSec=, so that a ping is
// never late while the agent is alive; without systemd's watchdog there is nothing to ping, and
// every 15 s logs a stall within half of the shortest deadline (30 s).
std::chrono::milliseconds WatchdogInterval(std::optional<std::chrono::microseconds> watchdog) {
  constexpr std::chrono::milliseconds kWithoutPings{15'000};
  if (!watchdog) return kWithoutPings;
  const auto third = std::chrono::duration_cast<std::chrono::milliseconds>(*watchdog / 3);
  return std::clamp(third, std::chrono::milliseconds(100), kWithoutPings);
}

// Keeps secrets out of core dumps and swap before any is read. LimitCORE=0 in the unit covers
// only systemd starts; the non-dumpable flag holds however the daemon was started. Returns
// false when the process could not be made non-dumpable: the daemon then refuses to start.
bool ProtectSecretsInMemory() {
  if (Status s = DisableCoreDumps(); !s.ok()) {
    std::fprintf(stderr, "wbagent: not starting: %s\n", s.ToString().c_str());
    return false;
  }
  return true;
}

// Reported once, here, and not per buffer: a limit that stops one buffer from being locked
// stops the next one too.
void ReportSecureMemory(spdlog::logger& log) {
  constexpr std::size_t kOpenSslSecureHeap = 64 * 1024;  // a few private keys, with room
  const Result<bool> heap = InitOpenSslSecureHeap(kOpenSslSecureHeap);
  const SecureMemoryReport report = ProbeSecureMemory();
  if (!report.locked) {
    log.warn(
        "secrets in memory: {}: passwords and keys may be written to swap (raise LimitMEMLOCK= "
        "in a drop-in); they stay out of core dumps",
        report.problem);
  } else if (!report.excluded_from_dumps) {
    log.warn("secrets in memory: {}: the process is non-dumpable all the same", report.problem);
  }
  if (!heap.ok()) {
    log.warn("secrets in memory: {}; private keys use the ordinary heap", heap.error().message());
  } else if (!*heap && report.locked) {
    log.warn("secrets in memory: OpenSSL's secure heap could not be locked in RAM");
  }
}

// A trail that fails its checks is an incident for an auditor, not a fault a restart cures:
// a distinct exit status keeps systemd from restarting (RestartPreventExitStatus=), and the log
// says what to run. Each line at error, so `journalctl -p err -u wbagent` shows them all.
int RefuseToStart(const Daemon::OpenError& error, const std::filesystem::path& config_file,
                  spdlog::logger& log) {
  Log(log, spdlog::level::err, {.event = LogEvent::kNotStarting}, "not starting: {}",
      error.status.ToString());
  if (!error.audit_trail_refused) return kExitFailure;
  const std::string config = config_file.string();
  log.error(
      "the audit trail failed its checks: wbagent does not extend a chain it cannot vouch for, "
      "and exits with status {} so that systemd does not restart it",
      kExitAuditTrailRefused);
  log.error(
      "1. see the first broken record: sudo wbagent audit verify --config {} (add --key-file "
      "with the LoadCredential= source of audit.key, e.g. /etc/wbagent/audit.key, when the key "
      "is a systemd credential)",
      config);
  log.error(
      "2. either restore the trail, its checkpoint and the audit key that wrote them from a "
      "backup, or keep the evidence and start a new chain that names the old head: sudo -u "
      "wbagent wbagent audit new-chain --config {} (docs/audit.md, \"When the agent refuses to "
      "start because of the trail\")",
      config);
  log.error("3. then start the agent again: systemctl start wbagent");
  return kExitAuditTrailRefused;
}

}  // namespace

int RunDaemonCommand(const std::filesystem::path& config_file) {
  if (!ProtectSecretsInMemory()) return kExitFailure;
  // Under systemd, $CREDENTIALS_DIRECTORY: a bind_password_credential resolves into it, at
  // start and at every reload alike.
  const auto options = config::LoadOptions::FromEnvironment(config::SecretChecks::kExamine);
  auto loaded = config::LoadConfig(config_file, options);
  if (!loaded.ok()) {
    std::fprintf(stderr, "%s", config::FormatErrors(loaded.error()).c_str());
    std::fprintf(stderr, "wbagent: not starting: %s is invalid\n", config_file.c_str());
    return kExitUsage;
  }
  config::Config running = std::move(*loaded);
  // A peer that closes a socket must fail one operation, not kill the daemon.
  ::signal(SIGPIPE, SIG_IGN);
  const sigset_t signals = ControlSignals();
  // Block before any thread exists, so every later thread inherits the mask.
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto log = MakeLogger(running.log);
  Log(*log, spdlog::level::info, {.event = LogEvent::kStarting},
      "wbagent {} starting: agent {} with config {}", kVersion, running.agent.id,
      running.file.string());
  LogWarnings(running, *log);
  ReportSecureMemory(*log);
  // The pipeline's thread whose audit append failed wakes the main loop, which then stops: a
  // signal to the process, pending until the loop takes it (every thread blocks it).
  auto daemon = Daemon::Open(running, log, [] { ::kill(::getpid(), kWakeSignal); });
  if (!daemon.ok()) return RefuseToStart(daemon.error(), running.file, *log);
  if (Status s = (*daemon)->Start(); !s.ok()) {
    Log(*log, spdlog::level::err, {.event = LogEvent::kNotStarting}, "not starting: {}",
        s.ToString());
    return kExitFailure;
  }
  sd_notify(0, "READY=1\nSTATUS=running");
  Log(*log, spdlog::level::info, {.event = LogEvent::kReady}, "ready");

  // WatchdogSec= in the unit: WATCHDOG=1 while every thread, this loop included, shows
  // progress (agent/watchdog.h).
  std::uint64_t watchdog_usec = 0;
  const bool ping = sd_watchdog_enabled(0, &watchdog_usec) > 0;
  const std::chrono::milliseconds watchdog_interval = WatchdogInterval(
      ping ? std::optional(std::chrono::microseconds(watchdog_usec)) : std::nullopt);
  Liveness::Heartbeat& main_loop = (*daemon)->liveness().Add("the main loop", kMainLoopDeadline);
  Watchdog watchdog((*daemon)->liveness(), watchdog_interval, ping, *log);
  constexpr std::chrono::minutes kMaintenanceInterval{1};
  auto next_maintenance = std::chrono::steady_clock::now() + kMaintenanceInterval;
  int exit_status = kExitOk;
  for (;;) {
    const int sig = WaitForSignal(signals, kTick);
    if ((*daemon)->AuditFailed()) {
      Log(*log, spdlog::level::critical, {.event = LogEvent::kHaltedByAudit},
          "the audit trail failed: stopping; nothing more is written or answered until it can "
          "be written again (the journal names the error above)");
      exit_status = kExitFailure;
      break;
    }
    if (sig == 0) {
      const auto now = std::chrono::steady_clock::now();
      const bool maintenance = now >= next_maintenance;
      if (maintenance) next_maintenance = now + kMaintenanceInterval;
      (*daemon)->Tick(maintenance);
      main_loop.Beat();
      continue;
    }
    if (sig == kWakeSignal) {  // nothing to do but the check above
      main_loop.Beat();
      continue;
    }
    if (sig == SIGHUP) {
      Reload(running, options, **daemon, *log);
      main_loop.Beat();
      continue;
    }
    Log(*log, spdlog::level::info, {.event = LogEvent::kStopping}, "received {}, stopping",
        sig == SIGTERM ? "SIGTERM" : "SIGINT");
    break;
  }
  watchdog.Stop();  // draining takes its time: TimeoutStopSec= bounds it, not the watchdog
  sd_notify(0, "STOPPING=1\nSTATUS=finishing requests in flight");
  (*daemon)->Stop();
  Log(*log, spdlog::level::info, {.event = LogEvent::kStopped}, "stopped");
  return exit_status;
}

}  // namespace wb::agent
