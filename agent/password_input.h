#pragma once
// Reading a password an administrator types (`wbagent breached check`, `wbagent policy test
// --password-file -`): never from the command line, never echoed, only into secure memory.

#include <string_view>

#include "common/secret.h"
#include "common/status.h"

namespace wb::agent {

// A password longer than this on stdin is refused rather than cut.
inline constexpr std::size_t kMaxPasswordBytes = 1024;

// The first line of standard input (without "\n" or "\r\n"), read into secure memory. On a
// terminal it prompts "<prompt>: " on stderr and turns echo off while it reads; errors name
// the `noun`. Errors: kInvalidArgument (nothing, or longer than kMaxPasswordBytes), the read's
// errno status.
Result<Secret> ReadSecretLineFromStdin(std::string_view prompt, std::string_view noun);
inline Result<Secret> ReadPasswordFromStdin() {
  return ReadSecretLineFromStdin("Password", "password");
}

}  // namespace wb::agent
