#pragma once
// The SQLite implementation of Queue. Internal: use Queue::Open.
//
// Its methods are spread over files by concern: sqlite_queue.cc (open), intake.cc,
// scheduling.cc, recovery.cc, outbox.cc, admin.cc.

#include <algorithm>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <vector>

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
    // Read-write mode: a second connection, for the reads on the request path (the replay
    // lookups, Show, NextReadyTime, Take's first look). A WAL reader never waits for the
    // writer, so these reads do not queue behind a group commit's fsync; each sees every
    // commit made before it started. Unset in read-only mode, where the one connection only
    // reads.
    std::optional<Db> reader;
    // Read-write mode: a third connection, for the administrators' reads (GetStats, List,
    // PendingResults), which may scan the whole queue: on the reader they would hold up the
    // request path. Unset in read-only mode.
    std::optional<Db> admin;
  };
  SqliteQueue(const Options& options, const Clock& clock, Parts parts);

  Result<EnqueueResult> Enqueue(const Request& request) override;
  Result<bool> RememberNonce(std::string_view nonce, WallTime expires_at) override;
  Result<std::vector<Result<EnqueueResult>>> EnqueueAll(
      std::span<const NonceToRemember> nonces, std::span<const Request* const> requests) override;
  Result<bool> IsNonceRemembered(std::string_view nonce) override;
  Result<bool> IsNonceRememberedWithPrefix(std::string_view prefix) override;
  Result<bool> HoldsRequest(std::string_view id) override;
  Status MarkReady(std::string_view id) override;
  std::vector<Status> MarkReadyAll(std::span<const std::string> ids, Sync sync) override;
  using Queue::Take;
  Result<std::optional<Work>> Take(std::optional<Record>* unreadable) override;
  Result<std::optional<WallTime>> NextReadyTime() override;
  Result<int> RetryWaitingNow() override;
  Result<Record> Finish(std::string_view id, const Outcome& outcome) override;
  Result<Record> Retry(std::string_view id, const Outcome& failure) override;
  Result<std::vector<Record>> InterruptedAttempts() override;
  Result<std::optional<WallTime>> LastPasswordWrite(std::string_view account_key,
                                                    std::string_view except_id) override;
  Status MarkFoundApplied(std::string_view id, std::string_view server) override;
  Status RequeueInterrupted(std::string_view id) override;
  using Queue::PendingResults;
  Result<std::vector<Record>> PendingResults(std::size_t limit,
                                             std::optional<OutboxPosition> after) override;
  Status AcknowledgeResult(std::string_view id) override;
  std::vector<Result<Record>> AcknowledgeResults(std::span<const std::string> ids) override;
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
  Status RememberInBatch(Db& db, std::string_view nonce, WallTime expires_at, bool* fresh);
  // Take's step inside a batch: the storage's status is returned, what Take answers goes to
  // `*taken`, and a request it failed for an unreadable secret to `*unreadable`.
  Status TakeStep(Db& db, std::int64_t now, Result<std::optional<Work>>* taken,
                  std::optional<Record>* unreadable) WB_EXCLUSIVE_LOCKS_REQUIRED(db_mu_);
  // Runs `fn(db, row_state, now)` for a request that must exist, as one isolated step of a
  // group-commit batch (concurrent callers share the transaction and its fsync). `sync`:
  // kOrdered only for a change whose loss with the host is harmless (queue.h, Durability).
  template <typename Fn>
  Status Transition(std::string_view id, Fn fn, Sync sync = Sync::kDurable)
      WB_LOCKS_EXCLUDED(db_mu_);
  // The same for each of `ids` in one batch: `fn(db, id, row_state, now)`; one status per id.
  template <typename Fn>
  std::vector<Status> TransitionAll(std::span<const std::string> ids, Fn fn,
                                    Sync sync = Sync::kDurable) WB_LOCKS_EXCLUDED(db_mu_);
  template <typename Fn>
  Status TransitionStep(Db& db, std::string_view id, Fn& fn);
  double NextRandom() WB_EXCLUSIVE_LOCKS_REQUIRED(db_mu_);
  // Show's, GetStats' and List's reads, on `db` (in a read transaction).
  Result<RequestDetail> ShowIn(Db& db, std::string_view id);
  Result<Stats> StatsIn(Db& db);
  Result<std::vector<Record>> ListIn(Db& db, const ListFilter& filter);
  // Runs `read(db)` on the reader connection (under reader_mu_), or on the writer's (under
  // db_mu_) in read-only mode or when the reader is stuck in a transaction. `read` must only
  // read, and end any transaction it begins.
  template <typename Fn>
  auto Read(Fn read) -> decltype(read(std::declval<Db&>()));
  // Read, on the administrators' connection (under admin_mu_).
  template <typename Fn>
  auto AdminRead(Fn read) -> decltype(read(std::declval<Db&>()));
  template <typename Fn>
  auto ReadOn(std::optional<Db>& connection, Mutex& mu, Fn& read)
      -> decltype(read(std::declval<Db&>()));
  std::string_view session() const { return parts_.session; }

  const Options options_;
  const Clock& clock_;
  const BackoffPolicy backoff_;

  Mutex db_mu_;
  Mutex reader_mu_;
  Mutex admin_mu_;
  // parts_.db is used only with db_mu_ held, parts_.reader only with reader_mu_, parts_.admin
  // only with admin_mu_; the locks are released last.
  Parts parts_;
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
auto SqliteQueue::Read(Fn read) -> decltype(read(std::declval<Db&>())) {
  return ReadOn(parts_.reader, reader_mu_, read);
}

template <typename Fn>
auto SqliteQueue::AdminRead(Fn read) -> decltype(read(std::declval<Db&>())) {
  auto hooked = [&](Db& db) {
    if (options_.on_admin_read) options_.on_admin_read();
    return read(db);
  };
  return ReadOn(parts_.admin, admin_mu_, hooked);
}

template <typename Fn>
auto SqliteQueue::ReadOn(std::optional<Db>& connection, Mutex& mu, Fn& read)
    -> decltype(read(std::declval<Db&>())) {
  if (connection) {
    MutexLock lock(mu);
    Db& db = *connection;
    // A read transaction left open (Show's ROLLBACK failed) would pin an old snapshot, and the
    // WAL with it: end it, or read through the writer rather than answer from the past.
    if (!db.InAutocommit()) (void)db.Run("ROLLBACK");
    if (db.InAutocommit()) return read(db);
  }
  MutexLock lock(db_mu_);
  return read(parts_.db);
}

template <typename Fn>
Status SqliteQueue::TransitionStep(Db& db, std::string_view id, Fn& fn) {
  Result<std::optional<RowState>> row = LoadRowState(db, id);
  if (!row.ok()) return row.error();
  if (!*row) return NotFound("no " + QuoteId(id));
  return fn(db, **row, NowMs());
}

template <typename Fn>
Status SqliteQueue::Transition(std::string_view id, Fn fn, Sync sync) {
  WB_RETURN_IF_ERROR(RequireWritable());
  Status outcome;
  const Status batch = committer_.Run(
      [&](Db& db) {
        return RunIsolated(db, &outcome, [&](Db& in) { return TransitionStep(in, id, fn); });
      },
      sync);
  return batch.ok() ? outcome : batch;
}

template <typename Fn>
std::vector<Status> SqliteQueue::TransitionAll(std::span<const std::string> ids, Fn fn, Sync sync) {
  std::vector<Status> outcomes(ids.size());
  if (Status s = RequireWritable(); !s.ok()) {
    std::fill(outcomes.begin(), outcomes.end(), s);
    return outcomes;
  }
  const Status batch = committer_.Run(
      [&](Db& db) -> Status {
        for (std::size_t i = 0; i < ids.size(); ++i) {
          auto step = [&](Db& in, const RowState& row, std::int64_t now) {
            return fn(in, ids[i], row, now);
          };
          WB_RETURN_IF_ERROR(RunIsolated(db, &outcomes[i],
                                         [&](Db& in) { return TransitionStep(in, ids[i], step); }));
        }
        return Status::Ok();
      },
      sync);
  if (!batch.ok()) std::fill(outcomes.begin(), outcomes.end(), batch);
  return outcomes;
}

}  // namespace wb::queue
