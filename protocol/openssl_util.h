#pragma once
// Internal to wb_protocol: OpenSSL helpers (the owning handles are common/openssl_ptr.h).

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

#include <memory>
#include <string>
#include <string_view>

#include "common/openssl_error.h"
#include "common/openssl_ptr.h"
#include "common/secret.h"
#include "common/secure_memory.h"
#include "common/status.h"

namespace wb::protocol {

// Drains and discards the queue (after an expected failure, e.g. a bad signature).
void ClearOpenSslErrors();

// A string for secret bytes (plaintexts, CEKs, shared secrets) in secure memory
// (common/secure_memory.h): out of core dumps, locked where allowed, and wiped when freed,
// also when it grows. Callers still reserve the final size first, to spare the copies.
class WipedString {
 public:
  WipedString() : s_(MakeSecureString(0)) {}
  explicit WipedString(std::size_t reserve) : s_(MakeSecureString(reserve)) {}
  WipedString(const WipedString&) = delete;
  WipedString& operator=(const WipedString&) = delete;

  SecureString& str() { return s_; }
  std::string_view view() const { return {s_.data(), s_.size()}; }

 private:
  SecureString s_;  // made by MakeSecureString in each constructor
};

}  // namespace wb::protocol
