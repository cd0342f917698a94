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
#include "tests/support/test_ca.h"

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

// Certificate renewal (rollover.cc): the cloud's answer to the agent's CSR replaces key and
// certificate only when it is fit to connect with.
class RenewalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto ca = testing::TestCa::Create(dir_.path() / "ca", "Wb Agents CA");
    auto other = testing::TestCa::Create(dir_.path() / "other", "Other CA");
    ASSERT_TRUE(ca.ok() && other.ok());
    ca_ = std::make_unique<testing::TestCa>(std::move(*ca));
    other_ = std::make_unique<testing::TestCa>(std::move(*other));
    std::filesystem::create_directories(paths_.dir);
    auto current = ca_->IssueClient("agent-1");
    ASSERT_TRUE(current.ok());
    std::filesystem::copy_file(current->cert, paths_.cert());
    std::filesystem::copy_file(current->key, paths_.key());
  }
  // The certificate `ca` makes of the agent's CSR, as PEM.
  std::string Sign(const testing::TestCa& ca, const std::string& csr) {
    const auto csr_file = dir_.path() / "agent.csr";
    const auto out = dir_.path() / "renewed.crt";
    EXPECT_TRUE(testing::WriteFile(csr_file, csr, 0600).ok());
    testing::CommandResult r = testing::RunCommand(
        {"openssl", "x509", "-req", "-in", csr_file.string(), "-CA", ca.cert().string(), "-CAkey",
         ca.ca().key.string(), "-days", "30", "-out", out.string()});
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return testing::ReadFileOrEmpty(out);
  }

  testing::TempDir dir_;
  StatePaths paths_{dir_.path() / "state"};
  std::unique_ptr<testing::TestCa> ca_;
  std::unique_ptr<testing::TestCa> other_;
};

TEST_F(RenewalTest, ACertificateFromTheSameIssuerReplacesKeyAndCertificate) {
  auto csr = BeginRenewal(paths_, "agent-1");
  ASSERT_TRUE(csr.ok()) << csr.error().ToString();
  const std::string renewed = Sign(*ca_, *csr);
  auto done = FinishRenewal(paths_, "agent-1", renewed, std::chrono::system_clock::now());
  ASSERT_TRUE(done.ok()) << done.error().ToString();
  EXPECT_EQ(testing::ReadFileOrEmpty(paths_.cert()), renewed);
  EXPECT_FALSE(std::filesystem::exists(paths_.renewal_key()));
}

// Another CA's certificate would be refused by the cloud's TLS: after the key was replaced the
// agent could not connect again. It is refused, the key and certificate in use are kept, and
// the renewal stays pending for a right answer.
TEST_F(RenewalTest, ACertificateFromAnotherIssuerIsRefusedAndChangesNothing) {
  const std::string cert_before = testing::ReadFileOrEmpty(paths_.cert());
  const std::string key_before = testing::ReadFileOrEmpty(paths_.key());
  auto csr = BeginRenewal(paths_, "agent-1");
  ASSERT_TRUE(csr.ok());
  auto done =
      FinishRenewal(paths_, "agent-1", Sign(*other_, *csr), std::chrono::system_clock::now());
  ASSERT_FALSE(done.ok());
  EXPECT_NE(done.error().message().find("Other CA"), std::string::npos) << done.error().ToString();
  EXPECT_NE(done.error().message().find("Wb Agents CA"), std::string::npos);
  EXPECT_EQ(testing::ReadFileOrEmpty(paths_.cert()), cert_before);
  EXPECT_EQ(testing::ReadFileOrEmpty(paths_.key()), key_before);
  EXPECT_TRUE(std::filesystem::exists(paths_.renewal_key()));
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
