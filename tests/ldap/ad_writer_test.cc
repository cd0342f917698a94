// The Active Directory writer against a real Samba AD DC (4.17), bound as a delegated
// service account that is not an administrator. Each test names what it proves.
#include <gtest/gtest.h>

#include "common/clock.h"
#include "ldap/directory.h"
#include "tests/ldap/directory_test_util.h"
#include "tests/support/ldap_test_client.h"
#include "tests/support/samba_dc.h"
#include "tests/support/server_gate.h"

namespace wb::ldap {
namespace {

using config::HistoryOnReset;
using config::LookupAttribute;
using testing::SambaDc;

class AdWriterTest : public ::testing::Test {
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

  config::DirectoryConfig Config(HistoryOnReset history = HistoryOnReset::kWhenSupported) {
    auto c = testing::MakeDirectoryConfig(
        {config::DirectoryKind::kActiveDirectory,
         {dc_->ldaps_url()},
         dc_->ca_file(),
         SambaDc::service_dn(),
         SambaDc::service_password(),
         SambaDc::base_dn(),
         {LookupAttribute::kUserPrincipalName, LookupAttribute::kSamAccountName,
          LookupAttribute::kMail, LookupAttribute::kDn}},
        dir_.path());
    c.history_on_reset = history;
    c.operation_timeout = std::chrono::seconds(10);
    return c;
  }

  std::unique_ptr<Directory> Open(config::DirectoryConfig c) {
    auto d = OpenDirectory(c, clock_);
    EXPECT_TRUE(d.ok());
    return d.ok() ? std::move(*d) : nullptr;
  }
  std::unique_ptr<Directory> Open() { return Open(Config()); }

  Account NewUser(Directory& dir, const std::string& name, const std::string& password) {
    EXPECT_TRUE(dc_->CreateUser(name, password).ok());
    auto a = dir.FindAccount({LookupAttribute::kSamAccountName, name});
    EXPECT_TRUE(a.ok()) << a.error().ToString();
    return a.ok() ? *a : Account{};
  }

  static Outcome Reset(Directory& dir, const Account& a, const std::string& password,
                       PasswordChange::MustChange must = PasswordChange::MustChange::kLeave) {
    Secret secret(password);
    return dir.Apply(a, {.password = PasswordChange::Password::kReset,
                         .new_password = &secret,
                         .must_change = must});
  }

  static Outcome Change(Directory& dir, const Account& a, const std::string& old_password,
                        const std::string& new_password) {
    return testing::ChangePassword(dir, a, old_password, new_password);
  }

  // A search bound as the user: proof the password works, without the writer binding.
  Status UserBind(const std::string& name, const std::string& password) {
    auto c = testing::LdapTestClient::Connect(dc_->ldaps_url(), dc_->ca_file(),
                                              SambaDc::user_dn(name), password);
    if (!c.ok()) return c.error();
    return c->Read(SambaDc::user_dn(name), "cn").ok() ? Status::Ok() : Internal("search failed");
  }

  long long PwdLastSet(const std::string& name) {
    auto v = dc_->ReadAttribute(SambaDc::user_dn(name), "pwdLastSet");
    return v.ok() && !v->empty() ? std::stoll(v->front()) : -2;
  }

  // A reset of a new user, who must change the password first when `must_change_before`;
  // returns pwdLastSet afterwards.
  long long PwdLastSetAfterReset(const std::string& name, bool must_change_before,
                                 PasswordChange::MustChange must_change) {
    auto dir = Open();
    Account a = NewUser(*dir, name, "Initial-Pass-91");
    if (must_change_before) {
      EXPECT_TRUE(dir->Apply(a, {.must_change = PasswordChange::MustChange::kRequire}).ok());
    }
    EXPECT_EQ(PwdLastSet(name) == 0, must_change_before);
    Outcome o = Reset(*dir, a, "Reset-Pass-Lemon-43", must_change);
    EXPECT_TRUE(o.ok()) << o.ToString();
    return PwdLastSet(name);
  }

  static inline std::unique_ptr<SambaDc> dc_;
  static inline Status start_status_;
  testing::TempDir dir_;
  SystemClock clock_;
};

TEST_F(AdWriterTest, TheServiceAccountIsNotAdministrator) {
  EXPECT_EQ(Config().bind_dn->find("Administrator"), std::string::npos);
  auto groups = dc_->ReadAttribute(SambaDc::service_dn(), "memberOf");
  ASSERT_TRUE(groups.ok());
  for (const auto& g : *groups) EXPECT_EQ(g.find("Admins"), std::string::npos) << g;
}

// The names the password rules compare a password against (no name parts).
TEST_F(AdWriterTest, LookupReadsTheUsersNames) {
  ASSERT_TRUE(dc_->CreateUser("adnames", "Names-Initial-Pass-1").ok());
  auto admin = dc_->AdminClient();
  ASSERT_TRUE(admin.ok());
  ASSERT_TRUE(admin
                  ->Modify(SambaDc::user_dn("adnames"),
                           {{wb::testing::LdapMod::Op::kReplace, "givenName", {"Ada"}},
                            {wb::testing::LdapMod::Op::kReplace, "sn", {"Lovelace"}},
                            {wb::testing::LdapMod::Op::kReplace, "displayName", {"Ada Lovelace"}}})
                  .ok());
  auto dir = Open();
  auto a = dir->FindAccount({LookupAttribute::kSamAccountName, "adnames"});
  ASSERT_TRUE(a.ok()) << a.error().ToString();
  EXPECT_EQ(a->login_name, "adnames");
  EXPECT_EQ(a->given_name, "Ada");
  EXPECT_EQ(a->surname, "Lovelace");
  EXPECT_EQ(a->display_name, "Ada Lovelace");
}

TEST_F(AdWriterTest, ResetWorksAndTheUserCanSearchWithTheNewPassword) {
  auto dir = Open();
  Account a = NewUser(*dir, "adreset1", "Initial-Pass-91");
  Outcome o = Reset(*dir, a, "Reset-Pass-Zebra-42");
  ASSERT_TRUE(o.ok()) << o.ToString();
  EXPECT_TRUE(UserBind("adreset1", "Reset-Pass-Zebra-42").ok());
}

// The request alone decides must-change after a reset, whatever pwdLastSet was before: the
// DC sets pwdLastSet to the reset's time itself, and to 0 when the same modify says so.
TEST_F(AdWriterTest, PlainResetLeavesPwdLastSetNonZero) {
  EXPECT_GT(PwdLastSetAfterReset("admc-plain", false, PasswordChange::MustChange::kLeave), 0);
  EXPECT_TRUE(UserBind("admc-plain", "Reset-Pass-Lemon-43").ok());
}

TEST_F(AdWriterTest, PlainResetOfAUserWhoMustChangeMakesPwdLastSetNonZero) {
  EXPECT_GT(PwdLastSetAfterReset("admc-was", true, PasswordChange::MustChange::kLeave), 0);
  EXPECT_TRUE(UserBind("admc-was", "Reset-Pass-Lemon-43").ok());
}

TEST_F(AdWriterTest, ResetWithRequireChangeMakesPwdLastSetZero) {
  EXPECT_EQ(PwdLastSetAfterReset("admc-req", false, PasswordChange::MustChange::kRequire), 0);
  EXPECT_NE(UserBind("admc-req", "Reset-Pass-Lemon-43").message().find("data 773"),
            std::string::npos);
}

TEST_F(AdWriterTest, ResetWithRequireChangeOfAUserWhoMustChangeKeepsPwdLastSetZero) {
  EXPECT_EQ(PwdLastSetAfterReset("admc-req-was", true, PasswordChange::MustChange::kRequire), 0);
  EXPECT_NE(UserBind("admc-req-was", "Reset-Pass-Lemon-43").message().find("data 773"),
            std::string::npos);
}

// The hand-over and crash-recovery checks read pwdLastSet: it must be this reset's time. They
// read the account again by its DN, whatever lookup_attributes let the cloud name users by.
TEST_F(AdWriterTest, PwdLastSetTellsWhetherThePasswordChangedSince) {
  auto c = Config();
  c.lookup_attributes = {LookupAttribute::kSamAccountName};
  auto dir = Open(c);
  Account a = NewUser(*dir, "adsince1", "Initial-Pass-91");
  const WallTime before = std::chrono::floor<std::chrono::seconds>(clock_.Now());
  auto changed = dir->PasswordChangedSince(a, before + std::chrono::seconds(5));
  ASSERT_TRUE(changed.ok());
  EXPECT_FALSE(*changed);
  ASSERT_TRUE(Reset(*dir, a, "Since-Pass-Maple-44").ok());
  changed = dir->PasswordChangedSince(a, before);
  ASSERT_TRUE(changed.ok());
  EXPECT_TRUE(*changed);
  auto fresh = dir->FindAccount({LookupAttribute::kSamAccountName, "adsince1"});
  ASSERT_TRUE(fresh.ok() && fresh->password_changed_at);
  EXPECT_LT(std::chrono::abs(*fresh->password_changed_at - clock_.Now()), std::chrono::seconds(5));
  EXPECT_FALSE(PasswordChangedAtOrAfter(*fresh, clock_.Now() + std::chrono::seconds(5)));
}

// A reset that requires a change leaves pwdLastSet 0, yet the checks still see when it was
// written (unicodePwd's stamp in replPropertyMetaData). Without that, a retry whose first answer
// was lost could not tell its own write and would write again; on a DC that enforces history on
// resets the DC refuses that as in history, and the user is told to pick a stronger password
// for a password that was set.
TEST_F(AdWriterTest, AResetThatRequiresAChangeIsStillSeenAsWritten) {
  auto dir = Open();
  Account a = NewUser(*dir, "adsince2", "Initial-Pass-91");
  const WallTime before = std::chrono::floor<std::chrono::seconds>(clock_.Now());
  ASSERT_TRUE(Reset(*dir, a, "Since-Pass-Birch-45", PasswordChange::MustChange::kRequire).ok());
  ASSERT_EQ(PwdLastSet("adsince2"), 0);
  auto changed = dir->PasswordChangedSince(a, before);
  ASSERT_TRUE(changed.ok()) << changed.error().ToString();
  EXPECT_TRUE(*changed);
  auto fresh = dir->FindAccount({LookupAttribute::kSamAccountName, "adsince2"});
  ASSERT_TRUE(fresh.ok() && fresh->password_changed_at);
  EXPECT_TRUE(fresh->must_change_password);
  EXPECT_LT(std::chrono::abs(*fresh->password_changed_at - clock_.Now()), std::chrono::seconds(5));
  changed = dir->PasswordChangedSince(a, clock_.Now() + std::chrono::seconds(5));
  ASSERT_TRUE(changed.ok());
  EXPECT_FALSE(*changed);
}

TEST_F(AdWriterTest, UnicodePasswordIsEncodedForAd) {
  auto dir = Open();
  Account a = NewUser(*dir, "adunicode", "Initial-Pass-91");
  ASSERT_TRUE(Reset(*dir, a, "P\xc3\xa4ssw\xc3\xb6rd-\xc3\x9f-77").ok());
  EXPECT_TRUE(UserBind("adunicode", "P\xc3\xa4ssw\xc3\xb6rd-\xc3\x9f-77").ok());
}

TEST_F(AdWriterTest, ChangeWithTheRightOldPasswordWorks) {
  auto dir = Open();
  Account a = NewUser(*dir, "adchange1", "Initial-Pass-91");
  Outcome o = Change(*dir, a, "Initial-Pass-91", "Changed-Pass-Otter-5");
  ASSERT_TRUE(o.ok()) << o.ToString();
  EXPECT_TRUE(UserBind("adchange1", "Changed-Pass-Otter-5").ok());
}

// The domain's minimum age refuses a user's change of a password set moments ago, whatever the
// new password: the user is told to try later (Samba names the rule; for Windows DCs, which do
// not, ExplainRefusedChange judges it from the password's age). Nothing is written.
TEST_F(AdWriterTest, AChangeWithinTheMinimumAgeIsTooYoung) {
  ASSERT_TRUE(dc_->SetDomainPolicy({.min_age_days = 1}).ok());
  struct Restore {
    SambaDc& dc;
    ~Restore() { EXPECT_TRUE(dc.SetDomainPolicy({.min_age_days = 0}).ok()); }
  } restore{*dc_};
  auto dir = Open();
  Account a = NewUser(*dir, "adyoung", "Initial-Pass-91");
  Outcome o = Change(*dir, a, "Initial-Pass-91", "Changed-Pass-Finch-8");
  EXPECT_EQ(o.code, OutcomeCode::kPolicyTooYoung) << o.ToString();
  EXPECT_TRUE(UserBind("adyoung", "Initial-Pass-91").ok());
}

TEST_F(AdWriterTest, ChangeWithAWrongOldPasswordIs00000056) {
  auto dir = Open();
  Account a = NewUser(*dir, "adchange2", "Initial-Pass-91");
  Outcome o = Change(*dir, a, "Not-The-Pass-00", "Changed-Pass-Otter-5");
  EXPECT_EQ(o.code, OutcomeCode::kWrongOldPassword) << o.ToString();
  EXPECT_NE(o.diagnostic.find("00000056"), std::string::npos);
  EXPECT_TRUE(UserBind("adchange2", "Initial-Pass-91").ok());
}

TEST_F(AdWriterTest, TooShortIs52dWithTheReason) {
  auto dir = Open();
  Account a = NewUser(*dir, "adshort", "Initial-Pass-91");
  Outcome o = Reset(*dir, a, "Ab1-");
  EXPECT_EQ(o.code, OutcomeCode::kPolicyTooShort) << o.ToString();
  EXPECT_NE(o.diagnostic.find("0000052D"), std::string::npos);
  EXPECT_TRUE(UserBind("adshort", "Initial-Pass-91").ok());
}

TEST_F(AdWriterTest, ComplexityViolationIs52dWithTheReason) {
  auto dir = Open();
  Account a = NewUser(*dir, "adcomplex", "Initial-Pass-91");
  Outcome o = Reset(*dir, a, "alllowercaseletters");
  EXPECT_EQ(o.code, OutcomeCode::kPolicyComplexity) << o.ToString();
  EXPECT_TRUE(UserBind("adcomplex", "Initial-Pass-91").ok());
}

TEST_F(AdWriterTest, UnlockAfterALockoutByBadBinds) {
  auto dir = Open();
  NewUser(*dir, "adlocked", "Initial-Pass-91");
  ASSERT_TRUE(dc_->LockUserByBadBinds("adlocked").ok());
  auto a = dir->FindAccount({LookupAttribute::kSamAccountName, "adlocked"});
  ASSERT_TRUE(a.ok());
  EXPECT_TRUE(a->locked);
  ASSERT_TRUE(dir->Apply(*a, {.unlock = true}).ok());
  EXPECT_TRUE(UserBind("adlocked", "Initial-Pass-91").ok());
}

TEST_F(AdWriterTest, ResetUnlockAndRequireChangeGoInOneModify) {
  auto dir = Open();
  NewUser(*dir, "adcombo", "Initial-Pass-91");
  ASSERT_TRUE(dc_->LockUserByBadBinds("adcombo").ok());
  auto a = dir->FindAccount({LookupAttribute::kSamAccountName, "adcombo"});
  ASSERT_TRUE(a.ok());
  Secret pw("Combo-Pass-Walrus-8");
  Outcome o = dir->Apply(*a, {.password = PasswordChange::Password::kReset,
                              .new_password = &pw,
                              .unlock = true,
                              .must_change = PasswordChange::MustChange::kRequire});
  ASSERT_TRUE(o.ok()) << o.ToString();
  auto after = dir->FindAccount({LookupAttribute::kSamAccountName, "adcombo"});
  ASSERT_TRUE(after.ok());
  EXPECT_FALSE(after->locked);
  EXPECT_TRUE(after->must_change_password);
  Status bind = UserBind("adcombo", "Combo-Pass-Walrus-8");
  EXPECT_NE(bind.message().find("data 773"), std::string::npos) << bind.ToString();
}

TEST_F(AdWriterTest, PwdLastSetZeroForcesAChangeAndMinusOneUndoesIt) {
  auto dir = Open();
  Account a = NewUser(*dir, "adpwdlast", "Initial-Pass-91");
  ASSERT_TRUE(dir->Apply(a, {.must_change = PasswordChange::MustChange::kRequire}).ok());
  EXPECT_EQ(PwdLastSet("adpwdlast"), 0);
  EXPECT_NE(UserBind("adpwdlast", "Initial-Pass-91").message().find("data 773"), std::string::npos);
  ASSERT_TRUE(dir->Apply(a, {.must_change = PasswordChange::MustChange::kClear}).ok());
  EXPECT_GT(PwdLastSet("adpwdlast"), 0);
  EXPECT_TRUE(UserBind("adpwdlast", "Initial-Pass-91").ok());
}

TEST_F(AdWriterTest, EnforceRefusesWhenTheDcLacksPolicyHints) {
  auto dir = Open(Config(HistoryOnReset::kEnforce));
  Account a = NewUser(*dir, "adenforce", "Initial-Pass-91");
  Outcome o = Reset(*dir, a, "Enforce-Pass-Heron-3");
  EXPECT_EQ(o.code, OutcomeCode::kHistoryNotEnforceable) << o.ToString();
  EXPECT_NE(o.reason.find("POLICY_HINTS"), std::string::npos);
  EXPECT_TRUE(UserBind("adenforce", "Initial-Pass-91").ok());  // nothing written
}

TEST_F(AdWriterTest, WhenSupportedResetsAndSaysHistoryWasNotEnforced) {
  auto dir = Open(Config(HistoryOnReset::kWhenSupported));
  Account a = NewUser(*dir, "adwhen", "Initial-Pass-91");
  Outcome o = Reset(*dir, a, "When-Pass-Badger-6");
  ASSERT_TRUE(o.ok()) << o.ToString();
  EXPECT_NE(o.note.find("history not enforced"), std::string::npos);
  EXPECT_TRUE(UserBind("adwhen", "When-Pass-Badger-6").ok());
}

TEST_F(AdWriterTest, ServiceAccountWithoutTheRightGetsAccessDeniedWithGuidance) {
  auto c = Config();
  auto full = Open();
  Account a = NewUser(*full, "addenied", "Initial-Pass-91");
  c.bind_dn = SambaDc::norights_dn();
  ASSERT_TRUE(testing::WriteFile(*c.bind_password_file, SambaDc::norights_password(), 0600).ok());
  auto dir = Open(c);
  Outcome o = Reset(*dir, a, "Denied-Pass-Raven-4");
  EXPECT_EQ(o.code, OutcomeCode::kAccessDenied) << o.ToString();
  EXPECT_NE(o.reason.find("may not reset the password of CN=addenied"), std::string::npos)
      << o.reason;
  EXPECT_NE(o.reason.find("on Active Directory it needs the \"Reset Password\" control access "
                          "right"),
            std::string::npos)
      << o.reason;
  EXPECT_NE(o.reason.find("inherit"), std::string::npos) << o.reason;
  EXPECT_EQ(o.reason.find("AdminSDHolder"), std::string::npos) << o.reason;
  EXPECT_EQ(o.reason.find("olcAccess"), std::string::npos) << o.reason;
}

TEST_F(AdWriterTest, ProtectedAccountIsFlaggedAndOutOfTheDelegation) {
  auto dir = Open();
  auto a = dir->FindAccount({LookupAttribute::kSamAccountName, SambaDc::protected_user()});
  ASSERT_TRUE(a.ok()) << a.error().ToString();
  EXPECT_TRUE(a->protected_account);
  const Outcome o = Reset(*dir, *a, "Protected-Pass-Ibis-2");
  EXPECT_EQ(o.code, OutcomeCode::kAccessDenied) << o.ToString();
  EXPECT_NE(o.reason.find("adminCount=1"), std::string::npos) << o.reason;
  EXPECT_NE(o.reason.find("AdminSDHolder: every 60 minutes SDProp"), std::string::npos) << o.reason;
  EXPECT_NE(o.reason.find("Reset it as a domain administrator"), std::string::npos) << o.reason;
}

TEST_F(AdWriterTest, LookupByUpnMailAndDnFindTheSameAccount) {
  auto dir = Open();
  auto by_upn = dir->FindAccount({LookupAttribute::kUserPrincipalName, SambaDc::upn("bob")});
  ASSERT_TRUE(by_upn.ok()) << by_upn.error().ToString();
  EXPECT_EQ(by_upn->login_name, "bob");
  EXPECT_TRUE(by_upn->enabled);
  EXPECT_FALSE(by_upn->protected_account);
  auto by_dn = dir->FindAccount({LookupAttribute::kDn, by_upn->dn});
  ASSERT_TRUE(by_dn.ok());
  EXPECT_EQ(by_dn->dn, by_upn->dn);
}

// With base_dn = OU=WbUsers, DNs that only look as if they lie under it are refused before any
// search, including one that names a real account beside OU=WbUsers.
TEST_F(AdWriterTest, DnsThatOnlyLookAsIfUnderBaseDnAreOutOfScopeAndNothingIsWritten) {
  auto admin = dc_->AdminClient();
  ASSERT_TRUE(admin.ok()) << admin.error().ToString();
  // A real account directly under the domain root whose CN is "esc,OU=WbUsers" (Samba wants
  // the '=' in the value escaped too).
  const std::string beside = "CN=esc\\,OU\\=WbUsers," + SambaDc::base_dn();
  using Op = testing::LdapMod::Op;
  Status added = admin->Add(
      beside, {{Op::kAdd, "objectClass", {"user"}}, {Op::kAdd, "sAMAccountName", {"escbeside"}}});
  ASSERT_TRUE(added.ok()) << added.ToString();
  auto before = admin->Read(beside, "uSNChanged");
  ASSERT_TRUE(before.ok() && !before->empty());
  auto c = Config();
  c.base_dn = SambaDc::users_ou();
  auto dir = Open(c);
  ASSERT_NE(dir, nullptr);
  const std::string root = "," + SambaDc::base_dn();
  const std::vector<std::string> tricky = {
      beside,                                         // an escaped comma
      "CN=esc\\,OU=WbUsers" + root,                   // the same, as Windows AD accepts it
      "CN=esc\\2COU=WbUsers" + root,                  // a hex-escaped comma
      "CN=esc+OU=WbUsers" + root,                     // a multi-valued RDN
      "CN=esc\\+OU=WbUsers" + root,                   // an escaped +
      "<GUID=b3f6c2a4-52a1-4c8e-9a55-0c1e4f6b9d21>",  // extended forms
      "<SID=S-1-5-21-1-2-3-1105>;" + SambaDc::user_dn("bob")};
  for (const std::string& dn : tricky) {
    SCOPED_TRACE(dn);
    auto a = dir->FindAccount({LookupAttribute::kDn, dn});
    ASSERT_FALSE(a.ok());
    EXPECT_EQ(a.error().code, OutcomeCode::kOutOfScope) << a.error().reason;
  }
  auto after = admin->Read(beside, "uSNChanged");
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(*after, *before);
}

TEST_F(AdWriterTest, ADnUnderBaseDnIsFoundWhateverItsCase) {
  auto c = Config();
  c.base_dn = SambaDc::users_ou();
  auto dir = Open(c);
  ASSERT_NE(dir, nullptr);
  auto a =
      dir->FindAccount({LookupAttribute::kDn, "cn=bob,ou=wbusers,dc=SAMDOM,dc=example,dc=test"});
  ASSERT_TRUE(a.ok()) << a.error().ToString();
  EXPECT_EQ(a->login_name, "bob");
}

TEST_F(AdWriterTest, SharedMailIsAmbiguousAndInjectionMatchesNothing) {
  auto dir = Open();
  auto shared = dir->FindAccount({LookupAttribute::kMail, SambaDc::ambiguous_mail()});
  ASSERT_FALSE(shared.ok());
  EXPECT_EQ(shared.error().code, OutcomeCode::kAmbiguousUser);
  auto evil = dir->FindAccount({LookupAttribute::kSamAccountName, "*)(sAMAccountName=*"});
  ASSERT_FALSE(evil.ok());
  EXPECT_EQ(evil.error().code, OutcomeCode::kUserNotFound);
}

TEST_F(AdWriterTest, EffectivePolicyIsTheDomainPolicyOrThePso) {
  auto dir = Open();
  auto a = dir->FindAccount({LookupAttribute::kSamAccountName, "carol"});
  ASSERT_TRUE(a.ok());
  auto domain = dir->EffectivePolicy(*a);
  ASSERT_TRUE(domain.ok()) << domain.error().ToString();
  EXPECT_EQ(domain->min_length, 7);
  EXPECT_TRUE(domain->complexity);
  EXPECT_EQ(domain->history_length, 24);
  EXPECT_EQ(domain->lockout_threshold, 3);

  ASSERT_TRUE(dc_->samba_tool({"domain", "passwordsettings", "pso", "create", "wbtest-pso", "1",
                               "--min-pwd-length=12", "--history-length=5", "--complexity=off"})
                  .ok());
  ASSERT_TRUE(
      dc_->samba_tool({"domain", "passwordsettings", "pso", "apply", "wbtest-pso", "carol"}).ok());
  a = dir->FindAccount({LookupAttribute::kSamAccountName, "carol"});
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(a->password_policy_dn.has_value());
  auto pso = dir->EffectivePolicy(*a);
  ASSERT_TRUE(pso.ok()) << pso.error().ToString();
  EXPECT_EQ(pso->min_length, 12);
  EXPECT_EQ(pso->history_length, 5);
  EXPECT_FALSE(pso->complexity);
  EXPECT_NE(pso->source.find("wbtest-pso"), std::string::npos);
}

TEST_F(AdWriterTest, StartTlsWorksLikeLdaps) {
  auto c = Config();
  c.urls = {testing::TestUrl(dc_->ldap_url())};
  auto dir = Open(c);
  EXPECT_TRUE(dir->FindAccount({LookupAttribute::kSamAccountName, "dave"}).ok());
}

}  // namespace
}  // namespace wb::ldap
