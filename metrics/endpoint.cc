// The HTTP endpoint (metrics.h): one thread running one io_context, which sleeps in epoll
// until a client connects. Connections are served one after the other, each bounded in size
// and in time.

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <thread>

#include "metrics/metrics.h"

namespace wb::metrics {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

using Response = http::response<http::string_body>;

Response TextResponse(http::status status, std::string body,
                      std::string_view content_type = "text/plain; charset=utf-8") {
  Response res{status, 11};
  res.set(http::field::content_type, beast::string_view(content_type.data(), content_type.size()));
  res.set(http::field::cache_control, "no-store");
  res.keep_alive(false);
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

}  // namespace

class Endpoint::Impl {
 public:
  Impl(Options options, Source source)
      : options_(std::move(options)), source_(std::move(source)), acceptor_(ioc_) {}

  Status Listen() {
    boost::system::error_code ec;
    const auto address = asio::ip::make_address(options_.address, ec);
    if (ec) {
      std::string why = "metrics.listen: not an IP address: ";
      why += options_.address;
      return InvalidArgument(std::move(why));
    }
    const tcp::endpoint where(address, options_.port);
    std::string what = "metrics.listen ";
    what += options_.address;
    what += ':';
    what += std::to_string(options_.port);
    what += ": cannot listen: ";
    if (acceptor_.open(where.protocol(), ec); ec) return Unavailable(what + ec.message());
    if (acceptor_.set_option(tcp::acceptor::reuse_address(true), ec); ec) {
      return Unavailable(what + ec.message());
    }
    if (acceptor_.bind(where, ec); ec) return Unavailable(what + ec.message());
    if (acceptor_.listen(asio::socket_base::max_listen_connections, ec); ec) {
      return Unavailable(what + ec.message());
    }
    port_ = acceptor_.local_endpoint().port();
    return Status::Ok();
  }

  void Run() {
    asio::co_spawn(ioc_, Serve(), asio::detached);
    thread_ = std::thread([this] { ioc_.run(); });
  }

  void Stop() {
    if (!thread_.joinable()) return;
    ioc_.stop();
    thread_.join();
    // The thread is gone: closing here races with nothing, and refuses new connections.
    boost::system::error_code ignored;
    acceptor_.close(ignored);
  }

  std::uint16_t port() const { return port_; }

 private:
  asio::awaitable<void> Serve() {
    for (;;) {
      boost::system::error_code ec;
      tcp::socket socket =
          co_await acceptor_.async_accept(asio::redirect_error(asio::use_awaitable, ec));
      if (ec == asio::error::operation_aborted) co_return;
      if (ec) {
        // E.g. out of file descriptors: wait a little rather than spin on the error.
        asio::steady_timer pause(ioc_, std::chrono::milliseconds(100));
        co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        continue;
      }
      co_await ServeOne(std::move(socket));
    }
  }

  asio::awaitable<void> ServeOne(tcp::socket socket) {
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer(options_.max_request_bytes);
    http::request_parser<http::empty_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(options_.max_request_bytes));
    parser.body_limit(0);
    stream.expires_after(options_.read_timeout);
    boost::system::error_code read_error;
    (void)co_await http::async_read(stream, buffer, parser,
                                    asio::redirect_error(asio::use_awaitable, read_error));
    Response res;
    if (read_error == http::error::header_limit || read_error == http::error::buffer_overflow) {
      res = TextResponse(http::status::request_header_fields_too_large, "request too large\n");
    } else if (read_error == beast::error::timeout || read_error == http::error::end_of_stream ||
               read_error == asio::error::connection_reset || read_error == asio::error::eof) {
      co_return;  // nobody to answer
    } else if (read_error) {
      res = TextResponse(http::status::bad_request, "bad request\n");
    } else {
      res = Answer(parser.get());
    }
    stream.expires_after(options_.write_timeout);
    boost::system::error_code ignored;
    (void)co_await http::async_write(stream, res,
                                     asio::redirect_error(asio::use_awaitable, ignored));
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  }

  Response Answer(const http::request<http::empty_body>& req) {
    if (req.method() != http::verb::get && req.method() != http::verb::head) {
      Response res = TextResponse(http::status::method_not_allowed, "only GET and HEAD\n");
      res.set(http::field::allow, "GET, HEAD");
      return res;
    }
    // The path alone: a query string changes nothing.
    const beast::string_view raw = req.target();
    std::string_view target(raw.data(), raw.size());
    target = target.substr(0, target.find('?'));
    Response res;
    try {
      res = Route(target);
    } catch (const std::exception& e) {
      // The endpoint outlives a failed snapshot (e.g. out of memory): the next scrape may work.
      std::string why = "cannot take a snapshot: ";
      why += e.what();
      why += '\n';
      res = TextResponse(http::status::internal_server_error, std::move(why));
    }
    if (req.method() == http::verb::head) {
      const auto length = res.body().size();
      res.body().clear();
      res.content_length(length);
    }
    return res;
  }

  Response Route(std::string_view target) {
    if (target == "/metrics") {
      return TextResponse(http::status::ok, RenderText(source_()),
                          "text/plain; version=0.0.4; charset=utf-8");
    }
    if (target == "/healthz") return TextResponse(http::status::ok, "ok\n");
    if (target == "/readyz") {
      const Readiness r = ReadinessOf(source_());
      return TextResponse(r.ready ? http::status::ok : http::status::service_unavailable, r.why);
    }
    return TextResponse(http::status::not_found, "not found: /metrics, /healthz, /readyz\n");
  }

  const Options options_;
  const Source source_;
  asio::io_context ioc_{1};
  tcp::acceptor acceptor_;
  std::uint16_t port_ = 0;
  std::thread thread_;
};

Result<std::unique_ptr<Endpoint>> Endpoint::Start(Options options, Source source) {
  auto impl = std::make_unique<Impl>(std::move(options), std::move(source));
  WB_RETURN_IF_ERROR(impl->Listen());
  impl->Run();
  return std::unique_ptr<Endpoint>(new Endpoint(std::move(impl)));
}

Endpoint::Endpoint(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Endpoint::~Endpoint() { Stop(); }
std::uint16_t Endpoint::port() const { return impl_->port(); }
void Endpoint::Stop() { impl_->Stop(); }

}  // namespace wb::metrics
