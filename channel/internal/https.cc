#include "channel/internal/https.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <exception>

#include "channel/internal/connect.h"
#include "common/log_escape.h"
#include "common/secret.h"

namespace wb::channel::internal {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::redirect_error;
using asio::use_awaitable;
using boost::system::error_code;

asio::awaitable<Result<HttpResponse>> Post(const ConnectTarget& connect, const TlsSettings& tls,
                                           std::string_view target, std::string_view body) {
  auto ex = co_await asio::this_coro::executor;
  auto ctx = MakeClientContext(tls);
  if (!ctx.ok()) co_return ctx.error();
  VerifyState verify;
  verify.settings = tls;
  TlsStream stream(ex, **ctx);
  Status s = co_await ConnectTls(stream, connect, verify);
  if (!s.ok()) co_return s;
  const std::string host = HostPortText(connect.server);

  http::request<http::string_body> req{http::verb::post, std::string(target), 11};
  req.set(http::field::host, host);
  req.set(http::field::user_agent, connect.user_agent);
  req.set(http::field::content_type, "application/json");
  req.body().assign(body.data(), body.size());
  req.prepare_payload();
  error_code ec;
  co_await http::async_write(stream, req, redirect_error(use_awaitable, ec));
  WipeBytes(req.body().data(), req.body().size());
  if (ec) co_return TransportError(ec, "sending the request to", host, connect.timeout);

  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(1024 * 1024);
  co_await http::async_read(stream, buffer, parser, redirect_error(use_awaitable, ec));
  if (ec && ec.category() == asio::error::get_ssl_category()) {
    co_return TlsError(ec, verify.record, tls, "HTTPS request");
  }
  if (ec) co_return TransportError(ec, "reading the answer of", host, connect.timeout);
  HttpResponse out;
  out.status = parser.get().result_int();
  out.reason = EscapeForLog(
      std::string_view(parser.get().reason().data(), parser.get().reason().size()), 100);
  out.body = std::move(parser.get().body());
  error_code ignored;
  stream.next_layer().expires_after(std::chrono::seconds(1));
  co_await stream.async_shutdown(redirect_error(use_awaitable, ignored));
  co_return out;
}

// co_spawn needs a default-constructible result; this one reports through `out`.
asio::awaitable<void> PostInto(Result<HttpResponse>* out, const ConnectTarget& connect,
                               const TlsSettings& tls, std::string_view target,
                               std::string_view body) {
  *out = co_await Post(connect, tls, target, body);
}

}  // namespace

Result<HttpResponse> HttpsPost(const ConnectTarget& connect, const TlsSettings& tls,
                               std::string_view target, std::string_view body) {
  asio::io_context ioc;
  Result<HttpResponse> result = Internal("HTTPS request did not run");
  asio::co_spawn(ioc, PostInto(&result, connect, tls, target, body),
                 [&result](std::exception_ptr e) {
                   if (!e) return;
                   try {
                     std::rethrow_exception(e);
                   } catch (const std::exception& ex) {
                     result = Internal(std::string("HTTPS request failed: ") + ex.what());
                   }
                 });
  ioc.run();
  return result;
}

}  // namespace wb::channel::internal
