// Crash recovery: attempts a previous process left in `applying`.

#include <string>

#include "queue/sqlite_queue.h"

namespace wb::queue {

namespace {

Status NotInterrupted(std::string_view id, const RowState& row, std::string_view session) {
  if (row.state != State::kApplying) {
    return FailedPrecondition(QuoteId(id) + " is " + std::string(StateName(row.state)) +
                              ", not an interrupted attempt");
  }
  if (row.session == session) {
    return FailedPrecondition(QuoteId(id) + " is being applied by this process, not interrupted");
  }
  return Status::Ok();
}

}  // namespace

Result<std::vector<Record>> SqliteQueue::InterruptedAttempts() {
  MutexLock lock(db_mu_);
  Result<Stmt> stmt = parts_.db.Prepare(std::string("SELECT ") + kRecordColumns +
                                        " FROM requests WHERE state = 2 AND "
                                        "coalesce(session, '') != ?1 ORDER BY seq");
  if (!stmt.ok()) return stmt.error();
  stmt->Bind(1, session());
  return ReadRecords(*stmt);
}

Result<std::optional<WallTime>> SqliteQueue::LastPasswordWrite(std::string_view account_key,
                                                               std::string_view except_id) {
  MutexLock lock(db_mu_);
  // state 3 = succeeded; operation bits 1 | 2 = reset | change.
  Result<Stmt> stmt = parts_.db.Prepare(
      "SELECT max(finished_at) FROM requests WHERE account_key = ?1 AND id != ?2 AND state = 3 "
      "AND (operations & 3) != 0");
  if (!stmt.ok()) return stmt.error();
  stmt->Bind(1, account_key).Bind(2, except_id);
  Result<bool> row = stmt->Step();
  if (!row.ok()) return row.error();
  std::optional<std::int64_t> ms = *row ? stmt->OptInt(0) : std::nullopt;
  if (!ms) return std::optional<WallTime>();
  return std::optional<WallTime>(FromMillis(*ms));
}

Status SqliteQueue::MarkFoundApplied(std::string_view id, std::string_view server) {
  return Transition(id, [&](Db& db, const RowState& row, std::int64_t now) -> Status {
    WB_RETURN_IF_ERROR(NotInterrupted(id, row, session()));
    Outcome applied{.state = State::kSucceeded,
                    .code = "succeeded",
                    .message = "found already applied after an interrupted attempt",
                    .server = std::string(server)};
    return WriteTerminal(db, id, applied, now, "found_applied");
  });
}

Status SqliteQueue::RequeueInterrupted(std::string_view id) {
  return Transition(id, [&](Db& db, const RowState& row, std::int64_t now) -> Status {
    WB_RETURN_IF_ERROR(NotInterrupted(id, row, session()));
    Result<Stmt> stmt =
        db.Prepare("UPDATE requests SET state = 1, not_before = ?2, session = NULL WHERE id = ?1");
    if (!stmt.ok()) return stmt.error();
    WB_RETURN_IF_ERROR(stmt->Bind(1, id).Bind(2, now).Run());
    return AppendHistory(db, id, now, "requeued_after_interruption");
  });
}

}  // namespace wb::queue
