#include "queue/sqlite.h"

#include <string>
#include <utility>

namespace wb::queue {

namespace {

Code CodeFor(int rc) {
  // Only a uniqueness violation means "exists"; a NOT NULL or CHECK violation is a bug.
  if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
    return Code::kAlreadyExists;
  }
  switch (rc & 0xff) {
    case SQLITE_FULL:
      return Code::kResourceExhausted;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Code::kUnavailable;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
    case SQLITE_FORMAT:
      return Code::kCorruption;
    case SQLITE_PERM:
    case SQLITE_AUTH:
    case SQLITE_READONLY:
      return Code::kPermissionDenied;
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_PROTOCOL:
      return Code::kIoError;
    default:
      return Code::kInternal;
  }
}

}  // namespace

Status SqliteStatus(int rc, sqlite3* db, std::string_view what) {
  if (rc == SQLITE_OK || rc == SQLITE_ROW || rc == SQLITE_DONE) return Status::Ok();
  std::string m(what);
  m += ": ";
  // The extended message may quote SQL, never bound values: passwords are never in SQL text.
  m += (db != nullptr && sqlite3_extended_errcode(db) == rc) ? sqlite3_errmsg(db)
                                                             : sqlite3_errstr(rc);
  return Status(CodeFor(rc), std::move(m));
}

StmtCache::~StmtCache() {
  for (auto& [sql, stmt] : idle_) sqlite3_finalize(stmt);
}

sqlite3_stmt* StmtCache::Take(std::string_view sql) {
  auto it = idle_.find(std::string(sql));
  if (it == idle_.end()) return nullptr;
  sqlite3_stmt* stmt = it->second;
  idle_.erase(it);
  return stmt;
}

void StmtCache::Give(sqlite3_stmt* stmt) {
  // reset's result repeats the last step's error, which that step already reported.
  (void)sqlite3_reset(stmt);
  (void)sqlite3_clear_bindings(stmt);
  if (idle_.size() >= kMaxIdle || !idle_.try_emplace(sqlite3_sql(stmt), stmt).second) {
    sqlite3_finalize(stmt);
  }
}

Stmt::Stmt(Stmt&& other) noexcept
    : db_(other.db_), stmt_(other.stmt_), cache_(other.cache_), bind_rc_(other.bind_rc_) {
  other.stmt_ = nullptr;
}

Stmt::~Stmt() {
  if (stmt_ == nullptr) return;
  if (cache_ != nullptr) {
    cache_->Give(stmt_);
  } else {
    sqlite3_finalize(stmt_);
  }
}

Stmt& Stmt::Bind(int index, std::int64_t value) {
  int rc = sqlite3_bind_int64(stmt_, index, value);
  if (bind_rc_ == SQLITE_OK) bind_rc_ = rc;
  return *this;
}

Stmt& Stmt::Bind(int index, std::string_view text) {
  // An empty view may have a null data(), which SQLite would bind as NULL.
  const char* data = text.data() != nullptr ? text.data() : "";
  int rc = sqlite3_bind_text64(stmt_, index, data, text.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  if (bind_rc_ == SQLITE_OK) bind_rc_ = rc;
  return *this;
}

Stmt& Stmt::Bind(int index, std::optional<std::int64_t> value) {
  return value ? Bind(index, *value) : BindNull(index);
}

Stmt& Stmt::BindBlob(int index, std::string_view bytes) {
  if (bytes.empty()) return BindNull(index);
  int rc = sqlite3_bind_blob64(stmt_, index, bytes.data(), bytes.size(), SQLITE_TRANSIENT);
  if (bind_rc_ == SQLITE_OK) bind_rc_ = rc;
  return *this;
}

Stmt& Stmt::BindNull(int index) {
  int rc = sqlite3_bind_null(stmt_, index);
  if (bind_rc_ == SQLITE_OK) bind_rc_ = rc;
  return *this;
}

Result<bool> Stmt::Step() {
  if (bind_rc_ != SQLITE_OK) return SqliteStatus(bind_rc_, db_, "binding a parameter");
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return SqliteStatus(rc, db_, "sqlite step");
}

Status Stmt::Run() {
  for (;;) {
    Result<bool> row = Step();
    if (!row.ok()) return row.error();
    if (!*row) return Status::Ok();
  }
}

std::int64_t Stmt::Int(int col) const { return sqlite3_column_int64(stmt_, col); }

std::optional<std::int64_t> Stmt::OptInt(int col) const {
  if (IsNull(col)) return std::nullopt;
  return Int(col);
}

std::string Stmt::Text(int col) const {
  const auto* p = sqlite3_column_text(stmt_, col);
  if (p == nullptr) return {};
  return std::string(reinterpret_cast<const char*>(p),
                     static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col)));
}

std::string Stmt::Blob(int col) const {
  const void* p = sqlite3_column_blob(stmt_, col);
  if (p == nullptr) return {};
  return std::string(static_cast<const char*>(p),
                     static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col)));
}

bool Stmt::IsNull(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }

Status CheckSqliteVersion(int version_number) {
  if (version_number >= kOldestSqlite) return Status::Ok();
  auto dotted = [](int n) {
    return std::to_string(n / 1000000) + "." + std::to_string(n / 1000 % 1000) + "." +
           std::to_string(n % 1000);
  };
  return FailedPrecondition("the queue needs SQLite " + dotted(kOldestSqlite) +
                            " or newer; this system's libsqlite3 is " + dotted(version_number));
}

Status CheckTempStore(std::span<const std::string> compile_options) {
  for (const std::string& option : compile_options) {
    if (option == "TEMP_STORE=1" || option == "TEMP_STORE=2" || option == "TEMP_STORE=3") {
      return Status::Ok();
    }
  }
  return FailedPrecondition(
      "this system's libsqlite3 keeps temporary storage in files (it was built with "
      "SQLITE_TEMP_STORE=0, or without its list of compile options); the queue needs it in "
      "memory, so that no copy of its pages is written outside the state directory");
}

namespace {

std::vector<std::string> CompileOptions() {
  std::vector<std::string> options;
  for (int i = 0; const char* option = sqlite3_compileoption_get(i); ++i) options.push_back(option);
  return options;
}

}  // namespace

Result<Db> Db::Open(const std::filesystem::path& path, int flags) {
  WB_RETURN_IF_ERROR(CheckSqliteVersion(sqlite3_libversion_number()));
  WB_RETURN_IF_ERROR(CheckTempStore(CompileOptions()));
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, flags | SQLITE_OPEN_NOFOLLOW, nullptr);
  Db db(raw);  // closes `raw` on every path, including a failed open
  if (rc != SQLITE_OK) return SqliteStatus(rc, raw, "opening " + path.string());
  sqlite3_extended_result_codes(raw, 1);
  WB_RETURN_IF_ERROR(db.Exec("PRAGMA temp_store = MEMORY"));
  return db;
}

Db::~Db() {
  cache_.reset();  // finalized before the close
  sqlite3_close_v2(db_);
}

Result<Stmt> Db::Prepare(std::string_view sql) {
  if (sqlite3_stmt* cached = cache_->Take(sql); cached != nullptr) {
    return Stmt(db_, cached, cache_.get());
  }
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                              SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (rc != SQLITE_OK) return SqliteStatus(rc, db_, "preparing a statement");
  return Stmt(db_, stmt, cache_.get());
}

Status Db::Run(std::string_view sql) {
  Result<Stmt> stmt = Prepare(sql);
  if (!stmt.ok()) return stmt.error();
  return stmt->Run();
}

Status Db::Exec(const std::string& sql) {
  return SqliteStatus(sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr), db_,
                      "executing a statement");
}

Status Db::TruncateWal() {
  int wal_frames = 0;
  int copied_frames = 0;
  const int rc = sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_TRUNCATE, &wal_frames,
                                           &copied_frames);
  if (rc == SQLITE_BUSY) {
    return Unavailable("the WAL was not truncated: a reader held it (" +
                       std::to_string(copied_frames) + " of " + std::to_string(wal_frames) +
                       " frames copied); its frames, erased ciphertexts among them, stay until "
                       "the next maintenance truncates it");
  }
  return SqliteStatus(rc, db_, "truncating the WAL");
}

Result<std::int64_t> Db::QueryInt(std::string_view sql) {
  Result<Stmt> stmt = Prepare(sql);
  if (!stmt.ok()) return stmt.error();
  Result<bool> row = stmt->Step();
  if (!row.ok()) return row.error();
  if (!*row) return Internal("query returned no row");
  return stmt->Int(0);
}

Status Db::SetSync(Sync sync) {
  if (sync_ == sync) return Status::Ok();
  sync_.reset();  // not known while the PRAGMA runs: a failure leaves it to be set again
  // Exec, not a cached statement: a PRAGMA takes effect when it is compiled.
  WB_RETURN_IF_ERROR(
      Exec(sync == Sync::kDurable ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL"));
  sync_ = sync;
  return Status::Ok();
}

Result<Transaction> Transaction::Begin(Db& db, Sync sync) {
  WB_RETURN_IF_ERROR(db.SetSync(sync));
  WB_RETURN_IF_ERROR(db.Run("BEGIN IMMEDIATE"));
  return Transaction(&db);
}

Transaction::~Transaction() {
  // After some errors SQLite has already rolled back; ROLLBACK would then fail harmlessly.
  if (db_ != nullptr && !db_->InAutocommit()) (void)db_->Run("ROLLBACK");
}

Status Transaction::Commit() {
  Status s = db_->Run("COMMIT");
  if (s.ok()) db_ = nullptr;
  return s;
}

}  // namespace wb::queue
