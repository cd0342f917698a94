// Group commit: writers arriving during a commit share the next transaction (one fsync), and
// a storage failure fails exactly the batch it happened in.

#include "queue/group_commit.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "queue/sqlite_queue.h"
#include "tests/queue/queue_test_util.h"

namespace wb::queue::testing {
namespace {

class GroupCommitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = Db::Open(dir_.path() / "t.db", SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    ASSERT_TRUE(db.ok());
    db_ = std::make_unique<Db>(std::move(db).value());
    ASSERT_TRUE(db_->Exec("PRAGMA journal_mode = WAL; CREATE TABLE t (x INTEGER)").ok());
    committer_ = std::make_unique<GroupCommitter>(db_.get(), &db_mu_, 64);
  }

  static GroupCommitter::Op Insert(int x) {
    return [x](Db& db) { return db.Exec("INSERT INTO t VALUES (" + std::to_string(x) + ")"); };
  }

  // Runs a first writer whose operation blocks until Release(), so later writers queue up.
  void StartBlockedLeader() {
    leader_ = std::thread([this] {
      Status s = committer_->Run([this](Db& db) {
        std::unique_lock l(mu_);
        started_ = true;
        cv_.notify_all();
        cv_.wait(l, [this] { return released_; });
        return db.Exec("INSERT INTO t VALUES (0)");
      });
      EXPECT_TRUE(s.ok()) << s.ToString();
    });
    std::unique_lock l(mu_);
    cv_.wait(l, [this] { return started_; });
  }
  void Release() {
    {
      std::lock_guard l(mu_);
      released_ = true;
    }
    cv_.notify_all();
    leader_.join();
  }
  void WaitForWaiting(std::size_t n) {
    ASSERT_TRUE(wb::testing::WaitUntil(
                    [&] {
                      return committer_->waiting() == n ? Status::Ok()
                                                        : Unavailable("not queued yet");
                    },
                    std::chrono::seconds(10))
                    .ok());
  }
  std::int64_t Rows() { return *db_->QueryInt("SELECT count(*) FROM t"); }

  wb::testing::TempDir dir_{"wbgroup"};
  Mutex db_mu_;
  std::unique_ptr<Db> db_;
  std::unique_ptr<GroupCommitter> committer_;
  std::thread leader_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool started_ = false;
  bool released_ = false;
};

// One caller's failed step is undone alone: the batch's other steps commit, and the failure
// reaches only its caller.
TEST_F(GroupCommitTest, AFailedIsolatedStepIsUndoneAloneAndTheOthersCommit) {
  Status first;
  Status failing;
  Status last;
  const Status batch = committer_->Run([&](Db& db) -> Status {
    WB_RETURN_IF_ERROR(RunIsolated(db, &first, Insert(1)));
    const auto write_then_refuse = [](Db& in) -> Status {
      const Status written = in.Exec("INSERT INTO t VALUES (2)");  // written, then undone
      return written.ok() ? FailedPrecondition("refused after a write") : written;
    };
    WB_RETURN_IF_ERROR(RunIsolated(db, &failing, write_then_refuse));
    return RunIsolated(db, &last, Insert(3));
  });
  ASSERT_TRUE(batch.ok()) << batch.ToString();
  EXPECT_TRUE(first.ok());
  EXPECT_EQ(failing.code(), Code::kFailedPrecondition);
  EXPECT_TRUE(last.ok());
  EXPECT_EQ(Rows(), 2);
  EXPECT_EQ(*db_->QueryInt("SELECT count(*) FROM t WHERE x = 2"), 0);
}

TEST_F(GroupCommitTest, ASingleWriterCommitsAlone) {
  ASSERT_TRUE(committer_->Run(Insert(1)).ok());
  EXPECT_EQ(committer_->batches(), 1u);
  EXPECT_EQ(Rows(), 1);
}

TEST_F(GroupCommitTest, WritersArrivingDuringACommitShareTheNextOne) {
  StartBlockedLeader();
  std::vector<std::thread> writers;
  std::vector<Status> results(4);
  for (int i = 0; i < 4; ++i) {
    writers.emplace_back([&, i] { results[i] = committer_->Run(Insert(i + 1)); });
  }
  WaitForWaiting(5);
  Release();
  for (auto& t : writers) t.join();
  for (const Status& s : results) EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(committer_->batches(), 2u);  // the leader's, then one for all four
  EXPECT_EQ(Rows(), 5);
}

// An operation that notes the `synchronous` setting its batch commits under: 2 is FULL (the WAL
// is fsynced at commit), 1 is NORMAL (written, not fsynced).
GroupCommitter::Op NoteSync(std::int64_t* level) {
  return [level](Db& db) -> Status {
    Result<std::int64_t> v = db.QueryInt("PRAGMA synchronous");
    if (!v.ok()) return v.error();
    *level = *v;
    return db.Exec("INSERT INTO t VALUES (7)");
  };
}
constexpr std::int64_t kFull = 2;
constexpr std::int64_t kNormal = 1;

TEST_F(GroupCommitTest, ABatchOfOrderedWritersOnlyIsNotFsynced) {
  std::int64_t level = -1;
  ASSERT_TRUE(committer_->Run(NoteSync(&level), Sync::kOrdered).ok());
  EXPECT_EQ(level, kNormal);
  EXPECT_EQ(Rows(), 1);
}

TEST_F(GroupCommitTest, ADurableWriterAfterAnOrderedBatchIsFsyncedAgain) {
  std::int64_t ordered = -1;
  std::int64_t durable = -1;
  ASSERT_TRUE(committer_->Run(NoteSync(&ordered), Sync::kOrdered).ok());
  ASSERT_TRUE(committer_->Run(NoteSync(&durable)).ok());
  EXPECT_EQ(ordered, kNormal);
  EXPECT_EQ(durable, kFull);
}

// One durable writer makes its whole batch durable: an ordered writer queued beside it is
// fsynced with it, never the other way round.
TEST_F(GroupCommitTest, AnOrderedWriterInABatchWithADurableOneIsFsyncedWithIt) {
  StartBlockedLeader();
  std::int64_t ordered = -1;
  Status ordered_status;
  Status durable_status;
  std::thread first([&] { ordered_status = committer_->Run(NoteSync(&ordered), Sync::kOrdered); });
  WaitForWaiting(2);
  std::thread second([&] { durable_status = committer_->Run(Insert(8)); });
  WaitForWaiting(3);
  Release();
  first.join();
  second.join();
  ASSERT_TRUE(ordered_status.ok()) << ordered_status.ToString();
  ASSERT_TRUE(durable_status.ok()) << durable_status.ToString();
  EXPECT_EQ(committer_->batches(), 2u);  // the leader's, then one for both
  EXPECT_EQ(ordered, kFull);
}

TEST_F(GroupCommitTest, AStorageFailureFailsItsWholeBatchAndKeepsNothingOfIt) {
  StartBlockedLeader();
  std::vector<std::thread> writers;
  std::vector<Status> results(3);
  writers.emplace_back([&] { results[0] = committer_->Run(Insert(1)); });
  WaitForWaiting(2);
  writers.emplace_back([&] {
    results[1] = committer_->Run(
        [](Db&) { return Status(Code::kResourceExhausted, "database or disk is full"); });
  });
  WaitForWaiting(3);
  writers.emplace_back([&] { results[2] = committer_->Run(Insert(3)); });
  WaitForWaiting(4);
  Release();
  for (auto& t : writers) t.join();
  for (const Status& s : results) EXPECT_EQ(s.code(), Code::kResourceExhausted);
  EXPECT_EQ(Rows(), 1);  // only the leader's batch
  EXPECT_TRUE(committer_->Run(Insert(4)).ok());
  EXPECT_EQ(Rows(), 2);
}

class ConcurrentEnqueueTest : public QueueTest {};

TEST_F(ConcurrentEnqueueTest, ManyThreadsEnqueueAndEachRequestIsStoredOnce) {
  Open();
  constexpr int kThreads = 8;
  constexpr int kEach = 10;
  std::vector<std::thread> threads;
  std::mutex mu;
  std::set<std::int64_t> seqs;
  std::vector<std::string> errors;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        std::string id =
            std::string("t").append(std::to_string(t)).append("-").append(std::to_string(i));
        auto r = queue_->Enqueue(MakeReset(id, id, clock_.Now()));
        std::lock_guard l(mu);
        if (!r.ok()) {
          errors.push_back(r.error().ToString());
        } else {
          seqs.insert(r->record.seq);
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_TRUE(errors.empty()) << errors.front();
  EXPECT_EQ(seqs.size(), static_cast<std::size_t>(kThreads * kEach));
  auto* impl = dynamic_cast<SqliteQueue*>(queue_.get());
  ASSERT_NE(impl, nullptr);
  EXPECT_LE(impl->commit_batches(), static_cast<std::uint64_t>(kThreads * kEach));
  RecordProperty("commit_batches", static_cast<int>(impl->commit_batches()));
  Reopen();
  EXPECT_EQ(queue_->GetStats()->count(State::kReceived), kThreads * kEach);
}

// A worker woken for nothing (queue/scheduling.cc, Take) reads; it does not queue a write
// transaction behind the commits.
TEST_F(ConcurrentEnqueueTest, ATakeThatFindsNothingStartsNoTransaction) {
  Open();
  ASSERT_TRUE(queue_->Enqueue(MakeReset("waiting", "alice", clock_.Now())).ok());  // not ready
  auto* impl = dynamic_cast<SqliteQueue*>(queue_.get());
  ASSERT_NE(impl, nullptr);
  const std::uint64_t before = impl->commit_batches();
  for (int i = 0; i < 3; ++i) {
    auto work = queue_->Take();
    ASSERT_TRUE(work.ok()) << work.error().ToString();
    EXPECT_FALSE(work->has_value());
  }
  EXPECT_EQ(impl->commit_batches(), before);
  // Once there is work, Take commits (the attempt is durable before it returns).
  ASSERT_TRUE(queue_->MarkReady("waiting").ok());
  auto work = queue_->Take();
  ASSERT_TRUE(work.ok() && work->has_value());
  EXPECT_GT(impl->commit_batches(), before + 1);  // MarkReady's, then Take's
}

}  // namespace
}  // namespace wb::queue::testing
