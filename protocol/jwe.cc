#include "protocol/jwe.h"

#include <array>

#include "common/log_escape.h"
#include "protocol/base64url.h"
#include "protocol/internal.h"
#include "protocol/jose.h"

namespace wb::protocol {
namespace {

constexpr std::string_view kAlg = "ECDH-ES";
constexpr std::string_view kEnc = "A256GCM";
constexpr std::size_t kCekBytes = 32;
constexpr std::size_t kMaxJweHeaderBytes = 1024;
constexpr StringRule kCoordinateRule{43, 43, Charset::kBase64Url};
constexpr StringRule kPartyInfoRule{0, 128, Charset::kBase64Url};

Rejection Reject(RejectCode code, std::string reason) {
  return Rejection{code, "secret: " + std::move(reason), ""};
}

// The JWE parts, split; only the protected header is decoded here.
struct Parts {
  std::string_view header_b64, encrypted_key, iv, ciphertext, tag;
};

std::optional<Parts> Split(std::string_view compact) {
  std::array<std::string_view, 5> p;
  std::size_t start = 0;
  for (std::size_t i = 0; i < p.size(); ++i) {
    const std::size_t dot = compact.find('.', start);
    if ((dot == std::string_view::npos) != (i == p.size() - 1)) return std::nullopt;
    p[i] = compact.substr(start, dot == std::string_view::npos ? dot : dot - start);
    start = dot + 1;
  }
  return Parts{p[0], p[1], p[2], p[3], p[4]};
}

// The "epk" member: a public EC JWK with exactly kty, crv, x, y.
Result<PkeyPtr> ReadEpk(const Json* j) {
  if (j == nullptr) return InvalidArgument("missing epk");
  FieldReader r(*j, "epk");
  std::string kty, crv, x, y;
  r.String("kty", kty, {1, 8, Charset::kPrintable});
  r.String("crv", crv, {1, 8, Charset::kPrintable});
  r.String("x", x, kCoordinateRule);
  r.String("y", y, kCoordinateRule);
  WB_RETURN_IF_ERROR(r.Finish());
  if (kty != "EC" || crv != "P-256") return InvalidArgument("epk must be an EC P-256 key");
  return JwkPublicKey(Jwk{"", x, y, "", ""});
}

// The shared content-encryption key for ECDH-ES: Concat KDF over Z with AlgorithmID = enc.
Status DeriveCek(EVP_PKEY* own, EVP_PKEY* peer, std::string_view apu, std::string_view apv,
                 WipedString& cek) {
  WipedString z;
  WB_RETURN_IF_ERROR(EcdhSharedSecret(own, peer, z));
  return ConcatKdf(z.view(), kEnc, apu, apv, kCekBytes, cek);
}

}  // namespace

Result<std::string> JweEncrypt(std::string_view plaintext, const Jwk& recipient) {
  if ((!recipient.use.empty() && recipient.use != "enc") ||
      (!recipient.alg.empty() && recipient.alg != kAlg)) {
    return InvalidArgument("the agent's key is not an ECDH-ES encryption key");
  }
  auto peer = JwkPublicKey(recipient);
  if (!peer.ok()) return peer.error();
  auto ephemeral = EcPrivateKey::Generate();
  if (!ephemeral.ok()) return ephemeral.error();
  const Jwk epk = ephemeral->PublicJwk();

  OrderedJson header;
  header["alg"] = kAlg;
  header["enc"] = kEnc;
  header["kid"] = recipient.kid;
  header["epk"] = {{"kty", "EC"}, {"crv", "P-256"}, {"x", epk.x}, {"y", epk.y}};
  const std::string header_b64 = Base64UrlEncode(Dump(header));

  WipedString cek;
  WB_RETURN_IF_ERROR(DeriveCek(ephemeral->native(), peer->get(), "", "", cek));
  auto iv = RandomBytes(kGcmIvBytes);
  if (!iv.ok()) return iv.error();
  std::string ciphertext, tag;
  WB_RETURN_IF_ERROR(AesGcmEncrypt(cek.view(), *iv, header_b64, plaintext, ciphertext, tag));
  return header_b64 + ".." + Base64UrlEncode(*iv) + "." + Base64UrlEncode(ciphertext) + "." +
         Base64UrlEncode(tag);
}

std::optional<Rejection> JweDecrypt(std::string_view compact, EVP_PKEY* key, std::string_view kid,
                                    WipedString& plaintext) {
  auto parts = Split(compact);
  if (!parts) return Reject(RejectCode::kMalformed, "not a compact JWE of five parts");
  if (!parts->encrypted_key.empty()) {
    return Reject(RejectCode::kMalformed, "ECDH-ES carries no encrypted key");
  }
  std::string header_text, iv, ciphertext, tag;
  if (!Base64UrlDecode(parts->header_b64, header_text) || !Base64UrlDecode(parts->iv, iv) ||
      !Base64UrlDecode(parts->ciphertext, ciphertext) || !Base64UrlDecode(parts->tag, tag)) {
    return Reject(RejectCode::kMalformed, "a JWE part is not canonical base64url");
  }
  auto header = ParseStrictJson(header_text, kMaxJweHeaderBytes, "JWE header");
  if (!header.ok()) return Reject(RejectCode::kMalformed, header.error().message());

  FieldReader r(*header, "JWE header");
  std::string alg, enc, header_kid, apu_b64, apv_b64;
  r.String("alg", alg, {1, 32, Charset::kPrintable});
  r.String("enc", enc, {1, 32, Charset::kPrintable});
  r.String("kid", header_kid, kKidRule);
  const Json* epk_json = r.Member("epk", true);
  r.OptionalString("apu", apu_b64, kPartyInfoRule);
  r.OptionalString("apv", apv_b64, kPartyInfoRule);
  if (Status s = r.Finish(); !s.ok()) return Reject(RejectCode::kMalformed, s.message());
  if (alg != kAlg || enc != kEnc) {
    return Reject(RejectCode::kBadAlgorithm, "alg/enc must be ECDH-ES/A256GCM, not " +
                                                 EscapeForLog(alg, 32) + "/" +
                                                 EscapeForLog(enc, 32));
  }
  if (header_kid != kid) {
    return Reject(RejectCode::kDecryptFailed,
                  "encrypted to key \"" + EscapeForLog(header_kid, 64) + "\", not to this agent's");
  }
  auto epk = ReadEpk(epk_json);
  if (!epk.ok()) return Reject(RejectCode::kMalformed, epk.error().message());
  std::string apu, apv;
  if (!Base64UrlDecode(apu_b64, apu) || !Base64UrlDecode(apv_b64, apv)) {
    return Reject(RejectCode::kMalformed, "apu/apv are not canonical base64url");
  }
  if (iv.size() != kGcmIvBytes || tag.size() != kGcmTagBytes) {
    return Reject(RejectCode::kMalformed, "A256GCM needs a 12-byte IV and a 16-byte tag");
  }

  WipedString cek;
  if (Status s = DeriveCek(key, epk->get(), apu, apv, cek); !s.ok()) {
    return Reject(RejectCode::kDecryptFailed, "key agreement failed");
  }
  if (!AesGcmDecrypt(cek.view(), iv, parts->header_b64, ciphertext, tag, plaintext).ok()) {
    return Reject(RejectCode::kDecryptFailed, "does not decrypt with this agent's key");
  }
  return std::nullopt;
}

}  // namespace wb::protocol
