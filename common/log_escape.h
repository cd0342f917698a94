#pragma once
// Text that came from a peer (a cloud message, a directory's diagnostic) is escaped before it
// reaches a log line or an error message, so it cannot forge log lines or terminal escapes.

#include <string>
#include <string_view>

namespace wb {

// Printable ASCII passes through; everything else, and backslash, becomes \xNN. The result
// is cut at `max_len` bytes of input with "..." appended.
std::string EscapeForLog(std::string_view text, std::size_t max_len = 256);

}  // namespace wb
