// Signed key sets: signing-key rollover.
#include "common/log_escape.h"
#include "common/time_sync.h"
#include "protocol/internal.h"
#include "protocol/jose.h"

namespace wb::protocol {

Result<std::string> SignKeySet(const Jwks& keys, std::string_view tenant, WallTime issued_at,
                               const EcPrivateKey& signing_key, std::string_view signing_kid) {
  if (keys.keys.empty()) return InvalidArgument("a key set needs at least one key");
  if (!Matches(tenant, kTenantRule) || !Matches(signing_kid, kKidRule)) {
    return InvalidArgument("bad tenant or signing kid");
  }
  OrderedJson header;
  header["alg"] = "ES256";
  header["kid"] = signing_kid;
  header["typ"] = kKeySetTyp;
  OrderedJson payload;
  payload["tenant"] = tenant;
  payload["iat"] = ToUnixSeconds(issued_at);
  payload["keys"] = JwksToJson(keys)["keys"];
  return SignCompactJws(header, Dump(payload), signing_key.native());
}

Result<VerifiedKeySet> VerifyKeySet(std::string_view jws_text, const Jwks& trusted,
                                    std::string_view expected_tenant, const Clock& clock,
                                    std::chrono::seconds max_skew,
                                    std::optional<WallTime> newer_than) {
  auto jws = SplitCompactJws(jws_text);
  if (!jws.ok()) return jws.error().WithContext("key set");
  // The algorithm first, as OpenRequest does: "none" or "HS256" is refused as such, whatever
  // else the header holds.
  auto alg = jws->header.find("alg");
  if (alg == jws->header.end() || !alg->is_string()) {
    return InvalidArgument("key set: JWS header: missing alg");
  }
  if (alg->get_ref<const std::string&>() != "ES256") {
    return PermissionDenied("key set: alg \"" +
                            EscapeForLog(alg->get_ref<const std::string&>(), 32) +
                            "\" is not allowed; only ES256 is");
  }
  FieldReader h(jws->header, "key set: JWS header");
  std::string alg_value, kid, typ;
  h.String("alg", alg_value, {1, 32, Charset::kPrintable});
  h.String("kid", kid, kKidRule);
  h.String("typ", typ, {1, 64, Charset::kPrintable});
  WB_RETURN_IF_ERROR(h.Finish());
  if (typ != kKeySetTyp) return InvalidArgument("key set: typ must be " + std::string(kKeySetTyp));
  const Jwk* signer = trusted.Find(kid);
  if (signer == nullptr || !IsEs256SigningKey(*signer)) {
    return PermissionDenied("key set: signed by \"" + EscapeForLog(kid, 64) +
                            "\", which is not a trusted ES256 signing key");
  }
  auto key = JwkPublicKey(*signer);
  if (!key.ok()) return key.error();
  if (!Es256Verify(key->get(), jws->signing_input, jws->signature)) {
    return PermissionDenied("key set: the signature does not verify");
  }

  auto payload = ParseStrictJson(jws->payload, kMaxMessageBytes, "key set");
  if (!payload.ok()) return InvalidArgument(payload.error().message());
  VerifiedKeySet out;
  std::string tenant;
  FieldReader r(*payload, "key set");
  r.String("tenant", tenant, kTenantRule);
  r.Time("iat", out.issued_at);
  ReadKeys(r, out.keys);
  WB_RETURN_IF_ERROR(r.Finish());
  if (tenant != expected_tenant) {
    return PermissionDenied("key set: for tenant \"" + EscapeForLog(tenant, 64) +
                            "\", not this agent's");
  }
  if (const WallTime now = clock.Now(); out.issued_at > now + max_skew) {
    std::string text = "key set: issued ";
    text += SecondsText(out.issued_at - now);
    text += " ahead of this host's clock (more than the allowed ";
    text += std::to_string(max_skew.count());
    text += " s): this host's clock is probably behind the cloud's; ";
    text += kTimeSyncHint;
    return FailedPrecondition(text);
  }
  if (newer_than && out.issued_at <= *newer_than) {
    return PermissionDenied("key set: not newer than the key set in use (a replay?)");
  }
  out.signed_by = kid;
  return out;
}

}  // namespace wb::protocol
