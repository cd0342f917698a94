#pragma once
// Internal to breached/: a password's hash as the list stores it, in a buffer wiped on
// destruction.

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "breached/breached.h"
#include "common/secret.h"
#include "common/status.h"

namespace wb::breached {

class PasswordHash {
 public:
  PasswordHash() = default;
  ~PasswordHash() { WipeBytes(bytes_.data(), bytes_.size()); }
  PasswordHash(const PasswordHash&) = delete;
  PasswordHash& operator=(const PasswordHash&) = delete;

  std::span<const std::uint8_t> view() const { return {bytes_.data(), size_}; }

 private:
  friend Status HashPassword(HashKind kind, const Secret& password, PasswordHash& out);
  std::array<std::uint8_t, 20> bytes_{};
  std::size_t size_ = 0;
};

// SHA-1 of the password's bytes, or NTLM: MD4 of its UTF-16LE form (the UTF-16 copy lives in
// secure memory and is wiped). Errors: kInvalidArgument for NTLM and a password that is not
// valid UTF-8; the message does not contain it.
Status HashPassword(HashKind kind, const Secret& password, PasswordHash& out);

}  // namespace wb::breached
