#pragma once
// Test support for the protocol conformance suite: a scripted cloud. A WebSocket-over-TLS
// server on 127.0.0.1 that requires a client certificate from a test CA, selects the
// subprotocol wbagent.v1 and then does nothing on its own: the test sends exact bytes and
// reads exactly what the agent answered.
//
// It is deliberately not wbcloud and shares no code with it (tools/wbcloud): the suite tests
// the agent against docs/protocol.md, not against the assumptions the agent and wbcloud share.
//
// Threading: one I/O thread runs every socket operation. The blocking calls below may be made
// from any one test thread; each is bounded by its timeout. Each accepted connection reads
// continuously (so it answers the agent's pings) until it ends or StopReading() is called.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "tests/support/test_ca.h"

namespace wb::testing {

using std::chrono::milliseconds;

struct PeerFrame {
  enum class Kind { kText, kBinary, kClose };
  Kind kind = Kind::kText;
  std::string payload;  // kText, kBinary: the message; kClose: the close reason
  // kClose: the status the agent sent in its close frame, or 1006 when the connection ended
  // without one (TCP or TLS dropped).
  int close_code = 0;
  std::chrono::steady_clock::time_point at;
};

// One agent connection, after the TLS and WebSocket handshakes.
class PeerConnection {
 public:
  virtual ~PeerConnection() = default;

  // The next frame from the agent, or nullopt when none came within `timeout`. After a kClose
  // frame nothing more arrives.
  virtual std::optional<PeerFrame> ReadFrame(milliseconds timeout) = 0;
  // Reads until the agent's close (or the dropped connection); the frames read before it go
  // to `before` when given. nullopt when the connection is still open after `timeout`.
  std::optional<int> ExpectClose(milliseconds timeout, std::vector<PeerFrame>* before = nullptr);

  // One WebSocket message in one frame, exactly these bytes (no UTF-8 check on our side).
  virtual Status SendText(std::string raw) = 0;
  virtual Status SendBinary(std::string raw) = 0;
  // Bytes written below the WebSocket layer, straight into the TLS stream.
  virtual Status SendRawBytes(std::string raw) = 0;
  // Starts the close handshake with `code`; the agent's answer arrives as a kClose frame.
  virtual Status Close(std::uint16_t code) = 0;
  // Stops reading: from now on the agent's pings are not answered (a silent, dead peer).
  virtual void StopReading() = 0;

  // Sec-WebSocket-Protocol as the agent offered it in its upgrade request.
  virtual std::string offered_subprotocols() const = 0;
  // Pings the agent sent so far.
  virtual int pings() const = 0;
  // When the TCP connection was accepted.
  virtual std::chrono::steady_clock::time_point accepted_at() const = 0;
  // Text frames the peer's background filter took out of the stream so far, and the last one.
  virtual int background_frames() const = 0;
  virtual std::string last_background_frame() const = 0;
};

// Says whether a text frame is background traffic that the agent sends on its own schedule
// (e.g. `audit_head`): such frames never reach ReadFrame, so that an answer is what it is.
using BackgroundFilter = std::function<bool(std::string_view text)>;

class ScriptedPeer {
 public:
  // Listens on 127.0.0.1 on a free port with a server certificate from `ca` (SAN 127.0.0.1)
  // and requires client certificates issued by `ca`.
  static Result<std::unique_ptr<ScriptedPeer>> Start(const TestCa& ca);
  // REQUIRES: the test holds no PeerConnection any more (their sockets use the I/O thread).
  virtual ~ScriptedPeer() = default;

  virtual int port() const = 0;
  // The next agent connection that completed TLS (client certificate verified) and the
  // WebSocket upgrade; nullopt when none within `timeout`. Connections are queued as they
  // come, so one that arrived while the test looked elsewhere is not lost.
  virtual std::shared_ptr<PeerConnection> Accept(milliseconds timeout) = 0;
  // Whether later upgrades select wbagent.v1 (the default) or select no subprotocol.
  virtual void SelectSubprotocol(bool select) = 0;
  // The filter for connections accepted from now on (none by default).
  virtual void SetBackgroundFilter(BackgroundFilter filter) = 0;
  // Handshakes that failed (TLS without a valid client certificate, no upgrade) so far.
  virtual int failed_handshakes() const = 0;
};

}  // namespace wb::testing
