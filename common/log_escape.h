#pragma once
// Text that came from a peer (a cloud message, a directory's diagnostic) is escaped before it
// reaches a log line or an error message, so it cannot forge log lines or terminal escapes.

#include <string>
#include <string_view>

namespace wb {

// Printable ASCII passes through; everything else, and backslash, becomes \xNN. The result
// is cut at `max_len` bytes of input with "..." appended.
std::string EscapeForLog(std::string_view text, std::size_t max_len = 256);

// For text that went through EscapeForLog where it entered, shown again later: read back from
// the queue or status.json, or an agent's result reason at the cloud (an Outcome's reason and
// its escaped diagnostic). Escaping it again would turn the "\x0a" of a directory's diagnostic
// into "\x5cx0a". Printable ASCII, backslash included, passes through unchanged; any other
// byte still becomes \xNN, so a hand-edited file or a careless peer cannot reach a terminal
// raw. The result is cut at `max_len` bytes of input with "..." appended.
std::string ShowEscaped(std::string_view escaped, std::size_t max_len = 1024);

}  // namespace wb
