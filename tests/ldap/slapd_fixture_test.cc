// Proves the slapd fixture is a real, verified, ppolicy-enforcing server: later tests of the
// OpenLDAP writer rely on each of these facts.
#include <gtest/gtest.h>

#include <thread>

#include "tests/support/server_gate.h"
#include "tests/support/slapd_server.h"

namespace wb::testing {
namespace {

class SlapdFixtureTest : public ::testing::Test {
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

  static inline std::unique_ptr<SlapdServer> server_;
  static inline Status start_status_;
};

TEST_F(SlapdFixtureTest, ServiceAccountBindsOverLdapsWithVerification) {
  auto client = LdapTestClient::Connect(server_->ldaps_url(), server_->ca_file(),
                                        SlapdServer::service_dn(), SlapdServer::service_password());
  EXPECT_TRUE(client.ok()) << client.error().ToString();
}

TEST_F(SlapdFixtureTest, ServiceAccountBindsWithStartTls) {
  EXPECT_TRUE(TryUserBind(server_->ldap_url(), server_->ca_file(), SlapdServer::service_dn(),
                          SlapdServer::service_password())
                  .ok());
}

TEST_F(SlapdFixtureTest, ServerCertificateFromAnotherCaIsRefused) {
  TempDir dir;
  auto other = TestCa::Create(dir.path(), "other-ca");
  ASSERT_TRUE(other.ok());
  Status bind = TryUserBind(server_->ldaps_url(), other->cert(), SlapdServer::service_dn(),
                            SlapdServer::service_password());
  EXPECT_FALSE(bind.ok());
}

TEST_F(SlapdFixtureTest, ServiceAccountCanResetButPpolicyStillChecksLength) {
  auto client = LdapTestClient::Connect(server_->ldaps_url(), server_->ca_file(),
                                        SlapdServer::service_dn(), SlapdServer::service_password());
  ASSERT_TRUE(client.ok());
  ASSERT_TRUE(server_->CreateUser("pat", "Pat-Initial-1").ok());
  EXPECT_FALSE(client
                   ->Modify(SlapdServer::user_dn("pat"),
                            {{LdapMod::Op::kReplace, "userPassword", {"short"}}})
                   .ok());
  EXPECT_EQ(client->last_result(), LDAP_CONSTRAINT_VIOLATION);
  ASSERT_TRUE(client
                  ->Modify(SlapdServer::user_dn("pat"),
                           {{LdapMod::Op::kReplace, "userPassword", {"Pat-Second-2"}}})
                  .ok());
  EXPECT_TRUE(TryUserBind(server_->ldaps_url(), server_->ca_file(), SlapdServer::user_dn("pat"),
                          "Pat-Second-2")
                  .ok());
}

TEST_F(SlapdFixtureTest, HeldWritesWaitInsideSlapdAndLandWhenReleased) {
  ASSERT_TRUE(server_->CreateUser("quinn", "Quinn-Initial-1").ok());
  auto hold = server_->HoldWrites();
  ASSERT_TRUE(hold.ok()) << hold.error().ToString();
  Status write = Internal("not done");
  std::thread writer([&] {
    auto client = LdapTestClient::Connect(server_->ldaps_url(), server_->ca_file(),
                                          SlapdServer::admin_dn(), SlapdServer::admin_password());
    if (!client.ok()) {
      write = client.error();
      return;
    }
    const std::vector<LdapMod> mods = {{LdapMod::Op::kReplace, "description", {"held"}}};
    write = client->Modify(SlapdServer::user_dn("quinn"), mods);
  });
  // The modify is in slapd, waiting; reads still work.
  EXPECT_TRUE(WaitUntil(
                  [&] {
                    auto n = server_->OperationsInFlight("Modify");
                    return n.ok() && *n == 1 ? Status::Ok() : NotFound("not in flight");
                  },
                  std::chrono::seconds(10))
                  .ok());
  EXPECT_TRUE(server_->ReadAttribute(SlapdServer::user_dn("quinn"), "description")->empty());
  (*hold)->Release();
  writer.join();
  EXPECT_TRUE(write.ok()) << write.ToString();
  EXPECT_EQ(*server_->ReadAttribute(SlapdServer::user_dn("quinn"), "description"),
            std::vector<std::string>{"held"});
  EXPECT_EQ(*server_->OperationsInFlight("Modify"), 0);
}

TEST_F(SlapdFixtureTest, NoRightsAccountCannotWritePasswords) {
  auto client =
      LdapTestClient::Connect(server_->ldaps_url(), server_->ca_file(), SlapdServer::norights_dn(),
                              SlapdServer::norights_password());
  ASSERT_TRUE(client.ok());
  EXPECT_FALSE(client
                   ->Modify(SlapdServer::user_dn("bob"),
                            {{LdapMod::Op::kReplace, "userPassword", {"Bob-Second-22"}}})
                   .ok());
  EXPECT_EQ(client->last_result(), LDAP_INSUFFICIENT_ACCESS);
}

TEST_F(SlapdFixtureTest, BadBindsLockTheUserAndDeletingTheLockTimeUnlocks) {
  ASSERT_TRUE(server_->LockUserByBadBinds("carol").ok());
  EXPECT_FALSE(TryUserBind(server_->ldaps_url(), server_->ca_file(), SlapdServer::user_dn("carol"),
                           SlapdServer::user_password("carol"))
                   .ok());
  auto svc = LdapTestClient::Connect(server_->ldaps_url(), server_->ca_file(),
                                     SlapdServer::service_dn(), SlapdServer::service_password());
  ASSERT_TRUE(svc.ok());
  ASSERT_TRUE(svc->Modify(SlapdServer::user_dn("carol"),
                          {{LdapMod::Op::kDelete, "pwdAccountLockedTime", {}}})
                  .ok());
  EXPECT_TRUE(TryUserBind(server_->ldaps_url(), server_->ca_file(), SlapdServer::user_dn("carol"),
                          SlapdServer::user_password("carol"))
                  .ok());
}

TEST_F(SlapdFixtureTest, PolicyCanBeChanged) {
  ASSERT_TRUE(server_->SetPolicy({.min_length = 12}).ok());
  auto value = server_->ReadAttribute(SlapdServer::policy_dn(), "pwdMinLength");
  ASSERT_TRUE(value.ok());
  EXPECT_EQ(*value, std::vector<std::string>{"12"});
  ASSERT_TRUE(server_->SetPolicy({.min_length = 8}).ok());
}

// The memberof overlay: nested membership through OpenLDAP depends on memberOf on users and
// on groups, kept by the server.
TEST_F(SlapdFixtureTest, GroupMembersGetMemberOfAndGroupsInGroupsToo) {
  ASSERT_TRUE(
      server_->CreateGroup(SlapdServer::group_dn("fx-inner"), {SlapdServer::user_dn("carol")})
          .ok());
  ASSERT_TRUE(
      server_->CreateGroup(SlapdServer::group_dn("fx-outer"), {SlapdServer::group_dn("fx-inner")})
          .ok());
  auto user = server_->ReadAttribute(SlapdServer::user_dn("carol"), "memberOf");
  ASSERT_TRUE(user.ok()) << user.error().ToString();
  EXPECT_EQ(*user, std::vector<std::string>{SlapdServer::group_dn("fx-inner")});
  auto group = server_->ReadAttribute(SlapdServer::group_dn("fx-inner"), "memberOf");
  ASSERT_TRUE(group.ok()) << group.error().ToString();
  EXPECT_EQ(*group, std::vector<std::string>{SlapdServer::group_dn("fx-outer")});
}

TEST_F(SlapdFixtureTest, HiddenEntriesAreInvisibleToTheServiceAccount) {
  const std::string secret = "cn=fx-secret," + SlapdServer::hidden_groups_dn();
  ASSERT_TRUE(server_->CreateGroup(secret, {SlapdServer::user_dn("dave")}).ok());
  auto client = LdapTestClient::Connect(server_->ldaps_url(), server_->ca_file(),
                                        SlapdServer::service_dn(), SlapdServer::service_password());
  ASSERT_TRUE(client.ok());
  EXPECT_FALSE(client->Read(secret, "cn").ok());
  EXPECT_EQ(client->last_result(), LDAP_NO_SUCH_OBJECT);
  auto member_of = client->Read(SlapdServer::user_dn("dave"), "memberOf");
  ASSERT_TRUE(member_of.ok());
  EXPECT_EQ(*member_of, std::vector<std::string>{secret});
}

TEST_F(SlapdFixtureTest, StoppedServerComesBackOnTheSamePort) {
  ASSERT_TRUE(server_->Stop().ok());
  EXPECT_FALSE(TryUserBind(server_->ldaps_url(), server_->ca_file(), SlapdServer::service_dn(),
                           SlapdServer::service_password())
                   .ok());
  ASSERT_TRUE(server_->Resume().ok());
  EXPECT_TRUE(TryUserBind(server_->ldaps_url(), server_->ca_file(), SlapdServer::service_dn(),
                          SlapdServer::service_password())
                  .ok());
}

}  // namespace
}  // namespace wb::testing
