#pragma once
// Group commit: concurrent writers share one transaction, hence one fsync.
//
// As in LevelDB's DBImpl::Write, writers queue up; the writer at the front becomes the leader,
// runs the operations of every writer queued so far (up to max_batch) in one transaction,
// commits it, and wakes them. A writer returns only after the transaction holding its
// operation has committed or failed. The commit is durable (synchronous=FULL) when any writer
// of the batch asked for Sync::kDurable; a batch of kOrdered writers only is not fsynced
// (queue/sqlite.h says what survives a crash then).

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <vector>

#include "common/status.h"
#include "common/thread_annotations.h"
#include "queue/sqlite.h"

namespace wb::queue {

class GroupCommitter {
 public:
  // An operation runs inside the shared transaction. It returns non-OK only when the storage
  // failed (e.g. disk full): the whole batch is then rolled back and every writer in it gets
  // that status. Outcomes meant for the caller alone (a duplicate, a refusal) go into the
  // operation's own captured variables, with OK returned.
  using Op = std::function<Status(Db&)>;

  // `db` is used only with `db_mu` held. Both must outlive this object.
  GroupCommitter(Db* db, Mutex* db_mu, std::size_t max_batch)
      : db_(db), db_mu_(db_mu), max_batch_(max_batch == 0 ? 1 : max_batch) {}

  // Thread-safe. Blocks until `op` has been committed (as `sync` asks, or durably when it
  // shares the batch with a durable writer) or its batch failed.
  Status Run(const Op& op, Sync sync = Sync::kDurable) WB_LOCKS_EXCLUDED(mu_);

  // Transactions committed or attempted so far (for tests and benchmarks).
  std::uint64_t batches() const WB_LOCKS_EXCLUDED(mu_);
  // Writers queued or being committed now (for tests).
  std::size_t waiting() const WB_LOCKS_EXCLUDED(mu_);

 private:
  struct Writer {
    const Op* op;
    Sync sync;
    Status status;
    bool done = false;
    std::condition_variable_any cv;
  };

  void CommitBatch(const std::vector<Writer*>& batch);

  Db* const db_;
  Mutex* const db_mu_;
  const std::size_t max_batch_;

  mutable Mutex mu_;
  std::deque<Writer*> writers_ WB_GUARDED_BY(mu_);
  std::uint64_t batches_ WB_GUARDED_BY(mu_) = 0;
};

// Runs `step` as one all-or-nothing operation inside a batch's transaction (a SAVEPOINT), so
// that one caller's refusal or failed statement does not undo or fail the others: when `step`
// fails, its own changes are rolled back, its status goes to `*outcome` (for its caller alone)
// and the batch goes on. Returns non-OK only when the batch's transaction can no longer commit
// (SQLite rolled it back after an I/O error, or the savepoint itself failed).
Status RunIsolated(Db& db, Status* outcome, const std::function<Status(Db&)>& step);

}  // namespace wb::queue
