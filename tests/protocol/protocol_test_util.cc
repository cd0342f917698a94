#include "tests/protocol/protocol_test_util.h"

#include <gtest/gtest.h>

#include "protocol/base64url.h"
#include "protocol/claims.h"
#include "protocol/jose.h"

namespace wb::protocol::fixtures {

TestKeys MakeKeys() {
  auto cloud = EcPrivateKey::Generate();
  auto agent = EcPrivateKey::Generate();
  EXPECT_TRUE(cloud.ok() && agent.ok());
  Jwk cloud_jwk = cloud->PublicJwk("sig", "ES256");
  cloud_jwk.kid = kCloudKid;
  Jwk agent_jwk = agent->PublicJwk("enc", "ECDH-ES");
  return TestKeys{std::move(*cloud), Jwks{{cloud_jwk}}, std::move(*agent), agent_jwk};
}

RequestClaims ResetClaims(WallTime now) {
  RequestClaims c;
  c.id = NewRequestId();
  c.tenant = kTenant;
  c.audience = kAgentId;
  c.issued_at = now;
  c.expires_at = now + std::chrono::minutes(10);
  c.nonce = NewNonce();
  c.operations = {Operation::kReset, Operation::kUnlock};
  c.target = {TargetKind::kUserPrincipalName, "alice@contoso.example"};
  c.requester = {RequesterType::kSelf, "alice@contoso.example", {"email_otp", "totp"}};
  c.correlation_id = "corr-123";
  return c;
}

Passwords MakePasswords(std::string_view new_password, std::string_view old_password) {
  return Passwords{Secret(new_password), Secret(old_password)};
}

OpenOptions Options() { return OpenOptions{std::string(kTenant), std::string(kAgentId)}; }

std::string SignRaw(std::string_view header_json, std::string_view payload_json,
                    const EcPrivateKey& key) {
  std::string input = Base64UrlEncode(header_json) + "." + Base64UrlEncode(payload_json);
  auto sig = Es256Sign(key.native(), input);
  EXPECT_TRUE(sig.ok());
  return input + "." + Base64UrlEncode(sig.ok() ? *sig : "");
}

std::string RequestHeader(std::string_view kid) {
  return R"({"alg":"ES256","kid":")" + std::string(kid) + R"(","typ":"wbagent-request+jwt"})";
}

Json ClaimsJson(const RequestClaims& claims, std::string_view secret) {
  return Json::parse(ClaimsToJson(claims, secret));
}

std::string SecretOf(std::string_view envelope) {
  const std::size_t a = envelope.find('.');
  const std::size_t b = envelope.find('.', a + 1);
  auto payload = Base64UrlDecode(envelope.substr(a + 1, b - a - 1));
  return Json::parse(payload.value_or("{}")).value("secret", "");
}

}  // namespace wb::protocol::fixtures
