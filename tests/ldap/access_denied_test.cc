// The reasons an access_denied carries on each directory kind: the operation refused, the
// right it needs there, and no other kind's words.
#include "ldap/access_denied.h"

#include <gtest/gtest.h>

#include <string>

#include "common/secret.h"

namespace wb::ldap {
namespace {

bool Has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

Account User(bool admin_count = false) {
  Account a;
  a.dn = "CN=Alice,OU=Staff,DC=corp,DC=example";
  a.protected_account = admin_count;
  return a;
}

PasswordChange ResetAndUnlock() {
  PasswordChange c;
  c.password = PasswordChange::Password::kReset;
  c.unlock = true;
  return c;
}

TEST(AccessDeniedTest, AdNamesTheOperationsAndTheRightEachNeeds) {
  const std::string r = AdAccessDeniedReason(User(), ResetAndUnlock());
  EXPECT_TRUE(Has(r, "may not reset the password and unlock the account of CN=Alice,OU=Staff"))
      << r;
  EXPECT_TRUE(Has(r,
                  "the \"Reset Password\" control access right and Write Property on "
                  "lockoutTime"))
      << r;
  EXPECT_TRUE(Has(r, "inheritance")) << r;
  EXPECT_FALSE(Has(r, "pwdLastSet")) << r;
  EXPECT_FALSE(Has(r, "AdminSDHolder")) << r;
}

TEST(AccessDeniedTest, AdRequireChangeNeedsWritePwdLastSet) {
  PasswordChange c;
  c.must_change = PasswordChange::MustChange::kRequire;
  const std::string r = AdAccessDeniedReason(User(), c);
  EXPECT_TRUE(Has(r, "may not require a password change at next logon of CN=Alice")) << r;
  EXPECT_TRUE(Has(r, "Write Property on pwdLastSet")) << r;
  EXPECT_FALSE(Has(r, "Reset Password")) << r;
}

TEST(AccessDeniedTest, AdAChangeNeedsChangePasswordNotResetPassword) {
  PasswordChange c;
  c.password = PasswordChange::Password::kChange;
  const std::string r = AdAccessDeniedReason(User(), c);
  EXPECT_TRUE(Has(r, "may not change the password of")) << r;
  EXPECT_TRUE(Has(r, "\"Change Password\"")) << r;
  EXPECT_FALSE(Has(r, "Reset Password")) << r;
}

TEST(AccessDeniedTest, AdAnAdminCountAccountIsExplainedAsProtectedByAdminSdHolder) {
  const std::string r = AdAccessDeniedReason(User(/*admin_count=*/true), ResetAndUnlock());
  EXPECT_TRUE(Has(r, "adminCount=1")) << r;
  EXPECT_TRUE(Has(r, "AdminSDHolder")) << r;
  EXPECT_TRUE(Has(r, "every 60 minutes SDProp")) << r;
  EXPECT_TRUE(Has(r, "Reset it as a domain administrator")) << r;
  EXPECT_TRUE(Has(r, "clear its adminCount and re-enable inheritance")) << r;
}

TEST(AccessDeniedTest, OpenLdapNamesTheStepAndItsOlcAccessRuleInNoAdWords) {
  const struct {
    OpenLdapStep step;
    const char* verb;
    const char* attribute;
  } cases[] = {
      {OpenLdapStep::kSetPassword, "may not set the password of uid=", "userPassword"},
      {OpenLdapStep::kUnlock, "may not unlock the account of uid=", "pwdAccountLockedTime"},
      {OpenLdapStep::kSetMustChange, "(pwdReset) of uid=", "pwdReset"}};
  Account a;
  a.dn = "uid=alice,ou=people,dc=example,dc=test";
  for (const auto& c : cases) {
    const std::string r =
        OpenLdapAccessDeniedReason(a, c.step, "cn=wbagent,ou=services,dc=example,dc=test");
    EXPECT_TRUE(Has(r, c.verb)) << r;
    EXPECT_TRUE(Has(r, std::string("`write` access to ") + c.attribute + " in olcAccess")) << r;
    EXPECT_TRUE(Has(r, std::string("`to attrs=") + c.attribute +
                           " by dn.exact=\"cn=wbagent,ou=services,dc=example,dc=test\" write`"))
        << r;
    for (const char* ad_word : {"Active Directory", "Reset Password", "lockoutTime", "pwdLastSet",
                                "AdminSDHolder", "inherit"}) {
      EXPECT_FALSE(Has(r, ad_word)) << ad_word << ": " << r;
    }
  }
}

TEST(AccessDeniedTest, OpenLdapWithSaslExternalNamesTheCertificatesIdentity) {
  Account a;
  a.dn = "uid=alice,ou=people,dc=example,dc=test";
  const std::string r = OpenLdapAccessDeniedReason(a, OpenLdapStep::kUnlock, "");
  EXPECT_TRUE(Has(r, "dn.exact=\"<the DN the client certificate maps to>\"")) << r;
}

TEST(AccessDeniedTest, APeerControlledDnIsEscaped) {
  Account a;
  a.dn = "uid=x\nlevel=error,dc=example";
  EXPECT_FALSE(Has(OpenLdapAccessDeniedReason(a, OpenLdapStep::kUnlock, "cn=s"), "\n"));
  EXPECT_FALSE(Has(AdAccessDeniedReason(a, ResetAndUnlock()), "\n"));
}

}  // namespace
}  // namespace wb::ldap
