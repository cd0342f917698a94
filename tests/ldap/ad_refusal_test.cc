// ldap/kind.h, ExplainRefusedChange: what a Windows DC's bare refusal of a user's change is
// taken for. Samba names its rules, so the real DC of ad_writer_test never gives the bare form.
#include <gtest/gtest.h>

#include "ldap/kind.h"

namespace wb::ldap {
namespace {

using std::chrono::hours;
using std::chrono::seconds;

const WallTime kNow = std::chrono::sys_days{std::chrono::year{2026} / 12 / 8} + hours(9);
constexpr char kBare[] =
    "0000052D: AtrErr: DSID-03190F80, #1: 0: 0000052D: DSID-03190F80, problem 1005 "
    "(CONSTRAINT_ATT_TYPE), data 0, Att 9005a (unicodePwd)";

Outcome BareRefusal() {
  Outcome o = MakeOutcome(OutcomeCode::kPolicyViolation, "the domain controller's policy refused");
  o.diagnostic = kBare;
  return o;
}

// pwdLastSet `ago`; the minimum age counts from it.
Account WrittenAgo(seconds ago) {
  Account a;
  a.password_last_set = kNow - ago;
  a.password_changed_at = a.password_last_set;
  return a;
}

PasswordPolicy MinimumAge(seconds age) {
  PasswordPolicy p;
  p.min_age = age;
  p.source = "DC=corp,DC=example";
  return p;
}

TEST(ExplainRefusedChangeTest, WithinTheMinimumAgeTheRefusalIsTooYoung) {
  Outcome o =
      ExplainRefusedChange(BareRefusal(), WrittenAgo(hours(1)), MinimumAge(hours(24)), kNow);
  EXPECT_EQ(o.code, OutcomeCode::kPolicyTooYoung);
  EXPECT_EQ(o.diagnostic, kBare);  // the DC's own words are kept
  EXPECT_NE(o.reason.find("2026-12-08T08:00:00Z"), std::string::npos) << o.reason;
  EXPECT_NE(o.reason.find("86400 s"), std::string::npos) << o.reason;
  EXPECT_NE(o.reason.find("DC=corp,DC=example"), std::string::npos) << o.reason;
}

TEST(ExplainRefusedChangeTest, PastTheMinimumAgeTheRefusalStands) {
  Outcome o =
      ExplainRefusedChange(BareRefusal(), WrittenAgo(hours(25)), MinimumAge(hours(24)), kNow);
  EXPECT_EQ(o.code, OutcomeCode::kPolicyViolation);
  EXPECT_EQ(o.diagnostic, kBare);
}

// The DC's clock may be a few seconds ahead of the agent's: at the edge the DC may have let the
// age pass and refused for another rule.
TEST(ExplainRefusedChangeTest, WithinFiveSecondsOfTheEdgeTheRefusalStands) {
  EXPECT_EQ(
      ExplainRefusedChange(BareRefusal(), WrittenAgo(seconds(86396)), MinimumAge(hours(24)), kNow)
          .code,
      OutcomeCode::kPolicyViolation);
  EXPECT_EQ(
      ExplainRefusedChange(BareRefusal(), WrittenAgo(seconds(86394)), MinimumAge(hours(24)), kNow)
          .code,
      OutcomeCode::kPolicyTooYoung);
}

TEST(ExplainRefusedChangeTest, WithoutAMinimumAgeOrAPasswordTimeTheRefusalStands) {
  EXPECT_EQ(
      ExplainRefusedChange(BareRefusal(), WrittenAgo(hours(1)), MinimumAge(seconds(0)), kNow).code,
      OutcomeCode::kPolicyViolation);
  EXPECT_EQ(ExplainRefusedChange(BareRefusal(), Account{}, MinimumAge(hours(24)), kNow).code,
            OutcomeCode::kPolicyViolation);
  Account stamped_only;  // the password's stamp alone does not count
  stamped_only.password_changed_at = kNow - hours(1);
  EXPECT_EQ(ExplainRefusedChange(BareRefusal(), stamped_only, MinimumAge(hours(24)), kNow).code,
            OutcomeCode::kPolicyViolation);
}

// A minimum age read from the directory is not trusted to fit the clock's nanoseconds.
TEST(ExplainRefusedChangeTest, AnEnormousMinimumAgeDoesNotOverflow) {
  EXPECT_EQ(ExplainRefusedChange(BareRefusal(), WrittenAgo(hours(1)),
                                 MinimumAge(seconds(922'337'203'685LL)), kNow)
                .code,
            OutcomeCode::kPolicyTooYoung);
}

// pwdLastSet 0: the DC does not hold such a user to the minimum age, so the refusal was for
// another rule, whenever the password itself was written.
TEST(ExplainRefusedChangeTest, AUserWhoMustChangeIsNotHeldToTheMinimumAge) {
  Account a;
  a.must_change_password = true;
  a.password_changed_at = kNow - hours(1);  // the reset that required the change
  EXPECT_EQ(ExplainRefusedChange(BareRefusal(), a, MinimumAge(hours(24)), kNow).code,
            OutcomeCode::kPolicyViolation);
}

// Clearing "must change" sets pwdLastSet without writing the password: the age counts from
// pwdLastSet, as the DC's does.
TEST(ExplainRefusedChangeTest, TheAgeCountsFromPwdLastSetNotFromThePasswordsStamp) {
  Account a;
  a.password_changed_at = kNow - hours(48);
  a.password_last_set = kNow - hours(1);
  EXPECT_EQ(ExplainRefusedChange(BareRefusal(), a, MinimumAge(hours(24)), kNow).code,
            OutcomeCode::kPolicyTooYoung);
  a.password_last_set = kNow - hours(48);
  a.password_changed_at = kNow - hours(1);
  EXPECT_EQ(ExplainRefusedChange(BareRefusal(), a, MinimumAge(hours(24)), kNow).code,
            OutcomeCode::kPolicyViolation);
}

// Only the DC's bare password-rule refusal: another constraint violation is not judged.
TEST(ExplainRefusedChangeTest, ARefusalWithoutThePasswordRulesCodeIsLeftAlone) {
  Outcome other = MakeOutcome(OutcomeCode::kPolicyViolation, "refused");
  other.diagnostic = "00002082: AtrErr: DSID-03151904, #1: 0: 00002082";
  EXPECT_EQ(ExplainRefusedChange(other, WrittenAgo(hours(1)), MinimumAge(hours(24)), kNow).code,
            OutcomeCode::kPolicyViolation);
}

TEST(ExplainRefusedChangeTest, ARefusalThatNamesItsRuleIsLeftAlone) {
  Outcome history = MakeOutcome(OutcomeCode::kPolicyInHistory, "in history");
  EXPECT_EQ(ExplainRefusedChange(history, WrittenAgo(hours(1)), MinimumAge(hours(24)), kNow).code,
            OutcomeCode::kPolicyInHistory);
}

}  // namespace
}  // namespace wb::ldap
