// Torture: SIGKILL of the whole agent at random points under load, through a real wbcloud
// against a real slapd, then restart, again and again; every fifth round also stops the
// directory for a while or restarts the cloud first. After every kill the audit trail
// verifies; at the end every request the cloud sent has its result at the cloud, none was lost,
// none was applied twice (the directory's password history counts the writes), and every
// write is in the audit trail.
//
// Short by default (CI); WB_TORTURE_KILLS=1000 is the long mode. WB_TORTURE_SEED replays a run.
// The figures are printed at the end (kills, requests, lost, applied twice).
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "tests/e2e/e2e_util.h"
#include "tests/support/server_gate.h"
#include "tests/support/slapd_server.h"

namespace wb::testing {
namespace {

using nlohmann::json;

constexpr const char* kUsers[] = {"alice", "bob", "carol", "dave"};
constexpr int kRequestsPerRound = 6;

std::chrono::milliseconds Random(std::mt19937& random, int max_ms) {
  return std::chrono::milliseconds(std::uniform_int_distribution<int>(0, max_ms)(random));
}

int EnvInt(const char* name, int fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? std::atoi(value) : fallback;
}

class EndToEndTortureTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto slapd = SlapdServer::Start();
    WB_REQUIRE_SERVER(slapd.ok() ? Status::Ok() : slapd.error());
    slapd_ = std::move(*slapd);
    kills_ = EnvInt("WB_TORTURE_KILLS", 10);
    // Every write of a user's password adds one pwdHistory value while the history is longer
    // than the writes: the count of values is the count of writes.
    const int writes_per_user = kills_ * kRequestsPerRound / 4 + 10;
    ASSERT_TRUE(
        slapd_->SetPolicy({.min_length = 8, .in_history = writes_per_user, .min_age = 0}).ok());
    auto d = Deploy(dir_.path(), SlapdServer::service_password(), SlapdDirectoryToml(*slapd_, 5));
    ASSERT_TRUE(d.ok()) << d.error().ToString();
    deployment_ = std::move(*d);
  }
  void TearDown() override {
    if (!deployment_.agents.empty() && agent().running()) (void)agent().Stop();
  }

  Agent& agent() { return *deployment_.agents.front(); }
  Cloud& cloud() { return *deployment_.cloud; }

  std::size_t HistoryCount(const std::string& uid) const {
    auto values = slapd_->ReadAttribute(SlapdServer::user_dn(uid), "pwdHistory");
    EXPECT_TRUE(values.ok()) << values.error().ToString();
    return values.ok() ? values->size() : 0;
  }

  // Submits a reset without waiting; returns its id (empty on failure).
  std::string Submit(const std::string& uid, const std::string& password) {
    CommandResult r = cloud().Submit({"--user", uid, "--kind", "uid", "--op", "reset"}, &password);
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return r.exit_code == 0 ? r.output.substr(0, r.output.find('\n')) : "";
  }

  json CloudRequest(const std::string& id) {
    const std::string text = ReadFileOrEmpty(cloud().state() / "requests" / (id + ".json"));
    json j = json::parse(text, nullptr, false);
    return j.is_object() ? j : json(nullptr);
  }

  std::unique_ptr<SlapdServer> slapd_;
  TempDir dir_{"wbtorture"};
  Deployment deployment_;
  int kills_ = 0;
};

TEST_F(EndToEndTortureTest, KilledAtRandomPointsNothingIsLostOrAppliedTwice) {
  const unsigned seed = static_cast<unsigned>(EnvInt("WB_TORTURE_SEED", std::random_device{}()));
  std::mt19937 random(seed);
  SCOPED_TRACE("WB_TORTURE_SEED=" + std::to_string(seed));
  std::map<std::string, std::size_t> history_before;
  for (const char* uid : kUsers) history_before[uid] = HistoryCount(uid);

  std::map<std::string, std::string> user_of;  // request id -> uid
  int next = 0;
  int directory_outages = 0;
  int cloud_restarts = 0;
  for (int kill = 0; kill < kills_; ++kill) {
    for (int i = 0; i < kRequestsPerRound; ++i, ++next) {
      const std::string uid = kUsers[next % 4];
      const std::string id = Submit(uid, "Torture-" + std::to_string(next) + "-Pass");
      ASSERT_FALSE(id.empty());
      user_of[id] = uid;
    }
    // Somewhere in the middle of accepting, applying and reporting them.
    std::this_thread::sleep_for(Random(random, 250));
    // Every fifth round, before the kill, another fault under the same load: the directory
    // stops for a while, or the cloud restarts (the channel drops mid-stream).
    if (kill % 5 == 4) {
      if (std::uniform_int_distribution<int>(0, 1)(random) == 0) {
        ASSERT_TRUE(slapd_->Stop().ok());
        std::this_thread::sleep_for(Random(random, 300));
        ASSERT_TRUE(slapd_->Resume().ok());
        ++directory_outages;
      } else {
        ASSERT_TRUE(cloud().Restart().ok());
        ++cloud_restarts;
      }
      std::this_thread::sleep_for(Random(random, 250));
    }
    agent().Kill();
    CommandResult verify = agent().Wbagent({"audit", "verify"});
    ASSERT_EQ(verify.exit_code, 0) << "after kill " << kill << ": " << verify.output;
    Status started = agent().Start();
    ASSERT_TRUE(started.ok()) << "after kill " << kill << ": " << started.ToString();
  }

  // Every request ends with its result at the cloud.
  std::map<std::string, json> finished;
  Status all_done = WaitUntil(
      [&] {
        for (const auto& [id, uid] : user_of) {
          if (finished.count(id) != 0) continue;
          json r = CloudRequest(id);
          if (r.is_object() && r.value("state", "") == "done") finished[id] = r;
        }
        return finished.size() == user_of.size() ? Status::Ok() : NotFound("not all done");
      },
      std::chrono::seconds(180));
  const std::size_t lost = user_of.size() - finished.size();
  EXPECT_TRUE(all_done.ok()) << lost << " of " << user_of.size() << " requests have no result";

  std::map<std::string, std::size_t> succeeded;
  int failed = 0;
  int redelivered = 0;  // a kill caught these between delivery and result
  for (const auto& [id, r] : finished) {
    if (r.value("deliveries", 0) > 1) ++redelivered;
    if (r.value("outcome", "") == "succeeded") {
      ++succeeded[user_of[id]];
    } else {
      ++failed;
      ADD_FAILURE() << "request " << id << " ended " << r.dump();
    }
  }
  // One write per succeeded request: a write applied twice shows as one history value more.
  long applied_twice = 0;
  for (const char* uid : kUsers) {
    const long writes = static_cast<long>(HistoryCount(uid) - history_before[uid]);
    EXPECT_EQ(writes, static_cast<long>(succeeded[uid])) << uid;
    applied_twice += std::max(0L, writes - static_cast<long>(succeeded[uid]));
  }

  // The auditor's promise, as a property of the same run: every write is in the trail. Each
  // request the cloud holds as succeeded has a directory_write that says so (a kill between
  // the write and its record leaves it to the next start, which records the write it finds
  // applied), and none that did not succeed has one. Every request was received on record.
  std::set<std::string> recorded_writes;
  std::set<std::string> recorded_arrivals;
  CommandResult records = agent().Wbagent({"audit", "query", "--events", "--format", "json"});
  ASSERT_EQ(records.exit_code, 0) << records.output;
  std::istringstream lines(records.output);
  for (std::string line; std::getline(lines, line);) {
    const json r = json::parse(line, nullptr, false);
    if (!r.is_object()) continue;
    const std::string id = r.value("request_id", "");
    const std::string event = r.value("event", "");
    if (event == "request_received") recorded_arrivals.insert(id);
    if (event == "directory_write" && r.value("outcome", "") == "succeeded") {
      recorded_writes.insert(id);
    }
  }
  std::size_t unrecorded = 0;
  for (const auto& [id, r] : finished) {
    const bool succeeded_at_cloud = r.value("outcome", "") == "succeeded";
    EXPECT_EQ(recorded_writes.count(id) != 0, succeeded_at_cloud)
        << "request " << id << ": the trail and the cloud disagree on its write";
    unrecorded += succeeded_at_cloud && recorded_writes.count(id) == 0 ? 1 : 0;
    EXPECT_EQ(recorded_arrivals.count(id), 1u) << "request " << id << " has no request_received";
  }

  ASSERT_TRUE(agent().Stop().ok());
  const json status = cloud().StatusJson();
  std::string witness;
  for (const auto& a : status["agents"]) witness = a.value("audit_head", "");
  ASSERT_FALSE(witness.empty()) << status.dump();
  CommandResult verify = agent().Wbagent({"audit", "verify", "--witness", witness});
  EXPECT_EQ(verify.exit_code, 0) << verify.output;

  std::printf(
      "torture: seed %u, kills %d (with %d directory outages and %d cloud restarts), requests "
      "%zu (%d delivered more than once), succeeded %zu, failed %d, lost %zu, applied twice "
      "%ld, writes not in the trail %zu\n",
      seed, kills_, directory_outages, cloud_restarts, user_of.size(), redelivered,
      finished.size() - static_cast<std::size_t>(failed), failed, lost, applied_twice, unrecorded);
}

}  // namespace
}  // namespace wb::testing
