#pragma once
// One-time enrollment tokens. Only a token's SHA-256 is stored (tokens.json, mode 0600);
// `wbcloud token create` and a running `serve` share the file under an advisory lock, so a
// token can be created while the server runs. A token is good once, until it expires.

#include <chrono>
#include <filesystem>
#include <string>

#include "common/clock.h"
#include "common/status.h"

namespace wb::cloud {

// Creates a token valid for `ttl` and returns it (43 base64url characters, 256 bits).
Result<std::string> CreateToken(const std::filesystem::path& tokens_file, std::chrono::seconds ttl,
                                const Clock& clock);

// Marks `token` used. kPermissionDenied, with a message saying which, when the token is
// unknown, already used or expired.
Status ConsumeToken(const std::filesystem::path& tokens_file, std::string_view token,
                    const Clock& clock);

}  // namespace wb::cloud
