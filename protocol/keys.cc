// Public keys as JWK / JWKS (RFC 7517, RFC 7638).
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "common/log_escape.h"
#include "protocol/base64url.h"
#include "protocol/internal.h"
#include "protocol/jose.h"

namespace wb::protocol {
namespace {

constexpr std::size_t kMaxKeys = 16;
constexpr StringRule kCoordinateRule{43, 43, Charset::kBase64Url};  // 32 bytes

std::string Sha256(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr) != 1) return "";
  return std::string(reinterpret_cast<const char*>(md), len);
}

bool ReadOneOf(FieldReader& r, std::string_view key, std::string& out,
               std::initializer_list<std::string_view> allowed, bool required) {
  const bool ok = required ? r.String(key, out, {1, 16, Charset::kPrintable})
                           : r.OptionalString(key, out, {1, 16, Charset::kPrintable});
  if (!ok || (!required && out.empty())) return ok;
  for (std::string_view a : allowed) {
    if (out == a) return true;
  }
  r.Fail("key: \"" + std::string(key) + "\" may not be \"" + EscapeForLog(out, 16) + "\"");
  return false;
}

}  // namespace

std::string Thumbprint(const Jwk& jwk) {
  // RFC 7638 section 3.2: the required members in lexicographic order, no whitespace. x and y
  // are base64url, so they need no JSON escaping.
  const std::string canonical =
      R"({"crv":"P-256","kty":"EC","x":")" + jwk.x + R"(","y":")" + jwk.y + R"("})";
  return Base64UrlEncode(Sha256(canonical));
}

Result<Jwk> JwkFromJson(const Json& j, std::string_view where) {
  FieldReader r(j, where);
  Jwk jwk;
  std::string kty, crv;
  ReadOneOf(r, "kty", kty, {"EC"}, true);
  ReadOneOf(r, "crv", crv, {"P-256"}, true);
  r.String("x", jwk.x, kCoordinateRule);
  r.String("y", jwk.y, kCoordinateRule);
  r.String("kid", jwk.kid, kKidRule);
  ReadOneOf(r, "use", jwk.use, {"sig", "enc"}, false);
  ReadOneOf(r, "alg", jwk.alg, {"ES256", "ECDH-ES"}, false);
  if (j.is_object() && j.contains("d")) {
    r.Fail(std::string(where) + ": holds a private key (\"d\"); only public keys may be sent");
  }
  WB_RETURN_IF_ERROR(r.Finish());
  auto key = JwkPublicKey(jwk);
  if (!key.ok()) return key.error().WithContext(where);
  return jwk;
}

bool ReadKeys(FieldReader& r, Jwks& out) {
  const Json* keys = r.Member("keys", true);
  if (keys == nullptr) return false;
  if (!keys->is_array() || keys->empty() || keys->size() > kMaxKeys) {
    r.Fail("key set: \"keys\" must be an array of 1.." + std::to_string(kMaxKeys) + " keys");
    return false;
  }
  out.keys.clear();
  for (const Json& k : *keys) {
    auto jwk = JwkFromJson(k, "key set: key " + std::to_string(out.keys.size()));
    if (!jwk.ok()) {
      r.Fail(jwk.error().message());
      return false;
    }
    if (out.Find(jwk->kid) != nullptr) {
      r.Fail("key set: two keys have the kid \"" + EscapeForLog(jwk->kid, 64) + "\"");
      return false;
    }
    out.keys.push_back(std::move(*jwk));
  }
  return true;
}

Result<Jwks> JwksFromJson(const Json& j, std::string_view where) {
  FieldReader r(j, where);
  Jwks jwks;
  ReadKeys(r, jwks);
  WB_RETURN_IF_ERROR(r.Finish());
  return jwks;
}

OrderedJson JwkToJson(const Jwk& jwk) {
  OrderedJson j;
  j["kty"] = "EC";
  j["crv"] = "P-256";
  j["x"] = jwk.x;
  j["y"] = jwk.y;
  j["kid"] = jwk.kid;
  if (!jwk.use.empty()) j["use"] = jwk.use;
  if (!jwk.alg.empty()) j["alg"] = jwk.alg;
  return j;
}

OrderedJson JwksToJson(const Jwks& jwks) {
  OrderedJson keys = OrderedJson::array();
  for (const Jwk& k : jwks.keys) keys.push_back(JwkToJson(k));
  OrderedJson j;
  j["keys"] = std::move(keys);
  return j;
}

Result<PkeyPtr> JwkPublicKey(const Jwk& jwk) {
  auto x = Base64UrlDecode(jwk.x);
  auto y = Base64UrlDecode(jwk.y);
  if (!x || !y) return InvalidArgument("key: x and y must be base64url");
  return P256PublicKey(*x, *y);
}

Result<Jwk> ParseJwk(std::string_view json) {
  auto j = ParseStrictJson(json, kMaxMessageBytes, "key");
  if (!j.ok()) return j.error();
  return JwkFromJson(*j, "key");
}

std::string SerializeJwk(const Jwk& jwk) { return Dump(JwkToJson(jwk)); }

Result<Jwks> ParseJwks(std::string_view json) {
  auto j = ParseStrictJson(json, kMaxMessageBytes, "key set");
  if (!j.ok()) return j.error();
  return JwksFromJson(*j, "key set");
}

std::string SerializeJwks(const Jwks& jwks) { return Dump(JwksToJson(jwks)); }

TrustedKeys::TrustedKeys(Jwks jwks) : jwks_(std::move(jwks)) {
  for (const Jwk& jwk : jwks_.keys) {
    Result<PkeyPtr> key = JwkPublicKey(jwk);
    if (key.ok()) {
      keys_.emplace_back(std::shared_ptr<EVP_PKEY>(key->release(), EVP_PKEY_free));
    } else {
      keys_.emplace_back(key.error());
    }
  }
}

Result<EVP_PKEY*> TrustedKeys::PublicKey(std::size_t index) const {
  const Result<std::shared_ptr<EVP_PKEY>>& key = keys_.at(index);
  if (!key.ok()) return key.error();
  return key->get();
}

const Jwk* Jwks::Find(std::string_view kid) const {
  const Jwk* found = nullptr;
  for (const Jwk& k : keys) {
    if (k.kid.size() == kid.size() && CRYPTO_memcmp(k.kid.data(), kid.data(), kid.size()) == 0) {
      found = &k;
    }
  }
  return found;
}

}  // namespace wb::protocol
