// `wbagent run`: the daemon's lifecycle. For now it loads the config, sets up logging, tells
// systemd it is ready, reloads on SIGHUP and stops on SIGTERM/SIGINT. The channel, queue and
// writers plug in here as they land; main() keeps only wiring.
#include <signal.h>
#include <systemd/sd-daemon.h>

#include <cstdio>
#include <memory>
#include <string>

#include "agent/commands.h"
#include "agent/logging.h"
#include "common/version.h"
#include "config/config.h"

namespace wb::agent {
namespace {

// The signals the daemon acts on. They are blocked in every thread and taken synchronously
// with sigwaitinfo, so no work ever runs inside a signal handler.
sigset_t ControlSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  return set;
}

int WaitForSignal(const sigset_t& set) {
  for (;;) {
    int sig = sigwaitinfo(&set, nullptr);
    if (sig > 0) return sig;  // EINTR from an unrelated signal: wait again
  }
}

// A new config is validated in full before it replaces the running one; a bad one is
// reported and the agent keeps running on the old.
void Reload(config::Config& running, spdlog::logger& log) {
  sd_notify(0, "RELOADING=1");
  auto loaded = config::LoadConfig(running.file);
  if (!loaded.ok()) {
    log.error("reload of {} refused, keeping the running configuration: {} problem(s)",
              running.file.string(), loaded.error().size());
    for (const auto& e : loaded.error()) log.error("  {}", e.ToString());
  } else if (*loaded == running) {
    log.info("reload of {}: no change", running.file.string());
  } else {
    running = std::move(*loaded);
    ApplyLogLevel(log, running.log.level);
    log.info("reloaded configuration from {}", running.file.string());
  }
  sd_notify(0, "READY=1");
}

}  // namespace

int RunDaemonCommand(const std::filesystem::path& config_file) {
  auto loaded = config::LoadConfig(config_file);
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
  log->info("wbagent {} starting: agent {} with config {}", kVersion, running.agent.id,
            running.file.string());
  sd_notify(0, "READY=1\nSTATUS=running");
  log->info("ready");

  for (;;) {
    const int sig = WaitForSignal(signals);
    if (sig == SIGHUP) {
      Reload(running, *log);
      continue;
    }
    log->info("received {}, stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    break;
  }
  sd_notify(0, "STOPPING=1\nSTATUS=stopping");
  log->info("stopped");
  return kExitOk;
}

}  // namespace wb::agent
