// Signed key sets: signing-key rollover.
#include <gtest/gtest.h>

#include "protocol/protocol.h"
#include "tests/protocol/protocol_test_util.h"
#include "tests/support/fake_clock.h"

namespace wb::protocol {
namespace {

using namespace fixtures;  // NOLINT: test vocabulary
using std::chrono::seconds;

class KeySetTest : public ::testing::Test {
 protected:
  KeySetTest() : keys_(MakeKeys()) {
    auto next = EcPrivateKey::Generate();
    EXPECT_TRUE(next.ok());
    next_ = std::move(*next);
    Jwk next_jwk = next_->PublicJwk("sig", "ES256");
    next_jwk.kid = "cloud-2027-07";
    new_set_ = Jwks{{keys_.trusted.keys[0], next_jwk}};
  }

  Result<VerifiedKeySet> Verify(std::string_view jws, std::optional<WallTime> newer_than = {}) {
    return VerifyKeySet(jws, keys_.trusted, kTenant, clock_, kDefaultMaxSkew, newer_than);
  }

  wb::testing::FakeClock clock_;
  TestKeys keys_;
  std::optional<EcPrivateKey> next_;
  Jwks new_set_;
};

TEST_F(KeySetTest, ASetSignedByATrustedKeyVerifies) {
  auto jws = SignKeySet(new_set_, kTenant, clock_.Now(), keys_.cloud, kCloudKid);
  ASSERT_TRUE(jws.ok()) << jws.error().ToString();
  auto v = Verify(*jws, clock_.Now() - seconds(3600));
  ASSERT_TRUE(v.ok()) << v.error().ToString();
  EXPECT_EQ(v->signed_by, kCloudKid);
  EXPECT_EQ(v->issued_at, clock_.Now());
  ASSERT_EQ(v->keys.keys.size(), 2u);
  EXPECT_NE(v->keys.Find("cloud-2027-07"), nullptr);

  // After rollover, a request signed by the new key opens with the new set.
  RequestClaims claims = ResetClaims(clock_.Now());
  const Passwords pw = MakePasswords(kNewPassword);
  auto envelope = SealRequest(claims, &pw, *next_, "cloud-2027-07", keys_.agent_jwk);
  ASSERT_TRUE(envelope.ok());
  auto guard = NewInMemoryReplayGuard(clock_);
  EXPECT_FALSE(OpenRequest(*envelope, keys_.trusted, keys_.agent, Options(), clock_, *guard).ok());
  EXPECT_TRUE(OpenRequest(*envelope, v->keys, keys_.agent, Options(), clock_, *guard).ok());
}

TEST_F(KeySetTest, ASetSignedByAnUnknownKeyIsRefused) {
  // Signed by the new key, which the agent does not trust yet.
  auto jws = SignKeySet(new_set_, kTenant, clock_.Now(), *next_, "cloud-2027-07");
  ASSERT_TRUE(jws.ok());
  auto v = Verify(*jws);
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.error().code(), Code::kPermissionDenied);
  // Claiming a trusted kid does not help.
  auto lying = SignKeySet(new_set_, kTenant, clock_.Now(), *next_, kCloudKid);
  ASSERT_TRUE(lying.ok());
  auto v2 = Verify(*lying);
  ASSERT_FALSE(v2.ok());
  EXPECT_EQ(v2.error().code(), Code::kPermissionDenied);
}

// As OpenRequest does: the algorithm is checked before anything else in the header.
TEST_F(KeySetTest, ASetWithAnotherAlgorithmIsRefusedAsSuch) {
  const std::string payload = R"({"tenant":"tenant-contoso","iat":1800000000,"keys":[]})";
  for (const char* header : {R"({"alg":"none","kid":"cloud-2027-01","typ":"wbagent-keyset+jwt"})",
                             R"({"alg":"HS256","extra":1})"}) {
    auto v = Verify(SignRaw(header, payload, keys_.cloud));
    ASSERT_FALSE(v.ok()) << header;
    EXPECT_EQ(v.error().code(), Code::kPermissionDenied) << header;
    EXPECT_NE(v.error().message().find("is not allowed; only ES256 is"), std::string::npos)
        << v.error().message();
  }
}

// A trusted key published for another algorithm (or for encryption) signs no key set, as it
// signs no request.
TEST_F(KeySetTest, ASetSignedByATrustedKeyOfAnotherAlgorithmIsRefused) {
  for (const auto& [use, alg] : {std::pair{"sig", "ES384"}, std::pair{"enc", "ES256"}}) {
    Jwks trusted = keys_.trusted;
    trusted.keys[0].use = use;
    trusted.keys[0].alg = alg;
    auto jws = SignKeySet(new_set_, kTenant, clock_.Now(), keys_.cloud, kCloudKid);
    ASSERT_TRUE(jws.ok());
    auto v = VerifyKeySet(*jws, trusted, kTenant, clock_, kDefaultMaxSkew, std::nullopt);
    ASSERT_FALSE(v.ok()) << use << " " << alg;
    EXPECT_EQ(v.error().code(), Code::kPermissionDenied);
  }
}

TEST_F(KeySetTest, AnOlderSetReplayedIsRefused) {
  auto old =
      SignKeySet(keys_.trusted, kTenant, clock_.Now() - seconds(86400), keys_.cloud, kCloudKid);
  ASSERT_TRUE(old.ok());
  auto v = Verify(*old, clock_.Now() - seconds(3600));
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.error().code(), Code::kPermissionDenied);
}

TEST_F(KeySetTest, AnotherTenantsSetIsRefused) {
  auto jws = SignKeySet(new_set_, "tenant-fabrikam", clock_.Now(), keys_.cloud, kCloudKid);
  ASSERT_TRUE(jws.ok());
  EXPECT_FALSE(Verify(*jws).ok());
}

TEST_F(KeySetTest, AFutureSetIsRefused) {
  auto jws = SignKeySet(new_set_, kTenant, clock_.Now() + seconds(3600), keys_.cloud, kCloudKid);
  ASSERT_TRUE(jws.ok());
  auto v = Verify(*jws);
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.error().code(), Code::kFailedPrecondition);
}

TEST_F(KeySetTest, ATamperedSetIsRefused) {
  auto jws = SignKeySet(new_set_, kTenant, clock_.Now(), keys_.cloud, kCloudKid);
  ASSERT_TRUE(jws.ok());
  std::string tampered = *jws;
  tampered[tampered.find('.') + 5] ^= 0x01;
  EXPECT_FALSE(Verify(tampered).ok());
}

TEST_F(KeySetTest, ARequestEnvelopeIsNotAKeySet) {
  RequestClaims claims = ResetClaims(clock_.Now());
  const Passwords pw = MakePasswords(kNewPassword);
  auto envelope = SealRequest(claims, &pw, keys_.cloud, kCloudKid, keys_.agent_jwk);
  ASSERT_TRUE(envelope.ok());
  auto v = Verify(*envelope);
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.error().code(), Code::kInvalidArgument);
}

TEST_F(KeySetTest, AnEmptySetIsNeitherSignedNorAccepted) {
  EXPECT_FALSE(SignKeySet(Jwks{}, kTenant, clock_.Now(), keys_.cloud, kCloudKid).ok());
  const std::string empty =
      SignRaw(R"({"alg":"ES256","kid":"cloud-2027-01","typ":"wbagent-keyset+jwt"})",
              R"({"tenant":"tenant-contoso","iat":1800000000,"keys":[]})", keys_.cloud);
  EXPECT_FALSE(Verify(empty).ok());
}

}  // namespace
}  // namespace wb::protocol
