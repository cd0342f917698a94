#include "breached/password_hash.h"

#include <openssl/evp.h>

#include <vector>

#include "breached/md4.h"
#include "common/secure_memory.h"
#include "common/utf8.h"

namespace wb::breached {
namespace {

using SecureBytes = std::vector<std::uint8_t, SecureAllocator<std::uint8_t>>;

void PutUnit(SecureBytes& out, char32_t unit) {
  out.push_back(static_cast<std::uint8_t>(unit & 0xFF));
  out.push_back(static_cast<std::uint8_t>(unit >> 8));
}

// Takes the code points DecodeUtf8Into finds and writes them as UTF-16LE: the password's code
// points are never held anywhere else.
struct Utf16Writer {
  SecureBytes& out;
  void push_back(char32_t cp) {
    if (cp < 0x10000) {
      PutUnit(out, cp);
    } else {
      PutUnit(out, 0xD800 + ((cp - 0x10000) >> 10));
      PutUnit(out, 0xDC00 + ((cp - 0x10000) & 0x3FF));
    }
  }
};

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
      Utf16Writer writer{utf16};
      if (!DecodeUtf8Into(bytes, writer)) {
        return InvalidArgument("the password is not valid UTF-8, so it has no NTLM (UTF-16) hash");
      }
      Md4(utf16, std::span<std::uint8_t, kMd4Size>(out.bytes_.data(), kMd4Size));
      out.size_ = kMd4Size;
      return Status::Ok();
    }
  }
  return Internal("unknown hash kind");
}

}  // namespace wb::breached
