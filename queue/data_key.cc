#include "queue/data_key.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <memory>
#include <string>

#include "common/hex.h"
#include "common/openssl_error.h"
#include "common/openssl_ptr.h"
#include "common/secure_memory.h"

namespace wb::queue {

namespace {

constexpr unsigned char kVersion = 1;
constexpr int kNonceSize = 12;
constexpr int kTagSize = 16;
constexpr std::size_t kOverhead = 1 + kNonceSize + kTagSize;

Status NotAuthentic() {
  ERR_clear_error();
  return Status(Code::kCorruption,
                "stored secret does not decrypt: altered, or sealed under another key or for "
                "another request");
}

const unsigned char* U(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}
unsigned char* U(std::string& s) { return reinterpret_cast<unsigned char*>(s.data()); }
unsigned char* U(SecureString& s) { return reinterpret_cast<unsigned char*>(s.data()); }

}  // namespace

Result<DataKey> DataKey::Generate() {
  SecureString buf = MakeSecureString(kSize);
  buf.resize(kSize);
  if (RAND_bytes(U(buf), static_cast<int>(kSize)) != 1) {
    return OpenSslError("generating the queue data key");
  }
  return DataKey{Secret(buf)};
}

Result<DataKey> DataKey::FromHex(std::string_view hex, std::string_view where) {
  if (hex.size() != 2 * kSize) {
    return Status(Code::kCorruption, std::string(where) + " must hold " +
                                         std::to_string(2 * kSize) +
                                         " hex digits (e.g. from `openssl rand -hex 32`)");
  }
  std::optional<Secret> bytes = HexDecodeSecret(hex);
  if (!bytes) {
    return Status(Code::kCorruption,
                  std::string(where) + " holds a character that is not a hex digit");
  }
  return DataKey{std::move(*bytes)};
}

Secret DataKey::ToHex() const {
  static constexpr char kDigits[] = "0123456789abcdef";
  SecureString buf = MakeSecureString(2 * kSize);
  for (const char c : bytes_.view()) {
    const auto b = static_cast<unsigned char>(c);
    buf += kDigits[b >> 4];
    buf += kDigits[b & 0xf];
  }
  return Secret(buf);
}

std::string DataKey::Id() const {
  static constexpr std::string_view kLabel("wbagent queue data key id", 26);  // with its NUL
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  bool ok = md != nullptr && EVP_DigestInit_ex(md, EVP_sha256(), nullptr) == 1 &&
            EVP_DigestUpdate(md, kLabel.data(), kLabel.size()) == 1 &&
            EVP_DigestUpdate(md, bytes_.view().data(), bytes_.size()) == 1 &&
            EVP_DigestFinal_ex(md, digest, &len) == 1;
  EVP_MD_CTX_free(md);
  if (!ok) return "";
  return HexEncode(std::string_view(reinterpret_cast<const char*>(digest), 8));
}

Result<std::string> DataKey::Seal(std::string_view plaintext, std::string_view aad) const {
  std::string blob(kOverhead + plaintext.size(), '\0');
  blob[0] = static_cast<char>(kVersion);
  unsigned char* nonce = U(blob) + 1;
  unsigned char* out = nonce + kNonceSize;
  if (RAND_bytes(nonce, kNonceSize) != 1) return OpenSslError("generating a nonce");
  CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  int fin = 0;
  if (!ctx ||
      EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, U(bytes_.view()), nonce) != 1 ||
      EVP_EncryptUpdate(ctx.get(), nullptr, &len, U(aad), static_cast<int>(aad.size())) != 1 ||
      EVP_EncryptUpdate(ctx.get(), out, &len, U(plaintext), static_cast<int>(plaintext.size())) !=
          1 ||
      EVP_EncryptFinal_ex(ctx.get(), out + len, &fin) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagSize, out + plaintext.size()) != 1) {
    return OpenSslError("encrypting a secret");
  }
  return blob;
}

Result<Secret> DataKey::Open(std::string_view blob, std::string_view aad) const {
  if (blob.size() < kOverhead || static_cast<unsigned char>(blob[0]) != kVersion) {
    return NotAuthentic();
  }
  const unsigned char* nonce = U(blob) + 1;
  const unsigned char* in = nonce + kNonceSize;
  const std::size_t n = blob.size() - kOverhead;
  SecureString plain = MakeSecureString(n);
  plain.resize(n);
  CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  int fin = 0;
  bool ok =
      ctx &&
      EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, U(bytes_.view()), nonce) == 1 &&
      EVP_DecryptUpdate(ctx.get(), nullptr, &len, U(aad), static_cast<int>(aad.size())) == 1 &&
      EVP_DecryptUpdate(ctx.get(), U(plain), &len, in, static_cast<int>(n)) == 1 &&
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagSize,
                          const_cast<unsigned char*>(in + n)) == 1 &&
      EVP_DecryptFinal_ex(ctx.get(), U(plain) + len, &fin) == 1;
  if (!ok) return NotAuthentic();  // `plain` is wiped as it is freed
  return Secret(plain);
}

}  // namespace wb::queue
