// The WebSocket session of one enrolled agent (wbcloud serve).
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <deque>

#include "common/log_escape.h"
#include "tools/wbcloud/server_context.h"

namespace wb::cloud {
namespace {

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
constexpr int kMaxBadFrames = 32;

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
    closing_ = true;
    wake_.cancel();
  }

  asio::awaitable<void> Run(HttpRequest request) {
    auto self = shared_from_this();
    ws_.set_option(websocket::stream_base::decorator([](websocket::response_type& res) {
      res.set(http::field::server, "wbcloud");
      res.set(http::field::sec_websocket_protocol, std::string(protocol::kSubprotocol));
    }));
    beast::get_lowest_layer(ws_).expires_never();
    websocket::stream_base::timeout t{};
    t.handshake_timeout = std::chrono::seconds(10);
    t.idle_timeout = std::chrono::seconds(120);
    t.keep_alive_pings = true;
    ws_.set_option(t);
    ws_.read_message_max(2 * protocol::kMaxMessageBytes);
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
    const protocol::Welcome welcome{.tenant = ctx_.state.tenant(), .server_time = ctx_.clock.Now()};
    out_.push_back(protocol::Serialize(welcome));
    if (!ctx_.state.keyset_jws().empty()) {
      out_.push_back(protocol::Serialize(protocol::KeySet{ctx_.state.keyset_jws()}));
    }
    registered_ = true;
    asio::co_spawn(ctx_.ioc, WriteLoop(), asio::detached);
    ctx_.dispatcher.AgentConnected(*this, hello->credits);
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
      ctx_.dispatcher.AgentDisconnected(*this);
    }
  }

  // Sends an `error` and closes: for a peer that broke the protocol before hello completed.
  asio::awaitable<void> Refuse(std::string code, std::string message) {
    const std::string frame = protocol::Serialize(
        protocol::ErrorMessage{.code = std::move(code), .message = std::move(message)});
    error_code ec;
    co_await ws_.async_write(asio::buffer(frame), redirect_error(use_awaitable, ec));
    co_await ws_.async_close(websocket::close_code::policy_error,
                             redirect_error(use_awaitable, ec));
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
    auto parsed = protocol::ParseMessage(beast::buffers_to_string(buffer.data()));
    if (!parsed.ok()) {
      co_await Refuse("bad_message", parsed.error().message());
      co_return std::nullopt;
    }
    auto* hello = std::get_if<protocol::Hello>(&*parsed);
    if (hello == nullptr) {
      co_await Refuse("bad_message", "the first message must be hello");
      co_return std::nullopt;
    }
    if (hello->agent_id != agent_id_) {
      ctx_.log.warn("agent {} said hello as \"{}\"; refused", agent_id_,
                    EscapeForLog(hello->agent_id));
      co_await Refuse("unknown_agent", "hello names another agent than the client certificate");
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
      Handle(beast::buffers_to_string(buffer.data()));
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
        co_await ws_.async_close(websocket::close_code::going_away,
                                 redirect_error(use_awaitable, ec));
        if (ec) End();
        co_return;
      }
      error_code ec;
      wake_.expires_at(asio::steady_timer::time_point::max());
      co_await wake_.async_wait(redirect_error(use_awaitable, ec));
    }
  }

  void BadFrame(std::string_view frame, const Status& error) {
    ctx_.log.warn("agent {} sent an invalid frame (type \"{}\"): {}", agent_id_,
                  EscapeForLog(protocol::MessageTypeOf(frame), 64), error.message());
    const bool version = error.code() == Code::kFailedPrecondition;
    Send(protocol::Serialize(protocol::ErrorMessage{
        .code = version ? "unsupported_version" : "bad_message", .message = error.message()}));
    if (++bad_frames_ > kMaxBadFrames) Kick("too many invalid frames");
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

  void Handle(const std::string& frame) {
    auto parsed = protocol::ParseMessage(frame);
    if (!parsed.ok()) return BadFrame(frame, parsed.error());
    Dispatcher& d = ctx_.dispatcher;
    std::visit(Overloaded{
                   [&](const protocol::Accepted& m) { d.OnAccepted(*this, m.id); },
                   [&](const protocol::Rejected& m) { d.OnRejected(*this, m); },
                   [&](const protocol::ResultMessage& m) { d.OnResult(*this, m); },
                   [&](const protocol::Credits& m) { d.OnCredits(*this, m.credits); },
                   [&](const protocol::Renew& m) { Renew(m); },
                   [&](const protocol::ErrorMessage& m) {
                     ctx_.log.warn("agent {} reports an error: {}: {}", agent_id_,
                                   EscapeForLog(m.code, 64), EscapeForLog(m.message, 300));
                   },
                   [&](const auto&) {
                     BadFrame(frame,
                              InvalidArgument("unexpected message type \"" +
                                              protocol::MessageTypeOf(frame) + "\" from an agent"));
                   },
               },
               *parsed);
  }

  ServerContext& ctx_;
  websocket::stream<TlsStream> ws_;
  std::string agent_id_;
  asio::steady_timer wake_;
  std::deque<std::string> out_;
  int bad_frames_ = 0;
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
