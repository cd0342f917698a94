// channel/doctor.h: the cloud probe. Each hop is its own step here (ConnectTls does them in
// one), so that the doctor can say which one failed and skip what depends on it.
#include <time.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include "channel/doctor.h"
#include "channel/internal/connect.h"
#include "common/log_escape.h"
#include "common/time_sync.h"
#include "protocol/protocol.h"

namespace wb::channel {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using asio::ip::tcp;
using boost::system::error_code;
using internal::HostPortText;

// The steps after a failed one, shown skipped with why. There is a proxy step only when
// cloud.proxy is set, as when it runs.
struct Steps {
  std::vector<CheckResult>& out;
  bool via_proxy = false;
  void Skip(std::initializer_list<const char*> ids, const std::string& why) {
    for (const char* id : ids) {
      if (std::string_view(id) == "proxy" && !via_proxy) continue;
      out.push_back(CheckSkipped(std::string("cloud.") + id, Title(id), why));
    }
  }
  static std::string Title(std::string_view id) {
    if (id == "tcp") return "TCP to the cloud";
    if (id == "proxy") return "proxy CONNECT";
    if (id == "tls") return "TLS to the cloud";
    if (id == "websocket") return "WebSocket upgrade";
    return "clock skew against the cloud";
  }
};

std::string UpgradeRefusal(const websocket::response_type& res, const std::string& path,
                           std::string& fix) {
  const unsigned code = res.result_int();
  std::string line = "HTTP ";
  line += std::to_string(code);
  line += " ";
  line += EscapeForLog(std::string_view(res.reason().data(), res.reason().size()), 100);
  if (code == 401 || code == 403) {
    fix = "the cloud does not know this agent's certificate: run `wbagent register --token-file -`";
  } else if (code == 404) {
    fix = "the cloud has no agent endpoint at " + EscapeForLog(path) +
          ": check the path in cloud.url";
  } else {
    fix = "check cloud.url: the cloud refused the WebSocket upgrade";
  }
  return "the cloud refused the WebSocket upgrade (" + line + ")";
}

void CheckSkew(const websocket::response_type& res, const CloudProbe& p, const Clock& clock,
               std::vector<CheckResult>& out) {
  const std::string title = "clock skew against the cloud";
  const auto date = res[http::field::date];
  auto server_time = ParseHttpDate(std::string_view(date.data(), date.size()));
  if (!server_time) {
    out.push_back(CheckSkipped("cloud.clock", title,
                               "the cloud's upgrade response has no Date header to compare with "
                               "(the running agent measures the skew at its welcome: `wbagent "
                               "status`)"));
    return;
  }
  // The Date header has a resolution of one second: a skew under 2 s is noise.
  const auto skew = clock.Now() - *server_time;
  const auto abs_skew = skew < WallTime::duration::zero() ? -skew : skew;
  std::string detail = "this host's clock is ";
  detail += SecondsText(skew);
  detail += skew < WallTime::duration::zero() ? " behind" : " ahead of";
  detail += " the cloud's (allowed: ";
  detail += std::to_string(p.max_clock_skew.count());
  detail += " s)";
  if (abs_skew > p.max_clock_skew) {
    out.push_back(CheckFail("cloud.clock", title, detail,
                            std::string("requests would be refused as expired or not yet "
                                        "valid: ") +
                                kTimeSyncHint));
    return;
  }
  out.push_back(CheckOk("cloud.clock", title, detail));
}

asio::awaitable<void> Probe(const CloudProbe& p, const Clock& clock,
                            std::vector<CheckResult>& out) {
  const config::CloudConfig& cloud = *p.cloud;
  const bool via_proxy = cloud.proxy.has_value();
  Steps steps{out, via_proxy};
  const config::HostPort& hop = via_proxy ? cloud.proxy->address : cloud.server;
  const std::string hop_text = HostPortText(hop);
  const std::string role = via_proxy ? "proxy" : "cloud";
  const auto timeout = std::chrono::duration_cast<std::chrono::milliseconds>(cloud.connect_timeout);
  auto ex = co_await asio::this_coro::executor;

  // DNS.
  tcp::resolver resolver(ex);
  error_code ec;
  auto resolved = co_await resolver.async_resolve(hop.host, std::to_string(hop.port),
                                                  asio::redirect_error(asio::use_awaitable, ec));
  const std::string dns_title = "DNS for the " + role + " host " + EscapeForLog(hop.host);
  if (ec) {
    out.push_back(CheckFail("cloud.dns", dns_title,
                            "cannot resolve \"" + EscapeForLog(hop.host) + "\": " + ec.message(),
                            via_proxy ? "fix the host in cloud.proxy, or this host's DNS resolver"
                                      : "fix the host in cloud.url, or this host's DNS resolver "
                                        "(/etc/resolv.conf)"));
    steps.Skip({"tcp", "proxy", "tls", "websocket", "clock"}, "DNS failed");
    co_return;
  }
  out.push_back(CheckOk("cloud.dns", dns_title, "resolves"));

  // The client context first: it reads the agent's certificate and key (and checks the key
  // file's mode), which every later step needs.
  internal::VerifyState verify;
  verify.settings = {.server = cloud.server,
                     .ca_file = cloud.ca_file,
                     .min_tls = cloud.min_tls,
                     .spki_pin = cloud.spki_pin,
                     .client_cert = p.client_cert,
                     .client_key = p.client_key,
                     .proxy = via_proxy ? HostPortText(hop) : ""};
  auto ctx = internal::MakeClientContext(verify.settings);
  if (!ctx.ok()) {
    out.push_back(CheckFail("cloud.tls", "TLS client settings", ctx.error().message(),
                            "fix the file it names (cloud.ca_file, or agent.crt / agent.key in "
                            "the state directory)"));
    steps.Skip({"tcp", "proxy", "websocket", "clock"}, "the TLS client settings failed");
    co_return;
  }
  websocket::stream<internal::TlsStream> ws(ex, **ctx);
  beast::tcp_stream& tcp_stream = beast::get_lowest_layer(ws);

  // TCP.
  tcp_stream.expires_after(timeout);
  co_await tcp_stream.async_connect(resolved, asio::redirect_error(asio::use_awaitable, ec));
  const std::string tcp_title = "TCP to the " + role + " " + hop_text;
  if (ec) {
    out.push_back(CheckFail(
        "cloud.tcp", tcp_title,
        internal::TransportError(ec, "cannot connect to " + role, hop_text, timeout).message(),
        "check that outbound TCP to " + hop_text + " is allowed by the firewall"));
    steps.Skip({"proxy", "tls", "websocket", "clock"}, "TCP failed");
    co_return;
  }
  out.push_back(CheckOk("cloud.tcp", tcp_title, "connected"));

  // Proxy.
  if (via_proxy) {
    const std::string title =
        "proxy CONNECT through " + hop_text + " to " + HostPortText(cloud.server);
    Status s =
        co_await internal::ProxyConnect(tcp_stream, *cloud.proxy, cloud.server, p.user_agent);
    if (!s.ok()) {
      out.push_back(CheckFail("cloud.proxy", title, s.message(),
                              "fix the proxy's user and password file in cloud.proxy, or ask "
                              "the proxy's administrators to allow CONNECT to " +
                                  HostPortText(cloud.server)));
      steps.Skip({"tls", "websocket", "clock"}, "the proxy did not open the tunnel");
      co_return;
    }
    out.push_back(CheckOk("cloud.proxy", title, "the tunnel is open"));
  }

  // TLS.
  const std::string tls_title = "TLS to " + HostPortText(cloud.server);
  verify.record = internal::VerifyRecord{};
  Status prepared = internal::PrepareConnection(ws.next_layer().native_handle(), verify);
  if (prepared.ok()) {
    co_await ws.next_layer().async_handshake(asio::ssl::stream_base::client,
                                             asio::redirect_error(asio::use_awaitable, ec));
    if (ec) prepared = internal::TlsError(ec, verify.record, verify.settings, "TLS handshake");
  }
  if (!prepared.ok()) {
    out.push_back(CheckFail("cloud.tls", tls_title, prepared.message(),
                            via_proxy && verify.record.failed
                                ? "if the message names a TLS-inspecting proxy: ask for " +
                                      cloud.server.host +
                                      " to be exempted from inspection; otherwise fix "
                                      "cloud.ca_file or the host name in cloud.url"
                                : "fix what the message names: cloud.ca_file, the host name in "
                                  "cloud.url, the pin, or this agent's certificate"));
    steps.Skip({"websocket", "clock"}, "the TLS handshake failed");
    co_return;
  }
  std::string tls_detail = "verified against " + cloud.ca_file.string();
  if (!verify.record.leaf.not_after.empty()) {
    tls_detail += "; the cloud's certificate (";
    tls_detail += verify.record.leaf.subject;
    tls_detail += ") is valid until ";
    tls_detail += verify.record.leaf.not_after;
  }
  if (cloud.spki_pin) tls_detail += ", the pin matches";
  out.push_back(CheckOk("cloud.tls", tls_title, tls_detail));

  // The WebSocket upgrade: and then a close before any frame, so the cloud never takes this
  // connection for the agent's session (it does so at hello).
  const std::string ws_title = "WebSocket upgrade at " + cloud.url;
  const std::string user_agent = p.user_agent;
  ws.set_option(websocket::stream_base::decorator([user_agent](websocket::request_type& req) {
    req.set(http::field::user_agent, user_agent);
    req.set(http::field::sec_websocket_protocol, std::string(protocol::kSubprotocol));
  }));
  websocket::response_type res;
  co_await ws.async_handshake(res, HostPortText(cloud.server), cloud.path,
                              asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    std::string fix = "check cloud.url";
    std::string detail = ec == websocket::error::upgrade_declined
                             ? UpgradeRefusal(res, cloud.path, fix)
                             : "no WebSocket handshake: " + ec.message();
    out.push_back(CheckFail("cloud.websocket", ws_title, detail, fix));
    steps.Skip({"clock"}, "the WebSocket upgrade failed");
    co_return;
  }
  const auto agreed = res[http::field::sec_websocket_protocol];
  if (std::string_view(agreed.data(), agreed.size()) != protocol::kSubprotocol) {
    out.push_back(CheckFail(
        "cloud.websocket", ws_title,
        "the server did not agree to the subprotocol " + std::string(protocol::kSubprotocol),
        "check that cloud.url is the cloud's agent endpoint"));
  } else {
    out.push_back(CheckOk("cloud.websocket", ws_title,
                          "upgraded with subprotocol " + std::string(protocol::kSubprotocol) +
                              "; closed before hello, so a running agent's session stays"));
  }
  CheckSkew(res, p, clock, out);
  tcp_stream.expires_after(timeout);
  co_await ws.async_close(websocket::close_code::normal,
                          asio::redirect_error(asio::use_awaitable, ec));
}

}  // namespace

std::optional<WallTime> ParseHttpDate(std::string_view text) {
  std::tm tm{};
  const std::string s(text);
  const char* end = strptime(s.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (end == nullptr || *end != '\0') return std::nullopt;
  const time_t t = timegm(&tm);
  if (t == static_cast<time_t>(-1)) return std::nullopt;
  // The cloud's text: a year beyond WallTime's range is no date, not an overflow.
  return WallTimeSinceEpoch<std::chrono::seconds>(static_cast<long long>(t));
}

std::vector<CheckResult> DiagnoseCloud(const CloudProbe& probe, const Clock& clock) {
  std::vector<CheckResult> out;
  asio::io_context ioc;
  asio::co_spawn(ioc, Probe(probe, clock, out), asio::detached);
  ioc.run();
  return out;
}

}  // namespace wb::channel
