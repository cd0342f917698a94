#pragma once
// Internal: one WebSocket connection to the cloud (Beast stays inside session.cc).
//
// A Session connects (TCP, proxy, TLS, WebSocket upgrade with subprotocol wbagent.v1), sends
// the hello its owner makes, waits for the welcome, then runs three loops on the I/O thread
// until the connection ends: reading frames, writing the owner's outgoing messages (one write
// in flight), and pinging every heartbeat interval. Run() returns why it ended.
//
// The owner judges each frame and may end the connection with a WebSocket close status
// (docs/protocol.md section 2): the session then writes what is queued and the owner's last
// word (an `error` frame), sends the close frame, and hands no further frame to the owner.
//
// A peer that stops reading is dead like one that stops answering pings: the heartbeat loop
// never waits behind a write, so a write that does not complete within the dead-peer time
// ends the connection too.
//
// Threads: every member, and every SessionOwner call, runs on the I/O thread.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "channel/internal/tls.h"
#include "common/status.h"

namespace wb::channel::internal {

// WebSocket close statuses (RFC 6455 section 7.4.1) that docs/protocol.md uses.
inline constexpr std::uint16_t kCloseNormal = 1000;
inline constexpr std::uint16_t kCloseProtocolError = 1002;    // unsupported_version
inline constexpr std::uint16_t kCloseUnsupportedData = 1003;  // a binary frame
inline constexpr std::uint16_t kClosePolicy = 1008;  // bad_message, protocol_violation, ...

// One WebSocket message from the cloud.
struct Frame {
  std::string_view payload;
  bool binary = false;  // a binary frame, which protocol version 1 does not allow
};

// The owner's decision about a frame. Default: carry on.
struct Verdict {
  // When set, the connection ends: `last_word` (a serialized message, may be empty) is written
  // after what is already queued, then a close frame with this status.
  std::optional<std::uint16_t> close_code;
  std::string last_word;
  Status why;  // Run()'s result when closing; never OK then

  static Verdict Continue() { return {}; }
  static Verdict Close(std::uint16_t code, std::string last_word, Status why) {
    return {code, std::move(last_word), std::move(why)};
  }
};

class SessionOwner {
 public:
  virtual ~SessionOwner() = default;
  // The hello frame, made just before it is sent.
  virtual std::string MakeHello() = 0;
  // The first frame from the cloud. A verdict that closes ends the session with its `why`.
  // Welcome() is the only verdict that lets the session go on.
  virtual Verdict OnWelcome(const Frame& frame) = 0;
  // Every later frame.
  virtual Verdict OnFrame(const Frame& frame) = 0;
  // The next outgoing frame, if any (the owner keeps the bounded queue).
  virtual std::optional<std::string> PopOutgoing() = 0;
};

struct SessionConfig {
  ConnectTarget target;
  TlsSettings tls;
  std::string path;
  std::chrono::milliseconds heartbeat_interval{30'000};
  int dead_after_missed_pongs = 2;
  std::size_t max_frame_bytes = 64 * 1024;  // a frame above this: close 1009
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
