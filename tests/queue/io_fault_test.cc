// I/O faults under the queue: a SQLite VFS shim (the technique of SQLite's own test suite)
// fails the Nth write or sync of the database files, for every N that a step reaches. Each
// time: the step reports an error and never success, nothing acknowledged before is lost, and
// after a reopen without faults the queue works and the step can be done again.

#include <sqlite3.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/queue/queue_test_util.h"

namespace wb::queue::testing {
namespace {

// ---- The shim ---------------------------------------------------------------------------------

enum class Fault { kWrite, kSync };

struct FaultPlan {
  std::atomic<bool> armed{false};
  Fault what = Fault::kWrite;
  int error = SQLITE_IOERR_WRITE;  // SQLITE_FULL for a full disk
  std::atomic<int> countdown{0};   // the call that fails when it reaches 0
  std::atomic<int> fired{0};
};
FaultPlan plan;             // the shim's one setting; tests run one at a time in this binary
std::atomic<int> syncs{0};  // every xSync that reached the real file

// Holds every xSync while armed, as a slow disk would: a commit stays inside its fsync, with
// the queue's writer lock held, until Release.
class SyncGate {
 public:
  void Arm() {
    std::lock_guard l(mu_);
    armed_ = true;
    blocked_ = false;
  }
  void Pass() {
    std::unique_lock l(mu_);
    if (!armed_) return;
    blocked_ = true;
    cv_.notify_all();
    cv_.wait(l, [this] { return !armed_; });
  }
  bool WaitBlocked() {
    std::unique_lock l(mu_);
    return cv_.wait_for(l, std::chrono::seconds(10), [this] { return blocked_; });
  }
  void Release() {
    std::lock_guard l(mu_);
    armed_ = false;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool armed_ = false;
  bool blocked_ = false;
};
SyncGate gate;

struct ShimFile {
  sqlite3_file base;   // must be first: SQLite sees a ShimFile as a sqlite3_file
  sqlite3_file* real;  // the real VFS's file, allocated right after this struct
};

sqlite3_vfs* real_vfs = nullptr;

sqlite3_file* Real(sqlite3_file* f) { return reinterpret_cast<ShimFile*>(f)->real; }

// True when this call is the one that must fail.
bool Fails(Fault what) {
  if (!plan.armed.load() || plan.what != what) return false;
  if (plan.countdown.fetch_sub(1) != 1) return false;
  ++plan.fired;
  return true;
}

int ShimClose(sqlite3_file* f) {
  int rc = Real(f)->pMethods ? Real(f)->pMethods->xClose(Real(f)) : SQLITE_OK;
  return rc;
}
int ShimRead(sqlite3_file* f, void* buf, int n, sqlite3_int64 off) {
  return Real(f)->pMethods->xRead(Real(f), buf, n, off);
}
int ShimWrite(sqlite3_file* f, const void* buf, int n, sqlite3_int64 off) {
  if (Fails(Fault::kWrite)) return plan.error;
  return Real(f)->pMethods->xWrite(Real(f), buf, n, off);
}
int ShimTruncate(sqlite3_file* f, sqlite3_int64 size) {
  return Real(f)->pMethods->xTruncate(Real(f), size);
}
int ShimSync(sqlite3_file* f, int flags) {
  if (Fails(Fault::kSync)) return SQLITE_IOERR_FSYNC;
  ++syncs;
  gate.Pass();
  return Real(f)->pMethods->xSync(Real(f), flags);
}
int ShimFileSize(sqlite3_file* f, sqlite3_int64* size) {
  return Real(f)->pMethods->xFileSize(Real(f), size);
}
int ShimLock(sqlite3_file* f, int level) { return Real(f)->pMethods->xLock(Real(f), level); }
int ShimUnlock(sqlite3_file* f, int level) { return Real(f)->pMethods->xUnlock(Real(f), level); }
int ShimCheckReservedLock(sqlite3_file* f, int* out) {
  return Real(f)->pMethods->xCheckReservedLock(Real(f), out);
}
int ShimFileControl(sqlite3_file* f, int op, void* arg) {
  return Real(f)->pMethods->xFileControl(Real(f), op, arg);
}
int ShimSectorSize(sqlite3_file* f) { return Real(f)->pMethods->xSectorSize(Real(f)); }
int ShimDeviceCharacteristics(sqlite3_file* f) {
  return Real(f)->pMethods->xDeviceCharacteristics(Real(f));
}
int ShimShmMap(sqlite3_file* f, int page, int size, int extend, void volatile** out) {
  return Real(f)->pMethods->xShmMap(Real(f), page, size, extend, out);
}
int ShimShmLock(sqlite3_file* f, int offset, int n, int flags) {
  return Real(f)->pMethods->xShmLock(Real(f), offset, n, flags);
}
void ShimShmBarrier(sqlite3_file* f) { Real(f)->pMethods->xShmBarrier(Real(f)); }
int ShimShmUnmap(sqlite3_file* f, int delete_flag) {
  return Real(f)->pMethods->xShmUnmap(Real(f), delete_flag);
}
int ShimFetch(sqlite3_file* f, sqlite3_int64 off, int n, void** out) {
  return Real(f)->pMethods->xFetch(Real(f), off, n, out);
}
int ShimUnfetch(sqlite3_file* f, sqlite3_int64 off, void* p) {
  return Real(f)->pMethods->xUnfetch(Real(f), off, p);
}

const sqlite3_io_methods kShimMethods = {
    3,
    ShimClose,
    ShimRead,
    ShimWrite,
    ShimTruncate,
    ShimSync,
    ShimFileSize,
    ShimLock,
    ShimUnlock,
    ShimCheckReservedLock,
    ShimFileControl,
    ShimSectorSize,
    ShimDeviceCharacteristics,
    ShimShmMap,
    ShimShmLock,
    ShimShmBarrier,
    ShimShmUnmap,
    ShimFetch,
    ShimUnfetch,
};

// Every file SQLite opened through the shim, as it named it (empty: a temporary file SQLite
// names itself), with its SQLITE_OPEN_* flags.
struct OpenedFile {
  std::string name;
  int flags;
};
std::mutex opened_mu;
std::vector<OpenedFile> opened;

int ShimOpen(sqlite3_vfs* vfs, const char* name, sqlite3_file* f, int flags, int* out_flags) {
  (void)vfs;
  {
    std::lock_guard lock(opened_mu);
    opened.push_back({name ? name : "", flags});
  }
  auto* shim = reinterpret_cast<ShimFile*>(f);
  shim->real = reinterpret_cast<sqlite3_file*>(shim + 1);
  std::memset(shim->real, 0, static_cast<std::size_t>(real_vfs->szOsFile));
  const int rc = real_vfs->xOpen(real_vfs, name, shim->real, flags, out_flags);
  // SQLite calls xClose even after a failed xOpen when pMethods is set.
  shim->base.pMethods = shim->real->pMethods ? &kShimMethods : nullptr;
  return rc;
}

sqlite3_vfs shim_vfs;

// Registers the shim as the default VFS, in front of the real one, once per process.
void InstallShim() {
  if (real_vfs != nullptr) return;
  real_vfs = sqlite3_vfs_find(nullptr);
  ASSERT_NE(real_vfs, nullptr);
  shim_vfs = *real_vfs;  // every other method (xDelete, xAccess, ...) is the real one's
  shim_vfs.zName = "wb-fault-shim";
  shim_vfs.szOsFile = static_cast<int>(sizeof(ShimFile)) + real_vfs->szOsFile;
  shim_vfs.xOpen = ShimOpen;
  shim_vfs.pAppData = nullptr;
  ASSERT_EQ(sqlite3_vfs_register(&shim_vfs, /*makeDflt=*/1), SQLITE_OK);
}

void Arm(Fault what, int n, int error = SQLITE_IOERR_WRITE) {
  plan.what = what;
  plan.error = error;
  plan.countdown = n;
  plan.fired = 0;
  plan.armed = true;
}
bool Disarm() {
  plan.armed = false;
  return plan.fired.load() > 0;
}

// ---- The tests ----------------------------------------------------------------------------

struct FaultCase {
  const char* name;
  Fault what;
  int error;
};

class IoFaultTest : public QueueTest, public ::testing::WithParamInterface<FaultCase> {
 protected:
  void SetUp() override { InstallShim(); }
  void TearDown() override { (void)Disarm(); }

  // The request acknowledged before any fault: it must survive every one.
  void OpenWithOneAccepted() {
    queue_.reset();
    std::filesystem::remove_all(state_dir());
    Open();
    ASSERT_TRUE(queue_->Enqueue(MakeReset("kept", "alice", clock_.Now())).ok());
  }

  // After a fault: close (whatever it says), reopen without faults, check that "kept" is there
  // and that the queue takes work again.
  void ExpectRecovered(const std::string& context) {
    queue_.reset();
    auto reopened = OpenQueue(DefaultOptions());
    ASSERT_TRUE(reopened.ok()) << context << ": " << reopened.error().ToString();
    queue_ = std::move(reopened).value();
    auto kept = queue_->Show("kept");
    ASSERT_TRUE(kept.ok()) << context << ": the acknowledged request is gone";
  }
};

// Every write or sync that storing a new request reaches, failed in turn.
TEST_P(IoFaultTest, AFailedEnqueueIsNeverReportedAsStoredAndLosesNothing) {
  const FaultCase& c = GetParam();
  int reached = 0;
  for (int n = 1; n < 200; ++n) {
    OpenWithOneAccepted();
    Arm(c.what, n, c.error);
    auto stored = queue_->Enqueue(MakeReset("new", "bob", clock_.Now()));
    const bool fired = Disarm();
    const std::string context = std::string(c.name) + " #" + std::to_string(n);
    if (!fired) {
      ASSERT_TRUE(stored.ok()) << context << ": " << stored.error().ToString();
      break;  // every write or sync of the step was failed once
    }
    ++reached;
    EXPECT_FALSE(stored.ok()) << context
                              << ": the queue reported a request stored that a "
                                 "failed write or sync did not store";
    ExpectRecovered(context);
    // The cloud re-sends: it is stored now, or it was stored after all (the fault hit after
    // the commit point) and is recognised.
    auto again = queue_->Enqueue(MakeReset("new", "bob", clock_.Now()));
    ASSERT_TRUE(again.ok()) << context << ": " << again.error().ToString();
    EXPECT_EQ(again->record.state, State::kReceived) << context;
  }
  EXPECT_GT(reached, 0) << "no fault was ever reached: the shim is not in the path";
  std::printf("%s: %d fault points\n", c.name, reached);
}

// The same for the step that ends a request: a failed Finish is not a finished request.
TEST_P(IoFaultTest, AFailedFinishIsNeverReportedAsDoneAndLosesNothing) {
  const FaultCase& c = GetParam();
  int reached = 0;
  for (int n = 1; n < 200; ++n) {
    OpenWithOneAccepted();
    ASSERT_TRUE(queue_->MarkReady("kept").ok());
    auto work = queue_->Take();
    ASSERT_TRUE(work.ok() && work->has_value());
    Arm(c.what, n, c.error);
    Status finished = StatusOf(queue_->Finish("kept", Succeeded()));
    const bool fired = Disarm();
    const std::string context = std::string(c.name) + " #" + std::to_string(n);
    if (!fired) {
      ASSERT_TRUE(finished.ok()) << context << ": " << finished.ToString();
      break;
    }
    ++reached;
    EXPECT_FALSE(finished.ok()) << context << ": Finish succeeded though a write or sync failed";
    ExpectRecovered(context);
    auto detail = queue_->Show("kept");
    ASSERT_TRUE(detail.ok());
    // Either the outcome is durable, or the request is back where recovery puts an
    // interrupted write: never lost, never a success nobody recorded.
    const State s = detail->record.state;
    EXPECT_TRUE(s == State::kSucceeded || s == State::kReady || s == State::kApplying)
        << context << ": " << StateName(s);
  }
  EXPECT_GT(reached, 0) << "no fault was ever reached: the shim is not in the path";
  std::printf("%s: %d fault points\n", c.name, reached);
}

// queue.h, Durability: every call whose success lets something leave the host is fsynced;
// an admission and an acknowledgement are only written, and the durable commits after them
// are fsynced again.
class SyncTest : public QueueTest {
 protected:
  void SetUp() override { InstallShim(); }
  // The fsyncs that `step` made.
  template <typename Step>
  int SyncsOf(Step step) {
    syncs = 0;
    step();
    return syncs.load();
  }
};

TEST_F(SyncTest, WhatBacksAMessageIsFsyncedAndAdmissionAndAcknowledgementAreNot) {
  Open();
  EXPECT_GT(
      SyncsOf([&] { ASSERT_TRUE(queue_->Enqueue(MakeReset("a", "alice", clock_.Now())).ok()); }),
      0);
  EXPECT_EQ(SyncsOf([&] { ASSERT_TRUE(queue_->MarkReady("a").ok()); }), 0);
  EXPECT_GT(SyncsOf([&] {
              auto work = queue_->Take();
              ASSERT_TRUE(work.ok() && work->has_value());
            }),
            0);
  EXPECT_GT(SyncsOf([&] { ASSERT_TRUE(queue_->Finish("a", Succeeded()).ok()); }), 0);
  EXPECT_EQ(SyncsOf([&] { ASSERT_TRUE(queue_->AcknowledgeResult("a").ok()); }), 0);
  // After an unsynced commit, the next durable one is fsynced again.
  EXPECT_GT(
      SyncsOf([&] { ASSERT_TRUE(queue_->Enqueue(MakeReset("b", "bob", clock_.Now())).ok()); }), 0);
  const std::vector<std::string> ids{"b"};
  EXPECT_EQ(SyncsOf([&] { EXPECT_TRUE(queue_->MarkReadyAll(ids, Sync::kOrdered)[0].ok()); }), 0);
  auto work = queue_->Take();
  ASSERT_TRUE(work.ok() && work->has_value());
  ASSERT_TRUE(queue_->Finish("b", Succeeded()).ok());
  EXPECT_EQ(SyncsOf([&] { EXPECT_TRUE(queue_->AcknowledgeResults(ids)[0].ok()); }), 0);
  // An admission that must stand as recorded (an administrator's release) asks for kDurable.
  ASSERT_TRUE(queue_->Enqueue(MakeReset("c", "carol", clock_.Now())).ok());
  const std::vector<std::string> released{"c"};
  EXPECT_GT(SyncsOf([&] { EXPECT_TRUE(queue_->MarkReadyAll(released, Sync::kDurable)[0].ok()); }),
            0);
  // RetryWaitingNow is ordered: only the timing of a back-off changes.
  auto taken = queue_->Take();
  ASSERT_TRUE(taken.ok() && taken->has_value());
  Outcome busy{.code = "busy", .transient = true, .message = "try later"};
  ASSERT_TRUE(queue_->Retry("c", busy).ok());
  EXPECT_EQ(SyncsOf([&] {
              auto moved = queue_->RetryWaitingNow();
              ASSERT_TRUE(moved.ok());
              EXPECT_EQ(*moved, 1);
            }),
            0);
}

// The unsynced commits are commits: a copy of the files taken while the queue is still open,
// as a process killed at that moment leaves them (no close, no checkpoint), holds them.
// (crash_test kills the process at random moments, MarkReady and AcknowledgeResult included.)
TEST_F(SyncTest, AnUnsyncedAdmissionAndAcknowledgementAreInTheFilesBeforeAnyClose) {
  Open();
  ASSERT_TRUE(queue_->Enqueue(MakeReset("a", "alice", clock_.Now())).ok());
  ASSERT_TRUE(queue_->Enqueue(MakeReset("b", "bob", clock_.Now())).ok());
  ASSERT_TRUE(queue_->MarkReady("a").ok());
  auto work = queue_->Take();
  ASSERT_TRUE(work.ok() && work->has_value());
  ASSERT_TRUE(queue_->Finish("a", Succeeded()).ok());
  ASSERT_TRUE(queue_->AcknowledgeResult("a").ok());
  ASSERT_TRUE(queue_->MarkReady("b").ok());  // the last commit: not fsynced
  const std::filesystem::path copy = dir_.path() / "copy";
  std::filesystem::create_directory(copy);
  for (const char* name : {"queue.db", "queue.db-wal", "queue.key"}) {
    std::filesystem::copy_file(state_dir() / name, copy / name);
  }
  Options options = DefaultOptions();
  options.state_dir = copy;
  auto reopened = Queue::Open(options, clock_);
  ASSERT_TRUE(reopened.ok()) << reopened.error().ToString();
  auto a = (*reopened)->Show("a");
  auto b = (*reopened)->Show("b");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_TRUE(a->record.acknowledged_at.has_value());
  EXPECT_EQ(b->record.state, State::kReady);
}

// The reads on the request path (the replay lookups, Show, NextReadyTime) use a connection of
// their own: they answer while a commit is inside its fsync, instead of queueing behind it.
TEST_F(SyncTest, ReadsOnTheRequestPathDoNotWaitForACommitInItsFsync) {
  Open();
  ASSERT_TRUE(queue_->Enqueue(MakeReset("kept", "alice", clock_.Now())).ok());
  gate.Arm();
  std::thread writer(
      [&] { EXPECT_TRUE(queue_->Enqueue(MakeReset("new", "bob", clock_.Now())).ok()); });
  ASSERT_TRUE(gate.WaitBlocked());
  auto reads = std::async(std::launch::async, [&] {
    auto shown = queue_->Show("kept");
    EXPECT_TRUE(shown.ok() && shown->record.info.id == "kept");
    EXPECT_TRUE(queue_->IsNonceRemembered("never-seen").ok());
    EXPECT_TRUE(queue_->NextReadyTime().ok());
  });
  const bool answered = reads.wait_for(std::chrono::seconds(10)) == std::future_status::ready;
  gate.Release();
  writer.join();
  reads.get();
  EXPECT_TRUE(answered) << "a read waited for the commit's fsync";
  // Once committed, the new request is what the next read sees.
  EXPECT_TRUE(queue_->Show("new").ok());
}

// queue.h, Secrets: the queue's pages, ciphertexts of passwords among them, are written only to
// its own files. SQLite's temporary files (the statement journal that each isolated step of a
// group commit can fill, a sort's transient index) would hold copies of pages outside the state
// directory, left on the disk after the request's secret is erased. The agent's own mix of
// calls, from several threads at once as its intake and workers make them, opens none.
TEST_F(SyncTest, NoPageOfTheQueueIsWrittenToAFileOutsideItsStateDirectory) {
  Open();
  {
    std::lock_guard lock(opened_mu);
    opened.clear();
  }
  constexpr int kThreads = 4;
  constexpr int kBatches = 30;
  constexpr int kPerBatch = 8;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int b = 0; b < kBatches; ++b) {
        std::vector<Request> requests;
        std::vector<NonceToRemember> nonces;
        std::vector<std::string> ids;
        for (int i = 0; i < kPerBatch; ++i) {
          const std::string id =
              "r" + std::to_string(t) + "-" + std::to_string(b) + "-" + std::to_string(i);
          requests.push_back(
              MakeReset(id, "account-" + std::to_string((b * kPerBatch + i) % 50), clock_.Now()));
          nonces.push_back({"nonce-" + id, clock_.Now() + hours(1)});
          ids.push_back(id);
        }
        std::vector<const Request*> pointers;
        for (const Request& r : requests) pointers.push_back(&r);
        auto stored = queue_->EnqueueAll(nonces, pointers);
        ASSERT_TRUE(stored.ok()) << stored.error().ToString();
        for (const Status& s : queue_->MarkReadyAll(ids, Sync::kOrdered)) ASSERT_TRUE(s.ok());
        std::vector<std::string> finished;
        for (;;) {
          auto work = queue_->Take();
          ASSERT_TRUE(work.ok()) << work.error().ToString();
          if (!work->has_value()) break;
          const std::string id = (*work)->record.info.id;
          ASSERT_TRUE(queue_->Finish(id, Succeeded()).ok());
          finished.push_back(id);
        }
        for (const auto& acked : queue_->AcknowledgeResults(finished)) ASSERT_TRUE(acked.ok());
      }
    });
  }
  for (auto& thread : threads) thread.join();
  // What an administrator and the daemon's timers read and write besides.
  ASSERT_TRUE(queue_->GetStats().ok());
  ASSERT_TRUE(queue_->List({.limit = 1000, .newest_first = true}).ok());
  ASSERT_TRUE(queue_->PendingResults(1000).ok());
  clock_.Advance(hours(24 * 30));
  ASSERT_TRUE(queue_->Maintain().ok());

  std::lock_guard lock(opened_mu);
  ASSERT_FALSE(opened.empty()) << "the shim saw no file: it is not in the path";
  constexpr int kTemporary = SQLITE_OPEN_TEMP_DB | SQLITE_OPEN_TEMP_JOURNAL |
                             SQLITE_OPEN_TRANSIENT_DB | SQLITE_OPEN_SUBJOURNAL;
  int temporary = 0;
  for (const OpenedFile& file : opened) {
    if ((file.flags & kTemporary) != 0) ++temporary;
    if (file.name.empty()) continue;
    const auto parent = std::filesystem::path(file.name).lexically_normal().parent_path();
    EXPECT_EQ(parent, state_dir().lexically_normal()) << file.name;
  }
  EXPECT_EQ(temporary, 0) << "temporary files opened (statement journals, transient indexes)";
}

INSTANTIATE_TEST_SUITE_P(
    Faults, IoFaultTest,
    ::testing::Values(FaultCase{"EioOnWrite", Fault::kWrite, SQLITE_IOERR_WRITE},
                      FaultCase{"DiskFullOnWrite", Fault::kWrite, SQLITE_FULL},
                      FaultCase{"EioOnSync", Fault::kSync, SQLITE_IOERR_FSYNC}),
    [](const ::testing::TestParamInfo<FaultCase>& fault) { return std::string(fault.param.name); });

}  // namespace
}  // namespace wb::queue::testing
