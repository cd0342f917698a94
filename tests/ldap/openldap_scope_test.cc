// Directory::AnswerScope against a real slapd with the memberof overlay: the filter and the
// nested group membership the policy engine asks about. Each test names what it proves.
#include <gtest/gtest.h>

#include "common/clock.h"
#include "ldap/directory.h"
#include "tests/ldap/directory_test_util.h"
#include "tests/support/server_gate.h"
#include "tests/support/slapd_server.h"

namespace wb::ldap {
namespace {

using config::LookupAttribute;
using testing::SlapdServer;

class OpenLdapScopeTest : public ::testing::Test {
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
    auto d = OpenDirectory(testing::MakeDirectoryConfig({config::DirectoryKind::kOpenLdap,
                                                         {server_->ldaps_url()},
                                                         server_->ca_file(),
                                                         SlapdServer::service_dn(),
                                                         SlapdServer::service_password(),
                                                         SlapdServer::base_dn(),
                                                         {LookupAttribute::kUid}},
                                                        dir_.path()),
                           clock_);
    ASSERT_TRUE(d.ok()) << d.error().ToString();
    directory_ = std::move(*d);
  }

  // A fresh user per test, found as the pipeline finds it (FindAccount reads memberOf).
  Account User(const std::string& uid) {
    EXPECT_TRUE(server_->CreateUser(uid, uid + "-Start-1").ok());
    return Find(uid);
  }
  Account Find(const std::string& uid) {
    auto account = directory_->FindAccount({LookupAttribute::kUid, uid});
    EXPECT_TRUE(account.ok()) << account.error().ToString();
    return account.ok() ? *account : Account{};
  }
  static std::string Group(const std::string& cn) { return SlapdServer::group_dn(cn); }
  static void MakeGroup(const std::string& cn, const std::vector<std::string>& members) {
    Status made = server_->CreateGroup(Group(cn), members);
    ASSERT_TRUE(made.ok()) << made.ToString();
  }

  Result<ScopeAnswers, Outcome> Ask(const Account& a, ScopeQuestions q) {
    return directory_->AnswerScope(a, q);
  }
  std::vector<std::size_t> MemberOf(const Account& a, std::vector<std::string> groups) {
    auto answers = Ask(a, {.groups = std::move(groups)});
    EXPECT_TRUE(answers.ok()) << answers.error().ToString();
    return answers.ok() ? answers->member_of : std::vector<std::size_t>{99};
  }

  static inline std::unique_ptr<SlapdServer> server_;
  static inline Status start_status_;
  testing::TempDir dir_;
  SystemClock clock_;
  std::unique_ptr<Directory> directory_;
};

using Indices = std::vector<std::size_t>;

TEST_F(OpenLdapScopeTest, NothingAskedMatchesAndIsInNoGroup) {
  auto answers = Ask(User("sc-none"), {});
  ASSERT_TRUE(answers.ok()) << answers.error().ToString();
  EXPECT_TRUE(answers->matches_filter);
  EXPECT_TRUE(answers->member_of.empty());
}

TEST_F(OpenLdapScopeTest, AUserDirectlyInADeniedGroupIsAMember) {
  User("sc-direct");
  MakeGroup("sc-denied", {SlapdServer::user_dn("sc-direct")});
  EXPECT_EQ(MemberOf(Find("sc-direct"), {Group("sc-denied")}), Indices{0});
}

TEST_F(OpenLdapScopeTest, AUserInAGroupInsideTheAskedGroupIsAMember) {
  User("sc-nested");
  MakeGroup("sc-b", {SlapdServer::user_dn("sc-nested")});
  MakeGroup("sc-a", {Group("sc-b")});
  EXPECT_EQ(MemberOf(Find("sc-nested"), {Group("sc-a")}), Indices{0});
}

TEST_F(OpenLdapScopeTest, AUserInNoGroupIsAMemberOfNone) {
  MakeGroup("sc-others", {SlapdServer::user_dn("alice")});
  EXPECT_EQ(MemberOf(User("sc-alone"), {Group("sc-others")}), Indices{});
}

TEST_F(OpenLdapScopeTest, TheAnswerNamesOnlyTheGroupsTheUserIsInAscending) {
  User("sc-some");
  MakeGroup("sc-some-in", {SlapdServer::user_dn("sc-some")});
  MakeGroup("sc-some-outer", {Group("sc-some-in")});
  MakeGroup("sc-some-not", {SlapdServer::user_dn("bob")});
  EXPECT_EQ(
      MemberOf(Find("sc-some"), {Group("sc-some-not"), Group("sc-some-outer"),
                                 "cn=sc-nowhere," + SlapdServer::groups_dn(), Group("sc-some-in")}),
      (Indices{1, 3}));
}

TEST_F(OpenLdapScopeTest, AGroupDnWrittenInAnotherCaseAndSpacingStillMatches) {
  User("sc-case");
  MakeGroup("sc-case-in", {SlapdServer::user_dn("sc-case")});
  MakeGroup("sc-case-outer", {Group("sc-case-in")});
  const Account a = Find("sc-case");
  EXPECT_EQ(MemberOf(a, {"CN=SC-Case-In , OU=Groups,DC=Example,DC=Test"}), Indices{0});
  EXPECT_EQ(MemberOf(a, {"cn = sc-case-outer,ou=GROUPS, dc=example ,dc=test"}), Indices{0});
}

TEST_F(OpenLdapScopeTest, ACycleBetweenGroupsEnds) {
  User("sc-cycle");
  MakeGroup("sc-cycle-1", {SlapdServer::user_dn("sc-cycle")});
  MakeGroup("sc-cycle-2", {Group("sc-cycle-1")});
  ASSERT_TRUE(server_->AddMember(Group("sc-cycle-1"), Group("sc-cycle-2")).ok());
  const Account a = Find("sc-cycle");
  EXPECT_EQ(MemberOf(a, {Group("sc-cycle-2")}), Indices{0});
  EXPECT_EQ(MemberOf(a, {Group("sc-others-cycle")}), Indices{});
}

TEST_F(OpenLdapScopeTest, NestingDeeperThanTheLimitIsAnErrorNotANonMember) {
  User("sc-deep");
  std::string below = SlapdServer::user_dn("sc-deep");
  for (int level = 1; level <= Directory::kMaxGroupDepth + 1; ++level) {
    const std::string cn = "sc-deep-" + std::to_string(level);
    MakeGroup(cn, {below});
    below = Group(cn);
  }
  const Account a = Find("sc-deep");
  // Level 16 is within the limit; asking for a group it cannot reach needs level 17.
  EXPECT_EQ(MemberOf(a, {Group("sc-deep-16")}), Indices{0});
  auto answers = Ask(a, {.groups = {Group("sc-deep-unrelated")}});
  ASSERT_FALSE(answers.ok());
  EXPECT_EQ(answers.error().code, OutcomeCode::kInternalError);
  EXPECT_NE(answers.error().reason.find("kMaxGroupDepth"), std::string::npos)
      << answers.error().ToString();
}

TEST_F(OpenLdapScopeTest, AGroupTheServiceAccountCannotReadIsAnErrorNotANonMember) {
  User("sc-hidden");
  const std::string hidden = "cn=sc-hidden-group," + SlapdServer::hidden_groups_dn();
  ASSERT_TRUE(server_->CreateGroup(hidden, {SlapdServer::user_dn("sc-hidden")}).ok());
  MakeGroup("sc-above-hidden", {hidden});
  auto answers = Ask(Find("sc-hidden"), {.groups = {Group("sc-above-hidden")}});
  ASSERT_FALSE(answers.ok());
  EXPECT_EQ(answers.error().code, OutcomeCode::kInternalError);
  EXPECT_NE(answers.error().reason.find("cannot be read"), std::string::npos)
      << answers.error().ToString();
}

TEST_F(OpenLdapScopeTest, AnAskedGroupThatIsNotADnIsAnError) {
  auto answers = Ask(User("sc-notdn"), {.groups = {"not a dn"}});
  ASSERT_FALSE(answers.ok());
  EXPECT_EQ(answers.error().code, OutcomeCode::kInternalError);
  EXPECT_NE(answers.error().reason.find("not a DN"), std::string::npos)
      << answers.error().ToString();
}

TEST_F(OpenLdapScopeTest, AFilterTheAccountMatchesIsAMatch) {
  auto answers = Ask(User("sc-filter-yes"), {.filter = "(&(objectClass=inetOrgPerson)"
                                                       "(mail=SC-FILTER-YES@example.test))"});
  ASSERT_TRUE(answers.ok()) << answers.error().ToString();
  EXPECT_TRUE(answers->matches_filter);
}

TEST_F(OpenLdapScopeTest, AFilterTheAccountDoesNotMatchIsNoMatch) {
  auto answers = Ask(User("sc-filter-no"), {.filter = "(mail=someone-else@example.test)"});
  ASSERT_TRUE(answers.ok()) << answers.error().ToString();
  EXPECT_FALSE(answers->matches_filter);
}

TEST_F(OpenLdapScopeTest, TheFilterIsEvaluatedOnTheAccountNotOnTheWholeDirectory) {
  // ou=people matches (ou=people): a search from base_dn would find it.
  auto answers = Ask(User("sc-filter-base"), {.filter = "(ou=people)"});
  ASSERT_TRUE(answers.ok()) << answers.error().ToString();
  EXPECT_FALSE(answers->matches_filter);
}

TEST_F(OpenLdapScopeTest, AFilterAndGroupsAreAnsweredTogether) {
  User("sc-both");
  MakeGroup("sc-both-group", {SlapdServer::user_dn("sc-both")});
  auto answers =
      Ask(Find("sc-both"), {.filter = "(uid=sc-both)", .groups = {Group("sc-both-group")}});
  ASSERT_TRUE(answers.ok()) << answers.error().ToString();
  EXPECT_TRUE(answers->matches_filter);
  EXPECT_EQ(answers->member_of, Indices{0});
}

TEST_F(OpenLdapScopeTest, AMalformedFilterIsAnInternalErrorNamingTheFilter) {
  const Account a = User("sc-filter-bad");
  auto answers = Ask(a, {.filter = "(&(uid=sc-filter-bad)"});
  ASSERT_FALSE(answers.ok());
  EXPECT_EQ(answers.error().code, OutcomeCode::kInternalError);
  EXPECT_NE(answers.error().reason.find("(&(uid=sc-filter-bad)"), std::string::npos)
      << answers.error().ToString();
  // Nothing was wrong with the server or the connection.
  EXPECT_TRUE(directory_->Health().front().healthy);
  EXPECT_TRUE(Ask(a, {.filter = "(uid=sc-filter-bad)"}).ok());
}

// RFC 4511 4.5.1.7: a filter item whose attribute or matching rule the server does not know
// is Undefined, and slapd answers "no entry" rather than an error. A filter the account must
// match then fails closed: the account is out of scope.
TEST_F(OpenLdapScopeTest, AnUnknownMatchingRuleOrAttributeOnSlapdIsNoMatch) {
  const Account a = User("sc-filter-rule");
  for (const char* filter :
       {"(uid:1.2.3.4.5.6.7:=sc-filter-rule)", "(noSuchAttribute=x)", "(!(noSuchAttribute=x))"}) {
    auto answers = Ask(a, {.filter = filter});
    ASSERT_TRUE(answers.ok()) << answers.error().ToString();
    EXPECT_FALSE(answers->matches_filter) << filter;
  }
}

TEST_F(OpenLdapScopeTest, AnAccountThatIsGoneIsUserNotFound) {
  Account a = User("sc-gone");
  auto admin = server_->AdminClient();
  ASSERT_TRUE(admin.ok());
  ASSERT_TRUE(admin->Delete(a.dn).ok());
  auto answers = Ask(a, {.filter = "(uid=sc-gone)"});
  ASSERT_FALSE(answers.ok());
  EXPECT_EQ(answers.error().code, OutcomeCode::kUserNotFound) << answers.error().ToString();
}

}  // namespace
}  // namespace wb::ldap
