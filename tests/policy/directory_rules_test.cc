// CheckDirectoryRules: what `validate` can tell of the directory's own rules without writing,
// one test per rule of each kind, and what it says it could not check.
#include <gtest/gtest.h>

#include "policy/policy.h"

namespace wb::policy {
namespace {

using ldap::OutcomeCode;

ldap::PasswordPolicy Ad(int min_length, bool complexity) {
  return ldap::PasswordPolicy{.kind = config::DirectoryKind::kActiveDirectory,
                              .min_length = min_length,
                              .history_length = 24,
                              .min_age = std::chrono::seconds(86400),
                              .complexity = complexity,
                              .source = "DC=corp,DC=example"};
}

ldap::PasswordPolicy OpenLdap(int min_length, int max_length, bool quality) {
  return ldap::PasswordPolicy{.kind = config::DirectoryKind::kOpenLdap,
                              .min_length = min_length,
                              .max_length = max_length,
                              .complexity = quality,
                              .source = "cn=default,ou=policies"};
}

ldap::Account Ann() {
  ldap::Account a;
  a.dn = "CN=Ann Lee,OU=Staff,DC=corp,DC=example";
  a.login_name = "alee";
  a.display_name = "Ann-Marie Lee";
  return a;
}

std::vector<OutcomeCode> Codes(const DirectoryRulesAnswer& a) {
  std::vector<OutcomeCode> out;
  for (const auto& f : a.failures) out.push_back(f.code);
  return out;
}

DirectoryRulesAnswer Check(const ldap::PasswordPolicy& p, std::string_view password,
                           const ldap::Account& account = Ann()) {
  return CheckDirectoryRules(p, account, Secret(password));
}

TEST(DirectoryRules, AdLengthCountsUtf16UnitsAgainstMinPwdLength) {
  EXPECT_TRUE(Check(Ad(8, false), "abcdefgh").failures.empty());
  EXPECT_EQ(Codes(Check(Ad(8, false), "abcdefg")),
            std::vector<OutcomeCode>{OutcomeCode::kPolicyTooShort});
  // Four characters outside the BMP are eight UTF-16 units, as AD counts them.
  EXPECT_TRUE(Check(Ad(8, false), "\U0001F600\U0001F600\U0001F600\U0001F600").failures.empty());
  // Six two-byte characters are six units, not twelve bytes.
  EXPECT_EQ(Codes(Check(Ad(8, false), "éééééé")),
            std::vector<OutcomeCode>{OutcomeCode::kPolicyTooShort});
}

TEST(DirectoryRules, AdComplexityNeedsThreeKindsOfFive) {
  EXPECT_TRUE(Check(Ad(0, true), "Winter2027").failures.empty());      // upper, lower, digit
  EXPECT_TRUE(Check(Ad(0, true), "winter-2027").failures.empty());     // lower, symbol, digit
  EXPECT_TRUE(Check(Ad(0, true), "Éte-été").failures.empty());         // upper, lower, symbol
  EXPECT_TRUE(Check(Ad(0, true), "winter日本2027").failures.empty());  // other letters count
  EXPECT_EQ(Codes(Check(Ad(0, true), "winter2027")),
            std::vector<OutcomeCode>{OutcomeCode::kPolicyComplexity});
  // A space is not one of AD's symbols.
  EXPECT_EQ(Codes(Check(Ad(0, true), "winter 2027")),
            std::vector<OutcomeCode>{OutcomeCode::kPolicyComplexity});
  // Without complexity, nothing but the length is checked.
  EXPECT_TRUE(Check(Ad(0, false), "winter").failures.empty());
}

TEST(DirectoryRules, AdComplexityRefusesTheAccountNameAndDisplayNameTokens) {
  ldap::Account no_display = Ann();
  no_display.display_name.clear();
  EXPECT_EQ(Codes(Check(Ad(0, true), "Xy-ALEE-2027", no_display)),
            std::vector<OutcomeCode>{OutcomeCode::kPolicyComplexity});
  // "Ann-Marie Lee": the tokens are "ann", "marie", "lee" (all of 3 or more characters).
  EXPECT_EQ(Codes(Check(Ad(0, true), "Xy-marie-2027")),
            std::vector<OutcomeCode>{OutcomeCode::kPolicyComplexity});
  EXPECT_EQ(Codes(Check(Ad(0, true), "Lee!2027x")),
            std::vector<OutcomeCode>{OutcomeCode::kPolicyComplexity});
  EXPECT_TRUE(Check(Ad(0, true), "Xy-mari-2027").failures.empty());
  // A name shorter than 3 characters is not checked.
  ldap::Account short_name = Ann();
  short_name.login_name = "al";
  short_name.display_name = "Al";
  EXPECT_TRUE(Check(Ad(0, true), "Xy-al-2027", short_name).failures.empty());
}

TEST(DirectoryRules, EveryFailingRuleIsListedAndNoneHoldsThePassword) {
  const auto a = Check(Ad(20, true), "alee");
  // Too short; the account name; the display name's "lee"; one kind of character.
  EXPECT_EQ(Codes(a), (std::vector<OutcomeCode>{
                          OutcomeCode::kPolicyTooShort, OutcomeCode::kPolicyComplexity,
                          OutcomeCode::kPolicyComplexity, OutcomeCode::kPolicyComplexity}));
  for (const auto& f : a.failures) {
    EXPECT_EQ(f.reason.find("alee"), std::string::npos) << f.reason;
    EXPECT_NE(f.reason.find("DC=corp,DC=example"), std::string::npos) << f.reason;
  }
}

TEST(DirectoryRules, AdSaysHistoryAndMinimumAgeWereNotChecked) {
  const auto a = Check(Ad(0, false), "anything");
  EXPECT_NE(a.not_checked.find("history (24)"), std::string::npos) << a.not_checked;
  EXPECT_NE(a.not_checked.find("minimum age (86400 s)"), std::string::npos) << a.not_checked;
}

TEST(DirectoryRules, OpenLdapChecksLengthsInBytesOnlyWithQualityChecking) {
  EXPECT_EQ(Codes(Check(OpenLdap(8, 0, true), "abcdefg")),
            std::vector<OutcomeCode>{OutcomeCode::kPolicyTooShort});
  EXPECT_TRUE(Check(OpenLdap(8, 0, true), "éééé").failures.empty());  // eight bytes
  EXPECT_EQ(Codes(Check(OpenLdap(0, 10, true), "abcdefghijk")),
            std::vector<OutcomeCode>{OutcomeCode::kPolicyTooLong});
  // pwdCheckQuality 0: slapd checks no length either.
  EXPECT_TRUE(Check(OpenLdap(8, 10, false), "abc").failures.empty());
  EXPECT_NE(Check(OpenLdap(8, 0, true), "abcdefgh").not_checked.find("pwdCheckModule"),
            std::string::npos);
}

TEST(DirectoryRules, APasswordThatIsNotUtf8FailsOnEitherKind) {
  EXPECT_EQ(Codes(Check(Ad(0, false), "ab\xff")),
            std::vector<OutcomeCode>{OutcomeCode::kPolicyViolation});
  EXPECT_EQ(Codes(Check(OpenLdap(0, 0, false), "ab\xff")),
            std::vector<OutcomeCode>{OutcomeCode::kPolicyViolation});
}

}  // namespace
}  // namespace wb::policy
