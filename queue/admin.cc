// Administrators' views: counts, lists, one request's history. Never a secret.

#include <string>

#include "queue/sqlite_queue.h"

namespace wb::queue {

namespace {

Status CountByState(Db& db, Stats& stats) {
  Result<Stmt> stmt = db.Prepare("SELECT state, count(*) FROM requests GROUP BY state");
  if (!stmt.ok()) return stmt.error();
  for (;;) {
    Result<bool> row = stmt->Step();
    if (!row.ok()) return row.error();
    if (!*row) return Status::Ok();
    const std::int64_t state = stmt->Int(0);
    if (state < 0 || state >= static_cast<std::int64_t>(kStateCount)) {
      return Status(Code::kCorruption, "request has unknown state " + std::to_string(state));
    }
    stats.by_state[static_cast<std::size_t>(state)] = stmt->Int(1);
  }
}

Result<std::int64_t> CountInterrupted(Db& db, std::string_view session) {
  Result<Stmt> stmt =
      db.Prepare("SELECT count(*) FROM requests WHERE state = 2 AND coalesce(session, '') != ?1");
  if (!stmt.ok()) return stmt.error();
  stmt->Bind(1, session);
  Result<bool> row = stmt->Step();
  if (!row.ok()) return row.error();
  return stmt->Int(0);
}

Result<std::vector<HistoryEvent>> LoadHistory(Db& db, std::string_view id) {
  Result<Stmt> stmt = db.Prepare(
      "SELECT json_extract(e.value, '$[0]'), json_extract(e.value, '$[1]'), "
      "json_extract(e.value, '$[2]'), json_extract(e.value, '$[3]'), "
      "json_extract(e.value, '$[4]'), json_extract(e.value, '$[5]') "
      "FROM requests r, json_each(r.history) e WHERE r.id = ?1 ORDER BY e.key");
  if (!stmt.ok()) return stmt.error();
  stmt->Bind(1, id);
  std::vector<HistoryEvent> out;
  for (;;) {
    Result<bool> row = stmt->Step();
    if (!row.ok()) return row.error();
    if (!*row) return out;
    out.push_back(HistoryEvent{FromMillis(stmt->Int(0)), stmt->Text(1),
                               static_cast<State>(stmt->Int(2)), static_cast<int>(stmt->Int(3)),
                               stmt->Text(4), stmt->Text(5)});
  }
}

}  // namespace

// On the administrators' connection, in one read transaction: the counts are one snapshot,
// and a scrape of a large queue (a million records take about 100 ms to count) holds up
// neither the writer (as under db_mu_) nor the request path's reads (as on the reader).
Result<Stats> SqliteQueue::GetStats() {
  return AdminRead([&](Db& db) -> Result<Stats> {
    WB_RETURN_IF_ERROR(db.Run("BEGIN"));
    Result<Stats> stats = StatsIn(db);
    if (!db.InAutocommit()) (void)db.Run("ROLLBACK");  // ends the read; nothing was written
    return stats;
  });
}

Result<Stats> SqliteQueue::StatsIn(Db& db) {
  Stats stats;
  WB_RETURN_IF_ERROR(CountByState(db, stats));
  for (State s : {State::kReceived, State::kReady, State::kApplying}) {
    stats.unfinished += stats.count(s);
  }
  Result<std::int64_t> interrupted = CountInterrupted(db, session());
  if (!interrupted.ok()) return interrupted.error();
  stats.interrupted = *interrupted;
  Result<std::int64_t> results =
      db.QueryInt("SELECT count(*) FROM requests WHERE state >= 3 AND acked_at IS NULL");
  if (!results.ok()) return results.error();
  stats.pending_results = *results;
  Result<std::int64_t> remembered = db.QueryInt("SELECT count(*) FROM replay");
  if (!remembered.ok()) return remembered.error();
  stats.replay_entries = *remembered;
  if (stats.unfinished > 0) {
    Result<std::int64_t> oldest =
        db.QueryInt("SELECT min(received_at) FROM requests WHERE state < 3");
    if (!oldest.ok()) return oldest.error();
    stats.oldest_unfinished_received_at = FromMillis(*oldest);
    stats.oldest_unfinished_age =
        std::chrono::floor<std::chrono::seconds>(clock_.Now() - FromMillis(*oldest));
  }
  return stats;
}

Result<std::vector<Record>> SqliteQueue::List(const ListFilter& filter) {
  if (filter.received_since && !filter.newest_first) {
    return InvalidArgument("listing what was received since a time goes newest first");
  }
  // On the administrators' connection, as GetStats: a long list (the rate limits' history at
  // a reload, the held requests at a breaker release) holds up no request. One statement, so
  // one snapshot.
  return AdminRead([&](Db& db) { return ListIn(db, filter); });
}

Result<std::vector<Record>> SqliteQueue::ListIn(Db& db, const ListFilter& filter) {
  Result<Stmt> stmt = db.Prepare(std::string("SELECT ") + kRecordColumns +
                                 " FROM requests WHERE (?1 IS NULL OR state = ?1) AND "
                                 "seq > ?2 ORDER BY seq " +
                                 (filter.newest_first ? "DESC" : "ASC") + " LIMIT ?3");
  if (!stmt.ok()) return stmt.error();
  std::optional<std::int64_t> state;
  if (filter.state) state = static_cast<std::int64_t>(*filter.state);
  stmt->Bind(1, state).Bind(2, filter.after_seq).Bind(3, static_cast<std::int64_t>(filter.limit));
  if (!filter.received_since) return ReadRecords(*stmt);
  const WallTime since = *filter.received_since;
  // Newest first: the first record received before `since` is followed by older ones only.
  return ReadRecords(*stmt, [since](const Record& r) { return r.received_at < since; });
}

namespace {

// The one id that starts with `prefix`; nullopt when none does.
Result<std::optional<std::string>> IdWithPrefix(Db& db, std::string_view prefix) {
  Result<Stmt> stmt =
      db.Prepare("SELECT id FROM requests WHERE substr(id, 1, length(?1)) = ?1 LIMIT 2");
  if (!stmt.ok()) return stmt.error();
  stmt->Bind(1, prefix);
  Result<std::vector<std::string>> ids = ReadFirstColumn(*stmt);
  if (!ids.ok()) return ids.error();
  if (ids->size() > 1) {
    return Status(Code::kInvalidArgument,
                  "more than one request starts with " + QuoteId(prefix) + ": give more of the id");
  }
  if (ids->empty()) return std::optional<std::string>();
  return std::optional<std::string>(std::move(ids->front()));
}

}  // namespace

// The record and its history from one snapshot (a read transaction): a commit between the two
// reads would otherwise show a state its history does not have yet.
Result<RequestDetail> SqliteQueue::Show(std::string_view id) {
  return Read([&](Db& db) -> Result<RequestDetail> {
    WB_RETURN_IF_ERROR(db.Run("BEGIN"));
    Result<RequestDetail> detail = ShowIn(db, id);
    if (!db.InAutocommit()) (void)db.Run("ROLLBACK");  // ends the read; nothing was written
    return detail;
  });
}

Result<RequestDetail> SqliteQueue::ShowIn(Db& db, std::string_view id) {
  Result<std::optional<Record>> record = LoadRecord(db, id);
  if (!record.ok()) return record.error();
  std::string full;
  if (!*record && id.size() >= kMinIdPrefix) {
    Result<std::optional<std::string>> found = IdWithPrefix(db, id);
    if (!found.ok()) return found.error();
    if (*found) {
      full = std::move(**found);
      id = full;
      record = LoadRecord(db, id);
      if (!record.ok()) return record.error();
    }
  }
  if (!*record) return NotFound("no " + QuoteId(id));
  Result<std::vector<HistoryEvent>> history = LoadHistory(db, id);
  if (!history.ok()) return history.error();
  return RequestDetail{std::move(**record), std::move(history).value()};
}

}  // namespace wb::queue
