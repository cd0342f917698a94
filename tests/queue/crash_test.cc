// Crash safety: a helper process enqueues and processes requests and is killed with SIGKILL at
// random moments, many times over. After every restart each request the helper was told is
// durable is present, in exactly one consistent state, and no request was applied twice.

#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/queue/queue_test_util.h"

namespace wb::queue::testing {
namespace {

using wb::testing::ChildProcess;

std::vector<std::string> Lines(const std::filesystem::path& path) {
  std::vector<std::string> out;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

class CrashTest : public ::testing::Test {
 protected:
  std::filesystem::path state() const { return dir_.path() / "state"; }
  std::filesystem::path report() const { return dir_.path() / "durable.txt"; }
  std::filesystem::path directory_log() const { return dir_.path() / "applied.txt"; }
  std::filesystem::path child_log() const { return dir_.path() / "child.log"; }

  Result<ChildProcess> Start(const std::string& mode, int iteration) {
    return ChildProcess::Start(
        {WB_QUEUE_TEST_HELPER, mode, state().string(), report().string(), directory_log().string(),
         std::string("i").append(std::to_string(iteration))},
        child_log());
  }

  // How many times a helper has finished its recovery (it prints a line each time).
  std::size_t RecoveredLines() const {
    std::size_t n = 0;
    for (const std::string& line : Lines(child_log())) n += line.rfind("recovered:", 0) == 0;
    return n;
  }

  std::map<std::string, Record> AllRecords(Queue& q) {
    std::map<std::string, Record> out;
    ListFilter page{.limit = 500};
    for (;;) {
      auto batch = q.List(page);
      EXPECT_TRUE(batch.ok()) << batch.error().ToString();
      if (!batch.ok() || batch->empty()) return out;
      page.after_seq = batch->back().seq;
      for (Record& r : *batch) out.emplace(r.info.id, std::move(r));
    }
  }

  // Checks every invariant; returns the number of records.
  std::size_t Verify(int iteration) {
    SystemClock clock;
    Options o;
    o.state_dir = state();
    o.credentials_directory = std::filesystem::path();
    auto q = Queue::Open(o, clock);
    EXPECT_TRUE(q.ok()) << "iteration " << iteration << ": " << q.error().ToString();
    if (!q.ok()) return 0;
    std::map<std::string, Record> records = AllRecords(**q);
    std::map<std::string, int> applied;
    for (const std::string& id : Lines(directory_log())) ++applied[id];

    for (const std::string& id : Lines(report())) {
      EXPECT_EQ(records.count(id), 1u)
          << "iteration " << iteration << ": durable " << id << " is lost";
    }
    for (const auto& [id, n] : applied) {
      EXPECT_EQ(n, 1) << "iteration " << iteration << ": " << id << " applied " << n << " times";
      auto it = records.find(id);
      if (it == records.end()) {
        ADD_FAILURE() << id << " was applied but is not stored";
        continue;
      }
      EXPECT_TRUE(it->second.state == State::kSucceeded || it->second.state == State::kApplying)
          << id << " was applied but is " << StateName(it->second.state);
    }
    for (const auto& [id, r] : records) ExpectConsistent(**q, r, applied.count(id) != 0);
    return records.size();
  }

  void ExpectConsistent(Queue& q, const Record& r, bool applied) {
    const std::string& id = r.info.id;
    if (IsTerminal(r.state)) {
      EXPECT_FALSE(r.secret_stored) << id;
      EXPECT_TRUE(r.outcome.has_value() && r.finished_at.has_value()) << id;
    } else {
      EXPECT_TRUE(r.secret_stored) << id;
      EXPECT_FALSE(r.outcome.has_value()) << id;
    }
    if (r.state == State::kApplying) {
      EXPECT_TRUE(r.attempt_started_at.has_value()) << id;
      EXPECT_GE(r.attempts, 1) << id;
    }
    if (r.state == State::kSucceeded) {
      EXPECT_TRUE(applied) << id << " succeeded but was never applied";
    }
    if (r.state == State::kRejected) {
      EXPECT_FALSE(applied) << id << " was rejected but applied";
    }
    auto d = q.Show(id);
    ASSERT_TRUE(d.ok()) << id;
    ASSERT_FALSE(d->history.empty()) << id;
    EXPECT_EQ(d->history.front().event, "received") << id;
    EXPECT_EQ(d->history.back().state, r.state) << id;
  }

  wb::testing::TempDir dir_{"wbcrash"};
};

TEST_F(CrashTest, KilledAtRandomMomentsLosesNothingAndAppliesNothingTwice) {
  constexpr int kIterations = 50;
  std::mt19937 rng(20240601);
  std::uniform_int_distribution<int> early_ms(0, 60);  // may hit Open or recovery
  std::uniform_int_distribution<int> busy_ms(5, 150);  // after recovery, while it works
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kIterations; ++i) {
    const std::size_t recovered_before = RecoveredLines();
    auto child = Start("crash", i);
    ASSERT_TRUE(child.ok()) << child.error().ToString();
    if (i % 2 == 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(early_ms(rng)));
    } else {
      ASSERT_TRUE(wb::testing::WaitUntil(
                      [&] {
                        return RecoveredLines() > recovered_before ? Status::Ok()
                                                                   : Unavailable("starting");
                      },
                      std::chrono::seconds(20), &*child)
                      .ok())
          << wb::testing::ReadFileOrEmpty(child_log());
      std::this_thread::sleep_for(std::chrono::milliseconds(busy_ms(rng)));
    }
    ASSERT_TRUE(child->running()) << "the helper exited early:\n"
                                  << wb::testing::ReadFileOrEmpty(child_log());
    child->Signal(SIGKILL);
    ASSERT_TRUE(child->Wait(std::chrono::seconds(10)).ok());
    Verify(i);
    if (HasFatalFailure() || HasNonfatalFailure()) return;
  }
  // Let one last run recover and finish everything: every durable request ends terminal.
  auto drain = Start("drain", kIterations);
  ASSERT_TRUE(drain.ok());
  auto code = drain->Wait(std::chrono::seconds(60));
  ASSERT_TRUE(code.ok()) << code.error().ToString();
  ASSERT_EQ(*code, 0) << wb::testing::ReadFileOrEmpty(child_log());
  const std::size_t total = Verify(kIterations);
  const auto durable = Lines(report());
  EXPECT_GE(durable.size(), 10u) << "too little work happened between the kills";
  EXPECT_GE(total, durable.size());
  const auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start);
  RecordProperty("durable_requests", static_cast<int>(durable.size()));
  RecordProperty("applied", static_cast<int>(Lines(directory_log()).size()));
  int found_applied = 0;
  int requeued = 0;
  for (const std::string& line : Lines(child_log())) {
    int f = 0;
    int r = 0;
    if (std::sscanf(line.c_str(), "recovered: %d found applied, %d requeued", &f, &r) == 2) {
      found_applied += f;
      requeued += r;
    }
  }
  std::printf(
      "crash test: %d kills, %zu durable requests, %zu applied, interrupted attempts: %d found "
      "applied, %d requeued; %.1f s\n",
      kIterations, durable.size(), Lines(directory_log()).size(), found_applied, requeued,
      seconds.count());
}

}  // namespace
}  // namespace wb::queue::testing
