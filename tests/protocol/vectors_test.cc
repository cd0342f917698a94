// The test vectors committed under tests/protocol/vectors and quoted in docs/protocol.md.
// They were written once by protocol_make_vectors; this test proves the library still opens
// them to exactly the documented claims and passwords.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "protocol/base64url.h"
#include "protocol/jwe.h"
#include "protocol/protocol.h"
#include "tests/support/fake_clock.h"

namespace wb::protocol {
namespace {

// One trailing newline (as committed) is dropped.
std::string ReadVector(const std::string& name) {
  std::ifstream in(std::string(WB_PROTOCOL_VECTORS_DIR) + "/" + name, std::ios::binary);
  EXPECT_TRUE(in) << name;
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  if (!text.empty() && text.back() == '\n') text.pop_back();
  return text;
}

// The committed key files: loaded from their text, because git does not keep mode 0600 (the
// agent's own key files go through EcPrivateKey::Load, which insists on it).
EcPrivateKey VectorKey(const std::string& name) {
  auto key = EcPrivateKey::FromPem(ReadVector(name));
  EXPECT_TRUE(key.ok()) << name;
  return std::move(key).value();
}

WallTime At(int64_t s) { return WallTime(std::chrono::seconds(s)); }

class VectorsTest : public ::testing::Test {
 protected:
  VectorsTest()
      : clock_(At(1'800'000'030)),
        agent_(VectorKey("agent-encryption-key.pem")),
        guard_(NewInMemoryReplayGuard(clock_)) {
    auto trusted = ParseJwks(ReadVector("cloud-keys.json"));
    EXPECT_TRUE(trusted.ok());
    if (trusted.ok()) trusted_ = *trusted;
  }

  Result<VerifiedRequest, Rejection> Open(const std::string& name) {
    return OpenRequest(ReadVector(name), trusted_, agent_,
                       OpenOptions{"tenant-contoso", "agent-paris-1"}, clock_, *guard_);
  }

  wb::testing::FakeClock clock_;
  EcPrivateKey agent_;
  Jwks trusted_;
  std::unique_ptr<ReplayGuard> guard_;
};

TEST_F(VectorsTest, KeysAreWhatTheDocumentSays) {
  ASSERT_EQ(trusted_.keys.size(), 1u);
  EXPECT_EQ(trusted_.keys[0].kid, "wbcloud-test-2027-01");
  auto agent_jwk = ParseJwk(ReadVector("agent-encryption-jwk.json"));
  ASSERT_TRUE(agent_jwk.ok());
  EXPECT_EQ(agent_jwk->kid, Thumbprint(*agent_jwk));
  EXPECT_EQ(agent_jwk->kid, agent_.PublicJwk().kid);
  EXPECT_EQ(VectorKey("cloud-signing-key.pem").PublicJwk().x, trusted_.keys[0].x);
}

TEST_F(VectorsTest, ResetVectorOpensToTheDocumentedRequest) {
  auto r = Open("reset.jws");
  ASSERT_TRUE(r.ok()) << r.error().reason;
  const RequestClaims& c = r->claims;
  EXPECT_EQ(c.id, "3b241101-e2bb-4255-8caf-4136c566a962");
  EXPECT_EQ(c.tenant, "tenant-contoso");
  EXPECT_EQ(c.audience, "agent-paris-1");
  EXPECT_EQ(c.issued_at, At(1'800'000'000));
  EXPECT_EQ(c.expires_at, At(1'800'000'600));
  EXPECT_EQ(c.nonce, "bm9uY2UtZm9yLXRoZS1yZXNldC12ZWN0b3I");
  EXPECT_EQ(c.operations, (std::vector<Operation>{Operation::kReset, Operation::kUnlock}));
  EXPECT_EQ(c.target.kind, TargetKind::kUserPrincipalName);
  EXPECT_EQ(c.target.value, "alice@contoso.example");
  EXPECT_EQ(c.requester.type, RequesterType::kSelf);
  EXPECT_EQ(c.requester.id, "alice@contoso.example");
  EXPECT_EQ(c.requester.verified_by, (std::vector<std::string>{"email_otp", "totp"}));
  EXPECT_EQ(c.correlation_id, "c0ffee00-0000-4000-8000-000000000001");
  EXPECT_EQ(r->signed_by, "wbcloud-test-2027-01");
  EXPECT_EQ(r->passwords.new_password.view(), "Winter-Is-Coming-2027!");
  EXPECT_TRUE(r->passwords.old_password.empty());
}

TEST_F(VectorsTest, ChangeVectorCarriesBothPasswords) {
  auto r = Open("change.jws");
  ASSERT_TRUE(r.ok()) << r.error().reason;
  EXPECT_EQ(r->claims.id, "9c5b94b1-35ad-49bb-b118-8e8fc24abf80");
  EXPECT_EQ(r->claims.operations, std::vector<Operation>{Operation::kChange});
  EXPECT_EQ(r->passwords.new_password.view(), "Spring-Is-Here-2027?");
  EXPECT_EQ(r->passwords.old_password.view(), "Winter-Is-Coming-2027!");
}

TEST_F(VectorsTest, ValidateVectorAsksAboutOnePasswordAndNothingElse) {
  auto r = Open("validate.jws");
  ASSERT_TRUE(r.ok()) << r.error().reason;
  EXPECT_EQ(r->claims.id, "5f0c3a3e-8d0b-4a52-9c4e-6f1d2b7a9e10");
  EXPECT_EQ(r->claims.operations, std::vector<Operation>{Operation::kValidate});
  EXPECT_EQ(r->passwords.new_password.view(), "Summer-Of-2027-Rules");
  EXPECT_TRUE(r->passwords.old_password.empty());
}

TEST_F(VectorsTest, PolicySummaryVectorParsesToTheDocumentedRules) {
  const std::string text = ReadVector("policy-summary.json");
  auto m = ParseMessage(text);
  ASSERT_TRUE(m.ok()) << m.error().ToString();
  ASSERT_TRUE(std::holds_alternative<PolicySummary>(*m));
  const PolicySummary& s = std::get<PolicySummary>(*m);
  ASSERT_EQ(s.directories.size(), 1u);
  const DirectorySummary& d = s.directories[0];
  EXPECT_EQ(d.name, "corp");
  EXPECT_EQ(d.upn_suffixes, std::vector<std::string>{"contoso.example"});
  ASSERT_TRUE(d.directory.has_value());
  EXPECT_EQ(d.directory->min_length, 7);
  EXPECT_TRUE(d.directory->complexity);
  EXPECT_EQ(d.directory->history_length, 24);
  EXPECT_EQ(d.directory->min_age, std::chrono::seconds(86400));
  EXPECT_EQ(d.self.min_length, 12);
  EXPECT_EQ(d.self.min_classes, 3);
  EXPECT_EQ(d.self.forbidden_characters, "<>");
  EXPECT_TRUE(d.self.banned_words);
  EXPECT_TRUE(d.self.breached);
  EXPECT_EQ(d.admin.min_length, 16);
  EXPECT_EQ(Serialize(s), text);  // the committed bytes are the canonical form
}

TEST_F(VectorsTest, TheQuotedPartsAreTheEnvelopesParts) {
  for (const std::string name : {"reset", "change", "validate"}) {
    const std::string jws = ReadVector(name + ".jws");
    const std::size_t a = jws.find('.');
    const std::size_t b = jws.find('.', a + 1);
    EXPECT_EQ(Base64UrlDecode(jws.substr(a + 1, b - a - 1)), ReadVector(name + ".payload.json"));
    EXPECT_NE(ReadVector(name + ".payload.json").find(ReadVector(name + ".jwe")),
              std::string::npos);
    WipedString plaintext;
    EXPECT_FALSE(
        JweDecrypt(ReadVector(name + ".jwe"), agent_.native(), agent_.PublicJwk().kid, plaintext)
            .has_value());
    EXPECT_EQ(plaintext.view(), ReadVector(name + ".plaintext.json"));
  }
}

TEST_F(VectorsTest, ResetVectorIsExpiredAfterExpPlusSkew) {
  clock_.Advance(std::chrono::seconds(600 - 30 + 120));
  auto r = Open("reset.jws");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, RejectCode::kExpired);
}

TEST_F(VectorsTest, KeySetVectorVerifies) {
  auto v = VerifyKeySet(ReadVector("keyset.jws"), trusted_, "tenant-contoso", clock_,
                        kDefaultMaxSkew, std::nullopt);
  ASSERT_TRUE(v.ok()) << v.error().ToString();
  EXPECT_EQ(v->issued_at, At(1'800'000'000));
  ASSERT_EQ(v->keys.keys.size(), 2u);
  EXPECT_EQ(v->keys.keys[1].kid, "wbcloud-test-2027-07");
  EXPECT_EQ(VectorKey("cloud-signing-key-next.pem").PublicJwk().x, v->keys.keys[1].x);
}

}  // namespace
}  // namespace wb::protocol
