// Directory::AnswerScope against a real Samba AD DC (4.17), bound as the delegated service
// account: the filter and nested group membership through LDAP_MATCHING_RULE_IN_CHAIN. Each
// test names what it proves.
#include <gtest/gtest.h>

#include <algorithm>

#include "common/clock.h"
#include "ldap/directory.h"
#include "ldap/security_descriptor.h"
#include "tests/ldap/directory_test_util.h"
#include "tests/support/ldap_test_client.h"
#include "tests/support/samba_dc.h"
#include "tests/support/server_gate.h"

namespace wb::ldap {
namespace {

using config::LookupAttribute;
using testing::SambaDc;

class AdScopeTest : public ::testing::Test {
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

  void SetUp() override {
    WB_REQUIRE_SERVER(start_status_);
    auto c = testing::MakeDirectoryConfig({config::DirectoryKind::kActiveDirectory,
                                           {dc_->ldaps_url()},
                                           dc_->ca_file(),
                                           SambaDc::service_dn(),
                                           SambaDc::service_password(),
                                           SambaDc::base_dn(),
                                           {LookupAttribute::kSamAccountName}},
                                          dir_.path());
    c.operation_timeout = std::chrono::seconds(10);
    auto d = OpenDirectory(c, clock_);
    ASSERT_TRUE(d.ok()) << d.error().ToString();
    directory_ = std::move(*d);
  }

  Account User(const std::string& name) {
    EXPECT_TRUE(dc_->CreateUser(name, "Scope-Pass-Otter-5").ok());
    return Find(name);
  }
  Account Find(const std::string& name) {
    auto account = directory_->FindAccount({LookupAttribute::kSamAccountName, name});
    EXPECT_TRUE(account.ok()) << account.error().ToString();
    return account.ok() ? *account : Account{};
  }
  static void MakeGroup(const std::string& name, const std::vector<std::string>& members) {
    Status made = dc_->CreateGroup(name, members);
    ASSERT_TRUE(made.ok()) << made.ToString();
  }
  static void SetDescription(const std::string& name, const std::string& text) {
    auto admin = dc_->AdminClient();
    ASSERT_TRUE(admin.ok());
    ASSERT_TRUE(admin
                    ->Modify(SambaDc::user_dn(name),
                             {{testing::LdapMod::Op::kReplace, "description", {text}}})
                    .ok());
  }

  static bool Lists(const std::vector<std::string>& groups, const std::string& dn) {
    return std::find(groups.begin(), groups.end(), dn) != groups.end();
  }
  static std::string GroupSid(const std::string& group) {
    auto sid = dc_->ReadAttribute(SambaDc::group_dn(group), "objectSid");
    EXPECT_TRUE(sid.ok() && sid->size() == 1);
    const auto parsed = sid.ok() && sid->size() == 1 ? ParseSidBytes(sid->front()) : std::nullopt;
    return parsed ? SidText(*parsed) : "";
  }
  // Makes `group` (which `user` must be in) the user's primary group: primaryGroupID is the
  // group's RID, the last sub-authority of its objectSid.
  static void MakePrimary(const std::string& user, const std::string& group) {
    auto admin = dc_->AdminClient();
    ASSERT_TRUE(admin.ok());
    const std::string sid = GroupSid(group);
    ASSERT_FALSE(sid.empty());
    const std::string rid = sid.substr(sid.rfind('-') + 1);
    Status set = admin->Modify(SambaDc::user_dn(user),
                               {{testing::LdapMod::Op::kReplace, "primaryGroupID", {rid}}});
    ASSERT_TRUE(set.ok()) << set.ToString();
  }

  Result<ScopeAnswers, Outcome> Ask(const Account& a, ScopeQuestions q) {
    return directory_->AnswerScope(a, q);
  }
  std::vector<std::size_t> MemberOf(const Account& a, std::vector<std::string> groups) {
    auto answers = Ask(a, {.groups = std::move(groups)});
    EXPECT_TRUE(answers.ok()) << answers.error().ToString();
    return answers.ok() ? answers->member_of : std::vector<std::size_t>{99};
  }

  static inline std::unique_ptr<SambaDc> dc_;
  static inline Status start_status_;
  testing::TempDir dir_;
  SystemClock clock_;
  std::unique_ptr<Directory> directory_;
};

using Indices = std::vector<std::size_t>;

TEST_F(AdScopeTest, AUserDirectlyInTheAskedGroupIsAMember) {
  User("sc-direct");
  MakeGroup("sc-direct-g", {SambaDc::user_dn("sc-direct")});
  EXPECT_EQ(MemberOf(Find("sc-direct"), {SambaDc::group_dn("sc-direct-g")}), Indices{0});
}

TEST_F(AdScopeTest, AUserInAGroupInsideTheAskedGroupIsAMemberThroughInChain) {
  User("sc-nested");
  MakeGroup("sc-inner", {SambaDc::user_dn("sc-nested")});
  MakeGroup("sc-middle", {SambaDc::group_dn("sc-inner")});
  MakeGroup("sc-outer", {SambaDc::group_dn("sc-middle")});
  const Account a = Find("sc-nested");
  // memberOf on the account names only the direct group: the DC followed the chain.
  EXPECT_EQ(a.groups, std::vector<std::string>{SambaDc::group_dn("sc-inner")});
  EXPECT_EQ(MemberOf(a, {SambaDc::group_dn("sc-outer")}), Indices{0});
}

TEST_F(AdScopeTest, AUserInNoAskedGroupIsAMemberOfNone) {
  MakeGroup("sc-other", {SambaDc::user_dn("alice")});
  const Account a = User("sc-alone");
  EXPECT_EQ(MemberOf(a, {SambaDc::group_dn("sc-other")}), Indices{});
  // Several groups: the OR of all of them is asked first and answers "none" alone.
  EXPECT_EQ(MemberOf(a, {SambaDc::group_dn("sc-other"),
                         "CN=Domain Admins,CN=Users," + SambaDc::base_dn()}),
            Indices{});
}

TEST_F(AdScopeTest, TheAnswerNamesOnlyTheGroupsTheUserIsInAscending) {
  User("sc-some");
  MakeGroup("sc-some-in", {SambaDc::user_dn("sc-some")});
  MakeGroup("sc-some-outer", {SambaDc::group_dn("sc-some-in")});
  MakeGroup("sc-some-not", {SambaDc::user_dn("bob")});
  EXPECT_EQ(MemberOf(Find("sc-some"),
                     {SambaDc::group_dn("sc-some-not"), SambaDc::group_dn("sc-some-outer"),
                      "CN=Domain Admins,CN=Users," + SambaDc::base_dn(),
                      SambaDc::group_dn("sc-some-in")}),
            (Indices{1, 3}));
}

TEST_F(AdScopeTest, AGroupDnWrittenInAnotherCaseStillMatches) {
  User("sc-case");
  MakeGroup("sc-case-g", {SambaDc::user_dn("sc-case")});
  EXPECT_EQ(MemberOf(Find("sc-case"), {"cn=SC-CASE-G,ou=wbusers,dc=SAMDOM,dc=example,dc=test"}),
            Indices{0});
}

TEST_F(AdScopeTest, ACycleBetweenGroupsEnds) {
  User("sc-cycle");
  MakeGroup("sc-cycle-1", {SambaDc::user_dn("sc-cycle")});
  MakeGroup("sc-cycle-2", {SambaDc::group_dn("sc-cycle-1")});
  ASSERT_TRUE(dc_->AddMember("sc-cycle-1", SambaDc::group_dn("sc-cycle-2")).ok());
  const Account a = Find("sc-cycle");
  EXPECT_EQ(MemberOf(a, {SambaDc::group_dn("sc-cycle-2")}), Indices{0});
  EXPECT_EQ(MemberOf(a, {SambaDc::group_dn("sc-other-cycle")}), Indices{});
}

// Primary groups: memberOf never names an account's primary group and IN_CHAIN does not
// follow primaryGroupID, so a group rule that asked IN_CHAIN alone missed them.

TEST_F(AdScopeTest, EveryUserIsAMemberOfDomainUsersThroughItsPrimaryGroup) {
  const Account a = User("sc-prim-default");
  const std::string domain_users = "CN=Domain Users,CN=Users," + SambaDc::base_dn();
  ASSERT_FALSE(Lists(a.groups, domain_users));
  EXPECT_EQ(a.primary_group_sid.substr(0, 9), "S-1-5-21-");
  EXPECT_EQ(a.primary_group_sid.substr(a.primary_group_sid.rfind('-')), "-513");
  EXPECT_EQ(MemberOf(a, {domain_users}), Indices{0});
}

TEST_F(AdScopeTest, AUserWhosePrimaryGroupIsTheAskedGroupIsAMember) {
  User("sc-prim-direct");
  MakeGroup("sc-prim-g", {SambaDc::user_dn("sc-prim-direct")});
  MakePrimary("sc-prim-direct", "sc-prim-g");
  const Account a = Find("sc-prim-direct");
  EXPECT_EQ(a.primary_group_sid, GroupSid("sc-prim-g"));
  // As on Windows, the DC dropped the member link to the new primary group (and made the old
  // one, Domain Users, an ordinary membership).
  EXPECT_FALSE(Lists(a.groups, SambaDc::group_dn("sc-prim-g")));
  EXPECT_EQ(MemberOf(a, {SambaDc::group_dn("sc-prim-g")}), Indices{0});
  // Several groups: the primary group's OR is asked first, then each.
  EXPECT_EQ(MemberOf(a, {SambaDc::group_dn("sc-other"), SambaDc::group_dn("sc-prim-g")}),
            Indices{1});
}

TEST_F(AdScopeTest, AUserWhosePrimaryGroupIsNestedInTheAskedGroupIsAMember) {
  User("sc-prim-nested");
  MakeGroup("sc-prim-inner", {SambaDc::user_dn("sc-prim-nested")});
  MakeGroup("sc-prim-outer", {SambaDc::group_dn("sc-prim-inner")});
  MakeGroup("sc-prim-direct-g", {SambaDc::user_dn("sc-prim-nested")});
  MakeGroup("sc-prim-unrelated", {SambaDc::user_dn("bob")});
  MakePrimary("sc-prim-nested", "sc-prim-inner");
  EXPECT_EQ(MemberOf(Find("sc-prim-nested"),
                     {SambaDc::group_dn("sc-prim-unrelated"), SambaDc::group_dn("sc-prim-outer"),
                      SambaDc::group_dn("sc-prim-direct-g")}),
            (Indices{1, 2}));
}

TEST_F(AdScopeTest, APrimaryGroupThatCannotBeReadOrFoundIsAnInternalErrorNotANonMember) {
  Account a = User("sc-prim-unknown");
  a.primary_group_sid.clear();  // as when an ACL hides objectSid or primaryGroupID
  auto answers = Ask(a, {.groups = {"CN=Domain Admins,CN=Users," + SambaDc::base_dn()}});
  ASSERT_FALSE(answers.ok());
  EXPECT_EQ(answers.error().code, OutcomeCode::kInternalError);
  EXPECT_NE(answers.error().reason.find("primaryGroupID"), std::string::npos);
  // A primary group the service account cannot find is no "not a member" either.
  a = Find("sc-prim-unknown");
  a.primary_group_sid = a.primary_group_sid.substr(0, a.primary_group_sid.rfind('-')) + "-99999";
  answers = Ask(a, {.groups = {"CN=Domain Admins,CN=Users," + SambaDc::base_dn()}});
  ASSERT_FALSE(answers.ok());
  EXPECT_EQ(answers.error().code, OutcomeCode::kInternalError);
  EXPECT_NE(answers.error().reason.find("-99999) is not found under"), std::string::npos)
      << answers.error().reason;
  // A group the account is directly in is answered without the primary group.
  MakeGroup("sc-prim-unknown-g", {SambaDc::user_dn("sc-prim-unknown")});
  EXPECT_EQ(MemberOf(a, {SambaDc::group_dn("sc-prim-unknown-g")}), Indices{0});
}

TEST_F(AdScopeTest, AFilterTheAccountMatchesIsAMatch) {
  User("sc-filter-yes");
  SetDescription("sc-filter-yes", "Faculty of Law");
  auto answers = Ask(Find("sc-filter-yes"), {.filter = "(description=faculty of law)"});
  ASSERT_TRUE(answers.ok()) << answers.error().ToString();
  EXPECT_TRUE(answers->matches_filter);
}

TEST_F(AdScopeTest, AFilterTheAccountDoesNotMatchIsNoMatch) {
  User("sc-filter-no");
  SetDescription("sc-filter-no", "Faculty of Law");
  auto answers = Ask(Find("sc-filter-no"), {.filter = "(description=Medicine)"});
  ASSERT_TRUE(answers.ok()) << answers.error().ToString();
  EXPECT_FALSE(answers->matches_filter);
}

TEST_F(AdScopeTest, AFilterCanAskForNestedGroupMembershipItself) {
  User("sc-filter-chain");
  MakeGroup("sc-filter-chain-in", {SambaDc::user_dn("sc-filter-chain")});
  MakeGroup("sc-filter-chain-out", {SambaDc::group_dn("sc-filter-chain-in")});
  auto answers =
      Ask(Find("sc-filter-chain"), {.filter = "(memberOf:1.2.840.113556.1.4.1941:=" +
                                              SambaDc::group_dn("sc-filter-chain-out") + ")"});
  ASSERT_TRUE(answers.ok()) << answers.error().ToString();
  EXPECT_TRUE(answers->matches_filter);
}

TEST_F(AdScopeTest, AMalformedFilterIsAnInternalErrorNamingTheFilter) {
  auto answers = Ask(User("sc-filter-bad"), {.filter = "(|(description=x)"});
  ASSERT_FALSE(answers.ok());
  EXPECT_EQ(answers.error().code, OutcomeCode::kInternalError);
  EXPECT_NE(answers.error().reason.find("(|(description=x)"), std::string::npos)
      << answers.error().ToString();
  EXPECT_TRUE(directory_->Health().front().healthy);
}

// Samba answers "no entry" for an unknown matching rule or attribute, so a filter the
// account must match fails closed...
TEST_F(AdScopeTest, AnUnknownMatchingRuleOrAttributeIsNoMatch) {
  const Account a = User("sc-filter-rule");
  for (const char* filter : {"(description:1.2.3.4.5.6.7:=x)", "(noSuchAttribute=x)"}) {
    auto answers = Ask(a, {.filter = filter});
    ASSERT_TRUE(answers.ok()) << answers.error().ToString();
    EXPECT_FALSE(answers->matches_filter) << filter;
  }
}

// ...but it takes the unknown attribute as FALSE, not RFC 4511's Undefined (slapd does), so its
// negation matches every account. The agent does not check filters against the schema;
// ldap/directory.h (AnswerScope) states this for the documentation.
TEST_F(AdScopeTest, ANegatedUnknownAttributeMatchesEveryAccountOnSamba) {
  auto answers = Ask(User("sc-filter-not"), {.filter = "(!(noSuchAttribute=x))"});
  ASSERT_TRUE(answers.ok()) << answers.error().ToString();
  EXPECT_TRUE(answers->matches_filter);
}

}  // namespace
}  // namespace wb::ldap
