#pragma once
// Internal to wb_protocol and its tests: base64url without padding (RFC 7515 section 2).

#include <optional>
#include <string>
#include <string_view>

namespace wb::protocol {

std::string Base64UrlEncode(std::string_view bytes);

// Strict: only [A-Za-z0-9_-], no padding, no whitespace, a length that is not 1 mod 4, and
// zero unused trailing bits (so every byte string has exactly one accepted encoding).
// `out` is replaced; its capacity is reserved up front, so a caller that wipes it after use
// wipes every byte it ever held.
bool Base64UrlDecode(std::string_view text, std::string& out);
std::optional<std::string> Base64UrlDecode(std::string_view text);

}  // namespace wb::protocol
