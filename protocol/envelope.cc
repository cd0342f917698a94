// The request envelope: SealRequest (cloud side) and OpenRequest (agent side).
#include <cstdio>

#include "common/clock.h"
#include "common/log_escape.h"
#include "common/time_sync.h"
#include "protocol/base64url.h"
#include "protocol/claims.h"
#include "protocol/internal.h"
#include "protocol/jose.h"
#include "protocol/jwe.h"
#include "protocol/secret_json.h"

namespace wb::protocol {
namespace {

Rejection Reject(RejectCode code, std::string reason, std::string request_id = "") {
  return Rejection{code, std::move(reason), std::move(request_id)};
}

// A rejection after the signature verified: its id is the signed jti.
Rejection AuthenticReject(RejectCode code, std::string reason, std::string request_id) {
  return Rejection{code, std::move(reason), std::move(request_id), /*id_authenticated=*/true};
}

// The jti a decoded JWS payload claims (see ClaimedRequestId): counted at the top level
// only, so that an envelope naming two ids is read as naming none.
std::string ClaimedId(std::string_view payload) {
  int jti_members = 0;
  auto count_jti = [&jti_members](int depth, Json::parse_event_t event, Json& parsed) {
    if (depth == 1 && event == Json::parse_event_t::key && parsed == "jti") ++jti_members;
    return true;
  };
  const Json j = Json::parse(payload, count_jti, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || jti_members != 1) return "";
  auto it = j.find("jti");
  if (it == j.end() || !it->is_string()) return "";
  const auto& id = it->get_ref<const std::string&>();
  return Matches(id, kIdRule) ? id : "";
}

// "iat 2026-12-05T18:00:00Z is 400 s ahead of this host's clock (2026-12-05T17:53:20Z; the
// allowed clock skew is 60 s)": the times as UTC and the difference in seconds, never epochs.
std::string TimeRefusal(const char* claim, WallTime value, WallTime now, const char* relation,
                        std::chrono::seconds max_skew) {
  std::string text = claim;
  text += " ";
  text += FormatUtcSeconds(value);
  text += " is ";
  text += SecondsText(value - now);
  text += relation;
  text += " this host's clock (";
  text += FormatUtcSeconds(now);
  text += "; the allowed clock skew is ";
  text += std::to_string(max_skew.count());
  text += " s)";
  return text;
}

// A request from the future: only a clock can explain it.
Rejection NotYetValid(const char* claim, WallTime value, WallTime now,
                      std::chrono::seconds max_skew) {
  std::string text = TimeRefusal(claim, value, now, " ahead of", max_skew);
  text += ": this host's clock is probably behind the cloud's; ";
  text += kTimeSyncHint;
  return Reject(RejectCode::kNotYetValid, text);
}

// A request from the past: late delivery, or this host's clock ahead of the cloud's.
Rejection Expired(WallTime expires_at, WallTime now, std::chrono::seconds max_skew) {
  std::string text = TimeRefusal("exp", expires_at, now, " behind", max_skew);
  text +=
      ": the request expired before it arrived; if fresh requests are refused like this, this "
      "host's clock is ahead of the cloud's; ";
  text += kTimeSyncHint;
  return Reject(RejectCode::kExpired, text);
}

// Steps 2-5 of OpenRequest: the JWS header, the key, the signature. On success `kid` names the
// key that signed.
std::optional<Rejection> CheckSignature(const CompactJws& jws, const TrustedKeys& trusted,
                                        std::string& kid) {
  const Json& h = jws.header;
  // The algorithm first: an "alg":"none" or "HS256" token is refused as such, whatever else
  // its header holds.
  auto alg = h.find("alg");
  if (alg == h.end() || !alg->is_string()) {
    return Reject(RejectCode::kMalformed, "JWS header: missing alg");
  }
  if (alg->get_ref<const std::string&>() != "ES256") {
    return Reject(RejectCode::kBadAlgorithm,
                  "JWS alg \"" + EscapeForLog(alg->get_ref<const std::string&>(), 32) +
                      "\" is not allowed; only ES256 is");
  }
  FieldReader r(h, "JWS header");
  std::string alg_value, typ;
  r.String("alg", alg_value, {1, 32, Charset::kPrintable});
  r.String("kid", kid, kKidRule);
  r.String("typ", typ, {1, 64, Charset::kPrintable});
  if (Status s = r.Finish(); !s.ok()) return Reject(RejectCode::kMalformed, s.message());
  if (typ != kRequestTyp) {
    return Reject(RejectCode::kMalformed, "JWS typ must be " + std::string(kRequestTyp));
  }
  const Jwk* jwk = trusted.jwks().Find(kid);
  if (jwk == nullptr) {
    return Reject(RejectCode::kUnknownKid,
                  "kid \"" + EscapeForLog(kid, 64) + "\" is not a trusted cloud signing key");
  }
  if (!IsEs256SigningKey(*jwk)) {
    return Reject(RejectCode::kUnknownKid,
                  "key \"" + EscapeForLog(kid, 64) + "\" is not an ES256 signing key");
  }
  auto key = trusted.PublicKey(static_cast<std::size_t>(jwk - trusted.jwks().keys.data()));
  if (!key.ok()) return Reject(RejectCode::kUnknownKid, key.error().message());
  if (!Es256Verify(*key, jws.signing_input, jws.signature)) {
    return Reject(RejectCode::kBadSignature,
                  "the signature does not verify with key \"" + EscapeForLog(kid, 64) + "\"");
  }
  return std::nullopt;
}

// Steps 7-8: tenant, audience, time.
std::optional<Rejection> CheckBinding(const RequestClaims& c, const OpenOptions& options,
                                      const Clock& clock) {
  if (c.tenant != options.expected_tenant) {
    return Reject(RejectCode::kWrongTenant,
                  "tenant \"" + EscapeForLog(c.tenant, 64) + "\" is not this agent's tenant");
  }
  if (c.audience != options.expected_audience) {
    return Reject(RejectCode::kWrongAudience,
                  "aud \"" + EscapeForLog(c.audience, 64) + "\" is not this agent's id");
  }
  const WallTime now = clock.Now();
  if (c.issued_at > now + options.max_skew) {
    return NotYetValid("iat", c.issued_at, now, options.max_skew);
  }
  if (c.not_before && *c.not_before > now + options.max_skew) {
    return NotYetValid("nbf", *c.not_before, now, options.max_skew);
  }
  if (c.expires_at + options.max_skew <= now) return Expired(c.expires_at, now, options.max_skew);
  return std::nullopt;
}

// Step 9: the JWE, when present.
std::optional<Rejection> OpenSecret(const ParsedClaims& parsed, const EcPrivateKey& key,
                                    Passwords& passwords) {
  if (parsed.secret.empty()) return std::nullopt;
  WipedString plaintext;
  const std::string kid = key.PublicJwk().kid;
  if (auto rejection = JweDecrypt(parsed.secret, key.native(), kid, plaintext)) return rejection;
  auto opened = ParsePasswords(plaintext.view());
  if (!opened.ok()) return Reject(RejectCode::kMalformed, opened.error().message());
  passwords = std::move(*opened);
  if (Status s = CheckPasswordsFit(parsed.claims, passwords); !s.ok()) {
    return Reject(RejectCode::kMalformed, s.message());
  }
  return std::nullopt;
}

}  // namespace

std::string ClaimedRequestId(std::string_view envelope) {
  if (envelope.size() > kMaxEnvelopeBytes) return "";
  const std::size_t first = envelope.find('.');
  if (first == std::string_view::npos) return "";
  const std::size_t second = envelope.find('.', first + 1);
  if (second == std::string_view::npos ||
      envelope.find('.', second + 1) != std::string_view::npos) {
    return "";
  }
  auto payload = Base64UrlDecode(envelope.substr(first + 1, second - first - 1));
  return payload ? ClaimedId(*payload) : "";
}

std::string NewRequestId() {
  auto bytes = RandomBytes(16);
  if (!bytes.ok()) return "";
  auto* b = reinterpret_cast<unsigned char*>(bytes->data());
  b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);  // version 4
  b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);  // RFC 9562 variant
  char out[37];
  std::snprintf(out, sizeof out,
                "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
                b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
                b[15]);
  return out;
}

std::string NewNonce() {
  auto bytes = RandomBytes(32);
  return bytes.ok() ? Base64UrlEncode(*bytes) : "";
}

Result<std::string> SealRequest(const RequestClaims& claims, const Passwords* passwords,
                                const EcPrivateKey& signing_key, std::string_view signing_kid,
                                const Jwk& agent_encryption_key) {
  WB_RETURN_IF_ERROR(CheckClaimRules(claims, passwords != nullptr));
  if (!Matches(signing_kid, kKidRule)) return InvalidArgument("bad signing kid");
  std::string secret;
  if (passwords != nullptr) {
    WB_RETURN_IF_ERROR(CheckPasswordsFit(claims, *passwords));
    WipedString plaintext;
    WB_RETURN_IF_ERROR(SerializePasswords(*passwords, plaintext));
    auto jwe = JweEncrypt(plaintext.view(), agent_encryption_key);
    if (!jwe.ok()) return jwe.error();
    secret = std::move(*jwe);
  }
  OrderedJson header;
  header["alg"] = "ES256";
  header["kid"] = signing_kid;
  header["typ"] = kRequestTyp;
  auto jws = SignCompactJws(header, ClaimsToJson(claims, secret), signing_key.native());
  if (!jws.ok()) return jws.error();
  if (jws->size() > kMaxEnvelopeBytes) {
    return InvalidArgument("the envelope would be " + std::to_string(jws->size()) +
                           " bytes; the limit is " + std::to_string(kMaxEnvelopeBytes));
  }
  return jws;
}

Result<VerifiedRequest, Rejection> OpenRequest(std::string_view envelope, const Jwks& trusted,
                                               const EcPrivateKey& agent_encryption_key,
                                               const OpenOptions& options, const Clock& clock,
                                               ReplayGuard& replay) {
  return OpenRequest(envelope, TrustedKeys(trusted), agent_encryption_key, options, clock, replay);
}

Result<VerifiedRequest, Rejection> OpenRequest(std::string_view envelope,
                                               const TrustedKeys& trusted,
                                               const EcPrivateKey& agent_encryption_key,
                                               const OpenOptions& options, const Clock& clock,
                                               ReplayGuard& replay) {
  if (envelope.size() > kMaxEnvelopeBytes) {
    return Reject(RejectCode::kTooLarge, "envelope is " + std::to_string(envelope.size()) +
                                             " bytes; the limit is " +
                                             std::to_string(kMaxEnvelopeBytes));
  }
  auto jws = SplitCompactJws(envelope);
  if (!jws.ok()) {
    return Reject(RejectCode::kMalformed, jws.error().message(), ClaimedRequestId(envelope));
  }

  VerifiedRequest out;
  if (auto rejection = CheckSignature(*jws, trusted, out.signed_by)) {
    rejection->request_id = ClaimedId(jws->payload);
    return *std::move(rejection);
  }
  // Authentic from here on.
  auto parsed = ClaimsFromJson(jws->payload);
  if (!parsed.ok()) {
    Rejection rejection =
        Reject(RejectCode::kMalformed, parsed.error().message(), ClaimedId(jws->payload));
    rejection.id_authenticated = !rejection.request_id.empty();
    return rejection;
  }
  const std::string& id = parsed->claims.id;
  if (Status s = CheckClaimRules(parsed->claims, !parsed->secret.empty()); !s.ok()) {
    return AuthenticReject(RejectCode::kMalformed, s.message(), id);
  }
  if (auto rejection = CheckBinding(parsed->claims, options, clock)) {
    rejection->request_id = id;
    rejection->id_authenticated = true;
    return *std::move(rejection);
  }
  if (auto rejection = OpenSecret(*parsed, agent_encryption_key, out.passwords)) {
    rejection->request_id = id;
    rejection->id_authenticated = true;
    return *std::move(rejection);
  }
  auto verdict =
      replay.Remember(id, parsed->claims.nonce, parsed->claims.expires_at + options.max_skew);
  if (!verdict.ok()) {
    return AuthenticReject(RejectCode::kUnavailable,
                           "replay memory unavailable: " + verdict.error().ToString(), id);
  }
  if (*verdict == ReplayGuard::Verdict::kReplay) {
    return AuthenticReject(RejectCode::kReplayed,
                           "the request id or nonce was already used by another request", id);
  }
  out.redelivered = *verdict == ReplayGuard::Verdict::kRedelivery;
  out.claims = std::move(parsed->claims);
  return out;
}

}  // namespace wb::protocol
