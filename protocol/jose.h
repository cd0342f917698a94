#pragma once
// Internal to wb_protocol and its tests: the JOSE primitives the envelope is built from, on
// OpenSSL 3 EVP. Only what protocol v1 uses: ES256 (RFC 7518 section 3.4), ECDH-ES key
// agreement with the Concat KDF (section 4.6) and AES-256-GCM (section 5.3), all on P-256.
// Raw byte strings in and out; base64url and JSON are the callers' business.

#include <cstddef>
#include <string>
#include <string_view>

#include "common/status.h"
#include "protocol/openssl_util.h"

namespace wb::protocol {

inline constexpr std::size_t kP256CoordinateBytes = 32;
inline constexpr std::size_t kEs256SignatureBytes = 64;
inline constexpr std::size_t kGcmIvBytes = 12;
inline constexpr std::size_t kGcmTagBytes = 16;

// True when `key` is an EC key on P-256.
bool IsP256(EVP_PKEY* key);

// A validated P-256 public key (point on the curve, not infinity) from raw 32-byte x and y.
// kInvalidArgument when the point is not valid.
Result<PkeyPtr> P256PublicKey(std::string_view x, std::string_view y);
// A P-256 key pair from raw 32-byte d, x, y (used for published test vectors).
Result<PkeyPtr> P256PrivateKey(std::string_view d, std::string_view x, std::string_view y);
// The raw 32-byte coordinates of a P-256 key's public point.
Status P256Coordinates(EVP_PKEY* key, std::string& x, std::string& y);

// ES256 over `signing_input`: the 64-byte R || S form of RFC 7518 section 3.4 (not DER).
Result<std::string> Es256Sign(EVP_PKEY* key, std::string_view signing_input);
// True only for a valid 64-byte R || S signature by `key` over `signing_input`.
bool Es256Verify(EVP_PKEY* key, std::string_view signing_input, std::string_view signature);

// The ECDH shared secret Z of `own` (private) and `peer` (public). `peer` must come from
// P256PublicKey or P256PrivateKey, which validated it: it is not checked a second time.
Status EcdhSharedSecret(EVP_PKEY* own, EVP_PKEY* peer, WipedString& z);

// Concat KDF (NIST SP 800-56A section 5.8.1, SHA-256) as RFC 7518 section 4.6.2 uses it:
// OtherInfo = AlgorithmID || PartyUInfo || PartyVInfo || SuppPubInfo, each of the first three
// a 32-bit big-endian length then the bytes; SuppPubInfo = key length in bits (32-bit BE).
// For "ECDH-ES" direct agreement, `algorithm_id` is the "enc" value.
Status ConcatKdf(std::string_view z, std::string_view algorithm_id, std::string_view apu,
                 std::string_view apv, std::size_t key_bytes, WipedString& key);

// AES-256-GCM with a 12-byte IV and a 16-byte tag. REQUIRES key.size() == 32.
Status AesGcmEncrypt(std::string_view key, std::string_view iv, std::string_view aad,
                     std::string_view plaintext, std::string& ciphertext, std::string& tag);
// kInvalidArgument when the tag (exactly 16 bytes) does not authenticate; `plaintext` is then
// wiped and empty.
Status AesGcmDecrypt(std::string_view key, std::string_view iv, std::string_view aad,
                     std::string_view ciphertext, std::string_view tag, WipedString& plaintext);

// Cryptographically random bytes.
Result<std::string> RandomBytes(std::size_t n);

}  // namespace wb::protocol
