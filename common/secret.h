#pragma once
// Secrets in memory and on disk.
//
// A Secret owns bytes that must never be logged, copied implicitly, or left in freed memory.
// They live in secure memory (common/secure_memory.h): out of core dumps, locked in RAM where
// allowed, and wiped with OPENSSL_cleanse, which the compiler may not elide, when the Secret
// is wiped or destroyed. It is move-only; a moved-from Secret is empty. Not thread-safe;
// owned by one thread at a time.

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "common/secure_memory.h"
#include "common/status.h"

namespace wb {

class Secret {
 public:
  Secret() = default;
  explicit Secret(std::string_view bytes);
  ~Secret();
  Secret(Secret&& other) noexcept;
  Secret& operator=(Secret&& other) noexcept;
  Secret(const Secret&) = delete;
  Secret& operator=(const Secret&) = delete;

  // The bytes. Do not copy them into a longer-lived std::string.
  std::string_view view() const { return {bytes_.data(), bytes_.size()}; }
  std::size_t size() const { return bytes_.size(); }
  bool empty() const { return bytes_.empty(); }
  void Wipe();

 private:
  std::vector<char, SecureAllocator<char>> bytes_;  // a vector: no small-string buffer
};

// Wipes a buffer that held secret bytes.
void WipeBytes(void* data, std::size_t size);

// Checks that `path` is a regular file that neither group nor others may read or write, and
// that it is owned by the current user or root. A key file others can read is refused, as
// OpenSSH refuses one (sshkey_perm_ok).
Status CheckSecretFilePermissions(const std::filesystem::path& path);

// Reads a secret file after CheckSecretFilePermissions. One trailing newline is removed, so
// `echo pw > file` works.
Result<Secret> ReadSecretFile(const std::filesystem::path& path);

}  // namespace wb
