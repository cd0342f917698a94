#include "agent/breaker_file.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/files.h"
#include "common/log_escape.h"

namespace wb::agent {
namespace {

std::int64_t ToMillis(WallTime t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

WallTime FromMillis(std::int64_t ms) {
  return WallTime(std::chrono::duration_cast<WallTime::duration>(std::chrono::milliseconds(ms)));
}

std::optional<BreakerAction> ParseAction(std::string_view text) {
  if (text == BreakerActionName(BreakerAction::kRelease)) return BreakerAction::kRelease;
  if (text == BreakerActionName(BreakerAction::kReject)) return BreakerAction::kReject;
  return std::nullopt;
}

// The file's content, nullopt when it does not exist.
Result<std::optional<std::string>> ReadSmallFile(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return std::optional<std::string>();
  std::ifstream in(path);
  if (!in) return Status(Code::kUnavailable, "cannot read " + path.string());
  std::ostringstream text;
  text << in.rdbuf();
  return std::optional<std::string>(text.str().substr(0, 4096));
}

}  // namespace

std::string_view BreakerActionName(BreakerAction action) {
  switch (action) {
    case BreakerAction::kRelease:
      return "release";
    case BreakerAction::kReject:
      return "reject";
  }
  return "";
}

std::filesystem::path BreakerStatePath(const std::filesystem::path& state_dir) {
  return state_dir / "breaker.json";
}

std::filesystem::path BreakerCommandPath(const std::filesystem::path& state_dir) {
  return state_dir / "breaker.command";
}

Result<BreakerFile> ReadBreakerFile(const std::filesystem::path& state_dir) {
  const auto path = BreakerStatePath(state_dir);
  auto text = ReadSmallFile(path);
  if (!text.ok()) return text.error();
  BreakerFile out;
  if (!*text) return out;
  auto j = nlohmann::json::parse(**text, nullptr, false);
  if (!j.is_object() || !j.value("tripped", nlohmann::json()).is_boolean()) {
    return Status(Code::kCorruption, path.string() + " does not hold a breaker state");
  }
  out.state.tripped = j["tripped"].get<bool>();
  if (j.contains("tripped_at_ms") && j["tripped_at_ms"].is_number_integer()) {
    out.state.tripped_at = FromMillis(j["tripped_at_ms"].get<std::int64_t>());
  }
  if (j.contains("counting_from_ms") && j["counting_from_ms"].is_number_integer()) {
    out.state.counting_from = FromMillis(j["counting_from_ms"].get<std::int64_t>());
  }
  if (j.contains("last_action") && j["last_action"].is_object()) {
    const auto& a = j["last_action"];
    auto action = ParseAction(a.value("action", ""));
    if (action) {
      out.last_action = BreakerOutcome{*action, FromMillis(a.value("at_ms", std::int64_t{0})),
                                       a.value("requests", 0)};
    }
  }
  return out;
}

std::string BreakerFileText(const BreakerFile& file) {
  nlohmann::json j;
  j["tripped"] = file.state.tripped;
  if (file.state.tripped_at) j["tripped_at_ms"] = ToMillis(*file.state.tripped_at);
  if (file.state.counting_from) j["counting_from_ms"] = ToMillis(*file.state.counting_from);
  if (file.last_action) {
    j["last_action"] = {{"action", std::string(BreakerActionName(file.last_action->action))},
                        {"at_ms", ToMillis(file.last_action->at)},
                        {"requests", file.last_action->requests}};
  }
  return j.dump();
}

Status WriteBreakerFile(const std::filesystem::path& state_dir, const BreakerFile& file) {
  return WriteFileAtomic(BreakerStatePath(state_dir), BreakerFileText(file) + "\n", 0600);
}

Result<std::optional<BreakerAction>> ReadBreakerCommand(const std::filesystem::path& state_dir) {
  const auto path = BreakerCommandPath(state_dir);
  auto text = ReadSmallFile(path);
  if (!text.ok()) return text.error();
  if (!*text) return std::optional<BreakerAction>();
  std::string word = **text;
  while (!word.empty() && (word.back() == '\n' || word.back() == ' ')) word.pop_back();
  auto action = ParseAction(word);
  if (!action) {
    return Status(Code::kInvalidArgument,
                  path.string() + " holds neither \"release\" nor \"reject\"");
  }
  return std::optional<BreakerAction>(*action);
}

Status WriteBreakerCommand(const std::filesystem::path& state_dir, BreakerAction action) {
  return WriteFileAtomic(BreakerCommandPath(state_dir),
                         std::string(BreakerActionName(action)) + "\n", 0600);
}

Status RemoveBreakerCommand(const std::filesystem::path& state_dir) {
  std::error_code ec;
  std::filesystem::remove(BreakerCommandPath(state_dir), ec);
  if (ec) return Status(Code::kUnavailable, "cannot remove the breaker command: " + ec.message());
  return Status::Ok();
}

UnsavedBreakerWarning WarnOfUnsavedBreaker(const std::filesystem::path& state_dir,
                                           const BreakerFile& unsaved,
                                           const Result<BreakerFile>& kept) {
  const std::string path = EscapeForLog(BreakerStatePath(state_dir).string());
  const bool tripped = unsaved.state.tripped;
  // What the agent would have written: with it, the next start holds and counts as this one.
  const std::string write =
      "write " + BreakerFileText(unsaved) + " into it (mode 0600, owned by the agent's user)";
  const std::string prefix = "breaker state: not written at stop";
  if (!kept.ok()) {
    return {true, prefix + ", and " + path + " cannot be read (" + kept.error().ToString() +
                      "): the next start will refuse to run until it can. Fix the cause logged "
                      "above, then " +
                      write};
  }
  if (tripped && !kept->state.tripped) {
    return {true, prefix + ": the breaker is tripped, but " + path +
                      " says it is not, and the next start would admit the requests it holds "
                      "by the ordinary rules. Before starting wbagent again, fix the cause "
                      "logged above and " +
                      write +
                      ": the next start then keeps them held. `wbagent queue list --state "
                      "received` lists them"};
  }
  if (!tripped && kept->state.tripped) {
    return {false, prefix + ": an administrator's release or reject ended the trip, but " + path +
                       " still says tripped: the next start holds every new request until "
                       "`wbagent breaker release` (or `reject`) is run again; or fix the cause "
                       "logged above and " +
                       write};
  }
  if (unsaved.state != kept->state) {
    // A release restarts the overall count after the requests it admitted; without it, the
    // next start counts them again and may trip at once (held, not admitted: safe).
    return {false, prefix + ": " + path +
                       " holds an older count of the overall rate limit: the next start may "
                       "trip the breaker again on requests already released (`wbagent breaker "
                       "status` shows it); to start as this agent stopped, fix the cause "
                       "logged above and " +
                       write};
  }
  return {false, prefix + ": " + path + " says the breaker is " +
                     (tripped ? "tripped" : "not tripped") +
                     ", as it is, but holds an older last action: `wbagent breaker status` may "
                     "show an earlier action"};
}

}  // namespace wb::agent
