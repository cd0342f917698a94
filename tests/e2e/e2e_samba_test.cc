// wbagent end to end against a real Samba AD DC and a real wbcloud: the demo's scenarios,
// through a delegated non-admin service account.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/e2e/e2e_util.h"
#include "tests/support/samba_dc.h"
#include "tests/support/server_gate.h"

namespace wb::testing {
namespace {

class EndToEndSambaTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto dc = SambaDc::Start();
    if (!dc.ok()) {
      start_status_ = dc.error();
      return;
    }
    dc_ = std::move(*dc);
    dir_ = std::make_unique<TempDir>("wbe2ead");
    const std::string toml =
        "[[directory]]\nname = \"samdom\"\nkind = \"ad\"\nurls = [\"" + dc_->ldaps_url() +
        "\"]\nca_file = \"" + dc_->ca_file().string() + "\"\nbind_dn = \"" + SambaDc::service_dn() +
        "\"\nbind_password_file = \"bind.password\"\nbase_dn = \"" + SambaDc::base_dn() +
        "\"\nlookup_attributes = [\"userPrincipalName\", \"sAMAccountName\"]\n"
        "history_on_reset = \"when_supported\"\n"
        // The policy would deny prot-admin (adminCount=1) before the directory is asked; here
        // the directory's own refusal is under test (e2e_samba_policy_test has the policy's).
        "\n[directory.scope]\nprotect_admin_count = false\n";
    auto d = Deploy(dir_->path(), SambaDc::service_password(), toml);
    if (!d.ok()) {
      setup_status_ = d.error();
      return;
    }
    cloud_ = std::move(d->cloud);
    agent_ = std::move(d->agents.front());
  }
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

  static nlohmann::json Submit(std::vector<std::string> args, const std::string* password) {
    args.insert(args.end(), {"--wait", "--timeout", "60"});
    CommandResult r = cloud_->Submit(args, password);
    auto j = nlohmann::json::parse(r.output.substr(r.output.find('{')), nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << r.output;
    return j;
  }

  static Status UserBind(const std::string& name, const std::string& password) {
    return TryUserBind(dc_->ldaps_url(), dc_->ca_file(), SambaDc::user_dn(name), password);
  }

  static inline std::unique_ptr<SambaDc> dc_;
  static inline std::unique_ptr<TempDir> dir_;
  static inline std::unique_ptr<Cloud> cloud_;
  static inline std::unique_ptr<Agent> agent_;
  static inline Status start_status_;
  static inline Status setup_status_;
};

TEST_F(EndToEndSambaTest, ResetByUpnSetsThePasswordAndSaysHistoryWasNotEnforced) {
  const std::string pw = "E2e-Reset-Falcon-1";
  auto result = Submit({"--user", SambaDc::upn("alice"), "--kind", "upn", "--op", "reset"}, &pw);
  EXPECT_EQ(result.value("outcome", ""), "succeeded") << result.dump();
  EXPECT_NE(result.dump().find("history not enforced"), std::string::npos) << result.dump();
  EXPECT_TRUE(UserBind("alice", pw).ok());
}

TEST_F(EndToEndSambaTest, ResetWithUnlockOfALockedUser) {
  ASSERT_TRUE(dc_->LockUserByBadBinds("bob").ok());
  const std::string pw = "E2e-Unlock-Heron-2";
  auto result = Submit({"--user", "bob", "--kind", "sam", "--op", "reset", "--unlock"}, &pw);
  EXPECT_EQ(result.value("outcome", ""), "succeeded") << result.dump();
  EXPECT_TRUE(UserBind("bob", pw).ok());
}

// A disabled account (ACCOUNTDISABLE in userAccountControl) is left as it is: no password is
// set on it and it is not unlocked; enabling it is the domain administrator's decision.
TEST_F(EndToEndSambaTest, ADisabledAccountIsNeitherResetNorUnlocked) {
  const std::string name = "disabled1";
  ASSERT_TRUE(dc_->CreateUser(name, "E2e-Disabled-Start-1").ok());
  auto disabled = dc_->samba_tool({"user", "disable", name});
  ASSERT_TRUE(disabled.ok()) << disabled.error().ToString();
  const auto pwd_last_set = dc_->ReadAttribute(SambaDc::user_dn(name), "pwdLastSet");
  ASSERT_TRUE(pwd_last_set.ok());
  const std::string pw = "E2e-Disabled-Kite-2";
  for (const auto& ops :
       std::vector<std::vector<std::string>>{{"--op", "reset", "--unlock"}, {"--op", "unlock"}}) {
    std::vector<std::string> args = {"--user", name, "--kind", "sam"};
    args.insert(args.end(), ops.begin(), ops.end());
    auto result = Submit(args, ops[1] == "reset" ? &pw : nullptr);
    EXPECT_EQ(result.value("outcome", ""), "account_disabled") << result.dump();
    EXPECT_EQ(result.value("user_action", ""), "contact_admin") << result.dump();
  }
  EXPECT_EQ(*dc_->ReadAttribute(SambaDc::user_dn(name), "pwdLastSet"), *pwd_last_set);
  const auto uac = dc_->ReadAttribute(SambaDc::user_dn(name), "userAccountControl");
  ASSERT_TRUE(uac.ok() && uac->size() == 1);
  EXPECT_NE(std::stoi(uac->front()) & 2, 0) << "ACCOUNTDISABLE was cleared";
}

#if WB_E2E_AGENT_WIPES_ON_FREE
// AD carries the password as UTF-16LE (unicodePwd): no copy of it, in either encoding, outlives
// the request in the agent's memory (common/wipe_on_free.h).
TEST_F(EndToEndSambaTest, NoPasswordOutlivesItsRequestInTheAgentsMemory) {
  const std::string pw = "E2e-Memory-Scan-Wren-7";
  auto result = Submit({"--user", "alice", "--kind", "sam", "--op", "reset"}, &pw);
  EXPECT_EQ(result.value("outcome", ""), "succeeded") << result.dump();
  const Status found = agent_->FindSecretInMemory(pw);
  EXPECT_TRUE(found.ok()) << found.ToString();
}
#endif

TEST_F(EndToEndSambaTest, RequireChangeSetsPwdLastSetToZero) {
  auto result = Submit({"--user", "carol", "--kind", "sam", "--op", "require-change"}, nullptr);
  EXPECT_EQ(result.value("outcome", ""), "succeeded") << result.dump();
  EXPECT_EQ(*dc_->ReadAttribute(SambaDc::user_dn("carol"), "pwdLastSet"),
            std::vector<std::string>{"0"});
}

TEST_F(EndToEndSambaTest, ComplexityRefusalNamesTheRule) {
  const std::string pw = "alllowercase";
  auto result = Submit({"--user", "dave", "--kind", "sam", "--op", "reset"}, &pw);
  EXPECT_EQ(result.value("outcome", ""), "policy_complexity") << result.dump();
  EXPECT_TRUE(UserBind("dave", dc_->user_password("dave")).ok());
}

TEST_F(EndToEndSambaTest, ProtectedAccountIsAccessDenied) {
  const std::string pw = "E2e-Protected-Ibis-3";
  auto result =
      Submit({"--user", SambaDc::protected_user(), "--kind", "sam", "--op", "reset"}, &pw);
  EXPECT_EQ(result.value("outcome", ""), "access_denied") << result.dump();
  const std::string reason = result.value("reason", "");
  EXPECT_NE(reason.find("may not reset the password of CN="), std::string::npos) << reason;
  EXPECT_NE(reason.find("protects it with AdminSDHolder"), std::string::npos) << reason;
  // The DC's diagnostic ends in a newline: escaped once by the agent, not again by the cloud.
  EXPECT_EQ(reason.find("x5cx"), std::string::npos) << reason;
}

}  // namespace
}  // namespace wb::testing
