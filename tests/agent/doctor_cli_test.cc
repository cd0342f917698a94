// `wbagent doctor`'s error paths that need no server: the real binary against a state directory
// the test prepares. The cloud and the directory are 127.0.0.1:1, where nothing listens, so the
// checks that depend on TCP are shown skipped. The checks against real servers are in
// tests/e2e/e2e_doctor_test.cc.
#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "audit/audit.h"
#include "channel/doctor.h"
#include "tests/agent/inspect_test_util.h"
#include "tests/support/test_ca.h"

namespace wb::testing {
namespace {

using nlohmann::json;

class DoctorCliTest : public InspectTest {
 protected:
  void SetUp() override {
    InspectTest::SetUp();
    std::string text = ConfigText();
    Replace(text, "wss://cloud.example.test/agent", "wss://127.0.0.1:1/agent");
    Replace(text, "ldaps://127.0.0.1:636", "ldaps://127.0.0.1:1");
    ASSERT_TRUE(WriteFile(config(), text).ok());
    std::filesystem::create_directories(state());
    ::chmod(state().c_str(), 0700);
  }

  static void Replace(std::string& text, const std::string& from, const std::string& to) {
    const auto at = text.find(from);
    ASSERT_NE(at, std::string::npos) << from;
    text.replace(at, from.size(), to);
  }

  // An enrolled agent's key files: a key and its certificate, and an encryption key.
  void Enroll() {
    auto ca = TestCa::Create(dir_.path() / "ca", "Agent CA");
    ASSERT_TRUE(ca.ok()) << ca.error().ToString();
    auto pair = ca->IssueClient("agent-1");
    ASSERT_TRUE(pair.ok()) << pair.error().ToString();
    std::filesystem::copy_file(pair->cert, state() / "agent.crt");
    std::filesystem::copy_file(pair->key, state() / "agent.key");
    ::chmod((state() / "agent.key").c_str(), 0600);
    // A CA file that loads, for the cloud's and the directory's TLS settings.
    std::filesystem::copy_file(ca->cert(), dir_.path() / "ca.pem",
                               std::filesystem::copy_options::overwrite_existing);
    ASSERT_TRUE(WriteFile(state() / "encryption.key", "not read by the doctor\n", 0600).ok());
    other_ = ca->IssueClient("other");
    ASSERT_TRUE(other_.ok());
  }

  // `wbagent doctor --json`: the exit code, and the checks by id.
  std::pair<int, json> Doctor() {
    CommandResult r = Wbagent({"doctor", "--json", "-c", config().string()});
    auto j =
        json::parse(r.output.substr(std::min(r.output.find('{'), r.output.size())), nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << r.output;
    json by_id = json::object();
    if (!j.is_discarded()) {
      for (const auto& c : j["checks"]) by_id[c["id"].get<std::string>()] = c;
    }
    return {r.exit_code, by_id};
  }

  // Appends `n` records durably to the agent's trail (the default audit.file and key_file
  // under the state directory), as the agent does.
  void AppendAudit(int n) {
    const std::filesystem::path key_file = state() / "audit.key";
    if (!std::filesystem::exists(key_file)) {
      ASSERT_TRUE(WriteFile(key_file, std::string(64, 'a') + "\n", 0600).ok());
    }
    audit::WriterOptions options;
    options.file = audit_file();
    options.checkpoint_file = audit::CheckpointPath(state());
    options.agent_id = "agent-1";
    auto writer =
        audit::Writer::Open(options, Secret(std::string(audit::kKeyBytes, '\xaa')), clock_);
    ASSERT_TRUE(writer.ok()) << writer.error().ToString();
    for (int i = 0; i < n; ++i) {
      audit::Event event;
      event.type = audit::EventType::kConfigLoaded;
      event.detail = "record " + std::to_string(i);
      ASSERT_TRUE((*writer)->Append(event, audit::Durability::kDurable).ok());
    }
    ASSERT_TRUE((*writer)->Close().ok());
  }
  std::filesystem::path audit_file() const { return state() / "audit" / "audit.jsonl"; }

  Result<KeyPair> other_ = Internal("not made");
};

TEST_F(DoctorCliTest, TheAuditTrailIsVerifiedFromTheCheckpointAndTheDetailSaysSo) {
  Enroll();
  AppendAudit(5);
  auto [exit_code, checks] = Doctor();
  EXPECT_EQ(checks["agent.audit"]["result"], "ok") << checks.dump(2);
  const std::string detail = checks["agent.audit"]["detail"];
  EXPECT_TRUE(Contains(detail, "verified 0 records since the checkpoint at seq 5")) << detail;
  EXPECT_TRUE(Contains(detail, "`wbagent audit verify` checks the whole trail")) << detail;
}

TEST_F(DoctorCliTest, ABrokenAuditRecordAfterTheCheckpointFailsNamingItsSeq) {
  Enroll();
  AppendAudit(3);
  const std::filesystem::path checkpoint = audit::CheckpointPath(state());
  std::filesystem::copy_file(checkpoint, dir_.path() / "at3.checkpoint");
  AppendAudit(2);
  std::filesystem::copy_file(dir_.path() / "at3.checkpoint", checkpoint,
                             std::filesystem::copy_options::overwrite_existing);
  std::string text = ReadFileOrEmpty(audit_file());
  const auto at = text.rfind("record 1");  // the detail of seq 5
  ASSERT_NE(at, std::string::npos);
  text.replace(at, 8, "record 9");
  ASSERT_TRUE(WriteFile(audit_file(), text, 0640).ok());
  auto [exit_code, checks] = Doctor();
  EXPECT_EQ(exit_code, 1);
  EXPECT_EQ(checks["agent.audit"]["result"], "fail") << checks.dump(2);
  const std::string detail = checks["agent.audit"]["detail"];
  EXPECT_TRUE(Contains(detail, "seq 5: HMAC mismatch")) << detail;
  EXPECT_TRUE(Contains(checks["agent.audit"]["fix"], "wbagent audit verify"));
}

TEST_F(DoctorCliTest, AnInvalidConfigFailsNamingFileLineAndKeyAndSkipsTheRest) {
  ASSERT_TRUE(WriteFile(config(), ConfigText() + "\n[agent2]\nbogus = 1\n").ok());
  auto [exit_code, checks] = Doctor();
  EXPECT_EQ(exit_code, 1);
  EXPECT_EQ(checks["agent.config"]["result"], "fail") << checks.dump(2);
  const std::string detail = checks["agent.config"]["detail"];
  EXPECT_TRUE(Contains(detail, config().string() + ":")) << detail;
  EXPECT_TRUE(Contains(detail, "agent2")) << detail;
  EXPECT_EQ(checks["agent"]["result"], "skipped");
}

// The policy's files are opened as the start opens them: doctor once called a configuration
// valid that check-config and the start refuse (a banned-words file that is not UTF-8).
TEST_F(DoctorCliTest, ABannedWordsFileTheStartWouldRefuseFailsTheConfig) {
  const std::filesystem::path banned = dir_.path() / "banned.txt";
  ASSERT_TRUE(WriteFile(banned, "contoso\n\xff\xfe\n", 0644).ok());
  ASSERT_TRUE(WriteFile(config(), ConfigText() + "\n[policy.password]\nbanned_words_file = \"" +
                                      banned.string() + "\"\n")
                  .ok());
  auto [exit_code, checks] = Doctor();
  EXPECT_EQ(exit_code, 1);
  EXPECT_EQ(checks["agent.config"]["result"], "fail") << checks.dump(2);
  const std::string detail = checks["agent.config"]["detail"];
  EXPECT_TRUE(Contains(detail, banned.string() + ":2")) << detail;
  EXPECT_EQ(checks["agent"]["result"], "skipped");
}

TEST_F(DoctorCliTest, AUsageErrorExitsTwo) {
  EXPECT_EQ(Wbagent({"doctor", "--bogus", "-c", config().string()}).exit_code, 2);
}

TEST_F(DoctorCliTest, AStateDirectoryOthersMayEnterFailsWithChmod) {
  Enroll();
  ::chmod(state().c_str(), 0755);
  auto [exit_code, checks] = Doctor();
  EXPECT_EQ(exit_code, 1);
  EXPECT_EQ(checks["agent.state_dir"]["result"], "fail") << checks.dump(2);
  EXPECT_TRUE(Contains(checks["agent.state_dir"]["detail"], "mode 0755"));
  EXPECT_EQ(checks["agent.state_dir"]["fix"], "chmod 700 " + state().string());
}

TEST_F(DoctorCliTest, AKeyFileTheGroupMayReadFailsWithChmod) {
  Enroll();
  ::chmod((state() / "encryption.key").c_str(), 0640);
  auto [exit_code, checks] = Doctor();
  EXPECT_EQ(exit_code, 1);
  EXPECT_EQ(checks["agent.keys"]["result"], "fail") << checks.dump(2);
  EXPECT_EQ(checks["agent.keys"]["fix"], "chmod 600 " + (state() / "encryption.key").string());
}

TEST_F(DoctorCliTest, ACertificateOfAnotherKeyFails) {
  Enroll();
  std::filesystem::copy_file(other_->cert, state() / "agent.crt",
                             std::filesystem::copy_options::overwrite_existing);
  auto [exit_code, checks] = Doctor();
  EXPECT_EQ(exit_code, 1);
  EXPECT_EQ(checks["agent.keys"]["result"], "fail") << checks.dump(2);
  EXPECT_TRUE(Contains(checks["agent.keys"]["detail"], "is not the certificate of"));
}

TEST_F(DoctorCliTest, AnAgentNotEnrolledSkipsTheCloud) {
  auto [exit_code, checks] = Doctor();
  EXPECT_EQ(exit_code, 1);
  EXPECT_EQ(checks["agent.keys"]["result"], "fail") << checks.dump(2);
  EXPECT_TRUE(Contains(checks["agent.keys"]["fix"], "wbagent register"));
  EXPECT_EQ(checks["agent.certificate"]["result"], "fail");
  for (const char* id : {"cloud.dns", "cloud.tcp", "cloud.tls", "cloud.websocket", "cloud.clock"}) {
    EXPECT_EQ(checks[id]["result"], "skipped") << id;
    EXPECT_TRUE(Contains(checks[id]["detail"], "not enrolled")) << id;
  }
}

TEST_F(DoctorCliTest, NothingListeningFailsTcpAndSkipsWhatDependsOnIt) {
  Enroll();
  auto [exit_code, checks] = Doctor();
  EXPECT_EQ(exit_code, 1);
  EXPECT_EQ(checks["agent.keys"]["result"], "ok") << checks.dump(2);
  EXPECT_EQ(checks["agent.certificate"]["result"], "ok");
  EXPECT_EQ(checks["agent.audit"]["result"], "ok");
  EXPECT_EQ(checks["cloud.dns"]["result"], "ok");
  EXPECT_EQ(checks["cloud.tcp"]["result"], "fail");
  EXPECT_TRUE(Contains(checks["cloud.tcp"]["fix"], "127.0.0.1:1"));
  EXPECT_FALSE(checks.contains("cloud.proxy")) << "no proxy is configured";
  for (const char* id : {"cloud.tls", "cloud.websocket", "cloud.clock"}) {
    EXPECT_EQ(checks[id]["result"], "skipped") << id;
    EXPECT_TRUE(Contains(checks[id]["detail"], "TCP failed")) << id;
  }
  EXPECT_EQ(checks["directory.corp.url1.tcp"]["result"], "fail");
  EXPECT_EQ(checks["directory.corp.url1.tls"]["result"], "skipped");
  EXPECT_EQ(checks["directory.corp.url1.bind"]["result"], "skipped");
  for (const char* id : {"directory.corp.rootdse", "directory.corp.policy",
                         "directory.corp.size_limit", "directory.corp.rights"}) {
    EXPECT_EQ(checks[id]["result"], "skipped") << id;
    EXPECT_TRUE(Contains(checks[id]["detail"], "no server of this directory took")) << id;
  }
}

TEST_F(DoctorCliTest, TheTableShowsMarksAndFixes) {
  Enroll();
  ::chmod(state().c_str(), 0755);
  CommandResult r = Wbagent({"doctor", "-c", config().string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(Contains(r.output, "\u2713 config ")) << r.output;
  EXPECT_TRUE(Contains(r.output, "\u2717 state directory ")) << r.output;
  EXPECT_TRUE(Contains(r.output, "    fix: chmod 700 ")) << r.output;
  EXPECT_TRUE(Contains(r.output, "- TLS to ldaps://127.0.0.1:1: skipped: TCP")) << r.output;
  EXPECT_TRUE(Contains(r.output,
                       "- rights of the service account cn=wbagent,dc=example,dc=test: "
                       "skipped: no server"))
      << r.output;
}

TEST(HttpDateTest, ParsesImfFixdateAndRefusesTheRest) {
  auto t = channel::ParseHttpDate("Sun, 06 Nov 1994 08:49:37 GMT");
  ASSERT_TRUE(t);
  EXPECT_EQ(std::chrono::system_clock::to_time_t(*t), 784111777);
  EXPECT_FALSE(channel::ParseHttpDate(""));
  EXPECT_FALSE(channel::ParseHttpDate("Sun, 06 Nov 1994 08:49:37"));
  EXPECT_FALSE(channel::ParseHttpDate("Sunday, 06-Nov-94 08:49:37 GMT"));
  // The cloud's text: a year WallTime cannot hold is no date (before, it overflowed).
  EXPECT_FALSE(channel::ParseHttpDate("Fri, 31 Dec 9999 23:59:59 GMT"));
}

}  // namespace
}  // namespace wb::testing
