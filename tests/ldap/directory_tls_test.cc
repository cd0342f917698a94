// A directory server's certificate that the agent refuses, explained as well as the cloud
// channel explains its own: against a real slapd serving LDAPS and StartTLS with certificates
// made for each test (another CA, another host name, expired, not yet valid).
#include <gtest/gtest.h>

#include <ctime>
#include <string>

#include "ldap/directory.h"
#include "tests/ldap/directory_test_util.h"
#include "tests/support/fake_clock.h"
#include "tests/support/server_gate.h"
#include "tests/support/slapd_server.h"

namespace wb::ldap {
namespace {

using config::LookupAttribute;
using testing::SlapdServer;

bool Has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// "2026-11-30" for today + offset_days, UTC: the day TestCa puts in a certificate.
std::string Day(int offset_days) {
  const std::time_t t = std::time(nullptr) + static_cast<std::time_t>(offset_days) * 86400;
  char buf[16];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", std::gmtime(&t));
  return buf;
}

class DirectoryTlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto started = SlapdServer::Start();
    if (started.ok()) {
      server_ = std::move(*started);
    } else {
      start_status_ = started.error();
    }
  }
  static void TearDownTestSuite() { server_.reset(); }

  void SetUp() override { WB_REQUIRE_SERVER(start_status_); }

  // Makes slapd serve a certificate from its own CA for `sans`, valid from today +
  // not_before_days for `days` days.
  void Serve(const std::string& name, std::vector<std::string> sans, int days = 30,
             int not_before_days = 0) {
    auto cert = server_->ca().IssueServer(name, std::move(sans), days, not_before_days);
    ASSERT_TRUE(cert.ok()) << cert.error().ToString();
    Status served = server_->ServeCertificate(*cert);
    ASSERT_TRUE(served.ok()) << served.ToString();
  }
  void ServeGood() { Serve("good", {"IP:127.0.0.1", "DNS:localhost"}); }

  // The outcome of looking up alice through `url` with `ca_file`.
  Outcome Refusal(const std::string& url, const std::filesystem::path& ca_file) {
    auto c = testing::MakeDirectoryConfig({config::DirectoryKind::kOpenLdap,
                                           {url},
                                           ca_file,
                                           SlapdServer::service_dn(),
                                           SlapdServer::service_password(),
                                           SlapdServer::base_dn(),
                                           {LookupAttribute::kUid}},
                                          dir_.path());
    auto d = OpenDirectory(c, clock_);
    if (!d.ok()) return MakeOutcome(OutcomeCode::kInternalError, d.error().ToString());
    auto a = (*d)->FindAccount({LookupAttribute::kUid, "alice"});
    if (a.ok()) return Succeeded();
    return a.error();
  }

  static void ExpectNoLibldapVagueness(const Outcome& o) {
    EXPECT_FALSE(Has(o.reason, "unknown error code")) << o.reason;
    EXPECT_FALSE(Has(o.reason, "Can't contact LDAP server")) << o.reason;
  }

  static inline std::unique_ptr<SlapdServer> server_;
  static inline Status start_status_;
  testing::TempDir dir_;
  testing::FakeClock clock_;
};

TEST_F(DirectoryTlsTest, AWrongCaFileNamesTheCertificateItsIssuerAndTheCaFile) {
  ServeGood();
  testing::TempDir other;
  auto ca = testing::TestCa::Create(other.path(), "other-ca");
  ASSERT_TRUE(ca.ok());
  const Outcome o = Refusal(server_->ldaps_url(), ca->cert());
  EXPECT_EQ(o.code, OutcomeCode::kTlsFailure) << o.ToString();
  EXPECT_TRUE(Has(o.reason, "the certificate of " + server_->ldaps_url() +
                                " (subject \"CN=good\", issuer \"CN=slapd-test-ca\") is not "
                                "signed by a CA in the directory's ca_file " +
                                ca->cert().string()))
      << o.reason;
  EXPECT_TRUE(Has(o.reason,
                  "put the certificate of \"CN=slapd-test-ca\", the CA its chain leads "
                  "to, in that file"))
      << o.reason;
  ExpectNoLibldapVagueness(o);
}

TEST_F(DirectoryTlsTest, AWrongCaFileIsExplainedOverStartTlsToo) {
  ServeGood();
  testing::TempDir other;
  auto ca = testing::TestCa::Create(other.path(), "other-ca");
  ASSERT_TRUE(ca.ok());
  const Outcome o = Refusal(server_->ldap_url(), ca->cert());
  EXPECT_EQ(o.code, OutcomeCode::kTlsFailure) << o.ToString();
  EXPECT_TRUE(
      Has(o.reason, "is not signed by a CA in the directory's ca_file " + ca->cert().string()))
      << o.reason;
  ExpectNoLibldapVagueness(o);
}

TEST_F(DirectoryTlsTest, ACertificateForAnotherHostNamesTheHostAskedAndTheNamesItHolds) {
  Serve("dc9", {"DNS:dc9.elsewhere.test", "DNS:dc9"});
  const Outcome o = Refusal(server_->ldaps_url(), server_->ca_file());
  EXPECT_EQ(o.code, OutcomeCode::kTlsFailure) << o.ToString();
  EXPECT_TRUE(Has(o.reason, "the certificate of " + server_->ldaps_url() +
                                " is not for \"127.0.0.1\": it names DNS:dc9.elsewhere.test, "
                                "DNS:dc9 (subject \"CN=dc9\")"))
      << o.reason;
  ExpectNoLibldapVagueness(o);
}

TEST_F(DirectoryTlsTest, AnExpiredServerCertificateSaysWhenItExpired) {
  Serve("expired", {"IP:127.0.0.1", "DNS:localhost"}, /*days=*/5, /*not_before_days=*/-10);
  const Outcome o = Refusal(server_->ldaps_url(), server_->ca_file());
  EXPECT_EQ(o.code, OutcomeCode::kTlsFailure) << o.ToString();
  EXPECT_TRUE(Has(o.reason, "(subject \"CN=expired\", issuer \"CN=slapd-test-ca\") expired on " +
                                Day(-5) + "T"))
      << o.reason;
  EXPECT_TRUE(Has(o.reason, "renew the directory server's certificate")) << o.reason;
  EXPECT_TRUE(Has(o.reason, "timedatectl status")) << o.reason;
  ExpectNoLibldapVagueness(o);
}

TEST_F(DirectoryTlsTest, ACertificateNotYetValidSaysFromWhenAndToCheckTheClock) {
  Serve("future", {"IP:127.0.0.1", "DNS:localhost"}, /*days=*/30, /*not_before_days=*/2);
  const Outcome o = Refusal(server_->ldap_url(), server_->ca_file());
  EXPECT_EQ(o.code, OutcomeCode::kTlsFailure) << o.ToString();
  EXPECT_TRUE(Has(o.reason,
                  "(subject \"CN=future\", issuer \"CN=slapd-test-ca\") is not valid "
                  "before " +
                      Day(2) + "T"))
      << o.reason;
  EXPECT_TRUE(Has(o.reason, "this host's clock is behind")) << o.reason;
  ExpectNoLibldapVagueness(o);
}

// The explanation replaces libldap's words, which stay as the diagnostic.
TEST_F(DirectoryTlsTest, LibldapsOwnTextStaysAsTheDiagnostic) {
  Serve("expired2", {"IP:127.0.0.1"}, /*days=*/1, /*not_before_days=*/-3);
  const Outcome o = Refusal(server_->ldaps_url(), server_->ca_file());
  EXPECT_EQ(o.code, OutcomeCode::kTlsFailure) << o.ToString();
  EXPECT_FALSE(o.diagnostic.empty()) << o.ToString();
}

// A good certificate again: nothing to explain, and the probe leaves nothing behind.
TEST_F(DirectoryTlsTest, AVerifiedServerIsReachedAsBefore) {
  ServeGood();
  const Outcome o = Refusal(server_->ldaps_url(), server_->ca_file());
  EXPECT_TRUE(o.ok()) << o.ToString();
}

}  // namespace
}  // namespace wb::ldap
