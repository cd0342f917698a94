#pragma once
// Hashing and MACs for the audit trail (hex comes from common/hex.h). OpenSSL errors are converted
// here, once.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "common/hex.h"
#include "common/openssl_ptr.h"
#include "common/secret.h"

namespace wb::audit::internal {

// The "prev" of the first record of a trail.
inline constexpr std::string_view kZeroHash =
    "0000000000000000000000000000000000000000000000000000000000000000";
inline constexpr std::size_t kHexDigestSize = 64;

using wb::HexDecodeSecret;
using wb::HexEncode;
using wb::IsLowerHex;

std::string Sha256Hex(std::string_view data);
// HMAC-SHA-256 under one key, set up once (the algorithm's lookup and the key's schedule), for
// the many lines sealed or checked with it: what the writer does for each record and verify
// for each line. Calls may run concurrently: each works on its own copy of the keyed state.
// Like Sha256Hex it gives "" when OpenSSL fails (only when it cannot allocate), which no
// comparison accepts.
class HmacKey {
 public:
  explicit HmacKey(const Secret& key);
  // False when OpenSSL could not set the key up: every Hex is then "". Check it once, where
  // the key is made.
  bool ok() const { return keyed_ != nullptr; }
  std::string Hex(std::string_view data) const;

 private:
  MacCtxPtr keyed_;  // initialised with the key; copied for each call, never updated itself
};

// One MAC under a key used once (HmacKey(key).Hex(data)).
std::string HmacSha256Hex(const Secret& key, std::string_view data);
// Compares without leaking where two equal-length strings differ.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace wb::audit::internal
