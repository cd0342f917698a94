// The policy engine's rules, one test per rule and per denial path, on facts built in the
// test (the directory's answers are given; tests/e2e and tests/ldap ask real servers).

#include "policy/policy.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <random>

#include "breached/breached.h"
#include "tests/support/fake_clock.h"
#include "tests/support/process.h"

namespace wb::policy {
namespace {

using namespace std::chrono_literals;
using protocol::RequesterType;

constexpr std::string_view kBase = "dc=corp,dc=example";

config::Config BaseConfig() {
  config::Config c;
  config::DirectoryConfig d;
  d.name = "corp";
  d.kind = config::DirectoryKind::kActiveDirectory;
  d.base_dn = std::string(kBase);
  c.directories.push_back(d);
  return c;
}

RequestFacts Self(std::vector<std::string> methods = {"email"}, std::string account = "upn:ann") {
  RequestFacts r;
  r.id = "r1";
  r.requester = {RequesterType::kSelf, "ann@corp.example", std::move(methods)};
  r.account_key = std::move(account);
  return r;
}

RequestFacts Admin(std::string id, std::vector<std::string> methods = {}) {
  RequestFacts r;
  r.id = "r2";
  r.requester = {RequesterType::kAdmin, std::move(id), std::move(methods)};
  r.account_key = "upn:ann";
  return r;
}

ldap::Account AccountAt(std::string dn) {
  ldap::Account a;
  a.dn = std::move(dn);
  return a;
}

class PolicyTest : public ::testing::Test {
 protected:
  std::unique_ptr<Policy> Open(const config::Config& c, std::vector<PastRequest> history = {},
                               BreakerState breaker = {}) {
    auto p = Policy::Open(c, clock_, history, breaker);
    EXPECT_TRUE(p.ok()) << p.error().ToString();
    return p.ok() ? std::move(*p) : nullptr;
  }
  RequestFacts Now(RequestFacts r) {
    r.received_at = clock_.Now();
    return r;
  }
  Decision Check(const Policy& p, const RequestFacts& r, const ldap::Account& a,
                 ldap::ScopeAnswers answers = {}) {
    return p.CheckAccount(r, AccountFacts{"corp", &a, std::move(answers)});
  }
  wb::testing::FakeClock clock_;
};

void ExpectDenied(const Decision& d, Code code, std::string_view rule) {
  ASSERT_EQ(d.verdict, Verdict::kDeny);
  ASSERT_NE(d.deciding(), nullptr);
  EXPECT_EQ(d.deciding()->code, code);
  EXPECT_EQ(d.deciding()->rule, rule);
  EXPECT_FALSE(d.deciding()->reason.empty());
}

// --- Names ----------------------------------------------------------------------------------

TEST(PolicyNamesTest, EveryCodeRoundTripsAndHasAUserAction) {
  for (Code c :
       {Code::kNotInAllowedSubtree, Code::kFilterNotMatched, Code::kDeniedGroup,
        Code::kProtectedAccount, Code::kVerificationInsufficient, Code::kRequesterNotAllowed,
        Code::kRateLimited, Code::kBreakerTripped, Code::kBreakerRejected}) {
    ASSERT_FALSE(CodeName(c).empty());
    EXPECT_EQ(ParseCode(CodeName(c)), c);
  }
  EXPECT_EQ(ParseCode("succeeded"), std::nullopt);
  EXPECT_EQ(UserActionFor(Code::kNotInAllowedSubtree), protocol::UserAction::kNotEnabled);
  EXPECT_EQ(UserActionFor(Code::kProtectedAccount), protocol::UserAction::kContactAdmin);
  EXPECT_EQ(UserActionFor(Code::kVerificationInsufficient), protocol::UserAction::kCouldNotVerify);
  EXPECT_EQ(UserActionFor(Code::kRateLimited), protocol::UserAction::kTryLater);
}

// --- Scope ----------------------------------------------------------------------------------

TEST_F(PolicyTest, AnAccountOutsideTheAllowedSubtreesIsDenied) {
  auto c = BaseConfig();
  c.directories[0].scope.allowed_subtrees = {"ou=Staff,dc=corp,dc=example"};
  auto p = Open(c);
  ExpectDenied(Check(*p, Self(), AccountAt("cn=Ann,ou=Admins,dc=corp,dc=example")),
               Code::kNotInAllowedSubtree, "directory[corp].scope.allowed_subtrees");
  EXPECT_EQ(Check(*p, Self(), AccountAt("cn=Ann,ou=Staff,dc=corp,dc=example")).verdict,
            Verdict::kAllow);
}

TEST_F(PolicyTest, AnEscapedCommaDoesNotPutAnAccountInsideASubtree) {
  auto c = BaseConfig();
  c.directories[0].scope.allowed_subtrees = {"ou=Staff,dc=corp,dc=example"};
  auto p = Open(c);
  // One RDN whose value holds a comma, directly under dc=corp: not under ou=Staff.
  ExpectDenied(Check(*p, Self(), AccountAt("cn=svc\\,ou=Staff,dc=corp,dc=example")),
               Code::kNotInAllowedSubtree, "directory[corp].scope.allowed_subtrees");
}

TEST_F(PolicyTest, SubtreesCompareAsDnsNotText) {
  auto c = BaseConfig();
  c.directories[0].scope.allowed_subtrees = {"OU=Staff, DC=Corp,DC=Example"};
  auto p = Open(c);
  EXPECT_EQ(Check(*p, Self(), AccountAt("cn=Ann,ou=staff,dc=corp,dc=example")).verdict,
            Verdict::kAllow);
}

TEST_F(PolicyTest, AnAccountDnThatDoesNotParseFailsClosed) {
  auto c = BaseConfig();
  c.directories[0].scope.protected_dns = {"ou=Break Glass,dc=corp,dc=example"};
  auto p = Open(c);
  ExpectDenied(Check(*p, Self(), AccountAt("not a dn")), Code::kNotInAllowedSubtree,
               "directory[corp].scope.allowed_subtrees");
}

// An account in a directory the rules do not know is denied, never checked against no scope
// at all (before, it was allowed: a reload that renamed a directory lifted its whole scope).
TEST_F(PolicyTest, AnAccountInADirectoryWithoutRulesFailsClosed) {
  auto p = Open(BaseConfig());
  const ldap::Account a = AccountAt("cn=Ann,ou=Staff,dc=corp,dc=example");
  const Decision d = p->CheckAccount(Self(), AccountFacts{"renamed", &a, {}});
  ExpectDenied(d, Code::kNotInAllowedSubtree, "directory[renamed]");
  EXPECT_TRUE(d.deciding()->enforced);
}

TEST_F(PolicyTest, AnAccountTheFilterDoesNotMatchIsDenied) {
  auto c = BaseConfig();
  c.directories[0].scope.filter = "(employeeType=staff)";
  auto p = Open(c);
  EXPECT_EQ(p->QuestionsFor("corp", RequesterType::kSelf).filter, "(employeeType=staff)");
  const auto a = AccountAt("cn=Ann,dc=corp,dc=example");
  ExpectDenied(Check(*p, Self(), a, {.matches_filter = false, .member_of = {}}),
               Code::kFilterNotMatched, "directory[corp].scope.filter");
  EXPECT_EQ(Check(*p, Self(), a, {.matches_filter = true, .member_of = {}}).verdict,
            Verdict::kAllow);
}

TEST_F(PolicyTest, AMemberOfADeniedGroupIsDeniedAndTheGroupIsNamed) {
  auto c = BaseConfig();
  c.directories[0].scope.denied_groups = {"cn=Tier0,dc=corp,dc=example",
                                          "cn=Finance,dc=corp,dc=example"};
  c.directories[0].scope.privileged_groups = {"cn=Helpdesk,dc=corp,dc=example"};
  c.policy.self_verification.privileged_methods = {"email"};
  auto p = Open(c);
  const auto q = p->QuestionsFor("corp", RequesterType::kSelf);
  ASSERT_EQ(q.groups.size(), 3u);  // denied first, then privileged
  const auto a = AccountAt("cn=Ann,dc=corp,dc=example");
  auto d = Check(*p, Self(), a, {.matches_filter = true, .member_of = {1}});
  ExpectDenied(d, Code::kDeniedGroup, "directory[corp].scope.denied_groups");
  EXPECT_NE(d.deciding()->reason.find("cn=Finance"), std::string::npos);
  // A privileged group is not a denied one.
  EXPECT_EQ(Check(*p, Self(), a, {.matches_filter = true, .member_of = {2}}).verdict,
            Verdict::kAllow);
}

TEST_F(PolicyTest, AnAdminCountAccountIsProtectedOnAd) {
  auto p = Open(BaseConfig());
  auto a = AccountAt("cn=Ann,dc=corp,dc=example");
  a.protected_account = true;
  ExpectDenied(Check(*p, Self(), a), Code::kProtectedAccount,
               "directory[corp].scope.protect_admin_count");
}

TEST_F(PolicyTest, AdminCountIsIgnoredWhenProtectAdminCountIsOff) {
  auto c = BaseConfig();
  c.directories[0].scope.protect_admin_count = false;
  auto p = Open(c);
  auto a = AccountAt("cn=Ann,dc=corp,dc=example");
  a.protected_account = true;
  EXPECT_EQ(Check(*p, Self(), a).verdict, Verdict::kAllow);
}

TEST_F(PolicyTest, AnAccountUnderAProtectedDnIsProtected) {
  auto c = BaseConfig();
  c.directories[0].scope.protect_admin_count = false;
  c.directories[0].scope.protected_dns = {"ou=Break Glass,dc=corp,dc=example"};
  auto p = Open(c);
  ExpectDenied(Check(*p, Self(), AccountAt("cn=Root,ou=break glass,dc=corp,dc=example")),
               Code::kProtectedAccount, "directory[corp].scope.protected_dns");
}

// A protected DN written in another case than the directory returns, in any script, still
// protects (before, only ASCII letters were folded, and the account was not protected).
TEST_F(PolicyTest, AProtectedDnProtectsWhateverTheCaseOfItsLetters) {
  auto c = BaseConfig();
  c.directories[0].scope.protect_admin_count = false;
  c.directories[0].scope.protected_dns = {"OU=DIRECCIÓN,DC=CORP,DC=EXAMPLE"};
  auto p = Open(c);
  ExpectDenied(Check(*p, Self(), AccountAt("CN=Ana,OU=Dirección,DC=corp,DC=example")),
               Code::kProtectedAccount, "directory[corp].scope.protected_dns");
}

TEST_F(PolicyTest, AnAllowedProtectedAccountNeedsAPrivilegedMethod) {
  auto c = BaseConfig();
  c.directories[0].admin_scope = c.directories[0].scope;
  c.directories[0].admin_scope->allow_protected = true;
  c.directories[0].admin_scope->protect_admin_count = true;
  c.policy.admin_verification.privileged_methods = {"fido2"};
  auto p = Open(c);
  auto a = AccountAt("cn=Ann,dc=corp,dc=example");
  a.protected_account = true;
  ExpectDenied(Check(*p, Admin("helpdesk-1", {"sms"}), a), Code::kVerificationInsufficient,
               "policy.verification.admin.privileged_methods");
  EXPECT_EQ(Check(*p, Admin("helpdesk-1", {"fido2"}), a).verdict, Verdict::kAllow);
  // The self-service scope still protects it.
  ExpectDenied(Check(*p, Self(), a), Code::kProtectedAccount,
               "directory[corp].scope.protect_admin_count");
}

// The admin table does not inherit the self-service one: with privileged_methods set only
// for self-service, an admin request reset a protected account or a privileged group's member
// with no verification at all. An empty list now lets no one through.
TEST_F(PolicyTest, AnEmptyPrivilegedMethodsListLetsNoOneResetAPrivilegedAccount) {
  auto c = BaseConfig();
  c.directories[0].scope.allow_protected = true;
  c.directories[0].scope.protect_admin_count = true;
  c.directories[0].scope.privileged_groups = {"cn=Finance,dc=corp,dc=example"};
  c.policy.self_verification.privileged_methods = {"fido2"};
  auto p = Open(c);
  auto a = AccountAt("cn=Ann,dc=corp,dc=example");
  a.protected_account = true;
  const auto denied = Check(*p, Admin("helpdesk-1", {"fido2", "sms"}), a);
  ExpectDenied(denied, Code::kVerificationInsufficient,
               "policy.verification.admin.privileged_methods");
  ASSERT_FALSE(denied.matches.empty());
  EXPECT_NE(denied.matches.front().reason.find("is empty, so no verification suffices"),
            std::string::npos)
      << denied.matches.front().reason;
  const auto member = AccountAt("cn=Bob,dc=corp,dc=example");
  ExpectDenied(
      Check(*p, Admin("helpdesk-1", {"fido2"}), member, {.matches_filter = true, .member_of = {0}}),
      Code::kVerificationInsufficient, "policy.verification.admin.privileged_methods");
  // An account that is neither is not affected.
  EXPECT_EQ(Check(*p, Admin("helpdesk-1", {}), member).verdict, Verdict::kAllow);
  // And the rule is listed for admin requests, saying it denies.
  const auto rules = p->RulesFor("corp", protocol::RequesterType::kAdmin);
  EXPECT_TRUE(std::any_of(rules.begin(), rules.end(), [](const RuleInfo& r) {
    return r.rule == "policy.verification.admin.privileged_methods" &&
           r.setting.find("none configured: denied") != std::string::npos;
  }));
}

TEST_F(PolicyTest, AMemberOfAPrivilegedGroupNeedsAPrivilegedMethod) {
  auto c = BaseConfig();
  c.directories[0].scope.privileged_groups = {"cn=Finance,dc=corp,dc=example"};
  c.policy.self_verification.privileged_methods = {"fido2", "authenticator_code"};
  auto p = Open(c);
  const auto a = AccountAt("cn=Ann,dc=corp,dc=example");
  ExpectDenied(Check(*p, Self({"email"}), a, {.matches_filter = true, .member_of = {0}}),
               Code::kVerificationInsufficient, "policy.verification.privileged_methods");
  EXPECT_EQ(Check(*p, Self({"email", "authenticator_code"}), a,
                  {.matches_filter = true, .member_of = {0}})
                .verdict,
            Verdict::kAllow);
}

TEST_F(PolicyTest, AdminRequestsUseTheAdminScopeWhenThereIsOne) {
  auto c = BaseConfig();
  c.directories[0].scope.allowed_subtrees = {"ou=Students,dc=corp,dc=example"};
  c.directories[0].admin_scope = config::ScopeConfig{};
  c.directories[0].admin_scope->allowed_subtrees = {"dc=corp,dc=example"};
  auto p = Open(c);
  const auto staff = AccountAt("cn=Bob,ou=Staff,dc=corp,dc=example");
  ExpectDenied(Check(*p, Self(), staff), Code::kNotInAllowedSubtree,
               "directory[corp].scope.allowed_subtrees");
  EXPECT_EQ(Check(*p, Admin("helpdesk-1"), staff).verdict, Verdict::kAllow);
}

TEST_F(PolicyTest, AnAdminRequesterNotListedIsDenied) {
  auto c = BaseConfig();
  c.directories[0].scope.admin_requesters = {"helpdesk-*", "alice@corp.example"};
  auto p = Open(c);
  const auto a = AccountAt("cn=Ann,dc=corp,dc=example");
  EXPECT_EQ(Check(*p, Admin("helpdesk-7"), a).verdict, Verdict::kAllow);
  EXPECT_EQ(Check(*p, Admin("alice@corp.example"), a).verdict, Verdict::kAllow);
  ExpectDenied(Check(*p, Admin("alice@corp.example.evil"), a), Code::kRequesterNotAllowed,
               "directory[corp].scope.admin_requesters");
  ExpectDenied(Check(*p, Admin("mallory"), a), Code::kRequesterNotAllowed,
               "directory[corp].scope.admin_requesters");
  // Self-service requests are not admin requests.
  EXPECT_EQ(Check(*p, Self(), a).verdict, Verdict::kAllow);
}

TEST_F(PolicyTest, EveryMatchingRuleIsListed) {
  auto c = BaseConfig();
  c.directories[0].scope.allowed_subtrees = {"ou=Staff,dc=corp,dc=example"};
  c.directories[0].scope.denied_groups = {"cn=Tier0,dc=corp,dc=example"};
  auto p = Open(c);
  auto a = AccountAt("cn=Ann,ou=Admins,dc=corp,dc=example");
  a.protected_account = true;
  auto d = Check(*p, Self(), a, {.matches_filter = true, .member_of = {0}});
  ASSERT_EQ(d.matches.size(), 3u);
  EXPECT_EQ(d.matches[0].code, Code::kNotInAllowedSubtree);
  EXPECT_EQ(d.matches[1].code, Code::kDeniedGroup);
  EXPECT_EQ(d.matches[2].code, Code::kProtectedAccount);
}

// --- Verification ---------------------------------------------------------------------------

TEST_F(PolicyTest, ARequestWithoutAKnownMethodIsDeniedNamingWhatWasMissing) {
  auto p = Open(BaseConfig());
  auto d = p->Admit(Now(Self({"wbcloud_cli"})));
  ExpectDenied(d, Code::kVerificationInsufficient, "policy.verification.min_methods");
  EXPECT_NE(d.deciding()->reason.find("unknown methods: wbcloud_cli"), std::string::npos);
}

TEST_F(PolicyTest, TooFewDistinctMethodsAreDenied) {
  auto c = BaseConfig();
  c.policy.self_verification.min_methods = 2;
  auto p = Open(c);
  ExpectDenied(p->Admit(Now(Self({"sms", "sms"}))), Code::kVerificationInsufficient,
               "policy.verification.min_methods");
  EXPECT_EQ(p->Admit(Now(Self({"sms", "email"}))).verdict, Verdict::kAllow);
}

TEST_F(PolicyTest, WeakMethodsDoNotCountOnTheirOwn) {
  auto c = BaseConfig();
  c.policy.self_verification.min_methods = 1;
  c.policy.self_verification.weak_methods = {"security_questions", "email"};
  auto p = Open(c);
  auto d = p->Admit(Now(Self({"security_questions", "email"})));
  ExpectDenied(d, Code::kVerificationInsufficient, "policy.verification.min_methods");
  EXPECT_NE(d.deciding()->reason.find("not in weak_methods"), std::string::npos);
  EXPECT_EQ(p->Admit(Now(Self({"security_questions", "sms"}))).verdict, Verdict::kAllow);
}

TEST_F(PolicyTest, AdminRequestsNeedNoMethodsByDefault) {
  auto p = Open(BaseConfig());
  EXPECT_EQ(p->Admit(Now(Admin("helpdesk-1"))).verdict, Verdict::kAllow);
}

// --- Log-only -------------------------------------------------------------------------------

TEST_F(PolicyTest, LogOnlyOverallMakesADenialAWouldDeny) {
  auto c = BaseConfig();
  c.policy.mode = config::PolicyMode::kLogOnly;
  c.directories[0].scope.allowed_subtrees = {"ou=Staff,dc=corp,dc=example"};
  auto p = Open(c);
  auto d = Check(*p, Self(), AccountAt("cn=Ann,ou=Admins,dc=corp,dc=example"));
  EXPECT_EQ(d.verdict, Verdict::kWouldDeny);
  ASSERT_EQ(d.matches.size(), 1u);
  EXPECT_FALSE(d.matches[0].enforced);
  EXPECT_EQ(d.deciding(), nullptr);
  EXPECT_EQ(p->Admit(Now(Self({}))).verdict, Verdict::kWouldDeny);
}

TEST_F(PolicyTest, ARuleInLogOnlyDoesNotSoftenAnEnforcedOne) {
  auto c = BaseConfig();
  c.directories[0].scope.mode = config::PolicyMode::kLogOnly;
  c.directories[0].scope.allowed_subtrees = {"ou=Staff,dc=corp,dc=example"};
  auto p = Open(c);
  const auto outside = AccountAt("cn=Ann,ou=Admins,dc=corp,dc=example");
  EXPECT_EQ(Check(*p, Self(), outside).verdict, Verdict::kWouldDeny);
  // Verification stays enforced (policy.mode is enforce).
  ExpectDenied(p->Admit(Now(Self({}))), Code::kVerificationInsufficient,
               "policy.verification.min_methods");
}

TEST_F(PolicyTest, AnEnforcedModeOnARuleOverridesLogOnlyOverall) {
  auto c = BaseConfig();
  c.policy.mode = config::PolicyMode::kLogOnly;
  c.directories[0].scope.mode = config::PolicyMode::kEnforce;
  c.directories[0].scope.denied_groups = {"cn=Tier0,dc=corp,dc=example"};
  auto p = Open(c);
  ExpectDenied(Check(*p, Self(), AccountAt("cn=Ann,dc=corp,dc=example"),
                     {.matches_filter = true, .member_of = {0}}),
               Code::kDeniedGroup, "directory[corp].scope.denied_groups");
}

// --- Rate limits and the breaker ------------------------------------------------------------

TEST_F(PolicyTest, ThePerAccountLimitDeniesUntilTheWindowMoves) {
  auto c = BaseConfig();
  c.policy.rate_limits.per_account = {2, 1h};
  auto p = Open(c);
  EXPECT_EQ(p->Admit(Now(Self())).verdict, Verdict::kAllow);
  EXPECT_EQ(p->Admit(Now(Self())).verdict, Verdict::kAllow);
  ExpectDenied(p->Admit(Now(Self())), Code::kRateLimited, "policy.rate_limits.per_account");
  EXPECT_EQ(p->Admit(Now(Self({"email"}, "upn:bob"))).verdict, Verdict::kAllow);
  clock_.Advance(1h + 1s);
  EXPECT_EQ(p->Admit(Now(Self())).verdict, Verdict::kAllow);
}

TEST_F(PolicyTest, ThePerRequesterLimitCountsAcrossAccounts) {
  auto c = BaseConfig();
  c.policy.rate_limits.per_requester = {2, 10min};
  auto p = Open(c);
  auto r = Now(Admin("helpdesk-1"));
  r.account_key = "upn:a";
  EXPECT_EQ(p->Admit(r).verdict, Verdict::kAllow);
  r.account_key = "upn:b";
  EXPECT_EQ(p->Admit(r).verdict, Verdict::kAllow);
  r.account_key = "upn:c";
  ExpectDenied(p->Admit(r), Code::kRateLimited, "policy.rate_limits.per_requester");
}

TEST_F(PolicyTest, DeniedRequestsDoNotCountAgainstTheLimits) {
  auto c = BaseConfig();
  c.policy.rate_limits.per_account = {1, 1h};
  auto p = Open(c);
  ExpectDenied(p->Admit(Now(Self({}))), Code::kVerificationInsufficient,
               "policy.verification.min_methods");
  EXPECT_EQ(p->Admit(Now(Self())).verdict, Verdict::kAllow);
}

TEST_F(PolicyTest, TheLimitsAreSeededFromHistorySoARestartDoesNotResetThem) {
  auto c = BaseConfig();
  c.policy.rate_limits.per_account = {2, 1h};
  const WallTime earlier = clock_.Now() - 30min;
  auto p = Open(c, {{"ann@corp.example", "upn:ann", earlier},
                    {"ann@corp.example", "upn:ann", earlier + 1min}});
  ExpectDenied(p->Admit(Now(Self())), Code::kRateLimited, "policy.rate_limits.per_account");
  // History older than the window does not count.
  auto q = Open(c, {{"x", "upn:ann", clock_.Now() - 2h}, {"x", "upn:ann", clock_.Now() - 3h}});
  EXPECT_EQ(q->Admit(Now(Self())).verdict, Verdict::kAllow);
}

TEST_F(PolicyTest, PassingTheOverallLimitTripsTheBreakerAndHoldsEverything) {
  auto c = BaseConfig();
  c.policy.rate_limits.overall = {3, 10min};
  auto p = Open(c);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(p->Admit(Now(Self({"email"}, "upn:" + std::to_string(i)))).verdict, Verdict::kAllow);
  }
  EXPECT_FALSE(p->Breaker().tripped);
  auto held = p->Admit(Now(Self({"email"}, "upn:x")));
  EXPECT_EQ(held.verdict, Verdict::kHold);
  ASSERT_NE(held.deciding(), nullptr);
  EXPECT_EQ(held.deciding()->code, Code::kBreakerTripped);
  EXPECT_TRUE(p->Breaker().tripped);
  EXPECT_EQ(p->Breaker().tripped_at, clock_.Now());
  // Still held when the window has moved on: only an administrator closes it.
  clock_.Advance(1h);
  EXPECT_EQ(p->Admit(Now(Self({"email"}, "upn:y"))).verdict, Verdict::kHold);
}

TEST_F(PolicyTest, ADeniedRequestIsNotHeld) {
  auto c = BaseConfig();
  c.policy.rate_limits.overall = {1, 10min};
  auto p =
      Open(c, {}, BreakerState{.tripped = true, .tripped_at = clock_.Now(), .counting_from = {}});
  EXPECT_EQ(p->Admit(Now(Self({}))).verdict, Verdict::kDeny);
  EXPECT_EQ(p->Admit(Now(Self())).verdict, Verdict::kHold);
}

TEST_F(PolicyTest, AReleaseClosesTheBreakerAndCountsFromNow) {
  auto c = BaseConfig();
  c.policy.rate_limits.overall = {2, 10min};
  auto p = Open(c);
  for (int i = 0; i < 3; ++i) p->Admit(Now(Self({"email"}, "upn:" + std::to_string(i))));
  ASSERT_TRUE(p->Breaker().tripped);
  const BreakerState released = p->ReleaseBreaker();
  EXPECT_FALSE(released.tripped);
  EXPECT_EQ(released.counting_from, clock_.Now());
  clock_.Advance(1s);
  EXPECT_EQ(p->Admit(Now(Self({"email"}, "upn:a"))).verdict, Verdict::kAllow);
  EXPECT_EQ(p->Admit(Now(Self({"email"}, "upn:b"))).verdict, Verdict::kAllow);
  EXPECT_EQ(p->Admit(Now(Self({"email"}, "upn:c"))).verdict, Verdict::kHold);
}

TEST_F(PolicyTest, ATrippedBreakerFromTheLastRunStillHolds) {
  auto c = BaseConfig();
  c.policy.rate_limits.overall = {100, 10min};
  auto p = Open(
      c, {}, BreakerState{.tripped = true, .tripped_at = clock_.Now() - 1h, .counting_from = {}});
  EXPECT_EQ(p->Admit(Now(Self())).verdict, Verdict::kHold);
}

TEST_F(PolicyTest, InLogOnlyTheBreakerWouldTripButLetsRequestsThrough) {
  auto c = BaseConfig();
  c.policy.rate_limits.overall = {1, 10min};
  c.policy.rate_limits.mode = config::PolicyMode::kLogOnly;
  auto p = Open(c);
  EXPECT_EQ(p->Admit(Now(Self({"email"}, "upn:a"))).verdict, Verdict::kAllow);
  auto d = p->Admit(Now(Self({"email"}, "upn:b")));
  EXPECT_EQ(d.verdict, Verdict::kWouldDeny);
  ASSERT_EQ(d.matches.size(), 1u);
  EXPECT_EQ(d.matches[0].code, Code::kBreakerTripped);
  EXPECT_FALSE(d.matches[0].enforced);
  EXPECT_FALSE(p->Breaker().tripped);
}

TEST_F(PolicyTest, ALimitKeepsAtMostItsCountPerKey) {
  // Memory stays bounded in log-only mode, where requests past the limit still go through.
  auto c = BaseConfig();
  c.policy.rate_limits.per_account = {3, 1h};
  c.policy.rate_limits.mode = config::PolicyMode::kLogOnly;
  auto p = Open(c);
  for (int i = 0; i < 1000; ++i) p->Admit(Now(Self()));
  clock_.Advance(1h + 1s);
  EXPECT_EQ(p->Admit(Now(Self())).verdict, Verdict::kAllow);
}

}  // namespace
}  // namespace wb::policy

namespace wb::policy {
namespace {

// --- The rules that apply (wbagent policy test) -------------------------------------------------

std::vector<std::string> Names(const std::vector<RuleInfo>& rules) {
  std::vector<std::string> out;
  for (const auto& r : rules) out.push_back(r.rule);
  return out;
}

TEST_F(PolicyTest, RulesForListsTheRulesThatAreOnInCheckingOrder) {
  auto c = BaseConfig();
  auto& s = c.directories[0].scope;
  s.allowed_subtrees = {"ou=Staff,dc=corp,dc=example"};
  s.filter = "(employeeType=staff)";
  s.denied_groups = {"cn=Tier0,dc=corp,dc=example"};
  s.protected_dns = {"ou=Break Glass,dc=corp,dc=example"};
  s.privileged_groups = {"cn=Finance,dc=corp,dc=example"};
  s.admin_requesters = {"helpdesk-*"};
  c.policy.self_verification.privileged_methods = {"fido2"};
  c.policy.rate_limits.per_account = {3, 1h};
  c.policy.rate_limits.overall = {100, 1h};
  auto p = Open(c);
  EXPECT_EQ(Names(p->RulesFor("corp", RequesterType::kSelf)),
            (std::vector<std::string>{
                "policy.verification.min_methods", "policy.rate_limits.per_account",
                "policy.rate_limits.overall", "directory[corp].scope.allowed_subtrees",
                "directory[corp].scope.filter", "directory[corp].scope.denied_groups",
                "directory[corp].scope.protect_admin_count", "directory[corp].scope.protected_dns",
                "policy.verification.privileged_methods"}));
  // admin_requesters applies to admin requests only; admin requests need no methods by default.
  const auto admin = Names(p->RulesFor("corp", RequesterType::kAdmin));
  EXPECT_NE(std::find(admin.begin(), admin.end(), "directory[corp].scope.admin_requesters"),
            admin.end());
  EXPECT_EQ(std::find(admin.begin(), admin.end(), "policy.verification.admin.min_methods"),
            admin.end());
}

TEST_F(PolicyTest, RulesForAnUnknownDirectoryHasOnlyTheAdmissionRules) {
  auto c = BaseConfig();
  c.directories[0].scope.allowed_subtrees = {"ou=Staff,dc=corp,dc=example"};
  auto p = Open(c);
  for (const auto& r : p->RulesFor("", RequesterType::kSelf)) {
    EXPECT_EQ(r.stage, Stage::kAdmission) << r.rule;
  }
}

TEST_F(PolicyTest, RulesForSaysWhichRulesAreLogOnly) {
  auto c = BaseConfig();
  c.policy.mode = config::PolicyMode::kLogOnly;
  c.directories[0].scope.allowed_subtrees = {"ou=Staff,dc=corp,dc=example"};
  c.directories[0].scope.mode = config::PolicyMode::kEnforce;
  auto p = Open(c);
  for (const auto& r : p->RulesFor("corp", RequesterType::kSelf)) {
    EXPECT_EQ(r.enforced, r.stage == Stage::kAccount) << r.rule;
    EXPECT_FALSE(r.setting.empty()) << r.rule;
  }
}

// A property over random configs and requests: whatever matches, Admit, CheckAccount and
// CheckPassword name a rule that RulesFor lists for that request, at the stage that checked it
// (so that `wbagent policy test` can show every match against its rule).
TEST_F(PolicyTest, EveryMatchNamesARuleThatRulesForLists) {
  wb::testing::TempDir dir("wbpolicyprop");
  std::ofstream(dir.path() / "breached.txt") << "0000000000000000000000000000000000000000:1\n";
  const std::filesystem::path breached_list = dir.path() / "breached.bin";
  ASSERT_TRUE(breached::Import(dir.path() / "breached.txt", breached_list, {}).ok());
  std::mt19937 rng(20261205);
  auto coin = [&] { return std::uniform_int_distribution<int>(0, 1)(rng) == 1; };
  const std::vector<std::string> methods = {"email", "sms", "security_questions", "fido2", "x"};
  for (int round = 0; round < 400; ++round) {
    auto c = BaseConfig();
    if (coin()) c.policy.mode = config::PolicyMode::kLogOnly;
    config::ScopeConfig s;
    if (coin()) s.allowed_subtrees = {"ou=Staff,dc=corp,dc=example"};
    if (coin()) s.filter = "(a=b)";
    if (coin()) s.denied_groups = {"cn=Tier0,dc=corp,dc=example"};
    if (coin()) s.protected_dns = {"ou=Staff,dc=corp,dc=example"};
    s.protect_admin_count = coin();
    s.allow_protected = coin();
    if (coin()) s.privileged_groups = {"cn=Finance,dc=corp,dc=example"};
    if (coin()) s.admin_requesters = {"helpdesk-*"};
    if (coin()) s.mode = config::PolicyMode::kEnforce;
    c.directories[0].scope = s;
    if (coin()) c.directories[0].admin_scope = s;
    c.policy.self_verification.min_methods = std::uniform_int_distribution<int>(0, 2)(rng);
    c.policy.admin_verification.min_methods = std::uniform_int_distribution<int>(0, 1)(rng);
    if (coin()) c.policy.self_verification.privileged_methods = {"fido2"};
    if (coin()) c.policy.admin_verification.privileged_methods = {"fido2"};
    if (coin()) c.policy.rate_limits.per_account = {1, 1h};
    if (coin()) c.policy.rate_limits.per_requester = {2, 1h};
    if (coin()) c.policy.rate_limits.overall = {3, 1h};
    auto random_password_rules = [&] {
      config::PasswordRulesConfig r;
      if (coin()) r.min_length = 8;
      if (coin()) r.max_length = 12;
      if (coin()) r.min_classes = 3;
      if (coin()) r.forbidden_characters = " ";
      if (coin()) r.max_repeated = 2;
      r.not_same_as_old = coin();
      r.no_name_parts = coin();
      if (coin()) r.breached_file = breached_list;
      if (coin()) r.mode = config::PolicyMode::kLogOnly;
      return r;
    };
    c.policy.self_password = random_password_rules();
    if (coin()) c.policy.admin_password = random_password_rules();
    if (coin()) c.directories[0].password = random_password_rules();
    if (coin()) c.directories[0].admin_password = random_password_rules();
    const std::vector<std::string> passwords = {
        "", "ann", "aaaa bbb", "Ann-Summer-2026!", "x\xC3\xA9\xC3\xA9\xC3\xA9y", "bad\xFF"};
    auto p = Open(c);
    ASSERT_NE(p, nullptr);
    for (int request = 0; request < 6; ++request) {
      std::vector<std::string> verified;
      for (const auto& m : methods) {
        if (coin()) verified.push_back(m);
      }
      RequestFacts r = coin() ? Self(verified) : Admin(coin() ? "helpdesk-1" : "mallory", verified);
      r = Now(r);
      auto a =
          AccountAt(coin() ? "cn=Ann,ou=Staff,dc=corp,dc=example" : "cn=Ann,dc=corp,dc=example");
      a.protected_account = coin();
      ldap::ScopeAnswers answers{.matches_filter = coin(), .member_of = {}};
      const std::size_t groups = p->QuestionsFor("corp", r.requester.type).groups.size();
      for (std::size_t g = 0; g < groups; ++g) {
        if (coin()) answers.member_of.push_back(g);
      }
      const auto rules = p->RulesFor("corp", r.requester.type);
      auto listed = [&](const RuleMatch& m, Stage stage) {
        return std::any_of(rules.begin(), rules.end(), [&](const RuleInfo& info) {
          return info.rule == m.rule && info.stage == stage && info.enforced == m.enforced;
        });
      };
      for (const auto& m : p->Admit(r).matches) {
        EXPECT_TRUE(listed(m, Stage::kAdmission)) << "round " << round << ": " << m.rule;
      }
      for (const auto& m : Check(*p, r, a, answers).matches) {
        EXPECT_TRUE(listed(m, Stage::kAccount)) << "round " << round << ": " << m.rule;
      }
      const Secret new_password(
          passwords[std::uniform_int_distribution<std::size_t>(0, passwords.size() - 1)(rng)]);
      const Secret old_password(coin() ? new_password.view() : "other");
      const PasswordFacts password{
          .directory = "corp",
          .new_password = &new_password,
          .old_password = coin() ? &old_password : nullptr,
          .names = {.login = "ann", .display = "Ann Summer", .given = "Ann", .surname = "Summer"},
          .breached_count = coin() ? std::optional<std::uint64_t>(5) : std::nullopt};
      for (const auto& m : p->CheckPassword(r, password).matches) {
        EXPECT_TRUE(listed(m, Stage::kPassword)) << "round " << round << ": " << m.rule;
      }
      clock_.Advance(1s);
    }
  }
}

}  // namespace
}  // namespace wb::policy
