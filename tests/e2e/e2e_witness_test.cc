// The audit witness end to end (docs/audit.md, "The witness"): a real wbagent tells a real
// wbcloud its audit head; deleting the trail and its checkpoint, which no local check can see,
// is caught by `audit verify --witness` and by the agent itself, which then takes no request.
#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "tests/e2e/e2e_util.h"
#include "tests/support/server_gate.h"
#include "tests/support/slapd_server.h"

namespace wb::testing {
namespace {

class EndToEndWitnessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto slapd = SlapdServer::Start();
    WB_REQUIRE_SERVER(slapd.ok() ? Status::Ok() : slapd.error());
    slapd_ = std::move(*slapd);
    ASSERT_TRUE(slapd_->SetPolicy({.min_length = 8, .in_history = 5, .min_age = 0}).ok());
    auto d = Deploy(dir_.path(), SlapdServer::service_password(), SlapdDirectoryToml(*slapd_, 5));
    ASSERT_TRUE(d.ok()) << d.error().ToString();
    deployment_ = std::move(*d);
  }
  void TearDown() override {
    if (!deployment_.agents.empty() && deployment_.agents.front()->running()) {
      (void)agent().Stop();
    }
  }

  Agent& agent() { return *deployment_.agents.front(); }
  Cloud& cloud() { return *deployment_.cloud; }

  // The cloud's witnessed head for agent-1, once it reaches `min_seq`.
  std::string WaitForWitnessedHead(std::uint64_t min_seq) {
    std::string head;
    Status s = WaitUntil(
        [&] {
          const nlohmann::json status = cloud().StatusJson();
          if (!status.is_object()) return NotFound("no status");
          for (const auto& a : status["agents"]) {
            if (a.value("id", "") == "agent-1" && a.value("audit_head_seq", 0ull) >= min_seq) {
              head = a.value("audit_head", "");
              return Status::Ok();
            }
          }
          return NotFound("no witnessed head yet");
        },
        std::chrono::seconds(30));
    EXPECT_TRUE(s.ok()) << s.ToString();
    return head;
  }

  CommandResult Reset(const std::string& uid, const std::string& password, int timeout_s) {
    return cloud().Submit({"--user", uid, "--kind", "uid", "--op", "reset", "--wait", "--timeout",
                           std::to_string(timeout_s)},
                          &password);
  }

  std::unique_ptr<SlapdServer> slapd_;
  TempDir dir_{"wbwitness"};
  Deployment deployment_;
};

TEST_F(EndToEndWitnessTest, DeletedTrailIsCaughtByVerifyAndTheAgentRefusesToGoOn) {
  const std::string first = "Witnessed-Pass-1";
  CommandResult done = Reset("alice", first, 60);
  ASSERT_EQ(done.exit_code, 0) << done.output;
  // The head moves on at the agent's next tick after the request's records are durable.
  const std::string head = WaitForWitnessedHead(4);
  ASSERT_FALSE(head.empty());
  CommandResult held = agent().Wbagent({"audit", "verify", "--witness", head});
  EXPECT_EQ(held.exit_code, 0) << held.output;
  EXPECT_NE(held.output.find("is held"), std::string::npos) << held.output;

  // Whoever is root on the host removes the trail and its checkpoint together.
  ASSERT_TRUE(agent().Stop().ok());
  for (const auto& file : std::filesystem::directory_iterator(agent().state() / "audit")) {
    std::filesystem::remove(file.path());
  }
  std::filesystem::remove(agent().state() / "audit.checkpoint");
  CommandResult local = agent().Wbagent({"audit", "verify"});
  EXPECT_EQ(local.exit_code, 0) << "the documented limit of the local checks: " << local.output;
  CommandResult witnessed = agent().Wbagent({"audit", "verify", "--witness", head});
  EXPECT_NE(witnessed.exit_code, 0) << witnessed.output;
  EXPECT_NE(witnessed.output.find("witness_missing"), std::string::npos) << witnessed.output;

  // The agent starts (a new trail), learns the witnessed head at welcome, and refuses. Its
  // restarts make the new chain longer than the witnessed one; it still never tells the cloud
  // a head of it (that would clear the refusal at the next welcome), so the refusal holds.
  const std::uint64_t witnessed_seq = std::stoull(head.substr(0, head.find(':')));
  for (int run = 1; run <= 4; ++run) {
    const std::size_t log_before = ReadFileOrEmpty(agent().log()).size();
    ASSERT_TRUE(agent().Launch().ok());
    Status refused = WaitUntil(
        [&] {
          return ReadFileOrEmpty(agent().log()).find("the cloud witnessed", log_before) !=
                         std::string::npos
                     ? Status::Ok()
                     : NotFound("no refusal logged");
        },
        std::chrono::seconds(20));
    ASSERT_TRUE(refused.ok()) << "run " << run << ": " << ReadFileOrEmpty(agent().log());
    EXPECT_EQ(ReadFileOrEmpty(agent().log()).find("connected to the cloud", log_before),
              std::string::npos)
        << "run " << run;
    if (run < 4) {
      ASSERT_TRUE(agent().Stop().ok());
    }
  }
  const std::string trail = ReadFileOrEmpty(agent().state() / "audit" / "audit.jsonl");
  EXPECT_NE(trail.find("\"event\":\"witness_refused\""), std::string::npos) << trail;
  EXPECT_GT(std::count(trail.begin(), trail.end(), '\n'), static_cast<long>(witnessed_seq))
      << "the new chain must grow past the witnessed seq for this test to mean anything";

  // No request is taken while the trail does not hold the witnessed head.
  const std::string second = "Not-Applied-Pass-2";
  CommandResult refused_reset = Reset("alice", second, 8);
  EXPECT_NE(refused_reset.exit_code, 0) << refused_reset.output;
  EXPECT_TRUE(
      TryUserBind(slapd_->ldaps_url(), slapd_->ca_file(), SlapdServer::user_dn("alice"), first)
          .ok());
  // And the witness was not lowered by the agent's new, shorter chain.
  EXPECT_EQ(WaitForWitnessedHead(0), head);
}

}  // namespace
}  // namespace wb::testing
