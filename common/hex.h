#pragma once
// Hex text for digests, MACs and key files.

#include <optional>
#include <string>
#include <string_view>

#include "common/secret.h"

namespace wb {

// Lowercase hex of `bytes`.
std::string HexEncode(std::string_view bytes);
// Lowercase or uppercase hex; nullopt on an odd length or a non-hex character. The decoded
// bytes exist only in secure memory: the returned Secret and a scratch buffer, wiped.
std::optional<Secret> HexDecodeSecret(std::string_view hex);
bool IsLowerHex(std::string_view text);

}  // namespace wb
