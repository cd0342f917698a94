#pragma once
// Test support for the protocol tests: keys, claims, and hand-built (often hostile) JWS.

#include <string>
#include <string_view>

#include "protocol/protocol.h"
#include "protocol/strict_json.h"

namespace wb::protocol::fixtures {

// Passwords no error text may ever contain.
inline constexpr std::string_view kNewPassword = "Correct-Horse-Battery-42!";
inline constexpr std::string_view kOldPassword = "Tr0ub4dor&3-old";
inline constexpr std::string_view kTenant = "tenant-contoso";
inline constexpr std::string_view kAgentId = "agent-paris-1";
inline constexpr std::string_view kCloudKid = "cloud-2027-01";

struct TestKeys {
  EcPrivateKey cloud;
  Jwks trusted;  // the cloud's public key under kCloudKid
  EcPrivateKey agent;
  Jwk agent_jwk;  // the agent's encryption public key
};
TestKeys MakeKeys();

// A valid reset request issued at `now`, expiring 10 minutes later.
RequestClaims ResetClaims(WallTime now);
Passwords MakePasswords(std::string_view new_password, std::string_view old_password = "");

OpenOptions Options();

// A compact JWS with exactly this header and payload text, signed ES256 by `key`.
std::string SignRaw(std::string_view header_json, std::string_view payload_json,
                    const EcPrivateKey& key);
// The standard request header with `kid`.
std::string RequestHeader(std::string_view kid = kCloudKid);
// The claims JSON of `claims` (with `secret` when not empty) as a mutable document.
Json ClaimsJson(const RequestClaims& claims, std::string_view secret = "");
// The "secret" claim of an envelope.
std::string SecretOf(std::string_view envelope);

}  // namespace wb::protocol::fixtures
