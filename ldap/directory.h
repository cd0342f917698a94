#pragma once
// ldap/: the one interface the rest of wbagent has to a directory: "find this account",
// "apply this change", "what password policy applies to it". It hides libldap and the
// differences between Active Directory and OpenLDAP.
//
// Guarantees:
//   - Every connection is TLS with CA and host-name verification (LDAPS or StartTLS).
//   - Every identifier from a request is escaped (RFC 4515) before it is put in a filter,
//     and a DN target must lie under the directory's base_dn: a request can never widen a
//     search or reach outside the configured subtree. DNs are compared as parsed RDNs
//     (ldap/dn.h), never as text; AD's extended forms (<GUID=...>, <SID=...>) are refused;
//     and the DN of the entry the server answers with is checked against base_dn too,
//     before anything can be written to it.
//   - The service account binds; the user never does (a test bind counts as a failed logon
//     and can lock the account).
//   - Every answer is an Outcome with a stable code (ldap/outcome.h); no LDAP code or
//     diagnostic escapes this component except as escaped text inside an Outcome.
//   - A password is read from its Secret in place, encoded into a Secret that is wiped, and
//     never logged or copied into an Outcome.
//
// Thread-safety: a Directory may be used from several threads at once; each call takes its
// own connection from a bounded pool (pool_size).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/secret.h"
#include "common/status.h"
#include "config/config.h"
#include "ldap/outcome.h"

namespace wb::ldap {

// How a request names the account. The kind must be one of the directory's
// lookup_attributes; kDn must lie under its base_dn (out_of_scope otherwise).
struct Target {
  config::LookupAttribute kind = config::LookupAttribute::kUserPrincipalName;
  std::string value;
};

// What the writers and the policy engine need to know about an account.
struct Account {
  std::string dn;
  std::string login_name;  // sAMAccountName (AD) or uid (OpenLDAP)
  std::string upn;         // AD only
  std::string mail;
  std::string display_name;
  std::string given_name;  // givenName
  std::string surname;     // sn
  // False on AD with ACCOUNTDISABLE in userAccountControl, on OpenLDAP with the administrative
  // lock (pwdAccountLockedTime 000001010000Z). The pipeline writes nothing to such an account.
  bool enabled = true;
  bool locked = false;
  bool must_change_password = false;  // AD pwdLastSet = 0; OpenLDAP pwdReset = TRUE
  // When the password was last written: AD, unicodePwd's stamp in replPropertyMetaData (else
  // pwdLastSet, where that cannot be read); OpenLDAP, pwdChangedTime.
  std::optional<WallTime> password_changed_at;
  // AD only: pwdLastSet as a time (none while it is 0). A Windows DC counts the minimum password
  // age from it, which clearing "must change" moves without writing the password.
  std::optional<WallTime> password_last_set;
  // OpenLDAP: slapd itself marks the account must-change (pwdReset) on an administrator's reset
  // under pwdMustChange, and the agent clears the mark in a write of its own after the
  // password. AD: false; a reset sets pwdLastSet in the same modify, so a mark seen after it
  // was set since, by someone else.
  bool reset_may_leave_mark = false;
  bool protected_account = false;   // AD adminCount = 1
  std::vector<std::string> groups;  // memberOf DNs, where the directory provides them
  // AD: the SID of the account's primary group ("S-1-5-21-...-513"), from objectSid and
  // primaryGroupID. memberOf never names that group, and IN_CHAIN does not follow it, so
  // AnswerScope asks about it on its own. Empty on OpenLDAP, and when AD did not return both.
  std::string primary_group_sid;
  std::optional<std::string> password_policy_dn;  // msDS-ResultantPSO / pwdPolicySubentry
};

// True when `account`'s password was set at or after `since`, compared at the directories'
// one-second resolution. An account without a password timestamp has none to compare: false.
inline bool PasswordChangedAtOrAfter(const Account& account, WallTime since) {
  return account.password_changed_at &&
         *account.password_changed_at >= std::chrono::floor<std::chrono::seconds>(since);
}

// One request's change. Any combination; at least one part must be set.
//
// Must-change at next logon is decided by `must_change` alone, the same on both kinds,
// whatever the directory's own policy (OpenLDAP pwdMustChange) or the previous state:
//   - kRequire: the user must change it (AD pwdLastSet 0, OpenLDAP pwdReset TRUE);
//   - kClear, or kLeave with a password write (kReset or kChange): the user need not (AD
//     pwdLastSet is the write's time, or -1 when only cleared; OpenLDAP pwdReset absent);
//   - kLeave without a password write: left as it is.
struct PasswordChange {
  enum class Password { kKeep, kReset, kChange };
  enum class MustChange { kLeave, kRequire, kClear };
  Password password = Password::kKeep;
  const Secret* new_password = nullptr;  // REQUIRES: set for kReset and kChange
  const Secret* old_password = nullptr;  // REQUIRES: set for kChange
  bool unlock = false;
  MustChange must_change = MustChange::kLeave;
};

// `outcome` with every text the server could have put a password into (its diagnostic, and
// the reason and note built around it) replaced by a notice when it contains the new or the
// old password of `change`, as sent or as escaped for the log. A server's own words go wherever
// a result goes (the queue, the audit trail, the log, the cloud); AD and slapd do not quote a
// refused password, but a third-party password check module may. Directory::Apply's outcome
// has been through this.
Outcome WithoutEchoedPassword(Outcome outcome, const PasswordChange& change);

// The directory's effective password policy for one account.
struct PasswordPolicy {
  // Whose rules these are: the two kinds count lengths and apply complexity differently
  // (policy/policy.h, CheckDirectoryRules).
  config::DirectoryKind kind = config::DirectoryKind::kActiveDirectory;
  int min_length = 0;
  int max_length = 0;  // 0: no maximum
  int history_length = 0;
  std::chrono::seconds min_age{0};
  bool complexity = false;  // AD complexity, or OpenLDAP pwdCheckQuality > 0
  int lockout_threshold = 0;
  std::string source;  // the DN the values came from (domain root, PSO or ppolicy entry)
};

// What the policy engine (policy/policy.h) asks the directory about one account. The engine
// decides; the directory only answers, with reads.
struct ScopeQuestions {
  // An RFC 4515 filter from the config that the account must match; empty: not asked.
  std::string filter;
  // Group DNs; the answer says which of them the account is a member of, directly or through
  // nested groups. Empty: not asked.
  std::vector<std::string> groups;
};

struct ScopeAnswers {
  bool matches_filter = true;  // true when no filter was asked
  // Indices into ScopeQuestions::groups of the groups the account is a member of, ascending.
  std::vector<std::size_t> member_of;
};

struct ServerHealth {
  std::string url;
  bool healthy = true;
  // The last failure's Outcome::ToString() and when it happened; empty when none. Kept after
  // the server recovers, so that it can be shown as past (with its time), never as current.
  std::string last_error;
  std::optional<WallTime> last_error_at;
  std::optional<WallTime> failing_since;  // set while unhealthy: its first failure in a row
  // Failures in a row; the server is tried again after 1 s, 2 s, 4 s ... up to 60 s. Only an
  // operation's success ends the row (after a failed write, a write's), not a new connection:
  // a server that binds but never answers would otherwise be tried again every second, each
  // time costing a worker operation_timeout.
  int consecutive_failures = 0;
  // Connections opened to this server because a server before it in the order failed in the
  // same attempt (a failover), since the agent started.
  std::uint64_t failovers = 0;
};

class Directory {
 public:
  virtual ~Directory() = default;
  virtual const std::string& name() const = 0;

  // Exactly one match, or kUserNotFound / kAmbiguousUser.
  virtual Result<Account, Outcome> FindAccount(const Target& target) = 0;
  // Applies `change` to `account` in as few operations as the directory allows (AD: one
  // modify). Nothing is written when the outcome is a refusal decided before the write
  // (e.g. kHistoryNotEnforceable).
  virtual Outcome Apply(const Account& account, const PasswordChange& change) = 0;
  // The policy that applies to `account` (AD: its PSO or the domain's; OpenLDAP: its
  // pwdPolicySubentry or ppolicy_default_dn). An Account{} (no policy DN) gives the directory's
  // default, which the policy summary reports. Reads only.
  virtual Result<PasswordPolicy, Outcome> EffectivePolicy(const Account& account) = 0;
  // For crash recovery: reads the account again and returns PasswordChangedAtOrAfter(since),
  // so a reset interrupted after the write is not applied again (it would trip history).
  virtual Result<bool, Outcome> PasswordChangedSince(const Account& account, WallTime since) = 0;
  // Answers the policy's questions about `account` with reads only, as the service account,
  // all on one connection:
  //   - the filter: a base-scope search on the account's DN with that filter, so the
  //     directory evaluates it (matching rules, case, its schema), not the agent. A filter that
  //     is not valid RFC 4515 syntax (refused by libldap before anything is sent), or whose
  //     matching rule the server refuses, is kInternalError naming the filter, never "does
  //     not match". The filter is not checked against the schema: an attribute or matching
  //     rule the server does not know is no error there. slapd takes such an item as Undefined
  //     (RFC 4511 4.5.1.7), so neither it nor its negation matches; Samba takes it as FALSE,
  //     so its negation matches every account (tests/ldap/ad_scope_test.cc).
  //   - group membership, nested included. AD: base-scope searches on the account with
  //     (memberOf:1.2.840.113556.1.4.1941:=<group DN>) (LDAP_MATCHING_RULE_IN_CHAIN): with
  //     several groups one search with their OR first, then one per group only when it
  //     matches. The DC compares the DNs and follows the chain (cycles included). Membership
  //     through the account's primary group (primaryGroupID: Domain Users for most accounts,
  //     whatever group an administrator made primary for others), which neither memberOf nor
  //     IN_CHAIN shows, is asked separately for the groups not yet matched: the group is found
  //     by its SID (a subtree search under the domain), its DN compared with theirs, and
  //     IN_CHAIN asked of it as of the account. An account whose objectSid or primaryGroupID
  //     cannot be read, or whose primary group cannot be found, is kInternalError saying so,
  //     never a silent "not a member".
  //     OpenLDAP: needs the memberof overlay (olcMemberOfRefInt TRUE) and read access for the
  //     service account to the groups and their memberOf. The account's memberOf values
  //     (Account::groups, from FindAccount) are followed upward through each group's own
  //     memberOf, breadth first, each group read once (a cycle ends), stopping once every asked
  //     group is found; at most kMaxGroupDepth levels (the account's own groups are level 1)
  //     and kMaxGroupsRead group reads. Needing more, a group that cannot be read (noSuchObject:
  //     gone, or hidden by an ACL) or a memberOf value that is not a DN is kInternalError naming
  //     the cause, never a silent "not a member". Group DNs are compared as DNs (ldap/dn.h).
  //     A group asked about that does not exist is answered "not a member" on both kinds.
  //   - a group asked about that is not a DN is kInternalError naming it.
  // Errors are the same Outcomes as FindAccount's (transient ones may pass on retry; an account
  // deleted since it was found is kUserNotFound).
  virtual Result<ScopeAnswers, Outcome> AnswerScope(const Account& account,
                                                    const ScopeQuestions& questions) = 0;
  static constexpr int kMaxGroupDepth = 16;
  static constexpr int kMaxGroupsRead = 1024;
  virtual std::vector<ServerHealth> Health() const = 0;
  // `systemctl reload` after the administrator fixed the service account or its trust:
  // re-reads the bind password file, ends the hold on binds after a refusal, and lets every
  // server be tried at once. CA and client certificate files are read at each new connection
  // anyway. On an error (the file cannot be read, or is empty) the old password stays in use.
  virtual Status ReloadSecrets() = 0;
  // The service account's bind on a new connection, at start and after a reload, so that a
  // broken setup is found before the first user is: the bind's Outcome (kSucceeded with the
  // server that took it). Reads and writes nothing, and no user binds. The connection is kept
  // for the next request. Skipped (kSucceeded, no server) while every connection is in use.
  virtual Outcome CheckServiceBind() = 0;
};

// Opens a directory from its config; reads the bind password file (the secret stays in
// memory, wiped on destruction). Connections are made lazily.
Result<std::unique_ptr<Directory>> OpenDirectory(const config::DirectoryConfig& config,
                                                 const Clock& clock);

// The longest one Directory call (FindAccount, AnswerScope, Apply, ...) of this directory may
// take while its timeouts work: each server in turn (failover) gets connect_timeout for the
// connection, TLS and bind, operation_timeout to wait for a pooled connection and
// operation_timeout for the operation. The watchdog's deadline for a worker builds on it.
std::chrono::milliseconds LongestCall(const config::DirectoryConfig& config);

// Chooses the directory for a target: by UPN suffix (UPN and mail targets), by base DN (DN
// targets), and the only directory when there is one.
class Router {
 public:
  explicit Router(std::vector<std::unique_ptr<Directory>> directories,
                  std::vector<config::DirectoryConfig> configs);
  Result<Directory*, Outcome> Route(const Target& target) const;
  // Every server of every directory: (directory name, health).
  std::vector<std::pair<std::string, ServerHealth>> Health() const;
  // Directory::ReloadSecrets of each; the first error, naming its directory, after trying all.
  Status ReloadSecrets();
  // Directory::CheckServiceBind of each: (directory name, outcome).
  std::vector<std::pair<std::string, Outcome>> CheckServiceBinds();
  // Directory::EffectivePolicy(Account{}) of each, in config order: (directory name, the
  // directory's default password policy, or why it could not be read).
  std::vector<std::pair<std::string, Result<PasswordPolicy, Outcome>>> DefaultPolicies();

 private:
  std::vector<std::unique_ptr<Directory>> directories_;
  std::vector<config::DirectoryConfig> configs_;
};

}  // namespace wb::ldap
