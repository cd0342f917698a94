#pragma once
// OpenSSL failures, converted to wbagent's vocabulary once, where they happen.

#include <string>
#include <string_view>

#include "common/status.h"

namespace wb {

// Empties this thread's OpenSSL error queue into one line ("; " between entries);
// "no OpenSSL error recorded" when it was empty.
std::string TakeOpenSslErrors();

// Internal("<what>: <the OpenSSL errors>"), emptying the queue.
Status OpenSslError(std::string_view what);

}  // namespace wb
