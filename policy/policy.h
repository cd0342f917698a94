#pragma once
// policy/: the organisation's own rules, on premises. Whether this request may be applied to
// this account at all, decided and explained by the agent, not left to the cloud: a
// compromised or misconfigured tenant cannot reset an account the rules protect.
// docs/policy.md is the administrator's guide to the model and its keys.
//
// Where it sits in the pipeline (agent/pipeline.h):
//
//   envelope checks ─▶ Enqueue ─▶ Admit ──allow / would_deny──▶ MarkReady ─▶ worker
//                                   │ deny ──▶ Finish(rejected, code)     (nothing written)
//                                   │ hold ──▶ stays `received`: the breaker is tripped
//   worker: Route ─▶ FindAccount ─▶ QuestionsFor ─▶ Directory::AnswerScope ─▶ CheckAccount
//              ──allow / would_deny──▶ CheckPassword ──allow / would_deny──▶ Apply
//                                            deny (either) ──▶ Finish(rejected, code)
//
//   Admit (cheap, no account): verification methods, rate limits, the breaker.
//   CheckAccount (needs the account): scope (allowed subtrees, the filter's answer, denied
//   groups, protected accounts), the admin requester's right to this scope, and the stronger
//   verification that protected accounts and privileged groups require.
//   CheckPassword (needs the decrypted password and the account's names): the local password
//   rules of [policy.password] / [directory.password] (docs/policy.md, "Password rules"),
//   banned words scored as Entra Password Protection documents it, and the breached count the
//   caller looked up (breached::List) when WantsBreachedCount says so.
//
// Guarantees:
//   - No I/O after Open: every fact comes in through the arguments (the directory's answers,
//     the queue's history), so a decision is a pure function of its inputs and the counts.
//     The one exception is by design: the breached-password lists (breached/breached.h) are
//     mapped read-only at Open, and CheckPassword reads their pages (two at most per lookup).
//     A list that does not open (missing, truncated, corrupt) fails Open, naming its key.
//   - A Decision lists every rule that matched, each with a stable code (CodeName), the rule's
//     name as the config spells it, and a reason an administrator can act on. The reason never
//     holds a password, any part of one, a banned term that matched, or another secret.
//   - Passwords: CheckPassword reads the Secrets it is given and copies them only into secure
//     memory that is wiped when the check returns (policy/password_rules.h); it keeps nothing.
//     The banned-words files are read once, at Open.
//   - Log-only: a rule in mode "log_only" (its own `mode`, or policy.mode) matches as
//     `enforced = false`; a decision whose matches are all log-only is kWouldDeny and the
//     request goes on. One enforced match makes it kDeny.
//   - DNs are compared as parsed RDN sequences (ldap/dn.h), never as text: an escaped comma
//     cannot move an account into or out of a subtree.
//   - Rate limits count requests admitted (allow or would_deny) by the time they were
//     received; Open seeds them from the queue's records, so a restart does not reset them.
//     Each agent counts its own requests (several agents per tenant: each enforces alone).
//   - The breaker: when the overall count within its window would pass policy.rate_limits.
//     overall, the breaker trips. From then on every request is kHold until ReleaseBreaker or
//     RejectBreaker; the tripped state is reported (BreakerState) for the caller to keep
//     durably and to hand back to Open after a restart.
//
// Thread-safety: Admit, CheckAccount, CheckPassword, QuestionsFor and the breaker calls may be
// called from several threads at once (one internal mutex guards the counts and the breaker).

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/secret.h"
#include "common/status.h"
#include "config/config.h"
#include "ldap/directory.h"
#include "protocol/protocol.h"

namespace wb::policy {

// The stable denial codes. They are outcome codes too (the request's result and the audit
// record carry them): never rename one.
enum class Code {
  kNotInAllowedSubtree,       // "not_in_allowed_subtree"
  kFilterNotMatched,          // "filter_not_matched"
  kDeniedGroup,               // "denied_group"
  kProtectedAccount,          // "protected_account"
  kVerificationInsufficient,  // "verification_insufficient"
  kRequesterNotAllowed,       // "requester_not_allowed"
  kRateLimited,               // "rate_limited"
  kBreakerTripped,            // "breaker_tripped": held, neither written nor refused
  kBreakerRejected,           // "breaker_rejected": held, then refused by an administrator
  // The password rules (CheckPassword). All ask the user for a stronger password.
  kPasswordTooShort,            // "password_too_short"
  kPasswordTooLong,             // "password_too_long"
  kPasswordClasses,             // "password_classes"
  kPasswordForbiddenCharacter,  // "password_forbidden_character" (also: not valid UTF-8)
  kPasswordRepeated,            // "password_repeated"
  kPasswordSameAsOld,           // "password_same_as_old"
  kPasswordContainsName,        // "password_contains_name"
  kPasswordBanned,              // "password_banned"
  kPasswordBreached,            // "password_breached"
};
inline constexpr Code kLastCode = Code::kPasswordBreached;
std::string_view CodeName(Code code);
std::optional<Code> ParseCode(std::string_view name);
// The page the end user sees for a denial (protocol::UserAction).
protocol::UserAction UserActionFor(Code code);

enum class Verdict { kAllow, kDeny, kWouldDeny, kHold };
std::string_view VerdictName(Verdict verdict);  // "allow", "deny", "would_deny", "hold"

// Where a rule is checked: Admit, CheckAccount or CheckPassword.
enum class Stage { kAdmission, kAccount, kPassword };
std::string_view StageName(Stage stage);  // "admission", "account", "password"

// A rule that applies to a request, for an administrator's preview (`wbagent policy test`):
// its name is the one a RuleMatch carries when the rule matches.
struct RuleInfo {
  Stage stage = Stage::kAdmission;
  std::string rule;      // e.g. "directory[corp].scope.allowed_subtrees"
  std::string setting;   // what it is set to, e.g. "ou=staff,dc=example,dc=org"
  bool enforced = true;  // false: log-only
};

struct RuleMatch {
  Code code;
  std::string rule;      // e.g. "directory[corp].scope.denied_groups", "policy.rate_limits.overall"
  std::string reason;    // what matched and what to do
  bool enforced = true;  // false: log-only
};

struct Decision {
  Verdict verdict = Verdict::kAllow;
  std::vector<RuleMatch> matches;
  // The first enforced match (the denial's code and reason); null unless kDeny or kHold.
  const RuleMatch* deciding() const;
};

// What Admit knows of a request (from the queue's record).
struct RequestFacts {
  std::string id;
  protocol::Requester requester;
  std::string account_key;  // queue::RequestInfo::account_key
  WallTime received_at;
};

// What CheckAccount knows of the account (FindAccount's Account and AnswerScope's answers to
// QuestionsFor's questions).
struct AccountFacts {
  std::string directory;  // the directory's configured name
  const ldap::Account* account = nullptr;
  ldap::ScopeAnswers answers;
};

// The user's names, for the name-token rule and the banned-words score (the directory's
// values; empty when unknown).
struct Names {
  std::string login;    // sAMAccountName or uid (a UPN's domain is a delimiter, as '@')
  std::string display;  // displayName
  std::string given;    // givenName
  std::string surname;  // sn
};

// What CheckPassword knows. The Secrets are the caller's; they must outlive the call.
struct PasswordFacts {
  std::string directory;                 // the directory's configured name
  const Secret* new_password = nullptr;  // null: checked as an empty password
  const Secret* old_password = nullptr;  // null unless the request is a change
  Names names;
  // The breached list's count for the new password. nullopt (the daemon): the engine looks
  // it up in the list the applying table names, mapped at Open. Set: used as given (tests).
  std::optional<std::uint64_t> breached_count;
};

// A request Open counts against the rate limits: one the queue holds that was admitted.
struct PastRequest {
  std::string requester_id;
  std::string account_key;
  WallTime received_at;
};

// The breaker's state, kept durably by the caller (agent/) between runs.
struct BreakerState {
  bool tripped = false;
  std::optional<WallTime> tripped_at;
  // Requests received at or before this time do not count towards `overall` (set by a release, so
  // that the requests just released do not trip it again at once).
  std::optional<WallTime> counting_from;
  bool operator==(const BreakerState&) const = default;
};

class Policy {
 public:
  // `config` holds [policy] and every [[directory]] (their scope tables). `history`: the
  // admitted requests the queue holds, any order; those older than the longest window are
  // ignored. `breaker`: the state kept from the last run. Open reads each banned_words_file
  // (its only I/O); one that cannot be read, is not UTF-8, or has too many or too long terms
  // fails Open with the key's name and FILE:LINE.
  static Result<std::unique_ptr<Policy>> Open(const config::Config& config, const Clock& clock,
                                              const std::vector<PastRequest>& history,
                                              BreakerState breaker);

  // The cheap checks, before the queue's worker takes the request. An allow or would_deny is
  // counted against the rate limits. kHold: the breaker is tripped (by this request, or
  // earlier); the request is neither written nor refused.
  Decision Admit(const RequestFacts& request);

  // The directory's part of the account checks for a request of `type` to `directory`: the
  // filter and the groups (denied and privileged) to ask about. Empty when nothing is needed.
  ldap::ScopeQuestions QuestionsFor(std::string_view directory, protocol::RequesterType type) const;
  // The account checks, given the answers to QuestionsFor's questions.
  Decision CheckAccount(const RequestFacts& request, const AccountFacts& account) const;

  // The password rules for a request of `type` to `directory`, given the new password (and the
  // old one, for a change). The table that applies: for an admin request the directory's
  // [directory.password.admin], else its [directory.password], else [policy.password.admin],
  // else [policy.password]; for a self-service request [directory.password], else
  // [policy.password]. An unknown directory uses the policy's tables. Reads nothing but the
  // mapped breached list. A password the list cannot check (an NTLM list and a password that is
  // not UTF-8) is denied under breached_file: fail closed.
  Decision CheckPassword(const RequestFacts& request, const PasswordFacts& facts) const;
  // Whether any password rule is on for such a request (otherwise CheckPassword allows, and the
  // caller may skip decrypting for it).
  bool ChecksPasswords(std::string_view directory, protocol::RequesterType type) const;
  // The breached list the table that applies names (breached_file), or nullopt.
  std::optional<std::filesystem::path> BreachedFileFor(std::string_view directory,
                                                       protocol::RequesterType type) const;
  bool WantsBreachedCount(std::string_view directory, protocol::RequesterType type) const {
    return BreachedFileFor(directory, type).has_value();
  }

  // The password rules CheckPassword applies for a request of `type` to `directory`, as the
  // policy summary tells the cloud (protocol::PolicySummary): settings only, no list's terms.
  protocol::PasswordRulesSummary PasswordSummaryFor(std::string_view directory,
                                                    protocol::RequesterType type) const;

  // Every rule that Admit, CheckAccount and CheckPassword check for a request of `type` to
  // `directory`, in the order they check them; a rule that is off (no limit, an empty list,
  // min_methods 0) is left out. An unknown directory (or an empty name): the admission rules
  // and the policy's password rules. Every RuleMatch the three calls return for such a request
  // names one of these rules.
  std::vector<RuleInfo> RulesFor(std::string_view directory, protocol::RequesterType type) const;

  BreakerState Breaker() const;
  // The administrator reviewed what is held: the breaker closes and counting starts again
  // from now. Returns the new state (to keep durably).
  BreakerState ReleaseBreaker();
  // Same, for `wbagent breaker reject`: the caller finishes the held requests as
  // kBreakerRejected.
  BreakerState RejectBreaker();

  ~Policy();
  Policy(const Policy&) = delete;
  Policy& operator=(const Policy&) = delete;

 private:
  struct Compiled;
  Policy(std::unique_ptr<Compiled> compiled, const Clock& clock, BreakerState breaker);
  // REQUIRES mu_ held, for these three.
  void Count(const std::string& account_key, const std::string& requester_id, WallTime at);
  std::vector<RuleMatch> CheckRates(const RequestFacts& request) const;
  bool OverallPassed() const;
  void AddPasswordRulesFor(std::vector<RuleInfo>& rules, std::string_view directory,
                           protocol::RequesterType type) const;
  std::unique_ptr<Compiled> compiled_;
  const Clock& clock_;
  mutable std::mutex mu_;
  struct Counts;
  std::unique_ptr<Counts> counts_;  // guarded by mu_
  BreakerState breaker_;            // guarded by mu_
};

// --- validate: the directory's own rules, checked without writing ----------------------------
//
// What `validate` (protocol::Operation::kValidate) can tell of the directory's own password
// rules without writing, checked as the directory checks them (docs/policy.md, "Validate"):
//   - Active Directory: the length in UTF-16 code units against min_length; with complexity,
//     its three rules: not the whole sAMAccountName (when it has 3 or more characters), no
//     displayName token of 3 or more characters (split on , . - _ # space and tab), both case
//     insensitive; and characters of 3 of 5 kinds (upper, lower, digit, ASCII symbol, any
//     other non-ASCII character).
//   - OpenLDAP ppolicy: only with pwdCheckQuality > 0 (slapd checks nothing otherwise), the
//     length in bytes against pwdMinLength and pwdMaxLength. What a pwdCheckModule checks
//     cannot be known.
// History and minimum age need the directory's stored hashes or a write: never checked here,
// and `not_checked` says so. The directory has the last word: for characters outside ASCII,
// Latin, Greek and Cyrillic the kinds are approximated, so an answer can differ from the
// directory's.
struct DirectoryRulesAnswer {
  // Each rule the password fails: kPolicyTooShort, kPolicyTooLong or kPolicyComplexity, with a
  // reason that names the rule and never holds the password or a part of it.
  std::vector<ldap::Outcome> failures;
  std::string not_checked;  // what the directory may still refuse, for the answer's note
};
DirectoryRulesAnswer CheckDirectoryRules(const ldap::PasswordPolicy& rules,
                                         const ldap::Account& account, const Secret& password);

}  // namespace wb::policy
