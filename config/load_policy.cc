// [policy] and the per-directory [directory.scope] / [directory.admin_scope] /
// [directory.password] tables: what the policy engine (policy/policy.h) enforces. docs/policy.md
// explains the model.

#include <algorithm>
#include <charconv>

#include "config/internal/enum_names.h"
#include "config/internal/files.h"
#include "config/internal/sections.h"

namespace wb::config::internal {
namespace {

std::optional<PolicyMode> GetMode(TableReader& table) {
  auto mode = table.GetEnum("mode", kPolicyModeNames, Presence::kOptional);
  if (!mode) return std::nullopt;
  return mode->value;
}

// Every entry must parse as a DN; the valid ones are kept.
std::vector<std::string> GetDns(TableReader& table, std::string_view key) {
  std::vector<std::string> out;
  auto dns = table.GetStringArray(key, Presence::kOptional, /*allow_empty=*/true);
  if (!dns) return out;
  for (const auto& dn : *dns) {
    if (Expect(table, dn, CheckDn(dn.value))) out.push_back(dn.value);
  }
  return out;
}

// A filter the directory evaluates. Only its shape is checked here (one parenthesised filter,
// balanced, no NUL); the directory's answer to a filter it refuses is an error at request time,
// which `wbagent policy test` shows before a user meets it.
Problem CheckFilter(std::string_view filter) {
  if (filter.empty() || filter.front() != '(' || filter.back() != ')') {
    return "must be one LDAP filter in parentheses, e.g. \"(employeeType=staff)\"";
  }
  int depth = 0;
  for (std::size_t i = 0; i < filter.size(); ++i) {
    const char c = filter[i];
    if (c == '\0') return std::string("must not contain a NUL character");
    if (c == '\\') {
      ++i;  // an escaped character (RFC 4515 \XX) is not a parenthesis
      continue;
    }
    if (c == '(') ++depth;
    if (c == ')' && --depth < 0) break;
    if (depth == 0 && i + 1 < filter.size()) {
      return "must be one LDAP filter in parentheses; wrap several in (&...) or (|...)";
    }
  }
  if (depth != 0) return std::string("has unbalanced parentheses");
  return std::nullopt;
}

// Requester ids: exact, or a prefix ending in '*' (the only wildcard, and only at the end).
std::vector<std::string> GetRequesters(TableReader& table) {
  std::vector<std::string> out;
  auto ids = table.GetStringArray("admin_requesters", Presence::kOptional, true);
  if (!ids) return out;
  for (const auto& id : *ids) {
    const auto star = id.value.find('*');
    Problem p;
    if (id.value.empty() || id.value == "*") {
      p = "must name a requester id or a prefix ending in '*' (leave the key out to allow any)";
    } else if (star != std::string::npos && star + 1 != id.value.size()) {
      p = "'*' is allowed only at the end, as a prefix match";
    }
    if (Expect(table, id, p)) out.push_back(id.value);
  }
  return out;
}

ScopeConfig LoadScope(TableReader& scope, std::optional<DirectoryKind> kind,
                      const ScopeConfig& defaults) {
  ScopeConfig out = defaults;
  out.allowed_subtrees = GetDns(scope, "allowed_subtrees");
  if (auto filter = scope.GetString("filter", Presence::kOptional)) {
    // "" is no filter, as when the key is left out.
    if (filter->value.empty() || Expect(scope, *filter, CheckFilter(filter->value))) {
      out.filter = filter->value;
    }
  }
  out.denied_groups = GetDns(scope, "denied_groups");
  out.protected_dns = GetDns(scope, "protected_dns");
  out.privileged_groups = GetDns(scope, "privileged_groups");
  if (auto admin_count = scope.GetBool("protect_admin_count", Presence::kOptional)) {
    if (admin_count->value && kind == DirectoryKind::kOpenLdap) {
      scope.diag().Add(admin_count->at, admin_count->key,
                       "is only meaningful with kind = \"ad\" (adminCount is an AD attribute); "
                       "list protected accounts in protected_dns");
    }
    out.protect_admin_count = admin_count->value;
  }
  if (auto allow = scope.GetBool("allow_protected", Presence::kOptional)) {
    out.allow_protected = allow->value;
  }
  out.admin_requesters = GetRequesters(scope);
  out.mode = GetMode(scope);
  scope.ReportUnknownKeys();
  return out;
}

// "5/1h": a count, a slash, a number and a unit (s, m, h, d).
std::optional<RateLimit> ParseRateLimit(std::string_view text) {
  const auto slash = text.find('/');
  if (slash == std::string_view::npos || slash == 0 || text.size() < slash + 3) return std::nullopt;
  RateLimit limit;
  auto [count_end, count_error] = std::from_chars(text.data(), text.data() + slash, limit.count);
  if (count_error != std::errc() || count_end != text.data() + slash || limit.count < 1) {
    return std::nullopt;
  }
  std::int64_t amount = 0;
  const char* begin = text.data() + slash + 1;
  const char* unit = text.data() + text.size() - 1;
  auto [amount_end, amount_error] = std::from_chars(begin, unit, amount);
  if (amount_error != std::errc() || amount_end != unit || amount < 1) return std::nullopt;
  std::int64_t unit_seconds = 0;
  switch (*unit) {
    case 's':
      unit_seconds = 1;
      break;
    case 'm':
      unit_seconds = 60;
      break;
    case 'h':
      unit_seconds = 3600;
      break;
    case 'd':
      unit_seconds = 86400;
      break;
    default:
      return std::nullopt;
  }
  // Saturated rather than multiplied past the range ("5/213503982334602d" once wrapped to a
  // window of 17 hours, and a larger one to a negative window): the caller refuses it as longer
  // than the longest window.
  const std::int64_t seconds = amount > std::numeric_limits<std::int64_t>::max() / unit_seconds
                                   ? std::numeric_limits<std::int64_t>::max()
                                   : amount * unit_seconds;
  limit.window = std::chrono::seconds(seconds);
  return limit;
}

// The queue keeps finished requests for queue.retention (at least one hour); the limits are
// counted from them after a restart, so a window may not be longer than seven days, the
// default retention. A window longer than a shorter configured retention is not refused: the
// docs say it cannot count what the queue no longer holds (configuration.md, policy.md).
constexpr std::chrono::seconds kMaxRateWindow = std::chrono::hours(24 * 7);

void LoadRateLimit(TableReader& table, std::string_view key, RateLimit& out) {
  auto text = table.GetString(key, Presence::kOptional);
  if (!text) return;
  auto limit = ParseRateLimit(text->value);
  if (!limit) {
    table.diag().Add(text->at, text->key,
                     "must be a count per window such as \"5/1h\" (units s, m, h, d); found " +
                         Quote(text->value));
    return;
  }
  if (limit->window > kMaxRateWindow) {
    table.diag().Add(text->at, text->key, "the window must be 7 days or shorter");
    return;
  }
  out = *limit;
}

std::vector<std::string> GetMethods(TableReader& table, std::string_view key,
                                    std::vector<std::string> defaults) {
  auto methods = table.GetStringArray(key, Presence::kOptional, /*allow_empty=*/true);
  if (!methods) return defaults;
  std::vector<std::string> out;
  for (const auto& m : *methods) {
    const bool known = std::find(kVerificationMethods.begin(), kVerificationMethods.end(),
                                 m.value) != kVerificationMethods.end();
    std::string problem = "unknown verification method " + Quote(m.value) + "; known: ";
    for (std::size_t i = 0; i < kVerificationMethods.size(); ++i) {
      if (i > 0) problem += ", ";
      problem += kVerificationMethods[i];
    }
    if (Expect(table, m, known ? Problem() : Problem(problem))) out.push_back(m.value);
  }
  return out;
}

void LoadVerification(TableReader& table, VerificationConfig& out) {
  const auto count = static_cast<std::int64_t>(kVerificationMethods.size());
  if (auto n = table.GetInteger("min_methods", Presence::kOptional, 0, count)) {
    out.min_methods = static_cast<int>(n->value);
  }
  out.weak_methods = GetMethods(table, "weak_methods", out.weak_methods);
  out.privileged_methods = GetMethods(table, "privileged_methods", out.privileged_methods);
  out.mode = GetMode(table);
}

// The largest count a breached list can hold for one password is far below this; it only
// keeps the value in range of the engine's types.
constexpr std::int64_t kMaxBreachedCount = std::int64_t{1} << 40;
// Longer passwords than this are refused by every table that sets a maximum; the keys'
// ranges stop here so that a typo (an extra digit) is caught.
constexpr std::int64_t kMaxPasswordLength = 1024;
// = protocol::kMaxForbiddenBytes: the policy summary must be able to carry the list.
constexpr std::size_t kMaxForbiddenCharactersBytes = 1024;

std::optional<int> GetSmallInt(TableReader& table, std::string_view key, std::int64_t min,
                               std::int64_t max) {
  auto n = table.GetInteger(key, Presence::kOptional, min, max);
  if (!n) return std::nullopt;
  return static_cast<int>(n->value);
}

std::string AtLeastMinLength(int min_length) {
  std::string problem = "must be 0 (no maximum) or at least min_length (";
  problem += std::to_string(min_length);
  problem += ')';
  return problem;
}

// One [*.password] table; keys left out are off (or the documented default).
PasswordRulesConfig LoadPasswordRules(TableReader& table, const LoadContext& ctx) {
  PasswordRulesConfig out;
  if (auto n = GetSmallInt(table, "min_length", 0, kMaxPasswordLength)) out.min_length = *n;
  if (auto max_length =
          table.GetInteger("max_length", Presence::kOptional, 0, kMaxPasswordLength)) {
    if (max_length->value != 0 && max_length->value < out.min_length) {
      table.diag().Add(max_length->at, max_length->key, AtLeastMinLength(out.min_length));
    } else {
      out.max_length = static_cast<int>(max_length->value);
    }
  }
  if (auto n = GetSmallInt(table, "min_classes", 0, 5)) out.min_classes = *n;
  if (auto chars = table.GetString("forbidden_characters", Presence::kOptional)) {
    // The policy summary carries the list to the user's page (protocol::PasswordRulesSummary).
    const bool control = std::any_of(chars->value.begin(), chars->value.end(), [](char c) {
      return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
    });
    if (chars->value.size() > kMaxForbiddenCharactersBytes || control) {
      table.diag().Add(chars->at, chars->key,
                       "must be at most 1024 bytes of characters that are not control "
                       "characters");
    } else {
      out.forbidden_characters = chars->value;
    }
  }
  if (auto n = GetSmallInt(table, "max_repeated", 0, kMaxPasswordLength)) out.max_repeated = *n;
  if (auto b = table.GetBool("not_same_as_old", Presence::kOptional))
    out.not_same_as_old = b->value;
  if (auto b = table.GetBool("no_name_parts", Presence::kOptional)) out.no_name_parts = b->value;
  if (auto file = GetPath(table, "banned_words_file", Presence::kOptional, ctx)) {
    if (Expect(table, *file, CheckListFile(file->value, kMaxBannedWordsFileBytes))) {
      out.banned_words_file = file->value;
    }
  }
  if (auto n = GetSmallInt(table, "banned_min_score", 1, kMaxPasswordLength)) {
    out.banned_min_score = *n;
  }
  if (auto file = GetPath(table, "breached_file", Presence::kOptional, ctx)) {
    if (Expect(table, *file, CheckListFile(file->value, UINTMAX_MAX))) {
      out.breached_file = file->value;
    }
  }
  if (auto n = table.GetInteger("breached_min_count", Presence::kOptional, 1, kMaxBreachedCount)) {
    out.breached_min_count = n->value;
  }
  out.mode = GetMode(table);
  return out;
}

bool SetsAnyRule(const PasswordRulesConfig& rules) {
  return rules.min_length > 0 || rules.max_length > 0 || rules.min_classes > 0 ||
         !rules.forbidden_characters.empty() || rules.max_repeated > 0 || rules.not_same_as_old ||
         rules.no_name_parts || rules.banned_words_file.has_value() ||
         rules.breached_file.has_value();
}

// A table that applies is used whole, so one written with only `mode` (or only the banned or
// breached thresholds) replaces the tables below it with no rule at all, for every request it
// serves: seldom what "log_only for this directory" meant.
void WarnIfNoRule(TableReader& table, const PasswordRulesConfig& rules) {
  if (SetsAnyRule(rules)) return;
  table.diag().Warn(table.where(), table.path(),
                    "sets no password rule, and the table that applies is used whole (nothing "
                    "is inherited): the requests it serves are checked against no rule at all; "
                    "set the rules in it too, or remove it");
}

// A [*.password] table and its [*.password.admin] sub-table. A file with only
// [directory.password.admin] has an empty [directory.password] that no one wrote: it is not a
// table of rules (which would replace [policy.password] for self-service with no rules at all).
void LoadPasswordTables(TableReader& parent, const LoadContext& ctx,
                        std::optional<PasswordRulesConfig>& self,
                        std::optional<PasswordRulesConfig>& admin) {
  auto table = OpenTable(parent, "password", Presence::kOptional);
  if (!table) return;
  if (table->HasKeysBesides("admin")) {
    self = LoadPasswordRules(*table, ctx);
    // [policy.password] replaces nothing: with no rule it is the default, no rules.
    if (parent.path() != "policy") WarnIfNoRule(*table, *self);
  }
  if (auto admin_table = OpenTable(*table, "admin", Presence::kOptional)) {
    admin = LoadPasswordRules(*admin_table, ctx);
    WarnIfNoRule(*admin_table, *admin);
    admin_table->ReportUnknownKeys();
  }
  table->ReportUnknownKeys();
}

// admin_requesters in [directory.scope] names who may make admin requests, but an
// [directory.admin_scope] replaces the scope for admin requests whole, so the key would restrict
// nothing: any admin requester was let through while the file seemed to say otherwise.
void RefuseShadowedAdminRequesters(std::optional<TableReader>& scope) {
  if (!scope) return;
  const toml::value* ids = scope->Get("admin_requesters", Presence::kOptional);
  if (ids == nullptr) return;
  scope->diag().Add(LocationOf(*ids), scope->KeyPath("admin_requesters"),
                    "has no effect: this directory has an admin_scope, which replaces the scope "
                    "for admin requests whole (nothing is inherited); move admin_requesters "
                    "into [directory.admin_scope]");
}

}  // namespace

void LoadScopes(TableReader& dir, std::optional<DirectoryKind> kind, const LoadContext& ctx,
                DirectoryConfig& out) {
  // adminCount is protected by default where it exists.
  out.scope.protect_admin_count = kind != DirectoryKind::kOpenLdap;
  std::optional<TableReader> scope = OpenTable(dir, "scope", Presence::kOptional);
  if (scope) out.scope = LoadScope(*scope, kind, out.scope);
  if (auto admin = OpenTable(dir, "admin_scope", Presence::kOptional)) {
    ScopeConfig defaults;
    defaults.protect_admin_count = kind != DirectoryKind::kOpenLdap;
    out.admin_scope = LoadScope(*admin, kind, defaults);
    RefuseShadowedAdminRequesters(scope);
  }
  LoadPasswordTables(dir, ctx, out.password, out.admin_password);
}

namespace {

// The value of `key` in the table `table` holds, or nullptr.
const toml::value* Find(const toml::value& table, std::string_view key) {
  if (!table.is_table()) return nullptr;
  const toml::table& t = table.as_table(std::nothrow);
  auto it = t.find(std::string(key));
  return it == t.end() ? nullptr : &it->second;
}

// One scope table of one directory, and the verification tables of the requests it serves.
struct ServedScope {
  std::string_view table;  // "scope" or "admin_scope"
  const ScopeConfig& scope;
  std::vector<std::pair<std::string_view, const VerificationConfig*>> verifications;
};

void WarnScope(const toml::value& dir, const std::string& dir_path, const ServedScope& served,
               PolicyMode mode, Diagnostics& diag) {
  const toml::value* table = Find(dir, served.table);
  if (table == nullptr) return;
  struct Rule {
    std::string_view key;
    bool set;
    std::string_view accounts;
  };
  const Rule rules[] = {
      // Only where some account is protected: adminCount (AD) or protected_dns.
      {"allow_protected",
       served.scope.allow_protected &&
           (served.scope.protect_admin_count || !served.scope.protected_dns.empty()),
       "protected accounts"},
      {"privileged_groups", !served.scope.privileged_groups.empty(),
       "members of privileged_groups"},
  };
  for (const Rule& rule : rules) {
    const toml::value* value = Find(*table, rule.key);
    if (!rule.set || value == nullptr) continue;
    for (const auto& [verification_table, verification] : served.verifications) {
      if (!verification->privileged_methods.empty()) continue;
      // As the engine decides it: the verification table's mode, else policy.mode.
      const bool enforced = verification->mode.value_or(mode) == PolicyMode::kEnforce;
      std::string what = "every ";
      what += verification_table == "policy.verification" ? "self-service" : "admin";
      what += " request for ";
      what += rule.accounts;
      what += enforced ? " is denied: [" : " would be denied (log_only: allowed and logged now): [";
      what += verification_table;
      what +=
          "] names no privileged_methods, and one of them is required; set it to the "
          "methods that may reset such accounts";
      if (rule.key == "privileged_groups") what += " (or use denied_groups to deny them)";
      diag.Warn(LocationOf(*value),
                dir_path + "." + std::string(served.table) + "." + std::string(rule.key), what);
    }
  }
}

}  // namespace

void WarnPrivilegedRulesWithoutMethods(const toml::value& root, const Config& config,
                                       Diagnostics& diag) {
  const toml::value* dirs = Find(root, "directory");
  if (dirs == nullptr || !dirs->is_array()) return;
  const toml::array& tables = dirs->as_array(std::nothrow);
  if (tables.size() != config.directories.size()) return;
  const VerificationConfig& self = config.policy.self_verification;
  const VerificationConfig& admin = config.policy.admin_verification;
  for (std::size_t i = 0; i < tables.size(); ++i) {
    const DirectoryConfig& d = config.directories[i];
    const std::string path = "directory[" + std::to_string(i) + "]";
    ServedScope scope{"scope", d.scope, {{"policy.verification", &self}}};
    // Without an admin_scope, the scope serves admin requests too.
    if (!d.admin_scope) scope.verifications.emplace_back("policy.verification.admin", &admin);
    WarnScope(tables[i], path, scope, config.policy.mode, diag);
    if (d.admin_scope) {
      WarnScope(tables[i], path,
                {"admin_scope", *d.admin_scope, {{"policy.verification.admin", &admin}}},
                config.policy.mode, diag);
    }
  }
}

void LoadPolicy(TableReader& root, const LoadContext& ctx, PolicyConfig& out) {
  std::optional<TableReader> policy = OpenTable(root, "policy", Presence::kOptional);
  if (!policy) return;
  if (auto mode = policy->GetEnum("mode", kPolicyModeNames, Presence::kOptional)) {
    out.mode = mode->value;
  }
  if (auto verification = OpenTable(*policy, "verification", Presence::kOptional)) {
    LoadVerification(*verification, out.self_verification);
    if (auto admin = OpenTable(*verification, "admin", Presence::kOptional)) {
      LoadVerification(*admin, out.admin_verification);
      admin->ReportUnknownKeys();
    }
    verification->ReportUnknownKeys();
  }
  if (auto limits = OpenTable(*policy, "rate_limits", Presence::kOptional)) {
    LoadRateLimit(*limits, "per_account", out.rate_limits.per_account);
    LoadRateLimit(*limits, "per_requester", out.rate_limits.per_requester);
    LoadRateLimit(*limits, "overall", out.rate_limits.overall);
    out.rate_limits.mode = GetMode(*limits);
    limits->ReportUnknownKeys();
  }
  std::optional<PasswordRulesConfig> self_password;
  LoadPasswordTables(*policy, ctx, self_password, out.admin_password);
  if (self_password) out.self_password = std::move(*self_password);
  policy->ReportUnknownKeys();
}

}  // namespace wb::config::internal
