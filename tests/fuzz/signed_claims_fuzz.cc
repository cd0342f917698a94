// What lies behind the signature: the request claims, the JWE and its plaintext, and the
// signed key set. A peer without the cloud's key never reaches this code, so the fuzzer is
// given the key: each input is
//   1. signed (ES256, the vectors' cloud key) as a request's JWS payload and opened;
//   2. signed as a key set's payload and verified;
//   3. encrypted (ECDH-ES + A256GCM, to the vectors' agent key) as the JWE plaintext of an
//      otherwise valid request, which is signed and opened;
// and parsed directly as claims and as a plaintext, where what parses must survive being
// written and parsed again unchanged.
#include <string>

#include "protocol/claims.h"
#include "protocol/jwe.h"
#include "protocol/secret_json.h"
#include "tests/fuzz/fuzz_support.h"
#include "tests/protocol/protocol_test_util.h"

namespace {

using namespace wb::protocol;
using wb::fuzz::Keys;
using wb::fuzz::Require;

std::string Sign(std::string_view typ, std::string_view payload) {
  const std::string header = R"({"alg":"ES256","kid":")" + std::string(wb::fuzz::kCloudKid) +
                             R"(","typ":")" + std::string(typ) + R"("})";
  return fixtures::SignRaw(header, payload, Keys().cloud);
}

// Valid claims for the vectors' tenant and agent, fixed so that a reproducer replays: a reset
// (which must carry only a new password) or a change (which must carry the old one too).
RequestClaims ClaimsFor(bool change) {
  RequestClaims claims = fixtures::ResetClaims(wb::fuzz::VectorClock().Now());
  claims.tenant = wb::fuzz::kTenant;
  claims.audience = wb::fuzz::kAgentId;
  claims.id = "0f8fad5b-d9cb-469f-a165-70867728950e";
  claims.nonce = "Zml4ZWQtbm9uY2UtZm9yLXRoZS1mdXp6ZXI";
  if (change) claims.operations = {Operation::kChange};
  return claims;
}

void ClaimsRoundTrip(std::string_view payload) {
  auto parsed = ClaimsFromJson(payload);
  if (!parsed.ok()) return;
  const std::string written = ClaimsToJson(parsed->claims, parsed->secret);
  auto again = ClaimsFromJson(written);
  Require(again.ok(), "claims that parsed were written to claims that do not parse");
  Require(ClaimsToJson(again->claims, again->secret) == written,
          "claims changed in a write/parse round trip");
}

void PasswordsRoundTrip(std::string_view plaintext) {
  auto parsed = ParsePasswords(plaintext);
  if (!parsed.ok()) return;
  WipedString written;
  Require(SerializePasswords(*parsed, written).ok(),
          "a plaintext that parsed holds passwords SerializePasswords refuses");
  auto again = ParsePasswords(written.view());
  Require(again.ok() && again->new_password.view() == parsed->new_password.view() &&
              again->old_password.view() == parsed->old_password.view(),
          "passwords changed in a write/parse round trip");
}

void VerifySignedKeySet(std::string_view payload) {
  auto verified = VerifyKeySet(Sign(kKeySetTyp, payload), Keys().trusted, wb::fuzz::kTenant,
                               wb::fuzz::VectorClock(), kDefaultMaxSkew, std::nullopt);
  if (!verified.ok()) return;
  Require(!verified->keys.keys.empty(), "a verified key set holds no key");
  Require(verified->signed_by == wb::fuzz::kCloudKid, "a verified key set names another signer");
}

void OpenWithPlaintext(std::string_view plaintext) {
  static const Jwk agent = Keys().agent.PublicJwk("enc", "ECDH-ES");
  auto jwe = JweEncrypt(plaintext, agent);
  Require(jwe.ok(), "JweEncrypt failed");
  const bool change = plaintext.find("old_password") != std::string_view::npos;
  wb::fuzz::OpenAndCheck(Sign(kRequestTyp, ClaimsToJson(ClaimsFor(change), *jwe)));
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  (void)Keys();  // outside the first run's timing
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input = wb::fuzz::AsText(data, size);
  ClaimsRoundTrip(input);
  PasswordsRoundTrip(input);
  wb::fuzz::OpenAndCheck(Sign(kRequestTyp, input));
  VerifySignedKeySet(input);
  OpenWithPlaintext(input);
  return 0;
}
