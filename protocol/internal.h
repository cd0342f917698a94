#pragma once
// Internal to wb_protocol: JSON conversions shared between its files.

#include <string_view>

#include "protocol/openssl_util.h"
#include "protocol/protocol.h"
#include "protocol/strict_json.h"

namespace wb::protocol {

// String rules shared by messages, claims and enrollment.
inline constexpr StringRule kIdRule{36, 36, Charset::kUuid};
inline constexpr StringRule kTenantRule{1, 128, Charset::kPrintable};
inline constexpr StringRule kAgentIdRule{1, 128, Charset::kPrintable};
inline constexpr StringRule kKidRule{1, 128, Charset::kPrintable};
inline constexpr StringRule kTextRule{0, 1024, Charset::kText};
inline constexpr StringRule kCodeRule{1, 64, Charset::kToken};

// JWK and JWKS objects (strict, as ParseJwk/ParseJwks document).
Result<Jwk> JwkFromJson(const Json& j, std::string_view where);
Result<Jwks> JwksFromJson(const Json& j, std::string_view where);
// Reads "keys" of a JWKS-shaped object through a caller's reader (the signed key set adds
// members beside "keys").
bool ReadKeys(FieldReader& reader, Jwks& out);
OrderedJson JwkToJson(const Jwk& jwk);
OrderedJson JwksToJson(const Jwks& jwks);

// A public key for a verified JWK (the point was checked when the JWK was parsed, and is
// checked again here).
Result<PkeyPtr> JwkPublicKey(const Jwk& jwk);

// The three parts of a compact JWS, decoded, with the header already parsed strictly.
struct CompactJws {
  std::string_view signing_input;  // ASCII(header) "." ASCII(payload), as received
  Json header;
  std::string payload;
  std::string signature;
};
// A key the cloud may sign with: `use` "sig" and `alg` "ES256" when present. Requests and key
// sets are verified only with such keys.
inline bool IsEs256SigningKey(const Jwk& key) {
  return (key.use.empty() || key.use == "sig") && (key.alg.empty() || key.alg == "ES256");
}

// Splits and decodes; kInvalidArgument for anything but three canonical base64url parts and a
// JSON object header of at most 1 KiB.
Result<CompactJws> SplitCompactJws(std::string_view compact);
// header.payload.signature for a header and a payload, signed with ES256.
Result<std::string> SignCompactJws(const OrderedJson& header, std::string_view payload,
                                   EVP_PKEY* key);

}  // namespace wb::protocol
