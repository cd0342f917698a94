#pragma once
// Internal to wb_protocol and its tests: the compact JWE of the envelope, ECDH-ES (direct key
// agreement, RFC 7518 section 4.6) with A256GCM, on P-256.

#include <optional>
#include <string>
#include <string_view>

#include "protocol/openssl_util.h"
#include "protocol/protocol.h"

namespace wb::protocol {

// Encrypts to `recipient` with a fresh ephemeral key and IV. Header:
// {"alg":"ECDH-ES","enc":"A256GCM","kid":recipient.kid,"epk":{"kty":"EC","crv":"P-256",...}}.
Result<std::string> JweEncrypt(std::string_view plaintext, const Jwk& recipient);

// Decrypts a compact JWE addressed to (`key`, `kid`) into `plaintext`. On failure returns the
// rejection: malformed (form, header, epk), bad_algorithm (alg/enc), decrypt_failed (another
// kid, or the tag does not authenticate).
std::optional<Rejection> JweDecrypt(std::string_view compact, EVP_PKEY* key, std::string_view kid,
                                    WipedString& plaintext);

}  // namespace wb::protocol
