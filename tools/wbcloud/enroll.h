#pragma once
// POST /enroll: a one-time token buys a client certificate for the agent's CSR, and the agent
// gets the tenant, the cloud's signing keys and the agent URL back (docs/protocol.md,
// "Enrollment"). No I/O besides the state directory.

#include <chrono>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "tools/wbcloud/cloud_state.h"

namespace wb::cloud {

struct HttpAnswer {
  unsigned status = 200;
  std::string body;  // JSON
};

// Checks the request (strict schema, agent id, CSR self-signature and key type, encryption
// key), consumes the token, issues the certificate and records the agent. Errors are JSON
// {"error": code, "message": text} with 400 (bad request), 401 (token) or 500.
HttpAnswer HandleEnroll(CloudState& state, std::string_view body, const Clock& clock,
                        std::chrono::seconds certificate_lifetime, const std::string& agent_url);

// {"error": code, "message": message}.
std::string ErrorBody(std::string_view code, std::string_view message);

}  // namespace wb::cloud
