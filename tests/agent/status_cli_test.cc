// Drives `wbagent status` against a state directory the test prepares: a status.json as the
// daemon writes it (Daemon::WriteStatus) and a queue opened the way the daemon holds it.
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>

#include "audit/audit.h"
#include "tests/agent/inspect_test_util.h"

namespace wb::testing {
namespace {

using nlohmann::json;
using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

class StatusCliTest : public InspectTest {
 protected:
  // What a running, connected daemon writes, updated `age` ago.
  json DaemonStatus(const std::string& channel_state = "connected",
                    seconds age = seconds(1)) const {
    const WallTime now = clock_.Now();
    const std::string updated = audit::FormatTime(now - age);
    return {
        {"pid", ::getpid()},
        {"version", "9.9.9"},
        {"updated_at", updated},
        {"channel",
         {{"state", channel_state},
          {"since", audit::FormatTime(now - minutes(5))},
          {"last_error", channel_state == "connected" ? "" : "unavailable: connection refused"},
          {"tenant", "contoso"}}},
        {"directory_servers", json::array({{{"directory", "corp"},
                                            {"url", "ldaps://dc1.corp.example.com"},
                                            {"healthy", true},
                                            {"last_error", ""}},
                                           {{"directory", "corp"},
                                            {"url", "ldaps://dc2.corp.example.com"},
                                            {"healthy", false},
                                            {"last_error", "server_down: connection refused"}}})},
        {"last_success", audit::FormatTime(now - minutes(3))},
        {"last_failure", audit::FormatTime(now - hours(1))},
        {"last_failure_outcome", "user_not_found"}};
  }

  // The pid of a process that has exited (and been reaped).
  static pid_t ExitedPid() {
    const pid_t child = ::fork();
    if (child == 0) ::_exit(0);
    EXPECT_GT(child, 0);
    EXPECT_EQ(::waitpid(child, nullptr, 0), child);
    return child;
  }

  void WriteStatus(const json& status) {
    std::filesystem::create_directories(state());
    ASSERT_TRUE(WriteFile(state() / "status.json", status.dump(2) + "\n").ok());
  }

  // A queue with one received and one ready request, held open as the daemon holds it.
  void MakeQueue() {
    OpenQueue();
    Enqueue("req-received", "alice");
    Enqueue("req-ready", "bob");
    ASSERT_TRUE(queue_->MarkReady("req-ready").ok());
  }

  CommandResult Status(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"status", "-c", config().string()};
    args.insert(args.end(), extra.begin(), extra.end());
    return Wbagent(args);
  }
};

TEST_F(StatusCliTest, HasHelp) {
  CommandResult r = Wbagent({"status", "--help"});
  EXPECT_EQ(r.exit_code, 0);
  for (const char* option : {"--config", "--json", "--state-dir"}) {
    EXPECT_TRUE(Contains(r.output, option)) << option;
  }
}

TEST_F(StatusCliTest, WithoutStatusFileSaysNotRunningAndExits1) {
  CommandResult r = Status();
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(Contains(r.output, "NOT RUNNING")) << r.output;
  EXPECT_TRUE(Contains(r.output, (state() / "status.json").string() + " is missing")) << r.output;
  EXPECT_TRUE(Contains(r.output, "no queue yet")) << r.output;
}

TEST_F(StatusCliTest, WithoutStatusFileJsonSaysMissing) {
  CommandResult r = Status({"--json"});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  json j = json::parse(r.output);
  EXPECT_EQ(j["running"], false);
  EXPECT_EQ(j["connected"], false);
  EXPECT_EQ(j["agent"]["state"], "missing");
  EXPECT_TRUE(j["agent"]["pid"].is_null());
  EXPECT_TRUE(j["queue"].contains("error"));
}

TEST_F(StatusCliTest, RunningAndConnectedShowsEverythingAndExits0) {
  MakeQueue();
  WriteStatus(DaemonStatus());
  CommandResult r = Status();
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(Contains(r.output, "running (pid " + std::to_string(::getpid()) + ", wbagent 9.9.9"))
      << r.output;
  EXPECT_TRUE(Contains(r.output, "channel:      connected since")) << r.output;
  EXPECT_TRUE(Contains(r.output, " (5m ")) << r.output;
  EXPECT_TRUE(Contains(r.output, "s ago), tenant contoso")) << r.output;
  EXPECT_TRUE(Contains(r.output, "2 pending, the oldest received")) << r.output;
  EXPECT_TRUE(Contains(r.output, "received 1  ready 1  applying 0  succeeded 0")) << r.output;
  EXPECT_TRUE(Contains(r.output, "last success: ")) << r.output;
  EXPECT_TRUE(Contains(r.output, "(1h 0m ago): user_not_found")) << r.output;
  EXPECT_TRUE(Contains(r.output, "corp  ldaps://dc1.corp.example.com  healthy")) << r.output;
  EXPECT_TRUE(Contains(r.output,
                       "corp  ldaps://dc2.corp.example.com  UNHEALTHY: server_down: connection "
                       "refused"))
      << r.output;
}

// One DC of two down: failover works, so the agent is fine (the server is still shown).
TEST_F(StatusCliTest, ADirectoryWithOneHealthyServerIsNotAFailure) {
  MakeQueue();
  WriteStatus(DaemonStatus());
  CommandResult r = Status();
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_FALSE(Contains(r.output, "NO HEALTHY SERVER")) << r.output;
  json j = json::parse(Status({"--json"}).output);
  EXPECT_EQ(j["unhealthy_directories"], json::array());
}

// Connected to the cloud is not enough: a directory that no server answers for (a wrong bind
// password, say) means its requests wait, and monitoring must hear it.
TEST_F(StatusCliTest, ADirectoryWithNoHealthyServerExits1AndIsNamed) {
  MakeQueue();
  json status = DaemonStatus();
  status["directory_servers"][0]["healthy"] = false;
  status["directory_servers"][0]["last_error"] = "service_bind_failed: wrong password";
  WriteStatus(status);
  CommandResult r = Status();
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(Contains(r.output, "DIRECTORY corp HAS NO HEALTHY SERVER")) << r.output;
  CommandResult as_json = Status({"--json"});
  EXPECT_EQ(as_json.exit_code, 1);
  json j = json::parse(as_json.output);
  EXPECT_EQ(j["connected"], true);
  EXPECT_EQ(j["unhealthy_directories"], json::array({"corp"}));
}

// The health check failed at start (a wrong bind password), then the password was fixed and a
// request went through: the server is healthy, and its old error must not read as current.
TEST_F(StatusCliTest, ARecoveredServerShowsItsLastErrorOnlyAsPastWithItsAge) {
  MakeQueue();
  json status = DaemonStatus();
  status["directory_servers"][0]["last_error"] = "service_bind_failed: wrong password";
  status["directory_servers"][0]["last_error_at"] = audit::FormatTime(clock_.Now() - minutes(12));
  WriteStatus(status);
  CommandResult r = Status();
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(Contains(r.output, "corp  ldaps://dc1.corp.example.com  healthy (last error 12m "))
      << r.output;
  EXPECT_TRUE(Contains(r.output, "s ago, since recovered: service_bind_failed: wrong password)"))
      << r.output;
  EXPECT_FALSE(Contains(r.output, "healthy: ")) << r.output;
  EXPECT_FALSE(Contains(r.output, "NO HEALTHY SERVER")) << r.output;
}

// A status.json written without the error's time (an older agent): still labelled as past.
TEST_F(StatusCliTest, ARecoveredServerWhoseErrorHasNoTimeIsStillShownAsPast) {
  MakeQueue();
  json status = DaemonStatus();
  status["directory_servers"][0]["last_error"] = "service_bind_failed: wrong password";
  WriteStatus(status);
  CommandResult r = Status();
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(Contains(r.output,
                       "healthy (last error at an unknown time, since recovered: "
                       "service_bind_failed: wrong password)"))
      << r.output;
}

TEST_F(StatusCliTest, AnUnhealthyServerShowsItsErrorAsCurrentWithSinceWhenAndExits1) {
  MakeQueue();
  json status = DaemonStatus();
  status["directory_servers"][0]["healthy"] = false;
  status["directory_servers"][0]["last_error"] = "service_bind_failed: wrong password";
  status["directory_servers"][0]["last_error_at"] = audit::FormatTime(clock_.Now() - seconds(30));
  status["directory_servers"][0]["failing_since"] = audit::FormatTime(clock_.Now() - minutes(7));
  status["directory_servers"][0]["consecutive_failures"] = 9;
  WriteStatus(status);
  CommandResult r = Status();
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(Contains(r.output, "corp  ldaps://dc1.corp.example.com  UNHEALTHY since "))
      << r.output;
  EXPECT_TRUE(Contains(r.output, " (7m ")) << r.output;
  EXPECT_TRUE(
      Contains(r.output, "s ago) (9 failures in a row): service_bind_failed: wrong password"))
      << r.output;
  EXPECT_FALSE(Contains(r.output, "since recovered")) << r.output;
}

TEST_F(StatusCliTest, ClockSkewIsShownInSeconds) {
  MakeQueue();
  json status = DaemonStatus();
  status["channel"]["clock_skew_seconds"] = -2.5;
  status["channel"]["max_clock_skew_seconds"] = 120;
  WriteStatus(status);
  CommandResult r = Status();
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(Contains(r.output, "clock:        this host is 2.5 s behind the cloud")) << r.output;
  EXPECT_FALSE(Contains(r.output, "ALLOWED")) << r.output;
}

TEST_F(StatusCliTest, ClockSkewBeyondTheAllowedSaysWhatToDo) {
  MakeQueue();
  json status = DaemonStatus();
  status["channel"]["clock_skew_seconds"] = 421.04;
  status["channel"]["max_clock_skew_seconds"] = 120;
  WriteStatus(status);
  CommandResult r = Status();
  EXPECT_TRUE(Contains(r.output, "this host is 421.0 s ahead of the cloud")) << r.output;
  EXPECT_TRUE(Contains(r.output, "MORE THAN THE 120 s ALLOWED")) << r.output;
  EXPECT_TRUE(Contains(r.output, "fix time synchronisation")) << r.output;
}

TEST_F(StatusCliTest, JsonIsOneObjectWithEverySection) {
  MakeQueue();
  WriteStatus(DaemonStatus());
  CommandResult r = Status({"--json"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  json j = json::parse(r.output);  // throws, failing the test, unless it is one JSON value
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j["running"], true);
  EXPECT_EQ(j["connected"], true);
  EXPECT_EQ(j["agent"]["state"], "running");
  EXPECT_EQ(j["agent"]["pid"], ::getpid());
  EXPECT_EQ(j["agent"]["version"], "9.9.9");
  EXPECT_LE(j["agent"]["age_seconds"].get<int>(), 30);
  EXPECT_EQ(j["channel"]["state"], "connected");
  EXPECT_EQ(j["channel"]["tenant"], "contoso");
  EXPECT_EQ(j["queue"]["by_state"]["received"], 1);
  EXPECT_EQ(j["queue"]["by_state"]["ready"], 1);
  EXPECT_EQ(j["queue"]["by_state"]["expired"], 0);
  EXPECT_EQ(j["queue"]["pending"], 2);
  EXPECT_GE(j["queue"]["oldest_pending_age_seconds"].get<int>(), 0);
  EXPECT_TRUE(j["queue"]["oldest_pending_received_at"].is_string());
  EXPECT_EQ(j["last_failure_outcome"], "user_not_found");
  EXPECT_TRUE(j["last_success"].is_string());
  ASSERT_EQ(j["directory_servers"].size(), 2u);
  EXPECT_EQ(j["directory_servers"][1]["healthy"], false);
}

TEST_F(StatusCliTest, StaleStatusFileMeansNotRunning) {
  MakeQueue();
  WriteStatus(DaemonStatus("connected", minutes(2)));
  CommandResult r = Status();
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(Contains(r.output, "NOT RUNNING")) << r.output;
  EXPECT_TRUE(Contains(r.output, "is stale: last written 2m ")) << r.output;
  EXPECT_TRUE(Contains(r.output, "s ago by pid " + std::to_string(::getpid()))) << r.output;
  EXPECT_TRUE(Contains(r.output, "as last written")) << r.output;
  EXPECT_TRUE(Contains(r.output, "2 pending")) << r.output;  // the queue is read live
  json j = json::parse(Status({"--json"}).output);
  EXPECT_EQ(j["agent"]["state"], "stale");
  EXPECT_EQ(j["running"], false);
  EXPECT_EQ(j["connected"], false);
}

TEST_F(StatusCliTest, FreshStatusFileOfAnExitedProcessMeansNotRunning) {
  json status = DaemonStatus();
  status["pid"] = ExitedPid();
  WriteStatus(status);
  CommandResult r = Status();
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(Contains(r.output, "NOT RUNNING: pid " + std::to_string(status["pid"].get<int>())))
      << r.output;
  EXPECT_TRUE(Contains(r.output, "has exited")) << r.output;
}

TEST_F(StatusCliTest, RunningButDisconnectedExits1AndShowsTheError) {
  WriteStatus(DaemonStatus("disconnected"));
  CommandResult r = Status();
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(Contains(r.output, "agent:        running")) << r.output;
  EXPECT_TRUE(Contains(r.output, "channel:      disconnected since")) << r.output;
  EXPECT_TRUE(Contains(r.output, "last error: unavailable: connection refused")) << r.output;
  json j = json::parse(Status({"--json"}).output);
  EXPECT_EQ(j["running"], true);
  EXPECT_EQ(j["connected"], false);
}

TEST_F(StatusCliTest, StoppedAgentIsNotRunning) {
  json status = DaemonStatus("stopped");
  status["pid"] = ExitedPid();
  WriteStatus(status);
  CommandResult r = Status();
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(Contains(r.output, "NOT RUNNING: the agent (pid " +
                                     std::to_string(status["pid"].get<int>()) + ") stopped "))
      << r.output;
  json j = json::parse(Status({"--json"}).output);
  EXPECT_EQ(j["agent"]["state"], "stopped");
}

TEST_F(StatusCliTest, AgentStoppedLongAgoIsStoppedNotStale) {
  WriteStatus(DaemonStatus("stopped", hours(2)));
  CommandResult r = Status();
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(Contains(r.output, ") stopped 2h ")) << r.output;
}

TEST_F(StatusCliTest, LiveProcessWithAStoppedChannelIsRunningButNotConnected) {
  WriteStatus(DaemonStatus("stopped"));
  CommandResult r = Status();
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(Contains(r.output, "agent:        running")) << r.output;
  EXPECT_TRUE(Contains(r.output, "channel:      stopped")) << r.output;
}

TEST_F(StatusCliTest, MalformedStatusFileIsReportedNotTrusted) {
  std::filesystem::create_directories(state());
  ASSERT_TRUE(WriteFile(state() / "status.json", "{\"pid\": 12, \"channel\": [\n").ok());
  CommandResult r = Status();
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(Contains(r.output, "UNKNOWN: cannot read")) << r.output;
  json j = json::parse(Status({"--json"}).output);
  EXPECT_EQ(j["agent"]["state"], "unreadable");
}

TEST_F(StatusCliTest, PeerTextIsEscaped) {
  json status = DaemonStatus("disconnected");
  status["channel"]["last_error"] = "bad\x1b[31mred\n";
  WriteStatus(status);
  CommandResult r = Status();
  EXPECT_FALSE(Contains(r.output, "\x1b")) << r.output;
  EXPECT_TRUE(Contains(r.output, "bad\\x1b[31mred\\x0a")) << r.output;
}

// The daemon writes a server's last error as Outcome::ToString(), whose diagnostic ldap/
// escaped where it entered: status shows it as written, not escaped again (\x5cx0a).
TEST_F(StatusCliTest, ADirectoryDiagnosticIsShownEscapedOnce) {
  json status = DaemonStatus();
  status["directory_servers"][0]["healthy"] = false;
  status["directory_servers"][0]["last_error"] =
      "access_denied: refused [00000005: SecErr: DSID-03152857, data 0\\x0a]\x1b";
  WriteStatus(status);
  CommandResult r = Status();
  EXPECT_TRUE(Contains(r.output, "data 0\\x0a]\\x1b")) << r.output;
  EXPECT_FALSE(Contains(r.output, "x5cx0a")) << r.output;
}

TEST_F(StatusCliTest, StateDirWorksWithoutAConfig) {
  MakeQueue();
  WriteStatus(DaemonStatus());
  ASSERT_TRUE(WriteFile(config(), "[agent]\nbroken = \n").ok());
  CommandResult bad = Status();
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
  EXPECT_TRUE(Contains(bad.output, "give --state-dir")) << bad.output;
  CommandResult r = Wbagent({"status", "--state-dir", state().string()});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(Contains(r.output, "2 pending")) << r.output;
}

TEST_F(StatusCliTest, StateDirAndConfigTogetherAreAUsageError) {
  CommandResult r = Wbagent({"status", "-c", config().string(), "--state-dir", state().string()});
  EXPECT_EQ(r.exit_code, 2) << r.output;
}

TEST_F(StatusCliTest, NoPasswordInTheOutput) {
  MakeQueue();
  WriteStatus(DaemonStatus());
  const std::string out = Status().output + Status({"--json"}).output;
  for (const char* id : {"req-received", "req-ready"}) {
    EXPECT_FALSE(Contains(out, PasswordFor(id))) << id;
  }
}

}  // namespace
}  // namespace wb::testing
