// `wbagent status`: is the agent running and connected, how full is its queue, when did it
// last succeed and fail, and which directory servers answer. The running daemon writes
// <state_dir>/status.json when its view changes and at least every 30 s (StatusWriter); a file
// older than kStaleAfter, or one naming a process that has exited, means no agent is running. The
// queue is read live, opened read-only, so this works while the daemon holds it.
#include <signal.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "agent/breaker_file.h"
#include "agent/commands.h"
#include "audit/audit.h"
#include "common/clock.h"
#include "common/log_escape.h"
#include "queue/queue.h"

namespace wb::agent {
namespace {

using Json = nlohmann::json;
using std::chrono::seconds;

// Three missed heartbeats: the daemon rewrites status.json at least every 30 s.
constexpr seconds kStaleAfter{90};
constexpr std::size_t kMaxStatusBytes = 1 << 20;

// What status.json says about the daemon, and whether that is current.
enum class Liveness { kRunning, kMissing, kUnreadable, kStale, kExited, kStopped };

const char* LivenessName(Liveness l) {
  switch (l) {
    case Liveness::kRunning:
      return "running";
    case Liveness::kMissing:
      return "missing";
    case Liveness::kUnreadable:
      return "unreadable";
    case Liveness::kStale:
      return "stale";
    case Liveness::kExited:
      return "exited";
    case Liveness::kStopped:
      return "stopped";
  }
  return "unknown";
}

struct DaemonView {
  std::filesystem::path file;
  Liveness liveness = Liveness::kMissing;
  std::string problem;         // kUnreadable: why
  Json doc = Json::object();   // status.json as written; empty when it could not be read
  std::optional<seconds> age;  // since its updated_at
  long long pid = 0;           // 0: not named
};

// status.json is read, not trusted to be well formed: these never throw.
Json Member(const Json& j, const char* key) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(key);
  return it == j.end() ? Json(nullptr) : *it;
}

// A string member of `j`, or "".
std::string Str(const Json& j, const char* key) {
  const Json m = Member(j, key);
  return m.is_string() ? m.get<std::string>() : "";
}

std::string AgeText(seconds age) {
  const long long s = std::max<long long>(age.count(), 0);
  if (s < 60) return std::to_string(s) + "s";
  if (s < 3600) return std::to_string(s / 60) + "m " + std::to_string(s % 60) + "s";
  if (s < 86400) return std::to_string(s / 3600) + "h " + std::to_string(s % 3600 / 60) + "m";
  return std::to_string(s / 86400) + "d " + std::to_string(s % 86400 / 3600) + "h";
}

// "2026-01-15T12:00:00.000Z (5m 2s ago)", or the text as written when it is not a time.
std::string TimeAndAge(const std::string& text, WallTime now) {
  auto t = audit::ParseTime(text);
  if (!t.ok()) return EscapeForLog(text);
  return EscapeForLog(text) + " (" + AgeText(std::chrono::duration_cast<seconds>(now - *t)) +
         " ago)";
}

std::optional<std::string> ReadSmallFile(const std::filesystem::path& path, int& err) {
  std::FILE* f = std::fopen(path.c_str(), "rbe");
  if (f == nullptr) {
    err = errno;
    return std::nullopt;
  }
  std::string text(kMaxStatusBytes, '\0');
  const std::size_t n = std::fread(text.data(), 1, text.size(), f);
  err = std::ferror(f) != 0 ? EIO : 0;
  std::fclose(f);
  if (err != 0) return std::nullopt;
  text.resize(n);
  return text;
}

bool ProcessExists(long long pid) {
  return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
}

DaemonView ReadDaemon(const std::filesystem::path& state_dir, WallTime now) {
  DaemonView v;
  v.file = state_dir / "status.json";
  int err = 0;
  const std::optional<std::string> text = ReadSmallFile(v.file, err);
  if (!text) {
    v.liveness = err == ENOENT ? Liveness::kMissing : Liveness::kUnreadable;
    v.problem = std::strerror(err);  // NOLINT(concurrency-mt-unsafe): one thread
    if (err == EACCES) v.problem += " (run as root or as the agent's user)";
    return v;
  }
  v.doc = Json::parse(*text, nullptr, /*allow_exceptions=*/false);
  auto updated = audit::ParseTime(Str(v.doc, "updated_at"));
  if (v.doc.is_discarded() || !v.doc.is_object() || !updated.ok()) {
    v.liveness = Liveness::kUnreadable;
    v.problem = "not a status file (no valid updated_at)";
    v.doc = Json::object();
    return v;
  }
  v.age = std::chrono::duration_cast<seconds>(now - *updated);
  if (auto pid = v.doc.find("pid"); pid != v.doc.end() && pid->is_number_integer()) {
    v.pid = pid->get<long long>();
  }
  // Daemon::Stop writes a stopped channel just before the process exits. A live process with a
  // stopped channel is still running (the channel failed), and `Connected` says no.
  const bool stale = *v.age > kStaleAfter;
  const bool gone = stale || (v.pid > 0 && !ProcessExists(v.pid));
  if (gone && Str(Member(v.doc, "channel"), "state") == "stopped") {
    v.liveness = Liveness::kStopped;
  } else if (stale) {
    v.liveness = Liveness::kStale;
  } else if (gone) {
    v.liveness = Liveness::kExited;
  } else {
    v.liveness = Liveness::kRunning;
  }
  return v;
}

// The directories none of whose servers is healthy: requests to them wait. A directory with
// one server down of several still works (failover), so it is shown but not counted.
std::vector<std::string> UnhealthyDirectories(const DaemonView& v) {
  std::vector<std::string> names;
  std::vector<std::string> healthy;
  const Json servers = Member(v.doc, "directory_servers");
  if (!servers.is_array()) return names;
  for (const Json& s : servers) {
    const std::string name = Str(s, "directory");
    if (Member(s, "healthy") == Json(true)) {
      healthy.push_back(name);
    } else if (std::find(names.begin(), names.end(), name) == names.end()) {
      names.push_back(name);
    }
  }
  std::erase_if(names, [&](const std::string& n) {
    return std::find(healthy.begin(), healthy.end(), n) != healthy.end();
  });
  return names;
}

bool Connected(const DaemonView& v) {
  return v.liveness == Liveness::kRunning && Str(Member(v.doc, "channel"), "state") == "connected";
}

std::string PidText(const DaemonView& v) {
  return v.pid > 0 ? "pid " + std::to_string(v.pid) : "no pid recorded";
}

// One line on whether the agent runs, and if not, how we know.
std::string DaemonText(const DaemonView& v) {
  const std::string age = v.age ? AgeText(*v.age) + " ago" : "";
  switch (v.liveness) {
    case Liveness::kRunning:
      return "running (" + PidText(v) + ", wbagent " + EscapeForLog(Str(v.doc, "version")) +
             "; status updated " + age + ")";
    case Liveness::kMissing:
      return "NOT RUNNING: " + v.file.string() +
             " is missing: no agent is running with this state directory";
    case Liveness::kUnreadable:
      return "UNKNOWN: cannot read " + v.file.string() + ": " + v.problem;
    case Liveness::kStale:
      return "NOT RUNNING: " + v.file.string() + " is stale: last written " + age + " by " +
             PidText(v) + " (a running agent rewrites it at least every 30 s)";
    case Liveness::kExited:
      return "NOT RUNNING: " + PidText(v) + ", named by " + v.file.string() + " (written " + age +
             "), has exited";
    case Liveness::kStopped:
      return "NOT RUNNING: the agent (" + PidText(v) + ") stopped " + age;
  }
  return "";
}

struct QueueView {
  std::optional<queue::Stats> stats;
  std::string error;  // when stats is unset
};

QueueView ReadQueue(const std::filesystem::path& state_dir, const Clock& clock) {
  QueueView v;
  auto q = queue::Queue::Open({.state_dir = state_dir, .read_only = true}, clock);
  if (!q.ok()) {
    v.error = q.error().ToString();
    if (q.error().code() == Code::kNotFound) {
      v.error = "no queue yet in " + state_dir.string() + " (the agent has not run)";
    } else if (q.error().code() == Code::kPermissionDenied) {
      v.error += " (run as root or as the agent's user)";
    }
    return v;
  }
  auto stats = (*q)->GetStats();
  if (!stats.ok()) {
    v.error = stats.error().ToString();
  } else {
    v.stats = *stats;
  }
  return v;
}

Json QueueJson(const QueueView& v) {
  if (!v.stats) return {{"error", v.error}};
  const queue::Stats& s = *v.stats;
  Json by_state = Json::object();
  for (std::size_t i = 0; i < queue::kStateCount; ++i) {
    by_state[std::string(queue::StateName(static_cast<queue::State>(i)))] = s.by_state[i];
  }
  Json j = {{"by_state", by_state},
            {"pending", s.unfinished},
            {"interrupted", s.interrupted},
            {"pending_results", s.pending_results},
            {"oldest_pending_received_at", nullptr},
            {"oldest_pending_age_seconds", nullptr}};
  if (s.oldest_unfinished_received_at) {
    j["oldest_pending_received_at"] = audit::FormatTime(*s.oldest_unfinished_received_at);
  }
  if (s.oldest_unfinished_age) j["oldest_pending_age_seconds"] = s.oldest_unfinished_age->count();
  return j;
}

// The breaker, from breaker.json (readable also when the agent is not running).
struct BreakerView {
  std::optional<BreakerFile> file;
  std::string problem;
  bool tripped() const { return file && file->state.tripped; }
};

BreakerView ReadBreaker(const std::filesystem::path& state_dir) {
  BreakerView v;
  auto file = ReadBreakerFile(state_dir);
  if (file.ok()) {
    v.file = std::move(*file);
  } else {
    v.problem = file.error().ToString();
  }
  return v;
}

Json BreakerJson(const BreakerView& b) {
  if (!b.file) return {{"error", b.problem}};
  Json j = {{"tripped", b.file->state.tripped}};
  if (b.file->state.tripped_at) j["tripped_at"] = audit::FormatTime(*b.file->state.tripped_at);
  return j;
}

void PrintBreaker(const BreakerView& b) {
  if (!b.file) {
    std::printf("breaker:      unknown: %s\n", EscapeForLog(b.problem).c_str());
  } else if (b.tripped()) {
    std::printf(
        "breaker:      TRIPPED%s%s: requests are held (queue: received); review them, then "
        "run `wbagent breaker release` or `wbagent breaker reject`\n",
        b.file->state.tripped_at ? " at " : "",
        b.file->state.tripped_at ? audit::FormatTime(*b.file->state.tripped_at).c_str() : "");
  } else {
    std::printf("breaker:      closed\n");
  }
}

Json StatusJson(const DaemonView& d, const QueueView& q, const BreakerView& b) {
  Json agent = {{"state", LivenessName(d.liveness)},
                {"running", d.liveness == Liveness::kRunning},
                {"message", DaemonText(d)},
                {"status_file", d.file.string()},
                {"pid", d.pid > 0 ? Json(d.pid) : Json(nullptr)},
                {"version", Member(d.doc, "version")},
                {"updated_at", Member(d.doc, "updated_at")},
                {"age_seconds", d.age ? Json(d.age->count()) : Json(nullptr)}};
  const Json servers = Member(d.doc, "directory_servers");
  Json j = {{"running", d.liveness == Liveness::kRunning},
            {"connected", Connected(d)},
            {"unhealthy_directories", UnhealthyDirectories(d)},
            {"agent", agent},
            {"channel", Member(d.doc, "channel")},
            {"queue", QueueJson(q)},
            {"directory_servers", servers.is_array() ? servers : Json::array()}};
  for (const char* key : {"last_success", "last_failure", "last_failure_outcome"}) {
    j[key] = Member(d.doc, key);
  }
  j["breaker"] = BreakerJson(b);
  return j;
}

// "this host is 2.5 s ahead of the cloud" and, beyond what the agent allows, what to do.
std::string ClockSkewText(double skew, const Json& allowed) {
  char amount[32];
  std::snprintf(amount, sizeof amount, "%.1f", skew < 0 ? -skew : skew);
  std::string text = "this host is ";
  text += amount;
  text += skew < 0 ? " s behind" : " s ahead of";
  text += " the cloud (at the last connection)";
  if (allowed.is_number() && std::abs(skew) > allowed.get<double>()) {
    text += ": MORE THAN THE ";
    text += std::to_string(allowed.get<long long>());
    text +=
        " s ALLOWED, requests are refused as expired or not yet valid; fix time "
        "synchronisation (timedatectl status; chronyc tracking)";
  }
  return text;
}

void PrintChannel(const Json& channel, WallTime now) {
  if (!channel.is_object()) {
    std::printf("channel:      unknown\n");
    return;
  }
  std::string line = EscapeForLog(Str(channel, "state"));
  if (!Str(channel, "since").empty()) line += " since " + TimeAndAge(Str(channel, "since"), now);
  if (!Str(channel, "tenant").empty()) line += ", tenant " + EscapeForLog(Str(channel, "tenant"));
  std::printf("channel:      %s\n", line.c_str());
  if (!Str(channel, "last_error").empty()) {
    std::printf("              last error: %s\n", ShowEscaped(Str(channel, "last_error")).c_str());
  }
  if (auto skew = Member(channel, "clock_skew_seconds"); skew.is_number()) {
    std::printf(
        "clock:        %s\n",
        ClockSkewText(skew.get<double>(), Member(channel, "max_clock_skew_seconds")).c_str());
  }
}

void PrintQueue(const QueueView& v) {
  if (!v.stats) {
    std::printf("queue:        cannot read: %s\n", EscapeForLog(v.error).c_str());
    return;
  }
  const queue::Stats& s = *v.stats;
  std::string first = std::to_string(s.unfinished) + " pending";
  if (s.oldest_unfinished_age) {
    first += ", the oldest received " + AgeText(*s.oldest_unfinished_age) + " ago";
  }
  std::printf("queue:        %s\n", first.c_str());
  std::string counts;
  for (std::size_t i = 0; i < queue::kStateCount; ++i) {
    counts += (i == 0 ? "" : "  ") + std::string(queue::StateName(static_cast<queue::State>(i))) +
              " " + std::to_string(s.by_state[i]);
  }
  std::printf("              %s\n", counts.c_str());
  if (s.pending_results > 0) {
    std::printf("              %lld result(s) not yet acknowledged by the cloud\n",
                static_cast<long long>(s.pending_results));
  }
  if (s.interrupted > 0) {
    std::printf("              %lld attempt(s) interrupted by a crash, to be checked\n",
                static_cast<long long>(s.interrupted));
  }
}

void PrintActivity(const Json& doc, WallTime now) {
  const std::string success = Str(doc, "last_success");
  const std::string failure = Str(doc, "last_failure");
  std::printf("last success: %s\n",
              success.empty() ? "none since the agent started" : TimeAndAge(success, now).c_str());
  if (failure.empty()) {
    std::printf("last failure: none since the agent started\n");
  } else {
    std::printf("last failure: %s: %s\n", TimeAndAge(failure, now).c_str(),
                ShowEscaped(Str(doc, "last_failure_outcome")).c_str());
  }
}

// "12m 3s ago", or "at an unknown time" (a status.json from an agent that did not write it).
std::string AgoText(const std::string& text, WallTime now) {
  auto t = audit::ParseTime(text);
  if (!t.ok()) return "at an unknown time";
  return AgeText(std::chrono::duration_cast<seconds>(now - *t)) + " ago";
}

// One server. A healthy server's last error is shown only as past, with how long ago, so that
// an old error never reads as the server's state; an unhealthy one's as current, with since
// when.
std::string ServerText(const Json& s, WallTime now) {
  const std::string error = ShowEscaped(Str(s, "last_error"));
  std::string line = "  " + EscapeForLog(Str(s, "directory")) + "  " + EscapeForLog(Str(s, "url"));
  if (Member(s, "healthy") == Json(true)) {
    line += "  healthy";
    if (!error.empty()) {
      line += " (last error " + AgoText(Str(s, "last_error_at"), now) +
              ", since recovered: " + error + ")";
    }
    return line;
  }
  line += "  UNHEALTHY";
  if (!Str(s, "failing_since").empty())
    line += " since " + TimeAndAge(Str(s, "failing_since"), now);
  if (const Json& failures = Member(s, "consecutive_failures"); failures.is_number_integer()) {
    const auto n = failures.get<long long>();
    line += " (" + std::to_string(n) + (n == 1 ? " failure" : " failures") + " in a row)";
  }
  if (!error.empty()) line += ": " + error;
  return line;
}

void PrintDirectories(const Json& servers, WallTime now) {
  if (!servers.is_array() || servers.empty()) {
    std::printf("directory servers: none reported\n");
    return;
  }
  std::printf("directory servers:\n");
  for (const Json& s : servers) std::printf("%s\n", ServerText(s, now).c_str());
}

void PrintStatus(const DaemonView& d, const QueueView& q, const BreakerView& b, WallTime now) {
  std::printf("agent:        %s\n", DaemonText(d).c_str());
  const bool have_doc = d.liveness != Liveness::kMissing && d.liveness != Liveness::kUnreadable;
  if (have_doc && d.liveness != Liveness::kRunning) {
    std::printf("              (channel, results and servers below: as last written, %s)\n",
                EscapeForLog(Str(d.doc, "updated_at")).c_str());
  }
  if (have_doc) PrintChannel(Member(d.doc, "channel"), now);
  PrintQueue(q);
  PrintBreaker(b);
  if (have_doc) {
    PrintActivity(d.doc, now);
    PrintDirectories(Member(d.doc, "directory_servers"), now);
    for (const std::string& name : UnhealthyDirectories(d)) {
      std::printf("DIRECTORY %s HAS NO HEALTHY SERVER: its requests wait (see the errors above)\n",
                  EscapeForLog(name).c_str());
    }
  }
}

}  // namespace

int StatusCommand(const StatusArgs& args) {
  const std::optional<std::filesystem::path> state_dir = FindStateDir(args.where);
  if (!state_dir) return kExitUsage;
  SystemClock clock;
  const WallTime now = clock.Now();
  const DaemonView daemon = ReadDaemon(*state_dir, now);
  const QueueView queue = ReadQueue(*state_dir, clock);
  const BreakerView breaker = ReadBreaker(*state_dir);
  if (args.json) {
    const std::string out =
        StatusJson(daemon, queue, breaker).dump(2, ' ', false, Json::error_handler_t::replace) +
        "\n";
    std::fwrite(out.data(), 1, out.size(), stdout);
  } else {
    PrintStatus(daemon, queue, breaker, now);
  }
  if (std::fflush(stdout) != 0) return kExitFailure;
  const bool healthy = Connected(daemon) && UnhealthyDirectories(daemon).empty() && breaker.file &&
                       !breaker.tripped();
  return healthy ? kExitOk : kExitFailure;
}

}  // namespace wb::agent
