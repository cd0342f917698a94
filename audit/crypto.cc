#include "audit/internal/crypto.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

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

HmacKey::HmacKey(const Secret& key) {
  const MacPtr mac(EVP_MAC_fetch(nullptr, "HMAC", nullptr));
  if (!mac) return;
  MacCtxPtr ctx(EVP_MAC_CTX_new(mac.get()));
  char digest[] = "SHA256";
  const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                               OSSL_PARAM_construct_end()};
  if (!ctx || EVP_MAC_init(ctx.get(), reinterpret_cast<const unsigned char*>(key.view().data()),
                           key.size(), params) != 1) {
    return;
  }
  keyed_ = std::move(ctx);
}

std::string HmacKey::Hex(std::string_view data) const {
  if (!keyed_) return std::string();
  const MacCtxPtr ctx(EVP_MAC_CTX_dup(keyed_.get()));
  unsigned char mac[EVP_MAX_MD_SIZE];
  std::size_t size = 0;
  if (!ctx ||
      EVP_MAC_update(ctx.get(), reinterpret_cast<const unsigned char*>(data.data()), data.size()) !=
          1 ||
      EVP_MAC_final(ctx.get(), mac, &size, sizeof mac) != 1) {
    return std::string();
  }
  std::string hex = HexEncode(std::string_view(reinterpret_cast<const char*>(mac), size));
  WipeBytes(mac, sizeof mac);
  return hex;
}

std::string HmacSha256Hex(const Secret& key, std::string_view data) {
  return HmacKey(key).Hex(data);
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size() || a.empty()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace wb::audit::internal
