#include "tests/channel/scripted_agent.h"

#include <openssl/ssl.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <exception>

namespace wb::testing {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
namespace websocket = beast::websocket;
using asio::redirect_error;
using asio::use_awaitable;
using boost::system::error_code;

using WebSocket = websocket::stream<ssl::stream<beast::tcp_stream>>;

// The name wbcloud's server certificate carries (besides 127.0.0.1).
constexpr const char* kServerName = "localhost";

Status Failed(const std::string& what, const error_code& ec) {
  return Unavailable(what + ": " + ec.message());
}

void AppendLength(std::string& frame, std::size_t n) {
  constexpr unsigned char kMasked = 0x80;
  if (n < 126) {
    frame.push_back(static_cast<char>(kMasked | n));
    return;
  }
  const int bytes = n <= 0xffff ? 2 : 8;
  frame.push_back(static_cast<char>(kMasked | (bytes == 2 ? 126 : 127)));
  for (int i = bytes - 1; i >= 0; --i) frame.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
}

}  // namespace

std::string MaskedFrame(std::uint8_t opcode, std::string_view payload) {
  std::string frame(1, static_cast<char>(0x80 | opcode));  // FIN: the whole message
  AppendLength(frame, payload.size());
  // Any key will do: the cloud must unmask what it gets.
  constexpr char kMask[4] = {0x12, 0x34, 0x56, 0x78};
  frame.append(kMask, sizeof kMask);
  for (std::size_t i = 0; i < payload.size(); ++i)
    frame.push_back(static_cast<char>(payload[i] ^ kMask[i % 4]));
  return frame;
}

struct ScriptedAgent::Impl {
  explicit Impl(ScriptedAgentOptions o) : options(std::move(o)) {}

  // Runs `op` on this agent's own io_context for at most the timeout. Past it, the socket is
  // closed, so that the operation ends with an error instead of hanging the test.
  template <typename T>
  T Drive(asio::awaitable<T> op) {
    std::optional<T> out;
    std::exception_ptr failure;
    asio::co_spawn(ioc, std::move(op), [&](std::exception_ptr e, T value) {
      failure = e;
      out = std::move(value);
    });
    ioc.restart();
    ioc.run_for(options.timeout);
    if (!out) {
      error_code ignored;
      if (ws) beast::get_lowest_layer(*ws).socket().close(ignored);
      ioc.restart();
      ioc.run();
    }
    if (failure) std::rethrow_exception(failure);
    return std::move(*out);
  }

  Status MakeStream() {
    error_code ec;
    tls.set_verify_mode(ssl::verify_peer, ec);
    if (!ec) tls.load_verify_file(options.ca_file.string(), ec);
    if (!ec) tls.use_certificate_chain_file(options.cert.string(), ec);
    if (!ec) tls.use_private_key_file(options.key.string(), ssl::context::pem, ec);
    if (ec) return Failed("the client TLS context", ec);
    ws.emplace(ioc, tls);  // after the context is complete: SSL_new copies what it holds
    SSL_set_tlsext_host_name(ws->next_layer().native_handle(), kServerName);
    ws->next_layer().set_verify_callback(ssl::host_name_verification(kServerName));
    ws->set_option(websocket::stream_base::decorator([](websocket::request_type& req) {
      req.set(http::field::sec_websocket_protocol, "wbagent.v1");
    }));
    ws->auto_fragment(false);  // one message, one frame: the bytes the test gave
    return Status::Ok();
  }

  asio::awaitable<Status> Connect() {
    error_code ec;
    const asio::ip::tcp::endpoint cloud(asio::ip::make_address("127.0.0.1"),
                                        static_cast<unsigned short>(options.port));
    co_await beast::get_lowest_layer(*ws).async_connect(cloud, redirect_error(use_awaitable, ec));
    if (ec) co_return Failed("connect", ec);
    co_await ws->next_layer().async_handshake(ssl::stream_base::client,
                                              redirect_error(use_awaitable, ec));
    if (ec) co_return Failed("the TLS handshake", ec);
    websocket::response_type res;
    co_await ws->async_handshake(res, "localhost:" + std::to_string(options.port), "/agent",
                                 redirect_error(use_awaitable, ec));
    upgrade_status = res.result_int();
    if (ec) co_return Failed("the upgrade (HTTP " + std::to_string(upgrade_status) + ")", ec);
    co_return Status::Ok();
  }

  asio::awaitable<Status> Send(std::string payload, bool binary) {
    error_code ec;
    ws->binary(binary);
    co_await ws->async_write(asio::buffer(payload), redirect_error(use_awaitable, ec));
    co_return ec ? Failed("write", ec) : Status::Ok();
  }

  asio::awaitable<Status> SendRaw(std::string bytes) {
    error_code ec;
    co_await asio::async_write(ws->next_layer(), asio::buffer(bytes),
                               redirect_error(use_awaitable, ec));
    co_return ec ? Failed("raw write", ec) : Status::Ok();
  }

  // One message into `last`; a close frame from the cloud ends it with websocket::error::closed.
  asio::awaitable<error_code> ReadOne() {
    beast::flat_buffer buffer;
    error_code ec;
    co_await ws->async_read(buffer, redirect_error(use_awaitable, ec));
    last = ec ? "" : beast::buffers_to_string(buffer.data());
    co_return ec;
  }

  asio::awaitable<Status> Read() {
    const error_code ec = co_await ReadOne();
    co_return ec ? Failed("read", ec) : Status::Ok();
  }

  asio::awaitable<CloudClose> ReadUntilClosed() {
    CloudClose result;
    error_code ec;
    while (!(ec = co_await ReadOne())) result.messages.push_back(last);
    if (ec == websocket::error::closed) {
      result.code = ws->reason().code;
      result.reason = ws->reason().reason.c_str();
    }
    result.end = Failed("read", ec);
    co_return result;
  }

  ScriptedAgentOptions options;
  asio::io_context ioc;
  ssl::context tls{ssl::context::tls_client};
  std::optional<WebSocket> ws;
  unsigned upgrade_status = 0;
  std::string last;
};

ScriptedAgent::ScriptedAgent(ScriptedAgentOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}

ScriptedAgent::~ScriptedAgent() = default;

Status ScriptedAgent::Connect() {
  if (Status made = impl_->MakeStream(); !made.ok()) return made;
  return impl_->Drive(impl_->Connect());
}

unsigned ScriptedAgent::upgrade_status() const { return impl_->upgrade_status; }

Status ScriptedAgent::SendText(std::string_view payload) {
  return impl_->Drive(impl_->Send(std::string(payload), /*binary=*/false));
}

Status ScriptedAgent::SendBinary(std::string_view payload) {
  return impl_->Drive(impl_->Send(std::string(payload), /*binary=*/true));
}

Status ScriptedAgent::SendRaw(std::string_view bytes) {
  return impl_->Drive(impl_->SendRaw(std::string(bytes)));
}

Result<std::string> ScriptedAgent::Read() {
  if (Status read = impl_->Drive(impl_->Read()); !read.ok()) return read;
  return impl_->last;
}

CloudClose ScriptedAgent::ReadUntilClosed() { return impl_->Drive(impl_->ReadUntilClosed()); }

}  // namespace wb::testing
