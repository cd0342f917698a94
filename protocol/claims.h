#pragma once
// Internal to wb_protocol and its tests: the request claims (the JWS payload) as JSON.

#include <string>
#include <string_view>

#include "protocol/protocol.h"
#include "protocol/strict_json.h"

namespace wb::protocol {

struct ParsedClaims {
  RequestClaims claims;
  std::string secret;  // the compact JWE; empty when absent
};

// Strict: every claim of docs/protocol.md with its JSON type and bounds, and no other.
// kInvalidArgument on any problem.
Result<ParsedClaims> ClaimsFromJson(std::string_view payload);
// `secret` empty omits the claim.
std::string ClaimsToJson(const RequestClaims& claims, std::string_view secret);

// The rules of RequestClaims that span fields (the per-field bounds included, for the sealing
// side). `has_secret`: the envelope carries a JWE.
Status CheckClaimRules(const RequestClaims& claims, bool has_secret);
// After decryption: change needs old_password, and only change may carry one.
Status CheckPasswordsFit(const RequestClaims& claims, const Passwords& passwords);

}  // namespace wb::protocol
