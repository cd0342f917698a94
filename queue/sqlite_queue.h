#pragma once
// The SQLite implementation of Queue. Internal: use Queue::Open.
//
// Its methods are spread over files by concern: sqlite_queue.cc (open), intake.cc,
// scheduling.cc, recovery.cc, outbox.cc, admin.cc.

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>

#include "common/clock.h"
#include "common/thread_annotations.h"
#include "queue/backoff.h"
#include "queue/data_key.h"
#include "queue/group_commit.h"
#include "queue/queue.h"
#include "queue/sqlite.h"
#include "queue/state_lock.h"

namespace wb::queue {

class SqliteQueue final : public Queue {
 public:
  struct Parts {
    std::optional<StateLock> lock;  // unset in read-only mode
    Db db;
    std::optional<DataKey> key;  // unset in read-only mode
    std::string session;         // identifies the Queue instance that took a request
  };
  SqliteQueue(const Options& options, const Clock& clock, Parts parts);

  Result<EnqueueResult> Enqueue(const Request& request) override;
  Result<bool> RememberNonce(std::string_view nonce, WallTime expires_at) override;
  Status MarkReady(std::string_view id) override;
  Result<std::optional<Work>> Take() override;
  Result<std::optional<WallTime>> NextReadyTime() override;
  Result<int> RetryWaitingNow() override;
  Status Finish(std::string_view id, const Outcome& outcome) override;
  Result<State> Retry(std::string_view id, const Outcome& failure) override;
  Result<std::vector<Record>> InterruptedAttempts() override;
  Result<std::optional<WallTime>> LastPasswordWrite(std::string_view account_key,
                                                    std::string_view except_id) override;
  Status MarkFoundApplied(std::string_view id, std::string_view server) override;
  Status RequeueInterrupted(std::string_view id) override;
  Result<std::vector<Record>> PendingResults(std::size_t limit) override;
  Status AcknowledgeResult(std::string_view id) override;
  Result<MaintenanceReport> Maintain() override;
  Result<Stats> GetStats() override;
  Result<std::vector<Record>> List(const ListFilter& filter) override;
  Result<RequestDetail> Show(std::string_view id) override;

  // Group-commit batches so far (tests and benchmarks).
  std::uint64_t commit_batches() const { return committer_.batches(); }

 private:
  // Kinds of remembered values in the replay table.
  static constexpr std::int64_t kReplayRequestId = 0;
  static constexpr std::int64_t kReplayNonce = 1;

  struct EnqueueSlot;

  std::int64_t NowMs() const;
  Status RequireWritable() const;
  // Runs inside a group-commit batch, whose leader holds db_mu_.
  Status InsertInBatch(Db& db, EnqueueSlot& slot);
  Result<std::optional<Work>> TakeLocked(std::int64_t now) WB_EXCLUSIVE_LOCKS_REQUIRED(db_mu_);
  Result<State> RetryLocked(std::string_view id, const Outcome& failure, std::int64_t now)
      WB_EXCLUSIVE_LOCKS_REQUIRED(db_mu_);
  // Runs `fn(db, row_state)` in one transaction for a request that must exist.
  template <typename Fn>
  Status Transition(std::string_view id, Fn fn) WB_LOCKS_EXCLUDED(db_mu_);
  double NextRandom() WB_EXCLUSIVE_LOCKS_REQUIRED(db_mu_);
  std::string_view session() const { return parts_.session; }

  const Options options_;
  const Clock& clock_;
  const BackoffPolicy backoff_;

  Mutex db_mu_;
  Parts parts_;  // parts_.db is used only with db_mu_ held; the lock is released last
  std::mt19937_64 rng_ WB_GUARDED_BY(db_mu_);
  GroupCommitter committer_;
};

}  // namespace wb::queue

// --- Template definitions -------------------------------------------------------------------

#include "common/log_escape.h"
#include "queue/record_io.h"

namespace wb::queue {

// Quotes a request id from the cloud for an error message.
inline std::string QuoteId(std::string_view id) { return "request '" + EscapeForLog(id, 80) + "'"; }

template <typename Fn>
Status SqliteQueue::Transition(std::string_view id, Fn fn) {
  WB_RETURN_IF_ERROR(RequireWritable());
  MutexLock lock(db_mu_);
  Result<Transaction> tx = Transaction::Begin(parts_.db);
  if (!tx.ok()) return tx.error();
  Result<std::optional<RowState>> row = LoadRowState(parts_.db, id);
  if (!row.ok()) return row.error();
  if (!*row) return NotFound("no " + QuoteId(id));
  WB_RETURN_IF_ERROR(fn(parts_.db, **row, NowMs()));
  return tx->Commit();
}

}  // namespace wb::queue
