#pragma once
// A thin RAII layer over the SQLite C API. This is the one place where SQLite result codes
// become wb::Status (SqliteStatus); nothing above it sees an rc.
//
// Not thread-safe: a Db and its statements are used by one thread at a time (the queue holds a
// mutex around them).
//
// Statements are prepared once per SQL text and reused: Prepare hands out an idle cached
// statement when there is one, and a Stmt returns to the cache when destroyed (reset, its
// bindings cleared). Parsing the same SQL on every call was a visible share of the queue's CPU.

#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/status.h"
#include "queue/queue.h"  // Sync

namespace wb::queue {

// SQLITE_FULL -> kResourceExhausted; SQLITE_BUSY/LOCKED -> kUnavailable; SQLITE_CORRUPT/NOTADB/
// FORMAT -> kCorruption; SQLITE_PERM/AUTH/READONLY -> kPermissionDenied; SQLITE_IOERR/CANTOPEN/
// PROTOCOL -> kIoError; a UNIQUE or PRIMARY KEY violation -> kAlreadyExists; everything else
// (other constraints, misuse) -> kInternal. `what` says what was being done.
Status SqliteStatus(int rc, sqlite3* db, std::string_view what);

// The oldest SQLite the schema's statements run on (UPDATE ... FROM, 3.33.0), as
// sqlite3_libversion_number() counts. CMake asks for it at build time; the library loaded at
// run time may be another, so Db::Open checks it too.
inline constexpr int kOldestSqlite = 3033000;
// OK for kOldestSqlite or newer; otherwise kFailedPrecondition naming both versions.
Status CheckSqliteVersion(int version_number);

// Whether a library built with these compile options (sqlite3_compileoption_get's list, e.g.
// "TEMP_STORE=1") keeps temporary storage in memory when a connection asks (temp_store =
// MEMORY): OK for TEMP_STORE=1, 2 or 3. kFailedPrecondition for TEMP_STORE=0, which keeps it
// in files whatever the connection asks (and `PRAGMA temp_store` then still reads back 2), and
// for a list without TEMP_STORE (a library built without its option list), which cannot be
// told apart from it.
Status CheckTempStore(std::span<const std::string> compile_options);

// The idle prepared statements of one Db, by SQL text; bounded (kMaxIdle), finalized at the end.
class StmtCache {
 public:
  static constexpr std::size_t kMaxIdle = 64;
  StmtCache() = default;
  StmtCache(const StmtCache&) = delete;
  StmtCache& operator=(const StmtCache&) = delete;
  ~StmtCache();

  // An idle statement for `sql`, now in use; null when there is none.
  sqlite3_stmt* Take(std::string_view sql);
  // Back from use: reset and its bindings cleared, then kept, or finalized when the cache is
  // full or one for the same text is already idle.
  void Give(sqlite3_stmt* stmt);

 private:
  std::unordered_map<std::string, sqlite3_stmt*> idle_;
};

class Stmt {
 public:
  // `cache` (may be null: finalized when destroyed) takes the statement back when destroyed.
  Stmt(sqlite3* db, sqlite3_stmt* stmt, StmtCache* cache) : db_(db), stmt_(stmt), cache_(cache) {}
  Stmt(Stmt&& other) noexcept;
  Stmt& operator=(Stmt&&) = delete;
  Stmt(const Stmt&) = delete;
  ~Stmt();

  // Parameters are 1-based (?1, ?2, ...). A failed bind is reported by the next Step/Run.
  Stmt& Bind(int index, std::int64_t value);
  Stmt& Bind(int index, std::string_view text);
  Stmt& Bind(int index, std::optional<std::int64_t> value);
  Stmt& BindBlob(int index, std::string_view bytes);  // empty binds NULL
  Stmt& BindNull(int index);

  // Returns true when a row is available, false when done.
  Result<bool> Step();
  // Steps to completion, ignoring rows.
  Status Run();

  std::int64_t Int(int col) const;
  std::optional<std::int64_t> OptInt(int col) const;
  std::string Text(int col) const;
  std::string Blob(int col) const;  // ciphertext only: not wiped
  bool IsNull(int col) const;

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_;
  StmtCache* cache_;
  int bind_rc_ = SQLITE_OK;
};

class Db {
 public:
  // flags: SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, or SQLITE_OPEN_READONLY.
  // The connection keeps its temporary storage in memory (temp_store = MEMORY): a statement
  // journal, which each isolated step of a group commit can fill with copies of the pages it
  // changes, ciphertexts of passwords among them, or a sort's transient index would otherwise
  // spill to a deleted file in $TMPDIR or /var/tmp, outside the state directory and beyond the
  // reach of secure_delete. Fails with kFailedPrecondition when this SQLite would ignore the
  // setting (CheckTempStore).
  static Result<Db> Open(const std::filesystem::path& path, int flags);
  Db(Db&& other) noexcept : db_(other.db_), cache_(std::move(other.cache_)), sync_(other.sync_) {
    other.db_ = nullptr;
  }
  Db& operator=(Db&&) = delete;
  Db(const Db&) = delete;
  ~Db();

  // One statement, from the cache when an idle one has the same text.
  Result<Stmt> Prepare(std::string_view sql);
  // Runs one statement through the cache (Prepare, then Stmt::Run).
  Status Run(std::string_view sql);
  // Runs one or more statements that return no rows needed by the caller; never cached (for
  // the schema and the rare maintenance statement).
  Status Exec(const std::string& sql);
  // Copies the WAL into the database and truncates it to zero bytes (a TRUNCATE checkpoint),
  // waiting for readers as busy_timeout allows. kUnavailable when a reader still held an older
  // snapshot then: the checkpoint went as far as it could and the WAL keeps its frames (which
  // `PRAGMA wal_checkpoint` reports only in its row, with SQLITE_OK). Other errors as
  // SqliteStatus.
  Status TruncateWal();
  // The first column of the first row of `sql`, as an integer.
  Result<std::int64_t> QueryInt(std::string_view sql);
  // Rows changed by the latest INSERT/UPDATE/DELETE.
  std::int64_t Changes() const { return sqlite3_changes64(db_); }
  // True outside an explicit transaction (SQLite may roll one back on its own after an error).
  bool InAutocommit() const { return sqlite3_get_autocommit(db_) != 0; }
  // Sets how the next commits reach the disk (SQLite's `synchronous`: FULL for kDurable, NORMAL
  // for kOrdered, in WAL mode); a PRAGMA only when that changes. Outside a transaction: SQLite
  // refuses the change inside one.
  Status SetSync(Sync sync);

 private:
  explicit Db(sqlite3* db) : db_(db), cache_(std::make_unique<StmtCache>()) {}
  sqlite3* db_;
  std::unique_ptr<StmtCache> cache_;  // on the heap: statements keep its address across moves
  std::optional<Sync> sync_;          // as last set by SetSync; unset: not known
};

// BEGIN IMMEDIATE ... COMMIT; rolls back when destroyed uncommitted. Every transaction states
// how its commit must reach the disk: kDurable unless a lost commit is harmless.
class Transaction {
 public:
  static Result<Transaction> Begin(Db& db, Sync sync = Sync::kDurable);
  Transaction(Transaction&& other) noexcept : db_(other.db_) { other.db_ = nullptr; }
  Transaction& operator=(Transaction&&) = delete;
  Transaction(const Transaction&) = delete;
  ~Transaction();

  Status Commit();

 private:
  explicit Transaction(Db* db) : db_(db) {}
  Db* db_;  // null once committed or rolled back
};

}  // namespace wb::queue
