#pragma once
// The frame rules of docs/protocol.md section 2, as wbcloud applies them to what an agent
// sends: each frame is either one agent -> cloud message that is valid now, or a refusal that
// says which `error` to send and with which status to close.
//
// The WebSocket layer has already applied the first two rules before a frame gets here: a
// message over protocol::kMaxMessageBytes is not read (close 1009) and a text message that is
// not UTF-8 is not delivered (close 1007).
//
// No I/O; thread-safe.

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "protocol/protocol.h"

namespace wb::cloud {

// WebSocket close statuses (RFC 6455 section 7.4.1) that the frame rules use.
enum class CloseStatus : std::uint16_t {
  kProtocolError = 1002,    // `v` is not 1
  kUnsupportedData = 1003,  // a binary message
  kPolicyViolation = 1008,  // anything else that is refused
};

// Why a frame is refused: the `error` wbcloud sends, then the close status.
struct FrameRefusal {
  std::string code;     // "bad_message", "unsupported_version" or "protocol_violation"
  std::string message;  // safe to log and to send: peer text in it is escaped
  CloseStatus close = CloseStatus::kPolicyViolation;
};

struct AgentFrame {
  std::string_view payload;
  bool binary = false;
  bool after_hello = false;  // the session has taken the agent's hello
};

// Checks `frame` against the rules of section 2 in their order (binary; not one JSON object
// with a type; `v`; unknown type or one that only the cloud sends; wrong fields; the wrong
// time, section 3). Returns the message, or why it is refused.
std::variant<protocol::Message, FrameRefusal> CheckAgentFrame(const AgentFrame& frame);

}  // namespace wb::cloud
