#include "tests/protocol/scripted_peer.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <thread>

namespace wb::testing {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
namespace websocket = beast::websocket;
using asio::redirect_error;
using asio::use_awaitable;
using asio::ip::tcp;
using boost::system::error_code;
using Ws = websocket::stream<beast::ssl_stream<beast::tcp_stream>>;
using Clock = std::chrono::steady_clock;

constexpr std::string_view kSubprotocol = "wbagent.v1";
constexpr std::chrono::seconds kHandshakeTimeout{5};
constexpr milliseconds kSendTimeout{5000};
constexpr int kAbnormalClosure = 1006;  // RFC 6455 7.4.1: no close frame was received

// A bounded wait on a queue filled by the I/O thread.
template <typename T>
class Mailbox {
 public:
  void Push(T item) {
    {
      std::lock_guard lock(mu_);
      items_.push_back(std::move(item));
    }
    cv_.notify_all();
  }
  std::optional<T> Pop(milliseconds timeout) {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, timeout, [&] { return !items_.empty(); })) return std::nullopt;
    T item = std::move(items_.front());
    items_.pop_front();
    return item;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<T> items_;
};

// Runs `op` (an awaitable<error_code>) on the I/O thread and waits for it, bounded.
template <typename Op>
Status RunOnIo(asio::io_context& ioc, Op op, std::string_view what) {
  auto done = std::make_shared<std::promise<error_code>>();
  std::future<error_code> result = done->get_future();
  asio::co_spawn(ioc, std::move(op), [done](std::exception_ptr e, error_code ec) {
    done->set_value(e ? make_error_code(boost::system::errc::io_error) : ec);
  });
  if (result.wait_for(kSendTimeout) != std::future_status::ready) {
    return Status(Code::kTimeout, std::string(what) + ": not done within 5 s");
  }
  const error_code ec = result.get();
  return ec ? Unavailable(std::string(what) + ": " + ec.message()) : Status::Ok();
}

class ConnectionImpl final : public PeerConnection,
                             public std::enable_shared_from_this<ConnectionImpl> {
 public:
  ConnectionImpl(asio::io_context& ioc, tcp::socket socket, ssl::context& ctx,
                 BackgroundFilter background)
      : ioc_(ioc),
        ws_(beast::tcp_stream(std::move(socket)), ctx),
        accepted_at_(Clock::now()),
        background_(std::move(background)) {}

  // TLS (the client certificate is verified by the context), then the HTTP upgrade.
  asio::awaitable<Status> Handshake(bool select_subprotocol) {
    auto self = shared_from_this();
    beast::get_lowest_layer(ws_).expires_after(kHandshakeTimeout);
    error_code ec;
    co_await ws_.next_layer().async_handshake(ssl::stream_base::server,
                                              redirect_error(use_awaitable, ec));
    if (ec) co_return Unavailable("TLS handshake: " + ec.message());
    beast::flat_buffer buffer;
    http::request<http::string_body> upgrade;
    co_await http::async_read(ws_.next_layer(), buffer, upgrade, redirect_error(use_awaitable, ec));
    if (ec) co_return Unavailable("upgrade request: " + ec.message());
    if (!websocket::is_upgrade(upgrade)) co_return Unavailable("not a WebSocket upgrade");
    offered_ = std::string(upgrade[http::field::sec_websocket_protocol]);
    PrepareWebSocket(select_subprotocol && offered_.find(kSubprotocol) != std::string::npos);
    co_await ws_.async_accept(upgrade, redirect_error(use_awaitable, ec));
    if (ec) co_return Unavailable("WebSocket accept: " + ec.message());
    co_return Status::Ok();
  }

  // Reads until the connection ends, so that pings are answered and closes are seen.
  asio::awaitable<void> ReadLoop() {
    auto self = shared_from_this();
    for (;;) {
      beast::flat_buffer buffer;
      error_code ec;
      co_await ws_.async_read(buffer, redirect_error(use_awaitable, ec));
      if (ec) {
        if (!stopped_reading_) inbox_.Push(CloseFrame(ec));
        co_return;
      }
      PeerFrame frame{.kind = ws_.got_binary() ? PeerFrame::Kind::kBinary : PeerFrame::Kind::kText,
                      .payload = beast::buffers_to_string(buffer.data()),
                      .at = Clock::now()};
      if (frame.kind == PeerFrame::Kind::kText && background_ && background_(frame.payload)) {
        {
          std::lock_guard lock(background_mu_);
          last_background_ = frame.payload;
        }
        ++background_frames_;
        continue;
      }
      inbox_.Push(std::move(frame));
    }
  }

  std::optional<PeerFrame> ReadFrame(milliseconds timeout) override { return inbox_.Pop(timeout); }

  Status SendText(std::string raw) override { return SendMessage(std::move(raw), false); }
  Status SendBinary(std::string raw) override { return SendMessage(std::move(raw), true); }

  Status SendRawBytes(std::string raw) override {
    auto self = shared_from_this();
    return RunOnIo(
        ioc_,
        [self, raw = std::move(raw)]() -> asio::awaitable<error_code> {
          error_code ec;
          co_await asio::async_write(self->ws_.next_layer(), asio::buffer(raw),
                                     redirect_error(use_awaitable, ec));
          co_return ec;
        },
        "raw write");
  }

  Status Close(std::uint16_t code) override {
    auto self = shared_from_this();
    return RunOnIo(
        ioc_,
        [self, code]() -> asio::awaitable<error_code> {
          error_code ec;
          co_await self->ws_.async_close(websocket::close_reason(code),
                                         redirect_error(use_awaitable, ec));
          co_return ec;
        },
        "close");
  }

  void StopReading() override {
    auto self = shared_from_this();
    asio::post(ioc_, [self] {
      self->stopped_reading_ = true;
      error_code ignored;
      beast::get_lowest_layer(self->ws_).socket().cancel(ignored);
    });
  }

  std::string offered_subprotocols() const override { return offered_; }
  int pings() const override { return pings_.load(); }
  int background_frames() const override { return background_frames_.load(); }
  std::string last_background_frame() const override {
    std::lock_guard lock(background_mu_);
    return last_background_;
  }
  Clock::time_point accepted_at() const override { return accepted_at_; }

 private:
  void PrepareWebSocket(bool select) {
    beast::get_lowest_layer(ws_).expires_never();
    websocket::stream_base::timeout t{};
    t.handshake_timeout = kHandshakeTimeout;
    t.idle_timeout = websocket::stream_base::none();
    t.keep_alive_pings = false;
    ws_.set_option(t);
    ws_.set_option(websocket::stream_base::decorator([select](websocket::response_type& res) {
      if (select) res.set(http::field::sec_websocket_protocol, std::string(kSubprotocol));
    }));
    // The peer reads anything (limits are the agent's to enforce) and sends each message as
    // one frame, as section 2 requires.
    ws_.read_message_max(std::size_t{1} << 24);
    ws_.auto_fragment(false);
    ws_.control_callback([this](websocket::frame_type kind, beast::string_view) {
      if (kind == websocket::frame_type::ping) ++pings_;
    });
  }

  PeerFrame CloseFrame(const error_code& ec) const {
    PeerFrame f{.kind = PeerFrame::Kind::kClose, .at = Clock::now()};
    if (ec == websocket::error::closed) {
      f.close_code = ws_.reason().code;
      f.payload = std::string(ws_.reason().reason.c_str());
    } else {
      f.close_code = kAbnormalClosure;
      f.payload = ec.message();
    }
    return f;
  }

  Status SendMessage(std::string raw, bool binary) {
    auto self = shared_from_this();
    return RunOnIo(
        ioc_,
        [self, binary, raw = std::move(raw)]() -> asio::awaitable<error_code> {
          error_code ec;
          self->ws_.binary(binary);
          co_await self->ws_.async_write(asio::buffer(raw), redirect_error(use_awaitable, ec));
          co_return ec;
        },
        binary ? "binary write" : "text write");
  }

  asio::io_context& ioc_;
  Ws ws_;
  Clock::time_point accepted_at_;
  std::string offered_;           // written before the connection is handed to the test
  bool stopped_reading_ = false;  // I/O thread only
  std::atomic<int> pings_{0};
  const BackgroundFilter background_;
  std::atomic<int> background_frames_{0};
  mutable std::mutex background_mu_;
  std::string last_background_;  // guarded by background_mu_
  Mailbox<PeerFrame> inbox_;
};

class PeerImpl final : public ScriptedPeer {
 public:
  PeerImpl() : ctx_(ssl::context::tls_server), acceptor_(ioc_) {}

  ~PeerImpl() override {
    asio::post(ioc_, [this] {
      error_code ignored;
      acceptor_.close(ignored);
    });
    ioc_.stop();
    if (thread_.joinable()) thread_.join();
  }

  Status Init(const TestCa& ca) {
    auto server = ca.IssueServer("scripted-peer");
    if (!server.ok()) return server.error();
    error_code ec;
    ctx_.use_certificate_chain_file(server->cert.string(), ec);
    if (!ec) ctx_.use_private_key_file(server->key.string(), ssl::context::pem, ec);
    if (!ec) ctx_.load_verify_file(ca.cert().string(), ec);
    if (ec) return Internal("peer TLS context: " + ec.message());
    ctx_.set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
    const tcp::endpoint local(asio::ip::make_address("127.0.0.1"), 0);
    acceptor_.open(local.protocol(), ec);
    if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor_.bind(local, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return Internal("peer listen: " + ec.message());
    port_ = acceptor_.local_endpoint().port();
    asio::co_spawn(ioc_, AcceptLoop(), asio::detached);
    thread_ = std::thread([this] { ioc_.run(); });
    return Status::Ok();
  }

  int port() const override { return port_; }

  std::shared_ptr<PeerConnection> Accept(milliseconds timeout) override {
    return accepted_.Pop(timeout).value_or(nullptr);
  }

  void SelectSubprotocol(bool select) override { select_subprotocol_ = select; }
  void SetBackgroundFilter(BackgroundFilter filter) override {
    std::lock_guard lock(filter_mu_);
    background_ = std::move(filter);
  }
  int failed_handshakes() const override { return failed_handshakes_.load(); }

 private:
  asio::awaitable<void> AcceptLoop() {
    for (;;) {
      error_code ec;
      tcp::socket socket = co_await acceptor_.async_accept(redirect_error(use_awaitable, ec));
      if (ec == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
      if (ec) continue;
      BackgroundFilter background;
      {
        std::lock_guard lock(filter_mu_);
        background = background_;
      }
      auto connection =
          std::make_shared<ConnectionImpl>(ioc_, std::move(socket), ctx_, std::move(background));
      asio::co_spawn(ioc_, Serve(connection), asio::detached);
    }
  }

  asio::awaitable<void> Serve(std::shared_ptr<ConnectionImpl> connection) {
    Status s = co_await connection->Handshake(select_subprotocol_.load());
    if (!s.ok()) {
      ++failed_handshakes_;
      co_return;
    }
    accepted_.Push(connection);
    co_await connection->ReadLoop();
  }

  asio::io_context ioc_;
  ssl::context ctx_;
  tcp::acceptor acceptor_;
  int port_ = 0;
  std::atomic<bool> select_subprotocol_{true};
  std::mutex filter_mu_;
  BackgroundFilter background_;  // guarded by filter_mu_
  std::atomic<int> failed_handshakes_{0};
  Mailbox<std::shared_ptr<PeerConnection>> accepted_;
  std::thread thread_;
};

}  // namespace

std::optional<int> PeerConnection::ExpectClose(milliseconds timeout,
                                               std::vector<PeerFrame>* before) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return std::nullopt;
    std::optional<PeerFrame> f = ReadFrame(left);
    if (!f) return std::nullopt;
    if (f->kind == PeerFrame::Kind::kClose) return f->close_code;
    if (before != nullptr) before->push_back(std::move(*f));
  }
}

Result<std::unique_ptr<ScriptedPeer>> ScriptedPeer::Start(const TestCa& ca) {
  auto peer = std::make_unique<PeerImpl>();
  WB_RETURN_IF_ERROR(peer->Init(ca));
  return std::unique_ptr<ScriptedPeer>(std::move(peer));
}

}  // namespace wb::testing
