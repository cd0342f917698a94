#include "queue/schema.h"

#include <string>

namespace wb::queue {

namespace {

// Version 1. Times are milliseconds since the Unix epoch (UTC). States are queue::State values;
// 0..2 are unfinished, 3..6 terminal. A terminal request holds no secret: the CHECK makes the
// erasure a property of the schema, not only of the code.
constexpr const char* kV1 = R"sql(
CREATE TABLE meta (
  name  TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE requests (
  seq                 INTEGER PRIMARY KEY AUTOINCREMENT,
  id                  TEXT NOT NULL UNIQUE,
  tenant              TEXT NOT NULL,
  correlation_id      TEXT NOT NULL,
  operations          INTEGER NOT NULL,
  target              TEXT NOT NULL,
  target_kind         TEXT NOT NULL,
  account_key         TEXT NOT NULL,
  requester           TEXT NOT NULL,
  issued_at           INTEGER NOT NULL,
  expires_at          INTEGER NOT NULL,
  state               INTEGER NOT NULL CHECK (state BETWEEN 0 AND 6),
  attempts            INTEGER NOT NULL DEFAULT 0,
  received_at         INTEGER NOT NULL,
  ready_at            INTEGER,
  attempt_started_at  INTEGER,
  not_before          INTEGER NOT NULL,
  finished_at         INTEGER,
  acked_at            INTEGER,
  session             TEXT,
  last_error_code     TEXT NOT NULL DEFAULT '',
  last_error_message  TEXT NOT NULL DEFAULT '',
  outcome_code        TEXT,
  outcome_transient   INTEGER,
  outcome_message     TEXT,
  outcome_server      TEXT,
  outcome_duration_ms INTEGER,
  secret              BLOB,
  CHECK (state < 3 OR secret IS NULL)
);
CREATE INDEX requests_unfinished ON requests (account_key, seq) WHERE state < 3;
CREATE INDEX requests_by_state ON requests (state, seq);
CREATE INDEX requests_outbox ON requests (finished_at) WHERE state >= 3 AND acked_at IS NULL;

CREATE TABLE history (
  seq        INTEGER PRIMARY KEY,
  request_id TEXT NOT NULL,
  at         INTEGER NOT NULL,
  event      TEXT NOT NULL,
  state      INTEGER NOT NULL,
  attempts   INTEGER NOT NULL,
  code       TEXT NOT NULL DEFAULT '',
  message    TEXT NOT NULL DEFAULT ''
);
CREATE INDEX history_by_request ON history (request_id, seq);

CREATE TABLE replay (
  kind         INTEGER NOT NULL,
  value        TEXT NOT NULL,
  forget_after INTEGER NOT NULL,
  PRIMARY KEY (kind, value)
) WITHOUT ROWID;
CREATE INDEX replay_by_expiry ON replay (forget_after);
)sql";

// Version 2: the cloud's delivery count (protocol `request.delivery`), so that a worker knows
// that another agent may have had the request first; and an index to find this agent's own
// latest password write for an account (LastPasswordWrite).
constexpr const char* kV2 = R"sql(
ALTER TABLE requests ADD COLUMN delivery INTEGER NOT NULL DEFAULT 1 CHECK (delivery >= 1);
CREATE INDEX requests_by_account ON requests (account_key, finished_at) WHERE state = 3;
)sql";

// Version 3: each request's history is a JSON array in its own row, one [at, event, state,
// attempts, code, message] per event, in order. As a table of its own, each event cost a
// random write into the index by request id: a quarter of the pages written under load. The
// row is written by every transition anyway. Events move over in their order (a window's
// ORDER BY orders group_concat), and a request without events gets an empty array.
// And one index of terminal records by (acked_at, finished_at) replaces the outbox's: it finds
// the unacknowledged results as the outbox's did (acked_at IS NULL, by finished_at), and the
// records past retention too, which the minutely purge had found by visiting every terminal
// record (a week of them, each minute).
constexpr const char* kV3 = R"sql(
ALTER TABLE requests ADD COLUMN history TEXT NOT NULL DEFAULT '[]';
UPDATE requests SET history = moved.events FROM (
  SELECT DISTINCT request_id,
         '[' || group_concat(json_array(at, event, state, attempts, code, message), ',')
                  OVER (PARTITION BY request_id ORDER BY seq
                        ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) || ']' AS events
  FROM history) AS moved
WHERE moved.request_id = requests.id;
DROP TABLE history;
DROP INDEX requests_outbox;
CREATE INDEX requests_terminal ON requests (acked_at, finished_at) WHERE state >= 3;
)sql";

constexpr Migration kMigrations[] = {
    {1, kV1},
    {2, kV2},
    {3, kV3},
};

Status Apply(Db& db, const Migration& m) {
  Result<Transaction> tx = Transaction::Begin(db);
  if (!tx.ok()) return tx.error();
  WB_RETURN_IF_ERROR(db.Exec(m.sql).WithContext("schema migration " + std::to_string(m.version)));
  WB_RETURN_IF_ERROR(db.Exec("PRAGMA user_version = " + std::to_string(m.version)));
  return tx->Commit();
}

Status TooNew(int found, int supported) {
  return FailedPrecondition("queue database schema version " + std::to_string(found) +
                            " is newer than this wbagent supports (" + std::to_string(supported) +
                            "); run the wbagent version that wrote it, or a newer one");
}

}  // namespace

std::span<const Migration> Migrations() { return kMigrations; }

int CurrentSchemaVersion() { return Migrations().back().version; }

Result<int> SchemaVersion(Db& db) {
  Result<std::int64_t> v = db.QueryInt("PRAGMA user_version");
  if (!v.ok()) return v.error();
  return static_cast<int>(*v);
}

Status Migrate(Db& db, std::span<const Migration> migrations) {
  Result<int> version = SchemaVersion(db);
  if (!version.ok()) return version.error();
  const int latest = migrations.empty() ? 0 : migrations.back().version;
  if (*version > latest) return TooNew(*version, latest);
  for (const Migration& m : migrations) {
    if (m.version > *version) WB_RETURN_IF_ERROR(Apply(db, m));
  }
  return Status::Ok();
}

Status CheckSchemaVersion(Db& db, int version) {
  Result<int> found = SchemaVersion(db);
  if (!found.ok()) return found.error();
  if (*found > version) return TooNew(*found, version);
  if (*found < version) {
    return FailedPrecondition("queue database schema version " + std::to_string(*found) +
                              " is older than this wbagent's (" + std::to_string(version) +
                              "); start the agent once to migrate it");
  }
  return Status::Ok();
}

}  // namespace wb::queue
