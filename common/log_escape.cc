#include "common/log_escape.h"

namespace wb {
namespace {

std::string Escape(std::string_view text, std::size_t max_len, bool escape_backslash) {
  static constexpr char kHex[] = "0123456789abcdef";
  const bool cut = text.size() > max_len;
  if (cut) text = text.substr(0, max_len);
  std::string out;
  out.reserve(text.size() + 3);
  for (unsigned char c : text) {
    if (c >= 0x20 && c < 0x7f && (c != '\\' || !escape_backslash)) {
      out.push_back(static_cast<char>(c));
    } else {
      out += "\\x";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
    }
  }
  if (cut) out += "...";
  return out;
}

}  // namespace

std::string EscapeForLog(std::string_view text, std::size_t max_len) {
  return Escape(text, max_len, /*escape_backslash=*/true);
}

std::string ShowEscaped(std::string_view escaped, std::size_t max_len) {
  return Escape(escaped, max_len, /*escape_backslash=*/false);
}

}  // namespace wb
