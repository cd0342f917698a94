#pragma once
// The agent's configuration: one TOML file (docs/configuration.md is the reference).
//
// LoadConfig is the only way to obtain a Config. It reads and checks the whole file and
// returns either a Config that satisfies every guarantee below, or every problem it found
// (not only the first), each located as FILE:LINE:COL and named by its dotted key. The
// daemon's start, its SIGHUP reload and `wbagent check-config` all call it, so all three
// accept and refuse exactly the same files.
//
// What LoadConfig guarantees when it returns a Config:
//   - Every required key was present, every key was known, and every value had the right
//     type, was in range and, for closed sets, was one of the allowed spellings.
//   - Every path is absolute and lexically normal. A relative path in the file resolves
//     against the directory that holds the config file, never against the working directory.
//   - CA files and client certificates existed and were readable regular files when they were
//     checked. With SecretChecks::kExamine (the default), secret files (bind_password_file,
//     proxy_password_file, client_key_file, and audit.key_file if it already exists) existed
//     and passed wb::CheckSecretFilePermissions; a bind_password_credential was found (see
//     LoadOptions) and its file passed the same check. With kSkip they were not examined.
//     Files may change afterwards: users of a path must still handle errors when they open it.
//   - agent.state_dir's parent is an existing directory (the agent creates state_dir).
//   - There is at least one directory; directory names are unique; with two or more
//     directories each has a route (upn_suffixes or base_dns) and no UPN suffix or base DN
//     routes to two directories.
//
// What LoadConfig never does: read the contents of a secret file (callers read them with
// wb::ReadSecretFile when they need them, and wipe them), print a secret, create or modify
// any file, or throw. It reads only the config file itself (at most 1 MiB) and, to find where
// a systemd credential comes from, the installed wbagent.service and its drop-ins; the files
// the config names are only examined (stat, access).
//
// Defaults: the member initializers below are the code's defaults; the table in
// docs/configuration.md is where they are documented, and the test
// DocumentedDefaultsMatchCode fails when the two disagree.
//
// Ownership and threads: Config and everything in it are plain values owned by the caller;
// nothing refers back into the loader. LoadConfig keeps no state between calls and may be
// called from any thread.

#include <array>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace wb::config {

// Closed sets. Name() returns the spelling used in the file, for messages and check-config.
enum class TlsVersion { kTls12, kTls13 };                  // "1.2", "1.3"
enum class DirectoryKind { kActiveDirectory, kOpenLdap };  // "ad", "openldap"
enum class LdapTransport { kLdaps, kStartTls };            // ldaps://, ldap:// (+ StartTLS)
enum class BindMethod { kSimple, kSaslExternal };          // "simple", "sasl_external"
enum class LookupAttribute { kUserPrincipalName, kSamAccountName, kUid, kMail, kDn };
enum class HistoryOnReset { kEnforce, kWhenSupported, kOff };  // "enforce", "when_supported", "off"
enum class PolicyMode { kEnforce, kLogOnly };                  // "enforce", "log_only"
enum class LogLevel { kTrace, kDebug, kInfo, kWarn, kError };
enum class LogFormat { kAuto, kText, kJson };

std::string_view Name(TlsVersion v);
std::string_view Name(DirectoryKind v);
std::string_view Name(LdapTransport v);  // "ldaps", "starttls"
std::string_view Name(BindMethod v);
std::string_view Name(LookupAttribute v);  // the LDAP attribute name, e.g. "sAMAccountName"
std::string_view Name(HistoryOnReset v);
std::string_view Name(PolicyMode v);
std::string_view Name(LogLevel v);
std::string_view Name(LogFormat v);

// A host name or IP address (an IPv6 address without its brackets) and a port.
struct HostPort {
  std::string host;
  std::uint16_t port = 0;
  bool operator==(const HostPort&) const = default;
};

struct AgentConfig {
  std::string id;  // [A-Za-z0-9._-]{1,64}; names this agent to the cloud and in the audit
  std::filesystem::path state_dir = "/var/lib/wbagent";
  bool operator==(const AgentConfig&) const = default;
};

// An HTTP CONNECT proxy. TLS to the cloud stays end to end through it.
struct ProxyConfig {
  std::string url;  // as written: http://[user@]host:port
  HostPort address;
  std::optional<std::string> user;  // set iff password_file is set
  std::optional<std::filesystem::path> password_file;
  bool operator==(const ProxyConfig&) const = default;
};

struct CloudConfig {
  std::string url;         // as written: wss://host[:port][/path]
  HostPort server;         // from url; port 443 when the url has none
  std::string path = "/";  // from url; "/" when the url has none
  std::filesystem::path ca_file;
  std::optional<ProxyConfig> proxy;
  TlsVersion min_tls = TlsVersion::kTls13;
  // SHA-256 of the server certificate's SubjectPublicKeyInfo, decoded from base64.
  std::optional<std::array<std::uint8_t, 32>> spki_pin;
  std::chrono::seconds connect_timeout{10};
  std::chrono::seconds heartbeat_interval{30};
  bool operator==(const CloudConfig&) const = default;
};

// One server of a directory. Plaintext LDAP is never used: kStartTls means the connection
// must complete StartTLS (with CA verification) before anything else is sent.
struct LdapUrl {
  std::string url;  // as written
  LdapTransport transport = LdapTransport::kLdaps;
  HostPort address;  // port 636 (ldaps) or 389 (ldap) when the url has none
  bool operator==(const LdapUrl&) const = default;
};

// Which accounts of a directory requests may manage (docs/policy.md, "Scope"). DNs are
// checked to parse (ldap/dn.h) and kept as written; the policy engine compares them as DNs.
struct ScopeConfig {
  std::vector<std::string> allowed_subtrees;  // empty: anywhere under base_dn
  std::string filter;                         // RFC 4515, evaluated by the directory; "": none
  std::vector<std::string> denied_groups;     // members, nested included, are denied
  std::vector<std::string> protected_dns;     // these accounts, and accounts below them
  bool protect_admin_count = true;            // AD adminCount=1 is protected (AD only)
  bool allow_protected = false;  // protected accounts allowed, with privileged verification
  std::vector<std::string> privileged_groups;  // members need privileged verification
  // Admin requests only: requester ids allowed, exact or a prefix ending in '*'; empty: any.
  std::vector<std::string> admin_requesters;
  std::optional<PolicyMode> mode;  // unset: policy.mode
  bool operator==(const ScopeConfig&) const = default;
};

// Local password rules (docs/policy.md, "Password rules"): [policy.password],
// [policy.password.admin], [directory.password], [directory.password.admin]. A number 0 is
// "off". Lengths count Unicode code points of the UTF-8 password, not bytes.
struct PasswordRulesConfig {
  int min_length = 0;
  int max_length = 0;
  int min_classes = 0;               // of upper, lower, digit, symbol, other (0-5)
  std::string forbidden_characters;  // UTF-8; each code point is forbidden
  int max_repeated = 0;              // longest run of one character allowed
  bool not_same_as_old = false;      // change operations only
  bool no_name_parts = false;        // AD's name-token rule
  // Read by the policy engine at Open; LoadConfig checks only that it is a readable regular
  // file of at most kMaxBannedWordsFileBytes.
  std::optional<std::filesystem::path> banned_words_file;
  int banned_min_score = 5;
  // The caller looks passwords up in it (breached::List); checked here to exist, be readable
  // and not be writable by others.
  std::optional<std::filesystem::path> breached_file;
  std::int64_t breached_min_count = 1;
  std::optional<PolicyMode> mode;  // unset: policy.mode
  bool operator==(const PasswordRulesConfig&) const = default;
};

// The banned-words file's limits: its size (checked by LoadConfig) and its number of terms
// (checked by the policy engine when it reads the file).
inline constexpr std::uintmax_t kMaxBannedWordsFileBytes = 10u * 1024 * 1024;
inline constexpr std::size_t kMaxBannedWords = 1'000'000;

struct DirectoryConfig {
  std::string name;  // unique across directories
  DirectoryKind kind = DirectoryKind::kActiveDirectory;
  std::vector<LdapUrl> urls;  // never empty; tried in this order (failover)
  std::filesystem::path ca_file;
  BindMethod bind_method = BindMethod::kSimple;
  std::optional<std::string> bind_dn;  // set iff bind_method is kSimple
  // Where the bind password is read from: the file named by bind_password_file, or for
  // bind_password_credential, $CREDENTIALS_DIRECTORY/NAME under systemd and otherwise the
  // source file that the unit's LoadCredential= names. Set iff bind_method is kSimple, except
  // with SecretChecks::kSkip outside systemd, where a credential is left unresolved.
  std::optional<std::filesystem::path> bind_password_file;
  // The systemd credential named by bind_password_credential (e.g. "ad-bind"), if that key was
  // used instead of bind_password_file.
  std::optional<std::string> bind_password_credential;
  // Both set or both unset. Required for kSaslExternal; with kSimple they are presented as
  // the TLS client certificate to servers that ask for one.
  std::optional<std::filesystem::path> client_cert_file;
  std::optional<std::filesystem::path> client_key_file;
  std::string base_dn;                             // where user lookups search
  std::vector<std::string> upn_suffixes;           // lower-cased, e.g. "corp.example.com"
  std::vector<std::string> base_dns;               // routes requests that name a user by DN
  std::vector<LookupAttribute> lookup_attributes;  // never empty; default depends on kind
  // Meaningful for kActiveDirectory only; kEnforce is refused for kOpenLdap.
  HistoryOnReset history_on_reset = HistoryOnReset::kWhenSupported;
  // OpenLDAP only: the ppolicy entry that applies to users without a pwdPolicySubentry (the
  // overlay's olcPPolicyDefault, which lives in cn=config where the agent cannot read it).
  std::string ppolicy_default_dn;  // empty: unknown
  std::chrono::seconds connect_timeout{5};
  std::chrono::seconds operation_timeout{10};
  int pool_size = 4;
  ScopeConfig scope;  // [directory.scope]: both kinds of request
  // [directory.admin_scope]: admin requests, instead of `scope`; unset: `scope` for both.
  std::optional<ScopeConfig> admin_scope;
  // [directory.password] and [directory.password.admin]: they come before the policy's tables
  // (the precedence is at policy::Policy::CheckPassword); a table applies whole, no key-by-key
  // merge.
  std::optional<PasswordRulesConfig> password;
  std::optional<PasswordRulesConfig> admin_password;
  bool operator==(const DirectoryConfig&) const = default;
};

// The verification methods the cloud may name in a request's requester.verified_by
// (docs/protocol.md, "Verification methods"). Config lists are checked against them.
inline constexpr std::array<std::string_view, 8> kVerificationMethods = {
    "email",
    "sms",
    "voice_call",
    "security_questions",
    "authenticator_notification",
    "authenticator_code",
    "fido2",
    "admin_approval"};

// How the requester must have been verified (docs/policy.md, "Verification").
struct VerificationConfig {
  int min_methods = 1;  // distinct known methods
  // Methods that count only alongside a method not in this list.
  std::vector<std::string> weak_methods = {"security_questions"};
  // For protected accounts (allow_protected) and members of privileged_groups: at least one.
  std::vector<std::string> privileged_methods;
  std::optional<PolicyMode> mode;  // unset: policy.mode
  bool operator==(const VerificationConfig&) const = default;
};

// A count per window; count 0 is no limit.
struct RateLimit {
  int count = 0;
  std::chrono::seconds window{0};
  bool operator==(const RateLimit&) const = default;
};

struct RateLimitsConfig {
  RateLimit per_account;
  RateLimit per_requester;
  RateLimit overall;               // passing it trips the breaker
  std::optional<PolicyMode> mode;  // unset: policy.mode
  bool operator==(const RateLimitsConfig&) const = default;
};

struct PolicyConfig {
  PolicyMode mode = PolicyMode::kEnforce;
  VerificationConfig self_verification;  // [policy.verification]
  // [policy.verification.admin]; the defaults differ: min_methods 0 (the administrator signed in
  // to the cloud's console; admin_requesters says who may ask).
  VerificationConfig admin_verification{.min_methods = 0};
  RateLimitsConfig rate_limits;
  PasswordRulesConfig self_password;                  // [policy.password]
  std::optional<PasswordRulesConfig> admin_password;  // [policy.password.admin]; unset: self
  bool operator==(const PolicyConfig&) const = default;
};

struct QueueConfig {
  int max_pending = 10000;            // requests received but not terminal; more are refused
  int max_in_flight = 8;              // announced to the cloud; <= max_pending
  std::chrono::hours retention{168};  // how long terminal records are kept
  bool operator==(const QueueConfig&) const = default;
};

struct AuditConfig {
  std::filesystem::path file;      // default: <state_dir>/audit/audit.jsonl
  std::filesystem::path key_file;  // default: <state_dir>/audit.key; may not exist yet
  int rotate_size_mb = 64;         // MiB
  bool operator==(const AuditConfig&) const = default;
};

struct LogConfig {
  LogLevel level = LogLevel::kInfo;
  LogFormat format = LogFormat::kAuto;  // kAuto: text on a terminal, JSON lines otherwise
  bool operator==(const LogConfig&) const = default;
};

struct MetricsConfig {
  std::optional<HostPort> listen;  // always a loopback address; unset: no endpoint
  bool operator==(const MetricsConfig&) const = default;
};

// One problem in a config file.
struct ConfigError {
  std::string file;     // the path as passed to LoadConfig
  int line = 0;         // 1-based; 0 when unknown (e.g. the file cannot be read)
  int column = 0;       // 1-based; 0 when unknown
  std::string key;      // dotted path, e.g. "directory[1].urls[0]" or "cloud.url"; "" for syntax
  std::string problem;  // e.g. "unknown key", "expected a string, found an integer"

  // "FILE:LINE:COL: KEY: problem"; LINE:COL is left out when unknown, "KEY: " when empty.
  std::string ToString() const;
  bool operator==(const ConfigError&) const = default;
};
using ConfigErrors = std::vector<ConfigError>;

// One ToString() per line, in order.
std::string FormatErrors(const ConfigErrors& errors);

struct Config {
  std::filesystem::path file;  // the absolute path the config was loaded from
  AgentConfig agent;
  CloudConfig cloud;
  std::vector<DirectoryConfig> directories;  // "[[directory]]" in the file; never empty
  PolicyConfig policy;
  QueueConfig queue;
  AuditConfig audit;
  LogConfig log;
  MetricsConfig metrics;
  // Keys that were accepted but have no effect yet, because what they configure is not built
  // (none today; metrics.listen was until the endpoint was built), each located like a problem,
  // with `problem` saying so. Not problems: LoadConfig still returns the Config, check-config
  // prints them as warnings without changing its exit status, and the daemon logs them at
  // start and reload. A key is never ignored silently.
  ConfigErrors warnings;
  // A reload compares the old and new Config to see what changed.
  bool operator==(const Config&) const = default;
};

// Whether LoadConfig examines the secret files the config names.
enum class SecretChecks {
  kExamine,  // check-config and run: every secret must be there and pass the permission rule
  // status, queue, audit and register, which never read a directory's secret: they must work
  // where a secret cannot be seen (a credential outside the unit, a root-only file)
  kSkip,
};

// Where a credential named by bind_password_credential is found.
//   - Under systemd (credentials_directory set, from $CREDENTIALS_DIRECTORY): that directory's
//     file of that name.
//   - Otherwise (an administrator running check-config): the source file of the
//     LoadCredential=NAME:PATH line in `unit_name`, as systemd would load it from `unit_path`
//     (the unit file itself and its NAME.d/*.conf drop-ins). When there is no such line, or
//     its source is not an absolute path, the key's error says so.
struct LoadOptions {
  SecretChecks secrets = SecretChecks::kExamine;
  std::filesystem::path credentials_directory;  // empty: not running under systemd
  std::vector<std::filesystem::path> unit_path = DefaultUnitPath();
  std::string unit_name = "wbagent.service";

  // systemd's system unit search path, highest priority first (systemd.unit(5)).
  static std::vector<std::filesystem::path> DefaultUnitPath();
  // From the environment: $CREDENTIALS_DIRECTORY, and $SYSTEMD_UNIT_PATH as systemd reads it
  // (directories separated by ':'; a trailing ':' appends the default path).
  static LoadOptions FromEnvironment(SecretChecks secrets);
};

// Reads, validates and returns the config in `file`. On failure, the errors are sorted by
// line and column and there is at least one. Never throws.
Result<Config, ConfigErrors> LoadConfig(const std::filesystem::path& file,
                                        const LoadOptions& options);
// With LoadOptions{}: secrets examined, no credentials directory, the default unit path.
Result<Config, ConfigErrors> LoadConfig(const std::filesystem::path& file);

}  // namespace wb::config
