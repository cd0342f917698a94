#pragma once
// Hashing, MACs and hex for the audit trail. OpenSSL errors are converted here, once.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "common/secret.h"

namespace wb::audit::internal {

// The "prev" of the first record of a trail.
inline constexpr std::string_view kZeroHash =
    "0000000000000000000000000000000000000000000000000000000000000000";
inline constexpr std::size_t kHexDigestSize = 64;

std::string HexEncode(std::string_view bytes);
// Lowercase or uppercase hex; nullopt on an odd length or a non-hex character. The caller
// wraps key material in a Secret at once.
std::optional<Secret> HexDecodeSecret(std::string_view hex);
bool IsLowerHex(std::string_view text);

std::string Sha256Hex(std::string_view data);
std::string HmacSha256Hex(const Secret& key, std::string_view data);
// Compares without leaking where two equal-length strings differ.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace wb::audit::internal
