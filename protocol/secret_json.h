#pragma once
// Internal to wb_protocol and its tests: the JWE plaintext {"new_password": ..., "old_password":
// ...}. Parsed and written by hand, not by nlohmann::json, so that every buffer that ever holds
// a password is one this code wipes (a general JSON parser keeps token buffers of its own).

#include <string_view>

#include "common/status.h"
#include "protocol/openssl_util.h"
#include "protocol/protocol.h"

namespace wb::protocol {

// True when `s` is well-formed UTF-8 (no overlong forms, surrogates or code points beyond
// U+10FFFF).
bool IsValidUtf8(std::string_view s);

// Writes the plaintext JSON into `out` (which it reserves once; the caller's WipedString wipes
// it). kInvalidArgument when new_password is empty, a password is longer than
// kMaxPasswordBytes, not UTF-8 or holds NUL.
Status SerializePasswords(const Passwords& passwords, WipedString& out);

// Strict RFC 8259 parse of that object: exactly the members new_password (required) and
// old_password (optional), each a string of 1..kMaxPasswordBytes bytes of UTF-8 without NUL;
// no other member, no duplicate. Error messages never quote the input.
Result<Passwords> ParsePasswords(std::string_view plaintext);

}  // namespace wb::protocol
