#include "protocol/jose.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ecdsa.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>

#include <array>
#include <cstring>

namespace wb::protocol {
namespace {

using ParamBldPtr =
    std::unique_ptr<OSSL_PARAM_BLD, OsslDeleter<OSSL_PARAM_BLD, OSSL_PARAM_BLD_free>>;
using ParamPtr = std::unique_ptr<OSSL_PARAM, OsslDeleter<OSSL_PARAM, OSSL_PARAM_free>>;

constexpr char kP256GroupName[] = "prime256v1";

const unsigned char* Bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

// 0x04 || x || y, the uncompressed SEC1 point encoding.
std::string UncompressedPoint(std::string_view x, std::string_view y) {
  std::string point(1, '\x04');
  point.append(x);
  point.append(y);
  return point;
}

Result<PkeyPtr> KeyFromParams(OSSL_PARAM_BLD* bld, int selection) {
  ParamPtr params(OSSL_PARAM_BLD_to_param(bld));
  if (!params) return OpenSslError("OSSL_PARAM_BLD_to_param");
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) <= 0) return OpenSslError("EVP_PKEY_fromdata_init");
  EVP_PKEY* raw = nullptr;
  if (EVP_PKEY_fromdata(ctx.get(), &raw, selection, params.get()) <= 0) {
    ClearOpenSslErrors();
    return InvalidArgument("not a valid P-256 key");
  }
  PkeyPtr key(raw);
  PkeyCtxPtr check(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
  if (!check) return OpenSslError("EVP_PKEY_CTX_new_from_pkey");
  // A public key (a signing key, a JWE's ephemeral key: one or two per request) gets the
  // quick check: the point is on the curve and not the point at infinity. On P-256, whose
  // cofactor is 1, every such point has the group's prime order, so the full check's extra
  // scalar multiplication (n * Q) proves nothing more, and cost as much as the ECDH itself.
  const int ok = selection == EVP_PKEY_KEYPAIR ? EVP_PKEY_pairwise_check(check.get())
                                               : EVP_PKEY_public_check_quick(check.get());
  if (ok != 1) {
    ClearOpenSslErrors();
    return InvalidArgument("not a valid P-256 key: the point is not on the curve");
  }
  return key;
}

// OSSL_PARAM_BLD keeps pointers until OSSL_PARAM_BLD_to_param: `point` must outlive that call.
Status PushPublicPoint(OSSL_PARAM_BLD* bld, std::string_view x, std::string_view y,
                       std::string& point) {
  if (x.size() != kP256CoordinateBytes || y.size() != kP256CoordinateBytes) {
    return InvalidArgument("a P-256 coordinate must be 32 bytes");
  }
  point = UncompressedPoint(x, y);
  if (OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, kP256GroupName, 0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()) !=
          1) {
    return OpenSslError("OSSL_PARAM_BLD_push");
  }
  return Status::Ok();
}

Status Put32BigEndian(std::size_t value, std::string& out) {
  if (value > 0xffffffffu) return InvalidArgument("Concat KDF field too long");
  for (int shift = 24; shift >= 0; shift -= 8) {
    out.push_back(static_cast<char>((value >> shift) & 0xff));
  }
  return Status::Ok();
}

}  // namespace

bool IsP256(EVP_PKEY* key) {
  if (key == nullptr || EVP_PKEY_get_base_id(key) != EVP_PKEY_EC) return false;
  char name[64];
  std::size_t len = 0;
  if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, name, sizeof name, &len) !=
      1) {
    ClearOpenSslErrors();
    return false;
  }
  return std::string_view(name, len) == kP256GroupName;
}

Result<PkeyPtr> P256PublicKey(std::string_view x, std::string_view y) {
  ParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (!bld) return OpenSslError("OSSL_PARAM_BLD_new");
  std::string point;
  WB_RETURN_IF_ERROR(PushPublicPoint(bld.get(), x, y, point));
  return KeyFromParams(bld.get(), EVP_PKEY_PUBLIC_KEY);
}

Result<PkeyPtr> P256PrivateKey(std::string_view d, std::string_view x, std::string_view y) {
  ParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (!bld) return OpenSslError("OSSL_PARAM_BLD_new");
  std::string point;
  WB_RETURN_IF_ERROR(PushPublicPoint(bld.get(), x, y, point));
  if (d.size() != kP256CoordinateBytes) return InvalidArgument("d must be 32 bytes");
  BignumPtr priv(BN_secure_new());
  if (!priv || BN_bin2bn(Bytes(d), static_cast<int>(d.size()), priv.get()) == nullptr ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_PRIV_KEY, priv.get()) != 1) {
    return OpenSslError("P-256 private key");
  }
  return KeyFromParams(bld.get(), EVP_PKEY_KEYPAIR);
}

Status P256Coordinates(EVP_PKEY* key, std::string& x, std::string& y) {
  if (!IsP256(key)) return InvalidArgument("not a P-256 key");
  for (auto [name, out] :
       {std::pair{OSSL_PKEY_PARAM_EC_PUB_X, &x}, std::pair{OSSL_PKEY_PARAM_EC_PUB_Y, &y}}) {
    BIGNUM* raw = nullptr;
    if (EVP_PKEY_get_bn_param(key, name, &raw) != 1) return OpenSslError("EC public point");
    BignumPtr bn(raw);
    out->assign(kP256CoordinateBytes, '\0');
    if (BN_bn2binpad(bn.get(), reinterpret_cast<unsigned char*>(out->data()),
                     kP256CoordinateBytes) != static_cast<int>(kP256CoordinateBytes)) {
      return OpenSslError("BN_bn2binpad");
    }
  }
  return Status::Ok();
}

Result<std::string> Es256Sign(EVP_PKEY* key, std::string_view signing_input) {
  if (!IsP256(key)) return InvalidArgument("ES256 needs a P-256 key");
  MdCtxPtr ctx(EVP_MD_CTX_new());
  std::size_t der_len = 0;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &der_len, Bytes(signing_input), signing_input.size()) !=
          1) {
    return OpenSslError("ES256 sign");
  }
  std::string der(der_len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(der.data()), &der_len,
                     Bytes(signing_input), signing_input.size()) != 1) {
    return OpenSslError("ES256 sign");
  }
  const unsigned char* p = Bytes(der);
  EcdsaSigPtr sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der_len)));
  if (!sig) return OpenSslError("ES256 signature decode");
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(sig.get(), &r, &s);
  std::string out(kEs256SignatureBytes, '\0');
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  if (BN_bn2binpad(r, o, 32) != 32 || BN_bn2binpad(s, o + 32, 32) != 32) {
    return OpenSslError("ES256 signature encode");
  }
  return out;
}

bool Es256Verify(EVP_PKEY* key, std::string_view signing_input, std::string_view signature) {
  if (signature.size() != kEs256SignatureBytes || !IsP256(key)) return false;
  EcdsaSigPtr sig(ECDSA_SIG_new());
  BIGNUM* r = BN_bin2bn(Bytes(signature), 32, nullptr);
  BIGNUM* s = BN_bin2bn(Bytes(signature) + 32, 32, nullptr);
  if (!sig || r == nullptr || s == nullptr || ECDSA_SIG_set0(sig.get(), r, s) != 1) {
    BN_free(r);
    BN_free(s);
    ClearOpenSslErrors();
    return false;
  }
  unsigned char* der = nullptr;
  const int der_len = i2d_ECDSA_SIG(sig.get(), &der);
  if (der_len <= 0) {
    ClearOpenSslErrors();
    return false;
  }
  MdCtxPtr ctx(EVP_MD_CTX_new());
  const bool ok = ctx &&
                  EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) == 1 &&
                  EVP_DigestVerify(ctx.get(), der, static_cast<std::size_t>(der_len),
                                   Bytes(signing_input), signing_input.size()) == 1;
  OPENSSL_free(der);
  if (!ok) ClearOpenSslErrors();
  return ok;
}

Status EcdhSharedSecret(EVP_PKEY* own, EVP_PKEY* peer, WipedString& z) {
  if (!IsP256(own) || !IsP256(peer)) return InvalidArgument("ECDH-ES needs P-256 keys");
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, own, nullptr));
  if (!ctx || EVP_PKEY_derive_init(ctx.get()) != 1) return OpenSslError("ECDH init");
  // Not validated again: OpenSSL's validation is the full check (n * Q), a scalar
  // multiplication per request that KeyFromParams's check already makes needless.
  if (EVP_PKEY_derive_set_peer_ex(ctx.get(), peer, /*validate_peer=*/0) != 1) {
    ClearOpenSslErrors();
    return InvalidArgument("ECDH peer key is not valid");
  }
  std::size_t len = 0;
  if (EVP_PKEY_derive(ctx.get(), nullptr, &len) != 1) return OpenSslError("ECDH derive");
  z.str().reserve(len);
  z.str().resize(len);
  if (EVP_PKEY_derive(ctx.get(), reinterpret_cast<unsigned char*>(z.str().data()), &len) != 1) {
    return OpenSslError("ECDH derive");
  }
  z.str().resize(len);
  return Status::Ok();
}

Status ConcatKdf(std::string_view z, std::string_view algorithm_id, std::string_view apu,
                 std::string_view apv, std::size_t key_bytes, WipedString& key) {
  std::string other_info;
  WB_RETURN_IF_ERROR(Put32BigEndian(algorithm_id.size(), other_info));
  other_info.append(algorithm_id);
  WB_RETURN_IF_ERROR(Put32BigEndian(apu.size(), other_info));
  other_info.append(apu);
  WB_RETURN_IF_ERROR(Put32BigEndian(apv.size(), other_info));
  other_info.append(apv);
  WB_RETURN_IF_ERROR(Put32BigEndian(key_bytes * 8, other_info));

  key.str().reserve(key_bytes + EVP_MAX_MD_SIZE);
  key.str().clear();
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx) return OpenSslError("EVP_MD_CTX_new");
  std::array<unsigned char, EVP_MAX_MD_SIZE> round{};
  Status status;
  for (uint32_t counter = 1; key.str().size() < key_bytes && status.ok(); ++counter) {
    std::string counter_bytes;
    (void)Put32BigEndian(counter, counter_bytes);
    unsigned int len = 0;
    if (EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1 ||
        EVP_DigestUpdate(ctx.get(), counter_bytes.data(), counter_bytes.size()) != 1 ||
        EVP_DigestUpdate(ctx.get(), z.data(), z.size()) != 1 ||
        EVP_DigestUpdate(ctx.get(), other_info.data(), other_info.size()) != 1 ||
        EVP_DigestFinal_ex(ctx.get(), round.data(), &len) != 1) {
      status = OpenSslError("Concat KDF");
      break;
    }
    key.str().append(reinterpret_cast<const char*>(round.data()), len);
  }
  OPENSSL_cleanse(round.data(), round.size());
  if (!status.ok()) return status;
  OPENSSL_cleanse(key.str().data() + key_bytes, key.str().size() - key_bytes);
  key.str().resize(key_bytes);
  return Status::Ok();
}

Status AesGcmEncrypt(std::string_view key, std::string_view iv, std::string_view aad,
                     std::string_view plaintext, std::string& ciphertext, std::string& tag) {
  if (key.size() != 32 || iv.size() != kGcmIvBytes) return InvalidArgument("bad A256GCM key/IV");
  CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  ciphertext.assign(plaintext.size(), '\0');
  tag.assign(kGcmTagBytes, '\0');
  auto* out = reinterpret_cast<unsigned char*>(ciphertext.data());
  if (!ctx ||
      EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, Bytes(key), Bytes(iv)) != 1 ||
      EVP_EncryptUpdate(ctx.get(), nullptr, &len, Bytes(aad), static_cast<int>(aad.size())) != 1 ||
      EVP_EncryptUpdate(ctx.get(), out, &len, Bytes(plaintext),
                        static_cast<int>(plaintext.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), out + len, &len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(kGcmTagBytes),
                          tag.data()) != 1) {
    return OpenSslError("A256GCM encrypt");
  }
  return Status::Ok();
}

Status AesGcmDecrypt(std::string_view key, std::string_view iv, std::string_view aad,
                     std::string_view ciphertext, std::string_view tag, WipedString& plaintext) {
  plaintext.str().clear();
  if (key.size() != 32 || iv.size() != kGcmIvBytes || tag.size() != kGcmTagBytes) {
    return InvalidArgument("A256GCM needs a 12-byte IV and a 16-byte tag");
  }
  CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  if (!ctx) return OpenSslError("EVP_CIPHER_CTX_new");
  plaintext.str().reserve(ciphertext.size() + 1);
  plaintext.str().resize(ciphertext.size());
  auto* out = reinterpret_cast<unsigned char*>(plaintext.str().data());
  int len = 0;
  int final_len = 0;
  const bool ok =
      EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, Bytes(key), Bytes(iv)) == 1 &&
      EVP_DecryptUpdate(ctx.get(), nullptr, &len, Bytes(aad), static_cast<int>(aad.size())) == 1 &&
      EVP_DecryptUpdate(ctx.get(), out, &len, Bytes(ciphertext),
                        static_cast<int>(ciphertext.size())) == 1 &&
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(kGcmTagBytes),
                          const_cast<char*>(tag.data())) == 1 &&
      EVP_DecryptFinal_ex(ctx.get(), out + len, &final_len) == 1;
  if (!ok) {
    ClearOpenSslErrors();
    OPENSSL_cleanse(plaintext.str().data(), plaintext.str().size());
    plaintext.str().clear();
    return InvalidArgument("A256GCM authentication failed");
  }
  return Status::Ok();
}

Result<std::string> RandomBytes(std::size_t n) {
  std::string out(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) {
    return OpenSslError("RAND_bytes");
  }
  return out;
}

}  // namespace wb::protocol
