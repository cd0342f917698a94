#pragma once
// The database schema and its forward migrations.
//
// PRAGMA user_version holds the number of migrations applied. Each migration runs in its own
// transaction together with the version bump, so a crash leaves the database at the old or the
// new version, never in between. A database newer than this build is refused, never touched.

#include <span>
#include <string>

#include "common/status.h"
#include "queue/sqlite.h"

namespace wb::queue {

struct Migration {
  int version;      // the user_version after this migration; 1, 2, 3, ... in order
  const char* sql;  // statements run in one transaction
};

// The migrations of this build, oldest first.
std::span<const Migration> Migrations();
// The version this build writes: Migrations().back().version.
int CurrentSchemaVersion();

Result<int> SchemaVersion(Db& db);

// Brings `db` to the last version of `migrations`. kFailedPrecondition when the database is
// newer than the last migration (the message names both versions).
Status Migrate(Db& db, std::span<const Migration> migrations);

// For read-only use: OK only when `db` is exactly at `version`.
Status CheckSchemaVersion(Db& db, int version);

}  // namespace wb::queue
