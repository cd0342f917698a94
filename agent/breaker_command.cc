// `wbagent breaker status|release|reject`: the administrator's decision about requests the
// breaker holds (docs/policy.md, "Rate limits and the breaker"). The running daemon carries out
// a release or a rejection (agent/breaker_file.h): this command writes the decision, signals
// the daemon, and waits for it to report what it did.

#include <signal.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "agent/breaker_file.h"
#include "agent/commands.h"
#include "audit/audit.h"
#include "common/clock.h"
#include "common/log_escape.h"

namespace wb::agent {
namespace {

using namespace std::chrono_literals;

// The daemon's pid from status.json; 0 when it cannot be read or the process is gone.
pid_t RunningDaemon(const std::filesystem::path& state_dir) {
  std::ifstream in(state_dir / "status.json");
  std::ostringstream text;
  text << in.rdbuf();
  auto j = nlohmann::json::parse(text.str(), nullptr, false);
  if (!j.is_object() || !j.contains("pid") || !j["pid"].is_number_integer()) return 0;
  const auto pid = static_cast<pid_t>(j["pid"].get<long long>());
  return pid > 0 && ::kill(pid, 0) == 0 ? pid : 0;
}

void PrintState(const BreakerFile& file) {
  if (file.state.tripped) {
    std::printf(
        "breaker: TRIPPED%s%s: requests are held until `wbagent breaker release` or "
        "`wbagent breaker reject`\n",
        file.state.tripped_at ? " at " : "",
        file.state.tripped_at ? audit::FormatTime(*file.state.tripped_at).c_str() : "");
  } else {
    std::printf("breaker: closed\n");
  }
  if (file.last_action) {
    std::printf("last action: %s at %s, %d held request(s)\n",
                std::string(BreakerActionName(file.last_action->action)).c_str(),
                audit::FormatTime(file.last_action->at).c_str(), file.last_action->requests);
  }
}

// Waits (polling every 100 ms, at most `limit`) for the daemon to take the command.
bool WaitForDaemon(const std::filesystem::path& state_dir, std::chrono::milliseconds limit) {
  for (auto waited = 0ms; waited < limit; waited += 100ms) {
    std::error_code ec;
    if (!std::filesystem::exists(BreakerCommandPath(state_dir), ec)) return true;
    std::this_thread::sleep_for(100ms);
  }
  return false;
}

int Decide(const std::filesystem::path& state_dir, BreakerAction action) {
  const std::string name(BreakerActionName(action));
  if (Status s = WriteBreakerCommand(state_dir, action); !s.ok()) {
    std::fprintf(stderr, "wbagent breaker %s: %s\n", name.c_str(), s.ToString().c_str());
    return kExitFailure;
  }
  const pid_t daemon = RunningDaemon(state_dir);
  if (daemon == 0) {
    std::fprintf(stderr,
                 "wbagent breaker %s: the agent is not running; it will carry this out within "
                 "5 s of its next start\n",
                 name.c_str());
    return kExitFailure;
  }
  ::kill(daemon, SIGHUP);
  if (!WaitForDaemon(state_dir, 15s)) {
    std::fprintf(stderr,
                 "wbagent breaker %s: the agent (pid %d) has not taken the decision within "
                 "15 s; see journalctl -u wbagent\n",
                 name.c_str(), static_cast<int>(daemon));
    return kExitFailure;
  }
  auto file = ReadBreakerFile(state_dir);
  if (!file.ok()) {
    std::fprintf(stderr, "wbagent breaker %s: %s\n", name.c_str(), file.error().ToString().c_str());
    return kExitFailure;
  }
  PrintState(*file);
  return kExitOk;
}

}  // namespace

int BreakerCommand(const BreakerArgs& args) {
  const std::optional<std::filesystem::path> state_dir = FindStateDir(args.where);
  if (!state_dir) return kExitUsage;
  if (args.action == "release") return Decide(*state_dir, BreakerAction::kRelease);
  if (args.action == "reject") return Decide(*state_dir, BreakerAction::kReject);
  auto file = ReadBreakerFile(*state_dir);
  if (!file.ok()) {
    std::fprintf(stderr, "wbagent breaker status: %s\n", file.error().ToString().c_str());
    return kExitFailure;
  }
  PrintState(*file);
  return file->state.tripped ? kExitFailure : kExitOk;
}

}  // namespace wb::agent
