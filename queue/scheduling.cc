// Admission and work: MarkReady, Take, NextReadyTime, RetryWaitingNow, Finish, Retry.

#include <string>

#include "queue/sealed_passwords.h"
#include "queue/sqlite_queue.h"

namespace wb::queue {

namespace {

// The oldest ready request that is due, unexpired, and first in line for its account. One past
// expires_at is left for Maintain to expire, so that every such expiry is reported by one call.
constexpr const char* kNextEligible =
    "SELECT r.id, r.secret FROM requests r "
    "WHERE r.state = 1 AND r.not_before <= ?1 AND r.expires_at > ?1 AND NOT EXISTS ("
    "  SELECT 1 FROM requests e WHERE e.account_key = r.account_key AND e.state < 3"
    "  AND e.seq < r.seq) "
    "ORDER BY r.seq LIMIT 1";

// When the next of those is due (kNextEligible without the due condition). A request waiting
// behind its account's older request is left out: it can go only once that one has ended, and
// whoever ends it takes again or wakes the workers; its past not_before would have them poll
// meanwhile.
constexpr const char* kNextDue =
    "SELECT min(r.not_before) FROM requests r "
    "WHERE r.state = 1 AND r.expires_at > ?1 AND NOT EXISTS ("
    "  SELECT 1 FROM requests e WHERE e.account_key = r.account_key AND e.state < 3"
    "  AND e.seq < r.seq)";

struct Candidate {
  std::string id;
  std::string sealed;  // ciphertext; empty when the request carries no password
};

// Whether Options::max_in_flight requests are applying: then nothing can be taken, whatever is
// ready. An attempt whose Finish or Retry failed stays `applying`, and keeps its slot, until a
// later Finish or Retry of its caller (or, after a crash, the next start) ends it.
Result<bool> InFlightFull(Db& db, std::size_t max_in_flight) {
  Result<std::int64_t> in_flight = db.QueryInt("SELECT count(*) FROM requests WHERE state = 2");
  if (!in_flight.ok()) return in_flight.error();
  return *in_flight >= static_cast<std::int64_t>(max_in_flight);
}

Result<std::optional<Candidate>> NextEligible(Db& db, std::int64_t now) {
  Result<Stmt> stmt = db.Prepare(kNextEligible);
  if (!stmt.ok()) return stmt.error();
  stmt->Bind(1, now);
  Result<bool> found = stmt->Step();
  if (!found.ok()) return found.error();
  if (!*found) return std::optional<Candidate>();
  return std::optional<Candidate>(Candidate{stmt->Text(0), stmt->Blob(1)});
}

// The next request Take would hand out now, or nothing (also when the in-flight bound is
// reached).
Result<std::optional<Candidate>> NextTakeable(Db& db, std::int64_t now, std::size_t max_in_flight) {
  Result<bool> full = InFlightFull(db, max_in_flight);
  if (!full.ok()) return full.error();
  if (*full) return std::optional<Candidate>();
  return NextEligible(db, now);
}

Status WrongState(std::string_view id, State state, std::string_view wanted) {
  return FailedPrecondition(QuoteId(id) + " is " + std::string(StateName(state)) + ", not " +
                            std::string(wanted));
}

Status ValidateFinal(const Outcome& o) {
  if (o.state != State::kSucceeded && o.state != State::kRejected && o.state != State::kFailed) {
    return InvalidArgument("Finish takes succeeded, rejected or failed, not " +
                           std::string(StateName(o.state)));
  }
  if (o.code.empty()) return InvalidArgument("an outcome needs a code");
  return Status::Ok();
}

Status MarkApplying(Db& db, std::string_view id, std::int64_t now, std::string_view session) {
  Result<Stmt> stmt = db.Prepare(
      "UPDATE requests SET state = 2, attempts = attempts + 1, attempt_started_at = ?2, "
      "session = ?3 WHERE id = ?1");
  if (!stmt.ok()) return stmt.error();
  WB_RETURN_IF_ERROR(stmt->Bind(1, id).Bind(2, now).Bind(3, session).Run());
  return AppendHistory(db, id, now, "applying");
}

Status ScheduleRetry(Db& db, std::string_view id, const Outcome& failure, std::int64_t now,
                     std::int64_t next) {
  Result<Stmt> stmt = db.Prepare(
      "UPDATE requests SET state = 1, not_before = ?2, session = NULL, last_error_code = ?3, "
      "last_error_message = ?4 WHERE id = ?1");
  if (!stmt.ok()) return stmt.error();
  WB_RETURN_IF_ERROR(
      stmt->Bind(1, id).Bind(2, next).Bind(3, failure.code).Bind(4, failure.message).Run());
  return AppendHistory(db, id, now, "retry_scheduled", failure.code, failure.message);
}

Status RecordLastError(Db& db, std::string_view id, const Outcome& failure) {
  Result<Stmt> stmt =
      db.Prepare("UPDATE requests SET last_error_code = ?2, last_error_message = ?3 WHERE id = ?1");
  if (!stmt.ok()) return stmt.error();
  return stmt->Bind(1, id).Bind(2, failure.code).Bind(3, failure.message).Run();
}

Status ToReady(Db& db, std::string_view id, const RowState& row, std::int64_t now) {
  if (row.state != State::kReceived) return WrongState(id, row.state, "received");
  Result<Stmt> stmt =
      db.Prepare("UPDATE requests SET state = 1, ready_at = ?2, not_before = ?2 WHERE id = ?1");
  if (!stmt.ok()) return stmt.error();
  WB_RETURN_IF_ERROR(stmt->Bind(1, id).Bind(2, now).Run());
  return AppendHistory(db, id, now, "ready");
}

}  // namespace

// Ordered (queue.h, Durability): an admission lost with the host leaves the request
// `received`, and the daemon admits it again at its next start. Take, which acts on it, is
// durable, and its commit carries this one to the disk first.
Status SqliteQueue::MarkReady(std::string_view id) {
  return Transition(
      id, [&](Db& db, const RowState& row, std::int64_t now) { return ToReady(db, id, row, now); },
      Sync::kOrdered);
}

std::vector<Status> SqliteQueue::MarkReadyAll(std::span<const std::string> ids, Sync sync) {
  return TransitionAll(ids, ToReady, sync);
}

Result<std::optional<Work>> SqliteQueue::Take(std::optional<Record>* unreadable) {
  if (unreadable != nullptr) unreadable->reset();
  WB_RETURN_IF_ERROR(RequireWritable());
  // Looked at first without the writer: a Take that finds nothing (a worker woken for a
  // request another worker took first) costs one read, not a write transaction queued with the
  // commits. What commits after this read is there for the next
  // call, as if this one had come a moment earlier.
  const std::int64_t now = NowMs();
  Result<std::optional<Candidate>> any =
      Read([&](Db& db) { return NextTakeable(db, now, options_.max_in_flight); });
  if (!any.ok()) return any.error();
  if (!*any) return std::optional<Work>();
  Result<std::optional<Work>> taken = std::optional<Work>();
  Status outcome;
  const Status batch = committer_.Run([&](Db& db) -> Status {
    db_mu_.AssertHeld();  // the batch's leader holds it
    return RunIsolated(db, &outcome, [&](Db& in) -> Status {
      db_mu_.AssertHeld();
      return TakeStep(in, NowMs(), &taken, unreadable);
    });
  });
  if (!batch.ok() || !outcome.ok()) {
    // Not committed: no request was failed, whatever the step had read.
    if (unreadable != nullptr) unreadable->reset();
    return batch.ok() ? outcome : batch;
  }
  return taken;
}

Status SqliteQueue::TakeStep(Db& db, std::int64_t now, Result<std::optional<Work>>* taken,
                             std::optional<Record>* unreadable) {
  Result<std::optional<Candidate>> found = NextTakeable(db, now, options_.max_in_flight);
  if (!found.ok()) return found.error();
  std::optional<Candidate> next = std::move(found).value();
  if (!next) return Status::Ok();  // nothing written; *taken stays nullopt
  Passwords passwords;
  if (!next->sealed.empty()) {
    Result<Passwords> opened = OpenPasswords(*parts_.key, next->id, next->sealed);
    if (!opened.ok()) {
      // Kept (the request is failed durably); the caller hears kCorruption for it.
      Outcome failed{.state = State::kFailed,
                     .code = std::string(kSecretUnreadable),
                     .message = "the stored password could not be decrypted: nothing was written"};
      WB_RETURN_IF_ERROR(WriteTerminal(db, next->id, failed, now, "failed"));
      if (unreadable != nullptr) WB_RETURN_IF_ERROR(LoadInto(db, next->id, *unreadable));
      *taken = opened.error().WithContext(QuoteId(next->id) + " failed");
      return Status::Ok();
    }
    passwords = std::move(opened).value();
  }
  WB_RETURN_IF_ERROR(MarkApplying(db, next->id, now, session()));
  std::optional<Record> record;
  WB_RETURN_IF_ERROR(LoadInto(db, next->id, record));
  *taken = std::optional<Work>(Work{std::move(*record), std::move(passwords.new_password),
                                    std::move(passwords.old_password)});
  return Status::Ok();
}

Result<std::optional<WallTime>> SqliteQueue::NextReadyTime() {
  const std::int64_t now = NowMs();
  return Read([&](Db& db) -> Result<std::optional<WallTime>> {
    // While the bound is reached, no due time helps: a worker that waited for one would wake,
    // take nothing and wait again at once. The worker that ends an attempt takes again itself.
    Result<bool> full = InFlightFull(db, options_.max_in_flight);
    if (!full.ok()) return full.error();
    if (*full) return std::optional<WallTime>();
    Result<Stmt> stmt = db.Prepare(kNextDue);
    if (!stmt.ok()) return stmt.error();
    stmt->Bind(1, now);
    Result<bool> row = stmt->Step();
    if (!row.ok()) return row.error();
    std::optional<std::int64_t> ms = *row ? stmt->OptInt(0) : std::nullopt;
    if (!ms) return std::optional<WallTime>();
    return std::optional<WallTime>(FromMillis(*ms));
  });
}

// Ordered (queue.h, Durability): only the timing changes; a crash of the host that loses it
// makes the requests wait out their back-off again.
Result<int> SqliteQueue::RetryWaitingNow() {
  WB_RETURN_IF_ERROR(RequireWritable());
  MutexLock lock(db_mu_);
  Result<Transaction> tx = Transaction::Begin(parts_.db, Sync::kOrdered);
  if (!tx.ok()) return tx.error();
  {
    Result<Stmt> stmt = parts_.db.Prepare(
        "UPDATE requests SET not_before = ?1 WHERE state = 1 AND not_before > ?1");
    if (!stmt.ok()) return stmt.error();
    WB_RETURN_IF_ERROR(stmt->Bind(1, NowMs()).Run());
  }  // the statement is reset before the commit
  const auto moved = static_cast<int>(parts_.db.Changes());
  WB_RETURN_IF_ERROR(tx->Commit());
  return moved;
}

Result<Record> SqliteQueue::Finish(std::string_view id, const Outcome& outcome) {
  WB_RETURN_IF_ERROR(ValidateFinal(outcome));
  std::optional<Record> finished;
  const Status s = Transition(id, [&](Db& db, const RowState& row, std::int64_t now) -> Status {
    const bool mine = row.state == State::kApplying && row.session == session();
    const bool unstarted = row.state == State::kReceived || row.state == State::kReady;
    if (row.state == State::kApplying && !mine) {
      return FailedPrecondition(QuoteId(id) +
                                " is an interrupted attempt; resolve it with MarkFoundApplied "
                                "or RequeueInterrupted");
    }
    if (!mine && !unstarted) return WrongState(id, row.state, "unfinished");
    if (unstarted && outcome.state == State::kSucceeded) {
      return WrongState(id, row.state, "applying (only an attempt can succeed)");
    }
    WB_RETURN_IF_ERROR(WriteTerminal(db, id, outcome, now, StateName(outcome.state)));
    return LoadInto(db, id, finished);
  });
  if (!s.ok()) return s;
  return std::move(*finished);
}

Result<Record> SqliteQueue::Retry(std::string_view id, const Outcome& failure) {
  if (failure.code.empty()) return InvalidArgument("a failure needs a code");
  std::optional<Record> retried;
  Status s = Transition(id, [&](Db& db, const RowState& row, std::int64_t now) -> Status {
    if (row.state != State::kApplying || row.session != session()) {
      return WrongState(id, row.state, "applying in this process");
    }
    db_mu_.AssertHeld();  // Transition runs this with db_mu_ held
    const auto delay = BackoffDelay(backoff_, row.attempts, NextRandom());
    const std::int64_t next = now + delay.count();
    if (next < row.expires_at) {
      WB_RETURN_IF_ERROR(ScheduleRetry(db, id, failure, now, next));
      return LoadInto(db, id, retried);
    }
    WB_RETURN_IF_ERROR(RecordLastError(db, id, failure));
    Outcome expired{.state = State::kExpired,
                    .code = "expired",
                    .transient = true,
                    .message = "expired before the next attempt (" + std::to_string(row.attempts) +
                               " attempt(s) made); last error: " + failure.code,
                    .server = failure.server,
                    .duration = failure.duration};
    WB_RETURN_IF_ERROR(WriteTerminal(db, id, expired, now, "expired"));
    return LoadInto(db, id, retried);
  });
  if (!s.ok()) return s;
  return std::move(*retried);
}

}  // namespace wb::queue
