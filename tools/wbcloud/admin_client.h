#pragma once
// The client side of admin.sock, for `wbcloud submit` and `wbcloud status`.

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "common/status.h"

namespace wb::cloud {

// Sends one request line and reads one answer line. `request_line` is wiped after sending
// (it may hold a password). kUnavailable when no server listens on `socket_path`.
Result<nlohmann::json> AdminCall(const std::filesystem::path& socket_path, std::string request_line,
                                 std::chrono::milliseconds timeout);

}  // namespace wb::cloud
