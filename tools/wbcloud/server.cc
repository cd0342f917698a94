#include "tools/wbcloud/server.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <array>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <cstdio>

#include "common/log_escape.h"
#include "common/openssl_error.h"
#include "tools/wbcloud/ca.h"
#include "tools/wbcloud/enroll.h"
#include "tools/wbcloud/files.h"
#include "tools/wbcloud/server_context.h"

namespace wb::cloud {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using asio::redirect_error;
using asio::use_awaitable;
using asio::ip::tcp;
using boost::system::error_code;

int TlsVersion(config::TlsVersion v) {
  return v == config::TlsVersion::kTls13 ? TLS1_3_VERSION : TLS1_2_VERSION;
}

Result<std::unique_ptr<ssl::context>> MakeServerContext(const CloudState& state,
                                                        const ServeOptions& o) {
  auto ctx = std::make_unique<ssl::context>(ssl::context::tls_server);
  SSL_CTX* native = ctx->native_handle();
  SSL_CTX_set_min_proto_version(native, TlsVersion(o.min_tls));
  SSL_CTX_set_max_proto_version(native, TlsVersion(o.max_tls));
  SSL_CTX_set_options(native, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  const StatePaths& p = state.paths();
  auto key = protocol::EcPrivateKey::Load(p.server_key());
  if (!key.ok()) return key.error();
  if (SSL_CTX_use_certificate_chain_file(native, p.server_cert().c_str()) != 1 ||
      SSL_CTX_use_PrivateKey(native, key->native()) != 1 ||
      SSL_CTX_check_private_key(native) != 1) {
    return OpenSslError("cannot load the server certificate");
  }
  // Client certificates are asked for, verified against our CA, but optional at the TLS
  // layer: /enroll is reached without one, /agent refuses a connection without one.
  if (SSL_CTX_load_verify_locations(native, p.ca_cert().c_str(), nullptr) != 1) {
    return OpenSslError("cannot load the CA");
  }
  SSL_CTX_set_client_CA_list(native, SSL_load_client_CA_file(p.ca_cert().c_str()));
  SSL_CTX_set_verify(native, SSL_VERIFY_PEER | SSL_VERIFY_CLIENT_ONCE, nullptr);
  static const unsigned char kSessionContext[] = "wbcloud";
  SSL_CTX_set_session_id_context(native, kSessionContext, sizeof kSessionContext - 1);
  return ctx;
}

std::string UrlHost(const std::string& host) {
  if (host.empty() || host == "0.0.0.0") return "127.0.0.1";
  if (host == "::") return "[::1]";
  if (host.find(':') != std::string::npos) return "[" + host + "]";
  return host;
}

// Who is on the other end of /agent: the enrolled agent whose certificate was presented.
Result<std::string> IdentifyAgent(SSL* ssl, const CloudState& state) {
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (cert == nullptr) {
    return Status(Code::kPermissionDenied,
                  "client certificate required: enroll the agent "
                  "with `wbagent register` first");
  }
  if (SSL_get_verify_result(ssl) != X509_V_OK) {
    return Status(Code::kPermissionDenied, "client certificate not issued by this cloud");
  }
  const AgentRecord* agent = state.FindAgentByFingerprint(CertificateFingerprint(cert));
  if (agent == nullptr) {
    return Status(Code::kPermissionDenied,
                  "unknown agent certificate (not enrolled, or replaced by a newer one)");
  }
  return agent->id;
}

class Server {
 public:
  Server(ServerContext& ctx, ssl::context& tls, tcp::acceptor acceptor)
      : ctx_(ctx), tls_(tls), acceptor_(std::move(acceptor)), tick_(ctx.ioc) {}

  asio::awaitable<void> AcceptLoop() {
    while (!ctx_.stopping) {
      error_code ec;
      tcp::socket socket = co_await acceptor_.async_accept(redirect_error(use_awaitable, ec));
      if (ec) {
        if (ctx_.stopping) co_return;
        continue;
      }
      // Small frames that the agent waits for: no Nagle delay (as on the agent's side).
      socket.set_option(tcp::no_delay(true), ec);
      asio::co_spawn(ctx_.ioc, HandleConnection(std::move(socket)), asio::detached);
    }
  }

  // Leases, retries and expiry. At most a second late, never busy.
  asio::awaitable<void> TickLoop() {
    while (!ctx_.stopping) {
      auto next = ctx_.dispatcher.Tick();
      const auto cap = std::chrono::steady_clock::now() + std::chrono::seconds(1);
      tick_.expires_at(next && *next < cap ? *next : cap);
      error_code ec;
      co_await tick_.async_wait(redirect_error(use_awaitable, ec));
    }
  }

  void Stop() {
    error_code ec;
    acceptor_.close(ec);
    tick_.cancel();
  }

 private:
  asio::awaitable<void> Respond(TlsStream& stream, unsigned status, std::string body,
                                const char* content_type = "application/json") {
    http::response<http::string_body> res{static_cast<http::status>(status), 11};
    res.set(http::field::server, "wbcloud");
    res.set(http::field::content_type, content_type);
    res.keep_alive(false);
    res.body() = std::move(body);
    res.prepare_payload();
    error_code ec;
    co_await http::async_write(stream, res, redirect_error(use_awaitable, ec));
    if (!ec) co_await stream.async_shutdown(redirect_error(use_awaitable, ec));
  }

  // After a refused handshake (e.g. an unknown client certificate under TLS 1.3, where the
  // client has already sent its first request), closing at once with the client's bytes
  // unread would send a TCP reset, and the client would lose the alert that says why. So
  // half-close, read until the client closes (at most 2 s), then close.
  static asio::awaitable<void> LingerAfterRefusal(beast::tcp_stream& tcp) {
    error_code ec;
    tcp.socket().shutdown(tcp::socket::shutdown_send, ec);
    tcp.expires_after(std::chrono::seconds(2));
    std::array<char, 1024> sink;
    while (!ec) {
      co_await tcp.async_read_some(asio::buffer(sink), redirect_error(use_awaitable, ec));
    }
  }

  asio::awaitable<void> HandleConnection(tcp::socket socket) {
    const std::string peer = [&] {
      error_code ec;
      auto ep = socket.remote_endpoint(ec);
      return ec ? std::string("?") : ep.address().to_string() + ":" + std::to_string(ep.port());
    }();
    TlsStream stream(beast::tcp_stream(std::move(socket)), tls_);
    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(10));
    error_code ec;
    co_await stream.async_handshake(ssl::stream_base::server, redirect_error(use_awaitable, ec));
    if (ec) {
      ctx_.log.info("TLS handshake from {} failed: {}", peer, ec.message());
      co_await LingerAfterRefusal(beast::get_lowest_layer(stream));
      co_return;
    }
    beast::flat_buffer buffer;
    http::request_parser<http::string_body> parser;
    parser.header_limit(16 * 1024);
    parser.body_limit(protocol::kMaxMessageBytes);
    co_await http::async_read(stream, buffer, parser, redirect_error(use_awaitable, ec));
    if (ec) {
      ctx_.log.info("bad HTTP request from {}: {}", peer, ec.message());
      co_return;
    }
    HttpRequest request = parser.release();
    const std::string target(request.target().data(), request.target().size());
    if (beast::websocket::is_upgrade(request)) {
      if (target != "/agent") {
        co_await Respond(stream, 404, ErrorBody("not_found", "the agent endpoint is /agent"));
        co_return;
      }
      auto agent = IdentifyAgent(stream.native_handle(), ctx_.state);
      if (!agent.ok()) {
        ctx_.log.warn("refused an agent connection from {}: {}", peer, agent.error().message());
        const bool none = SSL_get0_peer_certificate(stream.native_handle()) == nullptr;
        co_await Respond(stream, none ? 401 : 403,
                         ErrorBody("unauthorized", agent.error().message()));
        co_return;
      }
      const auto offered = request[http::field::sec_websocket_protocol];
      if (std::string_view(offered.data(), offered.size()).find(protocol::kSubprotocol) ==
          std::string_view::npos) {
        co_await Respond(stream, 400,
                         ErrorBody("bad_request", "the subprotocol wbagent.v1 is required"));
        co_return;
      }
      co_await RunAgentSession(ctx_, std::move(stream), std::move(request), std::move(*agent));
      co_return;
    }
    if (request.method() == http::verb::post && target == "/enroll") {
      HttpAnswer answer = HandleEnroll(ctx_.state, request.body(), ctx_.clock,
                                       ctx_.options.client_cert_lifetime, ctx_.agent_url);
      ctx_.log.info("enrollment from {}: HTTP {}", peer, answer.status);
      co_await Respond(stream, answer.status, std::move(answer.body));
      co_return;
    }
    if (request.method() == http::verb::get && target == "/healthz") {
      co_await Respond(stream, 200, "ok\n", "text/plain");
      co_return;
    }
    co_await Respond(stream, 404, ErrorBody("not_found", "no such endpoint"));
  }

  ServerContext& ctx_;
  ssl::context& tls_;
  tcp::acceptor acceptor_;
  asio::steady_timer tick_;
};

// After a stop signal: gives agent sessions up to 5 s to finish their close handshake.
asio::awaitable<void> DrainThenStop(ServerContext& ctx) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  asio::steady_timer timer(ctx.ioc);
  while (!ctx.sessions.empty() && std::chrono::steady_clock::now() < deadline) {
    timer.expires_after(std::chrono::milliseconds(20));
    error_code ec;
    co_await timer.async_wait(redirect_error(use_awaitable, ec));
  }
  ctx.ioc.stop();
}

Result<tcp::acceptor> Listen(asio::io_context& ioc, const config::HostPort& at) {
  error_code ec;
  const auto address = asio::ip::make_address(at.host.empty() ? "127.0.0.1" : at.host, ec);
  if (ec) return InvalidArgument("--listen needs an IP address, not \"" + at.host + "\"");
  tcp::acceptor acceptor(ioc);
  const tcp::endpoint endpoint(address, at.port);
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return Unavailable("cannot listen on " + at.host + ":" + std::to_string(at.port) + ": " +
                       ec.message());
  }
  return acceptor;
}

// `serve`: the dispatcher hears the agents; submit, status and the rest come over admin.sock.
class ServeRole final : public CloudRole {
 public:
  bool dispatches() const override { return true; }

  AgentEvents& Events(Dispatcher& dispatcher) override { return dispatcher; }

  Status Start(ServerContext& ctx) override {
    ctx.dispatcher.on_done = [&ctx](const std::string& id) {
      auto [first, last] = ctx.waiters.equal_range(id);
      for (auto it = first; it != last; ++it) it->second->cancel();
    };
    auto admin = AdminEndpoint::Open(ctx);
    if (!admin.ok()) return admin.error();
    admin_ = std::move(*admin);
    WB_RETURN_IF_ERROR(WriteFileAtomic(ctx.state.paths().agent_url(), ctx.agent_url + "\n", 0644));
    asio::co_spawn(ctx.ioc, admin_->Run(), asio::detached);
    ctx.log.info("serving tenant {} at {} (state {}, admin socket {})", ctx.state.tenant(),
                 ctx.agent_url, ctx.options.state_dir.string(),
                 ctx.state.paths().admin_socket().string());
    return Status();
  }

  void Stop() override {
    if (admin_) admin_->Close();
  }

  int ExitCode() const override { return 0; }

 private:
  std::unique_ptr<AdminEndpoint> admin_;
};

}  // namespace

std::shared_ptr<spdlog::logger> MakeCloudLog(const std::string& level) {
  auto log = std::make_shared<spdlog::logger>("wbcloud",
                                              std::make_shared<spdlog::sinks::stderr_sink_mt>());
  log->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ wbcloud %l: %v", spdlog::pattern_time_type::utc);
  log->set_level(spdlog::level::from_str(level));
  log->flush_on(spdlog::level::trace);
  return log;
}

int RunCloud(const ServeOptions& options, spdlog::logger& log, CloudRole& role) {
  SystemClock clock;
  auto state = CloudState::Open(options.state_dir, options.extra_names, clock);
  if (!state.ok()) {
    log.error("cannot open the state directory {}: {}", options.state_dir.string(),
              state.error().ToString());
    return 1;
  }
  auto lock = FileLock::Acquire(state->paths().lock(), /*wait=*/false);
  if (!lock.ok()) {
    log.error("another `wbcloud serve` or `wbcloud load` is running with {}",
              options.state_dir.string());
    return 1;
  }
  Dispatcher dispatcher(*state, clock, log,
                        DispatcherOptions{.lease = options.lease, .takeover = options.takeover});
  if (role.dispatches()) {
    if (Status s = dispatcher.Load(); !s.ok()) {
      log.error("cannot load requests: {}", s.ToString());
      return 1;
    }
  }
  auto tls = MakeServerContext(*state, options);
  if (!tls.ok()) {
    log.error("{}", tls.error().ToString());
    return 1;
  }
  asio::io_context ioc;
  auto acceptor = Listen(ioc, options.listen);
  if (!acceptor.ok()) {
    log.error("{}", acceptor.error().ToString());
    return 1;
  }
  const auto bound = acceptor->local_endpoint();
  ServerContext run{.ioc = ioc,
                    .state = *state,
                    .dispatcher = dispatcher,
                    .events = role.Events(dispatcher),
                    .log = log,
                    .clock = clock,
                    .options = options,
                    .agent_url = "wss://" + UrlHost(options.listen.host) + ":" +
                                 std::to_string(bound.port()) + "/agent"};
  if (Status s = role.Start(run); !s.ok()) {
    log.error("{}", s.ToString());
    return 1;
  }
  Server server(run, **tls, std::move(*acceptor));
  asio::co_spawn(ioc, server.AcceptLoop(), asio::detached);
  if (role.dispatches()) asio::co_spawn(ioc, server.TickLoop(), asio::detached);

  asio::signal_set signals(ioc, SIGINT, SIGTERM);
  signals.async_wait([&](const error_code& ec, int sig) {
    if (ec) return;
    log.info("received signal {}, stopping", sig);
    run.stopping = true;
    server.Stop();
    role.Stop();
    auto sessions = run.sessions;  // Kick may change the map
    for (auto& [id, session] : sessions) session->Kick("the cloud is shutting down");
    asio::co_spawn(ioc, DrainThenStop(run), asio::detached);
  });
  ioc.run();
  role.Detach();
  log.info("stopped");
  return role.ExitCode();
}

int Serve(const ServeOptions& options) {
  auto log = MakeCloudLog(options.log_level);
  ServeRole role;
  return RunCloud(options, *log, role);
}

}  // namespace wb::cloud
