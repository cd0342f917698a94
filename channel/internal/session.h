#pragma once
// Internal: one WebSocket connection to the cloud (Beast stays inside session.cc).
//
// A Session connects (TCP, proxy, TLS, WebSocket upgrade with subprotocol wbagent.v1), sends
// the hello its owner makes, waits for the welcome, then runs three loops on the I/O thread
// until the connection ends: reading frames, writing the owner's outgoing messages (one write
// in flight), and pinging every heartbeat interval. Run() returns why it ended.
//
// Threads: every member, and every SessionOwner call, runs on the I/O thread.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "channel/internal/tls.h"
#include "common/status.h"

namespace wb::channel::internal {

class SessionOwner {
 public:
  virtual ~SessionOwner() = default;
  // The hello frame, made just before it is sent.
  virtual std::string MakeHello() = 0;
  // The first frame from the cloud; a non-OK Status ends the session with it.
  virtual Status OnWelcome(std::string_view frame) = 0;
  // Every later text frame.
  virtual void OnFrame(std::string_view frame) = 0;
  // The next outgoing frame, if any (the owner keeps the bounded queue).
  virtual std::optional<std::string> PopOutgoing() = 0;
};

struct SessionConfig {
  ConnectTarget target;
  TlsSettings tls;
  std::string path;
  std::chrono::milliseconds heartbeat_interval{30'000};
  int dead_after_missed_pongs = 2;
  std::size_t max_frame_bytes = 1024 * 1024;  // a frame above this ends the connection
};

class Session {
 public:
  static std::shared_ptr<Session> Create(boost::asio::io_context& ioc, SessionConfig config,
                                         SessionOwner& owner);
  virtual ~Session() = default;

  // Connects and runs until the connection ends. OK only after a clean close (Close()).
  virtual boost::asio::awaitable<Status> Run() = 0;
  // There is a new outgoing message.
  virtual void WakeWriter() = 0;
  // Writes what is queued, sends a close frame and lets Run() finish when the peer answers.
  virtual void Close() = 0;
  // Ends the connection now (no close handshake), with `why` as Run()'s result.
  virtual void Abort(Status why) = 0;
  // True between the welcome and the end of the connection.
  virtual bool established() const = 0;
};

}  // namespace wb::channel::internal
