#pragma once
// Test support: a scripted agent. It connects to a cloud's /agent endpoint the way wbagent
// does (TLS with an enrolled agent's client certificate, the wbagent.v1 subprotocol) and then
// sends exactly the bytes a test gives it: a text message, a binary message, or raw bytes
// under the WebSocket layer for frames a WebSocket library would not produce. It shares no
// code with the channel, so a test of the cloud through it does not test the channel's and
// the cloud's shared assumptions.
//
// Every call is bounded by the timeout given at construction. Not thread-safe.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace wb::testing {

struct ScriptedAgentOptions {
  int port = 0;                   // the cloud on 127.0.0.1
  std::filesystem::path ca_file;  // verifies the cloud's certificate
  std::filesystem::path cert;     // the agent's client certificate (PEM)
  std::filesystem::path key;      // and its key
  std::chrono::milliseconds timeout{10000};
};

// How the cloud ended the connection.
struct CloudClose {
  std::vector<std::string> messages;  // what it sent before closing, in order
  // The status of its close frame; nullopt when the connection ended without one (`end` says
  // how).
  std::optional<std::uint16_t> code;
  std::string reason;
  Status end;
};

// A client frame (FIN set, masked as RFC 6455 requires of a client) with `opcode` (1 text,
// 2 binary) around `payload`, for SendRaw.
std::string MaskedFrame(std::uint8_t opcode, std::string_view payload);

class ScriptedAgent {
 public:
  explicit ScriptedAgent(ScriptedAgentOptions options);
  ~ScriptedAgent();
  ScriptedAgent(const ScriptedAgent&) = delete;
  ScriptedAgent& operator=(const ScriptedAgent&) = delete;

  // TLS, then the WebSocket upgrade of /agent. A refused upgrade fails; upgrade_status() then
  // says the HTTP status the cloud answered.
  Status Connect();
  unsigned upgrade_status() const;

  // One message in one frame, whatever `payload` holds.
  Status SendText(std::string_view payload);
  Status SendBinary(std::string_view payload);
  // Bytes written as they are under the WebSocket layer (see MaskedFrame).
  Status SendRaw(std::string_view bytes);

  // The cloud's next message (text or binary).
  Result<std::string> Read();
  // Everything the cloud sends until it closes or the timeout passes, and how it closed.
  CloudClose ReadUntilClosed();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace wb::testing
