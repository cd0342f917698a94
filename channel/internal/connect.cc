#include "channel/internal/connect.h"

#include <openssl/evp.h>

#include <boost/asio/error.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <memory>

#include "common/log_escape.h"
#include "common/secret.h"
#include "common/secure_memory.h"

namespace wb::channel::internal {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;
using boost::system::error_code;

std::string SecondsText(std::chrono::milliseconds d) {
  return std::to_string((d.count() + 999) / 1000) + " s";
}

// "user:password" in base64 (RFC 7617), appended to `out`. Every buffer that holds the
// password, plain or encoded, is secure memory: base64 hides nothing.
void AppendBasicCredentials(std::string_view user, const Secret& password, SecureString& out) {
  SecureString plain = MakeSecureString(user.size() + 1 + password.size());
  plain += user;
  plain += ':';
  plain += password.view();
  SecureString encoded = MakeSecureString(4 * ((plain.size() + 2) / 3) + 1);
  encoded.resize(encoded.capacity());
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(encoded.data()),
                                reinterpret_cast<const unsigned char*>(plain.data()),
                                static_cast<int>(plain.size()));
  out.append(encoded.data(), static_cast<std::size_t>(n));
}

// The CONNECT request, with Proxy-Authorization when the proxy names a user. The password
// file is read per attempt (it may be rotated) into secure memory, and the request is too.
Result<SecureString> ConnectRequest(const config::ProxyConfig& proxy, const std::string& target,
                                    const std::string& user_agent) {
  constexpr std::size_t kAllowance = 256;  // the fixed text and the base64 growth
  SecureString request = MakeSecureString(2 * target.size() + user_agent.size() + kAllowance);
  request += "CONNECT " + target + " HTTP/1.1\r\nHost: " + target +
             "\r\nUser-Agent: " + user_agent + "\r\n";
  if (proxy.user && proxy.password_file) {
    Result<Secret> password = ReadSecretFile(*proxy.password_file);
    if (!password.ok()) return password.error().WithContext("cloud.proxy_password_file");
    request.reserve(request.size() + 2 * (proxy.user->size() + password->size()) + kAllowance);
    request += "Proxy-Authorization: Basic ";
    AppendBasicCredentials(*proxy.user, *password, request);
    request += "\r\n";
  }
  request += "\r\n";
  return request;
}

// Resolution has no deadline of its own; a timer cancels it.
asio::awaitable<Result<tcp::resolver::results_type>> Resolve(const config::HostPort& hop,
                                                             std::string_view role,
                                                             std::chrono::milliseconds timeout) {
  auto ex = co_await asio::this_coro::executor;
  auto resolver = std::make_shared<tcp::resolver>(ex);
  asio::steady_timer timer(ex, timeout);
  timer.async_wait([resolver](const error_code& ec) {
    if (!ec) resolver->cancel();
  });
  error_code ec;
  auto results = co_await resolver->async_resolve(hop.host, std::to_string(hop.port),
                                                  asio::redirect_error(asio::use_awaitable, ec));
  timer.cancel();
  if (ec == asio::error::operation_aborted) {
    co_return Status(Code::kTimeout, "cannot resolve the " + std::string(role) + " host \"" +
                                         EscapeForLog(hop.host) + "\" within " +
                                         SecondsText(timeout));
  }
  if (ec) {
    co_return Unavailable("cannot resolve the " + std::string(role) + " host \"" +
                          EscapeForLog(hop.host) + "\": " + ec.message() +
                          " (check DNS on this host)");
  }
  co_return results;
}

std::string StatusLine(const http::response_parser<http::empty_body>& parser) {
  const auto& res = parser.get();
  const unsigned v = res.version();
  return "HTTP/" + std::to_string(v / 10) + "." + std::to_string(v % 10) + " " +
         std::to_string(res.result_int()) + " " +
         EscapeForLog(std::string_view(res.reason().data(), res.reason().size()), 100);
}

Status ProxyRefusal(const http::response_parser<http::empty_body>& parser,
                    const config::ProxyConfig& proxy, const std::string& proxy_name,
                    const std::string& target) {
  const unsigned code = parser.get().result_int();
  const std::string head = "proxy " + proxy_name + " (cloud.proxy) refused CONNECT to " + target +
                           ": " + StatusLine(parser);
  // 407 is the standard answer; some proxies (tinyproxy) answer wrong credentials with 401.
  if (code == 407 || code == 401) {
    if (proxy.user) {
      return PermissionDenied(head + ": it did not accept the password of user \"" +
                              EscapeForLog(*proxy.user) + "\" (check cloud.proxy_password_file)");
    }
    return PermissionDenied(head +
                            ": it wants credentials; set cloud.proxy to "
                            "http://USER@host:port and cloud.proxy_password_file");
  }
  if (code == 403) {
    return PermissionDenied(head + ": the proxy's rules do not allow CONNECT to " + target +
                            " (allow this host and port in the proxy's ACL)");
  }
  if (code >= 500) {
    return Unavailable(head + ": the proxy could not reach the cloud");
  }
  return Unavailable(head);
}

}  // namespace

Status TransportError(const error_code& ec, std::string_view what, std::string_view hop,
                      std::chrono::milliseconds timeout) {
  const std::string head = std::string(what) + " " + std::string(hop);
  if (ec == beast::error::timeout) {
    return Status(Code::kTimeout, head + ": no answer within " + SecondsText(timeout) +
                                      " (cloud.connect_timeout); a firewall may be dropping "
                                      "the traffic");
  }
  if (ec == asio::error::connection_refused) {
    return Unavailable(head + ": connection refused (nothing listens there)");
  }
  if (ec == asio::error::network_unreachable || ec == asio::error::host_unreachable) {
    return Unavailable(head + ": " + ec.message() + " (no route from this host)");
  }
  if (ec == asio::error::eof || ec == asio::error::connection_reset) {
    return Unavailable(head + ": the connection was closed by the peer");
  }
  return Unavailable(head + ": " + ec.message());
}

asio::awaitable<Status> ProxyConnect(beast::tcp_stream& stream, const config::ProxyConfig& proxy,
                                     const config::HostPort& server,
                                     const std::string& user_agent) {
  const std::string proxy_name = HostPortText(proxy.address);
  const std::string target = HostPortText(server);
  Result<SecureString> request = ConnectRequest(proxy, target, user_agent);
  if (!request.ok()) co_return request.error();
  error_code ec;
  co_await asio::async_write(stream, asio::buffer(request->data(), request->size()),
                             asio::redirect_error(asio::use_awaitable, ec));
  SecureString().swap(*request);  // freed, so wiped, now: the answer may take a while
  if (ec) co_return TransportError(ec, "sending CONNECT to proxy", proxy_name, {});

  beast::flat_buffer buffer;
  http::response_parser<http::empty_body> parser;
  parser.skip(true);  // a CONNECT response has no body we want; the tunnel follows
  parser.header_limit(16 * 1024);
  co_await http::async_read_header(stream, buffer, parser,
                                   asio::redirect_error(asio::use_awaitable, ec));
  if (ec == beast::error::timeout) {
    co_return Status(Code::kTimeout,
                     "proxy " + proxy_name + " (cloud.proxy) did not answer CONNECT in time");
  }
  if (ec == http::error::end_of_stream || ec == asio::error::eof ||
      ec == asio::error::connection_reset) {
    co_return Unavailable("proxy " + proxy_name +
                          " (cloud.proxy) closed the connection without answering CONNECT "
                          "(is it an HTTP proxy?)");
  }
  if (ec) {
    co_return Unavailable("proxy " + proxy_name +
                          " (cloud.proxy) sent an invalid answer to "
                          "CONNECT (" +
                          ec.message() + "); is it an HTTP proxy?");
  }
  const unsigned code = parser.get().result_int();
  if (code < 200 || code > 299) co_return ProxyRefusal(parser, proxy, proxy_name, target);
  if (buffer.size() != 0) {
    co_return Unavailable("proxy " + proxy_name +
                          " sent data after accepting CONNECT, before the TLS handshake");
  }
  co_return Status::Ok();
}

asio::awaitable<Status> ConnectTls(TlsStream& stream, const ConnectTarget& target,
                                   VerifyState& verify) {
  beast::tcp_stream& tcp = stream.next_layer();
  tcp.expires_after(target.timeout);
  const bool via_proxy = target.proxy.has_value();
  const config::HostPort& hop = via_proxy ? target.proxy->address : target.server;
  const std::string hop_name = HostPortText(hop);
  const std::string what = via_proxy ? "cannot connect to proxy" : "cannot connect to cloud";

  error_code ec;
  if (IsIpAddress(hop.host)) {
    tcp::endpoint endpoint(asio::ip::make_address(hop.host, ec), hop.port);
    co_await tcp.async_connect(endpoint, asio::redirect_error(asio::use_awaitable, ec));
  } else {
    auto resolved = co_await Resolve(hop, via_proxy ? "proxy" : "cloud", target.timeout);
    if (!resolved.ok()) co_return resolved.error();
    co_await tcp.async_connect(*resolved, asio::redirect_error(asio::use_awaitable, ec));
  }
  if (ec) {
    Status s = TransportError(ec, what, hop_name, target.timeout);
    co_return via_proxy ? Status(s.code(), s.message() + " (cloud.proxy)") : s;
  }
  // Every frame is one small message that the peer waits for: without this, Nagle holds a
  // `result` back until the peer's delayed ACK (about 40 ms on Linux), which capped the agent
  // at credits / 48 ms. A failure to set it costs speed only, so it is not an error.
  tcp.socket().set_option(tcp::no_delay(true), ec);
  ec.clear();
  if (via_proxy) {
    Status s = co_await ProxyConnect(tcp, *target.proxy, target.server, target.user_agent);
    if (!s.ok()) co_return s;
  }
  verify.record = VerifyRecord{};
  Status prepared = PrepareConnection(stream.native_handle(), verify);
  if (!prepared.ok()) co_return prepared;
  co_await stream.async_handshake(asio::ssl::stream_base::client,
                                  asio::redirect_error(asio::use_awaitable, ec));
  if (ec == beast::error::timeout) {
    co_return Status(Code::kTimeout, "TLS: no handshake with " + HostPortText(target.server) +
                                         " within " + SecondsText(target.timeout) +
                                         " (cloud.connect_timeout)");
  }
  if (ec) co_return TlsError(ec, verify.record, verify.settings, "TLS handshake");
  co_return Status::Ok();
}

}  // namespace wb::channel::internal
