// The on-premises policy end to end against a real Samba AD DC (docs/policy.md): the scope
// rules as AD evaluates them (nested groups by LDAP_MATCHING_RULE_IN_CHAIN, adminCount). Each
// denial is checked in the cloud's result, the audit trail and the directory: the old
// password still binds, the new one does not.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <tuple>

#include "tests/e2e/e2e_util.h"
#include "tests/support/samba_dc.h"
#include "tests/support/server_gate.h"

namespace wb::testing {
namespace {

using Json = nlohmann::json;

class EndToEndSambaPolicyTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto dc = SambaDc::Start();
    if (!dc.ok()) {
      start_status_ = dc.error();
      return;
    }
    dc_ = std::move(*dc);
    setup_status_ = PrepareDirectory();
    if (!setup_status_.ok()) return;
    dir_ = std::make_unique<TempDir>("wbe2eadpolicy");
    setup_status_ = WriteFile(dir_->path() / "banned.txt", "contoso\n", 0644);
    if (!setup_status_.ok()) return;
    const std::string toml =
        "[[directory]]\nname = \"samdom\"\nkind = \"ad\"\nurls = [\"" + dc_->ldaps_url() +
        "\"]\nca_file = \"" + dc_->ca_file().string() + "\"\nbind_dn = \"" + SambaDc::service_dn() +
        "\"\nbind_password_file = \"bind.password\"\nbase_dn = \"" + SambaDc::base_dn() +
        "\"\nlookup_attributes = [\"userPrincipalName\", \"sAMAccountName\"]\n"
        "\n[directory.scope]\n"
        "allowed_subtrees = [\"" +
        SambaDc::users_ou() +
        "\"]\n"
        "filter = \"(!(description=no-self-service))\"\n"
        "denied_groups = [\"" +
        SambaDc::group_dn("pol-tier0") +
        "\"]\n"
        "\n[policy.password]\nbanned_words_file = \"" +
        (dir_->path() / "banned.txt").string() + "\"\n";
    auto d = Deploy(dir_->path(), SambaDc::service_password(), toml);
    if (!d.ok()) {
      setup_status_ = d.error();
      return;
    }
    cloud_ = std::move(d->cloud);
    agent_ = std::move(d->agents.front());
  }
  // pol-tier0 <- pol-ops <- pol-opsuser: a member of the denied group only through nesting.
  static Status PrepareDirectory() {
    for (const char* name :
         {"pol-ok", "pol-opsuser", "pol-contractor", "pol-banned", "pol-validate"}) {
      WB_RETURN_IF_ERROR(dc_->CreateUser(name, Initial()));
    }
    auto admin = dc_->AdminClient();
    if (!admin.ok()) return admin.error();
    // A display name whose tokens AD's complexity rule refuses in a password.
    WB_RETURN_IF_ERROR(admin->Modify(SambaDc::user_dn("pol-validate"),
                                     {{LdapMod::Op::kReplace, "displayName", {"Vera Quill"}}}));
    WB_RETURN_IF_ERROR(
        admin->Modify(SambaDc::user_dn("pol-contractor"),
                      {{LdapMod::Op::kReplace, "description", {"no-self-service"}}}));
    WB_RETURN_IF_ERROR(dc_->CreateGroup("pol-ops", {SambaDc::user_dn("pol-opsuser")}));
    return dc_->CreateGroup("pol-tier0", {SambaDc::group_dn("pol-ops")});
  }
  static std::string Initial() { return "Policy-Initial-Osprey-7"; }
  static void TearDownTestSuite() {
    if (agent_) (void)agent_->Stop();
    agent_.reset();
    cloud_.reset();
    dc_.reset();
    dir_.reset();
  }
  void SetUp() override {
    WB_REQUIRE_SERVER(start_status_);
    ASSERT_TRUE(setup_status_.ok()) << setup_status_.ToString();
  }

  static Json Submit(const std::string& sam, const std::string& password) {
    CommandResult r = cloud_->Submit({"--user", sam, "--kind", "sam", "--op", "reset",
                                      "--requester-type", "self", "--wait", "--timeout", "60"},
                                     &password);
    auto j =
        Json::parse(r.output.substr(std::min(r.output.find('{'), r.output.size())), nullptr, false);
    EXPECT_TRUE(j.is_object()) << r.output;
    return j.is_object() ? j : Json::object();
  }
  static bool CanBind(const std::string& dn, const std::string& password) {
    return TryUserBind(dc_->ldaps_url(), dc_->ca_file(), dn, password).ok();
  }
  static void ExpectDeniedAndUnchanged(const Json& result, const std::string& code,
                                       const std::string& dn, const std::string& old_password,
                                       const std::string& new_password) {
    EXPECT_EQ(result.value("outcome", ""), code) << result.dump();
    EXPECT_TRUE(CanBind(dn, old_password)) << "the old password no longer binds";
    EXPECT_FALSE(CanBind(dn, new_password)) << "the denied password was written";
    bool denied = false;
    std::ifstream in(agent_->state() / "audit" / "audit.jsonl");
    for (std::string line; std::getline(in, line);) {
      auto j = Json::parse(line, nullptr, false);
      if (!j.is_object() || j.value("request_id", "") != result.value("id", "")) continue;
      EXPECT_NE(j.value("event", ""), "directory_write") << line;
      denied = denied || j.value("decision", "") == "deny";
    }
    EXPECT_TRUE(denied) << "no policy_decision deny in the audit trail";
  }

  static inline std::unique_ptr<SambaDc> dc_;
  static inline std::unique_ptr<TempDir> dir_;
  static inline std::unique_ptr<Cloud> cloud_;
  static inline std::unique_ptr<Agent> agent_;
  static inline Status start_status_;
  static inline Status setup_status_;
};

TEST_F(EndToEndSambaPolicyTest, AUserInsideTheScopeIsReset) {
  const std::string pw = "Policy-Reset-Falcon-1";
  auto result = Submit("pol-ok", pw);
  EXPECT_EQ(result.value("outcome", ""), "succeeded") << result.dump();
  EXPECT_TRUE(CanBind(SambaDc::user_dn("pol-ok"), pw));
}

TEST_F(EndToEndSambaPolicyTest, AUserOutsideTheAllowedSubtreeIsDenied) {
  // svc-norights lives in CN=Users, outside OU=WbUsers.
  const std::string pw = "Outside-Scope-Heron-2";
  ExpectDeniedAndUnchanged(Submit("svc-norights", pw), "not_in_allowed_subtree",
                           SambaDc::norights_dn(), SambaDc::norights_password(), pw);
}

TEST_F(EndToEndSambaPolicyTest, AUserTheFilterExcludesIsDenied) {
  const std::string pw = "Filtered-Out-Crane-3";
  ExpectDeniedAndUnchanged(Submit("pol-contractor", pw), "filter_not_matched",
                           SambaDc::user_dn("pol-contractor"), Initial(), pw);
}

TEST_F(EndToEndSambaPolicyTest, AMemberOfADeniedGroupThroughANestedGroupIsDenied) {
  const std::string pw = "Nested-Group-Plover-4";
  ExpectDeniedAndUnchanged(Submit("pol-opsuser", pw), "denied_group",
                           SambaDc::user_dn("pol-opsuser"), Initial(), pw);
}

TEST_F(EndToEndSambaPolicyTest, AnAdminCountAccountIsProtected) {
  const std::string pw = "Protected-Admin-Ibis-5";
  const std::string name = SambaDc::protected_user();
  auto result = Submit(name, pw);
  ExpectDeniedAndUnchanged(result, "protected_account", SambaDc::user_dn(name),
                           dc_->user_password(name), pw);
  EXPECT_EQ(result.value("user_action", ""), "contact_admin") << result.dump();
}

// The password rules run before the DC sees the password: a banned word is refused with its own
// code, and the old password still binds.
TEST_F(EndToEndSambaPolicyTest, APasswordBuiltOnABannedWordIsRefusedBeforeTheDcSeesIt) {
  const std::string pw = "ContosoContoso1";  // 2 banned words + 1 character: 3 points < 5
  ExpectDeniedAndUnchanged(Submit("pol-banned", pw), "password_banned",
                           SambaDc::user_dn("pol-banned"), Initial(), pw);
  const Status secret = agent_->FindSecret(pw);
  EXPECT_TRUE(secret.ok()) << secret.ToString();
}

// --- validate and the policy summary against the DC ------------------------------------------

std::vector<std::string> PwdLastSet(const SambaDc& dc) {
  auto v = dc.ReadAttribute(SambaDc::user_dn("pol-validate"), "pwdLastSet");
  EXPECT_TRUE(v.ok()) << v.error().ToString();
  return v.ok() ? *v : std::vector<std::string>{};
}

// `validate` answers without writing: pwdLastSet is unchanged and the old password binds.
TEST_F(EndToEndSambaPolicyTest, AValidateOfAGoodPasswordSucceedsAndPwdLastSetIsUnchanged) {
  const std::string pw = "Strong-Osprey-Plume-42";
  const auto before = PwdLastSet(*dc_);
  ASSERT_FALSE(before.empty());
  const CommandResult r = cloud_->Validate({"--user", "pol-validate", "--kind", "sam"}, pw);
  const Json result = OutputJson(r);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(result.value("outcome", ""), "succeeded") << r.output;
  EXPECT_NE(result.value("note", "").find("history (24)"), std::string::npos) << r.output;
  EXPECT_EQ(PwdLastSet(*dc_), before) << "validate wrote to the DC";
  EXPECT_TRUE(CanBind(SambaDc::user_dn("pol-validate"), Initial()));
  EXPECT_FALSE(CanBind(SambaDc::user_dn("pol-validate"), pw));
  const Status secret = agent_->FindSecret(pw);
  EXPECT_TRUE(secret.ok()) << secret.ToString();
}

// AD's complexity rule as validate checks it. Its kinds-of-character part agrees with the DC:
// the same password in a real reset is refused by the DC with the same code. Its name parts
// (the account name, the display name's tokens) are Microsoft's documented rule, which Windows
// DCs apply and Samba (4.17) does not, not even for the account name: there validate fails
// closed, refusing a password the DC would take (docs/policy.md, "Validate").
TEST_F(EndToEndSambaPolicyTest, AValidateAppliesAdComplexityAsTheDcDoes) {
  const std::string two_kinds = "onlylowercase2027x";
  const auto before = PwdLastSet(*dc_);
  const CommandResult r = cloud_->Validate({"--user", "pol-validate", "--kind", "sam"}, two_kinds);
  const Json validated = OutputJson(r);
  EXPECT_EQ(validated.value("outcome", ""), "policy_complexity") << r.output;
  EXPECT_EQ(validated.value("user_action", ""), "stronger_password") << r.output;
  EXPECT_NE(validated.value("reason", "").find("3 of 5 kinds"), std::string::npos) << r.output;
  EXPECT_EQ(PwdLastSet(*dc_), before);
  const Json reset = Submit("pol-validate", two_kinds);
  EXPECT_EQ(reset.value("outcome", ""), "policy_complexity") << reset.dump();
  EXPECT_TRUE(CanBind(SambaDc::user_dn("pol-validate"), Initial()));

  for (const auto& [pw, part] : std::vector<std::pair<std::string, std::string>>{
           {"Xq-Pol-Validate-2027", "account name"}, {"Quill-Feather-2027", "display name"}}) {
    const Json named =
        OutputJson(cloud_->Validate({"--user", "pol-validate", "--kind", "sam"}, pw));
    EXPECT_EQ(named.value("outcome", ""), "policy_complexity") << named.dump();
    EXPECT_NE(named.value("reason", "").find(part), std::string::npos) << named.dump();
  }
  // A local rule is listed too: the banned word.
  const Json banned =
      OutputJson(cloud_->Validate({"--user", "pol-validate", "--kind", "sam"}, "ContosoContoso1"));
  EXPECT_EQ(banned.value("outcome", ""), "password_banned") << banned.dump();
  EXPECT_EQ(PwdLastSet(*dc_), before);
}

TEST_F(EndToEndSambaPolicyTest, ThePolicySummaryCarriesTheDomainPolicy) {
  auto arrived = cloud_->PolicySummary(std::chrono::seconds(30));
  ASSERT_TRUE(arrived.ok()) << arrived.error().ToString();
  const Json summary = *arrived;
  ASSERT_EQ(summary.value("directories", Json::array()).size(), 1u) << summary.dump();
  const Json& d = summary["directories"][0];
  EXPECT_EQ(d.value("name", ""), "samdom");
  ASSERT_TRUE(d.contains("directory")) << summary.dump();
  EXPECT_EQ(d["directory"].value("min_length", -1), 7) << summary.dump();
  EXPECT_TRUE(d["directory"].value("complexity", false)) << summary.dump();
  EXPECT_EQ(d["directory"].value("history_length", -1), 24) << summary.dump();
  EXPECT_TRUE(d["self"].value("banned_words", false)) << summary.dump();
}

// `wbagent policy test` asks the DC the same questions (IN_CHAIN, adminCount) and writes
// nothing: each denial previewed with its rule, the password unchanged.
TEST_F(EndToEndSambaPolicyTest, PolicyTestPreviewsTheDcsAnswersAndWritesNothing) {
  const std::string protected_user = SambaDc::protected_user();
  const std::vector<std::tuple<std::string, std::string, std::string>> cases = {
      {"pol-ok", "allow", ""},
      {"pol-opsuser", "deny", "directory[samdom].scope.denied_groups"},
      {"pol-contractor", "deny", "directory[samdom].scope.filter"},
      {protected_user, "deny", "directory[samdom].scope.protect_admin_count"}};
  const auto audited = std::filesystem::file_size(agent_->state() / "audit" / "audit.jsonl");
  for (const auto& [sam, verdict, rule] : cases) {
    CommandResult r = agent_->Wbagent({"policy", "test", "--json", "--user", sam, "--kind",
                                       "sAMAccountName", "--verified-by", "email"});
    auto p =
        Json::parse(r.output.substr(std::min(r.output.find('{'), r.output.size())), nullptr, false);
    ASSERT_TRUE(p.is_object()) << r.output;
    EXPECT_EQ(r.exit_code, verdict == "allow" ? 0 : 1) << r.output;
    EXPECT_EQ(p.value("verdict", ""), verdict) << r.output;
    if (rule.empty()) continue;
    bool matched = false;
    for (const auto& row : p.value("rules", Json::array())) {
      matched = matched || (row.value("rule", "") == rule && row.value("result", "") == "match");
    }
    EXPECT_TRUE(matched) << rule << ": " << r.output;
  }
  EXPECT_TRUE(CanBind(SambaDc::user_dn(protected_user), dc_->user_password(protected_user)));
  EXPECT_EQ(std::filesystem::file_size(agent_->state() / "audit" / "audit.jsonl"), audited)
      << "the preview wrote to the audit trail";
}

}  // namespace
}  // namespace wb::testing
