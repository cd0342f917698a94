#pragma once
// Internal to `wbcloud serve`: what the listener, the agent sessions and the admin endpoint
// share. Everything here is used on the server's single I/O thread.

#include <spdlog/logger.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <map>
#include <memory>
#include <string>

#include "common/clock.h"
#include "common/status.h"
#include "tools/wbcloud/cloud_state.h"
#include "tools/wbcloud/dispatcher.h"
#include "tools/wbcloud/server.h"

namespace wb::cloud {

using TlsStream = boost::asio::ssl::stream<boost::beast::tcp_stream>;
using HttpRequest = boost::beast::http::request<boost::beast::http::string_body>;

class AgentSessionHandle {
 public:
  virtual ~AgentSessionHandle() = default;
  // Sends a close frame (going away) and ends the session.
  virtual void Kick(std::string_view why) = 0;
  virtual bool Send(std::string frame) = 0;
};

struct ServerContext {
  boost::asio::io_context& ioc;
  CloudState& state;
  Dispatcher& dispatcher;
  // Who hears what agents send: the dispatcher for `serve`, the generator for `load`.
  AgentEvents& events;
  spdlog::logger& log;
  const Clock& clock;
  ServeOptions options;
  std::string agent_url;
  bool stopping = false;
  // The live session of each agent id (a newer connection replaces an older one).
  std::map<std::string, AgentSessionHandle*> sessions;
  // `submit --wait` callers waiting for a request id; cancelled when it is done.
  std::multimap<std::string, boost::asio::steady_timer*> waiters;
};

// What runs on the endpoint: `serve` (the dispatcher and the admin socket) or `load`.
class CloudRole {
 public:
  virtual ~CloudRole() = default;
  // Whether the dispatcher loads the stored requests and hears the agents (serve).
  virtual bool dispatches() const = 0;
  // Who hears the agents' frames.
  virtual AgentEvents& Events(Dispatcher& dispatcher) = 0;
  // Called once listening, before the I/O thread runs; an error ends the run with exit 1.
  virtual Status Start(ServerContext& ctx) = 0;
  // On SIGINT or SIGTERM, before the sessions are closed.
  virtual void Stop() = 0;
  // The process's exit code once the I/O thread has stopped.
  virtual int ExitCode() const = 0;
  // The I/O context is about to be destroyed: drop every I/O object made on it (a timer
  // destroyed after its context reads freed memory).
  virtual void Detach() {}
};

// Opens the state directory (locked: one process per directory), listens on
// options.listen, and runs the endpoint for agents (and POST /enroll) with `role` on the
// calling thread until the I/O context stops; returns the exit code.
int RunCloud(const ServeOptions& options, spdlog::logger& log, CloudRole& role);
std::shared_ptr<spdlog::logger> MakeCloudLog(const std::string& level);

// Runs the WebSocket session of an authenticated agent until it ends.
boost::asio::awaitable<void> RunAgentSession(ServerContext& ctx, TlsStream stream,
                                             HttpRequest request, std::string agent_id);

// The local admin endpoint (admin.sock, mode 0600): one JSON request line, one JSON answer
// line per connection. Commands: submit, wait, status, token, rotate-key.
class AdminEndpoint {
 public:
  // Binds the socket (replacing a stale one). Fails when it cannot be bound.
  static Result<std::unique_ptr<AdminEndpoint>> Open(ServerContext& ctx);
  virtual ~AdminEndpoint() = default;
  virtual boost::asio::awaitable<void> Run() = 0;
  virtual void Close() = 0;
};

}  // namespace wb::cloud
