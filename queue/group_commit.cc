#include "queue/group_commit.h"

#include <algorithm>

namespace wb::queue {

Status GroupCommitter::Run(const Op& op, Sync sync) {
  Writer w{&op, sync};
  MutexLock lock(mu_);
  writers_.push_back(&w);
  // The predicate runs with mu_ held, which the analysis cannot see inside a lambda.
  mu_.Wait(w.cv,
           [&]() WB_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return w.done || writers_.front() == &w; });
  if (w.done) return w.status;

  // This writer leads: it commits itself and everyone queued behind it so far.
  const auto n = std::min(writers_.size(), max_batch_);
  std::vector<Writer*> batch(writers_.begin(), writers_.begin() + static_cast<long>(n));
  ++batches_;
  lock.Unlock();
  CommitBatch(batch);  // writers arriving meanwhile queue up for the next batch
  lock.Lock();
  for (Writer* x : batch) {
    writers_.pop_front();
    x->done = true;
    if (x != &w) x->cv.notify_one();
  }
  if (!writers_.empty()) writers_.front()->cv.notify_one();
  return w.status;
}

std::uint64_t GroupCommitter::batches() const {
  MutexLock lock(mu_);
  return batches_;
}

std::size_t GroupCommitter::waiting() const {
  MutexLock lock(mu_);
  return writers_.size();
}

void GroupCommitter::CommitBatch(const std::vector<Writer*>& batch) {
  MutexLock db_lock(*db_mu_);
  Status status;
  const bool durable = std::any_of(batch.begin(), batch.end(),
                                   [](const Writer* x) { return x->sync == Sync::kDurable; });
  Result<Transaction> tx = Transaction::Begin(*db_, durable ? Sync::kDurable : Sync::kOrdered);
  if (!tx.ok()) status = tx.error();
  for (Writer* x : batch) {
    if (!status.ok()) break;
    status = (*x->op)(*db_);
  }
  if (status.ok()) status = tx->Commit();
  // On failure the transaction rolls back (tx's destructor): no operation of the batch stays.
  for (Writer* x : batch) x->status = status;
}

Status RunIsolated(Db& db, Status* outcome, const std::function<Status(Db&)>& step) {
  WB_RETURN_IF_ERROR(db.Run("SAVEPOINT isolated"));
  Status s = step(db);
  if (s.ok()) return db.Run("RELEASE isolated");
  *outcome = s;
  // After some errors (SQLITE_FULL, SQLITE_IOERR) SQLite has already rolled back the whole
  // transaction: the batch cannot commit, and every writer in it must hear so.
  if (db.InAutocommit()) return s;
  WB_RETURN_IF_ERROR(db.Run("ROLLBACK TO isolated"));
  return db.Run("RELEASE isolated");
}

}  // namespace wb::queue
