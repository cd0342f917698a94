#include "tools/wbcloud/load.h"

#include <openssl/rand.h>
#include <sys/resource.h>

#include <algorithm>
#include <boost/asio/steady_timer.hpp>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <initializer_list>
#include <string_view>
#include <unordered_map>

#include "common/percentile.h"
#include "common/secret.h"
#include "protocol/protocol.h"
#include "tools/wbcloud/server_context.h"

namespace wb::cloud {
namespace {

using Json = nlohmann::json;
using SteadyClock = std::chrono::steady_clock;
using boost::system::error_code;

constexpr std::size_t kMaxRequests = 10'000'000;

// Joins pieces (GCC 12 at -O3 sees a false -Wrestrict in "literal" + std::string).
std::string Cat(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (std::string_view p : parts) out += p;
  return out;
}

double Ms(SteadyClock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// This process's user + system CPU, in ms (getrusage: microsecond resolution, where
// /proc/self/stat counts clock ticks).
double CpuMs() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  const auto ms = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) * 1000.0 + static_cast<double>(t.tv_usec) / 1000.0;
  };
  return ms(u.ru_utime) + ms(u.ru_stime);
}

std::optional<protocol::TargetKind> TargetKindOf(const std::string& kind) {
  if (kind == "upn") return protocol::TargetKind::kUserPrincipalName;
  if (kind == "sam") return protocol::TargetKind::kSamAccountName;
  if (kind == "uid") return protocol::TargetKind::kUid;
  if (kind == "mail") return protocol::TargetKind::kMail;
  if (kind == "dn") return protocol::TargetKind::kDn;
  return std::nullopt;
}

// 24 random characters with every class of character (AD complexity, slapd's length).
Result<Secret> RandomPassword() {
  static constexpr std::string_view kClasses[] = {
      "ABCDEFGHJKLMNPQRSTUVWXYZ", "abcdefghijkmnopqrstuvwxyz", "23456789", "-_.+=!@%"};
  constexpr std::size_t kLength = 24;
  unsigned char random[kLength];
  if (RAND_bytes(random, sizeof random) != 1) return Internal("RAND_bytes failed");
  std::string text(kLength, ' ');
  for (std::size_t i = 0; i < kLength; ++i) {
    // The first four positions take one class each; the rest any class.
    const std::string_view cls = kClasses[i < 4 ? i : random[i] % 4];
    text[i] = cls[static_cast<std::size_t>(random[i] >> 2) % cls.size()];
  }
  Secret out(text);
  WipeBytes(text.data(), text.size());
  WipeBytes(random, sizeof random);
  return out;
}

// "wss://HOST:PORT/agent" -> HOST, PORT.
Result<config::HostPort> ListenOfAgentUrl(const std::filesystem::path& file) {
  auto text = ReadTextFile(file);
  if (!text.ok()) {
    return InvalidArgument(
        Cat({"cannot read ", file.string(), " (run `wbcloud serve` once, or give --listen)"}));
  }
  std::string url = *text;
  while (!url.empty() && (url.back() == '\n' || url.back() == '\r')) url.pop_back();
  constexpr std::string_view kScheme = "wss://";
  const auto bad = [&] { return InvalidArgument(file.string() + ": not a wss://HOST:PORT URL"); };
  if (url.rfind(kScheme, 0) != 0) return bad();
  std::string authority = url.substr(kScheme.size());
  authority = authority.substr(0, authority.find('/'));
  const auto colon = authority.rfind(':');
  if (colon == std::string::npos) return bad();
  std::string host = authority.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  int port = 0;
  try {
    port = std::stoi(authority.substr(colon + 1));
  } catch (const std::exception&) {
    return bad();
  }
  if (port <= 0 || port > 65535) return bad();
  return config::HostPort{host, static_cast<std::uint16_t>(port)};
}

Json SummaryJson(const LatencySummary& s) {
  return Json{{"count", s.count},
              {"p50", s.p50_ms},
              {"p90", s.p90_ms},
              {"p99", s.p99_ms},
              {"max", s.max_ms}};
}

// The run, on the endpoint's I/O thread: sealed frames out, results in.
class LoadRole final : public CloudRole, public AgentEvents {
 public:
  LoadRole(LoadOptions options, std::vector<std::string> users)
      : options_(std::move(options)), users_(std::move(users)) {}

  bool dispatches() const override { return false; }
  AgentEvents& Events(Dispatcher&) override { return *this; }

  Status Start(ServerContext& ctx) override {
    ctx_ = &ctx;
    WB_RETURN_IF_ERROR(PickAgent(ctx.state));
    const auto t0 = SteadyClock::now();
    WB_RETURN_IF_ERROR(SealAll(ctx.state));
    report_.seal_seconds = std::chrono::duration<double>(SteadyClock::now() - t0).count();
    timer_.emplace(ctx.ioc);
    connect_deadline_ = SteadyClock::now() + options_.connect_timeout;
    Arm();
    ctx.log.info("load: {} request(s) sealed for agent {} in {:.2f} s; waiting for it at {}",
                 frames_.size(), agent_id_, report_.seal_seconds, ctx.agent_url);
    return Status();
  }

  void Stop() override {
    if (!finished_) Finish("interrupted");
  }

  int ExitCode() const override { return exit_code_; }
  void Detach() override { timer_.reset(); }

  void AgentConnected(AgentLink& link, int credits) override {
    if (link.agent_id() != agent_id_ || finished_) return;
    if (link_ != nullptr || started_) {
      // A second connection mid-run: what the first held is lost to this run.
      ctx_->log.warn("load: agent {} connected again during the run", agent_id_);
    }
    link_ = &link;
    credits_ = credits;
    if (!started_) Begin();
    Pump();
  }

  void AgentDisconnected(AgentLink& link) override {
    if (&link != link_) return;
    link_ = nullptr;
    if (finished_) {
      ctx_->ioc.stop();
      return;
    }
    if (started_) Finish("disconnected");
  }

  void OnCredits(AgentLink& link, int credits) override {
    if (&link != link_) return;
    credits_ = credits;
    Pump();
  }

  void OnAccepted(AgentLink&, const std::string&) override {}

  void OnRejected(AgentLink& link, const protocol::Rejected& m) override {
    std::string outcome = "rejected:";
    outcome += protocol::RejectCodeName(m.code);
    Answered(link, m.id, outcome, /*ack=*/false);
  }

  void OnResult(AgentLink& link, const protocol::ResultMessage& m) override {
    Answered(link, m.id, m.outcome, /*ack=*/true);
  }

  void OnPolicySummary(AgentLink&, const protocol::PolicySummary&) override {}

 private:
  struct InFlight {
    SteadyClock::time_point base;  // the due time (open loop) or the send (closed loop)
    SteadyClock::time_point sent;
  };

  Status PickAgent(const CloudState& state) {
    if (!options_.agent.empty()) {
      if (state.agents().count(options_.agent) == 0) {
        return NotFound(Cat({"agent ", options_.agent, " is not enrolled with this cloud"}));
      }
      agent_id_ = options_.agent;
      return Status();
    }
    if (state.agents().size() != 1) {
      return FailedPrecondition(std::to_string(state.agents().size()) +
                                " agents are enrolled: name one with --agent");
    }
    agent_id_ = state.agents().begin()->first;
    return Status();
  }

  Status SealAll(const CloudState& state) {
    const AgentRecord& agent = state.agents().at(agent_id_);
    const std::size_t n = RequestCount(options_);
    const protocol::TargetKind kind = *TargetKindOf(options_.kind);
    // Sealed up front, so a request's cost in the run is its sending and its result.
    const WallTime now = std::chrono::time_point_cast<std::chrono::seconds>(SystemClock().Now());
    frames_.reserve(n);
    ids_.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
      protocol::RequestClaims claims;
      claims.id = protocol::NewRequestId();
      claims.tenant = state.tenant();
      claims.audience = agent.id;
      claims.issued_at = now;
      claims.expires_at = now + protocol::kMaxRequestLifetime;
      claims.nonce = protocol::NewNonce();
      claims.operations = {protocol::Operation::kReset};
      claims.target = protocol::Target{.kind = kind, .value = users_[i % users_.size()]};
      claims.requester = protocol::Requester{
          .type = protocol::RequesterType::kAdmin, .id = "wbcloud-load", .verified_by = {"load"}};
      claims.correlation_id = Cat({"load-", std::to_string(i)});
      protocol::Passwords passwords;
      auto password = RandomPassword();
      if (!password.ok()) return password.error();
      passwords.new_password = std::move(*password);
      auto envelope = protocol::SealRequest(claims, &passwords, state.signing_key(),
                                            state.signing_kid(), agent.encryption_key);
      if (!envelope.ok()) return envelope.error();
      index_of_[claims.id] = i;
      ids_.push_back(claims.id);
      frames_.push_back(protocol::Serialize(protocol::Request{std::move(*envelope), 1}));
    }
    report_.requests = n;
    report_.users = users_.size();
    report_.mode = options_.rate > 0 ? "open" : "closed";
    report_.offered_per_second = options_.rate;
    return Status();
  }

  void Begin() {
    started_ = true;
    start_ = SteadyClock::now();
    cpu_start_ = CpuMs();
    report_.latencies_ms.reserve(frames_.size());
  }

  int Limit() const {
    const int credits = std::max(credits_, 0);
    return options_.concurrency > 0 ? std::min(credits, options_.concurrency) : credits;
  }

  SteadyClock::time_point Due(std::size_t i) const {
    return start_ +
           std::chrono::duration_cast<SteadyClock::duration>(ScheduledOffset(i, options_.rate));
  }

  // Sends what is due while there is credit; then waits for a result or the next due time.
  void Pump() {
    if (finished_ || link_ == nullptr) return;
    report_.credits = std::max(report_.credits, credits_);
    report_.concurrency = std::max(report_.concurrency, Limit());
    const bool open = options_.rate > 0;
    while (next_ < frames_.size() && in_flight_.size() < static_cast<std::size_t>(Limit())) {
      const auto now = SteadyClock::now();
      if (open && Due(next_) > now) break;
      if (!link_->Send(frames_[next_])) break;
      std::string().swap(frames_[next_]);  // sent once; the memory is not needed again
      const auto base = open ? Due(next_) : now;
      if (open) report_.send_lag_ms.push_back(Ms(now - base));
      in_flight_.emplace(next_, InFlight{base, now});
      ++next_;
    }
    if (next_ == frames_.size() && in_flight_.empty()) {
      Finish("");
      return;
    }
    Arm();
  }

  // One timer: the next due time (open loop, with credit), the oldest request's result
  // deadline, or before the start the connect deadline.
  void Arm() {
    std::optional<SteadyClock::time_point> at;
    if (!started_) {
      at = connect_deadline_;
    } else {
      if (options_.rate > 0 && next_ < frames_.size() &&
          in_flight_.size() < static_cast<std::size_t>(Limit())) {
        at = Due(next_);
      }
      // Sends go out in index order, so the lowest index in flight was sent first.
      if (!in_flight_.empty()) {
        const auto deadline = in_flight_.begin()->second.sent + options_.result_timeout;
        at = at ? std::min(*at, deadline) : deadline;
      }
    }
    if (!at) return;
    timer_->expires_at(*at);
    timer_->async_wait([this](const error_code& ec) {
      if (!ec) OnTimer();
    });
  }

  void OnTimer() {
    if (finished_) return;
    if (!started_) {
      Finish("no_connection");
      return;
    }
    const auto now = SteadyClock::now();
    if (!in_flight_.empty() && in_flight_.begin()->second.sent + options_.result_timeout <= now) {
      Finish("no_result");
      return;
    }
    Pump();
  }

  void Answered(AgentLink& link, const std::string& id, const std::string& outcome, bool ack) {
    // A result from before this run (the agent re-sends unacknowledged ones) is acknowledged
    // so that the agent lets it go, and not counted.
    if (ack) link.Send(protocol::Serialize(protocol::ResultAck{id}));
    auto known = index_of_.find(id);
    if (known == index_of_.end() || finished_) return;
    auto it = in_flight_.find(known->second);
    if (it == in_flight_.end()) return;  // a second answer for one request
    const auto now = SteadyClock::now();
    report_.latencies_ms.push_back(Ms(now - it->second.base));
    ++report_.outcomes[outcome];
    in_flight_.erase(it);
    last_answer_ = now;
    Pump();
  }

  // Ends the run: whatever did not come back is counted under `why`.
  void Finish(const std::string& why) {
    finished_ = true;
    if (timer_) timer_->cancel();
    if (started_) {
      report_.cpu_ms = CpuMs() - cpu_start_;
      const auto end = last_answer_.value_or(SteadyClock::now());
      report_.seconds = std::chrono::duration<double>(end - start_).count();
    }
    if (!why.empty()) {
      const std::size_t lost = in_flight_.size() + (frames_.size() - next_);
      if (lost > 0) report_.outcomes[why] += lost;
    }
    const std::string text = options_.json ? report_.ToJson().dump() + "\n" : report_.Text();
    std::fputs(text.c_str(), stdout);
    std::fflush(stdout);
    exit_code_ = report_.AllSucceeded() ? 0 : 1;
    // Close the session (after the acknowledgements already queued); the I/O context stops
    // when it has gone, or after 5 s.
    ctx_->stopping = true;
    if (auto s = ctx_->sessions.find(agent_id_); s != ctx_->sessions.end() && link_ != nullptr) {
      s->second->Kick("the load run is over");
      timer_->expires_after(std::chrono::seconds(5));
      timer_->async_wait([this](const error_code& ec) {
        if (!ec) ctx_->ioc.stop();
      });
      return;
    }
    ctx_->ioc.stop();
  }

  LoadOptions options_;
  std::vector<std::string> users_;
  ServerContext* ctx_ = nullptr;
  std::string agent_id_;
  std::vector<std::string> frames_;  // the sealed `request` frames, in sending order
  std::vector<std::string> ids_;
  std::unordered_map<std::string, std::size_t> index_of_;
  std::map<std::size_t, InFlight> in_flight_;
  std::optional<boost::asio::steady_timer> timer_;
  SteadyClock::time_point connect_deadline_;
  SteadyClock::time_point start_;
  std::optional<SteadyClock::time_point> last_answer_;
  AgentLink* link_ = nullptr;
  int credits_ = 0;
  std::size_t next_ = 0;
  double cpu_start_ = 0;
  bool started_ = false;
  bool finished_ = false;
  int exit_code_ = 1;
  LoadReport report_;
};

}  // namespace

Status CheckLoadOptions(const LoadOptions& o) {
  if (o.users_file.empty() == o.user_pattern.empty()) {
    return InvalidArgument("give the users with either --users-file FILE or --user-pattern P");
  }
  if (!o.user_pattern.empty()) {
    const auto at = o.user_pattern.find("%d");
    if (at == std::string::npos || o.user_pattern.find('%', at + 2) != std::string::npos ||
        o.user_pattern.find('%') != at) {
      return InvalidArgument("--user-pattern needs exactly one %d and no other %");
    }
    if (o.user_count < 1) return InvalidArgument("--user-pattern needs --user-count N (N >= 1)");
  } else if (o.user_count != 0) {
    return InvalidArgument("--user-count goes with --user-pattern, not --users-file");
  }
  if (!TargetKindOf(o.kind)) return InvalidArgument("--kind must be upn, sam, uid, mail or dn");
  if (!(o.rate >= 0) || !std::isfinite(o.rate)) {
    return InvalidArgument("--rate must be a positive number of requests per second");
  }
  if (o.requests < 0) return InvalidArgument("--requests must be at least 1");
  if (!(o.duration_seconds >= 0) || !std::isfinite(o.duration_seconds)) {
    return InvalidArgument("--duration must be a positive number of seconds");
  }
  if (o.concurrency < 0) return InvalidArgument("--concurrency must be at least 1");
  if (o.rate == 0) {
    if (o.duration_seconds > 0) {
      return InvalidArgument("--duration needs --rate (the closed loop takes --requests)");
    }
    if (o.requests < 1) return InvalidArgument("the closed loop needs --requests N (N >= 1)");
  } else if ((o.requests > 0) == (o.duration_seconds > 0)) {
    return InvalidArgument("the open loop (--rate) needs either --requests or --duration");
  }
  const double n = o.requests > 0 ? o.requests : std::floor(o.rate * o.duration_seconds);
  if (n < 1) return InvalidArgument("--rate x --duration is less than one request");
  if (n > static_cast<double>(kMaxRequests)) {
    return InvalidArgument("at most 10000000 requests in one run");
  }
  return Status();
}

std::size_t RequestCount(const LoadOptions& o) {
  if (o.requests > 0) return static_cast<std::size_t>(o.requests);
  return static_cast<std::size_t>(std::floor(o.rate * o.duration_seconds));
}

Result<std::vector<std::string>> LoadUsers(const LoadOptions& o) {
  std::vector<std::string> users;
  if (!o.user_pattern.empty()) {
    const auto at = o.user_pattern.find("%d");
    for (int i = 0; i < o.user_count; ++i) {
      std::string user = o.user_pattern.substr(0, at);
      user += std::to_string(i);
      user += o.user_pattern.substr(at + 2);
      users.push_back(std::move(user));
    }
    return users;
  }
  std::ifstream in(o.users_file);
  if (!in) return InvalidArgument(Cat({"cannot read --users-file ", o.users_file.string()}));
  for (std::string line; std::getline(in, line);) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (line.empty() || line.front() == '#') continue;
    users.push_back(line);
  }
  if (users.empty())
    return InvalidArgument(Cat({"--users-file ", o.users_file.string(), " names no user"}));
  return users;
}

std::chrono::nanoseconds ScheduledOffset(std::size_t i, double rate) {
  // i * 1e9 / rate in floating point: exact enough (the error is far below a nanosecond
  // per request up to 10 M requests) and never drifts, since each is computed from i.
  return std::chrono::nanoseconds(
      static_cast<std::int64_t>(std::llround(static_cast<double>(i) * 1e9 / rate)));
}

LatencySummary Summarize(std::vector<double> samples_ms) {
  LatencySummary s;
  s.count = samples_ms.size();
  if (samples_ms.empty()) return s;
  std::sort(samples_ms.begin(), samples_ms.end());
  s.p50_ms = NearestRank(samples_ms, 0.50);
  s.p90_ms = NearestRank(samples_ms, 0.90);
  s.p99_ms = NearestRank(samples_ms, 0.99);
  s.max_ms = samples_ms.back();
  return s;
}

bool LoadReport::AllSucceeded() const {
  std::size_t succeeded = 0;
  for (const auto& [outcome, count] : outcomes) {
    if (outcome != "succeeded" && count > 0) return false;
    if (outcome == "succeeded") succeeded = count;
  }
  return succeeded == requests;
}

Json LoadReport::ToJson() const {
  const std::size_t answered = latencies_ms.size();
  const double per_second = seconds > 0 ? static_cast<double>(answered) / seconds : 0;
  nlohmann::json j = {
      {"mode", mode},
      {"requests", requests},
      {"users", users},
      {"credits", credits},
      {"concurrency", concurrency},
      {"seconds", seconds},
      {"answered", answered},
      {"per_second", per_second},
      {"latency_ms", SummaryJson(Summarize(latencies_ms))},
      {"outcomes", outcomes},
      {"cpu_ms", cpu_ms},
      {"cpu_ms_per_request", answered > 0 ? cpu_ms / static_cast<double>(answered) : 0},
      {"seal_seconds", seal_seconds},
  };
  if (mode == "open") {
    j["offered_per_second"] = offered_per_second;
    j["send_lag_ms"] = SummaryJson(Summarize(send_lag_ms));
    j["final_send_lag_ms"] = send_lag_ms.empty() ? 0.0 : send_lag_ms.back();
    // Kept up: the agent answered at (nearly) the offered rate, so no backlog built up.
    j["keeps_up"] = per_second >= 0.95 * offered_per_second;
  }
  return j;
}

std::string LoadReport::Text() const {
  const nlohmann::json j = ToJson();
  const auto& l = j["latency_ms"];
  std::string out;
  char line[512];
  if (mode == "open") {
    std::snprintf(line, sizeof line, "open loop at %.0f/s offered: ", offered_per_second);
  } else {
    std::snprintf(line, sizeof line, "closed loop: ");
  }
  out += line;
  std::snprintf(line, sizeof line,
                "%zu requests over %zu users, %d in flight at most (credits %d), %.2f s: %.1f/s\n",
                requests, users, concurrency, credits, seconds, j["per_second"].get<double>());
  out += line;
  std::snprintf(line, sizeof line, "latency ms%s: p50 %.2f  p90 %.2f  p99 %.2f  max %.2f\n",
                mode == "open" ? " (from the scheduled send)" : "", l["p50"].get<double>(),
                l["p90"].get<double>(), l["p99"].get<double>(), l["max"].get<double>());
  out += line;
  if (mode == "open") {
    const auto& lag = j["send_lag_ms"];
    std::snprintf(line, sizeof line, "send lag ms: p99 %.2f  max %.2f  last %.2f; %s\n",
                  lag["p99"].get<double>(), lag["max"].get<double>(),
                  j["final_send_lag_ms"].get<double>(),
                  j["keeps_up"].get<bool>() ? "keeps up" : "falls behind (a backlog grows)");
    out += line;
  }
  out += "outcomes:";
  for (const auto& [outcome, count] : outcomes) {
    out += " ";
    out += outcome;
    out += "=";
    out += std::to_string(count);
  }
  std::snprintf(line, sizeof line, "\nCPU of this process: %.1f ms, %.4f ms per request\n", cpu_ms,
                j["cpu_ms_per_request"].get<double>());
  out += line;
  return out;
}

int RunLoad(const LoadOptions& options) {
  auto log = MakeCloudLog(options.log_level);
  auto users = LoadUsers(options);
  if (!users.ok()) {
    std::fprintf(stderr, "wbcloud load: %s\n", users.error().message().c_str());
    return 2;
  }
  ServeOptions serve;
  serve.state_dir = options.state_dir;
  serve.log_level = options.log_level;
  if (options.listen) {
    serve.listen = *options.listen;
  } else {
    auto listen = ListenOfAgentUrl(StatePaths(options.state_dir).agent_url());
    if (!listen.ok()) {
      std::fprintf(stderr, "wbcloud load: %s\n", listen.error().message().c_str());
      return 2;
    }
    serve.listen = *listen;
  }
  LoadRole role(options, std::move(*users));
  return RunCloud(serve, *log, role);
}

}  // namespace wb::cloud
