#include "channel/channel.h"

#include <pthread.h>
#include <spdlog/logger.h>
#include <spdlog/sinks/null_sink.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <random>
#include <thread>

#include "channel/identity.h"
#include "channel/internal/in_flight.h"
#include "channel/internal/session.h"
#include "channel/retry_log.h"
#include "common/log_escape.h"
#include "common/time_sync.h"
#include "common/version.h"

namespace wb::channel {

namespace asio = boost::asio;
using boost::system::error_code;

namespace {

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

using internal::Frame;
using internal::Verdict;

std::string ErrorFrame(std::string_view code, std::string message) {
  return protocol::Serialize(
      protocol::ErrorMessage{.code = std::string(code), .message = std::move(message)});
}

// Ends the connection with `error` `code` as the last word (docs/protocol.md section 4).
Verdict CloseWithError(std::uint16_t close_code, std::string_view code, const std::string& text) {
  return Verdict::Close(close_code, ErrorFrame(code, text),
                        Unavailable("closed the connection: the cloud sent " + text + " (" +
                                    std::string(code) + ")"));
}

// A frame that is not a valid protocol message, whatever was expected: section 2's table, in
// its order, and the `error` table of section 4. A `request` that fails to parse is the
// exception, answered with `rejected` by the caller.
Verdict RefuseInvalid(const Frame& frame, const Status& parse_error) {
  if (frame.binary) {
    return CloseWithError(internal::kCloseUnsupportedData, "bad_message",
                          "a binary frame (version 1 uses text frames only)");
  }
  // ParseMessage looks at `v` before `type`; the table puts "not one object with a type" first.
  if (protocol::MessageTypeOf(frame.payload).empty()) {
    return CloseWithError(internal::kClosePolicy, "bad_message",
                          "not one JSON object with a \"type\": " + parse_error.message());
  }
  if (parse_error.code() == Code::kFailedPrecondition) {
    return CloseWithError(internal::kCloseProtocolError, "unsupported_version",
                          "a message of another version: " + parse_error.message());
  }
  return CloseWithError(internal::kClosePolicy, "bad_message",
                        "an invalid message: " + parse_error.message());
}

}  // namespace

std::string_view ChannelStateName(ChannelState state) {
  switch (state) {
    case ChannelState::kStopped:
      return "stopped";
    case ChannelState::kConnecting:
      return "connecting";
    case ChannelState::kConnected:
      return "connected";
    case ChannelState::kDisconnected:
      return "disconnected";
  }
  return "stopped";
}

Options OptionsFromConfig(const config::Config& config) {
  Options o;
  o.agent_id = config.agent.id;
  o.agent_version = kVersion;
  o.server = config.cloud.server;
  o.path = config.cloud.path;
  o.ca_file = config.cloud.ca_file;
  o.proxy = config.cloud.proxy;
  o.min_tls = config.cloud.min_tls;
  o.spki_pin = config.cloud.spki_pin;
  o.state_dir = config.agent.state_dir;
  o.connect_timeout = config.cloud.connect_timeout;
  o.heartbeat_interval = config.cloud.heartbeat_interval;
  return o;
}

class Channel::Impl final : public internal::SessionOwner {
 public:
  Impl(Options options, Environment env)
      : options_(std::move(options)),
        clock_(env.clock != nullptr ? *env.clock : system_clock_),
        log_(env.log ? env.log
                     : std::make_shared<spdlog::logger>(
                           "channel", std::make_shared<spdlog::sinks::null_sink_mt>())),
        paths_(options_.state_dir),
        alive_(std::move(env.alive)),
        alive_interval_(env.alive_interval),
        backoff_(options_.backoff, env.random ? env.random : DefaultRandom()),
        retry_log_(*log_, clock_),
        retry_timer_(ioc_),
        renew_timer_(ioc_),
        close_deadline_(ioc_),
        alive_timer_(ioc_) {}

  ~Impl() override { Stop(); }

  Status Start(Handler& handler) {
    if (options_.agent_id.empty()) return InvalidArgument("channel: agent id is empty");
    if (options_.state_dir.empty()) return InvalidArgument("channel: state_dir is empty");
    if (options_.ca_file.empty()) return InvalidArgument("channel: cloud.ca_file is empty");
    if (thread_.joinable()) return FailedPrecondition("channel: already started");
    handler_ = &handler;
    ioc_.restart();
    stopping_ = false;
    SetState(ChannelState::kConnecting, Status::Ok(), std::nullopt);
    asio::co_spawn(ioc_, ReconnectLoop(), [this](std::exception_ptr e) {
      if (e) {
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          log_->error("cloud channel: stopped by an internal error: {}", ex.what());
        }
      }
      SetState(ChannelState::kStopped, Status::Ok(), std::nullopt);
    });
    if (alive_) asio::co_spawn(ioc_, AliveLoop(), asio::detached);
    thread_ = std::thread([this] {
      pthread_setname_np(pthread_self(), "wb-channel");  // as `top -H` shows it
      ioc_.run();
    });
    return Status::Ok();
  }

  void Stop() {
    if (!thread_.joinable()) return;
    asio::post(ioc_, [this] { BeginStop(); });
    thread_.join();
  }

  Status Send(const protocol::Message& message) {
    return Enqueue(protocol::Serialize(message), &message);
  }

  StateInfo GetState() const {
    std::lock_guard lock(mu_);
    StateInfo copy = state_;
    copy.queued = outgoing_.size();
    copy.max_clock_skew = options_.max_clock_skew;
    return copy;
  }

  bool WaitForState(ChannelState state, std::chrono::milliseconds timeout) const {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return state_.state == state; });
  }

  bool WaitForAttempts(int count, std::chrono::milliseconds timeout) const {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return attempts_ended_ >= count; });
  }

  // ---- SessionOwner (I/O thread) ----

  std::string MakeHello() override {
    HelloState hs = handler_->OnConnecting();
    hello_credits_ = hs.credits;
    protocol::Hello hello{.agent_id = options_.agent_id,
                          .version = options_.agent_version,
                          .credits = hs.credits,
                          .unacked_results = std::move(hs.unacked_results)};
    return protocol::Serialize(hello);
  }

  // The first frame after hello (docs/protocol.md section 3): welcome, or the connection ends.
  Verdict OnWelcome(const Frame& frame) override {
    {
      std::lock_guard lock(mu_);
      invalid_envelopes_.clear();
      checks_failed_in_session_ = false;
    }
    auto parsed = frame.binary ? Result<protocol::Message>(InvalidArgument("binary frame"))
                               : protocol::ParseMessage(frame.payload);
    if (!parsed.ok()) {
      Verdict v = RefuseInvalid(frame, parsed.error());
      v.why = Unavailable("the cloud answered hello with an invalid message: " +
                          parsed.error().message());
      return v;
    }
    if (auto* error = std::get_if<protocol::ErrorMessage>(&*parsed)) {
      return Verdict::Close(
          internal::kCloseNormal, "",
          PermissionDenied("the cloud refused hello: " + EscapeForLog(error->code, 64) + ": " +
                           EscapeForLog(error->message, 300)));
    }
    auto* welcome = std::get_if<protocol::Welcome>(&*parsed);
    if (welcome == nullptr) {
      const std::string type = EscapeForLog(protocol::MessageTypeOf(frame.payload), 64);
      return Verdict::Close(
          internal::kClosePolicy,
          ErrorFrame("protocol_violation", "\"" + type + "\" before welcome"),
          Unavailable("the cloud answered hello with \"" + type + "\" instead of welcome"));
    }
    if (welcome->tenant != enrollment_.tenant) {
      // No `error`: version 1 has no code for it, and the cloud is not the one to fix it.
      return Verdict::Close(
          internal::kClosePolicy, "",
          FailedPrecondition("the cloud serves tenant \"" + EscapeForLog(welcome->tenant) +
                             "\" but this agent is enrolled with tenant \"" +
                             EscapeForLog(enrollment_.tenant) +
                             "\" (does cloud.url point to another tenant's endpoint?)"));
    }
    if (Status checked = handler_->CheckWelcome(*welcome); !checked.ok()) {
      return Verdict::Close(internal::kClosePolicy,
                            ErrorFrame("witness_mismatch", checked.message()), checked);
    }
    CheckClockSkew(welcome->server_time);
    {
      std::lock_guard lock(mu_);
      accepting_ = true;
      outgoing_.clear();
      in_flight_.Reset(hello_credits_);
      state_.tenant = welcome->tenant;
      state_.connected_since = clock_.Now();
    }
    connected_at_ = std::chrono::steady_clock::now();
    retry_log_.Success("wss://" + internal::HostPortText(options_.server) + options_.path);
    handler_->OnConnected(*welcome);
    SetState(ChannelState::kConnected, Status::Ok(), std::nullopt);
    ScheduleRenewalCheck();
    return Verdict::Continue();
  }

  Verdict OnFrame(const Frame& frame) override {
    Verdict verdict = Judge(frame);
    if (verdict.close_code) {
      refused_ = true;
      return verdict;
    }
    // When the envelopes still unanswered could take the count of invalid ones past its limit,
    // count the answers to every frame handed over so far, so that a flood is cut off at
    // exactly its limit. A correct cloud never gets here.
    if (FloodCouldBeReached()) handler_->Settle();
    verdict = CheckEnvelopeFlood();
    if (verdict.close_code) refused_ = true;
    return verdict;
  }

  Verdict Judge(const Frame& frame) {
    auto parsed = frame.binary ? Result<protocol::Message>(InvalidArgument("binary frame"))
                               : protocol::ParseMessage(frame.payload);
    if (!parsed.ok()) return RefuseFrame(frame, parsed.error());
    return std::visit(Overloaded{
                          [this](protocol::Request m) { return OnRequest(std::move(m)); },
                          [this](protocol::ResultAck m) {
                            handler_->OnMessage(std::move(m));
                            return Verdict::Continue();
                          },
                          [this](protocol::ErrorMessage m) { return OnCloudError(std::move(m)); },
                          [this](const protocol::KeySet& m) { return OnKeySet(m); },
                          [this](const protocol::Certificate& m) { return OnCertificate(m); },
                          [](const protocol::Welcome&) {
                            return CloseWithError(internal::kClosePolicy, "protocol_violation",
                                                  "a second welcome");
                          },
                          [frame](const auto&) {
                            return CloseWithError(internal::kClosePolicy, "bad_message",
                                                  "a \"" + protocol::MessageTypeOf(frame.payload) +
                                                      "\" message, which only the agent sends");
                          },
                      },
                      std::move(*parsed));
  }

  std::optional<std::string> PopOutgoing() override {
    std::lock_guard lock(mu_);
    if (outgoing_.empty()) return std::nullopt;
    std::string front = std::move(outgoing_.front());
    outgoing_.pop_front();
    return front;
  }

 private:
  static std::function<double()> DefaultRandom() {
    auto engine = std::make_shared<std::mt19937_64>(std::random_device{}());
    return [engine] { return std::uniform_real_distribution<double>(0.0, 1.0)(*engine); };
  }

  // Thread-safe. The frame is refused (not queued) when not connected or when full. `message`,
  // when given, is what `frame` serializes: it may end a request in flight.
  Status Enqueue(std::string frame, const protocol::Message* message = nullptr) {
    {
      std::lock_guard lock(mu_);
      if (!accepting_) {
        return Unavailable("not connected to the cloud (channel " +
                           std::string(ChannelStateName(state_.state)) + ")");
      }
      if (outgoing_.size() >= options_.max_outgoing) {
        return Status(Code::kResourceExhausted, "the outgoing queue to the cloud is full (" +
                                                    std::to_string(options_.max_outgoing) +
                                                    " messages)");
      }
      outgoing_.push_back(std::move(frame));
      if (message != nullptr) {
        in_flight_.Sent(*message);
        CountInvalidEnvelope(*message);
      }
    }
    asio::post(ioc_, [this] {
      if (session_) session_->WakeWriter();
    });
    return Status::Ok();
  }

  // A message the channel itself answers with; dropped (and logged) when it cannot be queued.
  void Reply(std::string frame) {
    Status s = Enqueue(std::move(frame));
    if (!s.ok()) log_->warn("cloud channel: could not answer the cloud: {}", s.ToString());
  }

  // `attempt_ended` counts an ended attempt in the same step, so that a waiter never sees the
  // count without the error that goes with it.
  void SetState(ChannelState state, Status error, std::optional<WallTime> next,
                bool attempt_ended = false) {
    {
      std::lock_guard lock(mu_);
      if (attempt_ended) ++attempts_ended_;
      if (state_.state != state) state_.since = clock_.Now();
      state_.state = state;
      if (!error.ok()) state_.last_error = std::move(error);
      state_.next_attempt = next;
      state_.failed_attempts = backoff_.failures();
      if (state != ChannelState::kConnected) state_.connected_since.reset();
    }
    cv_.notify_all();
    handler_->OnStateChanged();
  }

  void CheckClockSkew(WallTime server_time) {
    const auto skew = clock_.Now() - server_time;
    const auto abs_skew = skew < WallTime::duration::zero() ? -skew : skew;
    {
      std::lock_guard lock(mu_);
      state_.clock_skew = std::chrono::duration_cast<std::chrono::milliseconds>(skew);
    }
    if (abs_skew > options_.max_clock_skew) {
      log_->warn(
          "cloud channel: this host's clock is {} {} the cloud's (more than the allowed {} s): "
          "requests will be refused as {}; {}",
          SecondsText(skew), skew > WallTime::duration::zero() ? "ahead of" : "behind",
          options_.max_clock_skew.count(),
          skew > WallTime::duration::zero() ? "expired" : "not yet valid", kTimeSyncHint);
    }
  }

  // A frame that is not a valid message. Only a `request` keeps the connection: it is answered
  // with `rejected` (audited by the handler) like an envelope that fails its checks.
  Verdict RefuseFrame(const Frame& frame, const Status& error) {
    const std::string type = frame.binary ? "" : protocol::MessageTypeOf(frame.payload);
    log_->warn("cloud channel: refused a {}frame from the cloud (type \"{}\", {} bytes): {}",
               frame.binary ? "binary " : "", EscapeForLog(type, 64), frame.payload.size(),
               error.message());
    if (type != "request" || error.code() == Code::kFailedPrecondition) {
      return RefuseInvalid(frame, error);
    }
    RejectBeforeHandler(
        {.code = protocol::RejectCodeForParseError(error), .reason = error.message()});
    return Verdict::Continue();
  }

  // Rejections a cloud that follows docs/protocol.md never causes: the envelope is not one it
  // would sign and send. Expiry and clock checks and the transient codes are left out: a
  // correct cloud meets them after an outage or with a skewed clock.
  static bool NeverFromACorrectCloud(protocol::RejectCode code) {
    switch (code) {
      case protocol::RejectCode::kExpired:
      case protocol::RejectCode::kNotYetValid:
      case protocol::RejectCode::kQueueFull:
      case protocol::RejectCode::kUnavailable:
        return false;
      case protocol::RejectCode::kBadSignature:
      case protocol::RejectCode::kUnknownKid:
      case protocol::RejectCode::kBadAlgorithm:
      case protocol::RejectCode::kReplayed:
      case protocol::RejectCode::kTooLarge:
      case protocol::RejectCode::kMalformed:
      case protocol::RejectCode::kWrongTenant:
      case protocol::RejectCode::kWrongAudience:
      case protocol::RejectCode::kDecryptFailed:
        return true;
    }
    return true;
  }

  // REQUIRES: mu_ held (Enqueue).
  void CountInvalidEnvelope(const protocol::Message& message) {
    if (const auto* rejected = std::get_if<protocol::Rejected>(&message)) {
      CountInvalidEnvelope(*rejected);
    }
  }
  void CountInvalidEnvelope(const protocol::Rejected& rejected) {
    if (NeverFromACorrectCloud(rejected.code)) CountFailedCheck();
  }
  // REQUIRES: mu_ held. Something a correct cloud never sends, or sends only a few times per
  // connection (an envelope or a key set that failed its checks, an `error`): it counts
  // towards the flood limit, and unless `spoils_session` is false the connection's end does
  // not reset the backoff.
  void CountFailedCheck(bool spoils_session = true) {
    const auto now = clock_.Monotonic();
    if (spoils_session) checks_failed_in_session_ = true;
    invalid_envelopes_.push_back(now);
    ForgetOldInvalidEnvelopes(now);
  }

  // REQUIRES: mu_ held.
  void ForgetOldInvalidEnvelopes(std::chrono::steady_clock::time_point now) {
    while (!invalid_envelopes_.empty() &&
           now - invalid_envelopes_.front() > options_.invalid_envelope_window) {
      invalid_envelopes_.pop_front();
    }
  }

  // Whether the envelopes that failed their checks within the window, with every envelope
  // not answered yet, exceed the flood limit.
  bool FloodCouldBeReached() {
    std::lock_guard lock(mu_);
    ForgetOldInvalidEnvelopes(clock_.Monotonic());
    if (invalid_envelopes_.empty()) return false;
    return invalid_envelopes_.size() + in_flight_.count() > options_.max_invalid_envelopes;
  }

  // Section 6: a flood of envelopes that fail their checks (forged, replayed, garbage) ends the
  // connection before it costs more signature checks and audit records; reconnecting backs off.
  Verdict CheckEnvelopeFlood() {
    std::size_t recent = 0;
    {
      std::lock_guard lock(mu_);
      recent = invalid_envelopes_.size();
    }
    if (recent <= options_.max_invalid_envelopes) return Verdict::Continue();
    log_->error(
        "cloud channel: {} envelopes or key sets failed their checks, or errors came, within {} "
        "s (the limit is {}): closing the connection; is something on the path forging "
        "requests?",
        recent,
        std::chrono::duration_cast<std::chrono::seconds>(options_.invalid_envelope_window).count(),
        options_.max_invalid_envelopes);
    return Verdict::Close(internal::kClosePolicy, "",
                          Unavailable("closed the connection after " + std::to_string(recent) +
                                      " envelopes or key sets that failed their checks, or "
                                      "errors (a flood of forged or invalid messages)"));
  }

  // A `rejected` the channel sends itself, for a request it did not admit (so it ends nothing in
  // flight), audited by the handler: its record is durable before it leaves (Settle), and it
  // does not leave when the record may be missing (MayReject). Only a cloud that sends what a
  // correct one never does gets here, so waiting for the handler costs a correct one nothing.
  void RejectBeforeHandler(protocol::Rejected rejected) {
    {
      std::lock_guard lock(mu_);
      CountInvalidEnvelope(rejected);
    }
    handler_->OnFrameRejected(rejected);
    handler_->Settle();
    if (!handler_->MayReject()) {
      log_->error("cloud channel: request {} not rejected ({}): the audit trail has failed",
                  rejected.id.empty() ? "(no id could be read)" : EscapeForLog(rejected.id),
                  protocol::RejectCodeName(rejected.code));
      return;
    }
    Reply(protocol::Serialize(rejected));
  }

  // Section 8: a request beyond the credits announced is refused unopened (it costs no
  // signature verification), and the connection ends: the cloud is broken, and the next
  // hello restarts its count.
  Verdict OnRequest(protocol::Request request) {
    const std::string claimed = protocol::ClaimedRequestId(request.envelope);
    bool admitted = false;
    int credits = 0;
    {
      std::lock_guard lock(mu_);
      admitted = in_flight_.Admit(claimed);
    }
    if (!admitted) {
      // The handler may not have answered what it holds yet: judge by its answers.
      handler_->Settle();
      std::lock_guard lock(mu_);
      admitted = in_flight_.Admit(claimed);
    }
    {
      std::lock_guard lock(mu_);
      credits = in_flight_.credits();
    }
    if (admitted) {
      handler_->OnMessage(std::move(request));
      return Verdict::Continue();
    }
    const std::string text =
        "a request beyond the " + std::to_string(credits) + " credit(s) this agent announced";
    RejectBeforeHandler({.id = claimed, .code = protocol::RejectCode::kQueueFull, .reason = text});
    return CloseWithError(internal::kClosePolicy, "protocol_violation", text);
  }

  // Section 4: each `error` is logged, and counts towards the flood limit, so that a cloud that
  // repeats errors cannot fill the agent's log (a correct one sends a few per connection).
  Verdict OnCloudError(protocol::ErrorMessage m) {
    log_->warn("cloud channel: the cloud reported an error: {}: {}", EscapeForLog(m.code, 64),
               EscapeForLog(m.message, 300));
    {
      std::lock_guard lock(mu_);
      // An answer to this agent's own `renew` is the cloud working as documented: it counts
      // towards the flood limit, but does not keep the next connection from resetting the
      // backoff (a cloud refusing renewal for days must not slow every reconnection).
      CountFailedCheck(/*spoils_session=*/!AnswersRenew(m.code));
    }
    handler_->OnMessage(std::move(m));
    return Verdict::Continue();
  }

  static bool AnswersRenew(std::string_view code) {
    return code == "renewal_refused" || code == "bad_csr";
  }

  // Section 13: a set that fails a check changes nothing; the cloud is told (`bad_keyset`) and
  // the connection stays. Each refusal costs a signature check and a read of the trusted keys,
  // so it counts towards the flood limit like an invalid envelope (OnFrame ends a flood).
  Verdict OnKeySet(const protocol::KeySet& m) {
    auto applied = ApplyKeySet(paths_, enrollment_, m.jwks_jws, clock_, options_.max_clock_skew);
    if (!applied.ok()) {
      log_->error("cloud channel: refused a signing key set from the cloud: {}",
                  applied.error().ToString());
      Reply(ErrorFrame("bad_keyset", applied.error().message()));
      std::lock_guard lock(mu_);
      CountFailedCheck();
      return Verdict::Continue();
    }
    if (!applied->has_value()) return Verdict::Continue();  // the set in use, sent again
    log_->info("cloud channel: the cloud's signing keys rolled over ({} key(s)); stored in {}",
               (*applied)->keys.size(), paths_.cloud_keys().string());
    handler_->OnKeySetChanged(**applied);
    return Verdict::Continue();
  }

  Verdict OnCertificate(const protocol::Certificate& m) {
    if (!renewal_sent_) {
      return CloseWithError(internal::kClosePolicy, "protocol_violation",
                            "a certificate this agent did not ask for");
    }
    renewal_sent_ = false;
    auto cert = FinishRenewal(paths_, options_.agent_id, m.certificate, clock_.Now());
    if (!cert.ok()) {
      log_->error("cloud channel: certificate renewal failed: {}", cert.error().ToString());
      return Verdict::Continue();
    }
    {
      std::lock_guard lock(mu_);
      state_.certificate_expires = cert->not_after;
    }
    log_->info(
        "cloud channel: client certificate renewed, valid until {}; it is used from the "
        "next connection",
        FormatUtcSeconds(cert->not_after));
    handler_->OnCertificateRenewed(
        {.subject = cert->subject, .not_before = cert->not_before, .not_after = cert->not_after});
    return Verdict::Continue();
  }

  // Renewal at two thirds of the certificate's lifetime, checked at each connect and then at
  // the due time (at least hourly, so a clock change is noticed).
  void ScheduleRenewalCheck() {
    if (!options_.renew_certificate || renewal_sent_) return;
    auto cert = ReadCertificate(paths_.cert());
    if (!cert.ok()) return;
    const WallTime due = RenewalDue(*cert);
    const WallTime now = clock_.Now();
    if (now >= due) {
      auto csr = BeginRenewal(paths_, options_.agent_id);
      if (!csr.ok()) {
        log_->error("cloud channel: cannot start certificate renewal: {}", csr.error().ToString());
        return;
      }
      log_->info("cloud channel: client certificate expires {}; asking the cloud to renew it",
                 FormatUtcSeconds(cert->not_after));
      renewal_sent_ = Enqueue(protocol::Serialize(protocol::Renew{.csr = *csr})).ok();
      return;
    }
    const auto wait = std::min<std::chrono::steady_clock::duration>(
        due - now + std::chrono::seconds(1), std::chrono::hours(1));
    renew_timer_.expires_after(wait);
    renew_timer_.async_wait([this](const error_code& ec) {
      if (!ec && session_ && session_->established()) ScheduleRenewalCheck();
    });
  }

  asio::awaitable<Status> Attempt() {
    auto enrollment = LoadEnrollment(paths_);
    if (!enrollment.ok()) co_return enrollment.error();
    if (enrollment->agent_id != options_.agent_id) {
      co_return FailedPrecondition(
          "agent.id is \"" + options_.agent_id + "\" but this state directory was enrolled as \"" +
          EscapeForLog(enrollment->agent_id) + "\": run `wbagent register` again");
    }
    enrollment_ = std::move(*enrollment);
    RecoverRenewal(paths_);
    if (auto cert = ReadCertificate(paths_.cert()); cert.ok()) {
      std::lock_guard lock(mu_);
      state_.certificate_expires = cert->not_after;
    }
    internal::SessionConfig config;
    config.target = {.server = options_.server,
                     .proxy = options_.proxy,
                     .timeout = options_.connect_timeout,
                     .user_agent = "wbagent/" + options_.agent_version};
    config.tls = {.server = options_.server,
                  .ca_file = options_.ca_file,
                  .min_tls = options_.min_tls,
                  .spki_pin = options_.spki_pin,
                  .client_cert = paths_.cert(),
                  .client_key = paths_.key(),
                  .proxy = options_.proxy ? internal::HostPortText(options_.proxy->address) : ""};
    config.path = options_.path;
    config.heartbeat_interval = options_.heartbeat_interval;
    config.dead_after_missed_pongs = options_.dead_after_missed_pongs;
    config.max_frame_bytes = protocol::kMaxMessageBytes;
    renewal_sent_ = false;
    session_ = internal::Session::Create(ioc_, std::move(config), *this);
    Status result = co_await session_->Run();
    session_.reset();
    renew_timer_.cancel();
    co_return result;
  }

  asio::awaitable<void> ReconnectLoop() {
    while (!stopping_) {
      SetState(ChannelState::kConnecting, Status::Ok(), std::nullopt);
      connected_at_.reset();
      Status result = co_await Attempt();
      bool checks_failed = false;
      {
        std::lock_guard lock(mu_);
        accepting_ = false;
        outgoing_.clear();
        checks_failed = std::exchange(checks_failed_in_session_, false);
      }
      const bool was_connected = connected_at_.has_value();
      const bool refused_by_agent = std::exchange(refused_, false);
      if (stopping_) {
        if (was_connected) log_->info("cloud channel: closed");
        break;
      }
      if (result.ok()) result = Unavailable("the connection to the cloud ended");
      // A session that reached welcome shows the cloud is there: the next attempt starts from
      // the first backoff step (a cloud restarting its servers one by one must not leave its
      // agents waiting minutes; the first step still bounds a welcome-then-close loop). Not
      // when this agent ended it for the cloud's misbehaviour, and not after a session in
      // which anything failed its checks: a peer that closes just below the flood limit and
      // comes back would otherwise cost max_invalid_envelopes checks and log lines a second.
      if (was_connected && !refused_by_agent && !checks_failed) backoff_.Reset();
      handler_->OnDisconnected(result);
      const auto delay = backoff_.Next();
      retry_log_.Failure(result, delay);
      SetState(ChannelState::kDisconnected, result, clock_.Now() + delay, /*attempt_ended=*/true);
      error_code ec;
      retry_timer_.expires_after(delay);
      co_await retry_timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    close_deadline_.cancel();
    renew_timer_.cancel();
    SetState(ChannelState::kStopped, Status::Ok(), std::nullopt, /*attempt_ended=*/true);
  }

  // Shows the I/O thread's event loop turning: a timer on the same loop as every frame and
  // callback, so a blocked loop stops it.
  asio::awaitable<void> AliveLoop() {
    while (!stopping_) {
      alive_();
      error_code ec;
      alive_timer_.expires_after(alive_interval_);
      co_await alive_timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
  }

  // I/O thread: ask the session to close cleanly and bound how long that may take.
  void BeginStop() {
    stopping_ = true;
    alive_timer_.cancel();
    retry_timer_.cancel();
    renew_timer_.cancel();
    if (!session_) return;
    session_->Close();
    close_deadline_.expires_after(options_.close_timeout);
    close_deadline_.async_wait([this](const error_code& ec) {
      if (!ec && session_) {
        session_->Abort(Status(Code::kTimeout, "the cloud did not complete the close handshake"));
      }
    });
  }

  Options options_;
  Handler* handler_ = nullptr;  // set by Start, before the I/O thread exists
  SystemClock system_clock_;
  const Clock& clock_;
  std::shared_ptr<spdlog::logger> log_;
  StatePaths paths_;
  const std::function<void()> alive_;
  const std::chrono::milliseconds alive_interval_;

  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  StateInfo state_;                   // guarded by mu_
  int attempts_ended_ = 0;            // guarded by mu_
  std::deque<std::string> outgoing_;  // guarded by mu_
  bool accepting_ = false;            // guarded by mu_
  internal::InFlight in_flight_;      // guarded by mu_
  // When recent rejections that a correct cloud never causes were sent. Guarded by mu_.
  std::deque<std::chrono::steady_clock::time_point> invalid_envelopes_;

  // I/O thread only.
  Backoff backoff_;
  RetryLog retry_log_;
  asio::io_context ioc_;
  asio::steady_timer retry_timer_;
  asio::steady_timer renew_timer_;
  asio::steady_timer close_deadline_;
  asio::steady_timer alive_timer_;
  std::shared_ptr<internal::Session> session_;
  Enrollment enrollment_;
  std::optional<std::chrono::steady_clock::time_point> connected_at_;
  bool stopping_ = false;
  bool renewal_sent_ = false;
  int hello_credits_ = 0;  // announced in the current connection's hello
  bool refused_ = false;   // this agent ended the current connection for a refused frame
  // Guarded by mu_: something failed its checks since the current connection's welcome.
  bool checks_failed_in_session_ = false;
  std::thread thread_;
};

Channel::Channel(Options options, Environment env)
    : impl_(std::make_shared<Impl>(std::move(options), std::move(env))) {}

Channel::~Channel() { impl_->Stop(); }

Status Channel::Start(Handler& handler) { return impl_->Start(handler); }
void Channel::Stop() { impl_->Stop(); }
Status Channel::Send(const protocol::Message& message) { return impl_->Send(message); }
StateInfo Channel::GetState() const { return impl_->GetState(); }
bool Channel::WaitForState(ChannelState state, std::chrono::milliseconds timeout) const {
  return impl_->WaitForState(state, timeout);
}
bool Channel::WaitForAttempts(int count, std::chrono::milliseconds timeout) const {
  return impl_->WaitForAttempts(count, timeout);
}

}  // namespace wb::channel
