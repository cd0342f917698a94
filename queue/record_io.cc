#include "queue/record_io.h"

#include <string>
#include <vector>

namespace wb::queue {

namespace {

constexpr std::int64_t kReset = 1;
constexpr std::int64_t kChange = 2;
constexpr std::int64_t kUnlock = 4;
constexpr std::int64_t kRequireChange = 8;
constexpr std::int64_t kClearRequireChange = 16;
constexpr std::int64_t kValidate = 32;

std::optional<WallTime> OptTime(const Stmt& row, int col) {
  std::optional<std::int64_t> ms = row.OptInt(col);
  if (!ms) return std::nullopt;
  return FromMillis(*ms);
}

Result<State> StateFromInt(std::int64_t v) {
  if (v < 0 || v >= static_cast<std::int64_t>(kStateCount)) {
    return Status(Code::kCorruption, "request has unknown state " + std::to_string(v));
  }
  return static_cast<State>(v);
}

std::optional<Outcome> ReadOutcome(const Stmt& row, State state) {
  if (!IsTerminal(state)) return std::nullopt;
  return Outcome{
      .state = state,
      .code = row.Text(21),
      .transient = row.Int(22) != 0,
      .message = row.Text(23),
      .server = row.Text(24),
      .duration = std::chrono::milliseconds(row.Int(25)),
  };
}

std::string ExpiryMessage(const RowState& r) {
  std::string m = "expired before it could be applied";
  if (r.attempts > 0) m += " (" + std::to_string(r.attempts) + " attempt(s) made)";
  if (!r.last_error_code.empty()) m += "; last error: " + r.last_error_code;
  return m;
}

}  // namespace

const char* const kRecordColumns =
    "seq, id, tenant, correlation_id, operations, target, target_kind, account_key, requester, "
    "issued_at, expires_at, state, attempts, received_at, ready_at, attempt_started_at, "
    "not_before, finished_at, acked_at, last_error_code, last_error_message, outcome_code, "
    "outcome_transient, outcome_message, outcome_server, outcome_duration_ms, "
    "secret IS NOT NULL, delivery";

std::int64_t ToMillis(WallTime t) {
  return std::chrono::floor<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

WallTime FromMillis(std::int64_t ms) {
  return WallTime(std::chrono::duration_cast<WallTime::duration>(std::chrono::milliseconds(ms)));
}

std::int64_t OperationBits(const Operations& ops) {
  return (ops.reset ? kReset : 0) | (ops.change ? kChange : 0) | (ops.unlock ? kUnlock : 0) |
         (ops.require_change ? kRequireChange : 0) |
         (ops.clear_require_change ? kClearRequireChange : 0) | (ops.validate ? kValidate : 0);
}

Operations OperationsFromBits(std::int64_t bits) {
  return Operations{
      .reset = (bits & kReset) != 0,
      .change = (bits & kChange) != 0,
      .unlock = (bits & kUnlock) != 0,
      .require_change = (bits & kRequireChange) != 0,
      .clear_require_change = (bits & kClearRequireChange) != 0,
      .validate = (bits & kValidate) != 0,
  };
}

bool AnyOperation(const Operations& ops) { return OperationBits(ops) != 0; }

Result<Record> ReadRecord(const Stmt& row) {
  Result<State> state = StateFromInt(row.Int(11));
  if (!state.ok()) return state.error();
  Record r;
  r.seq = row.Int(0);
  r.info = RequestInfo{
      .id = row.Text(1),
      .tenant = row.Text(2),
      .correlation_id = row.Text(3),
      .operations = OperationsFromBits(row.Int(4)),
      .target = row.Text(5),
      .target_kind = row.Text(6),
      .account_key = row.Text(7),
      .issued_at = FromMillis(row.Int(9)),
      .expires_at = FromMillis(row.Int(10)),
      .requester_json = row.Text(8),
      .delivery = static_cast<int>(row.Int(27)),
  };
  r.state = *state;
  r.attempts = static_cast<int>(row.Int(12));
  r.received_at = FromMillis(row.Int(13));
  r.ready_at = OptTime(row, 14);
  r.attempt_started_at = OptTime(row, 15);
  r.not_before = FromMillis(row.Int(16));
  r.finished_at = OptTime(row, 17);
  r.acknowledged_at = OptTime(row, 18);
  r.last_error_code = row.Text(19);
  r.last_error_message = row.Text(20);
  r.outcome = ReadOutcome(row, *state);
  r.secret_stored = row.Int(26) != 0;
  return r;
}

Result<std::vector<Record>> ReadRecords(Stmt& stmt,
                                        const std::function<bool(const Record&)>& ends_before) {
  std::vector<Record> out;
  for (;;) {
    Result<bool> row = stmt.Step();
    if (!row.ok()) return row.error();
    if (!*row) return out;
    Result<Record> record = ReadRecord(stmt);
    if (!record.ok()) return record.error();
    if (ends_before && ends_before(*record)) return out;
    out.push_back(std::move(record).value());
  }
}

Result<std::vector<std::string>> ReadFirstColumn(Stmt& stmt) {
  std::vector<std::string> out;
  for (;;) {
    Result<bool> row = stmt.Step();
    if (!row.ok()) return row.error();
    if (!*row) return out;
    out.push_back(stmt.Text(0));
  }
}

Status LoadInto(Db& db, std::string_view id, std::optional<Record>& out) {
  Result<std::optional<Record>> record = LoadRecord(db, id);
  if (!record.ok()) return record.error();
  if (!*record) return Internal("a request just written could not be read back");
  out = std::move(*record);
  return Status::Ok();
}

Result<std::optional<Record>> LoadRecord(Db& db, std::string_view id) {
  Result<Stmt> stmt =
      db.Prepare(std::string("SELECT ") + kRecordColumns + " FROM requests WHERE id = ?1");
  if (!stmt.ok()) return stmt.error();
  stmt->Bind(1, id);
  Result<bool> row = stmt->Step();
  if (!row.ok()) return row.error();
  if (!*row) return std::optional<Record>();
  Result<Record> record = ReadRecord(*stmt);
  if (!record.ok()) return record.error();
  return std::optional<Record>(std::move(record).value());
}

Result<std::optional<RowState>> LoadRowState(Db& db, std::string_view id) {
  Result<Stmt> stmt = db.Prepare(
      "SELECT state, attempts, coalesce(session, ''), expires_at, last_error_code "
      "FROM requests WHERE id = ?1");
  if (!stmt.ok()) return stmt.error();
  stmt->Bind(1, id);
  Result<bool> row = stmt->Step();
  if (!row.ok()) return row.error();
  if (!*row) return std::optional<RowState>();
  Result<State> state = StateFromInt(stmt->Int(0));
  if (!state.ok()) return state.error();
  return std::optional<RowState>(
      RowState{*state, static_cast<int>(stmt->Int(1)), stmt->Text(2), stmt->Int(3), stmt->Text(4)});
}

Status AppendHistory(Db& db, std::string_view id, std::int64_t at, std::string_view event,
                     std::string_view code, std::string_view message) {
  // In the row that the transition has just written (schema v3), so no other page.
  Result<Stmt> stmt = db.Prepare(
      "UPDATE requests SET history = json_insert(history, '$[#]', "
      "json_array(?2, ?3, state, attempts, ?4, ?5)) WHERE id = ?1");
  if (!stmt.ok()) return stmt.error();
  return stmt->Bind(1, id).Bind(2, at).Bind(3, event).Bind(4, code).Bind(5, message).Run();
}

Status WriteTerminal(Db& db, std::string_view id, const Outcome& outcome, std::int64_t now,
                     std::string_view event) {
  Result<Stmt> stmt = db.Prepare(
      "UPDATE requests SET state = ?2, finished_at = ?3, outcome_code = ?4, "
      "outcome_transient = ?5, outcome_message = ?6, outcome_server = ?7, "
      "outcome_duration_ms = ?8, secret = NULL, session = NULL WHERE id = ?1");
  if (!stmt.ok()) return stmt.error();
  WB_RETURN_IF_ERROR(stmt->Bind(1, id)
                         .Bind(2, static_cast<std::int64_t>(outcome.state))
                         .Bind(3, now)
                         .Bind(4, outcome.code)
                         .Bind(5, std::int64_t{outcome.transient ? 1 : 0})
                         .Bind(6, outcome.message)
                         .Bind(7, outcome.server)
                         .Bind(8, static_cast<std::int64_t>(outcome.duration.count()))
                         .Run());
  return AppendHistory(db, id, now, event, outcome.code, outcome.message);
}

Result<std::vector<Record>> ExpireDue(Db& db, std::int64_t now) {
  Result<Stmt> stmt =
      db.Prepare("SELECT id FROM requests WHERE state IN (0, 1) AND expires_at <= ?1 ORDER BY seq");
  if (!stmt.ok()) return stmt.error();
  stmt->Bind(1, now);
  Result<std::vector<std::string>> ids = ReadFirstColumn(*stmt);
  if (!ids.ok()) return ids.error();
  std::vector<Record> out;
  for (const std::string& id : *ids) {
    Result<std::optional<RowState>> r = LoadRowState(db, id);
    if (!r.ok()) return r.error();
    Outcome expired{.state = State::kExpired,
                    .code = "expired",
                    .transient = !(*r)->last_error_code.empty(),
                    .message = ExpiryMessage(**r)};
    WB_RETURN_IF_ERROR(WriteTerminal(db, id, expired, now, "expired"));
    Result<std::optional<Record>> record = LoadRecord(db, id);
    if (!record.ok()) return record.error();
    if (*record) out.push_back(std::move(**record));
  }
  return out;
}

}  // namespace wb::queue
