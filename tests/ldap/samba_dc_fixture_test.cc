// Proves the Samba AD DC fixture is a real, verified Active Directory whose service account has
// exactly the delegated rights a writeback agent gets in production: later tests of the AD
// writer rely on each of these facts.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "tests/support/samba_dc.h"
#include "tests/support/server_gate.h"

namespace wb::testing {
namespace {

using Op = LdapMod::Op;

// A binary SID (as in tokenGroups) in its string form, e.g. "S-1-5-21-1-2-3-513".
std::string SidToString(const std::string& sid) {
  if (sid.size() < 8) return "";
  const auto byte = [&](std::size_t i) { return static_cast<uint8_t>(sid[i]); };
  uint64_t authority = 0;
  for (std::size_t i = 2; i < 8; ++i) authority = (authority << 8) | byte(i);
  std::string out = "S-" + std::to_string(byte(0)) + "-" + std::to_string(authority);
  for (std::size_t i = 8; i + 3 < sid.size(); i += 4) {
    const uint32_t sub = byte(i) | (byte(i + 1) << 8) | (byte(i + 2) << 16) |
                         (static_cast<uint32_t>(byte(i + 3)) << 24);
    out.append("-").append(std::to_string(sub));
  }
  return out;
}

bool EndsWith(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

class SambaDcFixtureTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto started = SambaDc::Start();
    if (started.ok()) {
      dc_ = std::move(*started);
    } else {
      start_status_ = started.error();
    }
  }
  static void TearDownTestSuite() { dc_.reset(); }
  void SetUp() override { WB_REQUIRE_SERVER(start_status_); }

  static Result<LdapTestClient> Service() {
    return LdapTestClient::Connect(dc_->ldaps_url(), dc_->ca_file(), SambaDc::service_dn(),
                                   SambaDc::service_password());
  }
  static Status Reset(LdapTestClient& client, const std::string& dn, const std::string& pw) {
    return client.Modify(dn, {{Op::kReplace, "unicodePwd", {AdUnicodePwd(pw)}}});
  }

  static inline std::unique_ptr<SambaDc> dc_;
  static inline Status start_status_;
};

TEST_F(SambaDcFixtureTest, ServiceAccountBindsOverVerifiedLdapsAndHoldsNoAdminGroup) {
  auto client = Service();
  ASSERT_TRUE(client.ok()) << client.error().ToString();
  EXPECT_NE(SambaDc::service_dn(), SambaDc::admin_dn());
  auto groups = client->Read(SambaDc::service_dn(), "tokenGroups");
  ASSERT_TRUE(groups.ok()) << groups.error().ToString();
  std::vector<std::string> sids;
  for (const auto& g : *groups) sids.push_back(SidToString(g));
  // Domain Users and BUILTIN\Users, nothing else: no Domain/Enterprise/Schema Admins, no
  // Administrators, Account/Server/Backup/Print Operators.
  EXPECT_EQ(sids.size(), 2u);
  EXPECT_TRUE(std::any_of(sids.begin(), sids.end(),
                          [](const std::string& s) { return EndsWith(s, "-513"); }));
  for (const auto& sid : sids) {
    for (const char* admin : {"-512", "-518", "-519", "-520"}) EXPECT_FALSE(EndsWith(sid, admin));
    if (sid.rfind("S-1-5-32-", 0) == 0) {
      EXPECT_EQ(sid, "S-1-5-32-545");
    }
  }
  auto admins = client->Read("CN=Domain Admins,CN=Users," + SambaDc::base_dn(), "member");
  ASSERT_TRUE(admins.ok()) << admins.error().ToString();
  EXPECT_EQ(std::count(admins->begin(), admins->end(), SambaDc::service_dn()), 0);
  auto admin_count = client->Read(SambaDc::service_dn(), "adminCount");
  ASSERT_TRUE(admin_count.ok());
  EXPECT_TRUE(admin_count->empty());
}

TEST_F(SambaDcFixtureTest, ServiceAccountBindsWithStartTls) {
  Status bind = TryUserBind(dc_->ldap_url(), dc_->ca_file(), SambaDc::service_dn(),
                            SambaDc::service_password());
  EXPECT_TRUE(bind.ok()) << bind.ToString();
}

TEST_F(SambaDcFixtureTest, ServerCertificateFromAnotherCaIsRefused) {
  TempDir dir;
  auto other = TestCa::Create(dir.path(), "other-ca");
  ASSERT_TRUE(other.ok()) << other.error().ToString();
  EXPECT_FALSE(TryUserBind(dc_->ldaps_url(), other->cert(), SambaDc::service_dn(),
                           SambaDc::service_password())
                   .ok());
  EXPECT_FALSE(TryUserBind(dc_->ldap_url(), other->cert(), SambaDc::service_dn(),
                           SambaDc::service_password())
                   .ok());
}

TEST_F(SambaDcFixtureTest, PreparedUsersAreEnabledWithUpnAndInitialPassword) {
  for (const char* name : {"alice", "bob", "carol", "dave", "erin", "frank", "prot-admin"}) {
    EXPECT_TRUE(TryUserBind(dc_->ldaps_url(), dc_->ca_file(), SambaDc::user_dn(name),
                            dc_->user_password(name))
                    .ok())
        << name;
    auto upn = dc_->ReadAttribute(SambaDc::user_dn(name), "userPrincipalName");
    ASSERT_TRUE(upn.ok()) << upn.error().ToString();
    EXPECT_EQ(*upn, std::vector<std::string>{SambaDc::upn(name)});
  }
}

TEST_F(SambaDcFixtureTest, AmbiguousMailMatchesTwoUsersAndProtectedUserHasAdminCount) {
  auto client = Service();
  ASSERT_TRUE(client.ok()) << client.error().ToString();
  auto dns = client->SearchDns(SambaDc::users_ou(), "(mail=" + SambaDc::ambiguous_mail() + ")");
  ASSERT_TRUE(dns.ok()) << dns.error().ToString();
  EXPECT_EQ(dns->size(), 2u);
  auto admin_count = client->Read(SambaDc::user_dn(SambaDc::protected_user()), "adminCount");
  ASSERT_TRUE(admin_count.ok()) << admin_count.error().ToString();
  EXPECT_EQ(*admin_count, std::vector<std::string>{"1"});
}

TEST_F(SambaDcFixtureTest, ServiceAccountResetsAlicesPasswordAndAliceBindsWithTheNewOne) {
  auto client = Service();
  ASSERT_TRUE(client.ok()) << client.error().ToString();
  const std::string dn = SambaDc::user_dn("alice");
  ASSERT_TRUE(Reset(*client, dn, "Fresh-Start-Pw-31").ok()) << client->last_diagnostic();
  EXPECT_TRUE(TryUserBind(dc_->ldaps_url(), dc_->ca_file(), dn, "Fresh-Start-Pw-31").ok());
  EXPECT_FALSE(TryUserBind(dc_->ldaps_url(), dc_->ca_file(), dn, dc_->user_password("alice")).ok());
}

TEST_F(SambaDcFixtureTest, ServiceAccountForcesAndUndoesChangeAtNextLogonWithPwdLastSet) {
  auto client = Service();
  ASSERT_TRUE(client.ok()) << client.error().ToString();
  const std::string dn = SambaDc::user_dn("carol");
  const std::string pw = dc_->user_password("carol");
  ASSERT_TRUE(client->Modify(dn, {{Op::kReplace, "pwdLastSet", {"0"}}}).ok())
      << client->last_diagnostic();
  Status must_change = TryUserBind(dc_->ldaps_url(), dc_->ca_file(), dn, pw);
  EXPECT_NE(must_change.message().find("data 773"), std::string::npos) << must_change.ToString();
  ASSERT_TRUE(client->Modify(dn, {{Op::kReplace, "pwdLastSet", {"-1"}}}).ok())
      << client->last_diagnostic();
  Status bind = TryUserBind(dc_->ldaps_url(), dc_->ca_file(), dn, pw);
  EXPECT_TRUE(bind.ok()) << bind.ToString();
}

TEST_F(SambaDcFixtureTest, BadBindsLockTheUserAndLockoutTimeZeroFromServiceUnlocks) {
  const std::string dn = SambaDc::user_dn("bob");
  const std::string pw = dc_->user_password("bob");
  ASSERT_TRUE(dc_->LockUserByBadBinds("bob").ok());
  Status locked = TryUserBind(dc_->ldaps_url(), dc_->ca_file(), dn, pw);
  EXPECT_NE(locked.message().find("data 775"), std::string::npos) << locked.ToString();
  auto client = Service();
  ASSERT_TRUE(client.ok()) << client.error().ToString();
  ASSERT_TRUE(client->Modify(dn, {{Op::kReplace, "lockoutTime", {"0"}}}).ok())
      << client->last_diagnostic();
  Status bind = TryUserBind(dc_->ldaps_url(), dc_->ca_file(), dn, pw);
  EXPECT_TRUE(bind.ok()) << bind.ToString();
}

TEST_F(SambaDcFixtureTest, ServiceAccountHasNoRightsOutsideWbUsers) {
  auto client = Service();
  ASSERT_TRUE(client.ok()) << client.error().ToString();
  for (const std::string& dn : {SambaDc::admin_dn(), SambaDc::norights_dn()}) {
    EXPECT_FALSE(Reset(*client, dn, "Taken-Over-Pw-41").ok()) << dn;
    EXPECT_EQ(client->last_result(), LDAP_INSUFFICIENT_ACCESS) << dn;
    EXPECT_FALSE(client->Modify(dn, {{Op::kReplace, "lockoutTime", {"0"}}}).ok()) << dn;
    EXPECT_EQ(client->last_result(), LDAP_INSUFFICIENT_ACCESS) << dn;
    EXPECT_FALSE(client->Modify(dn, {{Op::kReplace, "pwdLastSet", {"0"}}}).ok()) << dn;
    EXPECT_EQ(client->last_result(), LDAP_INSUFFICIENT_ACCESS) << dn;
  }
}

TEST_F(SambaDcFixtureTest, ServiceAccountCannotResetTheProtectedAccountInsideWbUsers) {
  auto client = Service();
  ASSERT_TRUE(client.ok()) << client.error().ToString();
  EXPECT_FALSE(
      Reset(*client, SambaDc::user_dn(SambaDc::protected_user()), "Taken-Over-Pw-42").ok());
  EXPECT_EQ(client->last_result(), LDAP_INSUFFICIENT_ACCESS);
}

TEST_F(SambaDcFixtureTest, ServiceAccountCannotWriteOtherAttributesOfUsers) {
  auto client = Service();
  ASSERT_TRUE(client.ok()) << client.error().ToString();
  EXPECT_FALSE(
      client->Modify(SambaDc::user_dn("dave"), {{Op::kReplace, "description", {"x"}}}).ok());
  EXPECT_EQ(client->last_result(), LDAP_INSUFFICIENT_ACCESS);
}

TEST_F(SambaDcFixtureTest, NoRightsAccountGetsInsufficientAccessOnReset) {
  auto client = LdapTestClient::Connect(dc_->ldaps_url(), dc_->ca_file(), SambaDc::norights_dn(),
                                        SambaDc::norights_password());
  ASSERT_TRUE(client.ok()) << client.error().ToString();
  EXPECT_FALSE(Reset(*client, SambaDc::user_dn("dave"), "Taken-Over-Pw-43").ok());
  EXPECT_EQ(client->last_result(), LDAP_INSUFFICIENT_ACCESS);
}

TEST_F(SambaDcFixtureTest, CreatedUserCanBindAndDomainPolicyBindsTheServiceAccountsResets) {
  ASSERT_TRUE(dc_->CreateUser("pat", "Pat-Start-Pw-51").ok());
  EXPECT_EQ(dc_->user_password("pat"), "Pat-Start-Pw-51");
  EXPECT_TRUE(
      TryUserBind(dc_->ldaps_url(), dc_->ca_file(), SambaDc::user_dn("pat"), "Pat-Start-Pw-51")
          .ok());
  auto client = Service();
  ASSERT_TRUE(client.ok()) << client.error().ToString();
  ASSERT_TRUE(dc_->SetDomainPolicy({.min_length = 14}).ok());
  EXPECT_FALSE(Reset(*client, SambaDc::user_dn("pat"), "Ten-Chars1").ok());
  EXPECT_EQ(client->last_result(), LDAP_CONSTRAINT_VIOLATION);
  EXPECT_NE(client->last_diagnostic().find("too short"), std::string::npos)
      << client->last_diagnostic();
  ASSERT_TRUE(dc_->SetDomainPolicy({.min_length = 7}).ok());
  EXPECT_TRUE(Reset(*client, SambaDc::user_dn("pat"), "Ten-Chars1").ok())
      << client->last_diagnostic();
}

TEST_F(SambaDcFixtureTest, ServiceAccountReadsTheFineGrainedPolicyAppliedByIdentity) {
  auto created = dc_->samba_tool(
      {"domain", "passwordsettings", "pso", "create", "wb-strict", "1", "--min-pwd-length=16"});
  ASSERT_TRUE(created.ok()) << created.error().ToString();
  ASSERT_TRUE(
      dc_->samba_tool({"domain", "passwordsettings", "pso", "apply", "wb-strict", "dave"}).ok());
  auto client = Service();
  ASSERT_TRUE(client.ok()) << client.error().ToString();
  auto pso = client->Read(SambaDc::user_dn("dave"), "msDS-ResultantPSO");
  ASSERT_TRUE(pso.ok()) << pso.error().ToString();
  ASSERT_EQ(pso->size(), 1u);
  auto min_length = client->Read(pso->front(), "msDS-MinimumPasswordLength");
  ASSERT_TRUE(min_length.ok()) << min_length.error().ToString();
  EXPECT_EQ(*min_length, std::vector<std::string>{"16"});
}

}  // namespace
}  // namespace wb::testing
