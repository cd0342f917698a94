#pragma once
// Hashing and MACs for the audit trail (hex comes from common/hex.h). OpenSSL errors are converted
// here, once.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "common/hex.h"
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
std::string HmacSha256Hex(const Secret& key, std::string_view data);
// Compares without leaking where two equal-length strings differ.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace wb::audit::internal
