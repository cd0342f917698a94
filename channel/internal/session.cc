#include "channel/internal/session.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket/error.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <exception>
#include <utility>

#include "channel/internal/connect.h"
#include "common/log_escape.h"
#include "protocol/protocol.h"

namespace wb::channel::internal {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using boost::system::error_code;
using Ws = websocket::stream<TlsStream>;
using asio::redirect_error;
using asio::use_awaitable;

std::string SecondsText(std::chrono::milliseconds d) {
  return std::to_string((d.count() + 999) / 1000) + " s";
}

class SessionImpl final : public Session, public std::enable_shared_from_this<SessionImpl> {
 public:
  SessionImpl(asio::io_context& ioc, SessionConfig config, SessionOwner& owner)
      : ioc_(ioc),
        config_(std::move(config)),
        owner_(owner),
        wake_(ioc),
        ping_timer_(ioc),
        ping_done_(ioc),
        loops_done_(ioc) {}

  asio::awaitable<Status> Run() override {
    auto self = shared_from_this();  // keeps the session alive across suspensions
    auto ctx = MakeClientContext(config_.tls);
    if (!ctx.ok()) co_return ctx.error();
    ctx_ = std::move(*ctx);
    verify_.settings = config_.tls;
    ws_ = std::make_unique<Ws>(ioc_, *ctx_);
    Status s = co_await ConnectTls(ws_->next_layer(), config_.target, verify_);
    if (ended_) co_return Finish(final_);
    if (!s.ok()) co_return Finish(s);
    s = co_await Upgrade();
    if (ended_) co_return Finish(final_);
    if (!s.ok()) co_return Finish(s);
    s = co_await Greet();
    if (ended_) co_return Finish(final_);
    if (!s.ok()) co_return Finish(s);
    established_ = true;

    loops_running_ = 2;
    asio::co_spawn(ioc_, WriteLoop(), [self](std::exception_ptr e) { self->LoopDone(e); });
    asio::co_spawn(ioc_, PingLoop(), [self](std::exception_ptr e) { self->LoopDone(e); });
    Status read_end = co_await ReadLoop();
    End(std::move(read_end));
    while (loops_running_ > 0) {
      error_code ec;
      loops_done_.expires_at(asio::steady_timer::time_point::max());
      co_await loops_done_.async_wait(redirect_error(use_awaitable, ec));
    }
    established_ = false;
    co_return final_;
  }

  void WakeWriter() override { wake_.cancel(); }

  void Close() override {
    if (!established_) {
      End(Status(Code::kUnavailable, "stopped before the connection was established"));
      return;
    }
    if (closing_) return;
    closing_ = true;
    close_code_ = websocket::close_code::normal;
    close_why_ = Status::Ok();
    wake_.cancel();
    ping_timer_.cancel();
  }

  void Abort(Status why) override { End(std::move(why)); }

  bool established() const override { return established_ && !ended_; }

 private:
  // The first reason wins; every loop is woken and the socket closed so they all finish.
  void End(Status why) {
    if (!ended_) {
      ended_ = true;
      final_ = std::move(why);
    }
    wake_.cancel();
    ping_timer_.cancel();
    ping_done_.cancel();
    if (ws_) {
      error_code ec;
      beast::get_lowest_layer(*ws_).socket().close(ec);
    }
  }

  Status Finish(Status s) {
    End(s);
    return final_;
  }

  void LoopDone(std::exception_ptr e) {
    if (e) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        End(Internal(std::string("channel loop failed: ") + ex.what()));
      }
    }
    if (--loops_running_ == 0) loops_done_.cancel();
  }

  Status HandshakeError(const error_code& ec, const websocket::response_type& res) {
    const std::string host = HostPortText(config_.target.server);
    if (ec == websocket::error::upgrade_declined) {
      const unsigned code = res.result_int();
      const std::string body = EscapeForLog(res.body(), 200);
      std::string line =
          "HTTP " + std::to_string(code) + " " +
          EscapeForLog(std::string_view(res.reason().data(), res.reason().size()), 100) +
          (body.empty() ? "" : ": " + body);
      if (code == 401 || code == 403) {
        return PermissionDenied("the cloud refused this agent's connection (" + line +
                                "): its certificate is unknown to the cloud; run `wbagent "
                                "register --token-file -`");
      }
      if (code == 404) {
        return FailedPrecondition("the cloud has no agent endpoint at path " +
                                  EscapeForLog(config_.path) + " (" + line +
                                  "): check the path in cloud.url");
      }
      return Unavailable("the cloud refused the WebSocket upgrade (" + line + ")");
    }
    if (ec == beast::error::timeout) {
      return Status(Code::kTimeout, "no WebSocket handshake with " + host + " within " +
                                        SecondsText(config_.target.timeout) +
                                        " (cloud.connect_timeout)");
    }
    if (ec.category() == asio::error::get_ssl_category() ||
        ec == asio::ssl::error::stream_truncated) {
      return TlsError(ec, verify_.record, config_.tls, "WebSocket handshake");
    }
    return TransportError(ec, "WebSocket handshake with", host, config_.target.timeout);
  }

  asio::awaitable<Status> Upgrade() {
    const std::string user_agent = config_.target.user_agent;
    ws_->set_option(websocket::stream_base::decorator([user_agent](websocket::request_type& req) {
      req.set(http::field::user_agent, user_agent);
      req.set(http::field::sec_websocket_protocol, std::string(protocol::kSubprotocol));
    }));
    ws_->read_message_max(config_.max_frame_bytes);
    websocket::response_type res;
    error_code ec;
    co_await ws_->async_handshake(res, HostPortText(config_.target.server), config_.path,
                                  redirect_error(use_awaitable, ec));
    if (ec) co_return HandshakeError(ec, res);
    const auto agreed = res[http::field::sec_websocket_protocol];
    if (std::string_view(agreed.data(), agreed.size()) != protocol::kSubprotocol) {
      co_return FailedPrecondition("the server at " + HostPortText(config_.target.server) +
                                   " did not agree to the WebSocket subprotocol " +
                                   std::string(protocol::kSubprotocol) +
                                   " (is cloud.url the agent endpoint?)");
    }
    co_return Status::Ok();
  }

  // `during` says when, e.g. "while sending hello"; empty for an established connection.
  Status ConnectionError(const error_code& ec, std::string_view during) {
    const std::string host = HostPortText(config_.target.server);
    const std::string when = during.empty() ? "" : " " + std::string(during);
    if (ec == websocket::error::closed) {
      const websocket::close_reason& r = ws_->reason();
      return Unavailable(
          "the cloud closed the connection" + when + " (close code " + std::to_string(r.code) +
          (r.reason.empty() ? "" : ": " + EscapeForLog(r.reason.c_str(), 200)) + ")");
    }
    if (ec == beast::error::timeout) {
      return Status(Code::kTimeout, "no answer from the cloud" + when + " within " +
                                        SecondsText(config_.target.timeout));
    }
    if (ec == websocket::error::message_too_big) {
      return Unavailable("the cloud sent a frame larger than " +
                         std::to_string(config_.max_frame_bytes) + " bytes; closed");
    }
    if (ec.category() == asio::error::get_ssl_category()) {
      return TlsError(ec, verify_.record, config_.tls, "connection");
    }
    Status s = TransportError(ec, "connection to cloud", host, config_.target.timeout);
    return Status(s.code(), s.message() + when);
  }

  asio::awaitable<Status> Greet() {
    std::string hello = owner_.MakeHello();
    error_code ec;
    ws_->text(true);
    co_await ws_->async_write(asio::buffer(hello), redirect_error(use_awaitable, ec));
    if (ec) co_return ConnectionError(ec, "while sending hello");
    beast::flat_buffer buffer;
    co_await ws_->async_read(buffer, redirect_error(use_awaitable, ec));
    if (ec) co_return ConnectionError(ec, "after hello");
    const std::string first = beast::buffers_to_string(buffer.data());
    Verdict verdict = owner_.OnWelcome({.payload = first, .binary = ws_->got_binary()});
    if (verdict.close_code) co_return co_await CloseBeforeWelcome(std::move(verdict));
    // From here the WebSocket's own timers apply: the close handshake is bounded, and the
    // heartbeat loop detects a silent peer.
    beast::get_lowest_layer(*ws_).expires_never();
    websocket::stream_base::timeout t{};
    t.handshake_timeout = config_.target.timeout;
    t.idle_timeout = websocket::stream_base::none();
    t.keep_alive_pings = false;
    ws_->set_option(t);
    last_pong_ = std::chrono::steady_clock::now();
    ws_->control_callback([this](websocket::frame_type kind, beast::string_view) {
      if (kind == websocket::frame_type::pong) last_pong_ = std::chrono::steady_clock::now();
    });
    co_return Status::Ok();
  }

  // The owner refused the first frame: its last word, a close frame with its status, and the
  // peer's close (bounded by the connect timeout that still applies before welcome).
  asio::awaitable<Status> CloseBeforeWelcome(Verdict verdict) {
    error_code ec;
    if (!verdict.last_word.empty()) {
      ws_->text(true);
      co_await ws_->async_write(asio::buffer(verdict.last_word), redirect_error(use_awaitable, ec));
    }
    if (!ec) {
      co_await ws_->async_close(CloseReason(*verdict.close_code, verdict.why),
                                redirect_error(use_awaitable, ec));
    }
    beast::flat_buffer drain;
    while (!ec) co_await ws_->async_read(drain, redirect_error(use_awaitable, ec));
    co_return verdict.why;
  }

  static websocket::close_reason CloseReason(std::uint16_t code, const Status& why) {
    // The close frame's reason is at most 123 bytes; the full text is in the log.
    std::string text = why.message().substr(0, 120);
    websocket::close_reason reason(text);
    reason.code = code;
    return reason;
  }

  // The owner ended the connection: stop handing frames to it, write what is queued and its
  // last word, then the close frame (WriteLoop), and wait for the peer's close (ReadLoop).
  void BeginRefusalClose(Verdict verdict) {
    if (closing_) return;
    closing_ = true;
    close_code_ = *verdict.close_code;
    last_word_ = std::move(verdict.last_word);
    close_why_ = std::move(verdict.why);
    wake_.cancel();
    ping_timer_.cancel();
  }

  asio::awaitable<Status> ReadLoop() {
    beast::flat_buffer buffer;
    for (;;) {
      buffer.clear();
      error_code ec;
      co_await ws_->async_read(buffer, redirect_error(use_awaitable, ec));
      if (ec) {
        if (closing_ && ec == websocket::error::closed) co_return close_why_;
        // A connection this side is closing for a refused frame ended for that reason, however
        // the cloud took it.
        if (closing_ && !close_why_.ok()) co_return close_why_;
        co_return ConnectionError(ec, "");
      }
      // Once closing (Stop, or a refused frame), nothing more is taken from the cloud.
      if (closing_) continue;
      const std::string payload = beast::buffers_to_string(buffer.data());
      Verdict verdict = owner_.OnFrame({.payload = payload, .binary = ws_->got_binary()});
      if (verdict.close_code) BeginRefusalClose(std::move(verdict));
    }
  }

  asio::awaitable<bool> Write(const std::string& frame) {
    error_code ec;
    ws_->text(true);
    write_started_ = std::chrono::steady_clock::now();
    writing_ = true;
    co_await ws_->async_write(asio::buffer(frame), redirect_error(use_awaitable, ec));
    writing_ = false;
    if (ec) End(ConnectionError(ec, "while writing"));
    co_return !ec;
  }

  asio::awaitable<void> WriteLoop() {
    while (!ended_) {
      if (std::optional<std::string> frame = owner_.PopOutgoing()) {
        if (!co_await Write(*frame)) co_return;
        continue;
      }
      if (closing_) {
        if (!last_word_.empty() && !co_await Write(std::exchange(last_word_, ""))) co_return;
        co_await PingSettled();  // Beast allows one ping or close at a time
        if (ended_) co_return;
        error_code ec;
        co_await ws_->async_close(CloseReason(close_code_, close_why_),
                                  redirect_error(use_awaitable, ec));
        if (ec && !ended_) End(ConnectionError(ec, "while closing"));
        co_return;  // the read loop receives the cloud's close frame
      }
      error_code ec;
      wake_.expires_at(asio::steady_timer::time_point::max());
      co_await wake_.async_wait(redirect_error(use_awaitable, ec));
    }
  }

  asio::awaitable<void> PingSettled() {
    while (ping_in_flight_ && !ended_) {
      error_code ec;
      ping_done_.expires_at(asio::steady_timer::time_point::max());
      co_await ping_done_.async_wait(redirect_error(use_awaitable, ec));
    }
  }

  // Pings, and watches for a dead peer, until the connection ends. While closing it only
  // watches: a close whose frames the cloud does not read is bounded the same way.
  asio::awaitable<void> PingLoop() {
    const auto interval = config_.heartbeat_interval;
    const auto dead_after = interval * config_.dead_after_missed_pongs;
    while (!ended_) {
      error_code ec;
      ping_timer_.expires_after(interval);
      co_await ping_timer_.async_wait(redirect_error(use_awaitable, ec));
      if (ended_) co_return;
      const auto now = std::chrono::steady_clock::now();
      const std::string limits =
          SecondsText(std::chrono::duration_cast<std::chrono::milliseconds>(dead_after)) +
          " (cloud.heartbeat_interval " + SecondsText(interval) + ", " +
          std::to_string(config_.dead_after_missed_pongs) + " missed)";
      if (writing_ && now - write_started_ >= dead_after) {
        End(Unavailable("dead peer: the cloud stopped reading; a write did not complete in " +
                        limits));
        co_return;
      }
      if (closing_) continue;
      if (now - last_pong_ >= dead_after) {
        End(Unavailable("dead peer: the cloud answered no WebSocket ping for " + limits));
        co_return;
      }
      SendPing();
    }
  }

  // Not awaited: a ping waits behind a write in progress, and the loop above must keep
  // watching the clock while it does.
  void SendPing() {
    if (ping_in_flight_) return;
    ping_in_flight_ = true;
    ws_->async_ping({}, [self = shared_from_this()](const error_code& ec) {
      self->ping_in_flight_ = false;
      self->ping_done_.cancel();
      if (ec && !self->ended_ && !self->closing_) {
        self->End(self->ConnectionError(ec, "while sending a ping"));
      }
    });
  }

  asio::io_context& ioc_;
  SessionConfig config_;
  SessionOwner& owner_;
  std::unique_ptr<asio::ssl::context> ctx_;
  VerifyState verify_;  // declared before ws_: the SSL object points at it
  std::unique_ptr<Ws> ws_;
  asio::steady_timer wake_;
  asio::steady_timer ping_timer_;
  asio::steady_timer ping_done_;
  asio::steady_timer loops_done_;
  std::chrono::steady_clock::time_point last_pong_{};
  std::chrono::steady_clock::time_point write_started_{};
  int loops_running_ = 0;
  bool established_ = false;
  bool closing_ = false;
  bool writing_ = false;
  bool ping_in_flight_ = false;
  std::uint16_t close_code_ = websocket::close_code::normal;
  std::string last_word_;  // the owner's `error` frame before a refusal close
  Status close_why_;       // Run()'s result after a close this side began
  bool ended_ = false;
  Status final_;
};

}  // namespace

std::shared_ptr<Session> Session::Create(asio::io_context& ioc, SessionConfig config,
                                         SessionOwner& owner) {
  return std::make_shared<SessionImpl>(ioc, std::move(config), owner);
}

}  // namespace wb::channel::internal
