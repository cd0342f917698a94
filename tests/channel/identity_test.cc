// channel/identity.h's reading of certificates, on certificates made here with OpenSSL.
#include "channel/identity.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <memory>
#include <string>

#include "protocol/protocol.h"
#include "tests/support/fake_clock.h"
#include "tests/support/process.h"

namespace wb::channel {
namespace {

// A self-signed P-256 certificate valid from `not_before` to `not_after` (ASN.1 time text,
// e.g. "20260101000000Z"), as PEM.
std::string SelfSigned(const char* not_before, const char* not_after) {
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_EC_gen("P-256"), &EVP_PKEY_free);
  std::unique_ptr<X509, decltype(&X509_free)> cert(X509_new(), &X509_free);
  if (!key || !cert) return "";
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("far-future"), -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);
  ASN1_TIME_set_string_X509(X509_getm_notBefore(cert.get()), not_before);
  ASN1_TIME_set_string_X509(X509_getm_notAfter(cert.get()), not_after);
  X509_set_pubkey(cert.get(), key.get());
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) return "";
  std::unique_ptr<BIO, decltype(&BIO_free)> out(BIO_new(BIO_s_mem()), &BIO_free);
  PEM_write_bio_X509(out.get(), cert.get());
  char* data = nullptr;
  const long len = BIO_get_mem_data(out.get(), &data);
  return std::string(data, static_cast<std::size_t>(len));
}

// RFC 5280 gives notAfter 99991231235959Z to a certificate without a well-defined expiry;
// WallTime ends in 2262. Before, the date overflowed into the past and the renewal check with
// it: now it is held at the end of the range, "far in the future", and renewal is due between.
TEST(IdentityTest, ACertificateValidUntilTheYear9999ExpiresFarInTheFuture) {
  const std::string pem = SelfSigned("20260101000000Z", "99991231235959Z");
  ASSERT_FALSE(pem.empty());
  auto info = ParseCertificate(pem);
  ASSERT_TRUE(info.ok()) << info.error().ToString();
  EXPECT_EQ(info->not_after, WallTime::max());
  EXPECT_EQ(FormatUtcSeconds(info->not_before), "2026-01-01T00:00:00Z");
  const WallTime due = RenewalDue(*info);
  EXPECT_GT(due, info->not_before + std::chrono::hours(24 * 365 * 150));
  EXPECT_LT(due, info->not_after);
}

TEST(IdentityTest, RenewalIsDueAfterTwoThirdsOfAnOrdinaryLifetime) {
  const std::string pem = SelfSigned("20260101000000Z", "20260131000000Z");
  auto info = ParseCertificate(pem);
  ASSERT_TRUE(info.ok()) << info.error().ToString();
  EXPECT_EQ(FormatUtcSeconds(RenewalDue(*info)), "2026-01-21T00:00:00Z");
}

// Signing-key rollover right after enrollment, before any signed set was seen: an old set,
// signed by a key still trusted, must not bring back a key a later rollover retired.
class KeySetAfterEnrollmentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto k0 = protocol::EcPrivateKey::Generate();
    auto k1 = protocol::EcPrivateKey::Generate();
    ASSERT_TRUE(k0.ok() && k1.ok());
    k0_ = std::make_unique<protocol::EcPrivateKey>(std::move(*k0));
    k1_ = std::make_unique<protocol::EcPrivateKey>(std::move(*k1));

    enrollment_ = {.agent_id = "agent-1",
                   .tenant = "tenant-1",
                   .agent_url = "wss://cloud.example/agent",
                   .enrolled_at = clock_.Now()};
    ASSERT_TRUE(SaveCloudKeys(paths_, Set({Key(*k1_, "k1")})).ok());  // what enrollment gave
  }
  static protocol::Jwk Key(const protocol::EcPrivateKey& k, const char* kid) {
    protocol::Jwk jwk = k.PublicJwk("sig", "ES256");
    jwk.kid = kid;
    return jwk;
  }
  static protocol::Jwks Set(std::vector<protocol::Jwk> keys) { return {std::move(keys)}; }
  std::string Signed(const protocol::Jwks& keys, WallTime issued_at) {
    auto jws = protocol::SignKeySet(keys, "tenant-1", issued_at, *k1_, "k1");
    EXPECT_TRUE(jws.ok());
    return jws.ok() ? *jws : "";
  }
  Result<std::optional<protocol::Jwks>> Apply(const std::string& jws) {
    return ApplyKeySet(paths_, enrollment_, jws, clock_, std::chrono::seconds(60));
  }

  testing::TempDir dir_;
  StatePaths paths_{dir_.path()};
  testing::FakeClock clock_;
  Enrollment enrollment_;
  std::unique_ptr<protocol::EcPrivateKey> k0_;
  std::unique_ptr<protocol::EcPrivateKey> k1_;
};

TEST_F(KeySetAfterEnrollmentTest, AnOlderSetWithOtherKeysIsRefusedAndChangesNothing) {
  // Step 1 of an earlier rollover: {k0, k1}, signed by k1, a day before enrollment.
  const std::string old_set =
      Signed(Set({Key(*k0_, "k0"), Key(*k1_, "k1")}), clock_.Now() - std::chrono::hours(24));
  auto applied = Apply(old_set);
  ASSERT_FALSE(applied.ok()) << "an old set brought back a retired key";
  EXPECT_NE(applied.error().message().find("before this agent was enrolled"), std::string::npos)
      << applied.error().ToString();
  auto keys = LoadCloudKeys(paths_);
  ASSERT_TRUE(keys.ok());
  ASSERT_EQ(keys->keys.size(), 1u);
  EXPECT_EQ(keys->keys[0].kid, "k1");
  EXPECT_FALSE(enrollment_.keys_issued_at.has_value());
}

// The cloud sends its current set after welcome: issued before enrollment, with the keys
// enrollment gave. Accepted, and its iat pinned, so that an older one is refused from then on
// as any set not newer than the one in use.
TEST_F(KeySetAfterEnrollmentTest, TheCurrentSetIssuedBeforeEnrollmentIsAcceptedAndPinsItsTime) {
  const WallTime issued = clock_.Now() - std::chrono::hours(24 * 30);
  auto applied = Apply(Signed(Set({Key(*k1_, "k1")}), issued));
  ASSERT_TRUE(applied.ok()) << applied.error().ToString();
  EXPECT_EQ(enrollment_.keys_issued_at,
            std::optional<WallTime>(std::chrono::floor<std::chrono::seconds>(issued)));
  auto older =
      Apply(Signed(Set({Key(*k0_, "k0"), Key(*k1_, "k1")}), issued - std::chrono::hours(1)));
  EXPECT_FALSE(older.ok());
}

// A rollover after enrollment is applied as before.
TEST_F(KeySetAfterEnrollmentTest, ASetIssuedAfterEnrollmentIsApplied) {
  clock_.Advance(std::chrono::hours(1));
  auto applied = Apply(Signed(Set({Key(*k0_, "k0"), Key(*k1_, "k1")}), clock_.Now()));
  ASSERT_TRUE(applied.ok()) << applied.error().ToString();
  ASSERT_TRUE(applied->has_value());
  EXPECT_EQ((*applied)->keys.size(), 2u);
}

}  // namespace
}  // namespace wb::channel
