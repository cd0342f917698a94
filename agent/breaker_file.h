#pragma once
// The breaker's durable state and the administrator's decision about it (internal to agent/).
//
// <state_dir>/breaker.json: the policy engine's BreakerState, written atomically (0600) by the
// daemon each time it changes, read at start so that a tripped breaker stays tripped across a
// restart. Missing: the breaker never tripped.
//
// <state_dir>/breaker.command: `wbagent breaker release|reject` writes the decision here and
// signals the daemon (SIGHUP); the daemon carries it out, records the outcome in breaker.json
// (last_action) and removes the file. The daemon also looks for it at every tick (5 s), so a
// missed signal only delays it.

#include <filesystem>
#include <optional>
#include <string>

#include "common/clock.h"
#include "common/status.h"
#include "policy/policy.h"

namespace wb::agent {

enum class BreakerAction { kRelease, kReject };
std::string_view BreakerActionName(BreakerAction action);  // "release", "reject"

// What the daemon did with the last command, for the command to print.
struct BreakerOutcome {
  BreakerAction action = BreakerAction::kRelease;
  WallTime at;
  int requests = 0;  // how many held requests were released or rejected
};

struct BreakerFile {
  policy::BreakerState state;
  std::optional<BreakerOutcome> last_action;
};

std::filesystem::path BreakerStatePath(const std::filesystem::path& state_dir);
std::filesystem::path BreakerCommandPath(const std::filesystem::path& state_dir);

// kNotFound never: a missing file is the default state. kCorruption when it does not parse.
Result<BreakerFile> ReadBreakerFile(const std::filesystem::path& state_dir);
Status WriteBreakerFile(const std::filesystem::path& state_dir, const BreakerFile& file);
// The JSON WriteBreakerFile writes (without its newline): also what an administrator is told
// to write by hand when the agent could not (WarnOfUnsavedBreaker).
std::string BreakerFileText(const BreakerFile& file);

// What to say when the daemon stops with `unsaved` not written, given what breaker.json holds
// (`kept`, as ReadBreakerFile read it): whether the next start would hold what the running
// agent held, and how to make it. `critical` when the next start would admit held requests
// or not start at all.
struct UnsavedBreakerWarning {
  bool critical = false;
  std::string text;
};
UnsavedBreakerWarning WarnOfUnsavedBreaker(const std::filesystem::path& state_dir,
                                           const BreakerFile& unsaved,
                                           const Result<BreakerFile>& kept);

// The pending command, nullopt when there is none. kInvalidArgument when the file holds
// anything else (it is then removed by TakeBreakerCommand's caller, and logged).
Result<std::optional<BreakerAction>> ReadBreakerCommand(const std::filesystem::path& state_dir);
Status WriteBreakerCommand(const std::filesystem::path& state_dir, BreakerAction action);
Status RemoveBreakerCommand(const std::filesystem::path& state_dir);

}  // namespace wb::agent
