// Enrollment bodies (POST /enroll).
#include "protocol/internal.h"

namespace wb::protocol {
namespace {

constexpr StringRule kTokenRule{1, 256, Charset::kPrintable};
constexpr StringRule kPemRule{1, kMaxMessageBytes, Charset::kPem};
constexpr StringRule kUrlRule{7, 2048, Charset::kPrintable};

}  // namespace

Result<EnrollRequest> ParseEnrollRequest(std::string_view json) {
  auto j = ParseStrictJson(json, kMaxMessageBytes, "enrollment request");
  if (!j.ok()) return j.error();
  EnrollRequest m;
  FieldReader r(*j, "enrollment request");
  r.String("token", m.token, kTokenRule);
  r.String("agent_id", m.agent_id, kAgentIdRule);
  r.String("csr", m.csr, kPemRule);
  if (const Json* jwk = r.Member("encryption_jwk", true)) {
    auto parsed = JwkFromJson(*jwk, "enrollment request: encryption_jwk");
    if (!parsed.ok()) {
      r.Fail(parsed.error().message());
    } else if ((!parsed->use.empty() && parsed->use != "enc") ||
               (!parsed->alg.empty() && parsed->alg != "ECDH-ES")) {
      r.Fail("enrollment request: encryption_jwk is not an ECDH-ES encryption key");
    } else {
      m.encryption_jwk = std::move(*parsed);
    }
  }
  WB_RETURN_IF_ERROR(r.Finish());
  return m;
}

Result<EnrollResponse> ParseEnrollResponse(std::string_view json) {
  auto j = ParseStrictJson(json, kMaxMessageBytes, "enrollment response");
  if (!j.ok()) return j.error();
  EnrollResponse m;
  FieldReader r(*j, "enrollment response");
  r.String("tenant", m.tenant, kTenantRule);
  r.String("certificate", m.certificate, kPemRule);
  if (const Json* keys = r.Member("cloud_keys", true)) {
    auto parsed = JwksFromJson(*keys, "enrollment response: cloud_keys");
    if (parsed.ok()) {
      m.cloud_keys = std::move(*parsed);
    } else {
      r.Fail(parsed.error().message());
    }
  }
  if (r.String("agent_url", m.agent_url, kUrlRule) && m.agent_url.rfind("wss://", 0) != 0) {
    r.Fail("enrollment response: agent_url must start with wss://");
  }
  WB_RETURN_IF_ERROR(r.Finish());
  return m;
}

std::string Serialize(const EnrollRequest& m) {
  OrderedJson j;
  j["token"] = m.token;
  j["agent_id"] = m.agent_id;
  j["csr"] = m.csr;
  j["encryption_jwk"] = JwkToJson(m.encryption_jwk);
  return Dump(j);
}

std::string Serialize(const EnrollResponse& m) {
  OrderedJson j;
  j["tenant"] = m.tenant;
  j["certificate"] = m.certificate;
  j["cloud_keys"] = JwksToJson(m.cloud_keys);
  j["agent_url"] = m.agent_url;
  return Dump(j);
}

}  // namespace wb::protocol
