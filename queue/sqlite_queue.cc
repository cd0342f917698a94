// Opening the queue: the state directory, its lock, the database and its pragmas, the schema,
// and the data key.

#include "queue/sqlite_queue.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "queue/fs_util.h"
#include "queue/key_file.h"
#include "queue/schema.h"

namespace wb::queue {

namespace {

constexpr char kDbFileName[] = "queue.db";
constexpr std::size_t kMaxBatch = 64;

Status ValidateOptions(const Options& o) {
  if (o.state_dir.empty()) return InvalidArgument("queue: state_dir is not set");
  if (o.max_pending == 0) return InvalidArgument("queue: max_pending must be at least 1");
  if (o.max_in_flight == 0) return InvalidArgument("queue: max_in_flight must be at least 1");
  if (o.backoff_base.count() < 0 || o.backoff_cap < o.backoff_base) {
    return InvalidArgument("queue: backoff needs 0 <= base <= cap");
  }
  return Status::Ok();
}

Result<std::string> QueryText(Db& db, const std::string& sql) {
  Result<Stmt> stmt = db.Prepare(sql);
  if (!stmt.ok()) return stmt.error();
  Result<bool> row = stmt->Step();
  if (!row.ok()) return row.error();
  return *row ? stmt->Text(0) : std::string();
}

// Durability and erasure settings; see docs/queue.md.
Status Configure(Db& db, const Options& o) {
  WB_RETURN_IF_ERROR(db.Exec("PRAGMA busy_timeout = 5000"));
  Result<std::string> mode = QueryText(db, "PRAGMA journal_mode = WAL");
  if (!mode.ok()) return mode.error();
  if (*mode != "wal") return IoError("queue database could not switch to WAL mode");
  WB_RETURN_IF_ERROR(
      db.Exec("PRAGMA synchronous = FULL; PRAGMA secure_delete = ON; "
              "PRAGMA journal_size_limit = 4194304; PRAGMA foreign_keys = OFF"));
  if (o.max_db_bytes > 0) {
    Result<std::int64_t> page = db.QueryInt("PRAGMA page_size");
    if (!page.ok()) return page.error();
    auto pages = std::max<std::uint64_t>(1, o.max_db_bytes / static_cast<std::uint64_t>(*page));
    WB_RETURN_IF_ERROR(db.Exec("PRAGMA max_page_count = " + std::to_string(pages)));
  }
  return Status::Ok();
}

std::string NewSessionId() {
  std::random_device rd;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%08x%08x-%d", rd(), rd(), static_cast<int>(::getpid()));
  return buf;
}

Status SetMeta(Db& db, std::string_view name, std::string_view value) {
  Result<Stmt> stmt = db.Prepare("INSERT OR REPLACE INTO meta (name, value) VALUES (?1, ?2)");
  if (!stmt.ok()) return stmt.error();
  return stmt->Bind(1, name).Bind(2, value).Run();
}

Result<std::string> GetMeta(Db& db, std::string_view name) {
  Result<Stmt> stmt = db.Prepare("SELECT value FROM meta WHERE name = ?1");
  if (!stmt.ok()) return stmt.error();
  stmt->Bind(1, name);
  Result<bool> row = stmt->Step();
  if (!row.ok()) return row.error();
  return *row ? stmt->Text(0) : std::string();
}

Result<std::int64_t> CountSealed(Db& db) {
  return db.QueryInt("SELECT count(*) FROM requests WHERE secret IS NOT NULL");
}

// A replaced key would make every stored secret unreadable: refuse rather than fail each one.
Status CheckKeyId(Db& db, const LoadedKey& key) {
  Result<std::string> stored = GetMeta(db, "key_id");
  if (!stored.ok()) return stored.error();
  const std::string id = key.key.Id();
  if (stored->empty() || *stored == id) return Status::Ok();
  Result<std::int64_t> sealed = CountSealed(db);
  if (!sealed.ok()) return sealed.error();
  if (*sealed == 0) return Status::Ok();
  return FailedPrecondition("data key " + key.path.string() + " (id " + id +
                            ") is not the key the queue's " + std::to_string(*sealed) +
                            " stored secret(s) were sealed with (id " + *stored +
                            "); restore the original key file");
}

// Records the key id and this instance's session id, in one durable transaction.
Status RecordOpen(Db& db, const LoadedKey& key, std::string_view session) {
  Result<Transaction> tx = Transaction::Begin(db);
  if (!tx.ok()) return tx.error();
  WB_RETURN_IF_ERROR(CheckKeyId(db, key));
  WB_RETURN_IF_ERROR(SetMeta(db, "key_id", key.key.Id()));
  WB_RETURN_IF_ERROR(SetMeta(db, "session", session));
  return tx->Commit();
}

// Options::AccountKeyRule: every stored request keyed by the rule's version, once per version.
// A row is updated as the scan passes it: its new key depends on its own columns only, and the
// scan is by rowid, which the update leaves alone, so memory stays flat at a million rows.
Status RekeyAccounts(Db& db, const Options::AccountKeyRule& rule) {
  Result<std::string> keyed_with = GetMeta(db, "account_key_rule");
  if (!keyed_with.ok()) return keyed_with.error();
  if (*keyed_with == rule.version) return Status::Ok();
  Result<Transaction> tx = Transaction::Begin(db);
  if (!tx.ok()) return tx.error();
  {
    Result<Stmt> rows = db.Prepare("SELECT seq, target_kind, target, account_key FROM requests");
    if (!rows.ok()) return rows.error();
    for (;;) {
      Result<bool> row = rows->Step();
      if (!row.ok()) return row.error();
      if (!*row) break;
      const std::string key = rule.key_of(rows->Text(1), rows->Text(2));
      if (key == rows->Text(3)) continue;
      // From the statement cache: reset and ready again once the last one is back.
      Result<Stmt> update = db.Prepare("UPDATE requests SET account_key = ?2 WHERE seq = ?1");
      if (!update.ok()) return update.error();
      WB_RETURN_IF_ERROR(update->Bind(1, rows->Int(0)).Bind(2, key).Run());
    }
  }
  WB_RETURN_IF_ERROR(SetMeta(db, "account_key_rule", rule.version));
  return tx->Commit();
}

Result<LoadedKey> LoadKey(Db& db, const Options& o) {
  Result<std::int64_t> sealed = CountSealed(db);
  if (!sealed.ok()) return sealed.error();
  KeyLocation where{.state_dir = o.state_dir,
                    .credentials_directory = o.credentials_directory,
                    .credential_name = o.key_credential,
                    .may_create = *sealed == 0};
  const char* env = std::getenv("CREDENTIALS_DIRECTORY");  // NOLINT(concurrency-mt-unsafe)
  if (!where.credentials_directory && env != nullptr) where.credentials_directory = env;
  return LoadOrCreateKey(where);
}

// A reading connection of a read-write queue (SqliteQueue::Parts::reader and ::admin), opened
// once the database is migrated. query_only: a bug that wrote through it would fail, not
// bypass the group commit.
Result<Db> OpenReader(const std::filesystem::path& path) {
  Result<Db> reader = Db::Open(path, SQLITE_OPEN_READWRITE);
  if (!reader.ok()) return reader.error();
  WB_RETURN_IF_ERROR(reader->Exec("PRAGMA busy_timeout = 5000; PRAGMA query_only = 1"));
  return reader;
}

// The administrators' reads scan (counts, lists) rather than revisit pages: a cache of 256 KiB
// instead of SQLite's 2 MB keeps what a scrape leaves resident small.
Result<Db> OpenAdminReader(const std::filesystem::path& path) {
  Result<Db> admin = OpenReader(path);
  if (!admin.ok()) return admin.error();
  WB_RETURN_IF_ERROR(admin->Exec("PRAGMA cache_size = -256"));
  return admin;
}

Result<std::unique_ptr<Queue>> OpenReadWrite(const Options& o, const Clock& clock) {
  WB_RETURN_IF_ERROR(EnsureDirectory(o.state_dir));
  Result<StateLock> lock = StateLock::Acquire(o.state_dir);
  if (!lock.ok()) return lock.error();
  const std::filesystem::path path = o.state_dir / kDbFileName;
  // SQLite gives the -wal and -shm files the database file's mode: make that 0600 first.
  WB_RETURN_IF_ERROR(EnsureFileMode(path, 0600));
  for (const char* suffix : {"-wal", "-shm"}) {
    std::filesystem::path side = path.string() + suffix;
    if (::access(side.c_str(), F_OK) == 0) WB_RETURN_IF_ERROR(EnsureFileMode(side, 0600));
  }
  WB_RETURN_IF_ERROR(SyncDirectory(o.state_dir));
  Result<Db> db = Db::Open(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  if (!db.ok()) return db.error();
  WB_RETURN_IF_ERROR(Configure(*db, o).WithContext(path.string()));
  WB_RETURN_IF_ERROR(Migrate(*db, Migrations()).WithContext(path.string()));
  if (o.account_key_rule) {
    WB_RETURN_IF_ERROR(
        RekeyAccounts(*db, *o.account_key_rule).WithContext(path.string() + ": account keys"));
  }

  Result<LoadedKey> key = LoadKey(*db, o);
  if (!key.ok()) return key.error();
  std::string session = NewSessionId();
  WB_RETURN_IF_ERROR(RecordOpen(*db, *key, session));
  Result<Db> reader = OpenReader(path);
  if (!reader.ok()) return reader.error();
  Result<Db> admin = OpenAdminReader(path);
  if (!admin.ok()) return admin.error();
  SqliteQueue::Parts parts{std::move(lock).value(),   std::move(db).value(),
                           std::move(key->key),       std::move(session),
                           std::move(reader).value(), std::move(admin).value()};
  return std::unique_ptr<Queue>(std::make_unique<SqliteQueue>(o, clock, std::move(parts)));
}

Result<std::unique_ptr<Queue>> OpenReadOnly(const Options& o, const Clock& clock) {
  const std::filesystem::path path = o.state_dir / kDbFileName;
  if (::access(path.c_str(), F_OK) != 0) {
    const int err = errno;
    return ErrnoStatus(err, "queue database " + path.string());
  }
  Result<Db> db = Db::Open(path, SQLITE_OPEN_READONLY);
  if (!db.ok()) return db.error();
  WB_RETURN_IF_ERROR(db->Exec("PRAGMA busy_timeout = 5000"));
  WB_RETURN_IF_ERROR(CheckSchemaVersion(*db, CurrentSchemaVersion()).WithContext(path.string()));
  Result<std::string> session = GetMeta(*db, "session");
  if (!session.ok()) return session.error();
  SqliteQueue::Parts parts{std::nullopt, std::move(db).value(),
                           std::nullopt, std::move(session).value(),
                           std::nullopt, std::nullopt};
  return std::unique_ptr<Queue>(std::make_unique<SqliteQueue>(o, clock, std::move(parts)));
}

}  // namespace

Result<std::unique_ptr<Queue>> Queue::Open(const Options& options, const Clock& clock) {
  WB_RETURN_IF_ERROR(ValidateOptions(options));
  return options.read_only ? OpenReadOnly(options, clock) : OpenReadWrite(options, clock);
}

SqliteQueue::SqliteQueue(const Options& options, const Clock& clock, Parts parts)
    : options_(options),
      clock_(clock),
      backoff_{options.backoff_base, options.backoff_cap},
      parts_(std::move(parts)),
      rng_(std::random_device{}()),
      committer_(&parts_.db, &db_mu_, kMaxBatch) {}

std::int64_t SqliteQueue::NowMs() const { return ToMillis(clock_.Now()); }

Status SqliteQueue::RequireWritable() const {
  if (options_.read_only) return FailedPrecondition("the queue was opened read-only");
  return Status::Ok();
}

double SqliteQueue::NextRandom() {
  if (options_.random) return options_.random();
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng_);
}

}  // namespace wb::queue
