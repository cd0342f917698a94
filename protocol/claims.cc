#include "protocol/claims.h"

#include <algorithm>
#include <array>

#include "common/log_escape.h"
#include "protocol/internal.h"

namespace wb::protocol {
namespace {

constexpr StringRule kNonceRule{22, 128, Charset::kBase64Url};
constexpr StringRule kTargetValueRule{1, 1024, Charset::kText};
constexpr StringRule kRequesterIdRule{1, 256, Charset::kText};
constexpr StringRule kMethodRule{1, 64, Charset::kMethod};
constexpr StringRule kCorrelationRule{0, 256, Charset::kPrintable};
constexpr StringRule kNameRule{1, 32, Charset::kPrintable};
constexpr StringRule kSecretRule{1, kMaxEnvelopeBytes, Charset::kCompact};
constexpr std::size_t kMaxOperations = 5;
constexpr std::size_t kMaxMethods = 16;

bool Has(const std::vector<Operation>& ops, Operation op) {
  return std::find(ops.begin(), ops.end(), op) != ops.end();
}

void ReadTarget(FieldReader& outer, Target& target) {
  const Json* j = outer.Member("target", true);
  if (j == nullptr) return;
  FieldReader r(*j, "claims: target");
  std::string kind;
  if (r.String("kind", kind, kNameRule)) {
    if (auto parsed = ParseTargetKindName(kind)) {
      target.kind = *parsed;
    } else {
      r.Fail("claims: target: unknown kind \"" + EscapeForLog(kind, 32) + "\"");
    }
  }
  r.String("value", target.value, kTargetValueRule);
  if (Status s = r.Finish(); !s.ok()) outer.Fail(s.message());
}

void ReadRequester(FieldReader& outer, Requester& requester) {
  const Json* j = outer.Member("requester", true);
  if (j == nullptr) return;
  FieldReader r(*j, "claims: requester");
  std::string type;
  if (r.String("type", type, kNameRule)) {
    if (type == "self") {
      requester.type = RequesterType::kSelf;
    } else if (type == "admin") {
      requester.type = RequesterType::kAdmin;
    } else {
      r.Fail("claims: requester: unknown type \"" + EscapeForLog(type, 32) + "\"");
    }
  }
  r.String("id", requester.id, kRequesterIdRule);
  r.StringArray("verified_by", requester.verified_by, 0, kMaxMethods, kMethodRule);
  if (Status s = r.Finish(); !s.ok()) outer.Fail(s.message());
}

void ReadOperations(FieldReader& r, std::vector<Operation>& ops) {
  std::vector<std::string> names;
  if (!r.StringArray("op", names, 1, kMaxOperations, kNameRule)) return;
  ops.clear();
  for (const std::string& name : names) {
    auto op = ParseOperationName(name);
    if (!op) {
      r.Fail("claims: unknown operation \"" + EscapeForLog(name, 32) + "\"");
      return;
    }
    ops.push_back(*op);
  }
}

Status Rule(bool ok, std::string_view problem) {
  return ok ? Status::Ok() : InvalidArgument("claims: " + std::string(problem));
}

}  // namespace

Result<ParsedClaims> ClaimsFromJson(std::string_view payload) {
  auto j = ParseStrictJson(payload, kMaxEnvelopeBytes, "claims");
  if (!j.ok()) return InvalidArgument(j.error().message());
  ParsedClaims out;
  RequestClaims& c = out.claims;
  FieldReader r(*j, "claims");
  r.String("jti", c.id, kIdRule);
  r.String("tenant", c.tenant, kTenantRule);
  r.String("aud", c.audience, kAgentIdRule);
  r.Time("iat", c.issued_at);
  r.OptionalTime("nbf", c.not_before);
  r.Time("exp", c.expires_at);
  r.String("nonce", c.nonce, kNonceRule);
  ReadOperations(r, c.operations);
  ReadTarget(r, c.target);
  ReadRequester(r, c.requester);
  r.String("correlation_id", c.correlation_id, kCorrelationRule);
  r.OptionalString("secret", out.secret, kSecretRule);
  WB_RETURN_IF_ERROR(r.Finish());
  return out;
}

std::string ClaimsToJson(const RequestClaims& c, std::string_view secret) {
  OrderedJson j;
  j["jti"] = c.id;
  j["tenant"] = c.tenant;
  j["aud"] = c.audience;
  j["iat"] = ToUnixSeconds(c.issued_at);
  if (c.not_before) j["nbf"] = ToUnixSeconds(*c.not_before);
  j["exp"] = ToUnixSeconds(c.expires_at);
  j["nonce"] = c.nonce;
  OrderedJson ops = OrderedJson::array();
  for (Operation op : c.operations) ops.push_back(OperationName(op));
  j["op"] = std::move(ops);
  j["target"] = {{"kind", TargetKindName(c.target.kind)}, {"value", c.target.value}};
  OrderedJson requester;
  requester["type"] = RequesterTypeName(c.requester.type);
  requester["id"] = c.requester.id;
  requester["verified_by"] = c.requester.verified_by;
  j["requester"] = std::move(requester);
  j["correlation_id"] = c.correlation_id;
  if (!secret.empty()) j["secret"] = secret;
  return Dump(j);
}

Status CheckClaimRules(const RequestClaims& c, bool has_secret) {
  WB_RETURN_IF_ERROR(Rule(Matches(c.id, kIdRule), "jti must be a lowercase UUID"));
  WB_RETURN_IF_ERROR(Rule(Matches(c.tenant, kTenantRule), "tenant is out of bounds"));
  WB_RETURN_IF_ERROR(Rule(Matches(c.audience, kAgentIdRule), "aud is out of bounds"));
  WB_RETURN_IF_ERROR(Rule(Matches(c.nonce, kNonceRule), "nonce must be 22..128 base64url"));
  WB_RETURN_IF_ERROR(Rule(Matches(c.target.value, kTargetValueRule), "target value is invalid"));
  WB_RETURN_IF_ERROR(Rule(Matches(c.requester.id, kRequesterIdRule), "requester id is invalid"));
  WB_RETURN_IF_ERROR(Rule(Matches(c.correlation_id, kCorrelationRule), "bad correlation_id"));
  WB_RETURN_IF_ERROR(
      Rule(c.requester.verified_by.size() <= kMaxMethods &&
               std::all_of(c.requester.verified_by.begin(), c.requester.verified_by.end(),
                           [](const std::string& m) { return Matches(m, kMethodRule); }),
           "verified_by is invalid"));
  const auto& ops = c.operations;
  WB_RETURN_IF_ERROR(Rule(!ops.empty() && ops.size() <= kMaxOperations, "op must hold 1..5"));
  for (std::size_t i = 0; i < ops.size(); ++i) {
    WB_RETURN_IF_ERROR(
        Rule(std::count(ops.begin(), ops.end(), ops[i]) == 1, "op lists an operation twice"));
  }
  WB_RETURN_IF_ERROR(Rule(!(Has(ops, Operation::kReset) && Has(ops, Operation::kChange)),
                          "op may not hold both reset and change"));
  WB_RETURN_IF_ERROR(
      Rule(!(Has(ops, Operation::kRequireChange) && Has(ops, Operation::kClearRequireChange)),
           "op may not hold both require_change and clear_require_change"));
  // validate asks a question about a password and writes nothing: it stands alone.
  WB_RETURN_IF_ERROR(Rule(!Has(ops, Operation::kValidate) || ops.size() == 1,
                          "validate may not be combined with another operation"));
  const bool carries_password =
      Has(ops, Operation::kReset) || Has(ops, Operation::kChange) || Has(ops, Operation::kValidate);
  WB_RETURN_IF_ERROR(
      Rule(carries_password || !has_secret, "secret given without reset, change or validate"));
  WB_RETURN_IF_ERROR(
      Rule(!carries_password || has_secret, "reset, change and validate need a secret"));
  WB_RETURN_IF_ERROR(Rule(c.expires_at > c.issued_at, "exp must be after iat"));
  WB_RETURN_IF_ERROR(
      Rule(c.expires_at - c.issued_at <= kMaxRequestLifetime, "exp - iat exceeds 900 seconds"));
  if (c.not_before) {
    WB_RETURN_IF_ERROR(Rule(*c.not_before >= c.issued_at && *c.not_before < c.expires_at,
                            "nbf must lie in [iat, exp)"));
  }
  return Status::Ok();
}

Status CheckPasswordsFit(const RequestClaims& c, const Passwords& p) {
  const bool change = Has(c.operations, Operation::kChange);
  WB_RETURN_IF_ERROR(Rule(!change || !p.old_password.empty(), "change needs old_password"));
  WB_RETURN_IF_ERROR(Rule(change || p.old_password.empty(), "old_password given without change"));
  return Status::Ok();
}

}  // namespace wb::protocol
