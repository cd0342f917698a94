// The outbox (results until acknowledged) and periodic maintenance.

#include <map>
#include <string>

#include "queue/sqlite_queue.h"

namespace wb::queue {

namespace {

// Which terminal records a purge removes: one of record_io.h's two conditions, and its time.
struct Cutoff {
  const char* condition;
  std::int64_t before;
};

// A purged record's id stays a replay until its expiry plus the clock skew (queue.h,
// Idempotency): while the record exists, its row is that memory; after, a replay row. Most
// records outlive their expiry (retention is days), and need none.
Status RememberPurgedIds(Db& db, std::int64_t kind, const Cutoff& cutoff, std::int64_t now,
                         std::int64_t skew_ms) {
  Result<Stmt> stmt = db.Prepare(
      std::string("INSERT OR IGNORE INTO replay (kind, value, forget_after) "
                  "SELECT ?2, id, expires_at + ?3 FROM requests WHERE expires_at + ?3 > ?4 AND ") +
      cutoff.condition);
  if (!stmt.ok()) return stmt.error();
  return stmt->Bind(1, cutoff.before).Bind(2, kind).Bind(3, skew_ms).Bind(4, now).Run();
}

// A record's history is in its row, and goes with it.
Result<int> Purge(Db& db, const Cutoff& cutoff) {
  Result<Stmt> requests = db.Prepare(std::string("DELETE FROM requests WHERE ") + cutoff.condition);
  if (!requests.ok()) return requests.error();
  WB_RETURN_IF_ERROR(requests->Bind(1, cutoff.before).Run());
  return static_cast<int>(db.Changes());
}

Result<int> Forget(Db& db, std::int64_t now) {
  Result<Stmt> stmt = db.Prepare("DELETE FROM replay WHERE forget_after <= ?1");
  if (!stmt.ok()) return stmt.error();
  WB_RETURN_IF_ERROR(stmt->Bind(1, now).Run());
  return static_cast<int>(db.Changes());
}

// Whether this call acknowledged it: false when it was acknowledged before (nothing changes).
Result<bool> ToAcknowledged(Db& db, std::string_view id, const RowState& row, std::int64_t now) {
  if (!IsTerminal(row.state)) {
    return FailedPrecondition(QuoteId(id) + " is " + std::string(StateName(row.state)) +
                              "; only a final result can be acknowledged");
  }
  Result<Stmt> stmt =
      db.Prepare("UPDATE requests SET acked_at = ?2 WHERE id = ?1 AND acked_at IS NULL");
  if (!stmt.ok()) return stmt.error();
  WB_RETURN_IF_ERROR(stmt->Bind(1, id).Bind(2, now).Run());
  if (db.Changes() == 0) return false;
  WB_RETURN_IF_ERROR(AppendHistory(db, id, now, "result_acknowledged"));
  return true;
}

}  // namespace

OutboxPosition PositionInOutbox(const Record& record) {
  return {.finished_at = record.finished_at.value_or(WallTime()), .seq = record.seq};
}

// On the administrators' connection, as GetStats: after a long outage the outbox can hold
// many results, and reading them at a reconnection must hold up no request.
Result<std::vector<Record>> SqliteQueue::PendingResults(std::size_t limit,
                                                        std::optional<OutboxPosition> after) {
  return AdminRead([&](Db& db) -> Result<std::vector<Record>> {
    Result<Stmt> stmt = db.Prepare(
        std::string("SELECT ") + kRecordColumns +
        " FROM requests WHERE state >= 3 AND acked_at IS NULL AND (?2 IS NULL OR finished_at > "
        "?2 OR (finished_at = ?2 AND seq > ?3)) ORDER BY finished_at, seq LIMIT ?1");
    if (!stmt.ok()) return stmt.error();
    stmt->Bind(1, static_cast<std::int64_t>(limit));
    // Both bound every time: a cached statement keeps the bindings of its last use.
    stmt->Bind(2, after ? std::optional<std::int64_t>(ToMillis(after->finished_at)) : std::nullopt);
    stmt->Bind(3, after ? after->seq : 0);
    return ReadRecords(*stmt);
  });
}

// Not fsynced (queue.h, Durability): an acknowledgement lost with the host leaves the result in
// the outbox; it is sent again at the next connection and acknowledged again.
Status SqliteQueue::AcknowledgeResult(std::string_view id) {
  return Transition(
      id,
      [&](Db& db, const RowState& row, std::int64_t now) -> Status {
        Result<bool> first = ToAcknowledged(db, id, row, now);
        return first.ok() ? Status::Ok() : first.error();  // twice is OK here
      },
      Sync::kOrdered);
}

std::vector<Result<Record>> SqliteQueue::AcknowledgeResults(std::span<const std::string> ids) {
  std::map<std::string, Record, std::less<>> acknowledged;
  const std::vector<Status> outcomes = TransitionAll(
      ids,
      [&](Db& db, std::string_view id, const RowState& row, std::int64_t now) -> Status {
        Result<bool> first = ToAcknowledged(db, id, row, now);
        if (!first.ok()) return first.error();
        if (!*first) return Status(Code::kAlreadyExists, QuoteId(id) + " was acknowledged before");
        std::optional<Record> record;
        WB_RETURN_IF_ERROR(LoadInto(db, id, record));
        acknowledged.insert_or_assign(std::string(id), std::move(*record));
        return Status::Ok();
      },
      Sync::kOrdered);
  std::vector<Result<Record>> records;
  records.reserve(ids.size());
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (!outcomes[i].ok()) {
      records.emplace_back(outcomes[i]);
    } else {
      records.emplace_back(acknowledged.at(ids[i]));
    }
  }
  return records;
}

Result<MaintenanceReport> SqliteQueue::Maintain() {
  WB_RETURN_IF_ERROR(RequireWritable());
  MutexLock lock(db_mu_);
  Db& db = parts_.db;
  const std::int64_t now = NowMs();
  MaintenanceReport report;
  {
    Result<Transaction> tx = Transaction::Begin(db);
    if (!tx.ok()) return tx.error();
    Result<std::vector<Record>> expired = ExpireDue(db, now);
    if (!expired.ok()) return expired.error();
    const auto retention =
        std::chrono::duration_cast<std::chrono::milliseconds>(options_.retention);
    const auto unacked =
        std::chrono::duration_cast<std::chrono::milliseconds>(options_.unacknowledged_retention);
    const auto skew = std::chrono::duration_cast<std::chrono::milliseconds>(options_.clock_skew);
    int purged = 0;
    for (const Cutoff& cutoff : {Cutoff{kAckedAtOrBefore, now - retention.count()},
                                 Cutoff{kUnackedFinishedAtOrBefore, now - unacked.count()}}) {
      WB_RETURN_IF_ERROR(RememberPurgedIds(db, kReplayRequestId, cutoff, now, skew.count()));
      Result<int> removed = Purge(db, cutoff);
      if (!removed.ok()) return removed.error();
      purged += *removed;
    }
    Result<int> forgotten = Forget(db, now);
    if (!forgotten.ok()) return forgotten.error();
    WB_RETURN_IF_ERROR(tx->Commit());
    report = {std::move(expired).value(), purged, *forgotten};
  }
  // Copies the WAL into the database and truncates it: erased ciphertext does not linger in
  // old WAL frames. A reader (an administrator's inspection) can make this a partial
  // checkpoint, reported as such; the next call finishes it. Its failure must not hide the
  // committed expiries, which the caller still has to report.
  report.wal_checkpoint = db.TruncateWal();
  return report;
}

}  // namespace wb::queue
