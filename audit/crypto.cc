#include "audit/internal/crypto.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <string>

namespace wb::audit::internal {

std::string Sha256Hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  // EVP_Digest only fails on allocation failure, which OpenSSL 3 treats as fatal elsewhere
  // too; an empty digest then makes every comparison fail rather than pass.
  if (EVP_Digest(data.data(), data.size(), digest, &size, EVP_sha256(), nullptr) != 1) {
    return std::string();
  }
  return HexEncode(std::string_view(reinterpret_cast<const char*>(digest), size));
}

std::string HmacSha256Hex(const Secret& key, std::string_view data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (HMAC(EVP_sha256(), key.view().data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac,
           &size) == nullptr) {
    return std::string();
  }
  std::string hex = HexEncode(std::string_view(reinterpret_cast<const char*>(mac), size));
  WipeBytes(mac, sizeof mac);
  return hex;
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size() || a.empty()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace wb::audit::internal
