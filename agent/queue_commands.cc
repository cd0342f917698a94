// `wbagent queue list` and `wbagent queue show ID`: the administrator's view of the request
// queue (docs/queue.md). The queue is opened read-only, without its lock or data key, so both
// work while the daemon runs; nothing here can see a password, because no Record holds one.
// Text that came from a peer (targets, directory messages) is escaped before it is printed.
#include <algorithm>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "agent/commands.h"
#include "agent/request_mapping.h"
#include "audit/audit.h"
#include "common/clock.h"
#include "common/log_escape.h"
#include "config/config.h"
#include "queue/queue.h"

namespace wb::agent {
namespace {

using Json = nlohmann::json;

constexpr std::size_t kShortText = 48;   // a table cell
constexpr std::size_t kLongText = 1024;  // a message in `show`

std::string Text(std::string_view peer_text, std::size_t max_len = kLongText) {
  return EscapeForLog(peer_text, max_len);
}

// A message the agent wrote (an outcome's reason, a directory's diagnostic): any peer text in
// it was escaped when it entered, so it is not escaped again (common/log_escape.h).
std::string Message(std::string_view agent_text) { return ShowEscaped(agent_text, kLongText); }

std::string TimeOrDash(const std::optional<WallTime>& t) { return t ? audit::FormatTime(*t) : "-"; }

Json TimeOrNull(const std::optional<WallTime>& t) {
  return t ? Json(audit::FormatTime(*t)) : Json(nullptr);
}

// "reset, unlock"
std::string OperationsText(const queue::Operations& ops) {
  std::string out;
  for (protocol::Operation op : OperationsOf(ops)) {
    if (!out.empty()) out += ", ";
    out += protocol::OperationName(op);
  }
  return out;
}

Json OperationsJson(const queue::Operations& ops) {
  return {{"reset", ops.reset},
          {"change", ops.change},
          {"unlock", ops.unlock},
          {"require_change", ops.require_change},
          {"clear_require_change", ops.clear_require_change},
          {"validate", ops.validate}};
}

// The requester as the cloud described it: embedded as JSON when it is JSON.
Json RequesterJson(const std::string& text) {
  if (text.empty()) return nullptr;
  Json parsed = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  return parsed.is_discarded() ? Json(text) : parsed;
}

Json RecordJson(const queue::Record& r) {
  Json j = {{"id", r.info.id},
            {"seq", r.seq},
            {"state", std::string(queue::StateName(r.state))},
            {"attempts", r.attempts},
            {"delivery", r.info.delivery},
            {"tenant", r.info.tenant},
            {"correlation_id", r.info.correlation_id},
            {"operations", OperationsJson(r.info.operations)},
            {"target", r.info.target},
            {"target_kind", r.info.target_kind},
            {"account_key", r.info.account_key},
            {"requester", RequesterJson(r.info.requester_json)},
            {"issued_at", audit::FormatTime(r.info.issued_at)},
            {"expires_at", audit::FormatTime(r.info.expires_at)},
            {"received_at", audit::FormatTime(r.received_at)},
            {"ready_at", TimeOrNull(r.ready_at)},
            {"attempt_started_at", TimeOrNull(r.attempt_started_at)},
            {"not_before", audit::FormatTime(r.not_before)},
            {"finished_at", TimeOrNull(r.finished_at)},
            {"acknowledged_at", TimeOrNull(r.acknowledged_at)},
            {"last_error", nullptr},
            {"outcome", nullptr},
            {"secret_stored", r.secret_stored}};
  if (!r.last_error_code.empty()) {
    j["last_error"] = {{"code", r.last_error_code}, {"message", r.last_error_message}};
  }
  if (r.outcome) {
    j["outcome"] = {{"state", std::string(queue::StateName(r.outcome->state))},
                    {"code", r.outcome->code},
                    {"transient", r.outcome->transient},
                    {"message", r.outcome->message},
                    {"server", r.outcome->server},
                    {"duration_ms", r.outcome->duration.count()}};
  }
  return j;
}

Json HistoryJson(const queue::HistoryEvent& e) {
  return {{"at", audit::FormatTime(e.at)},
          {"event", e.event},
          {"state", std::string(queue::StateName(e.state))},
          {"attempts", e.attempts},
          {"code", e.code},
          {"message", e.message}};
}

// Invalid UTF-8 from a peer must not make the dump throw: it is replaced, not trusted.
void PrintJson(const Json& j) {
  const std::string out = j.dump(2, ' ', false, Json::error_handler_t::replace) + "\n";
  std::fwrite(out.data(), 1, out.size(), stdout);
}

// Left-aligned columns as wide as their widest cell; the last column is not padded.
void PrintTable(const std::vector<std::vector<std::string>>& rows) {
  if (rows.empty()) return;
  std::vector<std::size_t> width(rows.front().size(), 0);
  for (const auto& row : rows) {
    for (std::size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(width[i] - row[i].size() + 2, ' ');
    }
    line.erase(line.find_last_not_of(' ') + 1);
    std::printf("%s\n", line.c_str());
  }
}

// The outcome code of a terminal record, else the last attempt's error code.
std::string ResultCode(const queue::Record& r) {
  if (r.outcome) return r.outcome->code;
  return r.last_error_code.empty() ? "-" : r.last_error_code;
}

void PrintList(const std::vector<queue::Record>& records, bool more, bool oldest_first) {
  if (records.empty()) {
    std::printf("no requests\n");
    return;
  }
  std::vector<std::vector<std::string>> rows = {
      {"ID", "STATE", "ATTEMPTS", "RECEIVED", "OPERATIONS", "TARGET", "CODE"}};
  for (const auto& r : records) {
    rows.push_back({Text(r.info.id, kShortText), std::string(queue::StateName(r.state)),
                    std::to_string(r.attempts), audit::FormatTime(r.received_at),
                    OperationsText(r.info.operations), Text(r.info.target, kShortText),
                    Text(ResultCode(r), kShortText)});
  }
  PrintTable(rows);
  if (more) {
    std::printf("(first %zu shown, %s first; narrow with --state or raise --limit)\n",
                records.size(), oldest_first ? "oldest" : "newest");
  }
}

void PrintField(const char* name, const std::string& value) {
  std::printf("  %-20s %s\n", name, value.c_str());
}

// Who asked and how the cloud verified them, as fields; the stored text itself (escaped) only
// when it is not the JSON object the agent stores.
void PrintRequester(const std::string& requester_json) {
  const std::optional<audit::Requester> requester = ParseRequester(requester_json);
  if (!requester) {
    PrintField("requester", requester_json.empty() ? "-" : Text(requester_json));
    return;
  }
  const std::string_view kind = audit::Name(requester->kind);
  PrintField("requester type", kind.empty() ? "-" : std::string(kind));
  PrintField("requester id", requester->id.empty() ? "-" : Text(requester->id));
  std::string methods;
  for (const std::string& m : requester->verified_by) {
    if (!methods.empty()) methods += ", ";
    methods += Text(m, kShortText);
  }
  PrintField("verified by", methods.empty() ? "-" : methods);
}

// The outcome code once, then how and where it ended, then the message.
std::string OutcomeText(const queue::Outcome& o) {
  std::string text = Text(o.code) + (o.transient ? " (transient)" : "");
  if (!o.server.empty()) text += " on " + Text(o.server);
  if (o.duration.count() > 0) text += " in " + std::to_string(o.duration.count()) + " ms";
  if (!o.message.empty()) text += ": " + Message(o.message);
  return text;
}

void PrintRecord(const queue::Record& r) {
  std::printf("request %s (seq %lld)\n", Text(r.info.id).c_str(), static_cast<long long>(r.seq));
  PrintField("state", std::string(queue::StateName(r.state)));
  PrintField("attempts", std::to_string(r.attempts));
  PrintField("delivery", std::to_string(r.info.delivery) +
                             (r.info.delivery > 1 ? " (another agent may have had it first)" : ""));
  PrintField("operations", OperationsText(r.info.operations));
  PrintField("target", Text(r.info.target) + " (" + Text(r.info.target_kind) + ")");
  PrintField("account key", Text(r.info.account_key));
  PrintField("tenant", Text(r.info.tenant));
  PrintField("correlation id", Text(r.info.correlation_id));
  PrintRequester(r.info.requester_json);
  PrintField("issued", audit::FormatTime(r.info.issued_at));
  PrintField("expires", audit::FormatTime(r.info.expires_at));
  PrintField("received", audit::FormatTime(r.received_at));
  PrintField("ready", TimeOrDash(r.ready_at));
  PrintField("attempt started", TimeOrDash(r.attempt_started_at));
  if (r.state == queue::State::kReady) PrintField("next attempt", audit::FormatTime(r.not_before));
  PrintField("finished", TimeOrDash(r.finished_at));
  PrintField("result acknowledged", TimeOrDash(r.acknowledged_at));
  if (!r.last_error_code.empty()) {
    PrintField("last error", Text(r.last_error_code) + ": " + Message(r.last_error_message));
  }
  if (r.outcome) PrintField("outcome", OutcomeText(*r.outcome));
  PrintField("password",
             r.secret_stored ? "stored encrypted (erased when the request ends)" : "erased");
}

void PrintHistory(const std::vector<queue::HistoryEvent>& history) {
  std::printf("history:\n");
  std::vector<std::vector<std::string>> rows = {
      {"  TIME", "EVENT", "STATE", "ATTEMPTS", "CODE", "MESSAGE"}};
  for (const auto& e : history) {
    rows.push_back({"  " + audit::FormatTime(e.at), Text(e.event),
                    std::string(queue::StateName(e.state)), std::to_string(e.attempts),
                    e.code.empty() ? "-" : Text(e.code), Message(e.message)});
  }
  PrintTable(rows);
}

std::optional<queue::State> ParseState(const std::string& name) {
  for (std::size_t i = 0; i < queue::kStateCount; ++i) {
    const auto state = static_cast<queue::State>(i);
    if (queue::StateName(state) == name) return state;
  }
  return std::nullopt;
}

// Opens the queue read-only, or says why not on stderr.
std::unique_ptr<queue::Queue> OpenForInspection(const std::filesystem::path& state_dir,
                                                const Clock& clock, const char* verb) {
  auto q = queue::Queue::Open({.state_dir = state_dir, .read_only = true}, clock);
  if (q.ok()) return std::move(*q);
  std::fprintf(stderr, "wbagent %s: cannot read the queue in %s: %s\n", verb, state_dir.c_str(),
               q.error().ToString().c_str());
  if (q.error().code() == Code::kNotFound) {
    std::fprintf(stderr, "(the agent has not run with this state directory yet)\n");
  } else if (q.error().code() == Code::kPermissionDenied) {
    std::fprintf(stderr, "(run as root or as the agent's user)\n");
  }
  return nullptr;
}

}  // namespace

std::optional<std::filesystem::path> FindStateDir(const StateDirArgs& where) {
  if (!where.state_dir.empty()) return std::filesystem::absolute(where.state_dir);
  // status and queue read no secret: one that only the unit can see must not stop them.
  auto loaded = config::LoadConfig(
      where.config_file, config::LoadOptions::FromEnvironment(config::SecretChecks::kSkip));
  if (!loaded.ok()) {
    std::fprintf(stderr, "%s", config::FormatErrors(loaded.error()).c_str());
    std::fprintf(stderr,
                 "wbagent: %s is invalid; give --state-dir to inspect the agent's state "
                 "without it\n",
                 where.config_file.c_str());
    return std::nullopt;
  }
  return loaded->agent.state_dir;
}

int QueueListCommand(const QueueListArgs& args) {
  queue::ListFilter filter;
  if (!args.state.empty()) {
    filter.state = ParseState(args.state);
    if (!filter.state) {
      std::fprintf(stderr,
                   "wbagent queue list: --state %s: not a state (received, ready, applying, "
                   "succeeded, rejected, failed, expired)\n",
                   Text(args.state, kShortText).c_str());
      return kExitUsage;
    }
  }
  if (args.limit == 0) {
    std::fprintf(stderr, "wbagent queue list: --limit must be at least 1\n");
    return kExitUsage;
  }
  const std::optional<std::filesystem::path> state_dir = FindStateDir(args.where);
  if (!state_dir) return kExitUsage;
  SystemClock clock;
  std::unique_ptr<queue::Queue> q = OpenForInspection(*state_dir, clock, "queue list");
  if (!q) return kExitFailure;
  filter.limit = args.limit + 1;  // one more tells whether there are more
  filter.newest_first = !args.oldest_first;
  auto records = q->List(filter);
  if (!records.ok()) {
    std::fprintf(stderr, "wbagent queue list: %s\n", records.error().ToString().c_str());
    return kExitFailure;
  }
  const bool more = records->size() > args.limit;
  if (more) records->resize(args.limit);
  if (args.json) {
    Json list = Json::array();
    for (const auto& r : *records) list.push_back(RecordJson(r));
    PrintJson({{"state_dir", state_dir->string()}, {"requests", list}, {"more", more}});
  } else {
    PrintList(*records, more, args.oldest_first);
  }
  return std::fflush(stdout) == 0 ? kExitOk : kExitFailure;
}

int QueueShowCommand(const QueueShowArgs& args) {
  const std::optional<std::filesystem::path> state_dir = FindStateDir(args.where);
  if (!state_dir) return kExitUsage;
  SystemClock clock;
  std::unique_ptr<queue::Queue> q = OpenForInspection(*state_dir, clock, "queue show");
  if (!q) return kExitFailure;
  auto detail = q->Show(args.id);
  if (!detail.ok() && detail.error().code() == Code::kNotFound) {
    std::fprintf(stderr,
                 "wbagent queue show: no request with id \"%s\" in the queue (never received, "
                 "or purged after its retention; see `wbagent audit query --request`)\n",
                 Text(args.id, kShortText).c_str());
    return kExitFailure;
  }
  if (!detail.ok()) {
    std::fprintf(stderr, "wbagent queue show: %s\n", detail.error().message().c_str());
    // An ambiguous prefix is the caller's to fix, like any other bad argument.
    return detail.error().code() == Code::kInvalidArgument ? kExitUsage : kExitFailure;
  }
  if (args.json) {
    Json history = Json::array();
    for (const auto& e : detail->history) history.push_back(HistoryJson(e));
    Json j = RecordJson(detail->record);
    j["history"] = history;
    PrintJson(j);
  } else {
    PrintRecord(detail->record);
    PrintHistory(detail->history);
  }
  return std::fflush(stdout) == 0 ? kExitOk : kExitFailure;
}

}  // namespace wb::agent
