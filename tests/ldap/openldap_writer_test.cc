// The OpenLDAP writer against a real slapd with ppolicy. Each test names what it proves.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "common/clock.h"
#include "ldap/connection.h"
#include "ldap/directory.h"
#include "ldap/pool.h"
#include "tests/ldap/directory_test_util.h"
#include "tests/support/fake_clock.h"
#include "tests/support/ldap_test_client.h"
#include "tests/support/server_gate.h"
#include "tests/support/slapd_server.h"

namespace wb::ldap {
namespace {

using config::LookupAttribute;
using testing::SlapdServer;
using testing::TryUserBind;

class OpenLdapWriterTest : public ::testing::Test {
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

  void SetUp() override {
    WB_REQUIRE_SERVER(start_status_);
    ASSERT_TRUE(server_
                    ->SetPolicy({.min_length = 8,
                                 .in_history = 5,
                                 .min_age = 0,
                                 .must_change = false,
                                 .safe_modify = false})
                    .ok());
  }

  config::DirectoryConfig Config(std::vector<std::string> urls = {}) {
    if (urls.empty()) urls = {server_->ldaps_url()};
    auto c = testing::MakeDirectoryConfig(
        {config::DirectoryKind::kOpenLdap,
         urls,
         server_->ca_file(),
         SlapdServer::service_dn(),
         SlapdServer::service_password(),
         SlapdServer::base_dn(),
         {LookupAttribute::kUid, LookupAttribute::kMail, LookupAttribute::kDn}},
        dir_.path());
    c.ppolicy_default_dn = SlapdServer::policy_dn();
    return c;
  }
  // Binds with SASL EXTERNAL as `client`, a certificate of the test CA.
  config::DirectoryConfig SaslExternalConfig(const testing::KeyPair& client) {
    auto c = Config();
    c.bind_method = config::BindMethod::kSaslExternal;
    c.bind_dn.reset();
    c.bind_password_file.reset();
    c.client_cert_file = client.cert;
    c.client_key_file = client.key;
    return c;
  }

  std::unique_ptr<Directory> Open(config::DirectoryConfig c) {
    auto d = OpenDirectory(c, clock_);
    EXPECT_TRUE(d.ok()) << (d.ok() ? "" : d.error().ToString());
    return d.ok() ? std::move(*d) : nullptr;
  }
  std::unique_ptr<Directory> Open() { return Open(Config()); }

  // A fresh user per test, so tests do not depend on each other's history.
  Account NewUser(Directory& dir, const std::string& uid) {
    EXPECT_TRUE(server_->CreateUser(uid, uid + "-Start-1").ok());
    auto account = dir.FindAccount({LookupAttribute::kUid, uid});
    EXPECT_TRUE(account.ok()) << account.error().ToString();
    return account.ok() ? *account : Account{};
  }

  static Outcome Reset(Directory& dir, const Account& a, const std::string& password) {
    Secret secret(password);
    return dir.Apply(a, {.password = PasswordChange::Password::kReset, .new_password = &secret});
  }

  // The same directory, written by the rootdn: an identity with `manage`, for which ppolicy
  // sets pwdReset itself on a password write when the policy has pwdMustChange: TRUE.
  config::DirectoryConfig ManageLevelConfig() {
    auto c = Config();
    c.bind_dn = SlapdServer::admin_dn();
    c.bind_password_file = dir_.path() / "admin.password";  // Config() keeps its own file
    EXPECT_TRUE(
        testing::WriteFile(*c.bind_password_file, SlapdServer::admin_password(), 0600).ok());
    return c;
  }

  static Outcome Change(Directory& dir, const Account& a, const std::string& old_password,
                        const std::string& new_password) {
    return testing::ChangePassword(dir, a, old_password, new_password);
  }

  std::vector<std::string> Read(const std::string& uid, const std::string& attribute) {
    auto values = server_->ReadAttribute(SlapdServer::user_dn(uid), attribute);
    EXPECT_TRUE(values.ok()) << values.error().ToString();
    return values.ok() ? *values : std::vector<std::string>{};
  }

  // A reset of a new user whose pwdReset was `before`, asking for `must_change`; returns the
  // user's pwdReset afterwards.
  std::vector<std::string> PwdResetAfterReset(const config::DirectoryConfig& c,
                                              const std::string& uid, bool before,
                                              PasswordChange::MustChange must_change) {
    auto dir = Open(c);
    Account a = NewUser(*dir, uid);
    if (before) {
      EXPECT_TRUE(dir->Apply(a, {.must_change = PasswordChange::MustChange::kRequire}).ok());
      EXPECT_EQ(Read(uid, "pwdReset"), std::vector<std::string>{"TRUE"});
    }
    Secret pw("Reset-For-" + uid + "-7");
    Outcome o = dir->Apply(a, {.password = PasswordChange::Password::kReset,
                               .new_password = &pw,
                               .must_change = must_change});
    EXPECT_TRUE(o.ok()) << o.ToString();
    return Read(uid, "pwdReset");
  }

  // Both kinds of service account: `write` (as documented) and `manage`.
  std::vector<std::pair<std::string, config::DirectoryConfig>> BothWriters() {
    return {{"write", Config()}, {"manage", ManageLevelConfig()}};
  }

  bool CanBind(const std::string& uid, const std::string& password) {
    return TryUserBind(server_->ldaps_url(), server_->ca_file(), SlapdServer::user_dn(uid),
                       password)
        .ok();
  }

  static inline std::unique_ptr<SlapdServer> server_;
  static inline Status start_status_;
  testing::TempDir dir_;
  SystemClock clock_;
};

TEST_F(OpenLdapWriterTest, ResetLetsTheUserBindWithTheNewPassword) {
  auto dir = Open();
  Account a = NewUser(*dir, "reset1");
  Outcome o = Reset(*dir, a, "Brand-New-Pass-7");
  ASSERT_TRUE(o.ok()) << o.ToString();
  EXPECT_EQ(o.server, server_->ldaps_url());
  EXPECT_TRUE(CanBind("reset1", "Brand-New-Pass-7"));
  EXPECT_FALSE(CanBind("reset1", "reset1-Start-1"));
}

TEST_F(OpenLdapWriterTest, StartTlsUrlWorksToo) {
  auto dir = Open(Config({server_->ldap_url()}));
  Account a = NewUser(*dir, "starttls1");
  EXPECT_TRUE(Reset(*dir, a, "Start-Tls-Pass-7").ok());
  EXPECT_TRUE(CanBind("starttls1", "Start-Tls-Pass-7"));
}

TEST_F(OpenLdapWriterTest, TooShortIsRefusedAndNothingChanges) {
  auto dir = Open();
  Account a = NewUser(*dir, "short1");
  Outcome o = Reset(*dir, a, "Sh0rt");
  EXPECT_EQ(o.code, OutcomeCode::kPolicyTooShort) << o.ToString();
  EXPECT_FALSE(o.transient());
  EXPECT_TRUE(CanBind("short1", "short1-Start-1"));
}

TEST_F(OpenLdapWriterTest, PasswordInHistoryIsRefusedAndNothingChanges) {
  auto dir = Open();
  Account a = NewUser(*dir, "hist1");
  ASSERT_TRUE(Reset(*dir, a, "History-One-11").ok());
  ASSERT_TRUE(Reset(*dir, a, "History-Two-22").ok());
  Outcome o = Reset(*dir, a, "History-One-11");
  EXPECT_EQ(o.code, OutcomeCode::kPolicyInHistory) << o.ToString();
  EXPECT_TRUE(CanBind("hist1", "History-Two-22"));
}

TEST_F(OpenLdapWriterTest, UnchangedPasswordIsRefused) {
  auto dir = Open();
  Account a = NewUser(*dir, "same1");
  ASSERT_TRUE(Reset(*dir, a, "Same-Pass-Again-1").ok());
  Outcome o = Reset(*dir, a, "Same-Pass-Again-1");
  // slapd answers with the history code; its text says the password is the current one, and
  // the user must be told that, not that it was used before.
  EXPECT_EQ(o.code, OutcomeCode::kPolicyUnchanged) << o.ToString();
  EXPECT_TRUE(CanBind("same1", "Same-Pass-Again-1"));
}

TEST_F(OpenLdapWriterTest, TooYoungIsRefused) {
  auto dir = Open();
  Account a = NewUser(*dir, "young1");
  ASSERT_TRUE(Reset(*dir, a, "Young-First-11").ok());
  ASSERT_TRUE(server_->SetPolicy({.min_age = 3600}).ok());
  Outcome o = Reset(*dir, a, "Young-Second-22");
  EXPECT_EQ(o.code, OutcomeCode::kPolicyTooYoung) << o.ToString();
  EXPECT_TRUE(CanBind("young1", "Young-First-11"));
}

TEST_F(OpenLdapWriterTest, UserChangeWithTheRightOldPasswordWorks) {
  auto dir = Open();
  Account a = NewUser(*dir, "change1");
  Secret old_pw("change1-Start-1");
  Secret new_pw("Changed-By-User-9");
  Outcome o = dir->Apply(a, {.password = PasswordChange::Password::kChange,
                             .new_password = &new_pw,
                             .old_password = &old_pw});
  ASSERT_TRUE(o.ok()) << o.ToString();
  EXPECT_TRUE(CanBind("change1", "Changed-By-User-9"));
}

// slapd answers a wrong old password in the Password Modify operation with LDAP 53
// "unwilling to verify old password" (servers/slapd/passwd.c), before ppolicy sees the write.
TEST_F(OpenLdapWriterTest, UserChangeWithAWrongOldPasswordIsWrongOldPasswordAndWritesNothing) {
  auto dir = Open();
  Account a = NewUser(*dir, "change2");
  const auto password_before = Read("change2", "userPassword");
  const auto changed_before = Read("change2", "pwdChangedTime");
  Outcome o = Change(*dir, a, "not-the-password", "Changed-By-User-9");
  EXPECT_EQ(o.code, OutcomeCode::kWrongOldPassword) << o.ToString();
  EXPECT_FALSE(o.transient());
  EXPECT_EQ(Read("change2", "userPassword"), password_before);
  EXPECT_EQ(Read("change2", "pwdChangedTime"), changed_before);
  EXPECT_TRUE(Read("change2", "pwdFailureTime").empty());  // not counted as a failed bind
  EXPECT_TRUE(CanBind("change2", "change2-Start-1"));
}

// With pwdSafeModify, ppolicy checks the old password too; slapd's own check still answers
// first, and the outcome is the same.
TEST_F(OpenLdapWriterTest, UserChangeWithAWrongOldPasswordUnderPwdSafeModifyIsWrongOldPassword) {
  ASSERT_TRUE(server_->SetPolicy({.safe_modify = true}).ok());
  auto dir = Open();
  Account a = NewUser(*dir, "change3");
  const auto password_before = Read("change3", "userPassword");
  Outcome o = Change(*dir, a, "not-the-password", "Changed-By-User-9");
  EXPECT_EQ(o.code, OutcomeCode::kWrongOldPassword) << o.ToString();
  EXPECT_EQ(Read("change3", "userPassword"), password_before);
  EXPECT_TRUE(CanBind("change3", "change3-Start-1"));
}

TEST_F(OpenLdapWriterTest, UserChangeWithTheRightOldPasswordUnderPwdSafeModifyWorks) {
  ASSERT_TRUE(server_->SetPolicy({.safe_modify = true}).ok());
  auto dir = Open();
  Account a = NewUser(*dir, "change4");
  Outcome o = Change(*dir, a, "change4-Start-1", "Changed-By-User-9");
  ASSERT_TRUE(o.ok()) << o.ToString();
  EXPECT_TRUE(CanBind("change4", "Changed-By-User-9"));
}

TEST_F(OpenLdapWriterTest, LockedUserIsUnlocked) {
  auto dir = Open();
  NewUser(*dir, "locked1");
  ASSERT_TRUE(server_->LockUserByBadBinds("locked1").ok());
  auto a = dir->FindAccount({LookupAttribute::kUid, "locked1"});
  ASSERT_TRUE(a.ok());
  EXPECT_TRUE(a->locked);
  Outcome o = dir->Apply(*a, {.unlock = true});
  ASSERT_TRUE(o.ok()) << o.ToString();
  EXPECT_TRUE(CanBind("locked1", "locked1-Start-1"));
}

TEST_F(OpenLdapWriterTest, UnlockOfAnUnlockedUserIsANoOp) {
  auto dir = Open();
  Account a = NewUser(*dir, "unlocked1");
  EXPECT_TRUE(dir->Apply(a, {.unlock = true}).ok());
}

TEST_F(OpenLdapWriterTest, ResetWithUnlockAndRequireChangeDoesAllThree) {
  auto dir = Open();
  NewUser(*dir, "combo1");
  ASSERT_TRUE(server_->LockUserByBadBinds("combo1").ok());
  auto a = dir->FindAccount({LookupAttribute::kUid, "combo1"});
  ASSERT_TRUE(a.ok());
  Secret pw("Combined-Pass-77");
  Outcome o = dir->Apply(*a, {.password = PasswordChange::Password::kReset,
                              .new_password = &pw,
                              .unlock = true,
                              .must_change = PasswordChange::MustChange::kRequire});
  ASSERT_TRUE(o.ok()) << o.ToString();
  auto after = dir->FindAccount({LookupAttribute::kUid, "combo1"});
  ASSERT_TRUE(after.ok());
  EXPECT_FALSE(after->locked);
  EXPECT_TRUE(after->must_change_password);
}

TEST_F(OpenLdapWriterTest, RequireChangeSetsAndClearsPwdReset) {
  auto dir = Open();
  Account a = NewUser(*dir, "mustchange1");
  ASSERT_TRUE(dir->Apply(a, {.must_change = PasswordChange::MustChange::kRequire}).ok());
  EXPECT_EQ(*server_->ReadAttribute(SlapdServer::user_dn("mustchange1"), "pwdReset"),
            std::vector<std::string>{"TRUE"});
  ASSERT_TRUE(dir->Apply(a, {.must_change = PasswordChange::MustChange::kClear}).ok());
  EXPECT_TRUE(server_->ReadAttribute(SlapdServer::user_dn("mustchange1"), "pwdReset")->empty());
}

// The request alone decides must-change after a password write, whatever the policy's
// pwdMustChange and whatever the service account's level: ppolicy sets pwdReset itself when
// an identity with `manage` writes a password under pwdMustChange: TRUE (ITS#7084).
TEST_F(OpenLdapWriterTest, PlainResetUnderPwdMustChangeLeavesNoPwdReset) {
  ASSERT_TRUE(server_->SetPolicy({.must_change = true}).ok());
  for (const auto& [level, c] : BothWriters()) {
    SCOPED_TRACE(level);
    EXPECT_TRUE(
        PwdResetAfterReset(c, "mc-plain-" + level, false, PasswordChange::MustChange::kLeave)
            .empty());
  }
}

TEST_F(OpenLdapWriterTest, PlainResetUnderPwdMustChangeRemovesAPwdResetThatWasSet) {
  ASSERT_TRUE(server_->SetPolicy({.must_change = true}).ok());
  for (const auto& [level, c] : BothWriters()) {
    SCOPED_TRACE(level);
    EXPECT_TRUE(
        PwdResetAfterReset(c, "mc-was-" + level, true, PasswordChange::MustChange::kLeave).empty());
  }
}

TEST_F(OpenLdapWriterTest, ResetWithRequireChangeUnderPwdMustChangeSetsPwdReset) {
  ASSERT_TRUE(server_->SetPolicy({.must_change = true}).ok());
  for (const auto& [level, c] : BothWriters()) {
    SCOPED_TRACE(level);
    EXPECT_EQ(PwdResetAfterReset(c, "mc-req-" + level, false, PasswordChange::MustChange::kRequire),
              std::vector<std::string>{"TRUE"});
  }
}

TEST_F(OpenLdapWriterTest, ResetWithRequireChangeUnderPwdMustChangeKeepsAPwdResetThatWasSet) {
  ASSERT_TRUE(server_->SetPolicy({.must_change = true}).ok());
  for (const auto& [level, c] : BothWriters()) {
    SCOPED_TRACE(level);
    EXPECT_EQ(
        PwdResetAfterReset(c, "mc-req-was-" + level, true, PasswordChange::MustChange::kRequire),
        std::vector<std::string>{"TRUE"});
  }
}

// Without pwdMustChange ppolicy never sets pwdReset; the request still decides.
TEST_F(OpenLdapWriterTest, PlainResetWithoutPwdMustChangeRemovesAPwdResetThatWasSet) {
  for (const auto& [level, c] : BothWriters()) {
    SCOPED_TRACE(level);
    EXPECT_TRUE(PwdResetAfterReset(c, "mc-nopol-" + level, true, PasswordChange::MustChange::kLeave)
                    .empty());
  }
}

TEST_F(OpenLdapWriterTest, UserChangeUnderPwdMustChangeLeavesNoPwdReset) {
  ASSERT_TRUE(server_->SetPolicy({.must_change = true}).ok());
  for (const auto& [level, c] : BothWriters()) {
    SCOPED_TRACE(level);
    auto dir = Open(c);
    const std::string uid = "mc-change-" + level;
    Account a = NewUser(*dir, uid);
    ASSERT_TRUE(Change(*dir, a, uid + "-Start-1", "Changed-By-User-9").ok());
    EXPECT_TRUE(Read(uid, "pwdReset").empty());
  }
}

TEST_F(OpenLdapWriterTest, UnknownUserIsUserNotFound) {
  auto dir = Open();
  auto a = dir->FindAccount({LookupAttribute::kUid, "nobody-here"});
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.error().code, OutcomeCode::kUserNotFound);
}

TEST_F(OpenLdapWriterTest, UnknownDnIsUserNotFound) {
  auto dir = Open();
  auto a = dir->FindAccount({LookupAttribute::kDn, SlapdServer::user_dn("nobody-here")});
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.error().code, OutcomeCode::kUserNotFound);
}

// noSuchObject for the search of base_dn is about base_dn: once it was user_not_found ("we
// could not verify your account") for every user, while the fault was the configuration's.
TEST_F(OpenLdapWriterTest, AMissingBaseDnIsTheAdministratorsProblemNotTheUsers) {
  auto c = Config();
  c.base_dn = "ou=nowhere," + SlapdServer::base_dn();
  auto dir = Open(c);
  ASSERT_NE(dir, nullptr);
  auto a = dir->FindAccount({LookupAttribute::kUid, "alice"});
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.error().code, OutcomeCode::kInternalError) << a.error().ToString();
  EXPECT_FALSE(a.error().transient());
  EXPECT_NE(a.error().reason.find("base_dn 'ou=nowhere,"), std::string::npos) << a.error().reason;
  EXPECT_NE(a.error().reason.find("does not exist on the server"), std::string::npos);
}

// A service account whose password was reset under pwdMustChange may only change its own
// password: slapd answers its searches with insufficientAccess and "Operations are restricted
// ...". That was access_denied, permanent ("contact your administrator", and "give it read
// access"); it is the agent's own setup failing, as a refused bind is, and waits for the fix.
TEST_F(OpenLdapWriterTest, AServiceAccountThatMustChangeItsPasswordIsAServiceBindFailure) {
  ASSERT_TRUE(server_->SetPolicy({.must_change = true}).ok());
  auto admin = server_->AdminClient();
  ASSERT_TRUE(admin.ok()) << admin.error().ToString();
  using Op = testing::LdapMod::Op;
  ASSERT_TRUE(
      admin->Modify(SlapdServer::limited_dn(), {{Op::kReplace, "pwdReset", {"TRUE"}}}).ok());
  auto c = Config();
  c.bind_dn = SlapdServer::limited_dn();
  ASSERT_TRUE(
      testing::WriteFile(*c.bind_password_file, SlapdServer::limited_password(), 0600).ok());
  auto dir = Open(c);
  ASSERT_NE(dir, nullptr);
  auto a = dir->FindAccount({LookupAttribute::kUid, "alice"});
  // Put back before any assertion can end the test (the server is shared).
  const Status restored = admin->Modify(SlapdServer::limited_dn(), {{Op::kDelete, "pwdReset", {}}});
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.error().code, OutcomeCode::kServiceBindFailed) << a.error().ToString();
  EXPECT_TRUE(a.error().transient());
  EXPECT_NE(a.error().reason.find("must be changed first"), std::string::npos) << a.error().reason;
  EXPECT_TRUE(restored.ok()) << restored.ToString();
}

TEST_F(OpenLdapWriterTest, SharedMailIsAmbiguous) {
  auto dir = Open();
  auto a = dir->FindAccount({LookupAttribute::kMail, "shared@example.test"});
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.error().code, OutcomeCode::kAmbiguousUser);
}

// The server's size limit for the service account is 1: for the shared mail it returns one
// entry and sizeLimitExceeded. That one entry must not be taken for the account.
TEST_F(OpenLdapWriterTest, AServerSizeLimitBelowTwoDoesNotMakeAnAmbiguousLookupUnique) {
  auto c = Config();
  c.bind_dn = SlapdServer::limited_dn();
  ASSERT_TRUE(
      testing::WriteFile(*c.bind_password_file, SlapdServer::limited_password(), 0600).ok());
  auto dir = Open(c);
  auto shared = dir->FindAccount({LookupAttribute::kMail, "shared@example.test"});
  ASSERT_FALSE(shared.ok()) << "took " << shared->dn << " for the account";
  EXPECT_EQ(shared.error().code, OutcomeCode::kInternalError);
  EXPECT_NE(shared.error().reason.find("its own size limit for the service account after 1 "
                                       "entry, fewer than the 2 the agent asked for"),
            std::string::npos)
      << shared.error().reason;
  EXPECT_NE(shared.error().reason.find("olcLimits"), std::string::npos) << shared.error().reason;
  // A unique account is found all the same: the limit is only hit when more entries match.
  auto alice = dir->FindAccount({LookupAttribute::kMail, "alice@example.test"});
  ASSERT_TRUE(alice.ok()) << alice.error().ToString();
  EXPECT_EQ(alice->dn, SlapdServer::user_dn("alice"));
}

TEST_F(OpenLdapWriterTest, InjectionIdentifierMatchesNothing) {
  auto dir = Open();
  for (const char* evil : {"*)(uid=*", "*", "alice)(|(uid=*", "al*"}) {
    auto a = dir->FindAccount({LookupAttribute::kUid, evil});
    ASSERT_FALSE(a.ok()) << evil;
    EXPECT_EQ(a.error().code, OutcomeCode::kUserNotFound) << evil;
  }
}

TEST_F(OpenLdapWriterTest, LookupFindsAccountFacts) {
  auto dir = Open();
  auto a = dir->FindAccount({LookupAttribute::kMail, "alice@example.test"});
  ASSERT_TRUE(a.ok()) << a.error().ToString();
  EXPECT_EQ(a->dn, SlapdServer::user_dn("alice"));
  EXPECT_EQ(a->login_name, "alice");
  EXPECT_EQ(a->display_name, "alice Example");
  EXPECT_EQ(a->surname, "alice");  // the test users' sn is their uid
  EXPECT_TRUE(a->enabled);
  EXPECT_FALSE(a->locked);
}

TEST_F(OpenLdapWriterTest, DnOutsideBaseIsOutOfScope) {
  auto dir = Open();
  auto a = dir->FindAccount({LookupAttribute::kDn, "uid=alice,dc=elsewhere,dc=test"});
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.error().code, OutcomeCode::kOutOfScope);
}

// With base_dn = ou=people, DNs that only look as if they lie under it are refused before any
// search, including one that names a real entry beside ou=people.
TEST_F(OpenLdapWriterTest, DnsThatOnlyLookAsIfUnderBaseDnAreOutOfScopeAndNothingIsWritten) {
  auto admin =
      testing::LdapTestClient::Connect(server_->ldaps_url(), server_->ca_file(),
                                       SlapdServer::admin_dn(), SlapdServer::admin_password());
  ASSERT_TRUE(admin.ok()) << admin.error().ToString();
  // A real entry directly under dc=example,dc=test whose cn is "svc,ou=people".
  const std::string beside = "cn=svc\\,ou=people," + SlapdServer::base_dn();
  using Op = testing::LdapMod::Op;
  ASSERT_TRUE(admin
                  ->Add(beside, {{Op::kAdd, "objectClass", {"person"}},
                                 {Op::kAdd, "cn", {"svc,ou=people"}},
                                 {Op::kAdd, "sn", {"svc"}},
                                 {Op::kAdd, "userPassword", {"Beside-Start-1"}}})
                  .ok());
  auto before = admin->Read(beside, "userPassword");
  ASSERT_TRUE(before.ok());
  auto c = Config();
  c.base_dn = SlapdServer::people_dn();
  auto dir = Open(c);
  ASSERT_NE(dir, nullptr);
  const std::string root = "," + SlapdServer::base_dn();
  const std::vector<std::string> tricky = {
      beside,                                         // an escaped comma
      "cn=svc\\2Cou=people" + root,                   // a hex-escaped comma
      "cn=svc+ou=people" + root,                      // a multi-valued RDN
      "cn=svc\\+ou=people" + root,                    // an escaped +
      "<GUID=b3f6c2a4-52a1-4c8e-9a55-0c1e4f6b9d21>",  // extended forms
      "<SID=S-1-5-21-1-2-3-1105>;" + SlapdServer::user_dn("alice")};
  for (const std::string& dn : tricky) {
    SCOPED_TRACE(dn);
    auto a = dir->FindAccount({LookupAttribute::kDn, dn});
    ASSERT_FALSE(a.ok());
    EXPECT_EQ(a.error().code, OutcomeCode::kOutOfScope) << a.error().reason;
  }
  auto after = admin->Read(beside, "userPassword");
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(*after, *before);
}

TEST_F(OpenLdapWriterTest, ADnUnderBaseDnIsFoundWhateverItsCaseSpacesAndEscapes) {
  auto c = Config();
  c.base_dn = SlapdServer::people_dn();
  auto dir = Open(c);
  ASSERT_NE(dir, nullptr);
  NewUser(*dir, "dncase");
  for (const std::string dn : {"UID=dncase, OU=People,DC=Example, DC=Test",
                               "uid=\\64ncase,ou=people,dc=example,dc=test"}) {
    SCOPED_TRACE(dn);
    auto a = dir->FindAccount({LookupAttribute::kDn, dn});
    ASSERT_TRUE(a.ok()) << a.error().ToString();
    EXPECT_EQ(a->login_name, "dncase");
  }
}

TEST_F(OpenLdapWriterTest, LookupByAnAttributeNotConfiguredIsRefused) {
  auto c = Config();
  c.lookup_attributes = {LookupAttribute::kUid};
  auto dir = Open(c);
  auto a = dir->FindAccount({LookupAttribute::kMail, "alice@example.test"});
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.error().code, OutcomeCode::kLookupNotEnabled);
}

TEST_F(OpenLdapWriterTest, ServiceAccountWithoutRightsGetsAccessDenied) {
  auto c = Config();
  auto full = Open();
  Account a = NewUser(*full, "denied1");
  c.bind_dn = SlapdServer::norights_dn();
  ASSERT_TRUE(
      testing::WriteFile(*c.bind_password_file, SlapdServer::norights_password(), 0600).ok());
  auto dir = Open(c);
  Outcome o = Reset(*dir, a, "Denied-Pass-123");
  EXPECT_EQ(o.code, OutcomeCode::kAccessDenied) << o.ToString();
  EXPECT_NE(o.reason.find("may not set the password of uid=denied1"), std::string::npos)
      << o.reason;
  EXPECT_NE(o.reason.find("on OpenLDAP it needs `write` access to userPassword in olcAccess"),
            std::string::npos)
      << o.reason;
  EXPECT_NE(o.reason.find(SlapdServer::norights_dn()), std::string::npos) << o.reason;
  for (const char* ad_word :
       {"Active Directory", "Reset Password", "lockoutTime", "pwdLastSet", "AdminSDHolder"}) {
    EXPECT_EQ(o.reason.find(ad_word), std::string::npos) << ad_word << ": " << o.reason;
  }
  EXPECT_TRUE(CanBind("denied1", "denied1-Start-1"));
}

TEST_F(OpenLdapWriterTest, WrongBindPasswordIsServiceBindFailed) {
  auto c = Config();
  ASSERT_TRUE(testing::WriteFile(*c.bind_password_file, "wrong", 0600).ok());
  auto dir = Open(c);
  auto a = dir->FindAccount({LookupAttribute::kUid, "alice"});
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.error().code, OutcomeCode::kServiceBindFailed) << a.error().ToString();
  EXPECT_EQ(a.error().reason.find("wrong"), std::string::npos);  // never the password itself
}

// An empty password file (`echo > file`, a rewrite caught half-way) would make an
// unauthenticated bind, which AD accepts as anonymous: refused when the directory opens, and at
// a reload, which keeps the password the directory had.
TEST_F(OpenLdapWriterTest, AnEmptyBindPasswordFileIsRefusedAtOpenAndAtReload) {
  auto c = Config();
  ASSERT_TRUE(testing::WriteFile(*c.bind_password_file, "\n", 0600).ok());
  auto refused = OpenDirectory(c, clock_);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code(), Code::kInvalidArgument);
  EXPECT_NE(refused.error().message().find("is empty"), std::string::npos)
      << refused.error().ToString();

  ASSERT_TRUE(
      testing::WriteFile(*c.bind_password_file, SlapdServer::service_password(), 0600).ok());
  auto dir = Open(c);
  ASSERT_TRUE(testing::WriteFile(*c.bind_password_file, "", 0600).ok());
  EXPECT_EQ(dir->ReloadSecrets().code(), Code::kInvalidArgument);
  auto still = dir->FindAccount({LookupAttribute::kUid, "alice"});
  EXPECT_TRUE(still.ok()) << still.error().ToString();
}

// A refused bind is the agent's fault, not the user's: retried (transient), but without
// binding again with the same password, which would count bad logons against the service
// account until it locks out. Proved with the server stopped: an attempt that reached for it
// would be directory_unavailable.
TEST_F(OpenLdapWriterTest, ARefusedBindHoldsNewBindsUntilReload) {
  auto c = Config();
  ASSERT_TRUE(testing::WriteFile(*c.bind_password_file, "wrong", 0600).ok());
  auto dir = Open(c);
  auto first = dir->FindAccount({LookupAttribute::kUid, "alice"});
  ASSERT_FALSE(first.ok());
  EXPECT_EQ(first.error().code, OutcomeCode::kServiceBindFailed) << first.error().ToString();
  EXPECT_TRUE(first.error().transient());
  EXPECT_NE(first.error().reason.find("systemctl reload wbagent"), std::string::npos)
      << first.error().reason;

  ASSERT_TRUE(server_->Stop().ok());
  auto held = dir->FindAccount({LookupAttribute::kUid, "alice"});
  ASSERT_TRUE(server_->Resume().ok());
  ASSERT_FALSE(held.ok());
  EXPECT_EQ(held.error().code, OutcomeCode::kServiceBindFailed) << held.error().ToString();

  ASSERT_TRUE(
      testing::WriteFile(*c.bind_password_file, SlapdServer::service_password(), 0600).ok());
  ASSERT_TRUE(dir->ReloadSecrets().ok());
  auto fixed = dir->FindAccount({LookupAttribute::kUid, "alice"});
  EXPECT_TRUE(fixed.ok()) << fixed.error().ToString();
}

TEST_F(OpenLdapWriterTest, TheBindHoldEndsAfterItsTime) {
  auto c = Config();
  ASSERT_TRUE(testing::WriteFile(*c.bind_password_file, "wrong", 0600).ok());
  testing::FakeClock clock;
  auto dir = OpenDirectory(c, clock);
  ASSERT_TRUE(dir.ok()) << dir.error().ToString();
  auto first = (*dir)->FindAccount({LookupAttribute::kUid, "alice"});
  ASSERT_FALSE(first.ok());
  ASSERT_EQ(first.error().code, OutcomeCode::kServiceBindFailed) << first.error().ToString();
  clock.Advance(ServerPool::kBindHold + std::chrono::seconds(1));
  ASSERT_TRUE(server_->Stop().ok());
  auto again = (*dir)->FindAccount({LookupAttribute::kUid, "alice"});
  ASSERT_TRUE(server_->Resume().ok());
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, OutcomeCode::kDirectoryUnavailable)
      << "the hold should have ended: " << again.error().ToString();
}

// What `wbagent status` needs to show a recovered server's error as past: the error stays,
// with the time it happened, and the server is healthy again.
TEST_F(OpenLdapWriterTest, ARecoveredServerKeepsItsLastErrorWithTheTimeItHappened) {
  auto c = Config();
  ASSERT_TRUE(testing::WriteFile(*c.bind_password_file, "wrong", 0600).ok());
  testing::FakeClock clock;
  auto dir = OpenDirectory(c, clock);
  ASSERT_TRUE(dir.ok()) << dir.error().ToString();
  const WallTime failed_at = clock.Now();
  ASSERT_FALSE((*dir)->FindAccount({LookupAttribute::kUid, "alice"}).ok());
  ServerHealth failing = (*dir)->Health().front();
  EXPECT_FALSE(failing.healthy);
  EXPECT_EQ(failing.last_error_at, failed_at);
  EXPECT_EQ(failing.failing_since, failed_at);
  EXPECT_NE(failing.last_error.find("service_bind_failed"), std::string::npos)
      << failing.last_error;

  clock.Advance(std::chrono::minutes(12));
  ASSERT_TRUE(
      testing::WriteFile(*c.bind_password_file, SlapdServer::service_password(), 0600).ok());
  ASSERT_TRUE((*dir)->ReloadSecrets().ok());
  auto found = (*dir)->FindAccount({LookupAttribute::kUid, "alice"});
  ASSERT_TRUE(found.ok()) << found.error().ToString();
  ServerHealth recovered = (*dir)->Health().front();
  EXPECT_TRUE(recovered.healthy);
  EXPECT_EQ(recovered.last_error, failing.last_error);
  EXPECT_EQ(recovered.last_error_at, failed_at);
  EXPECT_FALSE(recovered.failing_since.has_value());
}

TEST_F(OpenLdapWriterTest, ReloadSecretsKeepsThePasswordWhenTheFileCannotBeRead) {
  auto c = Config();
  auto dir = Open(c);
  std::filesystem::remove(*c.bind_password_file);
  Status reloaded = dir->ReloadSecrets();
  EXPECT_FALSE(reloaded.ok());
  EXPECT_NE(reloaded.message().find("directory '"), std::string::npos) << reloaded.ToString();
  auto still = dir->FindAccount({LookupAttribute::kUid, "alice"});
  EXPECT_TRUE(still.ok()) << still.error().ToString();
}

TEST_F(OpenLdapWriterTest, SaslExternalWithAClientCertificateBindsAsTheServiceAccount) {
  auto client = server_->ca().IssueClient(SlapdServer::kClientCertName);
  ASSERT_TRUE(client.ok());
  const auto c = SaslExternalConfig(*client);
  auto full = Open();
  Account a = NewUser(*full, "external1");
  auto dir = Open(c);
  Outcome o = Reset(*dir, a, "External-Pass-55");
  ASSERT_TRUE(o.ok()) << o.ToString();
  EXPECT_TRUE(CanBind("external1", "External-Pass-55"));
}

// The client key is read at each new connection, and refused there as the config loader
// refuses it when others can read it: a key made readable after the start is not used.
TEST_F(OpenLdapWriterTest, AClientKeyOthersCanReadIsRefusedAtTheConnection) {
  auto client = server_->ca().IssueClient(SlapdServer::kClientCertName);
  ASSERT_TRUE(client.ok());
  const auto c = SaslExternalConfig(*client);
  std::filesystem::permissions(client->key, std::filesystem::perms(0644));
  auto dir = Open(c);
  auto refused = dir->FindAccount({LookupAttribute::kUid, "alice"});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, OutcomeCode::kTlsFailure) << refused.error().ToString();
  EXPECT_NE(refused.error().ToString().find("directory.client_key_file refused"), std::string::npos)
      << refused.error().ToString();
  std::filesystem::permissions(client->key, std::filesystem::perms(0600));
  auto found = dir->FindAccount({LookupAttribute::kUid, "alice"});
  EXPECT_TRUE(found.ok()) << found.error().ToString();
}

// liblber allocates what a message's length says: a response beyond the connection's limit
// fails the read and breaks the connection instead. The same search under the default limit
// reads the entry.
TEST_F(OpenLdapWriterTest, AResponseLargerThanTheLimitFailsAndBreaksTheConnection) {
  auto admin =
      testing::LdapTestClient::Connect(server_->ldaps_url(), server_->ca_file(),
                                       SlapdServer::admin_dn(), SlapdServer::admin_password());
  ASSERT_TRUE(admin.ok()) << admin.error().ToString();
  ASSERT_TRUE(server_->CreateUser("large1", "large1-Start-1").ok());
  const std::string dn = SlapdServer::user_dn("large1");
  ASSERT_TRUE(
      admin
          ->Modify(dn,
                   {{testing::LdapMod::Op::kReplace, "description", {std::string(20'000, 'x')}}})
          .ok());
  const std::string url = server_->ldaps_url();
  const config::LdapUrl ldaps{
      .url = url,
      .transport = config::LdapTransport::kLdaps,
      .address = {"127.0.0.1",
                  static_cast<std::uint16_t>(std::stoi(url.substr(url.rfind(':') + 1)))}};
  ConnectionSettings settings;
  settings.ca_file = server_->ca_file();
  settings.bind_dn = SlapdServer::service_dn();
  const Secret password(SlapdServer::service_password());
  auto read = [&](std::size_t limit) -> Result<std::vector<Entry>, Outcome> {
    settings.max_response_bytes = limit;
    auto conn = Connection::Open(ldaps, settings, password);
    if (!conn.ok()) return conn.error();
    auto found = (*conn)->Search(dn, LDAP_SCOPE_BASE, "(objectClass=*)", {"description"});
    if (!found.ok()) {
      EXPECT_TRUE((*conn)->broken()) << "a connection that failed a read is reused";
    }
    return found;
  };
  auto limited = read(4096);
  ASSERT_FALSE(limited.ok()) << "a 20 kB entry was read under a 4 kB limit";
  EXPECT_EQ(limited.error().code, OutcomeCode::kDirectoryUnavailable);
  EXPECT_NE(limited.error().ToString().find("a response larger than the agent reads"),
            std::string::npos)
      << limited.error().ToString();
  auto whole = read(ConnectionSettings{}.max_response_bytes);
  ASSERT_TRUE(whole.ok()) << whole.error().ToString();
  ASSERT_EQ(whole->size(), 1u);
  EXPECT_EQ(whole->front().First("description").value_or("").size(), 20'000u);
}

// A TCP forwarder to a server, on a loopback port of its own, that can cut the connections it
// carries: the server's side stays up, the client's sees its connection closed.
class CuttableProxy {
 public:
  explicit CuttableProxy(int upstream_port) : upstream_port_(upstream_port) {
    listener_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr = Loopback(0);
    socklen_t len = sizeof addr;
    EXPECT_EQ(bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(listen(listener_, 4), 0);
    getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Run(); });
  }
  ~CuttableProxy() {
    stop_ = true;
    Cut();
    shutdown(listener_, SHUT_RDWR);
    thread_.join();
    close(listener_);
  }
  int port() const { return port_; }
  // Closes the connection it carries (both sides); later connections are carried again.
  void Cut() {
    const int client = client_.exchange(-1);
    if (client >= 0) shutdown(client, SHUT_RDWR);
  }

 private:
  static sockaddr_in Loopback(int port) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    return addr;
  }
  void Run() {
    while (!stop_) {
      const int client = accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0) return;
      const int server = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in up = Loopback(upstream_port_);
      if (connect(server, reinterpret_cast<sockaddr*>(&up), sizeof up) != 0) {
        close(client);
        close(server);
        continue;
      }
      client_ = client;
      Carry(client, server);
      close(server);
      close(client);
    }
  }
  // Copies both ways until either side closes.
  static void Carry(int client, int server) {
    char buf[16384];
    for (;;) {
      pollfd fds[2] = {{client, POLLIN, 0}, {server, POLLIN, 0}};
      if (poll(fds, 2, 200) < 0) return;
      for (int i = 0; i < 2; ++i) {
        if (fds[i].revents == 0) continue;
        const ssize_t n = read(fds[i].fd, buf, sizeof buf);
        if (n <= 0 || write(fds[1 - i].fd, buf, static_cast<std::size_t>(n)) != n) return;
      }
    }
  }

  int upstream_port_;
  int listener_ = -1;
  int port_ = 0;
  std::atomic<int> client_{-1};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// libldap keeps a result's text on the connection until the next result replaces it: a
// later call that fails before any result (the server closed the idle connection) must not
// report the earlier text as its own. That text can quote another request's new password
// (a password check module's refusal), which the later request's echo filter cannot know.
TEST_F(OpenLdapWriterTest, AFailureWithoutAResultDoesNotReportAnEarlierResultsText) {
  const std::string url = server_->ldaps_url();
  CuttableProxy proxy(std::stoi(url.substr(url.rfind(':') + 1)));
  const config::LdapUrl through_proxy{
      .url = "ldaps://127.0.0.1:" + std::to_string(proxy.port()),
      .transport = config::LdapTransport::kLdaps,
      .address = {"127.0.0.1", static_cast<std::uint16_t>(proxy.port())}};
  ConnectionSettings settings;
  settings.ca_file = server_->ca_file();
  settings.bind_dn = SlapdServer::service_dn();
  auto conn = Connection::Open(through_proxy, settings, Secret(SlapdServer::service_password()));
  ASSERT_TRUE(conn.ok()) << conn.error().ToString();
  // slapd names the attribute in its refusal: text a request's own result carries.
  const Outcome refused = (*conn)->Modify(SlapdServer::user_dn("alice"),
                                          {{LDAP_MOD_REPLACE, "wbEchoedMarkerAttribute", {"x"}}},
                                          {}, OperationKind::kWrite);
  ASSERT_FALSE(refused.ok());
  ASSERT_NE(refused.diagnostic.find("wbEchoedMarkerAttribute"), std::string::npos)
      << refused.ToString();
  ASSERT_FALSE((*conn)->broken());

  proxy.Cut();
  auto after =
      (*conn)->Search(SlapdServer::user_dn("alice"), LDAP_SCOPE_BASE, "(objectClass=*)", {"1.1"});
  ASSERT_FALSE(after.ok()) << "the search went through a cut connection";
  EXPECT_EQ(after.error().diagnostic.find("wbEchoedMarkerAttribute"), std::string::npos)
      << after.error().ToString();
  EXPECT_EQ(after.error().reason.find("wbEchoedMarkerAttribute"), std::string::npos)
      << after.error().ToString();
}

TEST_F(OpenLdapWriterTest, SaslExternalWithoutAClientCertificateFails) {
  auto c = Config();
  c.bind_method = config::BindMethod::kSaslExternal;
  c.bind_dn.reset();
  c.bind_password_file.reset();
  auto dir = Open(c);
  auto a = dir->FindAccount({LookupAttribute::kUid, "alice"});
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.error().code, OutcomeCode::kServiceBindFailed) << a.error().ToString();
}

TEST_F(OpenLdapWriterTest, ServerCertificateFromAnotherCaIsRefused) {
  testing::TempDir other;
  auto ca = testing::TestCa::Create(other.path(), "other");
  ASSERT_TRUE(ca.ok());
  auto c = Config();
  c.ca_file = ca->cert();
  auto dir = Open(c);
  auto a = dir->FindAccount({LookupAttribute::kUid, "alice"});
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.error().code, OutcomeCode::kTlsFailure) << a.error().ToString();
}

TEST_F(OpenLdapWriterTest, DownServerIsTransient) {
  auto c = Config({"ldaps://127.0.0.1:" + std::to_string(testing::FreeLoopbackPort())});
  auto dir = Open(c);
  auto a = dir->FindAccount({LookupAttribute::kUid, "alice"});
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.error().code, OutcomeCode::kDirectoryUnavailable) << a.error().ToString();
  EXPECT_TRUE(a.error().transient());
  EXPECT_FALSE(dir->Health().front().healthy);
}

TEST_F(OpenLdapWriterTest, FailoverUsesTheSecondUrlWhenTheFirstIsDown) {
  const std::string down = "ldaps://127.0.0.1:" + std::to_string(testing::FreeLoopbackPort());
  auto dir = Open(Config({down, server_->ldaps_url()}));
  Account a = NewUser(*dir, "failover1");
  Outcome o = Reset(*dir, a, "Failover-Pass-88");
  ASSERT_TRUE(o.ok()) << o.ToString();
  EXPECT_EQ(o.server, server_->ldaps_url());
  auto health = dir->Health();
  ASSERT_EQ(health.size(), 2u);
  EXPECT_FALSE(health[0].healthy);
  EXPECT_FALSE(health[0].last_error.empty());
  EXPECT_TRUE(health[1].healthy);
  // The metrics' wbagent_directory_failovers_total: the connection went to the second server
  // because the first failed.
  EXPECT_EQ(health[0].failovers, 0u);
  EXPECT_GE(health[1].failovers, 1u);
}

TEST_F(OpenLdapWriterTest, NoFailoverIsCountedWhenTheFirstServerAnswers) {
  auto dir = Open(Config({server_->ldaps_url()}));
  ASSERT_TRUE(dir->FindAccount({LookupAttribute::kUid, "alice"}).ok());
  auto health = dir->Health();
  ASSERT_EQ(health.size(), 1u);
  EXPECT_EQ(health[0].failovers, 0u);
}

TEST_F(OpenLdapWriterTest, ServerRestartIsSurvivedByReconnecting) {
  auto dir = Open();
  Account a = NewUser(*dir, "restart1");
  ASSERT_TRUE(dir->FindAccount({LookupAttribute::kUid, "restart1"}).ok());
  ASSERT_TRUE(server_->Stop().ok());
  ASSERT_TRUE(server_->Resume().ok());
  // The pooled connection is dead; the lookup must reconnect rather than fail.
  EXPECT_TRUE(dir->FindAccount({LookupAttribute::kUid, "restart1"}).ok());
}

TEST_F(OpenLdapWriterTest, EffectivePolicyIsTheDefaultPpolicy) {
  ASSERT_TRUE(server_->SetPolicy({.min_length = 9, .in_history = 4}).ok());
  auto dir = Open();
  auto a = dir->FindAccount({LookupAttribute::kUid, "bob"});
  ASSERT_TRUE(a.ok());
  auto p = dir->EffectivePolicy(*a);
  ASSERT_TRUE(p.ok()) << p.error().ToString();
  EXPECT_EQ(p->min_length, 9);
  EXPECT_EQ(p->history_length, 4);
  EXPECT_TRUE(p->complexity);
  EXPECT_EQ(p->lockout_threshold, 3);
  EXPECT_EQ(p->source, SlapdServer::policy_dn());
}

// The crash-recovery check reads the account again by its DN, whatever lookup_attributes let
// the cloud name users by: here not by DN.
TEST_F(OpenLdapWriterTest, PasswordChangedSinceSeesARecentReset) {
  auto c = Config();
  c.lookup_attributes = {LookupAttribute::kUid};
  auto dir = Open(c);
  Account a = NewUser(*dir, "since1");
  // slapd dates the change with time(), the kernel's coarse clock, which may still show the
  // previous second for a few milliseconds after this precise clock has moved on.
  const WallTime before = clock_.Now() - std::chrono::milliseconds(100);
  auto changed = dir->PasswordChangedSince(a, before + std::chrono::seconds(5));
  ASSERT_TRUE(changed.ok());
  ASSERT_TRUE(Reset(*dir, a, "Since-Pass-2024").ok());
  changed = dir->PasswordChangedSince(a, before);
  ASSERT_TRUE(changed.ok());
  EXPECT_TRUE(*changed);
  auto fresh = dir->FindAccount({LookupAttribute::kUid, "since1"});
  ASSERT_TRUE(fresh.ok() && fresh->password_changed_at);
  EXPECT_LT(std::chrono::abs(*fresh->password_changed_at - clock_.Now()), std::chrono::seconds(5));
  EXPECT_FALSE(PasswordChangedAtOrAfter(*fresh, clock_.Now() + std::chrono::seconds(5)));
}

// A server that binds but does not answer (here slapd with its writes held) keeps its
// failures across new connections: each timeout adds one, so it is tried again later each time
// (1 s, 2 s, 4 s ...), and only a success ends the row. Before, the bind of every new
// connection ended it, and such a server cost a worker operation_timeout every second. Reads
// still work here, and each request looks its account up first: a read's success does not end
// a row of failed writes either.
TEST_F(OpenLdapWriterTest, AServerThatBindsButDoesNotAnswerKeepsItsFailuresAcrossConnections) {
  auto c = Config();
  c.operation_timeout = std::chrono::seconds(1);
  auto dir = Open(c);
  Account a = NewUser(*dir, "hung1");
  EXPECT_EQ(dir->Health().front().consecutive_failures, 0);
  auto hold = server_->HoldWrites();
  ASSERT_TRUE(hold.ok()) << hold.error().ToString();
  for (int i = 1; i <= 3; ++i) {
    ASSERT_TRUE(dir->FindAccount({LookupAttribute::kUid, "hung1"}).ok());
    EXPECT_EQ(dir->Health().front().consecutive_failures, i - 1) << "a read ended the row";
    Outcome o = Reset(*dir, a, "Hung-Pass-" + std::to_string(i) + "-Kite");
    ASSERT_EQ(o.code, OutcomeCode::kDirectoryTimeout) << o.ToString();
    const ServerHealth health = dir->Health().front();
    EXPECT_EQ(health.consecutive_failures, i) << "a new connection's bind ended the row";
    EXPECT_FALSE(health.healthy);
  }
  (*hold)->Release();
  ASSERT_TRUE(dir->FindAccount({LookupAttribute::kUid, "hung1"}).ok());
  EXPECT_EQ(dir->Health().front().consecutive_failures, 3);
  // The held writes have landed meanwhile: this one is no second write of them.
  ASSERT_TRUE(Reset(*dir, a, "Hung-Pass-4-Kite-Free").ok());
  const ServerHealth answered = dir->Health().front();
  EXPECT_EQ(answered.consecutive_failures, 0);
  EXPECT_TRUE(answered.healthy);
}

// The password operation cannot carry the other parts, so they follow it. When one is refused
// the new password is in effect anyway, and the outcome says so rather than reading as
// "nothing changed". Here the service account may set the password of uid=kPasswordOnly and
// nothing else.
TEST_F(OpenLdapWriterTest, AResetWhoseMustChangeFlagIsRefusedSaysThePasswordWasSet) {
  auto dir = Open();
  auto found = dir->FindAccount({LookupAttribute::kUid, SlapdServer::kPasswordOnly});
  Account a = found.ok() ? *found : NewUser(*dir, SlapdServer::kPasswordOnly);
  // slapd dates the change with time(), which may still show the previous second.
  const WallTime before = clock_.Now() - std::chrono::milliseconds(100);
  Secret password("Partial-Pass-2024");
  Outcome o = dir->Apply(a, {.password = PasswordChange::Password::kReset,
                             .new_password = &password,
                             .must_change = PasswordChange::MustChange::kRequire});
  EXPECT_EQ(o.code, OutcomeCode::kAccessDenied) << o.ToString();
  EXPECT_EQ(o.reason.rfind("the new password was set, but then ", 0), 0u) << o.reason;
  EXPECT_NE(o.reason.find("pwdReset"), std::string::npos) << o.reason;
  auto changed = dir->PasswordChangedSince(a, before);
  ASSERT_TRUE(changed.ok());
  EXPECT_TRUE(*changed) << "the password was not set, so the outcome must not say it was";
}

// ppolicy clears a failure lock itself when the password changes: a reset with an unlock
// succeeds although the service account may not delete pwdAccountLockedTime, because the
// lock is gone; an unlock alone is refused, changed nothing, and says only that.
TEST_F(OpenLdapWriterTest, AnUnlockThePasswordChangeAlreadyMadeIsNotAFailure) {
  auto dir = Open();
  const std::string uid = SlapdServer::kPasswordOnly;
  if (!dir->FindAccount({LookupAttribute::kUid, uid}).ok()) NewUser(*dir, uid);
  ASSERT_TRUE(server_->LockUserByBadBinds(uid).ok());
  auto locked = dir->FindAccount({LookupAttribute::kUid, uid});
  ASSERT_TRUE(locked.ok() && locked->locked);

  Outcome unlock_only = dir->Apply(*locked, {.unlock = true});
  EXPECT_EQ(unlock_only.code, OutcomeCode::kAccessDenied) << unlock_only.ToString();
  EXPECT_EQ(unlock_only.reason.find("password was set"), std::string::npos) << unlock_only.reason;

  Secret password("Unlocked-Pass-2024");
  Outcome o = dir->Apply(
      *locked,
      {.password = PasswordChange::Password::kReset, .new_password = &password, .unlock = true});
  EXPECT_TRUE(o.ok()) << o.ToString();
  auto after = dir->FindAccount({LookupAttribute::kUid, uid});
  ASSERT_TRUE(after.ok());
  EXPECT_FALSE(after->locked);

  // An account the lookup did not see locked proves nothing about whether the service account
  // may see the lock: the refused unlock stays refused.
  Secret again("Unlocked-Pass-2025");
  Outcome unproven = dir->Apply(
      *after,
      {.password = PasswordChange::Password::kReset, .new_password = &again, .unlock = true});
  EXPECT_EQ(unproven.code, OutcomeCode::kAccessDenied) << unproven.ToString();
  EXPECT_EQ(unproven.reason.rfind("the new password was set, but then ", 0), 0u) << unproven.reason;
}

TEST_F(OpenLdapWriterTest, StalledServerTimesOutWithinTheConfiguredTime) {
  auto c = Config();
  c.operation_timeout = std::chrono::seconds(1);
  auto dir = Open(c);
  ASSERT_TRUE(dir->FindAccount({LookupAttribute::kUid, "alice"}).ok());  // connection pooled
  // A stopped (SIGSTOP) slapd keeps its sockets open and answers nothing.
  const pid_t slapd = server_->pid();
  ASSERT_GT(slapd, 0);
  ASSERT_EQ(kill(slapd, SIGSTOP), 0);
  // A signal is delivered asynchronously: on another core slapd could still answer. Wait
  // until the kernel reports every thread stopped.
  ASSERT_TRUE(testing::WaitUntil(
                  [&] {
                    const std::string stat =
                        testing::ReadFileOrEmpty("/proc/" + std::to_string(slapd) + "/stat");
                    const auto close = stat.rfind(')');
                    return close != std::string::npos && stat.substr(close + 2, 1) == "T"
                               ? Status::Ok()
                               : NotFound("slapd not stopped yet");
                  },
                  std::chrono::seconds(5))
                  .ok());
  const auto start = std::chrono::steady_clock::now();
  auto a = dir->FindAccount({LookupAttribute::kUid, "alice"});
  const auto took = std::chrono::steady_clock::now() - start;
  kill(slapd, SIGCONT);
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.error().code, OutcomeCode::kDirectoryTimeout) << a.error().ToString();
  EXPECT_TRUE(a.error().transient());
  // Bounded: one operation timeout, plus one connect timeout for the replacement attempt.
  EXPECT_LT(took, std::chrono::seconds(5));
}

}  // namespace
}  // namespace wb::ldap
