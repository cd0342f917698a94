#pragma once
// The durable request queue: where an accepted request lives until the cloud has acknowledged
// its result.
//
// The queue keeps the agent's promise to the cloud: a request it accepted is never lost, and
// never applied twice. It is one SQLite database in WAL mode under the state directory, with
// every commit that backs an "accepted" or a "result" fsynced before the call returns.
//
// Life of a request (each arrow is one transaction that records a HistoryEvent):
//
//   Enqueue ──▶ received ──MarkReady──▶ ready ──Take──▶ applying ──Finish──▶ succeeded
//                  │                     ▲  │               │               rejected
//                  │                     │  │               │               failed
//                  │                     └──┼──── Retry ────┤ (transient)
//                  │                     (backoff)          └──▶ expired (no time left to retry)
//                  │                        │
//                  ├──── Finish(rejected / failed) ─────────────────────▶ terminal
//                  └────────────┴──── Maintain (past expires_at) ───────▶ expired
//
// A request expires in exactly two places, and each tells its caller which requests it
// expired, so that the caller can record and report each expiry once: Retry (returns
// State::kExpired) and Maintain (MaintenanceReport::expired). Take never hands out a request
// past its expires_at, and leaves it for Maintain.
//
//   terminal ──AcknowledgeResult──▶ result acknowledged ──(retention)──▶ purged by Maintain
//
// - received: stored durably; the caller may now send "accepted". Waiting for admission (the
//   daemon's policy check), which ends in MarkReady or Finish(kRejected).
// - ready: admitted; waits for its turn. Take hands out the oldest ready request whose backoff
//   has passed and whose expires_at has not, whose account has no older unfinished request,
//   while fewer than Options::max_in_flight requests are applying.
// - applying: handed to a worker, which owns it until it calls Finish or Retry. The attempt's
//   start time and number are durable *before* Take returns, so a crash during the directory
//   write is always detectable at the next Open (see "Crash recovery").
// - terminal (succeeded, rejected, failed, expired): the outcome is durable, the encrypted
//   password is erased, and the result waits in the outbox until AcknowledgeResult.
//
// Guarantees
// - Durability: when Enqueue, Finish, Retry, RememberNonce, Take or a recovery call returns
//   OK, its transaction has been fsynced (Sync::kDurable). MarkReady, AcknowledgeResult(s)
//   and RetryWaitingNow are Sync::kOrdered, and MarkReadyAll is what its caller asks: nothing
//   leaves the host on the strength of these, so their commit is only written; it survives a
//   crash of the process, and the next fsynced commit (the Take that acts on an admission,
//   say) carries it to the disk first. A crash of the host may lose one, and then every
//   commit after it, never one without those before it: a lost admission leaves the request
//   `received`, admitted again at the next start (Crash recovery, step 2); a lost
//   acknowledgement leaves the result in the outbox, sent and acknowledged again; a lost
//   RetryWaitingNow only makes requests wait out their back-off.
//   Concurrent calls that write share one transaction (group commit), each call an
//   all-or-nothing step of it, so that one caller's refusal never undoes another's change; the
//   transaction is fsynced when any of its calls is durable, and each caller returns only
//   after its own change is committed so. The *All calls put a whole batch of one caller's in
//   one transaction.
// - Idempotency: a request id is stored at most once. Enqueue of a known id returns the stored
//   record and its state (EnqueueResult::inserted == false). An id whose record has already
//   been purged is refused with kAlreadyExists until its expiry plus Options::clock_skew.
// - Ordering: requests with the same account key are handed out by Take in accept order, one at
//   a time: a request waits while an older request for its account is unfinished (received,
//   ready, in backoff, or applying).
// - Bounds: at most Options::max_pending unfinished requests; Enqueue beyond that, or when the
//   disk (or Options::max_db_bytes) is full, fails with kResourceExhausted and stores nothing.
//   Requests already stored are never damaged by a refused one.
// - Secrets: the new and old passwords are stored only as AES-256-GCM ciphertext under a local
//   data key, with the request id as associated data, and the ciphertext is erased (SQLite
//   secure_delete) in the same transaction that makes the request terminal. Plaintext exists
//   only in wb::Secret objects (Work) that wipe themselves. Remnants of erased pages in the
//   -wal file are removed by the checkpoint Maintain runs (a TRUNCATE checkpoint).
//   No Record, HistoryEvent, Status message or log line contains a password.
//
// Crash recovery (what the daemon does after Open)
//   1. For each record in InterruptedAttempts() (found `applying` at Open: the previous process
//      died during the attempt), ask the directory whether the change is already visible, e.g.
//      pwdLastSet / pwdChangedTime later than Record::attempt_started_at (minus the directory's
//      clock skew). Then call either MarkFoundApplied(id, server) or RequeueInterrupted(id).
//      Until resolved, an interrupted request counts against max_in_flight and blocks its
//      account.
//   2. Re-run admission for requests still `received` (List with state kReceived).
//   3. Re-send results from PendingResults(); start taking work.
//
// Files under Options::state_dir, all mode 0600: queue.db, queue.db-wal, queue.db-shm (SQLite),
// queue.lock (flock; holds the owner's pid), queue.key (the data key, unless it comes from
// $CREDENTIALS_DIRECTORY). Only one read-write Queue may use a state directory at a time.
//
// Thread-safety: a Queue is safe to use from several threads at once. Records, Work and the
// other structs are plain values owned by the caller. IsNonceRemembered, Show, NextReadyTime
// and Take's first look read through a connection of their own: they never wait behind a
// commit in progress (its fsync), and each sees every commit whose call returned before it
// began. The administrators' reads (GetStats, List, PendingResults), which may be long, have a
// third connection: they hold up neither the commits nor the request path's reads.

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/secret.h"
#include "common/status.h"

namespace wb::queue {

// Numeric values are stored in the database: never renumber.
enum class State {
  kReceived = 0,
  kReady = 1,
  kApplying = 2,
  kSucceeded = 3,
  kRejected = 4,
  kFailed = 5,
  kExpired = 6,
};
inline constexpr std::size_t kStateCount = 7;

// How a call's commit reaches the disk (see Durability).
enum class Sync {
  // Fsynced (SQLite synchronous=FULL in WAL mode): the commit survives a crash of the host.
  kDurable,
  // Written, not fsynced (NORMAL). It survives a crash of the process; a crash of the host may
  // lose it, with the commits after it, but never without them: the WAL is one log, replayed
  // up to its first incomplete frame. The next kDurable commit makes it durable with its own.
  kOrdered,
};

// "received", "ready", "applying", "succeeded", "rejected", "failed", "expired".
std::string_view StateName(State state);
inline bool IsTerminal(State state) { return state >= State::kSucceeded; }

// What the request asks the directory to do; any combination.
struct Operations {
  bool reset = false;                 // set a new password (administrative reset)
  bool change = false;                // change: old password -> new password
  bool unlock = false;                // clear a lockout
  bool require_change = false;        // force a change at next logon
  bool clear_require_change = false;  // a reset must not leave the user forced to change
  bool validate = false;  // only check new_password against the rules; never written (alone)
};

// The non-secret part of a request, stored as given. The queue does not interpret target,
// target_kind or requester_json.
struct RequestInfo {
  std::string id;  // the cloud's request id (a UUID); unique
  std::string tenant;
  std::string correlation_id;
  Operations operations;
  std::string target;       // the account as requested (UPN, sAMAccountName, uid, mail, DN)
  std::string target_kind;  // e.g. "upn", "dn"
  std::string account_key;  // requests with equal keys are applied one at a time, in order
  WallTime issued_at;
  WallTime expires_at;         // no attempt starts after this; the request then expires
  std::string requester_json;  // who asked and how they were verified; opaque, no secrets
  // The cloud's delivery count when this agent accepted it (>= 1). Above 1 another agent may
  // have had the request first.
  int delivery = 1;
};

struct Request {
  RequestInfo info;
  Secret new_password;  // REQUIRED non-empty when operations.reset, change or validate
  Secret old_password;  // REQUIRED non-empty when operations.change; otherwise empty
};

// The result of an attempt (Retry) or of the request (Finish). Never put a password in it.
struct Outcome {
  State state = State::kFailed;  // Finish: kSucceeded, kRejected or kFailed; ignored by Retry
  std::string code;              // stable, e.g. "succeeded", "user_not_found", "policy_too_short"
  bool transient = false;        // whether the error was of the kind that may pass on retry
  std::string message;           // for humans
  std::string server;            // the directory server used, if any
  std::chrono::milliseconds duration{0};
};

// The outcome code of a request the queue itself failed because its stored password did not
// decrypt (Take).
inline constexpr std::string_view kSecretUnreadable = "secret_unreadable";

// A stored request as administrators and the outbox see it: never its secret.
struct Record {
  RequestInfo info;
  std::int64_t seq = 0;  // accept order
  State state = State::kReceived;
  int attempts = 0;  // attempts started (Take) so far
  WallTime received_at;
  std::optional<WallTime> ready_at;
  std::optional<WallTime> attempt_started_at;  // start of the latest attempt
  WallTime not_before;                         // ready: earliest time of the next attempt
  std::optional<WallTime> finished_at;         // when it became terminal
  std::optional<WallTime> acknowledged_at;     // when the cloud acknowledged the result
  std::string last_error_code;                 // of the latest failed attempt, if any
  std::string last_error_message;
  std::optional<Outcome> outcome;  // set when terminal
  bool secret_stored = false;      // whether ciphertext is still in the database
};

// A request handed to a worker by Take: the record and the decrypted passwords. The Secrets
// wipe themselves; do not copy their bytes into longer-lived strings.
struct Work {
  Record record;
  Secret new_password;
  Secret old_password;
};

// A nonce for RememberNonce's memory, remembered until expires_at + Options::clock_skew.
struct NonceToRemember {
  std::string nonce;
  WallTime expires_at;
};

struct EnqueueResult {
  Record record;  // the stored record (for a known id: as it is now, in whatever state)
  bool inserted;  // false: the id was already stored and nothing was written
};

struct HistoryEvent {
  WallTime at;
  // "received", "ready", "applying", "retry_scheduled", "requeued_after_interruption",
  // "found_applied", "succeeded", "rejected", "failed", "expired", "result_acknowledged".
  std::string event;
  State state;       // the state after the event
  int attempts;      // attempts started at the time
  std::string code;  // the outcome or error code, if the event has one
  std::string message;
};

struct RequestDetail {
  Record record;
  std::vector<HistoryEvent> history;  // oldest first
};

struct Stats {
  std::array<std::int64_t, kStateCount> by_state{};  // index: static_cast<size_t>(State)
  std::int64_t unfinished = 0;                       // received + ready + applying
  std::int64_t interrupted = 0;                      // applying, left over from a previous process
  std::int64_t pending_results = 0;                  // terminal, result not yet acknowledged
  std::optional<WallTime> oldest_unfinished_received_at;
  std::optional<std::chrono::seconds> oldest_unfinished_age;
  // The replay memory's own entries: nonces, and the ids of purged records until their expiry
  // plus clock_skew (a stored record's row is the memory of its id).
  std::int64_t replay_entries = 0;

  std::int64_t count(State s) const { return by_state[static_cast<std::size_t>(s)]; }
};

struct ListFilter {
  std::optional<State> state;  // all states when unset
  std::int64_t after_seq = 0;  // paging: only records with seq > after_seq
  std::size_t limit = 100;
  bool newest_first = false;  // accept order (seq) descending instead of ascending
  // With newest_first only: the records received at or after this time. The list ends at the
  // first record received before it (records are stored in the order they are received), so
  // that what was received in the last hour costs a read of that hour, not of the retention.
  std::optional<WallTime> received_since;
};

// A result's place in the outbox's order: where a page of PendingResults ended.
struct OutboxPosition {
  WallTime finished_at;
  std::int64_t seq = 0;
  bool operator==(const OutboxPosition&) const = default;
};
// REQUIRES: `record` is terminal (finished_at set).
OutboxPosition PositionInOutbox(const Record& record);

struct MaintenanceReport {
  // The received/ready requests this call expired, as they are now (terminal, outcome
  // "expired"; not yet acknowledged), in accept order.
  std::vector<Record> expired;
  int purged_records = 0;  // terminal records past their retention
  int forgotten_replay_entries = 0;
  Status wal_checkpoint;  // the -wal truncation's error, if it failed
};

struct Options {
  // REQUIRED. Created (mode 0700) if it does not exist; its parent must exist.
  std::filesystem::path state_dir;
  // Opens for administrators' inspection while the agent runs: no lock, no key, no writes
  // (mutating calls fail with kFailedPrecondition). The database must exist and be at the
  // current schema version.
  bool read_only = false;

  std::size_t max_pending = 10'000;  // unfinished requests (received, ready, applying)
  std::size_t max_in_flight = 4;     // requests applying at once
  std::uint64_t max_db_bytes = 0;    // a cap on the database size; 0: only the disk limits it

  std::chrono::milliseconds backoff_base{1'000};  // delay after the first failed attempt
  std::chrono::milliseconds backoff_cap{300'000};
  // Returns a uniform value in [0, 1) for jitter. Unset: a generator seeded from the OS.
  // Called with the queue's internal lock held: it need not be thread-safe, and must not call
  // back into the queue.
  std::function<double()> random;

  // Acknowledged terminal records are purged this long after their result was acknowledged;
  // unacknowledged ones this long after they finished.
  std::chrono::seconds retention{std::chrono::hours(24 * 7)};
  std::chrono::seconds unacknowledged_retention{std::chrono::hours(24 * 30)};
  // Request ids and nonces are remembered until their expiry plus this (an id at least as long
  // as its record is kept).
  std::chrono::seconds clock_skew{300};

  // The data key is read from <credentials_directory>/<key_credential> when that file exists
  // (systemd LoadCredential=); otherwise from state_dir/queue.key, created at first start.
  // Unset: $CREDENTIALS_DIRECTORY, if set. The key file holds 64 hex digits.
  std::optional<std::filesystem::path> credentials_directory;
  std::string key_credential = "queue.key";

  // How the agent keys accounts (RequestInfo::account_key) from a stored request's
  // target_kind and target, and a name for that rule. When the rule's version differs from
  // the one the database's keys were last made with (none: they were made before rules had
  // versions), a read-write Open re-keys every stored request, terminal ones too (the rate
  // limits' history and LastPasswordWrite read them), in one durable transaction, then
  // records the version: so requests stored by an older build still share their account's
  // order, rate limits and own-write check. Unset: keys are left as stored.
  struct AccountKeyRule {
    std::string version;
    std::function<std::string(std::string_view target_kind, std::string_view target)> key_of;
  };
  std::optional<AccountKeyRule> account_key_rule;

  // For tests: called at the start of each administrators' read (GetStats, List,
  // PendingResults) on its connection, with that connection's lock held, so that a test can
  // hold one open. Unset in the agent.
  std::function<void()> on_admin_read;
};

class Queue {
 public:
  // Opens (creating or migrating) the queue in options.state_dir. `clock` is not owned and
  // must outlive the Queue. Fails with:
  //   kFailedPrecondition  another process (or Queue) holds the state directory (the message
  //                        names the directory and the holder's pid), the schema is newer than
  //                        this build, or the data key does not match the stored secrets;
  //   kPermissionDenied    the key file is accessible by group or others;
  //   kCorruption          the database or the key file is malformed;
  //   kResourceExhausted   the disk is full.
  static Result<std::unique_ptr<Queue>> Open(const Options& options, const Clock& clock);

  Queue() = default;
  Queue(const Queue&) = delete;
  Queue& operator=(const Queue&) = delete;
  // REQUIRES: no call in progress. Releases the lock.
  virtual ~Queue() = default;

  // --- Intake -----------------------------------------------------------------------------

  // Stores `request` as received; returns after it is durable. A known id returns the stored
  // record with inserted == false (whatever the rest of `request` says). The caller keeps
  // ownership of the passwords. Fails with kInvalidArgument (empty id or account key, no
  // operation, a missing password), kFailedPrecondition (already expired), kAlreadyExists (the
  // id was seen before and its record purged: a replay), kResourceExhausted (max_pending or
  // disk full; nothing stored).
  virtual Result<EnqueueResult> Enqueue(const Request& request) = 0;

  // Remembers a nonce durably until expires_at + clock_skew. Returns false if it was already
  // remembered (a replay), true if it is new.
  virtual Result<bool> RememberNonce(std::string_view nonce, WallTime expires_at) = 0;

  // The intake of a batch of requests in one transaction, hence one fsync: remembers each of
  // `nonces` as RememberNonce does, then stores each of `requests`, in order, as Enqueue does.
  // One result per request, in order, with Enqueue's codes; a refusal (kInvalidArgument,
  // kFailedPrecondition, kAlreadyExists, kResourceExhausted for max_pending) is that request's
  // alone. The whole call fails (nothing remembered, nothing stored) when the transaction
  // cannot commit: kIoError, kResourceExhausted (disk full), kCorruption.
  virtual Result<std::vector<Result<EnqueueResult>>> EnqueueAll(
      std::span<const NonceToRemember> nonces, std::span<const Request* const> requests) = 0;

  // Whether `nonce` is remembered (RememberNonce or EnqueueAll, not yet forgotten). Reads only.
  virtual Result<bool> IsNonceRemembered(std::string_view nonce) = 0;
  // Whether any remembered nonce begins with `prefix` (bytes, compared as bytes). Reads only.
  virtual Result<bool> IsNonceRememberedWithPrefix(std::string_view prefix) = 0;
  // Whether a request with this id is stored (in any state), or was and is remembered after its
  // purge (until its expiry plus clock_skew, as Enqueue refuses it then). Reads only, like
  // IsNonceRemembered: the intake asks before it remembers a new (id, nonce) pair.
  virtual Result<bool> HoldsRequest(std::string_view id) = 0;

  // --- Admission and work -----------------------------------------------------------------

  // received -> ready; Sync::kOrdered (see Durability). kNotFound for an unknown id,
  // kFailedPrecondition in another state (e.g. the request expired while its admission was
  // being decided).
  virtual Status MarkReady(std::string_view id) = 0;
  // MarkReady for each id, in one transaction: one status per id, in order. A refusal is that
  // id's alone; a transaction that cannot commit fails every id with its error. `sync`:
  // kOrdered for an admission that is decided again after a crash (the policy's own), kDurable
  // for one that must stand as recorded (an administrator's release of held requests).
  virtual std::vector<Status> MarkReadyAll(std::span<const std::string> ids, Sync sync) = 0;

  // ready -> applying for the next eligible request (see Ordering), with its passwords
  // decrypted. Returns nullopt when nothing is eligible now. A request past expires_at is not
  // eligible; it stays ready (still blocking its account) until Maintain expires it.
  //
  // If a stored secret does not decrypt (a foreign, corrupt or wrong-key ciphertext), that
  // request is finished as failed with code kSecretUnreadable (durably, in the same
  // transaction) and Take returns kCorruption; when `unreadable` is given, *unreadable is that
  // record as it now is. The queue ended the request, so its end is the caller's to record and
  // report, as for an expiry (the result waits in the outbox meanwhile). Call Take again for
  // the next request.
  virtual Result<std::optional<Work>> Take(std::optional<Record>* unreadable) = 0;
  // Take for a caller that reports nothing of its own (tests, tools).
  Result<std::optional<Work>> Take() { return Take(nullptr); }

  // When Take may next have work, besides Enqueue/MarkReady/Finish/Retry/Maintain calls: the
  // earliest not_before among unexpired ready requests that are first in line for their
  // account; nullopt when there is none, or while max_in_flight requests are applying (no due
  // time can be taken then: whoever ends an attempt takes again).
  virtual Result<std::optional<WallTime>> NextReadyTime() = 0;

  // Ends the request. From applying (taken by this Queue): outcome.state kSucceeded,
  // kRejected or kFailed. From received or ready: kRejected or kFailed only (e.g. a policy
  // denial). Erases the ciphertext. Returns the record as it now is (what Show would return,
  // read in the same transaction: the result to report needs no second read). kInvalidArgument
  // for another outcome.state or an empty code, kNotFound, kFailedPrecondition in another
  // state (including interrupted attempts).
  virtual Result<Record> Finish(std::string_view id, const Outcome& outcome) = 0;

  // Every ready request waiting out a back-off becomes eligible now (not_before = now): the
  // administrator fixed what they were waiting for (`systemctl reload`). Returns how many.
  // Only the timing changes: a crash that loses it makes them wait out their back-off again.
  virtual Result<int> RetryWaitingNow() = 0;

  // After a transient failure of an attempt taken by this Queue: applying -> ready with
  // exponential backoff (base * 2^(attempts-1), capped, with jitter in [1/2, 1) of it), or
  // -> expired (outcome code "expired") when the next attempt would start at or after
  // expires_at. The failure's code and message become the record's last error. Returns the
  // record as it now is (read in the same transaction, as Finish does): state kExpired tells
  // the caller that this call expired the request, and the record is the expiry to report.
  virtual Result<Record> Retry(std::string_view id, const Outcome& failure) = 0;

  // --- Crash recovery ---------------------------------------------------------------------

  // Requests found applying at Open: the previous process died during their attempt. Each
  // record carries attempt_started_at.
  virtual Result<std::vector<Record>> InterruptedAttempts() = 0;
  // The directory shows the change: interrupted -> succeeded ("found_applied").
  virtual Status MarkFoundApplied(std::string_view id, std::string_view server) = 0;
  // The directory does not show the change: interrupted -> ready, eligible at once. The
  // interrupted attempt stays counted.
  virtual Status RequeueInterrupted(std::string_view id) = 0;

  // When this agent last finished a password write (a succeeded reset or change) for
  // `account_key`, other than request `except_id`; nullopt when none is on record (purged
  // records are forgotten). Tells the agent's own earlier writes apart from someone else's.
  virtual Result<std::optional<WallTime>> LastPasswordWrite(std::string_view account_key,
                                                            std::string_view except_id) = 0;

  // --- Outbox -----------------------------------------------------------------------------

  // Terminal records whose result the cloud has not acknowledged, oldest finished first (by
  // finished_at, then seq), at most `limit`; with `after`, only those after that position
  // (the next page). Read as the administrators' views are (below): a long outbox holds up no
  // request.
  virtual Result<std::vector<Record>> PendingResults(std::size_t limit,
                                                     std::optional<OutboxPosition> after) = 0;
  Result<std::vector<Record>> PendingResults(std::size_t limit) {
    return PendingResults(limit, std::nullopt);
  }
  // Marks the result acknowledged; ordered, not fsynced (see Durability). Acknowledging twice
  // is OK. kNotFound, kFailedPrecondition when the request is not terminal.
  virtual Status AcknowledgeResult(std::string_view id) = 0;
  // AcknowledgeResult for each id, in one transaction: per id, the record as it now is (read
  // in the same transaction, for the caller's record of the acknowledgement) or the error, as
  // MarkReadyAll. An id acknowledged before gets kAlreadyExists (nothing changed), so that
  // the caller records each acknowledgement once however often the cloud repeats it.
  virtual std::vector<Result<Record>> AcknowledgeResults(std::span<const std::string> ids) = 0;

  // --- Housekeeping -----------------------------------------------------------------------

  // Periodic (e.g. every minute): in one transaction, expires received and ready requests
  // past expires_at (outcome code "expired"; each is in the report of this call and of no
  // other), purges terminal records past their retention and forgets ids and nonces past
  // expiry + clock_skew; then truncates the -wal file so erased ciphertext does not linger
  // there. Fails with kFailedPrecondition in read-only mode; on any other error the
  // transaction changed nothing. A failed truncation does not fail the call (what the
  // transaction did is done): it is in MaintenanceReport::wal_checkpoint (kUnavailable when a
  // reader held an old snapshot past busy_timeout), and the next call tries again.
  virtual Result<MaintenanceReport> Maintain() = 0;

  // --- Administration (also in read-only mode) ----------------------------------------------
  //
  // Each call reads one snapshot, on the administrators' connection (see Thread-safety): it
  // holds up neither the commits nor the request path's reads (a scrape of a million records
  // counts for about 100 ms while requests go on being stored and taken), and waits only for
  // another administrators' read (or, in the rare case that its connection was left in a
  // transaction it could not end, reads through the writer's).

  virtual Result<Stats> GetStats() = 0;
  // kInvalidArgument for received_since without newest_first.
  virtual Result<std::vector<Record>> List(const ListFilter& filter) = 0;
  // One request with its history, by its id or by an unambiguous prefix of it (at least
  // kMinIdPrefix characters: the tables print the first 8). kNotFound for an unknown (or
  // purged) id; kInvalidArgument when the prefix names more than one request.
  static constexpr std::size_t kMinIdPrefix = 4;
  virtual Result<RequestDetail> Show(std::string_view id) = 0;
};

}  // namespace wb::queue
