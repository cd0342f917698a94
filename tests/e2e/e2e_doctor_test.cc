// `wbagent doctor` end to end: the wbagent binary against a real Samba AD DC, a real wbcloud
// (with the enrolled agent running beside it) and a real tinyproxy. Each failure a doctor must
// name is made for real: a service account without delegated rights, a user whose inheritance
// is disabled, a wrong CA file, a wrong host name, an expired agent certificate, a wrong proxy
// password and a skewed clock.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>

#include "channel/doctor.h"
#include "common/files.h"
#include "tests/channel/cloud_fixture.h"
#include "tests/e2e/e2e_util.h"
#include "tests/support/fake_clock.h"
#include "tests/support/samba_dc.h"
#include "tests/support/server_gate.h"
#include "tests/support/slapd_server.h"

namespace wb::testing {
namespace {

using Json = nlohmann::json;

std::string WbagentPath() { return WB_WBAGENT_PATH; }

struct DoctorRun {
  int exit_code = -1;
  Json checks;  // id -> the check's object
  std::string output;
};
DoctorRun Doctor(const std::filesystem::path& config) {
  CommandResult r =
      RunCommand({WbagentPath(), "doctor", "--json", "--config", config.string()}, {}, nullptr);
  DoctorRun run{r.exit_code, Json::object(), r.output};
  auto j =
      Json::parse(r.output.substr(std::min(r.output.find('{'), r.output.size())), nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << r.output;
  if (j.is_discarded()) return run;
  for (const auto& c : j["checks"]) run.checks[c["id"].get<std::string>()] = c;
  return run;
}
std::string Result(const DoctorRun& run, const std::string& id) {
  if (!run.checks.contains(id)) return "(no check " + id + ")";
  return run.checks[id]["result"].get<std::string>();
}
std::string Field(const DoctorRun& run, const std::string& id, const char* field) {
  if (!run.checks.contains(id) || !run.checks[id].contains(field)) return "";
  return run.checks[id][field].get<std::string>();
}

// `config` with each `replace` applied (first text -> second), written beside it as NAME.toml.
std::filesystem::path ConfigVariant(
    const std::filesystem::path& config, const std::string& name,
    const std::vector<std::pair<std::string, std::string>>& replace) {
  std::string text = ReadFileOrEmpty(config);
  for (const auto& [from, to] : replace) {
    const auto at = text.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    if (at != std::string::npos) text.replace(at, from.size(), to);
  }
  const auto path = config.parent_path() / (name + ".toml");
  EXPECT_TRUE(WriteFile(path, text).ok());
  return path;
}

class DoctorSambaTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto dc = SambaDc::Start();
    if (!dc.ok()) {
      start_status_ = dc.error();
      return;
    }
    dc_ = std::move(*dc);
    dir_ = std::make_unique<TempDir>("wbe2edoctor");
    // The scope root is the OU the service account's rights are delegated on.
    const std::string toml =
        "[[directory]]\nname = \"samdom\"\nkind = \"ad\"\nurls = [\"" + dc_->ldaps_url() +
        "\"]\nca_file = \"" + dc_->ca_file().string() + "\"\nbind_dn = \"" + SambaDc::service_dn() +
        "\"\nbind_password_file = \"bind.password\"\nbase_dn = \"" + SambaDc::users_ou() +
        "\"\nlookup_attributes = [\"userPrincipalName\", \"sAMAccountName\"]\n";
    auto d = Deploy(dir_->path(), SambaDc::service_password(), toml);
    if (!d.ok()) {
      setup_status_ = d.error();
      return;
    }
    cloud_ = std::move(d->cloud);
    agent_ = std::move(d->agents.front());
    setup_status_ =
        WriteFile(dir_->path() / "norights.password", SambaDc::norights_password(), 0600);
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

  static std::filesystem::path Variant(
      const std::string& name, const std::vector<std::pair<std::string, std::string>>& replace) {
    return ConfigVariant(agent_->config(), name, replace);
  }

  static inline std::unique_ptr<SambaDc> dc_;
  static inline std::unique_ptr<TempDir> dir_;
  static inline std::unique_ptr<Cloud> cloud_;
  static inline std::unique_ptr<Agent> agent_;
  static inline Status start_status_;
  static inline Status setup_status_;
};

TEST_F(DoctorSambaTest, EveryCheckPassesForTheDelegatedAccountAndTheRunningAgentStaysConnected) {
  const DoctorRun run = Doctor(agent_->config());
  EXPECT_EQ(run.exit_code, 0) << run.output;
  for (const auto& [id, check] : run.checks.items()) {
    EXPECT_EQ(check["result"], "ok") << check.dump();
  }
  for (const char* id : {"agent.config",
                         "agent.state_dir",
                         "agent.audit_dir",
                         "agent.keys",
                         "agent.certificate",
                         "agent.audit",
                         "cloud.dns",
                         "cloud.tcp",
                         "cloud.tls",
                         "cloud.websocket",
                         "cloud.clock",
                         "directory.samdom.url1.dns",
                         "directory.samdom.url1.tcp",
                         "directory.samdom.url1.tls",
                         "directory.samdom.url1.bind",
                         "directory.samdom.rootdse",
                         "directory.samdom.policy",
                         "directory.samdom.size_limit",
                         "directory.samdom.rights",
                         "directory.samdom.users",
                         "directory.samdom.password_stamps"}) {
    EXPECT_TRUE(run.checks.contains(id)) << id << "\n" << run.output;
  }
  EXPECT_NE(Field(run, "directory.samdom.rights", "detail").find("Reset Password"),
            std::string::npos);
  // prot-admin (adminCount=1, inheritance blocked) is counted, not failed: policy refuses it.
  EXPECT_NE(Field(run, "directory.samdom.users", "detail").find("adminCount=1: 1"),
            std::string::npos)
      << Field(run, "directory.samdom.users", "detail");
  // Samba lets the delegated service account read when passwords were written.
  EXPECT_EQ(Result(run, "directory.samdom.password_stamps"), "ok") << run.output;
  EXPECT_FALSE(Field(run, "directory.samdom.password_stamps", "detail").starts_with("0 of"))
      << Field(run, "directory.samdom.password_stamps", "detail");
  // The probe stopped after the upgrade: the agent's session was not replaced. The cloud saw
  // one hello (the agent's), and the probe's connection as one that "sent no hello".
  const std::string cloud_log = ReadFileOrEmpty(cloud_->state().parent_path() / "wbcloud.log");
  EXPECT_NE(cloud_log.find("sent no hello"), std::string::npos) << cloud_log;
  ASSERT_NE(cloud_log.find("says hello"), std::string::npos) << cloud_log;
  EXPECT_EQ(cloud_log.find("says hello"), cloud_log.rfind("says hello")) << cloud_log;
  EXPECT_EQ(cloud_log.find("replaced by a new connection"), std::string::npos) << cloud_log;
  // status.json may lag the agent's first connection by a moment (it is rewritten when the
  // state changes): wait for connected, then the agent must still be on its one session.
  const Status connected = WaitUntil(
      [] {
        return agent_->Wbagent({"status"}).exit_code == 0 ? Status::Ok() : NotFound("not yet");
      },
      std::chrono::seconds(35));
  EXPECT_TRUE(connected.ok()) << agent_->Wbagent({"status"}).output;
  EXPECT_EQ(ReadFileOrEmpty(cloud_->state().parent_path() / "wbcloud.log").rfind("says hello"),
            cloud_log.rfind("says hello"));
  // Human output: a ✓ per check.
  CommandResult table = agent_->Wbagent({"doctor"});
  EXPECT_EQ(table.exit_code, 0) << table.output;
  EXPECT_NE(table.output.find("\u2713 rights of the service account"), std::string::npos)
      << table.output;
}

TEST_F(DoctorSambaTest, AServiceAccountWithoutTheResetRightIsNamedWithTheRightAndTheObject) {
  const auto config = Variant("norights", {{SambaDc::service_dn(), SambaDc::norights_dn()},
                                           {"bind_password_file = \"bind.password\"",
                                            "bind_password_file = \"norights.password\""}});
  const DoctorRun run = Doctor(config);
  EXPECT_EQ(run.exit_code, 1) << run.output;
  EXPECT_EQ(Result(run, "directory.samdom.url1.bind"), "ok");
  EXPECT_EQ(Result(run, "directory.samdom.rights"), "fail") << run.output;
  const std::string detail = Field(run, "directory.samdom.rights", "detail");
  EXPECT_NE(detail.find("Reset Password"), std::string::npos) << detail;
  EXPECT_NE(detail.find("Write lockoutTime"), std::string::npos) << detail;
  EXPECT_NE(detail.find(SambaDc::users_ou()), std::string::npos) << detail;
  const std::string fix = Field(run, "directory.samdom.rights", "fix");
  EXPECT_NE(fix.find(SambaDc::norights_dn()), std::string::npos) << fix;
  // The table says the same with ✗ and the fix.
  CommandResult table =
      RunCommand({WbagentPath(), "doctor", "--config", config.string()}, {}, nullptr);
  EXPECT_EQ(table.exit_code, 1);
  EXPECT_NE(table.output.find("\u2717 rights of the service account " + SambaDc::norights_dn()),
            std::string::npos)
      << table.output;
  EXPECT_NE(table.output.find("    fix: delegate to"), std::string::npos) << table.output;
}

TEST_F(DoctorSambaTest, AUserWithInheritanceDisabledIsFound) {
  // With adminCount=1 accounts in scope, prot-admin's blocked inheritance matters.
  const auto config =
      Variant("inheritance", {{"lookup_attributes = [\"userPrincipalName\", \"sAMAccountName\"]\n",
                               "lookup_attributes = [\"userPrincipalName\", \"sAMAccountName\"]\n"
                               "[directory.scope]\nprotect_admin_count = false\n"}});
  const DoctorRun run = Doctor(config);
  EXPECT_EQ(run.exit_code, 1) << run.output;
  EXPECT_EQ(Result(run, "directory.samdom.users"), "fail") << run.output;
  const std::string detail = Field(run, "directory.samdom.users", "detail");
  EXPECT_NE(detail.find("inheritance disabled: 1 (" + SambaDc::user_dn("prot-admin")),
            std::string::npos)
      << detail;
  EXPECT_NE(Field(run, "directory.samdom.users", "fix").find("enable inheritance"),
            std::string::npos);
}

TEST_F(DoctorSambaTest, AWrongCaFileFailsTlsAndSkipsTheBind) {
  const auto config = Variant("wrongca", {{"ca_file = \"" + dc_->ca_file().string() + "\"",
                                           "ca_file = \"" + cloud_->ca_file() + "\""}});
  const DoctorRun run = Doctor(config);
  EXPECT_EQ(run.exit_code, 1) << run.output;
  EXPECT_EQ(Result(run, "directory.samdom.url1.tcp"), "ok");
  EXPECT_EQ(Result(run, "directory.samdom.url1.tls"), "fail") << run.output;
  // The file named after "ca_file ", compared as a path: the one configured, not a longer
  // name that starts with it.
  const std::string detail = Field(run, "directory.samdom.url1.tls", "detail");
  const std::size_t named = detail.find("ca_file ");
  ASSERT_NE(named, std::string::npos) << detail;
  const std::size_t from = named + std::string("ca_file ").size();
  const std::string path = detail.substr(from, detail.find_first_of(": ", from) - from);
  EXPECT_EQ(std::filesystem::path(path).lexically_normal(),
            std::filesystem::path(cloud_->ca_file()).lexically_normal())
      << detail;
  EXPECT_EQ(Result(run, "directory.samdom.url1.bind"), "skipped");
  EXPECT_EQ(Result(run, "directory.samdom.rights"), "skipped");
}

TEST_F(DoctorSambaTest, AnExpiredAgentCertificateIsNamed) {
  // A copy of the state directory whose key and certificate are an expired pair.
  const auto state = dir_->path() / "state-expired";
  std::filesystem::create_directories(state);
  std::filesystem::permissions(state, std::filesystem::perms::owner_all);
  for (const char* f : {"encryption.key", "enrollment.json", "cloud-keys.json"}) {
    std::filesystem::copy_file(agent_->state() / f, state / f);
  }
  auto ca = TestCa::Create(dir_->path() / "expired-ca", "Expired CA");
  ASSERT_TRUE(ca.ok()) << ca.error().ToString();
  auto pair = ca->IssueClient("agent-1", -1);
  ASSERT_TRUE(pair.ok()) << pair.error().ToString();
  std::filesystem::copy_file(pair->cert, state / "agent.crt");
  std::filesystem::copy_file(pair->key, state / "agent.key");
  std::filesystem::permissions(state / "agent.key", std::filesystem::perms::owner_read |
                                                        std::filesystem::perms::owner_write);
  const auto config = Variant("expired", {{"state_dir = \"" + agent_->state().string() + "\"",
                                           "state_dir = \"" + state.string() + "\""}});
  const DoctorRun run = Doctor(config);
  EXPECT_EQ(run.exit_code, 1) << run.output;
  EXPECT_EQ(Result(run, "agent.keys"), "ok") << run.output;
  EXPECT_EQ(Result(run, "agent.certificate"), "fail") << run.output;
  EXPECT_NE(Field(run, "agent.certificate", "detail").find("expired"), std::string::npos);
  EXPECT_NE(Field(run, "agent.certificate", "fix").find("wbagent register"), std::string::npos);
}

TEST_F(DoctorSambaTest, AWrongProxyPasswordIsNamedAndTheRestOfTheCloudSkipped) {
  const std::regex port_re("wss://127\\.0\\.0\\.1:([0-9]+)");
  std::smatch m;
  const std::string url = cloud_->agent_url();
  ASSERT_TRUE(std::regex_search(url, m, port_re)) << url;
  Proxy proxy;
  WB_REQUIRE_SERVER(proxy.Start(dir_->path(), "wbagent", "pr0xy-Secret", {std::stoi(m[1])}));
  ASSERT_TRUE(WriteFile(dir_->path() / "proxy.password", "wrong-Secret\n", 0600).ok());
  const std::string proxy_keys =
      "proxy = \"http://wbagent@127.0.0.1:" + std::to_string(proxy.port()) +
      "\"\nproxy_password_file = \"" + (dir_->path() / "proxy.password").string() + "\"\n";
  const auto config =
      Variant("proxy", {{"heartbeat_interval = 2\n", "heartbeat_interval = 2\n" + proxy_keys}});
  const DoctorRun run = Doctor(config);
  EXPECT_EQ(run.exit_code, 1) << run.output;
  EXPECT_EQ(Result(run, "cloud.tcp"), "ok") << run.output;
  EXPECT_EQ(Result(run, "cloud.proxy"), "fail") << run.output;
  EXPECT_NE(Field(run, "cloud.proxy", "detail").find("did not accept the password"),
            std::string::npos)
      << Field(run, "cloud.proxy", "detail");
  EXPECT_EQ(Result(run, "cloud.tls"), "skipped");
  EXPECT_EQ(run.output.find("wrong-Secret"), std::string::npos);

  // With the right password the tunnel opens and the cloud is reached through it.
  ASSERT_TRUE(WriteFile(dir_->path() / "proxy.password", "pr0xy-Secret\n", 0600).ok());
  const DoctorRun good = Doctor(config);
  EXPECT_EQ(Result(good, "cloud.proxy"), "ok") << good.output;
  EXPECT_EQ(Result(good, "cloud.websocket"), "ok") << good.output;
}

TEST_F(DoctorSambaTest, AClockSkewAgainstTheCloudIsMeasuredFromTheUpgrade) {
  // The probe with a fake clock an hour ahead, against the real wbcloud.
  auto loaded = config::LoadConfig(agent_->config());
  ASSERT_TRUE(loaded.ok());
  FakeClock clock(SystemClock().Now() + std::chrono::hours(1));
  const channel::CloudProbe probe{.cloud = &loaded->cloud,
                                  .client_cert = agent_->state() / "agent.crt",
                                  .client_key = agent_->state() / "agent.key",
                                  .user_agent = "doctor-test",
                                  .max_clock_skew = std::chrono::seconds(300)};
  std::vector<CheckResult> checks = channel::DiagnoseCloud(probe, clock);
  ASSERT_FALSE(checks.empty());
  const CheckResult& skew = checks.back();
  EXPECT_EQ(skew.id, "cloud.clock");
  EXPECT_EQ(skew.state, CheckState::kFail) << skew.detail;
  EXPECT_NE(skew.detail.find("ahead of the cloud"), std::string::npos) << skew.detail;
  EXPECT_NE(skew.detail.find("(allowed: 300 s)"), std::string::npos) << skew.detail;
  EXPECT_NE(skew.fix.find("timedatectl"), std::string::npos);
  // The same probe with the right time passes.
  const auto right = channel::DiagnoseCloud(probe, SystemClock());
  EXPECT_EQ(right.back().state, CheckState::kOk) << right.back().detail;
}

// OpenLDAP: slapd with the e2e deployment's config.
class DoctorSlapdTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto started = SlapdServer::Start();
    if (!started.ok()) {
      start_status_ = started.error();
      return;
    }
    slapd_ = std::move(*started);
    dir_ = std::make_unique<TempDir>("wbe2edoctorslapd");
    auto d = Deploy(dir_->path(), SlapdServer::service_password(), SlapdDirectoryToml(*slapd_, 5));
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
    slapd_.reset();
    dir_.reset();
  }
  void SetUp() override {
    WB_REQUIRE_SERVER(start_status_);
    ASSERT_TRUE(setup_status_.ok()) << setup_status_.ToString();
  }
  static inline std::unique_ptr<SlapdServer> slapd_;
  static inline std::unique_ptr<TempDir> dir_;
  static inline std::unique_ptr<Cloud> cloud_;
  static inline std::unique_ptr<Agent> agent_;
  static inline Status start_status_;
  static inline Status setup_status_;
};

TEST_F(DoctorSlapdTest, OpenLdapRightsAreSaidToBeUnknowableWithoutWritingNotPassed) {
  const DoctorRun run = Doctor(agent_->config());
  EXPECT_EQ(run.exit_code, 0) << run.output;
  EXPECT_EQ(Result(run, "directory.corp.url1.bind"), "ok") << run.output;
  EXPECT_EQ(Result(run, "directory.corp.rootdse"), "ok") << run.output;
  EXPECT_NE(Field(run, "directory.corp.rootdse", "detail").find("Password Modify exop: advertised"),
            std::string::npos)
      << Field(run, "directory.corp.rootdse", "detail");
  EXPECT_EQ(Result(run, "directory.corp.policy"), "ok") << run.output;
  EXPECT_EQ(Result(run, "directory.corp.rights"), "skipped") << run.output;
  EXPECT_NE(Field(run, "directory.corp.rights", "detail").find("cannot be known without writing"),
            std::string::npos);
}

TEST_F(DoctorSlapdTest, AServerSizeLimitBelowTwoFailsNamingOlcLimits) {
  EXPECT_EQ(Result(Doctor(agent_->config()), "directory.corp.size_limit"), "ok");
  const auto password = agent_->config().parent_path() / "limited.password";
  ASSERT_TRUE(WriteFile(password, SlapdServer::limited_password(), 0600).ok());
  const auto config = ConfigVariant(
      agent_->config(), "limited",
      {{SlapdServer::service_dn(), SlapdServer::limited_dn()},
       {"bind_password_file = \"bind.password\"", "bind_password_file = \"limited.password\""}});
  const DoctorRun run = Doctor(config);
  EXPECT_EQ(run.exit_code, 1) << run.output;
  EXPECT_EQ(Result(run, "directory.corp.url1.bind"), "ok") << run.output;
  EXPECT_EQ(Result(run, "directory.corp.size_limit"), "fail") << run.output;
  EXPECT_NE(Field(run, "directory.corp.size_limit", "detail").find("at most 1 entry per search"),
            std::string::npos)
      << run.output;
  EXPECT_NE(Field(run, "directory.corp.size_limit", "fix")
                .find("olcLimits: dn.exact=\"" + SlapdServer::limited_dn() + "\""),
            std::string::npos)
      << run.output;
}

TEST_F(DoctorSlapdTest, AnAcceptedServerCertificateShowsItsDaysLeft) {
  auto cert = slapd_->ca().IssueServer("thirty", {"IP:127.0.0.1", "DNS:localhost"}, 30);
  ASSERT_TRUE(cert.ok()) << cert.error().ToString();
  ASSERT_TRUE(slapd_->ServeCertificate(*cert).ok());
  const DoctorRun run = Doctor(agent_->config());
  EXPECT_EQ(Result(run, "directory.corp.url1.tls"), "ok") << run.output;
  const std::string detail = Field(run, "directory.corp.url1.tls", "detail");
  // 30 days from a minute ago, or a little less, as the CA counts.
  EXPECT_TRUE(detail.find("(29 days left)") != std::string::npos ||
              detail.find("(30 days left)") != std::string::npos)
      << detail;
}

TEST_F(DoctorSlapdTest, AServerCertificateExpiringWithinTheWarnWindowFailsWithWhatToDo) {
  auto soon = slapd_->ca().IssueServer("soon", {"IP:127.0.0.1", "DNS:localhost"}, 5);
  ASSERT_TRUE(soon.ok()) << soon.error().ToString();
  ASSERT_TRUE(slapd_->ServeCertificate(*soon).ok());
  const DoctorRun run = Doctor(agent_->config());
  auto good = slapd_->ca().IssueServer("good", {"IP:127.0.0.1", "DNS:localhost"});
  ASSERT_TRUE(good.ok());
  ASSERT_TRUE(slapd_->ServeCertificate(*good).ok());
  EXPECT_EQ(run.exit_code, 1) << run.output;
  EXPECT_EQ(Result(run, "directory.corp.url1.tls"), "fail") << run.output;
  const std::string detail = Field(run, "directory.corp.url1.tls", "detail");
  EXPECT_TRUE(detail.find("(4 days left)") != std::string::npos ||
              detail.find("(5 days left)") != std::string::npos)
      << detail;
  EXPECT_NE(detail.find("within the 14 days"), std::string::npos) << detail;
  EXPECT_NE(Field(run, "directory.corp.url1.tls", "fix").find("renew the certificate of ldaps://"),
            std::string::npos)
      << Field(run, "directory.corp.url1.tls", "fix");
  // libldap accepted it: the bind and what follows still ran.
  EXPECT_EQ(Result(run, "directory.corp.url1.bind"), "ok") << run.output;
}

TEST_F(DoctorSlapdTest, ACertificateForAnotherHostNameFailsTlsNamingTheHost) {
  auto cert = slapd_->ca().IssueServer("otherhost", {"DNS:other.example.test"});
  ASSERT_TRUE(cert.ok()) << cert.error().ToString();
  ASSERT_TRUE(slapd_->ServeCertificate(*cert).ok());
  const DoctorRun run = Doctor(agent_->config());
  auto good = slapd_->ca().IssueServer("good", {"IP:127.0.0.1", "DNS:localhost"});
  ASSERT_TRUE(good.ok());
  ASSERT_TRUE(slapd_->ServeCertificate(*good).ok());
  EXPECT_EQ(run.exit_code, 1) << run.output;
  EXPECT_EQ(Result(run, "directory.corp.url1.tls"), "fail") << run.output;
  const std::string detail = Field(run, "directory.corp.url1.tls", "detail");
  EXPECT_NE(detail.find("other.example.test"), std::string::npos) << detail;
  EXPECT_NE(detail.find("127.0.0.1"), std::string::npos) << detail;
  EXPECT_EQ(Result(run, "directory.corp.url1.bind"), "skipped");
  EXPECT_EQ(Result(run, "directory.corp.rights"), "skipped");
}

}  // namespace
}  // namespace wb::testing
