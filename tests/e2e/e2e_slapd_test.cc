// wbagent end to end against a real slapd and a real wbcloud: the demo's scenarios and the
// restarts and outages an administrator will meet. Every process is real; nothing is faked.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "tests/e2e/e2e_util.h"
#include "tests/support/server_gate.h"
#include "tests/support/slapd_server.h"
#include "tests/support/tmpfs.h"

namespace wb::testing {
namespace {

class EndToEndSlapdTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto slapd = SlapdServer::Start();
    if (!slapd.ok()) {
      start_status_ = slapd.error();
      return;
    }
    slapd_ = std::move(*slapd);
    dir_ = std::make_unique<TempDir>("wbe2e");
    // From here on a failure is the product's, not a missing server: the tests fail.
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
    ASSERT_TRUE(slapd_->SetPolicy({.min_length = 8, .in_history = 5, .min_age = 0}).ok());
  }

  static nlohmann::json Submit(std::vector<std::string> args, const std::string* password,
                               int* exit_code = nullptr) {
    args.insert(args.end(), {"--kind", "uid", "--wait", "--timeout", "60"});
    CommandResult r = cloud_->Submit(args, password);
    if (exit_code) *exit_code = r.exit_code;
    auto j = nlohmann::json::parse(r.output.substr(r.output.find('{')), nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << r.output;
    return j;
  }

  static bool CanBind(const std::string& uid, const std::string& password) {
    return TryUserBind(slapd_->ldaps_url(), slapd_->ca_file(), SlapdServer::user_dn(uid), password)
        .ok();
  }

  static inline std::unique_ptr<SlapdServer> slapd_;
  static inline std::unique_ptr<TempDir> dir_;
  static inline std::unique_ptr<Cloud> cloud_;
  static inline std::unique_ptr<Agent> agent_;
  static inline Status start_status_;
  static inline Status setup_status_;
};

TEST_F(EndToEndSlapdTest, ResetRoundTripSetsThePassword) {
  const std::string pw = "Round-Trip-Pass-1";
  int code = -1;
  auto result = Submit({"--user", "alice", "--op", "reset"}, &pw, &code);
  EXPECT_EQ(code, 0) << result.dump();
  EXPECT_EQ(result.value("outcome", ""), "succeeded") << result.dump();
  EXPECT_TRUE(CanBind("alice", pw));
}

TEST_F(EndToEndSlapdTest, ResetWithUnlockOfALockedUser) {
  ASSERT_TRUE(slapd_->LockUserByBadBinds("bob").ok());
  const std::string pw = "Unlocked-Pass-22";
  auto result = Submit({"--user", "bob", "--op", "reset", "--unlock"}, &pw);
  EXPECT_EQ(result.value("outcome", ""), "succeeded") << result.dump();
  EXPECT_TRUE(CanBind("bob", pw));
}

// A disabled account (on OpenLDAP the administrative lock, pwdAccountLockedTime 000001010000Z)
// is left as it is: slapd's ppolicy lifts that lock with any password change, so a reset, not
// only an unlock, would have enabled the account.
TEST_F(EndToEndSlapdTest, ADisabledAccountIsNeitherResetNorUnlocked) {
  const std::string uid = "disabled1";
  ASSERT_TRUE(slapd_->CreateUser(uid, "disabled1-Start-1").ok());
  auto admin = slapd_->AdminClient();
  ASSERT_TRUE(admin.ok()) << admin.error().ToString();
  const std::vector<std::string> lock = {"000001010000Z"};
  ASSERT_TRUE(admin
                  ->Modify(SlapdServer::user_dn(uid),
                           {{LdapMod::Op::kReplace, "pwdAccountLockedTime", lock}})
                  .ok());
  const auto password_hash = slapd_->ReadAttribute(SlapdServer::user_dn(uid), "userPassword");
  ASSERT_TRUE(password_hash.ok() && !password_hash->empty());
  const std::string pw = "Disabled-New-Pass-1";
  for (const auto& ops : std::vector<std::vector<std::string>>{
           {"--op", "reset"}, {"--op", "reset", "--unlock"}, {"--op", "unlock"}}) {
    std::vector<std::string> args = {"--user", uid};
    args.insert(args.end(), ops.begin(), ops.end());
    const bool sends_password = ops[1] == "reset";
    auto result = Submit(args, sends_password ? &pw : nullptr);
    EXPECT_EQ(result.value("outcome", ""), "account_disabled") << result.dump();
    EXPECT_EQ(result.value("user_action", ""), "contact_admin") << result.dump();
    EXPECT_EQ(*slapd_->ReadAttribute(SlapdServer::user_dn(uid), "pwdAccountLockedTime"), lock);
  }
  EXPECT_EQ(*slapd_->ReadAttribute(SlapdServer::user_dn(uid), "userPassword"), *password_hash);
}

TEST_F(EndToEndSlapdTest, RequireChangeSetsPwdReset) {
  auto result = Submit({"--user", "carol", "--op", "require-change"}, nullptr);
  EXPECT_EQ(result.value("outcome", ""), "succeeded") << result.dump();
  EXPECT_EQ(*slapd_->ReadAttribute(SlapdServer::user_dn("carol"), "pwdReset"),
            std::vector<std::string>{"TRUE"});
}

TEST_F(EndToEndSlapdTest, ResetTheDirectoryRefusesNamesTheRuleAndChangesNothing) {
  const std::string pw = "short";
  int code = -1;
  auto result = Submit({"--user", "dave", "--op", "reset"}, &pw, &code);
  EXPECT_EQ(code, 1);
  EXPECT_EQ(result.value("outcome", ""), "policy_too_short") << result.dump();
  EXPECT_TRUE(CanBind("dave", SlapdServer::user_password("dave")));
}

TEST_F(EndToEndSlapdTest, UnknownUserFailsWithUserNotFound) {
  const std::string pw = "Whatever-Pass-9";
  auto result = Submit({"--user", "nobody", "--op", "reset"}, &pw);
  EXPECT_EQ(result.value("outcome", ""), "user_not_found") << result.dump();
}

// status.json is written when the view changes: a finished request shows in `wbagent status`
// well before the main loop's 5-second tick could have written it (it was 5 s stale before).
TEST_F(EndToEndSlapdTest, StatusShowsAFailureAsSoonAsItHappens) {
  const auto status = [] {
    CommandResult r = agent_->Wbagent({"status", "--json"});
    return nlohmann::json::parse(r.output, nullptr, /*allow_exceptions=*/false);
  };
  // Connected (the log says so) shows within a second, not at the next 5-second tick.
  nlohmann::json before;
  Status connected = WaitUntil(
      [&] {
        before = status();
        return before.is_object() && before["connected"] == true ? Status::Ok()
                                                                 : NotFound(before.dump());
      },
      std::chrono::seconds(3));
  ASSERT_TRUE(connected.ok()) << connected.ToString();
  // Same host, same clock: the skew measured at the welcome is the handshake's round trip.
  ASSERT_TRUE(before["channel"]["clock_skew_seconds"].is_number()) << before.dump();
  EXPECT_LT(std::abs(before["channel"]["clock_skew_seconds"].get<double>()), 5.0);
  const std::string pw = "Whatever-Pass-9";
  auto result = Submit({"--user", "nobody-status", "--op", "reset"}, &pw);
  ASSERT_EQ(result.value("outcome", ""), "user_not_found") << result.dump();
  nlohmann::json after;
  Status shown = WaitUntil(
      [&] {
        after = status();
        return after.is_object() && after["last_failure"] != before["last_failure"]
                   ? Status::Ok()
                   : NotFound(after.dump());
      },
      std::chrono::seconds(3));
  ASSERT_TRUE(shown.ok()) << shown.ToString();
  EXPECT_EQ(after["last_failure_outcome"], "user_not_found");
  EXPECT_EQ(after["connected"], true);
}

TEST_F(EndToEndSlapdTest, ForgedEnvelopeIsRejectedAndAudited) {
  const std::string pw = "Forged-Pass-33";
  int code = -1;
  auto result =
      Submit({"--user", "alice", "--op", "reset", "--fault", "bad-signature"}, &pw, &code);
  EXPECT_EQ(code, 1);
  EXPECT_NE(result.dump().find("bad_signature"), std::string::npos) << result.dump();
  CommandResult q = agent_->Wbagent({"audit", "query", "--events", "--outcome", "bad_signature"});
  EXPECT_NE(q.output.find("request_rejected"), std::string::npos) << q.output;
}

TEST_F(EndToEndSlapdTest, AuditTrailVerifiesAndNeverHoldsAPassword) {
  const std::string pw = "Audit-Secret-Pass-44";
  ASSERT_EQ(Submit({"--user", "erin", "--op", "reset"}, &pw).value("outcome", ""), "succeeded");
  CommandResult verify = agent_->Wbagent({"audit", "verify"});
  EXPECT_EQ(verify.exit_code, 0) << verify.output;
  CommandResult query = agent_->Wbagent({"audit", "query", "--events", "--user", "erin"});
  EXPECT_NE(query.output.find("directory_write"), std::string::npos) << query.output;
  const Status secret = agent_->FindSecret(pw);
  EXPECT_TRUE(secret.ok()) << secret.ToString();
}

#if WB_E2E_AGENT_WIPES_ON_FREE
// No copy of a password outlives its request in the agent's memory: not in the agent's own
// buffers (wiped), nor in the ones libldap, GnuTLS and the JSON library made of it (freed, and
// wiped as they were freed: common/wipe_on_free.h). Read as a core dump would be, from
// /proc/PID/mem; a user's change carries an old password too.
TEST_F(EndToEndSlapdTest, NoPasswordOutlivesItsRequestInTheAgentsMemory) {
  const std::string pw = "Memory-Scan-Pass-71";
  ASSERT_EQ(Submit({"--user", "alice", "--op", "reset"}, &pw).value("outcome", ""), "succeeded");
  const std::filesystem::path old_file = dir_->path() / "old.pw";
  {
    std::ofstream(old_file) << pw;
    std::filesystem::permissions(
        old_file, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  }
  const std::string changed = "Memory-Scan-Pass-72";
  auto change = Submit(
      {"--user", "alice", "--op", "change", "--old-password-file", old_file.string()}, &changed);
  EXPECT_EQ(change.value("outcome", ""), "succeeded") << change.dump();
  std::filesystem::remove(old_file);
  EXPECT_TRUE(agent_->FindSecretInMemory(pw).ok()) << agent_->FindSecretInMemory(pw).ToString();
  EXPECT_TRUE(agent_->FindSecretInMemory(changed).ok())
      << agent_->FindSecretInMemory(changed).ToString();
}
#endif

TEST_F(EndToEndSlapdTest, DirectoryOutageIsRetriedUntilItComesBack) {
  ASSERT_TRUE(slapd_->Stop().ok());
  const std::string pw = "After-Outage-Pass-5";
  CommandResult submitted =
      cloud_->Submit({"--user", "frank", "--kind", "uid", "--op", "reset"}, &pw);
  ASSERT_EQ(submitted.exit_code, 0) << submitted.output;
  const std::string id = submitted.output.substr(0, submitted.output.find('\n'));
  // An attempt failed during the outage, as a transient failure: the request waits, ready.
  nlohmann::json record;
  Status failed_once = WaitUntil(
      [&] {
        record = agent_->QueueRecord(id);
        return record.is_object() && record["state"] == "ready" &&
                       record.value("attempts", 0) >= 1 && record["last_error"].is_object()
                   ? Status::Ok()
                   : NotFound(record.dump());
      },
      std::chrono::seconds(60));
  ASSERT_TRUE(failed_once.ok()) << failed_once.ToString() << ReadFileOrEmpty(agent_->log());
  const std::string code = record["last_error"].value("code", "");
  EXPECT_TRUE(code == "directory_unavailable" || code == "directory_timeout") << record.dump();
  ASSERT_TRUE(slapd_->Resume().ok());
  ASSERT_TRUE(WaitUntil([&] { return CanBind("frank", pw) ? Status::Ok() : NotFound("not yet"); },
                        std::chrono::seconds(60))
                  .ok())
      << ReadFileOrEmpty(agent_->log());
}

// A wrong bind password is the agent's fault, not the user's: the request waits (it is not
// failed), and after the administrator fixes the file and reloads, it goes through at once.
// At once: the bind hold (5 minutes) and the queue's back-off would otherwise delay it.
TEST_F(EndToEndSlapdTest, WrongBindPasswordWaitsAndAReloadWithTheRightOneLetsItThrough) {
  TempDir dir("wbe2ebind");
  auto d = Deploy(dir.path(), "not-the-service-password", SlapdDirectoryToml(*slapd_, 5),
                  {"agent-bind"});
  ASSERT_TRUE(d.ok()) << d.error().ToString();
  Agent& agent = *d->agents.front();
  // Found at start, before any user: logged at error with the fix, and status fails.
  const auto log_has = [&](const std::string& text) {
    return WaitUntil(
        [&] {
          return ReadFileOrEmpty(agent.log()).find(text) != std::string::npos
                     ? Status::Ok()
                     : NotFound("not in the log: " + text);
        },
        std::chrono::seconds(20));
  };
  ASSERT_TRUE(
      log_has("directory 'corp': the service account cannot bind: service_bind_failed").ok())
      << ReadFileOrEmpty(agent.log());
  EXPECT_NE(ReadFileOrEmpty(agent.log()).find("\"level\":\"error\""), std::string::npos);
  CommandResult unhealthy;
  Status shown = WaitUntil(  // status.json follows within about half a second
      [&] {
        unhealthy = agent.Wbagent({"status"});
        return unhealthy.output.find("DIRECTORY corp HAS NO HEALTHY SERVER") != std::string::npos
                   ? Status::Ok()
                   : NotFound(unhealthy.output);
      },
      std::chrono::seconds(3));
  EXPECT_TRUE(shown.ok()) << shown.ToString();
  EXPECT_EQ(unhealthy.exit_code, 1) << unhealthy.output;
  ASSERT_TRUE(slapd_->CreateUser("grace", "grace-Start-1").ok());
  const std::string pw = "After-Reload-Pass-6";
  CommandResult submitted =
      d->cloud->Submit({"--user", "grace", "--kind", "uid", "--op", "reset"}, &pw);
  ASSERT_EQ(submitted.exit_code, 0) << submitted.output;
  const std::string id = submitted.output.substr(0, submitted.output.find('\n'));

  nlohmann::json record;
  Status waiting = WaitUntil(
      [&] {
        record = agent.QueueRecord(id);
        return record.is_object() && record["state"] == "ready" &&
                       record["last_error"].is_object() &&
                       record["last_error"]["code"] == "service_bind_failed"
                   ? Status::Ok()
                   : NotFound(record.dump());
      },
      std::chrono::seconds(30));
  ASSERT_TRUE(waiting.ok()) << waiting.ToString() << ReadFileOrEmpty(agent.log());
  EXPECT_FALSE(CanBind("grace", pw));

  ASSERT_TRUE(WriteFile(dir.path() / "bind.password", SlapdServer::service_password(), 0600).ok());
  agent.Signal(SIGHUP);
  Status applied = WaitUntil(
      [&] {
        record = agent.QueueRecord(id);
        return record.is_object() && record["state"] == "succeeded" ? Status::Ok()
                                                                    : NotFound(record.dump());
      },
      std::chrono::seconds(20));
  EXPECT_TRUE(applied.ok()) << applied.ToString() << ReadFileOrEmpty(agent.log());
  EXPECT_TRUE(CanBind("grace", pw));
  EXPECT_NE(ReadFileOrEmpty(agent.log()).find("retrying 1 waiting request(s) now"),
            std::string::npos)
      << ReadFileOrEmpty(agent.log());
  EXPECT_TRUE(log_has("directory 'corp': the service account binds").ok())
      << ReadFileOrEmpty(agent.log());
  Status healthy = WaitUntil(
      [&] {
        CommandResult r = agent.Wbagent({"status"});
        return r.exit_code == 0 ? Status::Ok() : NotFound(r.output);
      },
      std::chrono::seconds(10));
  EXPECT_TRUE(healthy.ok()) << healthy.ToString();
  EXPECT_TRUE(agent.Stop().ok());
}

TEST_F(EndToEndSlapdTest, CloudRestartIsSurvived) {
  ASSERT_TRUE(cloud_->Restart().ok());
  const std::string pw = "After-Cloud-Restart-6";
  auto result = Submit({"--user", "alice", "--op", "reset"}, &pw);
  EXPECT_EQ(result.value("outcome", ""), "succeeded") << result.dump();
  EXPECT_TRUE(CanBind("alice", pw));
}

TEST_F(EndToEndSlapdTest, ReloadWithABadConfigKeepsRunningOnTheOld) {
  const std::string good = ReadFileOrEmpty(agent_->config());
  ASSERT_TRUE(WriteFile(agent_->config(), good + "bogus_key = 1\n").ok());
  agent_->Signal(SIGHUP);
  ASSERT_TRUE(WaitUntil(
                  [&] {
                    return ReadFileOrEmpty(agent_->log()).find("keeping the running") !=
                                   std::string::npos
                               ? Status::Ok()
                               : NotFound("not yet");
                  },
                  std::chrono::seconds(10))
                  .ok());
  ASSERT_TRUE(WriteFile(agent_->config(), good).ok());
  EXPECT_TRUE(agent_->running());
  const std::string pw = "After-Reload-Pass-7";
  EXPECT_EQ(Submit({"--user", "carol", "--op", "reset"}, &pw).value("outcome", ""), "succeeded");
}

TEST_F(EndToEndSlapdTest, AgentRestartMidStreamLosesNothing) {
  std::vector<std::pair<std::string, std::string>> sent;
  for (int i = 0; i < 6; ++i) {
    const std::string uid = "stream" + std::to_string(i);
    ASSERT_TRUE(slapd_->CreateUser(uid, uid + "-Start-1").ok());
    const std::string pw = "Stream-Pass-" + std::to_string(i) + "-x";
    CommandResult r = cloud_->Submit({"--user", uid, "--kind", "uid", "--op", "reset"}, &pw);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    sent.emplace_back(uid, pw);
    if (i == 2) {
      auto code = agent_->Stop();
      ASSERT_TRUE(code.ok());
      EXPECT_EQ(*code, 0);
      ASSERT_TRUE(agent_->Start().ok()) << ReadFileOrEmpty(agent_->log());
    }
  }
  for (const auto& sent_one : sent) {
    // Named copies, not a structured binding: clang 14 cannot capture a binding in a lambda.
    const auto& uid = sent_one.first;
    const auto& pw = sent_one.second;
    EXPECT_TRUE(WaitUntil([&] { return CanBind(uid, pw) ? Status::Ok() : NotFound(uid); },
                          std::chrono::seconds(60))
                    .ok())
        << uid;
  }
}

// The key material changed while the agent was stopped, as a key-set rollover interrupted
// between its new cloud-keys.json and its key_rotated record leaves it (here the same keys in
// another layout, so that the agent still starts): the next start records the change, found at
// start; a start after that records nothing more, and the trail verifies.
TEST_F(EndToEndSlapdTest, AKeyChangeTheTrailMissedIsRecordedAtTheNextStart) {
  const auto key_records = [] {
    CommandResult q = agent_->Wbagent(
        {"audit", "query", "--events", "--event", "key_rotated", "--format", "json"});
    EXPECT_EQ(q.exit_code, 0) << q.output;
    std::vector<std::string> details;  // one JSON record per line
    std::istringstream lines(q.output);
    for (std::string line; std::getline(lines, line);) {
      const auto record = nlohmann::json::parse(line, nullptr, false);
      if (record.is_object() && record.value("event", "") == "key_rotated") {
        details.push_back(record.value("detail", ""));
      }
    }
    return details;
  };
  const std::size_t before = key_records().size();
  ASSERT_TRUE(agent_->Stop().ok());
  const std::filesystem::path cloud_keys = agent_->state() / "cloud-keys.json";
  const nlohmann::json keys = nlohmann::json::parse(ReadFileOrEmpty(cloud_keys), nullptr, false);
  ASSERT_TRUE(keys.is_object());
  std::ofstream(cloud_keys, std::ios::trunc) << keys.dump(7) << "\n";
  ASSERT_TRUE(agent_->Start().ok()) << ReadFileOrEmpty(agent_->log());
  const std::vector<std::string> after = key_records();
  ASSERT_EQ(after.size(), before + 1);
  EXPECT_NE(after.back().find("found at start"), std::string::npos) << after.back();
  EXPECT_NE(after.back().find("cloud-keys.json"), std::string::npos) << after.back();
  ASSERT_TRUE(agent_->Stop().ok());
  ASSERT_TRUE(agent_->Start().ok()) << ReadFileOrEmpty(agent_->log());
  EXPECT_EQ(key_records().size(), before + 1) << "a start without a change recorded one";
  // What was recorded is unknown (the file was damaged): the keys in use are recorded.
  ASSERT_TRUE(agent_->Stop().ok());
  std::ofstream(agent_->state() / "recorded-keys.json", std::ios::trunc) << "{";
  ASSERT_TRUE(agent_->Start().ok()) << ReadFileOrEmpty(agent_->log());
  const std::vector<std::string> baseline = key_records();
  ASSERT_EQ(baseline.size(), before + 2);
  EXPECT_NE(baseline.back().find("the keys last recorded are unknown"), std::string::npos)
      << baseline.back();
  CommandResult verify = agent_->Wbagent({"audit", "verify"});
  EXPECT_EQ(verify.exit_code, 0) << verify.output;
}

// The audit trail's disk fills up (a real full tmpfs): the agent writes nothing it cannot
// record, stops with status 1 (systemd restarts it), and once there is room again the next
// start ends every request it had accepted, each written once, with a trail that verifies.
TEST_F(EndToEndSlapdTest, AFullAuditDiskStopsTheAgentAndTheNextStartLosesNothing) {
  TempDir dir("wbe2eauditfull");
  auto tmpfs = SmallTmpfs::Mount(dir.path() / "auditfs", "256k");
  if (!tmpfs.ok()) {
    if (TmpfsIsRequired()) FAIL() << tmpfs.error().ToString();
    GTEST_SKIP() << tmpfs.error().ToString();
  }
  ASSERT_TRUE(WriteFile(dir.path() / "bind.password", SlapdServer::service_password(), 0600).ok());
  auto cloud = Cloud::Start(dir.path());
  ASSERT_TRUE(cloud.ok()) << cloud.error().ToString();
  auto enrolled = Agent::Enroll({.agent_id = "agent-full",
                                 .dir = dir.path(),
                                 .directory_toml = SlapdDirectoryToml(*slapd_, 5)},
                                **cloud);
  ASSERT_TRUE(enrolled.ok()) << enrolled.error().ToString();
  Agent& agent = **enrolled;
  {
    std::ofstream config(agent.config(), std::ios::app);
    config << "\n[audit]\nfile = \"" << ((*tmpfs)->path() / "audit" / "audit.jsonl").string()
           << "\"\n";
  }
  ASSERT_TRUE(agent.Start().ok()) << ReadFileOrEmpty(agent.log());
  const std::string uid = "auditfull";
  ASSERT_TRUE(slapd_->CreateUser(uid, "auditfull-Start-1").ok());
  const auto submit = [&](const std::string& pw) {
    CommandResult r = (*cloud)->Submit({"--user", uid, "--kind", "uid", "--op", "reset"}, &pw);
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return r.output.substr(0, r.output.find('\n'));
  };
  const auto state_of = [&](const std::string& id) {
    const nlohmann::json record = agent.QueueRecord(id);
    return record.is_object() ? record.value("state", "") : std::string();
  };
  const std::string first = submit("Audit-Full-Pass-0");
  ASSERT_TRUE(
      WaitUntil(
          [&] { return state_of(first) == "succeeded" ? Status::Ok() : NotFound(state_of(first)); },
          std::chrono::seconds(20))
          .ok());

  // Fill the disk: what is left is at most the slack of the trail's last page.
  {
    std::ofstream ballast((*tmpfs)->path() / "ballast", std::ios::binary);
    const std::string block(4096, 'b');
    for (int i = 0; i < 1024 && ballast.write(block.data(), block.size()); ++i) {
      ballast.flush();
    }
  }
  // Requests, one at a time, until one finds the trail full and the agent stops.
  std::vector<std::pair<std::string, std::string>> sent;  // (id, password)
  for (int i = 1; i <= 40 && agent.running(); ++i) {
    const std::string pw = "Audit-Full-Pass-" + std::to_string(i);
    sent.emplace_back(submit(pw), pw);
    const std::string& id = sent.back().first;
    (void)WaitUntil(
        [&] {
          return !agent.running() || state_of(id) == "succeeded" ? Status::Ok()
                                                                 : NotFound("neither");
        },
        std::chrono::seconds(30));
  }
  ASSERT_FALSE(agent.running()) << "the trail never filled up";
  auto code = agent.Stop();
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(*code, 1) << ReadFileOrEmpty(agent.log());
  const std::string log = ReadFileOrEmpty(agent.log());
  EXPECT_NE(log.find("the audit trail failed: stopping"), std::string::npos) << log;
  // Each request either succeeded before the disk filled or waits, unended: none ended
  // otherwise.
  for (const auto& [id, pw] : sent) {
    const std::string state = state_of(id);
    EXPECT_TRUE(state == "succeeded" || state == "received" || state == "ready" ||
                state == "applying")
        << id << ": " << state;
  }

  // While the trail still cannot be written, a start cannot record agent_started: the agent
  // does not start (status 1, "not starting"; systemd tries again), and takes nothing. (A full
  // disk may leave room in the trail's last page for a short record, so the test makes the
  // file system read-only instead: the trail cannot even be opened for writing.)
  ASSERT_TRUE((*tmpfs)->SetReadOnly(true).ok());
  const std::size_t log_before = ReadFileOrEmpty(agent.log()).size();
  ASSERT_TRUE(agent.Launch().ok());
  ASSERT_TRUE(WaitUntil([&] { return agent.running() ? NotFound("running") : Status::Ok(); },
                        std::chrono::seconds(20))
                  .ok())
      << "the agent started with a trail it cannot write";
  auto refused = agent.Stop();
  ASSERT_TRUE(refused.ok());
  EXPECT_EQ(*refused, 1);
  const std::string refusal = ReadFileOrEmpty(agent.log()).substr(log_before);
  EXPECT_NE(refusal.find("not starting"), std::string::npos) << refusal;
  EXPECT_NE(refusal.find("audit trail"), std::string::npos) << refusal;
  EXPECT_EQ(refusal.find("connected to the cloud"), std::string::npos) << refusal;
  for (const auto& [id, pw] : sent) EXPECT_NE(state_of(id), "failed") << id;
  ASSERT_TRUE((*tmpfs)->SetReadOnly(false).ok());

  // Room again: the next start goes on with what the queue holds.
  std::filesystem::remove((*tmpfs)->path() / "ballast");
  ASSERT_TRUE(agent.Start().ok()) << ReadFileOrEmpty(agent.log());
  for (const auto& [id, pw] : sent) {
    const std::string each = id;
    EXPECT_TRUE(
        WaitUntil(
            [&] { return state_of(each) == "succeeded" ? Status::Ok() : NotFound(state_of(each)); },
            std::chrono::seconds(30))
            .ok())
        << each;
  }
  EXPECT_TRUE(CanBind(uid, sent.back().second));
  // Each write is in the trail, once.
  for (const auto& [id, pw] : sent) {
    CommandResult writes = agent.Wbagent({"audit", "query", "--events", "--request", id, "--event",
                                          "directory_write", "--format", "json"});
    EXPECT_EQ(writes.exit_code, 0) << writes.output;
    std::istringstream lines(writes.output);
    int records = 0;
    for (std::string line; std::getline(lines, line);) records += line.rfind("{", 0) == 0;
    EXPECT_EQ(records, 1) << writes.output;
  }
  CommandResult verified = agent.Wbagent({"audit", "verify"});
  EXPECT_EQ(verified.exit_code, 0) << verified.output;
  auto stopped = agent.Stop();
  ASSERT_TRUE(stopped.ok());
  EXPECT_EQ(*stopped, 0);
}

}  // namespace
}  // namespace wb::testing
