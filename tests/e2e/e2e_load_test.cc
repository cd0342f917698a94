// wbcloud load against a real wbagent and a real slapd: the load generator is the cloud for
// the run (serve stopped), the agent reconnects to it, and every reset is real.
#include <gtest/gtest.h>
#include <signal.h>

#include <nlohmann/json.hpp>

#include "tests/e2e/e2e_util.h"
#include "tests/support/server_gate.h"
#include "tests/support/slapd_server.h"

namespace wb::testing {
namespace {

const std::string kWbcloud = WB_WBCLOUD_PATH;
constexpr int kUsers = 8;
const std::string kInitial = "Load-Initial-1x";

class EndToEndLoadTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto slapd = SlapdServer::Start();
    if (!slapd.ok()) {
      start_status_ = slapd.error();
      return;
    }
    slapd_ = std::move(*slapd);
    dir_ = std::make_unique<TempDir>("wbload");
    for (int i = 0; i < kUsers; ++i) {
      setup_status_ = slapd_->CreateUser(User(i), kInitial);
      if (!setup_status_.ok()) return;
    }
    auto d = Deploy(dir_->path(), SlapdServer::service_password(), SlapdDirectoryToml(*slapd_, 5));
    if (!d.ok()) {
      setup_status_ = d.error();
      return;
    }
    cloud_ = std::move(d->cloud);
    agent_ = std::move(d->agents.front());
    // From here on `wbcloud load` is the agent's cloud; the agent reconnects to each run.
    setup_status_ = cloud_->Stop();
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

  static std::string User(int i) {
    std::string user = "load";
    user += std::to_string(i);
    return user;
  }

  // `wbcloud load --json ARGS`: the exit code and the report.
  static nlohmann::json Load(std::vector<std::string> args, int* exit_code) {
    std::vector<std::string> argv = {kWbcloud, "load",        "--state", cloud_->state().string(),
                                     "--json", "--log-level", "error"};
    argv.insert(argv.end(), args.begin(), args.end());
    CommandResult r = RunCommand(argv);
    *exit_code = r.exit_code;
    auto j = OutputJson(r);
    EXPECT_FALSE(j.empty()) << r.output;
    return j;
  }

  static std::vector<std::string> UserPasswordOf(const std::string& uid) {
    auto v = slapd_->ReadAttribute(SlapdServer::user_dn(uid), "userPassword");
    return v.ok() ? *v : std::vector<std::string>{};
  }

  static inline std::unique_ptr<SlapdServer> slapd_;
  static inline std::unique_ptr<TempDir> dir_;
  static inline std::unique_ptr<Cloud> cloud_;
  static inline std::unique_ptr<Agent> agent_;
  static inline Status start_status_;
  static inline Status setup_status_;
};

TEST_F(EndToEndLoadTest, ClosedLoopResetsEveryUsersPassword) {
  std::vector<std::vector<std::string>> before;
  for (int i = 0; i < kUsers; ++i) {
    ASSERT_TRUE(
        TryUserBind(slapd_->ldaps_url(), slapd_->ca_file(), SlapdServer::user_dn(User(i)), kInitial)
            .ok());
    before.push_back(UserPasswordOf(User(i)));
    ASSERT_FALSE(before.back().empty());
  }
  int code = -1;
  auto report = Load({"--user-pattern", "load%d", "--user-count", std::to_string(kUsers), "--kind",
                      "uid", "--requests", "40"},
                     &code);
  EXPECT_EQ(code, 0) << report.dump();
  EXPECT_EQ(report.value("mode", ""), "closed");
  EXPECT_EQ(report["outcomes"], (nlohmann::json{{"succeeded", 40}})) << report.dump();
  EXPECT_EQ(report.value("answered", 0), 40);
  EXPECT_EQ(report["latency_ms"].value("count", 0), 40);
  EXPECT_GT(report.value("credits", 0), 0);
  EXPECT_LE(report.value("concurrency", 0), report.value("credits", 0));
  EXPECT_GT(report.value("cpu_ms", 0.0), 0.0);
  // Each user's password changed: the initial one no longer binds and the stored hash is new.
  for (int i = 0; i < kUsers; ++i) {
    EXPECT_FALSE(
        TryUserBind(slapd_->ldaps_url(), slapd_->ca_file(), SlapdServer::user_dn(User(i)), kInitial)
            .ok())
        << User(i);
    EXPECT_NE(UserPasswordOf(User(i)), before[static_cast<std::size_t>(i)]) << User(i);
  }
}

TEST_F(EndToEndLoadTest, OpenLoopCountsLatencyFromTheScheduledSend) {
  int code = -1;
  auto report = Load({"--user-pattern", "load%d", "--user-count", std::to_string(kUsers), "--kind",
                      "uid", "--rate", "40", "--requests", "24", "--concurrency", "2"},
                     &code);
  EXPECT_EQ(code, 0) << report.dump();
  EXPECT_EQ(report.value("mode", ""), "open");
  EXPECT_EQ(report["outcomes"], (nlohmann::json{{"succeeded", 24}})) << report.dump();
  EXPECT_EQ(report.value("concurrency", 0), 2);
  EXPECT_EQ(report.value("offered_per_second", 0.0), 40.0);
  EXPECT_EQ(report["send_lag_ms"].value("count", 0), 24);
  // Latency from the scheduled time includes how late the request left.
  EXPECT_GE(report["latency_ms"].value("max", 0.0), report["send_lag_ms"].value("max", 0.0));
  EXPECT_TRUE(report.contains("keeps_up"));
}

TEST_F(EndToEndLoadTest, UnknownUsersAreCountedByOutcomeAndFailTheRun) {
  int code = -1;
  auto report =
      Load({"--user-pattern", "nobody%d", "--user-count", "2", "--kind", "uid", "--requests", "4"},
           &code);
  EXPECT_EQ(code, 1) << report.dump();
  EXPECT_EQ(report["outcomes"], (nlohmann::json{{"user_not_found", 4}})) << report.dump();
}

TEST_F(EndToEndLoadTest, NoAgentConnectingIsCountedAsNoConnection) {
  int code = -1;
  // Another port than the agent's: the agent never comes.
  auto report =
      Load({"--listen", std::string("127.0.0.1:").append(std::to_string(FreeLoopbackPort())),
            "--user-pattern", "load%d", "--user-count", "1", "--requests", "3", "--connect-timeout",
            "1"},
           &code);
  EXPECT_EQ(code, 1) << report.dump();
  EXPECT_EQ(report["outcomes"], (nlohmann::json{{"no_connection", 3}})) << report.dump();
}

TEST_F(EndToEndLoadTest, ArgumentErrorsExitTwoAndNameTheOption) {
  const std::string state = cloud_->state().string();
  CommandResult r = RunCommand({kWbcloud, "load", "--state", state, "--requests", "3"});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("--users-file"), std::string::npos) << r.output;
  r = RunCommand({kWbcloud, "load", "--state", state, "--user-pattern", "u%d", "--user-count", "2",
                  "--duration", "3"});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("--duration needs --rate"), std::string::npos) << r.output;
  r = RunCommand({kWbcloud, "load", "--state", state, "--user-pattern", "u%d", "--user-count", "2",
                  "--requests", "2", "--listen", "nowhere"});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("--listen"), std::string::npos) << r.output;
}

TEST_F(EndToEndLoadTest, AnAgentThatIsNotEnrolledIsRefusedBeforeAnythingIsSent) {
  CommandResult r =
      RunCommand({kWbcloud, "load", "--state", cloud_->state().string(), "--agent", "nosuch",
                  "--user-pattern", "load%d", "--user-count", "1", "--requests", "1"});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("agent nosuch is not enrolled"), std::string::npos) << r.output;
}

TEST_F(EndToEndLoadTest, AStateDirectoryWithoutAgentUrlNeedsListen) {
  TempDir empty("wbloadempty");
  CommandResult r =
      RunCommand({kWbcloud, "load", "--state", empty.path().string(), "--user-pattern", "load%d",
                  "--user-count", "1", "--requests", "1"});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("agent-url (run `wbcloud serve` once, or give --listen)"),
            std::string::npos)
      << r.output;
}

// `wbcloud load` in the background (log at info, so the agent's hello shows), started once
// the agent has said hello to it.
Result<ChildProcess> StartLoadAndWaitForHello(const std::filesystem::path& state,
                                              const std::filesystem::path& log,
                                              std::vector<std::string> args) {
  std::vector<std::string> argv = {kWbcloud, "load",        "--state", state.string(),
                                   "--json", "--log-level", "info"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto load = ChildProcess::Start(argv, log);
  if (!load.ok()) return load.error();
  WB_RETURN_IF_ERROR(WaitUntil(
      [&] {
        return ReadFileOrEmpty(log).find("says hello") != std::string::npos
                   ? Status::Ok()
                   : Unavailable("the agent has not said hello to the load run yet");
      },
      std::chrono::seconds(60), &*load));
  return load;
}

// The JSON report line in a load run's log (null when there is none).
nlohmann::json ReportIn(const std::string& output) {
  const auto at = output.find("\n{");
  if (at == std::string::npos) return nullptr;
  return nlohmann::json::parse(output.substr(at + 1, output.find('\n', at + 1) - at - 1), nullptr,
                               false);
}

int Total(const nlohmann::json& outcomes) {
  int total = 0;
  for (const auto& [outcome, count] : outcomes.items()) total += count.get<int>();
  return total;
}

// The agent stops answering mid-run (SIGSTOP): the run ends once the oldest request has waited
// --timeout, and what never came back is counted as no_result.
TEST_F(EndToEndLoadTest, AnAgentThatStopsAnsweringIsCountedAsNoResult) {
  const auto log = dir_->path() / "load-stalled.log";
  auto load =
      StartLoadAndWaitForHello(cloud_->state(), log,
                               {"--user-pattern", "load%d", "--user-count", std::to_string(kUsers),
                                "--kind", "uid", "--requests", "400", "--timeout", "1"});
  ASSERT_TRUE(load.ok()) << load.error().ToString() << "\n" << ReadFileOrEmpty(log);
  agent_->Signal(SIGSTOP);
  auto code = load->Wait(std::chrono::seconds(60));
  agent_->Signal(SIGCONT);
  ASSERT_TRUE(code.ok()) << code.error().ToString();
  EXPECT_EQ(*code, 1);
  const auto report = ReportIn(ReadFileOrEmpty(log));
  ASSERT_TRUE(report.is_object()) << ReadFileOrEmpty(log);
  EXPECT_GT(report["outcomes"].value("no_result", 0), 0) << report.dump();
  EXPECT_EQ(Total(report["outcomes"]), 400) << report.dump();
}

// SIGTERM to the load run: it reports at once, what did not come back counted as interrupted.
TEST_F(EndToEndLoadTest, AStopSignalEndsTheRunWithAReport) {
  const auto log = dir_->path() / "load-interrupted.log";
  auto load =
      StartLoadAndWaitForHello(cloud_->state(), log,
                               {"--user-pattern", "load%d", "--user-count", std::to_string(kUsers),
                                "--kind", "uid", "--requests", "400"});
  ASSERT_TRUE(load.ok()) << load.error().ToString() << "\n" << ReadFileOrEmpty(log);
  load->Signal(SIGTERM);
  auto code = load->Wait(std::chrono::seconds(30));
  ASSERT_TRUE(code.ok()) << code.error().ToString();
  EXPECT_EQ(*code, 1);
  const auto report = ReportIn(ReadFileOrEmpty(log));
  ASSERT_TRUE(report.is_object()) << ReadFileOrEmpty(log);
  EXPECT_GT(report["outcomes"].value("interrupted", 0), 0) << report.dump();
  EXPECT_EQ(Total(report["outcomes"]), 400) << report.dump();
}

// The agent's connection drops mid-run (the agent is killed): the run ends at once, and what
// was in flight or not sent yet is counted as disconnected.
TEST_F(EndToEndLoadTest, AnAgentThatDropsMidRunIsCountedAsDisconnected) {
  const auto log = dir_->path() / "load-dropped.log";
  auto load =
      StartLoadAndWaitForHello(cloud_->state(), log,
                               {"--user-pattern", "load%d", "--user-count", std::to_string(kUsers),
                                "--kind", "uid", "--requests", "400"});
  ASSERT_TRUE(load.ok()) << load.error().ToString() << "\n" << ReadFileOrEmpty(log);
  agent_->Kill();
  auto code = load->Wait(std::chrono::seconds(30));
  ASSERT_TRUE(agent_->Launch().ok());  // for the suite's teardown
  ASSERT_TRUE(code.ok()) << code.error().ToString();
  EXPECT_EQ(*code, 1);
  const auto report = ReportIn(ReadFileOrEmpty(log));
  ASSERT_TRUE(report.is_object()) << ReadFileOrEmpty(log);
  EXPECT_GT(report["outcomes"].value("disconnected", 0), 0) << report.dump();
  EXPECT_EQ(Total(report["outcomes"]), 400) << report.dump();
}

}  // namespace
}  // namespace wb::testing
