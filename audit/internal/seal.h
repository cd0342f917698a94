#pragma once
// The MAC rule shared by records and the checkpoint (docs/audit.md, "Verifying by hand"):
// a sealed line is a JSON object whose last member is "hmac", and the MAC is taken over the
// line with that member removed. The MAC'd bytes are the bytes as written, so a verifier
// never has to re-serialise JSON to check them.

#include <optional>
#include <string>
#include <string_view>

#include "audit/internal/crypto.h"
#include "common/secret.h"
#include "common/status.h"

namespace wb::audit::internal {

// `body` is a JSON object ("{...}") without an "hmac" member. Returns
// body minus its final '}' + `,"hmac":"<HMAC-SHA-256(key, body) hex>"}`.
std::string Seal(std::string_view body, const Secret& key);
// The same, the key set up once; kInternal (nothing to write) when OpenSSL gave no MAC.
Result<std::string> Seal(std::string_view body, const HmacKey& key);

struct Unsealed {
  std::string body;       // the MAC'd bytes
  std::string_view hmac;  // the hex the line carries (a view into the line)
};
// Splits a sealed line; nullopt when it does not end in `,"hmac":"<64 lowercase hex>"}`.
std::optional<Unsealed> Unseal(std::string_view line);

enum class SealCheck { kOk, kNotSealed, kBadMac };
SealCheck CheckSeal(std::string_view line, const Secret& key);
SealCheck CheckSeal(std::string_view line, const HmacKey& key);

}  // namespace wb::audit::internal
