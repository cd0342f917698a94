#pragma once
// The audit trail: who reset whose password, when, approved how, and with what result, in a
// form that shows whether anyone edited the answer. docs/audit.md is the auditor's reference
// (schema, examples, how to verify and export); this header is the contract for the code.
//
// Files. The trail is the active file (config audit.file, e.g. .../audit.jsonl) and the files
// rotated out of it, "<active>.000001", "<active>.000002", ... (oldest first). Each line is one
// record: a JSON object with its keys in the fixed order of docs/audit.md, ending in
// "prev" and "hmac". wbagent never edits, reorders or deletes a complete line, and never
// deletes a file.
//
// Chain. "prev" is the SHA-256 (lowercase hex) of the previous record's line as written
// (without its newline); the first record of the trail has 64 zeros. A rotated-in file's
// first record links to the last record of the file before it. "hmac" is HMAC-SHA-256 under
// the audit key of the line with its `,"hmac":"…"` member removed, i.e. of the bytes
// `{…,"prev":"<hex>"}`. "seq" counts records from 1 with no gaps. The head of the chain
// (seq, hash, file) is checkpointed, HMAC'd the same way, in a small file in the agent's state
// directory, so a removed tail is detected too.
//
// What Verify proves, given the key: every line was written by a holder of the key, and since
// then no record was edited, removed, inserted or reordered, no rotated file was removed, and
// the tail was not removed back past the last checkpoint. What it cannot prove: that a holder of
// the key (root on this host, or the agent itself) did not rewrite the whole trail and checkpoint
// together, or roll both back to an older copy. Shipping records off-host (the journal mirror,
// a log shipper) is what defends against that.
//
// Never a secret. Event has no field for a password and none may be put in any field; the
// audit key never leaves the Writer and never appears in a record, message or Status.
//
// Threads. Writer is safe for concurrent Append calls from any number of threads: appends are
// serialised into one chain, and seq order is file order. Verify, Query and LoadKey keep no
// state and may run on any thread, also while a Writer appends to the same trail (they read
// the checkpoint before the files, so a live head is never mistaken for a truncation; a
// rotation in the middle of a run can make Verify report a spurious missing file: run again).

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/secret.h"
#include "common/status.h"

namespace wb::audit {

// ---------------------------------------------------------------------------------------------
// The record.

// The event type. Name() is the stable snake_case value of the record's "event" key.
enum class EventType {
  kRequestReceived,     // "request_received": passed the envelope checks, queued, "accepted"
  kRequestRejected,     // "request_rejected": refused before policy (signature, expiry, replay,
                        //   malformed, oversized); nothing was written
  kPolicyDecision,      // "policy_decision": allow, deny or would_deny, with reason codes
  kDirectoryWrite,      // "directory_write": a write was attempted; outcome says how it ended
  kRequestExpired,      // "request_expired": reached its expiry before it could be applied
  kResultSent,          // "result_sent": the final result was sent to the cloud
  kResultAcknowledged,  // "result_acknowledged": the cloud acknowledged the result
  kConfigLoaded,        // "config_loaded": at start and at each accepted reload
  kConfigRejected,      // "config_rejected": a reload was refused; the old config stays
  kAgentStarted,        // "agent_started"
  kAgentStopped,        // "agent_stopped"
  kKeyRotated,          // "key_rotated": a certificate or key of the agent or the cloud's
                        //   signing key set changed; detail says which
  kAuditRecovered,      // "audit_recovered": at open, the Writer removed a torn final line
  kWitnessRefused,      // "witness_refused": the witness holds a head this trail does not
                        //   hold (records deleted or rolled back); no request is taken
  kChainStarted,        // "chain_started": the first record of a chain started by
                        //   StartNewChain after the old trail failed verification; detail
                        //   names the old trail's head and where its files are kept
  kPasswordValidated,   // "password_validated": a validate request was answered; the password
                        //   was checked against the rules and nothing was written; outcome
                        //   says whether it passed ("succeeded") or the rule it failed
};
std::string_view Name(EventType type);
std::optional<EventType> ParseEventType(std::string_view name);

// What was asked for. A request may combine several ("reset" + "unlock").
// The same names as protocol::Operation (docs/protocol.md, claims `op`).
enum class Operation { kReset, kChange, kUnlock, kRequireChange, kClearRequireChange, kValidate };
// "reset", "change", "unlock", "require_change", "clear_require_change", "validate"
std::string_view Name(Operation op);

enum class RequesterKind { kNone, kSelf, kAdmin };  // kNone: not about a request
std::string_view Name(RequesterKind kind);          // "", "self", "admin"

// kWouldDeny: a log-only rule matched; kHold: the breaker holds the request (policy/policy.h).
enum class Decision { kNone, kAllow, kDeny, kWouldDeny, kHold };
std::string_view Name(Decision decision);  // "", "allow", "deny", "would_deny", "hold"
std::optional<Decision> ParseDecision(std::string_view name);  // not for ""

struct Target {
  std::string requested;  // the account as the cloud named it (UPN, sAMAccountName, uid, DN)
  std::string dn;         // the DN it resolved to; empty before or without resolution
  bool operator==(const Target&) const = default;
};

struct Requester {
  RequesterKind kind = RequesterKind::kNone;
  std::string id;                        // who asked: the user or the administrator
  std::vector<std::string> verified_by;  // how the cloud verified them, e.g. "sms", "fido2"
  bool operator==(const Requester&) const = default;
};

// One event, as a component reports it. Empty strings, empty lists and kNone are left out of
// the record. Strings longer than kMaxFieldBytes (detail: kMaxDetailBytes) and list entries
// longer than kMaxListItemBytes are cut at a UTF-8 boundary and end in "..."; lists keep their
// first kMaxListItems entries. Invalid UTF-8 is replaced by U+FFFD.
struct Event {
  EventType type = EventType::kAgentStarted;
  std::string request_id;      // the request's UUID
  std::string correlation_id;  // the cloud's correlation id
  std::string tenant;
  std::vector<Operation> operations;
  Target target;
  Requester requester;
  Decision decision = Decision::kNone;
  std::vector<std::string> reasons;  // stable reason codes, e.g. "protected_account"
  std::string directory;             // the configured directory's name
  std::string server;                // the directory server used, e.g. "ldaps://dc1:636"
  std::string outcome;               // stable outcome code, e.g. "succeeded", "user_not_found"
  std::optional<std::chrono::milliseconds> duration;
  std::string detail;  // short human text for operators; never a secret
  bool operator==(const Event&) const = default;
};

inline constexpr std::size_t kMaxFieldBytes = 1024;
inline constexpr std::size_t kMaxDetailBytes = 4096;
inline constexpr std::size_t kMaxListItems = 16;
inline constexpr std::size_t kMaxListItemBytes = 256;

// A record as stored: the event and what the Writer added.
struct Record {
  std::uint64_t seq = 0;
  WallTime time;      // UTC, whole milliseconds
  std::string agent;  // the writing agent's id (several agents may serve one tenant)
  Event event;
  std::string prev;  // SHA-256 hex of the previous line
  std::string hmac;  // HMAC-SHA-256 hex
};

// Parses one line (without its newline) into a Record. Checks the shape and the values, not
// the HMAC or the chain (that is Verify's job). Unknown keys are refused.
Result<Record> ParseRecord(std::string_view line);

// "2026-01-15T12:00:00.123Z", the record's time format.
std::string FormatTime(WallTime time);
// Accepts "YYYY-MM-DD", "YYYY-MM-DDTHH:MM", "YYYY-MM-DDTHH:MM:SS" and "...SS.mmm", with "T" or
// a space, with or without a trailing "Z"; all are UTC.
Result<WallTime> ParseTime(std::string_view text);

// ---------------------------------------------------------------------------------------------
// The key.

inline constexpr std::size_t kKeyBytes = 32;

struct KeyOptions {
  // A systemd credential (LoadCredential=) named credential_name in this directory is used
  // first. Unset: $CREDENTIALS_DIRECTORY, if set. Empty: no credential is looked for.
  std::optional<std::filesystem::path> credentials_directory;
  std::string credential_name = "audit.key";
  std::filesystem::path key_file;  // config audit.key_file; used when there is no credential
  // When key_file does not exist, create it: kKeyBytes from the OpenSSL CSPRNG, hex-encoded,
  // mode 0600, written to an O_EXCL temporary file and link()ed into place, so the key file is
  // created exclusively (a concurrent creator's key wins) and never seen half-written. The
  // daemon sets this; the audit commands never do.
  bool create_if_missing = false;
};

struct LoadedKey {
  Secret key;                    // kKeyBytes or more raw bytes
  std::filesystem::path source;  // the file it was read from
  bool created = false;          // true when this call created key_file: the caller logs it
};

// A key file holds at least kKeyBytes as hex (`openssl rand -hex 32`), optionally followed by
// a newline. It must pass CheckSecretFilePermissions: a key others can read is refused.
Result<LoadedKey> LoadKey(const KeyOptions& options);

// ---------------------------------------------------------------------------------------------
// The witness (docs/audit.md, "The witness").
//
// The checkpoint and the HMACs cannot show that the whole trail was deleted, or that the trail
// and the checkpoint were rolled back together: whoever does it on this host may hold the key.
// So the agent sends its durable head to the cloud, which keeps the highest one per agent and
// hands it back in every welcome. A trail that does not hold that head lost records.

// A head as the witness keeps it.
struct Head {
  std::uint64_t seq = 0;  // 0: the empty trail
  std::string hash;       // SHA-256 hex of the line at seq; 64 zeros for seq 0
  // HMAC-SHA-256 hex under the audit key of {"witness":1,"seq":<seq>,"hash":"<hash>"}: a head
  // the cloud (or anyone without the key) made up does not verify. Empty: not known.
  std::string hmac;
  bool operator==(const Head&) const = default;
};

// "SEQ:HASH:HMAC", the form wbcloud shows and `audit verify --witness` takes.
std::string FormatHead(const Head& head);
// Parses "SEQ:HASH:HMAC" or "SEQ:HASH" (no HMAC to check). kInvalidArgument says what is wrong.
Result<Head> ParseHead(std::string_view text);

enum class WitnessCheck {
  kHeld,      // the trail holds the head: the record at its seq has its hash
  kMissing,   // the trail ends before the head's seq: records were deleted or rolled back
  kReplaced,  // the record at the head's seq has another hash: the trail was rewritten
  kForged,    // the head's HMAC does not verify under this key: not this agent's head
};
std::string_view Name(WitnessCheck check);  // "held", "missing", "replaced", "forged"

// ---------------------------------------------------------------------------------------------
// Writing.

// kDurable: Append returns only after the record and every record before it are on stable
// storage (fdatasync) and the checkpoint names it. kBuffered: the record is in the file (write(2)
// returned; it survives a crash of the process, not of the host) and becomes durable with the
// next durable append, Sync or Close.
enum class Durability { kBuffered, kDurable };

// The rule the agent follows: an event is durable before anything that depends on it leaves
// the host (a result to the cloud, a change in the directory), and so are the rare lifecycle
// events. kBuffered: request_received (the queue holds the request durably), result_sent and
// result_acknowledged (a lost one is re-sent and recorded again). Every other type: kDurable.
Durability DefaultDurability(EventType type);

struct Appended {
  std::uint64_t seq = 0;
  WallTime time;
};

// Where components send events. The daemon passes a Writer; tests may pass a fake.
class Sink {
 public:
  virtual ~Sink() = default;
  virtual Result<Appended> Append(const Event& event, Durability durability) = 0;
  Result<Appended> Append(const Event& event) {
    return Append(event, DefaultDurability(event.type));
  }
  // Makes every record appended so far durable, as a kDurable append would: a caller that
  // appends a batch of records appends them kBuffered and syncs once, before anything that
  // depends on them leaves the host.
  virtual Status Sync() = 0;
};

// Gets a copy of every record right after it is written, in seq order (e.g. to the journal
// for a SIEM). Called with the Writer's lock held: it must be quick and must not call the
// Writer. A mirror cannot fail an append.
class Mirror {
 public:
  virtual ~Mirror() = default;
  virtual void Publish(const Record& record, std::string_view line) = 0;
};

// Sends each record to the systemd journal as structured fields (WB_AUDIT_SEQ,
// WB_AUDIT_EVENT, WB_AUDIT_REQUEST_ID, ..., and WB_AUDIT_RECORD with the whole line), with
// SYSLOG_IDENTIFIER=wbagent-audit.
std::unique_ptr<Mirror> MakeJournalMirror();

// The trail-file system calls a test can make fail (WriterOptions::inject_fault).
enum class FileCall {
  kWrite,       // write(2) of a record line
  kSync,        // fdatasync(2) of the active file
  kRename,      // the rename of the active file at rotation
  kSyncDir,     // fsync(2) of the trail's directory at rotation
  kCheckpoint,  // the checkpoint's write in place and its fdatasync (internal/checkpoint.h)
};

struct WriterOptions {
  std::filesystem::path file;             // the active file; missing directories are created
  std::filesystem::path checkpoint_file;  // see CheckpointPath
  std::string agent_id;                   // written into every record
  std::uint64_t rotate_size = 64u << 20;  // rotate before a line would pass it; 0: never
  std::chrono::seconds rotate_age{0};     // rotate a file this old (by its first record); 0: never
  Mirror* mirror = nullptr;               // not owned; must outlive the Writer
  // Tests only: asked before each FileCall; an errno it returns fails that call as the kernel
  // would (nothing written, renamed or known to be on disk).
  // Called from any appending thread, with or without the Writer's lock. Unset: never.
  std::function<int(FileCall)> inject_fault;
};

// What Open did to make the trail appendable again after an unclean stop.
struct Recovery {
  std::filesystem::path file;  // the file whose torn final line was removed
  std::uint64_t line = 0;      // that line's number
  std::uint64_t bytes = 0;     // how many bytes were removed
  std::uint64_t seq = 0;       // the audit_recovered record that reports it
};

// What Open did when one slot of the checkpoint failed its checks (internal/checkpoint.h: a
// disk that tore the slot's sector in a power loss, or an edit) and the other verified.
struct CheckpointRecovery {
  std::string problem;          // why the slot failed
  std::uint64_t from_seq = 0;   // the head the other slot named, which Open went on from
  std::uint64_t trail_seq = 0;  // the last record in the trail then
  std::uint64_t seq = 0;        // the audit_recovered record that reports it
};

class Writer final : public Sink {
 public:
  // Opens the trail for appending, creating it if needed. Refuses (kCorruption) a trail whose
  // last record fails its HMAC (wrong key, or edited) or that ends before the checkpoint
  // (truncated), a checkpoint that fails its HMAC, and a missing checkpoint beside a trail
  // with records: the agent must not extend a chain it cannot vouch for. Only the last
  // record is checked here; Verify checks the rest. A torn final line (a write cut short by a
  // crash; no newline) is truncated back to the last complete record and an audit_recovered record
  // is appended. So is one when one of the checkpoint's two slots fails its checks and the
  // other verifies: Open goes on from the other (never ahead of the trail), rewrites both, and
  // records what it found, so that an edit cannot pass unseen; Verify of the file before that
  // reports it as checkpoint_invalid. Takes ownership of `key`. `clock` must outlive the
  // Writer.
  static Result<std::unique_ptr<Writer>> Open(WriterOptions options, Secret key,
                                              const Clock& clock);
  ~Writer() override;  // Close(), ignoring its error
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  // Appends one record and returns its seq and time. Rotates first when the active file is
  // full or old. After a failed write, fsync or checkpoint write the Writer is broken: this
  // and every later call fails, because what reached the disk is unknown; the agent must stop
  // processing requests. Thread-safe. Concurrent durable appends share one fsync.
  using Sink::Append;
  Result<Appended> Append(const Event& event, Durability durability) override;

  // Makes every record appended so far durable and checkpoints the head. Thread-safe;
  // concurrent calls and durable appends share one fsync.
  Status Sync() override;
  // Sync, then close the file; later calls fail. Thread-safe; idempotent.
  Status Close();

  // Set when Open removed a torn final line; the caller logs it.
  const std::optional<Recovery>& recovery() const;
  // Set when Open went on from one slot of the checkpoint; the caller logs it.
  const std::optional<CheckpointRecovery>& checkpoint_recovery() const;

  // The head the checkpoint names, with its HMAC: what the agent tells the witness. It is on
  // stable storage, so a crash of the host never leaves the trail behind a head it sent.
  // Thread-safe.
  Head DurableHead();
  // Whether this trail holds `head` (a head the witness kept). Finds the record at its seq
  // in the files (the newest file first), so it reads at most one file, without holding up
  // appends (the files are opened under the lock, read after it). Errors: only when a file
  // cannot be read (kIoError, kNotFound). Thread-safe.
  Result<WitnessCheck> CheckWitness(const Head& head);

  // How many Append calls failed since Open (for the metrics: after the first, the Writer is
  // broken and every request stops). Thread-safe.
  std::uint64_t AppendFailures() const { return append_failures_.load(); }

 private:
  class Impl;
  explicit Writer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  std::atomic<std::uint64_t> append_failures_{0};
};

// The checkpoint file for a state directory: <state_dir>/audit.checkpoint.
std::filesystem::path CheckpointPath(const std::filesystem::path& state_dir);

// ---------------------------------------------------------------------------------------------
// Verifying.

struct VerifyOptions {
  std::filesystem::path file;  // the active file; rotated files are found beside it
  // Unset: the checkpoint is not checked, so a removed tail goes unnoticed (e.g. a copy of
  // the trail off-host without its checkpoint).
  std::optional<std::filesystem::path> checkpoint_file;
  // A head kept off-host (the cloud's: `wbcloud status` shows it): the trail must hold it.
  // This is what shows a deleted trail, or a trail and checkpoint rolled back together.
  std::optional<Head> witness;
};

enum class Problem {
  kMalformed,           // not a complete record: bad JSON, bad value, or no "hmac"
  kNotCanonical,        // a valid HMAC over a line that is not in canonical form
  kBadHmac,             // the record was changed after it was written, or a foreign key
  kBadStart,            // the first record is not seq 1 with a zero prev: the start is missing
  kGap,                 // seq jumps: records were removed here
  kOutOfOrder,          // seq goes back, or a missing seq appears later: records were moved
  kBrokenLink,          // prev is not the hash of the record before it
  kMissingFile,         // a rotated file is missing between two others
  kTornTail,            // the newest line has no newline: a write cut short by a crash
  kTruncated,           // the trail ends before the checkpointed head
  kCheckpointMismatch,  // the record at the checkpointed seq has another hash
  kCheckpointInvalid,   // the checkpoint is malformed or fails its HMAC
  kCheckpointMissing,   // records exist but the checkpoint does not
  kWitnessMissing,      // the trail ends before the witness's head: records were removed
  kWitnessReplaced,     // the record at the witness's seq has another hash
  kWitnessForged,       // the witness's head does not verify under this key
};
std::string_view Name(Problem problem);  // e.g. "bad_hmac", "torn_tail"

struct Finding {
  Problem problem = Problem::kMalformed;
  std::filesystem::path file;
  // 1-based; 0 when about a file or the checkpoint as a whole, and in the file where
  // VerifyFromCheckpoint started (it does not read that file from its start): seq names the
  // record there.
  std::uint64_t line = 0;
  std::string message;  // what is wrong, for people
  // The seq of the record the finding is about: parsed, or as the line claims it when it does
  // not verify; 0 when not about one record or the line names none.
  std::uint64_t seq = 0;
};

struct VerifyReport {
  std::size_t files = 0;      // files read
  std::uint64_t records = 0;  // records that verified (before the finding, if any)
  std::uint64_t last_seq = 0;
  std::optional<std::uint64_t> checkpoint_seq;  // the checkpoint's head, when one was read
  // Set by VerifyFromCheckpoint when it started at the checkpoint: the checkpointed seq. Then
  // `records` counts the records after it (the checkpoint's own record is checked, not
  // counted). Unset: the whole trail was verified.
  std::optional<std::uint64_t> from_seq;
  std::optional<Finding> finding;  // the first problem, in trail order
  // The audit_recovered records (checkpoint_slot_failed) among those verified: a start that
  // found one checkpoint slot failing and went on from the other. A power loss that tore the
  // slot, or an edit that undid the last sync before it (the records between the two slots'
  // heads); the trail verifies either way, so they are listed for people to judge.
  struct CheckpointRecoveryRecord {
    std::uint64_t seq = 0;
    std::string detail;
  };
  std::vector<CheckpointRecoveryRecord> checkpoint_recoveries;
  bool ok() const { return !finding.has_value(); }
};

// Reads the checkpoint, then every file of the trail in order, and checks each line's HMAC,
// form, seq and link, the rotated files' numbering and the head against the checkpoint. Stops
// at the first problem. Returns a Status only when it cannot read: e.g. the directory is
// missing (kNotFound) or unreadable.
Result<VerifyReport> Verify(const VerifyOptions& options, const Secret& key);

// The fast path (`wbagent doctor` runs it): verifies from the last checkpoint on, so its cost
// grows with the records written since the checkpoint (on a running agent, the records of the
// last moments), not with the trail's length. It
//   1. reads the checkpoint and checks its HMAC (kCheckpointInvalid, as Verify), then the
//      numbering of every rotated file, from their names alone (kMissingFile, as Verify);
//   2. finds the record the checkpoint names, reading the files backwards from the newest,
//      and checks that record's HMAC and form and that its hash is the checkpoint's
//      (kCheckpointMismatch); a trail that ends before it is kTruncated, one that skips it kGap;
//   3. checks every record after it exactly as Verify does (HMAC, canonical form, seq, link,
//      a torn tail).
// What it does NOT prove: anything about the records before the checkpointed one. A record
// before it that was edited, removed, inserted or reordered goes unnoticed, and so does the
// newest rotated file's removal when it ended before the checkpoint's record; only Verify
// (`wbagent audit verify`) reads the whole trail and finds them. So the fast path shows that the
// chain was intact when the checkpoint was written (the Writer checked its last record then) and
// has only been extended since; not that nobody with file access touched older records afterwards.
// When there is no checkpoint, or it names seq 0 (an empty trail when written), every record
// is after it: this runs Verify itself (from_seq unset for a missing checkpoint, 0 for seq 0).
// options.checkpoint_file must be set and options.witness unset (kInvalidArgument): the
// checkpoint is the starting point, and a witness head is checked by Verify. Other errors as
// Verify.
Result<VerifyReport> VerifyFromCheckpoint(const VerifyOptions& options, const Secret& key);

// ---------------------------------------------------------------------------------------------
// Starting a new chain (docs/audit.md, "When the agent refuses to start because of the trail").

struct NewChainOptions {
  std::filesystem::path file;             // the active file of the trail
  std::filesystem::path checkpoint_file;  // see CheckpointPath
  // Where the old trail's files and checkpoint are moved, as they are. Created with mode
  // 0700; it must not exist, and must be on the trail's file system (rename(2), so that no
  // byte of the evidence is rewritten).
  std::filesystem::path evidence_dir;
  std::string agent_id;  // written into the new chain's records
};

struct NewChain {
  VerifyReport old_report;  // what Verify found in the old trail (with its checkpoint)
  // The old trail's head as the evidence holds it: the seq of its last line (0 when that line
  // is no record) and the SHA-256 of that line as stored, which anyone can recompute.
  Head old_head;
  std::vector<std::filesystem::path> moved;  // the files now in evidence_dir
  Appended first;                            // the new chain's chain_started record
};

// Keeps the evidence and starts over: verifies the trail (with its checkpoint), moves its
// files and checkpoint into evidence_dir, and opens a new trail whose first record (seq 1,
// durable) is chain_started. That record's outcome is the first problem Verify found
// (Name(Problem)) and its detail names the old head ("SEQ:HASH", the form `audit verify
// --witness` takes), the problem's place, and evidence_dir, all sealed by the new chain's HMAC.
// Refuses, moving nothing: a trail that verifies, or whose only problem is a torn tail (the
// Writer repairs that itself) (kFailedPrecondition); an existing evidence_dir
// (kAlreadyExists); a trail with no file (kNotFound). When a move fails part way
// (kIoError, e.g. EXDEV), the message lists what was moved. The caller makes sure no agent
// uses the trail meanwhile (the daemon's state-directory lock). Takes ownership of `key`.
Result<NewChain> StartNewChain(const NewChainOptions& options, Secret key, const Clock& clock);

// ---------------------------------------------------------------------------------------------
// Querying. Query does not verify: run Verify first to know the records are genuine.

// A time for --since/--until: an absolute UTC time as ParseTime takes it, or one relative to
// clock.Now(), all in UTC:
//   "30m", "24h", "7d"  that many minutes, hours or days before now (1 to 99999);
//   "now"               now;
//   "today"             today's 00:00:00 UTC;
//   "yesterday"         yesterday's 00:00:00 UTC, so --since yesterday --until today is all of
//                       yesterday.
// kInvalidArgument says which forms are accepted.
Result<WallTime> ParseQueryTime(std::string_view text, const Clock& clock);

// The shortest request-id prefix a query accepts (the table shows 8 characters).
inline constexpr std::size_t kMinRequestPrefix = 4;

struct QueryFilter {
  std::optional<WallTime> since;  // time >= since
  std::optional<WallTime> until;  // time < until
  // The account or the requester: matches target.requested, target.dn or requester.id,
  // ignoring ASCII case; '*' matches any run of characters.
  std::string user;
  // A whole request id, or an unambiguous prefix of kMinRequestPrefix characters or more. A
  // whole id wins over a longer id it is a prefix of. Query and QueryRequests refuse
  // (kInvalidArgument, naming up to three candidates) a prefix that several request ids in
  // the trail start with, or a shorter one that is no whole id; other filters do not narrow
  // the candidates, so the same prefix means the same request whatever else is asked.
  std::string request_id;
  std::string outcome;             // exact
  std::optional<EventType> event;  // records of this type; requests with one
  // policy_decision records with this decision; requests with one (e.g. kWouldDeny: what a
  // log-only rule would have denied).
  std::optional<Decision> decision;
};
// Whether `record` passes the filter, with request_id taken as a prefix (Query resolves it).
bool Matches(const Record& record, const QueryFilter& filter);

struct StoredRecord {
  Record record;
  std::string line;  // exactly as stored, so an export keeps each record's HMAC checkable
};

struct QueryResult {
  std::vector<StoredRecord> records;  // in trail order
  std::uint64_t skipped_lines = 0;    // lines that are not records (torn, malformed)
};

// The records that match, in trail order.
Result<QueryResult> Query(const std::filesystem::path& file, const QueryFilter& filter);

// One request, joined from its records (docs/audit.md, "The request view"): who asked for
// what on whose account, when, verified how, and how it ended. The records of a request are
// those with its request_id; a request_rejected record without one (a frame whose id was not
// authenticated) is a row of its own with an empty request_id. Records of no request
// (agent_started, config_loaded, ...) are in no row.
struct RequestRow {
  std::string request_id;
  std::uint64_t first_seq = 0;  // the request's first and last record
  std::uint64_t last_seq = 0;
  WallTime time;       // of the first record: when the agent received (or rejected) it
  WallTime last_time;  // of the last record
  std::string agent;
  std::string tenant;
  std::string correlation_id;
  std::vector<Operation> operations;
  Target target;  // dn: from the directory_write
  Requester requester;
  Decision decision = Decision::kNone;  // the last policy_decision's
  std::vector<Decision> decisions;      // every policy_decision's, in trail order
  std::vector<std::string> reasons;     // the policy_decision's or the rejection's
  std::string directory;                // the last directory_write's
  std::string server;
  std::optional<std::chrono::milliseconds> duration;
  std::string outcome;  // the last outcome recorded: the result; empty while none is
  std::string detail;   // the last detail recorded
  int writes = 0;       // directory_write records: attempts that reached the directory
  bool result_sent = false;
  bool result_acknowledged = false;
  std::vector<EventType> events;  // each record's type, in trail order
};

// Folds records (in trail order) into rows, ordered by their first record.
std::vector<RequestRow> GroupByRequest(const std::vector<StoredRecord>& records);

// Whether a row passes the filter: since/until on the row's time (its first record), user on
// its target and requester, outcome on its result, event when one of its records has that
// type, request_id exactly (QueryRequests resolves a prefix first).
bool Matches(const RequestRow& row, const QueryFilter& filter);

struct RequestQueryResult {
  std::vector<RequestRow> rows;
  std::uint64_t skipped_lines = 0;
};

// The requests that match, ordered by their first record. Every record of a request is read
// before the filter is applied, so a row is never built from part of a request (one received
// before --since and written after it is left out whole).
Result<RequestQueryResult> QueryRequests(const std::filesystem::path& file,
                                         const QueryFilter& filter);

enum class Format { kTable, kJson, kCsv };
std::optional<Format> ParseFormat(std::string_view name);  // "table", "json", "csv"

// The widest line a table has. (The narrowest the columns of either view may get adds up to
// less, so both views always fit.)
inline constexpr std::size_t kTableWidth = 120;

// kTable: aligned columns for a terminal, at most kTableWidth wide: columns are narrowed
// (first those where it adds the fewest lines) and long cells wrapped onto continuation lines
// (at a ',', space, '.', '@' and the like where one is near), never cut. Times to the second,
// request ids to 8 characters, control characters shown as '?'. kJson: the stored lines, one per
// line (JSON lines). kCsv: RFC 4180 with a header row, CRLF line ends; a cell starting with = + - @
// is prefixed with ' so spreadsheets do not run it.
std::string FormatRecords(const std::vector<StoredRecord>& records, Format format);

// The request view in the same three formats (docs/audit.md lists the JSON and CSV fields).
// kTable: TIME, REQUEST, OPERATION, TARGET, REQUESTER, VERIFIED BY, RESULT. kJson: one
// object per line. kCsv: one row per request.
std::string FormatRequests(const std::vector<RequestRow>& rows, Format format);

}  // namespace wb::audit
