#include "tools/wbcloud/enroll.h"

#include <nlohmann/json.hpp>
#include <regex>

#include "common/log_escape.h"
#include "common/secret.h"
#include "tools/wbcloud/tokens.h"

namespace wb::cloud {

std::string ErrorBody(std::string_view code, std::string_view message) {
  return nlohmann::json{{"error", code}, {"message", message}}.dump();
}

HttpAnswer HandleEnroll(CloudState& state, std::string_view body, const Clock& clock,
                        std::chrono::seconds certificate_lifetime, const std::string& agent_url) {
  auto request = protocol::ParseEnrollRequest(body);
  if (!request.ok()) return {400, ErrorBody("bad_request", request.error().message())};
  static const std::regex kAgentId("[A-Za-z0-9._-]{1,64}");
  if (!std::regex_match(request->agent_id, kAgentId)) {
    return {400, ErrorBody("bad_request", "agent_id must be 1-64 of A-Z a-z 0-9 . _ -")};
  }
  // Everything that can be checked without spending the token is checked first.
  const WallTime now = clock.Now();
  auto issued = state.ca().IssueClient(request->csr, request->agent_id, now, certificate_lifetime);
  if (!issued.ok()) return {400, ErrorBody("bad_csr", issued.error().message())};
  Status token = ConsumeToken(state.paths().tokens(), request->token, clock);
  WipeBytes(request->token.data(), request->token.size());
  if (!token.ok()) {
    const unsigned status = token.code() == Code::kPermissionDenied ? 401 : 500;
    return {status, ErrorBody("invalid_token", token.message())};
  }
  AgentRecord agent{.id = request->agent_id,
                    .fingerprints = {issued->fingerprint},
                    .encryption_key = request->encryption_jwk,
                    .enrolled_at = now,
                    .certificate_expires = issued->not_after};
  Status saved = state.SaveAgent(std::move(agent));
  if (!saved.ok()) return {500, ErrorBody("internal", saved.message())};
  protocol::EnrollResponse response{.tenant = state.tenant(),
                                    .certificate = issued->pem + state.ca().certificate_pem(),
                                    .cloud_keys = state.cloud_keys(),
                                    .agent_url = agent_url};
  return {200, protocol::Serialize(response)};
}

}  // namespace wb::cloud
