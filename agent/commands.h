#pragma once
// One function per wbagent verb. Each returns the process exit code (see agent.h).

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"

namespace CLI {
class App;
}  // namespace CLI

namespace wb::agent {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;
// `wbagent run` only: the audit trail failed the checks made before extending it (a tampered
// or truncated trail, a checkpoint that does not verify, the wrong audit key). 65 is
// EX_DATAERR of sysexits.h, "the input data was incorrect": systemd shows it as
// status=65/DATAERR, and no other path of wbagent exits with it. The unit names it in
// RestartPreventExitStatus=, because a restart cannot cure it: an auditor must
// (docs/audit.md, "When the agent refuses to start because of the trail").
inline constexpr int kExitAuditTrailRefused = 65;

int CheckConfigCommand(const std::filesystem::path& config_file);
int RunDaemonCommand(const std::filesystem::path& config_file);
// `wbagent register` (register_command.cc): enrolls the agent with a one-time token.
// `wbagent register`: the token from --token-file (a file of mode 0600, or - for standard
// input), or from --token.
struct RegisterArgs {
  std::filesystem::path config_file;
  std::string token_file;
  std::string token;
  bool force = false;
};
int RegisterCommand(const RegisterArgs& args);

// `wbagent audit verify` and `wbagent audit query` (audit_commands.cc). An empty path is taken
// from the config (audit.file, audit.key_file, <agent.state_dir>/audit.checkpoint); the
// config is read only when one is needed. Exit 1: the trail failed verification or cannot be
// read; 2: bad arguments, config or key.
struct AuditVerifyArgs {
  std::filesystem::path config_file;
  std::filesystem::path file;
  std::filesystem::path key_file;
  std::filesystem::path checkpoint;
  bool no_checkpoint = false;
  std::string witness;  // SEQ:HASH[:HMAC]; empty: none
};
int AuditVerifyCommand(const AuditVerifyArgs& args);

// Query: exit 2 also for a --request prefix that is too short or ambiguous. Relative times
// (--since 24h) count back from `clock`.
struct AuditQueryArgs {
  std::filesystem::path config_file;
  std::filesystem::path file;
  std::string since;  // see wb::audit::ParseQueryTime; empty: no bound
  std::string until;
  std::string user;
  std::string request;  // a whole id or an unambiguous prefix
  std::string outcome;
  std::string event;             // an event type name; empty: any
  std::string decision;          // a policy decision name; empty: any
  bool events = false;           // the records themselves, not one row per request
  std::string format = "table";  // table, json or csv
};
int AuditQueryCommand(const AuditQueryArgs& args, const Clock& clock);

// `wbagent audit new-chain` (audit_commands.cc): keeps a trail that failed verification as
// evidence and starts a new chain naming its head (audit::StartNewChain). Refuses while an
// agent holds the state directory. As root, the new trail, the checkpoint and the state lock
// file are given the state directory's owner, so that the service user can use them. Exit 1:
// nothing to recover from (the trail verifies, or only has a torn tail), the agent runs, or the
// move or write failed; 2: bad arguments, config or key, or the evidence directory exists.
struct AuditNewChainArgs {
  std::filesystem::path config_file;
  std::filesystem::path key_file;  // default: as the agent finds it (audit.key_file)
  std::filesystem::path evidence;  // default: <state_dir>/audit-evidence-<UTC time>
};
int AuditNewChainCommand(const AuditNewChainArgs& args, const Clock& clock);

// Where the inspection commands below find the agent's state: `state_dir` when given (the
// config is then not read, so it works when the config names files that only the running
// service can see, such as systemd credentials), else agent.state_dir from `config_file`.
struct StateDirArgs {
  std::filesystem::path config_file;
  std::filesystem::path state_dir;
};
// The state directory `where` names. When the config does not load, prints its problems to
// stderr and returns nullopt (the caller exits kExitUsage). Defined in queue_commands.cc.
std::optional<std::filesystem::path> FindStateDir(const StateDirArgs& where);

// `wbagent status` (status_command.cc): the daemon's channel, the queue, the last results and
// the directory servers' health, from <state_dir>/status.json and the queue opened read-only.
// Exit 0: the daemon is running, connected to the cloud, every directory has a healthy
// server and the breaker is closed; 1: it is not running (status.json missing, stale or naming
// a process that has exited), not connected, a directory has no healthy server, the breaker is
// tripped, or its state cannot be read; 2: bad arguments or config.
struct StatusArgs {
  StateDirArgs where;
  bool json = false;
};
int StatusCommand(const StatusArgs& args);

// `wbagent queue list` and `wbagent queue show ID` (queue_commands.cc): the request queue,
// opened read-only (works while the daemon runs). Never prints a password. Exit 1: the queue
// cannot be read, or (show) the id is unknown or purged; 2: bad arguments or config.
struct QueueListArgs {
  StateDirArgs where;
  std::string state;  // empty: every state
  std::size_t limit = 100;
  bool oldest_first = false;  // --oldest; newest first otherwise
  bool json = false;
};
int QueueListCommand(const QueueListArgs& args);

struct QueueShowArgs {
  StateDirArgs where;
  std::string id;
  bool json = false;
};
int QueueShowCommand(const QueueShowArgs& args);

// `wbagent breaker status|release|reject` (breaker_command.cc). status: exit 0 when the breaker
// is closed, 1 when it is tripped. release/reject: the running agent admits, or refuses, the
// requests the breaker holds; exit 0 when it did, 1 when it is not running or did not answer
// within 15 s (the decision then waits for it), 2: bad arguments or config.
struct BreakerArgs {
  StateDirArgs where;
  std::string action;  // "status", "release" or "reject"
};
int BreakerCommand(const BreakerArgs& args);

// `wbagent policy test` (policy_command.cc): would a request for this user, with these
// operations and verification methods, be allowed, and by which rules (docs/policy.md)? It runs
// what the daemon runs, with the daemon's config: the admission checks (verification, the rate
// limits counted from the queue's records, the breaker kept in breaker.json), then the account's
// lookup, the directory's answers to the policy's questions (reads as the service account) and
// the account checks; with a password (--password-file FILE, or - for standard input), the
// password rules too. It writes nothing anywhere: no directory write, no bind as the user, no
// queue or audit record, and nothing it does counts against a limit; the password is never
// printed. Prints every rule that applies with its result, as a table or (--json) one JSON
// object. Exit 0: the request would go through (allow, or would_deny in log-only mode); 1: it
// would not (deny, hold, or the lookup would fail), or the directory could not be asked;
// 2: bad arguments or config, or a password file that cannot be read.
struct PolicyTestArgs {
  std::filesystem::path config_file;
  std::string user;                                 // the target, as the request names it
  std::string kind = "userPrincipalName";           // protocol::TargetKindName
  std::vector<std::string> operations = {"reset"};  // protocol::OperationName
  std::string requester_type = "self";              // "self" or "admin"
  std::string requester;                            // the requester id; default for self: `user`
  std::vector<std::string> verified_by;             // the methods the cloud would sign
  std::string password_file;  // a new password to check: a 0600 file, or "-" (standard input)
  bool json = false;
};
int PolicyTestCommand(const PolicyTestArgs& args, const Clock& clock);

// `wbagent doctor` (doctor_command.cc): a read-only preflight of the agent's files, the way to
// the cloud and each directory, each check printed with ✓, ✗ (and the one thing to do) or as
// skipped (a check it depends on failed). Writes nothing anywhere, binds to no directory as a
// user, and does not disturb a running agent (channel/doctor.h). Certificate expiry and the
// clock skew are judged by `clock`. Exit 0: every check passed; 1: one failed; 2: bad arguments.
struct DoctorArgs {
  std::filesystem::path config_file;
  bool json = false;  // one object per check
};
int DoctorCommand(const DoctorArgs& args, const Clock& clock);

// `wbagent breached import SRC DEST` and `wbagent breached check --file DEST` (breached_command.cc,
// breached/breached.h). AddBreachedVerbs defines both; the options write into `verbs`, which
// must stay in place. BreachedCommand runs the one that was parsed (nullopt: neither).
// import: converts the Pwned Passwords text (a path or "-") into the binary list; progress on
// stderr, a summary on stdout. Exit 1: the input was refused (the message names the line) or
// the file could not be written; 2: bad arguments.
// check: reads ONE password from standard input (never from the command line; no echo on a
// terminal) and prints "found N times" or "not found", never the password or its hash. Exit 1:
// found at least --min-count times; 0: not found, or found fewer times; 2: bad arguments, a
// password on the command line, no password on stdin, or a list that cannot be opened.
struct BreachedVerbs {
  CLI::App* import = nullptr;
  CLI::App* check = nullptr;
  std::string src;
  std::filesystem::path dest;
  std::string kind = "auto";  // "auto", "sha1" or "ntlm"
  std::uint64_t progress_every = 10'000'000;
  std::uint32_t index_bits = 0;  // 0: from the size of SRC (breached::ImportOptions)
  std::filesystem::path file;
  std::uint64_t min_count = 1;
};
void AddBreachedVerbs(CLI::App& app, BreachedVerbs& verbs);
std::optional<int> BreachedCommand(const BreachedVerbs& verbs);

}  // namespace wb::agent
