#pragma once
// Rows <-> structs, and the small SQL helpers the queue's transitions share. Every function
// here runs inside the caller's transaction, with the caller holding the Db.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "queue/queue.h"
#include "queue/sqlite.h"

namespace wb::queue {

// Times are stored as milliseconds since the Unix epoch.
std::int64_t ToMillis(WallTime t);
WallTime FromMillis(std::int64_t ms);

std::int64_t OperationBits(const Operations& ops);
Operations OperationsFromBits(std::int64_t bits);
bool AnyOperation(const Operations& ops);

// The columns ReadRecord expects, in order, for "SELECT <kRecordColumns> FROM requests ...".
extern const char* const kRecordColumns;
Result<Record> ReadRecord(const Stmt& row);
// Every row of a bound "SELECT <kRecordColumns> ..." statement; with `ends_before`, only the
// rows before the first record for which it is true (the statement is not stepped further).
Result<std::vector<Record>> ReadRecords(
    Stmt& stmt, const std::function<bool(const Record&)>& ends_before = nullptr);
// The first column of every row of a bound statement, as text (e.g. "SELECT id ...").
Result<std::vector<std::string>> ReadFirstColumn(Stmt& stmt);

// Terminal records past retention, as two conditions with one parameter each (?1), each found
// through the index requests_terminal (schema 3), never by visiting every retained record:
// acknowledged at or before ?1; never acknowledged and finished at or before ?1.
inline constexpr const char* kAckedAtOrBefore = "state >= 3 AND acked_at <= ?1";
inline constexpr const char* kUnackedFinishedAtOrBefore =
    "state >= 3 AND acked_at IS NULL AND finished_at <= ?1";

// nullopt when no request has this id.
Result<std::optional<Record>> LoadRecord(Db& db, std::string_view id);
// The record of a request that a transition of the same transaction just wrote, into `out`;
// kInternal when it cannot be read back.
Status LoadInto(Db& db, std::string_view id, std::optional<Record>& out);

// The fields a transition checks before it writes.
struct RowState {
  State state;
  int attempts;
  std::string session;  // the Queue instance that took it, while applying
  std::int64_t expires_at;
  std::string last_error_code;
};
Result<std::optional<RowState>> LoadRowState(Db& db, std::string_view id);

// Appends a history event carrying the request's current state and attempt count.
Status AppendHistory(Db& db, std::string_view id, std::int64_t at, std::string_view event,
                     std::string_view code = {}, std::string_view message = {});

// Makes the request terminal with `outcome` and erases its secret; records `event`.
Status WriteTerminal(Db& db, std::string_view id, const Outcome& outcome, std::int64_t now,
                     std::string_view event);

// Expires every received or ready request whose expires_at has passed. Returns their records
// as they are now (terminal), in accept order.
Result<std::vector<Record>> ExpireDue(Db& db, std::int64_t now);

}  // namespace wb::queue
