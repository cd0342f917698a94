// The WebSocket session of one enrolled agent (wbcloud serve).
#include <openssl/ssl.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <ctime>
#include <deque>

#include "common/log_escape.h"
#include "tools/wbcloud/agent_frames.h"
#include "tools/wbcloud/ca.h"
#include "tools/wbcloud/server_context.h"

namespace wb::cloud {
namespace {

// An HTTP-date (RFC 9110 5.6.7): "Sun, 06 Nov 1994 08:49:37 GMT".
std::string HttpDate(WallTime t) {
  const std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char out[40];
  const std::size_t n = std::strftime(out, sizeof out, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return std::string(out, n);
}

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using asio::redirect_error;
using asio::use_awaitable;
using boost::system::error_code;

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

constexpr std::size_t kMaxQueued = 1024;

// A close frame's reason holds at most 123 bytes; the whole text is in the log.
websocket::close_reason CloseReason(const FrameRefusal& refusal) {
  return websocket::close_reason(static_cast<websocket::close_code>(refusal.close),
                                 refusal.message.substr(0, 120));
}

std::string ErrorFrame(const FrameRefusal& refusal) {
  return protocol::Serialize(
      protocol::ErrorMessage{.code = refusal.code, .message = refusal.message});
}

class AgentSession final : public AgentLink,
                           public AgentSessionHandle,
                           public std::enable_shared_from_this<AgentSession> {
 public:
  AgentSession(ServerContext& ctx, TlsStream stream, std::string agent_id)
      : ctx_(ctx), ws_(std::move(stream)), agent_id_(std::move(agent_id)), wake_(ctx.ioc) {}

  const std::string& agent_id() const override { return agent_id_; }

  bool Send(std::string frame) override {
    if (ended_ || closing_) return false;
    if (out_.size() >= kMaxQueued) {
      Kick("outgoing queue full");
      return false;
    }
    out_.push_back(std::move(frame));
    wake_.cancel();
    return true;
  }

  void Kick(std::string_view why) override {
    if (ended_ || closing_) return;
    ctx_.log.info("closing the session of agent {}: {}", agent_id_, why);
    close_ = websocket::close_reason(websocket::close_code::going_away);
    closing_ = true;
    wake_.cancel();
  }

  asio::awaitable<void> Run(HttpRequest request) {
    auto self = shared_from_this();
    // Date: the time the cloud's clock says, which `wbagent doctor` compares with its own
    // without saying hello (the welcome's server_time would replace the running session).
    const std::string date = HttpDate(ctx_.clock.Now());
    ws_.set_option(websocket::stream_base::decorator([date](websocket::response_type& res) {
      res.set(http::field::server, "wbcloud");
      res.set(http::field::date, date);
      res.set(http::field::sec_websocket_protocol, std::string(protocol::kSubprotocol));
    }));
    beast::get_lowest_layer(ws_).expires_never();
    websocket::stream_base::timeout t{};
    t.handshake_timeout = std::chrono::seconds(10);
    t.idle_timeout = std::chrono::seconds(120);
    t.keep_alive_pings = true;
    ws_.set_option(t);
    // A larger message is not read: Beast closes with 1009 (docs/protocol.md section 2).
    ws_.read_message_max(protocol::kMaxMessageBytes);
    error_code ec;
    co_await ws_.async_accept(request, redirect_error(use_awaitable, ec));
    if (ec) {
      ctx_.log.info("WebSocket handshake with agent {} failed: {}", agent_id_, ec.message());
      co_return;
    }
    auto hello = co_await ReadHello();
    if (!hello) co_return;
    if (auto old = ctx_.sessions.find(agent_id_); old != ctx_.sessions.end()) {
      old->second->Kick("replaced by a new connection of the same agent");
    }
    ctx_.sessions[agent_id_] = this;
    const protocol::Welcome welcome{.tenant = ctx_.state.tenant(),
                                    .server_time = ctx_.clock.Now(),
                                    .audit_head = WitnessedHead()};
    out_.push_back(protocol::Serialize(welcome));
    if (!ctx_.state.keyset_jws().empty()) {
      out_.push_back(protocol::Serialize(protocol::KeySet{ctx_.state.keyset_jws()}));
    }
    registered_ = true;
    asio::co_spawn(ctx_.ioc, WriteLoop(), asio::detached);
    ctx_.events.AgentConnected(*this, hello->credits);
    co_await ReadLoop();
    End();
  }

 private:
  void End() {
    if (ended_) return;
    ended_ = true;
    wake_.cancel();
    error_code ec;
    beast::get_lowest_layer(ws_).socket().close(ec);
    if (registered_) {
      if (auto it = ctx_.sessions.find(agent_id_);
          it != ctx_.sessions.end() && it->second == this) {
        ctx_.sessions.erase(it);
      }
      ctx_.events.AgentDisconnected(*this);
    }
  }

  void LogRefusal(std::string_view payload, bool binary, const FrameRefusal& refusal) {
    // A binary message is not looked into, not even for its type.
    const std::string type = binary ? "binary" : protocol::MessageTypeOf(payload);
    ctx_.log.warn("agent {} sent a refused frame (type \"{}\"): {}: {}; closing with {}", agent_id_,
                  EscapeForLog(type, 64), refusal.code, refusal.message,
                  static_cast<int>(refusal.close));
  }

  // Before hello there is no write loop yet: the `error`, then the close handshake, here.
  asio::awaitable<void> RefuseBeforeHello(const FrameRefusal& refusal) {
    const std::string frame = ErrorFrame(refusal);
    error_code ec;
    ws_.text(true);
    co_await ws_.async_write(asio::buffer(frame), redirect_error(use_awaitable, ec));
    if (ec) co_return;
    co_await ws_.async_close(CloseReason(refusal), redirect_error(use_awaitable, ec));
  }

  // After hello: the `error` goes after what is queued, then the close frame (WriteLoop); the
  // read loop acts on nothing more and waits for the agent's close frame.
  void Refuse(const FrameRefusal& refusal) {
    if (ended_ || closing_) return;
    out_.push_back(ErrorFrame(refusal));  // past kMaxQueued by one at most: the last frame
    close_ = CloseReason(refusal);
    closing_ = true;
    wake_.cancel();
  }

  // Section 3: hello names the agent of the client certificate, and that certificate is still
  // the agent's (a new enrollment of the same id since the upgrade replaces it).
  std::optional<FrameRefusal> CheckIdentity(const protocol::Hello& hello) {
    if (hello.agent_id != agent_id_) {
      return FrameRefusal{.code = "unknown_agent",
                          .message = "hello names another agent than the client certificate"};
    }
    X509* cert = SSL_get0_peer_certificate(ws_.next_layer().native_handle());
    const AgentRecord* agent =
        cert == nullptr ? nullptr : ctx_.state.FindAgentByFingerprint(CertificateFingerprint(cert));
    if (agent == nullptr || agent->id != agent_id_) {
      return FrameRefusal{.code = "unknown_agent",
                          .message =
                              "this certificate is no longer enrolled; enroll the agent "
                              "again with `wbagent register`"};
    }
    return std::nullopt;
  }

  asio::awaitable<std::optional<protocol::Hello>> ReadHello() {
    beast::flat_buffer buffer;
    error_code ec;
    asio::steady_timer deadline(ctx_.ioc, std::chrono::seconds(10));
    deadline.async_wait([self = shared_from_this()](const error_code& e) {
      if (!e) {
        error_code ignored;
        beast::get_lowest_layer(self->ws_).socket().close(ignored);
      }
    });
    co_await ws_.async_read(buffer, redirect_error(use_awaitable, ec));
    deadline.cancel();
    if (ec) {
      ctx_.log.info("agent {} sent no hello: {}", agent_id_, ec.message());
      co_return std::nullopt;
    }
    const std::string payload = beast::buffers_to_string(buffer.data());
    const bool binary = ws_.got_binary();
    auto checked = CheckAgentFrame({.payload = payload, .binary = binary, .after_hello = false});
    if (auto* refusal = std::get_if<FrameRefusal>(&checked)) {
      LogRefusal(payload, binary, *refusal);
      co_await RefuseBeforeHello(*refusal);
      co_return std::nullopt;
    }
    // CheckAgentFrame lets only a hello through before hello.
    auto* hello = std::get_if<protocol::Hello>(&std::get<protocol::Message>(checked));
    if (auto refusal = CheckIdentity(*hello)) {
      ctx_.log.warn("agent {} said hello as \"{}\": {}; closing", agent_id_,
                    EscapeForLog(hello->agent_id), refusal->message);
      co_await RefuseBeforeHello(*refusal);
      co_return std::nullopt;
    }
    ctx_.log.info("agent {} (version {}) says hello: {} credit(s), {} unacked result(s)", agent_id_,
                  EscapeForLog(hello->version, 64), hello->credits, hello->unacked_results.size());
    co_return *hello;
  }

  asio::awaitable<void> ReadLoop() {
    beast::flat_buffer buffer;
    while (!ended_) {
      buffer.clear();
      error_code ec;
      co_await ws_.async_read(buffer, redirect_error(use_awaitable, ec));
      if (ec) {
        if (ec != websocket::error::closed) {
          ctx_.log.info("agent {}: connection ended: {}", agent_id_, ec.message());
        }
        co_return;
      }
      // Once closing, nothing more from this agent is acted on: reading goes on only to take
      // its close frame.
      if (closing_) continue;
      Handle(beast::buffers_to_string(buffer.data()), ws_.got_binary());
    }
  }

  asio::awaitable<void> WriteLoop() {
    auto self = shared_from_this();
    while (!ended_) {
      if (!out_.empty()) {
        std::string frame = std::move(out_.front());
        out_.pop_front();
        error_code ec;
        ws_.text(true);
        co_await ws_.async_write(asio::buffer(frame), redirect_error(use_awaitable, ec));
        if (ec) {
          End();
          co_return;
        }
        continue;
      }
      if (closing_) {
        error_code ec;
        co_await ws_.async_close(close_, redirect_error(use_awaitable, ec));
        if (ec) End();
        co_return;
      }
      error_code ec;
      wake_.expires_at(asio::steady_timer::time_point::max());
      co_await wake_.async_wait(redirect_error(use_awaitable, ec));
    }
  }

  void Renew(const protocol::Renew& m) {
    auto issued = ctx_.state.ca().IssueClient(m.csr, agent_id_, ctx_.clock.Now(),
                                              ctx_.options.client_cert_lifetime);
    if (!issued.ok()) {
      ctx_.log.warn("agent {}: renewal refused: {}", agent_id_, issued.error().message());
      Send(protocol::Serialize(
          protocol::ErrorMessage{.code = "bad_csr", .message = issued.error().message()}));
      return;
    }
    auto it = ctx_.state.agents().find(agent_id_);
    if (it == ctx_.state.agents().end()) return;
    AgentRecord record = it->second;
    record.fingerprints.insert(record.fingerprints.begin(), issued->fingerprint);
    record.certificate_expires = issued->not_after;
    Status saved = ctx_.state.SaveAgent(std::move(record));
    if (!saved.ok()) {
      ctx_.log.error("agent {}: cannot store the renewed certificate: {}", agent_id_,
                     saved.ToString());
      return;
    }
    ctx_.log.info("agent {}: certificate renewed", agent_id_);
    Send(protocol::Serialize(
        protocol::Certificate{issued->pem + ctx_.state.ca().certificate_pem()}));
  }

  std::optional<protocol::AuditHead> WitnessedHead() const {
    auto it = ctx_.state.agents().find(agent_id_);
    return it == ctx_.state.agents().end() ? std::nullopt : it->second.audit_head;
  }

  // Keeps the agent's audit head (docs/audit.md, "The witness"); never a lower one.
  void Witness(const protocol::AuditHead& head) {
    const std::optional<protocol::AuditHead> held = WitnessedHead();
    auto witnessed = ctx_.state.WitnessAuditHead(agent_id_, head, ctx_.clock.Now());
    if (!witnessed.ok()) {
      ctx_.log.error("agent {}: could not keep its audit head: {}", agent_id_,
                     witnessed.error().ToString());
      return;
    }
    switch (*witnessed) {
      case Witnessed::kAdvanced:
        // At info: the log is the history of heads, for verifying against older ones.
        ctx_.log.info("agent {}: audit head {}", agent_id_,
                      std::to_string(head.seq) + ":" + head.hash + ":" + head.hmac);
        break;
      case Witnessed::kSame:
        break;
      case Witnessed::kBehind:
        ctx_.log.warn(
            "agent {} sent audit head seq {}, behind the witnessed seq {}: its trail lost records "
            "(deleted or rolled back); the witness keeps seq {}",
            agent_id_, head.seq, held->seq, held->seq);
        break;
      case Witnessed::kConflict:
        ctx_.log.warn(
            "agent {} sent audit head seq {} with another hash than the witnessed one: its trail "
            "was rewritten; the witness keeps the first",
            agent_id_, head.seq);
        break;
    }
  }

  void Handle(const std::string& payload, bool binary) {
    auto checked = CheckAgentFrame({.payload = payload, .binary = binary, .after_hello = true});
    if (auto* refusal = std::get_if<FrameRefusal>(&checked)) {
      LogRefusal(payload, binary, *refusal);
      return Refuse(*refusal);
    }
    AgentEvents& d = ctx_.events;
    std::visit(Overloaded{
                   [&](const protocol::Accepted& m) { d.OnAccepted(*this, m.id); },
                   [&](const protocol::Rejected& m) { d.OnRejected(*this, m); },
                   [&](const protocol::ResultMessage& m) { d.OnResult(*this, m); },
                   [&](const protocol::Credits& m) { d.OnCredits(*this, m.credits); },
                   [&](const protocol::Renew& m) { Renew(m); },
                   [&](const protocol::AuditHeadMessage& m) { Witness(m.head); },
                   [&](const protocol::PolicySummary& m) { d.OnPolicySummary(*this, m); },
                   [&](const protocol::ErrorMessage& m) {
                     ctx_.log.warn("agent {} reports an error: {}: {}", agent_id_,
                                   EscapeForLog(m.code, 64), EscapeForLog(m.message, 300));
                   },
                   // CheckAgentFrame lets through only the messages above after hello.
                   [](const auto&) {},
               },
               std::get<protocol::Message>(checked));
  }

  ServerContext& ctx_;
  websocket::stream<TlsStream> ws_;
  std::string agent_id_;
  asio::steady_timer wake_;
  std::deque<std::string> out_;
  websocket::close_reason close_{websocket::close_code::going_away};
  bool registered_ = false;
  bool closing_ = false;
  bool ended_ = false;
};

}  // namespace

asio::awaitable<void> RunAgentSession(ServerContext& ctx, TlsStream stream, HttpRequest request,
                                      std::string agent_id) {
  auto session = std::make_shared<AgentSession>(ctx, std::move(stream), std::move(agent_id));
  co_await session->Run(std::move(request));
}

}  // namespace wb::cloud
