// Administrators' views: counts per state, listing, one request's history, read-only access.

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <string>
#include <thread>

#include "tests/queue/queue_test_util.h"

namespace wb::queue::testing {
namespace {

class AdminTest : public QueueTest {
 protected:
  void SetUp() override { Open(); }
};

TEST_F(AdminTest, StatsCountEachStateAndTheOldestUnfinishedRequest) {
  const WallTime first = clock_.Now();
  ASSERT_TRUE(queue_->Enqueue(MakeReset("received", "a", clock_.Now())).ok());
  clock_.Advance(seconds(30));
  AddReady("ready", "b");
  AddReady("applying", "c");
  AddReady("done", "d");
  ASSERT_TRUE(queue_->Finish("done", Rejected()).ok());
  MustTake();
  clock_.Advance(seconds(45));
  auto stats = queue_->GetStats();
  ASSERT_TRUE(stats.ok()) << stats.error().ToString();
  EXPECT_EQ(stats->count(State::kReceived), 1);
  EXPECT_EQ(stats->count(State::kReady), 1);
  EXPECT_EQ(stats->count(State::kApplying), 1);
  EXPECT_EQ(stats->count(State::kRejected), 1);
  EXPECT_EQ(stats->count(State::kSucceeded), 0);
  EXPECT_EQ(stats->unfinished, 3);
  EXPECT_EQ(stats->interrupted, 0);
  EXPECT_EQ(stats->pending_results, 1);
  EXPECT_EQ(stats->oldest_unfinished_received_at, first);
  EXPECT_EQ(stats->oldest_unfinished_age, seconds(75));
  EXPECT_EQ(stats->replay_entries, 0);  // each stored id is remembered by its record
}

TEST_F(AdminTest, StatsOfAnEmptyQueueHaveNoOldestRequest) {
  auto stats = queue_->GetStats();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->unfinished, 0);
  EXPECT_FALSE(stats->oldest_unfinished_age.has_value());
}

TEST_F(AdminTest, ListNewestFirstReversesTheAcceptOrder) {
  for (int i = 0; i < 3; ++i) AddReady("r" + std::to_string(i), "u" + std::to_string(i));
  auto newest = queue_->List({.limit = 2, .newest_first = true});
  ASSERT_TRUE(newest.ok());
  ASSERT_EQ(newest->size(), 2u);
  EXPECT_EQ(newest->front().info.id, "r2");
  EXPECT_EQ(newest->back().info.id, "r1");
}

// The tables print the first 8 characters of an id; that is enough to show it.
TEST_F(AdminTest, ShowFindsARequestByAnUnambiguousPrefix) {
  AddReady("3f2a9c1e-0b1d-4e5f-8a9b-c0d1e2f3a4b5", "alice");
  AddReady("3f2a77d0-1111-4e5f-8a9b-c0d1e2f3a4b5", "bob");
  auto shown = queue_->Show("3f2a9c1e");
  ASSERT_TRUE(shown.ok()) << shown.error().ToString();
  EXPECT_EQ(shown->record.info.id, "3f2a9c1e-0b1d-4e5f-8a9b-c0d1e2f3a4b5");
  auto ambiguous = queue_->Show("3f2a");
  ASSERT_FALSE(ambiguous.ok());
  EXPECT_EQ(ambiguous.error().code(), Code::kInvalidArgument);
  EXPECT_EQ(queue_->Show("3f2").error().code(), Code::kNotFound) << "shorter than kMinIdPrefix";
  EXPECT_EQ(queue_->Show("4f2a9c1e").error().code(), Code::kNotFound);
}

// What the rate limits count at start: the records of the last window, read newest first and
// no further than the first older one, not the whole retention.
TEST_F(AdminTest, ListReceivedSinceEndsAtTheFirstOlderRecord) {
  ASSERT_TRUE(queue_->Enqueue(MakeReset("old", "alice", clock_.Now())).ok());
  clock_.Advance(minutes(10));
  const WallTime since = clock_.Now();
  ASSERT_TRUE(queue_->Enqueue(MakeReset("r2", "bob", clock_.Now())).ok());
  clock_.Advance(minutes(1));
  ASSERT_TRUE(queue_->Enqueue(MakeReset("r3", "carol", clock_.Now())).ok());
  auto recent = queue_->List({.newest_first = true, .received_since = since});
  ASSERT_TRUE(recent.ok()) << recent.error().ToString();
  ASSERT_EQ(recent->size(), 2u);
  EXPECT_EQ((*recent)[0].info.id, "r3");
  EXPECT_EQ((*recent)[1].info.id, "r2");
  EXPECT_EQ(queue_->List({.received_since = since}).error().code(), Code::kInvalidArgument);
}

TEST_F(AdminTest, ListFiltersByStateAndPagesInAcceptOrder) {
  for (int i = 0; i < 5; ++i) AddReady("r" + std::to_string(i), "u" + std::to_string(i));
  ASSERT_TRUE(queue_->Enqueue(MakeReset("x", "ux", clock_.Now())).ok());
  auto ready = queue_->List({.state = State::kReady, .limit = 3});
  ASSERT_TRUE(ready.ok());
  ASSERT_EQ(ready->size(), 3u);
  EXPECT_EQ(ready->front().info.id, "r0");
  auto rest = queue_->List({.state = State::kReady, .after_seq = ready->back().seq});
  ASSERT_EQ(rest->size(), 2u);
  EXPECT_EQ(rest->back().info.id, "r4");
  EXPECT_EQ(queue_->List({})->size(), 6u);
  EXPECT_EQ(queue_->List({.state = State::kReceived})->size(), 1u);
}

TEST_F(AdminTest, ShowGivesHistoryWithAttemptsAndLastError) {
  AddReady("r1", "alice");
  MustTake();
  Outcome busy = Transient("directory_busy");
  busy.message = "server busy, try later";
  ASSERT_TRUE(queue_->Retry("r1", busy).ok());
  auto d = queue_->Show("r1");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->record.attempts, 1);
  EXPECT_EQ(d->record.last_error_code, "directory_busy");
  EXPECT_EQ(d->record.last_error_message, "server busy, try later");
  ASSERT_EQ(d->history.size(), 4u);
  EXPECT_EQ(d->history[3].event, "retry_scheduled");
  EXPECT_EQ(d->history[3].state, State::kReady);
  EXPECT_EQ(d->history[3].message, "server busy, try later");
  EXPECT_EQ(d->history[0].at, clock_.Now());
}

TEST_F(AdminTest, ShowOfUnknownIdIsNotFound) {
  EXPECT_EQ(queue_->Show("nope").error().code(), Code::kNotFound);
}

TEST_F(AdminTest, NoViewContainsThePassword) {
  Request req = MakeChange("r1", "alice", clock_.Now());
  ASSERT_TRUE(queue_->Enqueue(req).ok());
  ASSERT_TRUE(queue_->MarkReady("r1").ok());
  MustTake();
  auto d = queue_->Show("r1");
  ASSERT_TRUE(d.ok());
  std::string all = d->record.info.id + d->record.info.target + d->record.info.requester_json +
                    d->record.last_error_code + d->record.last_error_message;
  for (const auto& e : d->history) all += e.event + e.code + e.message;
  auto records = queue_->List({});
  ASSERT_TRUE(records.ok());
  for (const auto& r : *records) all += r.info.requester_json + r.info.target;
  EXPECT_EQ(all.find(req.new_password.view()), std::string::npos);
  EXPECT_EQ(all.find(req.old_password.view()), std::string::npos);
}

TEST_F(AdminTest, ReadOnlyQueueSeesTheRunningAgentsQueue) {
  AddReady("r1", "alice");
  AddReady("r2", "bob");
  MustTake();
  Options o = DefaultOptions();
  o.read_only = true;
  auto inspector = OpenQueue(o);
  ASSERT_TRUE(inspector.ok()) << inspector.error().ToString();
  auto stats = (*inspector)->GetStats();
  ASSERT_TRUE(stats.ok()) << stats.error().ToString();
  EXPECT_EQ(stats->count(State::kReady), 1);
  EXPECT_EQ(stats->count(State::kApplying), 1);
  EXPECT_EQ(stats->interrupted, 0);  // r1 belongs to the running agent
  EXPECT_EQ((*inspector)->Show("r2")->record.state, State::kReady);
  EXPECT_EQ((*inspector)->List({})->size(), 2u);
}

TEST_F(AdminTest, ReadOnlyQueueRefusesWrites) {
  AddReady("r1", "alice");
  Options o = DefaultOptions();
  o.read_only = true;
  auto inspector = OpenQueue(o);
  ASSERT_TRUE(inspector.ok());
  Queue& q = **inspector;
  EXPECT_EQ(q.Enqueue(MakeReset("r2", "bob", clock_.Now())).error().code(),
            Code::kFailedPrecondition);
  EXPECT_EQ(q.Take().error().code(), Code::kFailedPrecondition);
  EXPECT_EQ(q.MarkReady("r1").code(), Code::kFailedPrecondition);
  EXPECT_EQ(StatusOf(q.Finish("r1", Rejected())).code(), Code::kFailedPrecondition);
  EXPECT_EQ(q.RememberNonce("n", clock_.Now()).error().code(), Code::kFailedPrecondition);
  EXPECT_EQ(q.Maintain().error().code(), Code::kFailedPrecondition);
  EXPECT_EQ(queue_->Show("r1")->record.state, State::kReady);
}

TEST_F(AdminTest, ReadOnlyOpenWithoutADatabaseIsNotFound) {
  Options o = DefaultOptions();
  o.state_dir = dir_.path() / "elsewhere";
  o.read_only = true;
  EXPECT_EQ(OpenQueue(o).error().code(), Code::kNotFound);
}

TEST_F(AdminTest, StateNamesAreStable) {
  EXPECT_EQ(StateName(State::kReceived), "received");
  EXPECT_EQ(StateName(State::kReady), "ready");
  EXPECT_EQ(StateName(State::kApplying), "applying");
  EXPECT_EQ(StateName(State::kSucceeded), "succeeded");
  EXPECT_EQ(StateName(State::kRejected), "rejected");
  EXPECT_EQ(StateName(State::kFailed), "failed");
  EXPECT_EQ(StateName(State::kExpired), "expired");
}

// Another connection holds the database's write lock, so a write (here an Enqueue) waits
// inside the queue's writer, holding it, until the lock is released. The administrators'
// reads must answer meanwhile: a metrics scrape or a reload's list of a large queue must not
// wait for the requests being stored and taken (nor hold them up: AdminReadBesideRequestsTest).
class AdminReadsWhileWritingTest : public AdminTest {
 protected:
  void HoldTheWriteLock() {
    ASSERT_EQ(sqlite3_open_v2(db_path().c_str(), &holder_, SQLITE_OPEN_READWRITE, nullptr),
              SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(holder_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  }
  // Starts an Enqueue on another thread; it blocks on the held lock.
  void StartAWrite() {
    writer_ = std::thread([this] {
      started_ = true;
      write_status_ = StatusOf(queue_->Enqueue(MakeReset("blocked", "b", clock_.Now())));
      written_ = true;
    });
    while (!started_) std::this_thread::yield();
    // Time for the write to reach the lock (real time: the write waits in SQLite's busy
    // handler, which knows no fake clock). Were it slower, the test would show nothing, never
    // fail wrongly.
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  void ReleaseAndJoin() {
    ASSERT_EQ(sqlite3_exec(holder_, "ROLLBACK", nullptr, nullptr, nullptr), SQLITE_OK);
    writer_.join();
    EXPECT_TRUE(write_status_.ok()) << write_status_.ToString();
  }
  void TearDown() override {
    if (writer_.joinable()) {
      (void)sqlite3_exec(holder_, "ROLLBACK", nullptr, nullptr, nullptr);
      writer_.join();
    }
    sqlite3_close(holder_);
  }

  sqlite3* holder_ = nullptr;
  std::thread writer_;
  std::atomic<bool> started_{false};
  std::atomic<bool> written_{false};
  Status write_status_;
};

TEST_F(AdminReadsWhileWritingTest, StatsAnswerWhileAWriteWaitsInTheWriter) {
  AddReady("ready", "a");
  HoldTheWriteLock();
  StartAWrite();
  auto stats = queue_->GetStats();
  EXPECT_FALSE(written_) << "GetStats waited for the writer";
  ASSERT_TRUE(stats.ok()) << stats.error().ToString();
  EXPECT_EQ(stats->count(State::kReady), 1);
  EXPECT_EQ(stats->count(State::kReceived), 0);  // the blocked write is not in the snapshot
  ReleaseAndJoin();
  EXPECT_EQ(queue_->GetStats()->count(State::kReceived), 1);
}

TEST_F(AdminReadsWhileWritingTest, ListAnswersWhileAWriteWaitsInTheWriter) {
  AddReady("ready", "a");
  HoldTheWriteLock();
  StartAWrite();
  auto listed = queue_->List({.limit = 10, .newest_first = true});
  EXPECT_FALSE(written_) << "List waited for the writer";
  ASSERT_TRUE(listed.ok()) << listed.error().ToString();
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ(listed->front().info.id, "ready");
  ReleaseAndJoin();
}

TEST_F(AdminReadsWhileWritingTest, PendingResultsAnswerWhileAWriteWaitsInTheWriter) {
  AddReady("done", "a");
  ASSERT_TRUE(queue_->Finish("done", Rejected()).ok());
  HoldTheWriteLock();
  StartAWrite();
  auto pending = queue_->PendingResults(10);
  EXPECT_FALSE(written_) << "PendingResults waited for the writer";
  ASSERT_TRUE(pending.ok()) << pending.error().ToString();
  ASSERT_EQ(pending->size(), 1u);
  EXPECT_EQ(pending->front().info.id, "done");
  ReleaseAndJoin();
}

// An administrators' read held open (as a scrape of a million records is, for about 100 ms)
// must not hold up the reads of the request path: the replay lookups of every envelope, the
// workers' Take and NextReadyTime. They share no connection with it.
class AdminReadBesideRequestsTest : public QueueTest {
 protected:
  void SetUp() override {
    Options o = DefaultOptions();
    o.on_admin_read = [this] {
      std::unique_lock lock(mu_);
      inside_ = true;
      cv_.notify_all();
      cv_.wait(lock, [this] { return released_; });
    };
    auto q = OpenQueue(o);
    ASSERT_TRUE(q.ok()) << q.error().ToString();
    queue_ = std::move(*q);
  }
  // GetStats on another thread, held inside its read until Release.
  void HoldAnAdminRead() {
    admin_ = std::thread([this] { stats_ = StatusOf(queue_->GetStats()); });
    std::unique_lock lock(mu_);
    cv_.wait(lock, [this] { return inside_; });
  }
  void Release() {
    {
      std::lock_guard lock(mu_);
      released_ = true;
    }
    cv_.notify_all();
    if (admin_.joinable()) admin_.join();
  }
  void TearDown() override { Release(); }

  std::mutex mu_;
  std::condition_variable cv_;
  bool inside_ = false;
  bool released_ = false;
  std::thread admin_;
  Status stats_;
};

TEST_F(AdminReadBesideRequestsTest, TheRequestPathReadsWhileAnAdministratorsReadIsHeld) {
  AddReady("ready", "a");
  HoldAnAdminRead();
  // Each of these would wait for the release if it shared the administrators' connection.
  auto request_path = std::async(std::launch::async, [this] {
    auto remembered = queue_->IsNonceRemembered("nonce-1");
    auto held = queue_->HoldsRequest("ready");
    auto not_held = queue_->HoldsRequest("never-sent");
    auto next = queue_->NextReadyTime();
    auto taken = queue_->Take();
    auto shown = queue_->Show("ready");
    EXPECT_TRUE(remembered.ok() && !*remembered);
    EXPECT_TRUE(held.ok() && *held);
    EXPECT_TRUE(not_held.ok() && !*not_held);
    EXPECT_TRUE(next.ok());
    EXPECT_TRUE(taken.ok() && taken->has_value() && (*taken)->record.info.id == "ready");
    EXPECT_TRUE(shown.ok() && shown->record.state == State::kApplying);
  });
  const bool answered =
      request_path.wait_for(std::chrono::seconds(10)) == std::future_status::ready;
  Release();
  request_path.get();
  EXPECT_TRUE(answered) << "the request path waited for the administrators' read";
  EXPECT_TRUE(stats_.ok()) << stats_.ToString();
}

}  // namespace
}  // namespace wb::queue::testing
