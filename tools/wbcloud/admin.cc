// The local admin endpoint of `wbcloud serve` (admin.sock): one JSON request line and one
// JSON answer line per connection. Passwords arrive here (never on a command line) and are
// wiped once the request is sealed.
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <nlohmann/json.hpp>

#include "common/log_escape.h"
#include "common/secret.h"
#include "tools/wbcloud/server_context.h"
#include "tools/wbcloud/tokens.h"

namespace wb::cloud {
namespace {

namespace asio = boost::asio;
using asio::redirect_error;
using asio::use_awaitable;
using boost::system::error_code;
using Json = nlohmann::json;
using Local = asio::local::stream_protocol;

Json Fail(std::string_view message) { return {{"ok", false}, {"error", message}}; }

// Takes the password strings out of `j` into Secrets and wipes the JSON's copies.
Secret TakeSecret(Json& j, const char* key) {
  if (!j.contains(key) || !j[key].is_string()) return Secret();
  std::string& s = j[key].get_ref<std::string&>();
  Secret out(s);
  WipeBytes(s.data(), s.size());
  j.erase(key);
  return out;
}

Result<SubmitSpec> ParseSubmit(const Json& j) {
  try {
    SubmitSpec spec;
    for (const auto& op : j.at("ops")) {
      auto parsed = protocol::ParseOperationName(op.get<std::string>());
      if (!parsed) return InvalidArgument("unknown operation " + op.dump());
      spec.operations.push_back(*parsed);
    }
    auto kind = protocol::ParseTargetKindName(j.at("kind").get<std::string>());
    if (!kind) return InvalidArgument("unknown target kind");
    spec.target = {*kind, j.at("user").get<std::string>()};
    spec.requester.type = j.value("requester_type", "admin") == "self"
                              ? protocol::RequesterType::kSelf
                              : protocol::RequesterType::kAdmin;
    spec.requester.id = j.value("requester", "wbcloud-cli");
    spec.requester.verified_by = j.value("verified_by", std::vector<std::string>{"email"});
    spec.correlation_id = j.value("correlation_id", "");
    spec.ttl = std::chrono::seconds(j.value("ttl", 600));
    spec.fault = j.value("fault", "");
    return spec;
  } catch (const Json::exception& e) {
    return InvalidArgument(std::string("bad submit request: ") + e.what());
  }
}

class AdminEndpointImpl final : public AdminEndpoint {
 public:
  AdminEndpointImpl(ServerContext& ctx, Local::acceptor acceptor)
      : ctx_(ctx), acceptor_(std::move(acceptor)) {}

  asio::awaitable<void> Run() override {
    while (!ctx_.stopping) {
      error_code ec;
      Local::socket socket = co_await acceptor_.async_accept(redirect_error(use_awaitable, ec));
      if (ec) {
        if (ctx_.stopping || ec == asio::error::operation_aborted) co_return;
        continue;
      }
      asio::co_spawn(ctx_.ioc, Serve(std::move(socket)), asio::detached);
    }
  }

  void Close() override {
    error_code ec;
    acceptor_.close(ec);
    ::unlink(ctx_.state.paths().admin_socket().c_str());
    for (auto& [id, timer] : ctx_.waiters) timer->cancel();
  }

 private:
  asio::awaitable<void> Serve(Local::socket socket) {
    std::string line;
    error_code ec;
    co_await asio::async_read_until(socket, asio::dynamic_buffer(line, 1024 * 1024), '\n',
                                    redirect_error(use_awaitable, ec));
    if (ec) co_return;
    Json request = Json::parse(line.substr(0, line.find('\n')), nullptr, false);
    WipeBytes(line.data(), line.size());
    // (Not a conditional expression: GCC 12 miscompiles co_await inside one.)
    Json answer = Fail("not a JSON object");
    if (request.is_object()) answer = co_await Handle(request);
    const std::string out = answer.dump() + "\n";
    co_await asio::async_write(socket, asio::buffer(out), redirect_error(use_awaitable, ec));
  }

  asio::awaitable<Json> Handle(Json& request) {
    const std::string cmd = request.value("cmd", "");
    if (cmd == "submit") co_return Submit(request);
    if (cmd == "wait") co_return co_await Wait(request);
    if (cmd == "status") co_return Json{{"ok", true}, {"status", ctx_.dispatcher.StatusJson()}};
    if (cmd == "rotate-key") co_return RotateKey();
    co_return Fail("unknown command \"" + EscapeForLog(cmd, 32) + "\"");
  }

  Json Submit(Json& request) {
    protocol::Passwords passwords{TakeSecret(request, "new_password"),
                                  TakeSecret(request, "old_password")};
    auto spec = ParseSubmit(request);
    if (!spec.ok()) return Fail(spec.error().message());
    const bool has_secret = !passwords.new_password.empty();
    auto id = ctx_.dispatcher.Submit(*spec, has_secret ? &passwords : nullptr);
    if (!id.ok()) return Fail(id.error().message());
    return {{"ok", true}, {"id", *id}};
  }

  asio::awaitable<Json> Wait(const Json& request) {
    const std::string id = request.value("id", "");
    const auto timeout = std::chrono::milliseconds(request.value("timeout_ms", 60'000));
    if (ctx_.dispatcher.Find(id) == nullptr) co_return Fail("unknown request id");
    const RequestRecord* r = ctx_.dispatcher.Find(id);
    if (r->state != RequestState::kDone) {
      asio::steady_timer timer(ctx_.ioc, timeout);
      auto entry = ctx_.waiters.emplace(id, &timer);
      error_code ec;
      co_await timer.async_wait(redirect_error(use_awaitable, ec));
      ctx_.waiters.erase(entry);
      r = ctx_.dispatcher.Find(id);
    }
    Json answer = {{"ok", true}, {"request", Dispatcher::ResultJson(*r)}};
    if (r->state != RequestState::kDone) answer["timed_out"] = true;
    co_return answer;
  }

  Json RotateKey() {
    Status s = ctx_.state.RotateSigningKey(ctx_.clock.Now());
    if (!s.ok()) return Fail(s.message());
    const std::string frame = protocol::Serialize(protocol::KeySet{ctx_.state.keyset_jws()});
    for (auto& [id, session] : ctx_.sessions) session->Send(frame);
    ctx_.log.info("signing key rolled over to {}; the new key set went to {} connected agent(s)",
                  ctx_.state.signing_kid(), ctx_.sessions.size());
    return {{"ok", true}, {"kid", ctx_.state.signing_kid()}};
  }

  ServerContext& ctx_;
  Local::acceptor acceptor_;
};

}  // namespace

Result<std::unique_ptr<AdminEndpoint>> AdminEndpoint::Open(ServerContext& ctx) {
  const std::string path = ctx.state.paths().admin_socket().string();
  ::unlink(path.c_str());  // a stale socket of a stopped server; serve.lock says it is ours
  Local::acceptor acceptor(ctx.ioc);
  error_code ec;
  acceptor.open(Local(), ec);
  const mode_t old_mask = ::umask(077);
  if (!ec) acceptor.bind(Local::endpoint(path), ec);
  ::umask(old_mask);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return Unavailable("cannot listen on " + path + ": " + ec.message());
  ::chmod(path.c_str(), 0600);
  return std::unique_ptr<AdminEndpoint>(new AdminEndpointImpl(ctx, std::move(acceptor)));
}

}  // namespace wb::cloud
