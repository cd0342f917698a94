#pragma once
// Test support: HMAC-SHA-256 computed straight with OpenSSL, not through the product's code, so
// that a test which checks a MAC the product made (or forges one as a key holder could) does
// not share the product's mistakes.

#include <string>
#include <string_view>

namespace wb::testing {

// Lowercase hex of HMAC-SHA-256(key, data).
std::string HmacSha256Hex(std::string_view key, std::string_view data);

}  // namespace wb::testing
