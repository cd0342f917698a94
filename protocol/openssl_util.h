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
#include "common/status.h"

namespace wb::protocol {

// Drains and discards the queue (after an expected failure, e.g. a bad signature).
void ClearOpenSslErrors();

// A std::string for secret bytes, wiped (whole capacity) on destruction. Callers reserve
// the final size first so the buffer never reallocates (a reallocation would leave the old
// copy unwiped).
class WipedString {
 public:
  WipedString() = default;
  explicit WipedString(std::size_t reserve) { s_.reserve(reserve); }
  ~WipedString() { WipeBytes(s_.data(), s_.capacity()); }
  WipedString(const WipedString&) = delete;
  WipedString& operator=(const WipedString&) = delete;

  std::string& str() { return s_; }
  std::string_view view() const { return s_; }

 private:
  std::string s_;
};

}  // namespace wb::protocol
