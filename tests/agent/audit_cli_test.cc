// Drives `wbagent audit verify` and `wbagent audit query` on trails written with wb_audit.
#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "audit/audit.h"
#include "queue/state_lock.h"
#include "tests/support/fake_clock.h"
#include "tests/support/process.h"
#include "tests/support/test_ca.h"

namespace wb::testing {
namespace {

constexpr char kWbagent[] = WB_WBAGENT_PATH;

CommandResult Wbagent(std::vector<std::string> args) {
  args.insert(args.begin(), kWbagent);
  return RunCommand(args);
}

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

audit::Event Reset(int i) {
  audit::Event e;
  e.type = audit::EventType::kDirectoryWrite;
  e.request_id = "req-" + std::to_string(i);
  e.tenant = "contoso";
  e.operations = {audit::Operation::kReset};
  e.target = {"user" + std::to_string(i) + "@corp.example.com",
              "CN=User " + std::to_string(i) + ",DC=corp,DC=example,DC=com"};
  e.requester = {audit::RequesterKind::kAdmin, "helpdesk@corp.example.com", {"fido2"}};
  e.decision = audit::Decision::kAllow;
  e.directory = "corp";
  e.server = "ldaps://dc1.corp.example.com:636";
  e.outcome = i == 2 ? "user_not_found" : "succeeded";
  e.duration = std::chrono::milliseconds(30 + i);
  return e;
}

// A valid config whose audit trail (at the default places under state_dir) has three records.
class AuditCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto ca = TestCa::Create(dir_.path(), "ca");
    ASSERT_TRUE(ca.ok());
    ASSERT_TRUE(WriteFile(dir_.path() / "bind.password", "pw\n", 0600).ok());
    ASSERT_TRUE(WriteFile(config(), ConfigText(), 0644).ok());
    audit::KeyOptions key_options;
    key_options.credentials_directory = std::filesystem::path();
    key_options.key_file = state() / "audit.key";
    key_options.create_if_missing = true;
    auto key = audit::LoadKey(key_options);
    ASSERT_TRUE(key.ok()) << key.error().ToString();
    audit::WriterOptions options;
    options.file = trail();
    options.checkpoint_file = audit::CheckpointPath(state());
    options.agent_id = "agent-1";
    auto writer = audit::Writer::Open(options, std::move(key->key), clock_);
    ASSERT_TRUE(writer.ok()) << writer.error().ToString();
    for (int i = 1; i <= 3; ++i) {
      ASSERT_TRUE((*writer)->Append(Reset(i)).ok());
      clock_.Advance(std::chrono::hours(1));
    }
    ASSERT_TRUE((*writer)->Sync().ok());
    head_ = (*writer)->DurableHead();
    ASSERT_TRUE((*writer)->Close().ok());
  }

  void DeleteTrailAndCheckpoint() const {
    std::filesystem::remove(trail());
    std::filesystem::remove(audit::CheckpointPath(state()));
  }

  std::string ConfigText() const {
    return "[agent]\nid = \"agent-1\"\nstate_dir = \"" + state().string() +
           "\"\n\n[cloud]\nurl = \"wss://cloud.example.test/agent\"\nca_file = \"ca.pem\"\n\n"
           "[[directory]]\nname = \"corp\"\nkind = \"openldap\"\n"
           "urls = [\"ldaps://127.0.0.1:636\"]\nca_file = \"ca.pem\"\n"
           "bind_dn = \"cn=wbagent,dc=example,dc=test\"\n"
           "bind_password_file = \"bind.password\"\nbase_dn = \"dc=example,dc=test\"\n";
  }
  std::filesystem::path config() const { return dir_.path() / "wbagent.toml"; }
  std::filesystem::path state() const { return dir_.path() / "state"; }
  std::filesystem::path trail() const { return state() / "audit" / "audit.jsonl"; }

  TempDir dir_;
  FakeClock clock_;
  audit::Head head_;  // the durable head after the three records
};

TEST_F(AuditCliTest, AuditVerbsHaveHelp) {
  for (const char* verb : {"verify", "query"}) {
    CommandResult r = Wbagent({"audit", verb, "--help"});
    EXPECT_EQ(r.exit_code, 0) << verb;
    EXPECT_TRUE(Contains(r.output, "--config")) << verb;
    EXPECT_TRUE(Contains(r.output, "--file")) << verb;
  }
  EXPECT_EQ(Wbagent({"audit", "--help"}).exit_code, 0);
}

TEST_F(AuditCliTest, AuditWithoutASubVerbIsAUsageError) {
  EXPECT_EQ(Wbagent({"audit"}).exit_code, 2);
  EXPECT_EQ(Wbagent({"audit", "frobnicate"}).exit_code, 2);
}

TEST_F(AuditCliTest, VerifyFindsEverythingThroughTheConfig) {
  CommandResult r = Wbagent({"audit", "verify", "-c", config().string()});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(Contains(r.output, "OK: 1 file, 3 records (last seq 3)")) << r.output;
  EXPECT_TRUE(Contains(r.output, "checkpoint at seq 3 matches")) << r.output;
}

TEST_F(AuditCliTest, VerifyOfAnEmptyTrailWithoutACheckpointSaysSoInsteadOfAborting) {
  DeleteTrailAndCheckpoint();
  CommandResult r = Wbagent({"audit", "verify", "-c", config().string()});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(Contains(r.output, "OK: 0 files, 0 records")) << r.output;
  EXPECT_TRUE(Contains(r.output, "an empty trail")) << r.output;
}

TEST_F(AuditCliTest, VerifyWithTheWitnessedHeadSaysItIsHeld) {
  CommandResult r =
      Wbagent({"audit", "verify", "-c", config().string(), "--witness", audit::FormatHead(head_)});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(Contains(r.output, "the witnessed head (seq 3) is held")) << r.output;
}

TEST_F(AuditCliTest, VerifyWithAWitnessFindsADeletedTrailThatLooksIntactLocally) {
  DeleteTrailAndCheckpoint();
  CommandResult r =
      Wbagent({"audit", "verify", "-c", config().string(), "--witness", audit::FormatHead(head_)});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(Contains(r.output, "witness_missing")) << r.output;
  EXPECT_TRUE(Contains(r.output, "3 records missing")) << r.output;
}

TEST_F(AuditCliTest, VerifyWithAMalformedWitnessIsAUsageError) {
  CommandResult r = Wbagent({"audit", "verify", "-c", config().string(), "--witness", "3:zz"});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(Contains(r.output, "--witness: witness head: the hash is not 64")) << r.output;
}

TEST_F(AuditCliTest, VerifyNamesTheFirstBrokenRecordByFileAndLine) {
  std::string text = ReadFileOrEmpty(trail());
  text.replace(text.find("user_not_found"), 14, "succeeded_____");
  ASSERT_TRUE(WriteFile(trail(), text, 0640).ok());
  CommandResult r = Wbagent({"audit", "verify", "--config", config().string()});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(Contains(r.output, "FAILED: " + trail().string() + ":2: bad_hmac:")) << r.output;
  EXPECT_TRUE(Contains(r.output, "(1 record verified)")) << r.output;
}

TEST_F(AuditCliTest, VerifyReportsATruncatedTail) {
  std::vector<std::string> lines = Lines(ReadFileOrEmpty(trail()));
  ASSERT_TRUE(WriteFile(trail(), lines[0] + "\n", 0640).ok());
  CommandResult r = Wbagent({"audit", "verify", "-c", config().string()});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(Contains(r.output, "truncated")) << r.output;
}

TEST_F(AuditCliTest, VerifyReportsATornTailDistinctly) {
  ASSERT_TRUE(WriteFile(trail(), ReadFileOrEmpty(trail()) + "{\"v\":1,\"seq\":4,", 0640).ok());
  CommandResult r = Wbagent({"audit", "verify", "-c", config().string()});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(Contains(r.output, "TORN TAIL: " + trail().string() + ":4: torn_tail:")) << r.output;
}

TEST_F(AuditCliTest, VerifyACopyWithoutTheConfig) {
  const std::filesystem::path copy = dir_.path() / "copy";
  std::filesystem::create_directories(copy);
  std::filesystem::copy_file(trail(), copy / "audit.jsonl");
  CommandResult r = Wbagent({"audit", "verify", "-c", "/nonexistent.toml", "--file",
                             (copy / "audit.jsonl").string(), "--key-file",
                             (state() / "audit.key").string(), "--no-checkpoint"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(Contains(r.output, "checkpoint not checked")) << r.output;
}

TEST_F(AuditCliTest, VerifyWithAnInvalidConfigIsAUsageError) {
  CommandResult r = Wbagent({"audit", "verify", "-c", "/nonexistent.toml"});
  EXPECT_EQ(r.exit_code, 2) << r.output;
}

TEST_F(AuditCliTest, VerifyWithAKeyOthersCanReadIsAUsageError) {
  std::filesystem::permissions(state() / "audit.key", std::filesystem::perms::others_read,
                               std::filesystem::perm_options::add);
  CommandResult r =
      Wbagent({"audit", "verify", "-c", "/nonexistent.toml", "--file", trail().string(),
               "--key-file", (state() / "audit.key").string(), "--no-checkpoint"});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(Contains(r.output, "permission_denied")) << r.output;
}

TEST_F(AuditCliTest, QueryShowsOneRowPerRequestByDefault) {
  CommandResult r = Wbagent({"audit", "query", "-c", config().string()});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  std::vector<std::string> lines = Lines(r.output);
  ASSERT_EQ(lines.size(), 5u) << r.output;
  EXPECT_EQ(lines[0].rfind("TIME (UTC)           REQUEST  REQUESTER", 0), 0u) << r.output;
  EXPECT_TRUE(Contains(lines[2], "helpdesk@corp.example.com")) << r.output;
  EXPECT_TRUE(Contains(lines[2], "user2@corp.example.com")) << r.output;
  EXPECT_TRUE(Contains(lines[2], "fido2")) << r.output;
  EXPECT_TRUE(Contains(lines[2], "user_not_found")) << r.output;
  EXPECT_EQ(lines[4], "3 requests");
}

TEST_F(AuditCliTest, QueryWithEventsShowsTheRecords) {
  CommandResult r = Wbagent({"audit", "query", "-c", config().string(), "--events"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  std::vector<std::string> lines = Lines(r.output);
  ASSERT_GE(lines.size(), 5u) << r.output;
  EXPECT_EQ(lines[0].rfind("TIME (UTC)           SEQ  EVENT", 0), 0u) << r.output;
  EXPECT_TRUE(Contains(r.output, "directory_write")) << r.output;
  EXPECT_EQ(lines.back(), "3 records");
  for (const std::string& line : lines) EXPECT_LE(line.size(), 120u) << line;
}

TEST_F(AuditCliTest, QueryFiltersAndWritesCsv) {
  CommandResult r = Wbagent({"audit", "query", "-c", config().string(), "--user",
                             "USER2@corp.example.com", "--format", "csv", "--events"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  std::vector<std::string> lines = Lines(r.output);
  ASSERT_EQ(lines.size(), 2u) << r.output;
  EXPECT_EQ(lines[0].rfind("seq,time,agent,event,", 0), 0u);
  EXPECT_TRUE(Contains(lines[1], ",\"CN=User 2,DC=corp,DC=example,DC=com\",")) << lines[1];
}

TEST_F(AuditCliTest, QueryWritesOneCsvRowPerRequest) {
  CommandResult r = Wbagent({"audit", "query", "-c", config().string(), "--format", "csv"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  std::vector<std::string> lines = Lines(r.output);
  ASSERT_EQ(lines.size(), 4u) << r.output;
  EXPECT_EQ(lines[0].rfind("request_id,time,last_time,", 0), 0u) << lines[0];
  EXPECT_EQ(lines[2].rfind("req-2,", 0), 0u) << lines[2];
}

TEST_F(AuditCliTest, QueryBySinceUntilOutcomeAndRequestWritesJsonLines) {
  CommandResult r =
      Wbagent({"audit", "query", "--file", trail().string(), "--since", "2027-01-15T09:00:00Z",
               "--until", "2027-01-16", "--outcome", "succeeded", "--format", "json", "--events"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  std::vector<std::string> lines = Lines(r.output);
  ASSERT_EQ(lines.size(), 1u) << r.output;
  auto record = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(record["request_id"], "req-3");
  EXPECT_TRUE(record.contains("hmac"));  // the stored line
  EXPECT_EQ(Lines(Wbagent({"audit", "query", "--file", trail().string(), "--request", "req-1",
                           "--format", "json", "--events"})
                      .output)
                .size(),
            1u);
}

TEST_F(AuditCliTest, QueryWritesOneJsonObjectPerRequest) {
  CommandResult r = Wbagent(
      {"audit", "query", "--file", trail().string(), "--request", "req-2", "--format", "json"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  std::vector<std::string> lines = Lines(r.output);
  ASSERT_EQ(lines.size(), 1u) << r.output;
  auto row = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(row["request_id"], "req-2");
  EXPECT_EQ(row["outcome"], "user_not_found");
  EXPECT_EQ(row["requester"]["verified_by"], nlohmann::json::array({"fido2"}));
  EXPECT_EQ(row["target"]["dn"], "CN=User 2,DC=corp,DC=example,DC=com");
}

TEST_F(AuditCliTest, QueryByEventKeepsTheRecordsOfThatType) {
  CommandResult r = Wbagent({"audit", "query", "--file", trail().string(), "--event",
                             "directory_write", "--events", "--format", "json"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(Lines(r.output).size(), 3u) << r.output;
  CommandResult none = Wbagent(
      {"audit", "query", "--file", trail().string(), "--event", "result_sent", "--format", "json"});
  EXPECT_EQ(none.exit_code, 0) << none.output;
  EXPECT_EQ(none.output, "");
}

TEST_F(AuditCliTest, QueryOfAnUnknownEventTypeIsAUsageError) {
  CommandResult r =
      Wbagent({"audit", "query", "--file", trail().string(), "--event", "directory_wrote"});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(Contains(r.output, "--event directory_wrote: not an event type")) << r.output;
}

TEST_F(AuditCliTest, QueryByAnAmbiguousRequestPrefixIsAUsageErrorNamingTheCandidates) {
  CommandResult r = Wbagent({"audit", "query", "--file", trail().string(), "--request", "req-"});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(Contains(r.output,
                       "--request more than one request starts with \"req-\": req-1, "
                       "req-2, req-3; give more characters"))
      << r.output;
}

TEST_F(AuditCliTest, QueryByATooShortRequestPrefixIsAUsageError) {
  CommandResult r = Wbagent({"audit", "query", "--file", trail().string(), "--request", "req"});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(Contains(r.output, "a prefix needs 4 characters or more")) << r.output;
}

TEST_F(AuditCliTest, QueryTakesRelativeTimesCountedFromNow) {
  // Two requests, 3 days and 2 hours before the real now (the command reads the system clock).
  FakeClock clock(std::chrono::system_clock::now() - std::chrono::hours(72));
  const std::filesystem::path recent = dir_.path() / "recent" / "audit.jsonl";
  audit::WriterOptions options;
  options.file = recent;
  options.checkpoint_file = dir_.path() / "recent" / "audit.checkpoint";
  auto writer = audit::Writer::Open(options, Secret(std::string(32, 'k')), clock);
  ASSERT_TRUE(writer.ok()) << writer.error().ToString();
  ASSERT_TRUE((*writer)->Append(Reset(1)).ok());
  clock.Advance(std::chrono::hours(70));
  ASSERT_TRUE((*writer)->Append(Reset(2)).ok());
  ASSERT_TRUE((*writer)->Close().ok());
  auto ids = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"audit", "query", "--file", recent.string(), "--format", "csv"});
    CommandResult r = Wbagent(args);
    EXPECT_EQ(r.exit_code, 0) << r.output;
    std::string out;
    for (const std::string& line : Lines(r.output)) out += line.substr(0, line.find(',')) + " ";
    return out;
  };
  EXPECT_EQ(ids({"--since", "24h"}), "request_id req-2 ");
  EXPECT_EQ(ids({"--until", "24h"}), "request_id req-1 ");
  EXPECT_EQ(ids({"--since", "7d"}), "request_id req-1 req-2 ");
  EXPECT_EQ(ids({"--since", "30m"}), "request_id ");
}

TEST_F(AuditCliTest, QueryRefusesABadTimeOrFormat) {
  CommandResult r =
      Wbagent({"audit", "query", "--file", trail().string(), "--since", "last tuesday"});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(Contains(r.output, "--since: 'last tuesday' is not a time")) << r.output;
  EXPECT_EQ(Wbagent({"audit", "query", "--file", trail().string(), "--format", "xml"}).exit_code,
            2);
}

// ---- The daemon and a trail that fails its checks -------------------------------------------

constexpr int kExitAuditTrailRefused = 65;  // agent/commands.h: EX_DATAERR

TEST_F(AuditCliTest, RunOnAnEditedLastRecordExits65AndSaysWhatToRun) {
  std::string text = ReadFileOrEmpty(trail());
  const std::size_t last = text.rfind("\"outcome\":\"succeeded\"");
  ASSERT_NE(last, std::string::npos);
  text.replace(last, 22, "\"outcome\":\"succeeded!\"");
  ASSERT_TRUE(WriteFile(trail(), text, 0640).ok());
  CommandResult r = Wbagent({"run", "-c", config().string()});
  EXPECT_EQ(r.exit_code, kExitAuditTrailRefused) << r.output;
  EXPECT_TRUE(Contains(r.output, "the last record fails its HMAC")) << r.output;
  EXPECT_TRUE(Contains(r.output, "exits with status 65 so that systemd does not restart it"))
      << r.output;
  EXPECT_TRUE(Contains(r.output, "sudo wbagent audit verify --config " + config().string()))
      << r.output;
  EXPECT_TRUE(Contains(r.output, "wbagent audit new-chain --config " + config().string()))
      << r.output;
}

TEST_F(AuditCliTest, RunOnATrailCutBackBeforeItsCheckpointExits65) {
  std::vector<std::string> lines = Lines(ReadFileOrEmpty(trail()));
  ASSERT_TRUE(WriteFile(trail(), lines[0] + "\n" + lines[1] + "\n", 0640).ok());
  CommandResult r = Wbagent({"run", "-c", config().string()});
  EXPECT_EQ(r.exit_code, kExitAuditTrailRefused) << r.output;
  EXPECT_TRUE(Contains(r.output, "records were removed")) << r.output;
}

TEST_F(AuditCliTest, RunOnADeletedCheckpointExits65) {
  std::filesystem::remove(audit::CheckpointPath(state()));
  EXPECT_EQ(Wbagent({"run", "-c", config().string()}).exit_code, kExitAuditTrailRefused);
}

// ---- audit new-chain: the way out the log names ---------------------------------------------

TEST_F(AuditCliTest, NewChainKeepsTheEvidenceAndLetsTheAgentStartAgain) {
  std::string text = ReadFileOrEmpty(trail());
  text.replace(text.rfind("succeeded"), 9, "SUCCEEDED");
  ASSERT_TRUE(WriteFile(trail(), text, 0640).ok());
  ASSERT_EQ(Wbagent({"run", "-c", config().string()}).exit_code, kExitAuditTrailRefused);
  const std::filesystem::path evidence = dir_.path() / "evidence";
  CommandResult r =
      Wbagent({"audit", "new-chain", "-c", config().string(), "--evidence", evidence.string()});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(Contains(r.output, "the old trail failed verification: bad_hmac at")) << r.output;
  EXPECT_TRUE(
      Contains(r.output, "kept as evidence: 2 files moved, as they are, to " + evidence.string()))
      << r.output;
  EXPECT_TRUE(Contains(r.output, "the old head (its last line as kept): 3:")) << r.output;
  EXPECT_EQ(ReadFileOrEmpty(evidence / "audit.jsonl"), text);
  // The new chain verifies, and its first record names the old one.
  CommandResult verify = Wbagent({"audit", "verify", "-c", config().string()});
  EXPECT_EQ(verify.exit_code, 0) << verify.output;
  EXPECT_TRUE(Contains(verify.output, "1 record (last seq 1)")) << verify.output;
  CommandResult first = Wbagent({"audit", "query", "-c", config().string(), "--events", "--event",
                                 "chain_started", "--format", "json"});
  EXPECT_TRUE(Contains(first.output, "\"outcome\":\"bad_hmac\"")) << first.output;
  EXPECT_TRUE(Contains(first.output, evidence.string())) << first.output;
  // The evidence still shows what was wrong with it.
  CommandResult old = Wbagent({"audit", "verify", "--file", (evidence / "audit.jsonl").string(),
                               "--checkpoint", (evidence / "audit.checkpoint").string(),
                               "--key-file", (state() / "audit.key").string()});
  EXPECT_EQ(old.exit_code, 1) << old.output;
  EXPECT_TRUE(Contains(old.output, "bad_hmac")) << old.output;
  // The agent gets past its trail now: it stops at the missing enrollment (exit 1), not 65.
  EXPECT_EQ(Wbagent({"run", "-c", config().string()}).exit_code, 1);
}

TEST_F(AuditCliTest, NewChainRefusesWhileTheAgentHoldsTheStateDirectory) {
  std::string text = ReadFileOrEmpty(trail());
  text.replace(text.rfind("succeeded"), 9, "SUCCEEDED");
  ASSERT_TRUE(WriteFile(trail(), text, 0640).ok());
  auto lock = queue::StateLock::Acquire(state());
  ASSERT_TRUE(lock.ok()) << lock.error().ToString();
  CommandResult r = Wbagent({"audit", "new-chain", "-c", config().string()});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(Contains(r.output, "stop the agent first")) << r.output;
  EXPECT_EQ(ReadFileOrEmpty(trail()), text);
}

TEST_F(AuditCliTest, NewChainOnATrailThatVerifiesExits1AndMovesNothing) {
  const std::string before = ReadFileOrEmpty(trail());
  CommandResult r = Wbagent({"audit", "new-chain", "-c", config().string()});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(Contains(r.output, "nothing to recover from")) << r.output;
  EXPECT_EQ(ReadFileOrEmpty(trail()), before);
}

TEST_F(AuditCliTest, NewChainIntoAnExistingDirectoryIsAUsageError) {
  std::string text = ReadFileOrEmpty(trail());
  text.replace(text.rfind("succeeded"), 9, "SUCCEEDED");
  ASSERT_TRUE(WriteFile(trail(), text, 0640).ok());
  CommandResult r =
      Wbagent({"audit", "new-chain", "-c", config().string(), "--evidence", dir_.path().string()});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(Contains(r.output, "exists: evidence is never mixed")) << r.output;
}

TEST(ServiceUnitTest, SystemdDoesNotRestartAnAgentWhoseAuditTrailFailedItsChecks) {
  std::vector<std::string> statuses;
  for (const std::string& line : Lines(ReadFileOrEmpty(WB_SOURCE_DIR "/systemd/wbagent.service"))) {
    if (line.rfind("RestartPreventExitStatus=", 0) != 0) continue;
    std::istringstream values(line.substr(line.find('=') + 1));
    for (std::string v; values >> v;) statuses.push_back(v);
  }
  EXPECT_NE(std::find(statuses.begin(), statuses.end(), std::to_string(kExitAuditTrailRefused)),
            statuses.end());
  EXPECT_NE(std::find(statuses.begin(), statuses.end(), "2"), statuses.end());
}

// The distinct status is the trail's alone: a start that fails for another reason (here: the
// agent is not enrolled) exits 1, which systemd restarts.
TEST_F(AuditCliTest, RunThatFailsForAnotherReasonExits1Not65) {
  CommandResult r = Wbagent({"run", "-c", config().string()});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(Contains(r.output, "enrollment")) << r.output;
  EXPECT_FALSE(Contains(r.output, "audit verify")) << r.output;
}

TEST_F(AuditCliTest, RunWithAMalformedAuditKeyExits1Not65) {
  ASSERT_TRUE(WriteFile(state() / "audit.key", "not hex\n", 0600).ok());
  CommandResult r = Wbagent({"run", "-c", config().string()});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(Contains(r.output, "audit key")) << r.output;
}

}  // namespace
}  // namespace wb::testing
