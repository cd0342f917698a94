#pragma once
// Internal to wb_protocol: owning handles for OpenSSL objects and the one place where an
// OpenSSL error queue becomes a Status.

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

#include <memory>
#include <string>
#include <string_view>

#include "common/openssl_error.h"
#include "common/secret.h"
#include "common/status.h"

namespace wb::protocol {

template <typename T, void (*F)(T*)>
struct OsslDeleter {
  void operator()(T* p) const { F(p); }
};

using PkeyPtr = std::unique_ptr<EVP_PKEY, OsslDeleter<EVP_PKEY, EVP_PKEY_free>>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, OsslDeleter<EVP_PKEY_CTX, EVP_PKEY_CTX_free>>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, OsslDeleter<EVP_MD_CTX, EVP_MD_CTX_free>>;
using CipherCtxPtr =
    std::unique_ptr<EVP_CIPHER_CTX, OsslDeleter<EVP_CIPHER_CTX, EVP_CIPHER_CTX_free>>;
using BignumPtr = std::unique_ptr<BIGNUM, OsslDeleter<BIGNUM, BN_free>>;
using EcdsaSigPtr = std::unique_ptr<ECDSA_SIG, OsslDeleter<ECDSA_SIG, ECDSA_SIG_free>>;

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
