#include "breached/password_hash.h"

#include <openssl/evp.h>

#include <optional>
#include <vector>

#include "breached/md4.h"
#include "common/secure_memory.h"

namespace wb::breached {
namespace {

using SecureBytes = std::vector<std::uint8_t, SecureAllocator<std::uint8_t>>;

// The next code point of UTF-8 `s` at `i` (advancing `i`), or nullopt when the bytes there are
// not valid UTF-8 (overlong forms, surrogates and values above U+10FFFF included).
std::optional<char32_t> NextCodePoint(std::string_view s, std::size_t& i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char b0 = byte(i);
  std::size_t len = 0;
  char32_t cp = 0;
  char32_t min = 0;
  if (b0 < 0x80) {
    ++i;
    return b0;
  } else if ((b0 & 0xE0) == 0xC0) {
    len = 2;
    cp = b0 & 0x1F;
    min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3;
    cp = b0 & 0x0F;
    min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4;
    cp = b0 & 0x07;
    min = 0x10000;
  } else {
    return std::nullopt;
  }
  if (i + len > s.size()) return std::nullopt;
  for (std::size_t k = 1; k < len; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return std::nullopt;
    cp = (cp << 6) | (byte(i + k) & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return std::nullopt;
  i += len;
  return cp;
}

void PutUnit(SecureBytes& out, char32_t unit) {
  out.push_back(static_cast<std::uint8_t>(unit & 0xFF));
  out.push_back(static_cast<std::uint8_t>(unit >> 8));
}

}  // namespace

Status HashPassword(HashKind kind, const Secret& password, PasswordHash& out) {
  const std::string_view bytes = password.view();
  switch (kind) {
    case HashKind::kSha1: {
      unsigned int len = 0;
      if (EVP_Digest(bytes.data(), bytes.size(), out.bytes_.data(), &len, EVP_sha1(), nullptr) !=
          1) {
        return Internal("SHA-1 failed");
      }
      out.size_ = 20;
      return Status::Ok();
    }
    case HashKind::kNtlm: {
      SecureBytes utf16;
      utf16.reserve(2 * bytes.size() + 2);  // never grows: at most 2 bytes per UTF-8 byte
      for (std::size_t i = 0; i < bytes.size();) {
        const std::optional<char32_t> cp = NextCodePoint(bytes, i);
        if (!cp) {
          return InvalidArgument(
              "the password is not valid UTF-8, so it has no NTLM (UTF-16) hash");
        }
        if (*cp < 0x10000) {
          PutUnit(utf16, *cp);
        } else {
          PutUnit(utf16, 0xD800 + ((*cp - 0x10000) >> 10));
          PutUnit(utf16, 0xDC00 + ((*cp - 0x10000) & 0x3FF));
        }
      }
      Md4(utf16, std::span<std::uint8_t, kMd4Size>(out.bytes_.data(), kMd4Size));
      out.size_ = kMd4Size;
      return Status::Ok();
    }
  }
  return Internal("unknown hash kind");
}

}  // namespace wb::breached
