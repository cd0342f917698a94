#include "tools/wbcloud/agent_frames.h"

#include <utility>

#include "common/log_escape.h"

namespace wb::cloud {
namespace {

FrameRefusal BadMessage(std::string message) {
  return {.code = "bad_message", .message = std::move(message)};
}

bool GoesToAgents(const protocol::Message& m) {
  return std::holds_alternative<protocol::Welcome>(m) ||
         std::holds_alternative<protocol::Request>(m) ||
         std::holds_alternative<protocol::ResultAck>(m) ||
         std::holds_alternative<protocol::KeySet>(m) ||
         std::holds_alternative<protocol::Certificate>(m);
}

// Section 3: hello first, and only once.
std::variant<protocol::Message, FrameRefusal> AtTheRightTime(protocol::Message m,
                                                             bool after_hello) {
  const bool hello = std::holds_alternative<protocol::Hello>(m);
  if (hello == !after_hello) return m;
  return FrameRefusal{
      .code = "protocol_violation",
      .message = hello ? "a second hello on this connection" : "the first message must be hello"};
}

}  // namespace

std::variant<protocol::Message, FrameRefusal> CheckAgentFrame(const AgentFrame& frame) {
  // Whatever a binary message holds is not looked at: a valid request in one is never applied.
  if (frame.binary) {
    return FrameRefusal{.code = "bad_message",
                        .message = "a binary message; messages are JSON in text messages",
                        .close = CloseStatus::kUnsupportedData};
  }
  // ParseMessage looks at `v` before `type`; the table puts "no type" first.
  const std::string type = protocol::MessageTypeOf(frame.payload);
  if (type.empty()) return BadMessage("not one JSON object with a \"type\"");
  auto parsed = protocol::ParseMessage(frame.payload);
  if (!parsed.ok()) {
    if (parsed.error().code() != Code::kFailedPrecondition) {
      return BadMessage(parsed.error().message());
    }
    return FrameRefusal{.code = "unsupported_version",
                        .message = "this cloud speaks version 1",
                        .close = CloseStatus::kProtocolError};
  }
  if (GoesToAgents(*parsed)) {
    // Appended rather than "\"" + ...: GCC 12 -O3 sees a false -Wrestrict in operator+.
    std::string message = "\"";
    message.append(EscapeForLog(type, 32)).append("\" goes from the cloud to an agent");
    return BadMessage(message);
  }
  return AtTheRightTime(std::move(*parsed), frame.after_hello);
}

}  // namespace wb::cloud
