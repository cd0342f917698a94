// BuildPolicySummary: what the cloud is told of each directory's password rules.
#include "agent/policy_summary.h"

#include <gtest/gtest.h>

#include "tests/support/fake_clock.h"

namespace wb::agent {
namespace {

config::Config TwoDirectories() {
  config::Config c;
  config::DirectoryConfig corp;
  corp.name = "corp";
  corp.base_dn = "dc=corp,dc=example";
  corp.upn_suffixes = {"corp.example"};
  config::PasswordRulesConfig admin;
  admin.min_length = 16;
  corp.admin_password = admin;
  config::DirectoryConfig lab;
  lab.name = "lab";
  lab.kind = config::DirectoryKind::kOpenLdap;
  lab.base_dn = "dc=lab,dc=example";
  c.directories = {corp, lab};
  config::PasswordRulesConfig& self = c.policy.self_password;
  self.min_length = 12;
  self.min_classes = 3;
  self.forbidden_characters = "<>";
  self.no_name_parts = true;
  self.mode = config::PolicyMode::kLogOnly;
  return c;
}

class PolicySummaryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto p = policy::Policy::Open(config_, clock_, {}, {});
    ASSERT_TRUE(p.ok()) << p.error().ToString();
    policy_ = std::move(*p);
  }
  config::Config config_ = TwoDirectories();
  wb::testing::FakeClock clock_;
  std::unique_ptr<policy::Policy> policy_;
};

TEST_F(PolicySummaryTest, EachDirectoryHasItsEffectiveTablesForSelfServiceAndAdmin) {
  DefaultPolicies read;
  read.emplace_back("corp", ldap::PasswordPolicy{.min_length = 7,
                                                 .history_length = 24,
                                                 .min_age = std::chrono::seconds(86400),
                                                 .complexity = true});
  read.emplace_back("lab", ldap::MakeOutcome(ldap::OutcomeCode::kDirectoryUnavailable, "down"));
  const protocol::PolicySummary s = BuildPolicySummary(config_.directories, *policy_, read);
  ASSERT_EQ(s.directories.size(), 2u);
  const auto& corp = s.directories[0];
  EXPECT_EQ(corp.name, "corp");
  EXPECT_EQ(corp.upn_suffixes, std::vector<std::string>{"corp.example"});
  ASSERT_TRUE(corp.directory.has_value());
  EXPECT_EQ(corp.directory->min_length, 7);
  EXPECT_TRUE(corp.directory->complexity);
  EXPECT_EQ(corp.directory->history_length, 24);
  EXPECT_EQ(corp.directory->min_age, std::chrono::seconds(86400));
  // Self-service: [policy.password], log-only; admin: the directory's own admin table.
  EXPECT_EQ(corp.self.min_length, 12);
  EXPECT_EQ(corp.self.min_classes, 3);
  EXPECT_EQ(corp.self.forbidden_characters, "<>");
  EXPECT_TRUE(corp.self.no_name_parts);
  EXPECT_FALSE(corp.self.enforced);
  EXPECT_EQ(corp.admin.min_length, 16);
  EXPECT_EQ(corp.admin.min_classes, 0);
  EXPECT_TRUE(corp.admin.enforced);
  // A directory that could not be read has no `directory` part; its tables are the policy's.
  const auto& lab = s.directories[1];
  EXPECT_EQ(lab.name, "lab");
  EXPECT_FALSE(lab.directory.has_value());
  EXPECT_EQ(lab.self.min_length, 12);
  EXPECT_EQ(lab.admin.min_length, 12);
}

TEST_F(PolicySummaryTest, ValuesBeyondTheProtocolsBoundsAreClampedSoTheMessageParses) {
  DefaultPolicies read;
  read.emplace_back("corp", ldap::PasswordPolicy{.min_length = 5000,
                                                 .history_length = 99999,
                                                 .min_age = std::chrono::hours(24 * 365 * 100)});
  const protocol::PolicySummary s = BuildPolicySummary(config_.directories, *policy_, read);
  ASSERT_TRUE(s.directories[0].directory.has_value());
  EXPECT_EQ(s.directories[0].directory->min_length, protocol::kMaxSummaryLength);
  EXPECT_EQ(s.directories[0].directory->history_length, protocol::kMaxSummaryHistory);
  auto parsed = protocol::ParseMessage(protocol::Serialize(s));
  EXPECT_TRUE(parsed.ok()) << parsed.error().ToString();
}

}  // namespace
}  // namespace wb::agent
