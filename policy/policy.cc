#include "policy/policy.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <deque>
#include <initializer_list>
#include <set>

#include "breached/breached.h"
#include "ldap/dn.h"
#include "policy/password_rules.h"

namespace wb::policy {
namespace {

using config::PolicyMode;

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += ", ";
    out += item;
  }
  return out.empty() ? "none" : out;
}

bool Contains(const std::vector<std::string>& items, std::string_view item) {
  return std::find(items.begin(), items.end(), item) != items.end();
}

// A scope table with its DNs parsed once, at Open.
struct Scope {
  std::string name;  // "directory[corp].scope" or "directory[corp].admin_scope"
  std::vector<ldap::Dn> allowed_subtrees;
  std::string filter;
  std::vector<std::string> denied_groups;
  std::vector<ldap::Dn> protected_dns;
  bool protect_admin_count = false;
  bool allow_protected = false;
  std::vector<std::string> privileged_groups;
  std::vector<std::string> admin_requesters;
  bool enforced = true;
};

struct Verification {
  std::string name;  // "policy.verification" or "policy.verification.admin"
  config::VerificationConfig config;
  bool enforced = true;
};

bool Enforced(std::optional<PolicyMode> own, PolicyMode overall) {
  return own.value_or(overall) == PolicyMode::kEnforce;
}

Result<std::vector<ldap::Dn>> ParseDns(const std::vector<std::string>& texts) {
  std::vector<ldap::Dn> out;
  for (const auto& text : texts) {
    auto dn = ldap::Dn::Parse(text);
    if (!dn.ok()) return dn.error();
    out.push_back(std::move(*dn));
  }
  return out;
}

Result<Scope> CompileScope(const config::ScopeConfig& c, std::string name, PolicyMode overall) {
  Scope s;
  s.name = std::move(name);
  auto subtrees = ParseDns(c.allowed_subtrees);
  if (!subtrees.ok()) return subtrees.error().WithContext(s.name + ".allowed_subtrees");
  s.allowed_subtrees = std::move(*subtrees);
  auto protected_dns = ParseDns(c.protected_dns);
  if (!protected_dns.ok()) return protected_dns.error().WithContext(s.name + ".protected_dns");
  s.protected_dns = std::move(*protected_dns);
  s.filter = c.filter;
  s.denied_groups = c.denied_groups;
  s.protect_admin_count = c.protect_admin_count;
  s.allow_protected = c.allow_protected;
  s.privileged_groups = c.privileged_groups;
  s.admin_requesters = c.admin_requesters;
  s.enforced = Enforced(c.mode, overall);
  return s;
}

bool WithinAny(const ldap::Dn& dn, const std::vector<ldap::Dn>& bases) {
  return std::any_of(bases.begin(), bases.end(),
                     [&](const ldap::Dn& base) { return dn.IsWithin(base); });
}

bool RequesterAllowed(const std::vector<std::string>& allowed, std::string_view id) {
  if (allowed.empty()) return true;
  return std::any_of(allowed.begin(), allowed.end(), [&](const std::string& a) {
    if (!a.empty() && a.back() == '*') {
      return id.substr(0, a.size() - 1) == std::string_view(a).substr(0, a.size() - 1);
    }
    return id == a;
  });
}

// The newest timestamps of one key, at most `keep` (a count only ever needs to know whether
// `limit` requests fall in the window, so older ones can go: memory stays bounded by the limit
// per key, also in log-only mode, where requests past the limit still go through).
class Window {
 public:
  void Add(WallTime t, std::size_t keep) {
    times_.insert(std::upper_bound(times_.begin(), times_.end(), t), t);
    while (times_.size() > keep) times_.pop_front();
  }
  std::size_t CountSince(WallTime cutoff) const {
    return static_cast<std::size_t>(times_.end() -
                                    std::lower_bound(times_.begin(), times_.end(), cutoff));
  }
  bool EmptySince(WallTime cutoff) const { return times_.empty() || times_.back() < cutoff; }

 private:
  std::deque<WallTime> times_;
};

class KeyedWindows {
 public:
  void Add(const std::string& key, WallTime t, std::size_t keep) { windows_[key].Add(t, keep); }
  std::size_t CountSince(const std::string& key, WallTime cutoff) const {
    auto it = windows_.find(key);
    return it == windows_.end() ? 0 : it->second.CountSince(cutoff);
  }
  // Forgets keys with nothing left in the window, so that the map stays bounded by the
  // requests of one window.
  void Sweep(WallTime cutoff) {
    std::erase_if(windows_, [&](const auto& entry) { return entry.second.EmptySince(cutoff); });
  }

 private:
  std::map<std::string, Window, std::less<>> windows_;
};

constexpr std::size_t kSweepEvery = 1024;

// A password table with its forbidden characters decoded and its banned words read, at Open.
struct PasswordTable {
  std::string name;  // "policy.password", "directory[corp].password.admin", ...
  config::PasswordRulesConfig config;
  std::u32string forbidden;
  std::shared_ptr<const internal::BannedWords> banned;  // null: no banned_words_file
  std::shared_ptr<const breached::List> breached;       // null: no breached_file
  bool enforced = true;
  bool AnyOn() const {
    const auto& c = config;
    return c.min_length > 0 || c.max_length > 0 || c.min_classes > 0 || !forbidden.empty() ||
           c.max_repeated > 0 || c.not_same_as_old || c.no_name_parts || banned != nullptr ||
           c.breached_file.has_value();
  }
};

// The banned-words files read and the breached lists mapped at Open, by path: tables that name
// the same file share it.
struct FileCache {
  std::map<std::filesystem::path, std::shared_ptr<const internal::BannedWords>> banned;
  std::map<std::filesystem::path, std::shared_ptr<const breached::List>> breached;
};

Result<PasswordTable> CompilePasswordTable(const config::PasswordRulesConfig& c, std::string name,
                                           PolicyMode overall, FileCache& cache) {
  PasswordTable t;
  t.name = std::move(name);
  t.config = c;
  t.enforced = Enforced(c.mode, overall);
  auto forbidden = internal::DecodeText(c.forbidden_characters);
  if (!forbidden) return InvalidArgument(t.name + ".forbidden_characters: not valid UTF-8");
  t.forbidden = std::move(*forbidden);
  if (c.breached_file) {
    auto& cached = cache.breached[*c.breached_file];
    if (!cached) {
      auto list = breached::List::Open(*c.breached_file);
      if (!list.ok()) return list.error().WithContext(t.name + ".breached_file");
      cached = std::make_shared<const breached::List>(std::move(*list));
    }
    t.breached = cached;
  }
  if (c.banned_words_file) {
    auto& cached = cache.banned[*c.banned_words_file];
    if (!cached) {
      auto words = internal::BannedWords::Load(*c.banned_words_file);
      if (!words.ok()) return words.error().WithContext(t.name + ".banned_words_file");
      cached = std::make_shared<const internal::BannedWords>(std::move(*words));
    }
    t.banned = cached;
  }
  return t;
}

// The rules' names, as the config spells them: a RuleMatch and a RuleInfo share them.
constexpr std::string_view kMinMethods = "min_methods";
constexpr std::string_view kPrivilegedMethods = "privileged_methods";
constexpr std::string_view kPerAccount = "policy.rate_limits.per_account";
constexpr std::string_view kPerRequester = "policy.rate_limits.per_requester";
constexpr std::string_view kOverall = "policy.rate_limits.overall";
constexpr std::string_view kAllowedSubtrees = "allowed_subtrees";
constexpr std::string_view kFilter = "filter";
constexpr std::string_view kDeniedGroups = "denied_groups";
constexpr std::string_view kProtectAdminCount = "protect_admin_count";
constexpr std::string_view kProtectedDns = "protected_dns";
constexpr std::string_view kAdminRequesters = "admin_requesters";

std::string RuleName(const std::string& table, std::string_view key) {
  std::string name = table;
  name += '.';
  name += key;
  return name;
}

}  // namespace

struct Policy::Compiled {
  struct Directory {
    std::string name;
    Scope scope;
    std::optional<Scope> admin_scope;
    std::optional<PasswordTable> password;
    std::optional<PasswordTable> admin_password;
    const Scope& For(protocol::RequesterType type) const {
      return type == protocol::RequesterType::kAdmin && admin_scope ? *admin_scope : scope;
    }
  };
  std::vector<Directory> directories;
  Verification self_verification;
  Verification admin_verification;
  config::RateLimitsConfig limits;
  bool limits_enforced = true;
  PasswordTable self_password;
  std::optional<PasswordTable> admin_password;

  const Directory* Find(std::string_view name) const {
    for (const auto& d : directories) {
      if (d.name == name) return &d;
    }
    return nullptr;
  }
  const Verification& VerificationFor(protocol::RequesterType type) const {
    return type == protocol::RequesterType::kAdmin ? admin_verification : self_verification;
  }
  // The precedence policy.h documents at CheckPassword: the directory's tables before the
  // policy's, and at each level the admin table before the self-service one.
  const PasswordTable& PasswordFor(std::string_view directory, protocol::RequesterType type) const {
    const bool admin = type == protocol::RequesterType::kAdmin;
    if (const Directory* d = Find(directory)) {
      if (admin && d->admin_password) return *d->admin_password;
      if (d->password) return *d->password;
    }
    if (admin && admin_password) return *admin_password;
    return self_password;
  }
};

struct Policy::Counts {
  KeyedWindows per_account;
  KeyedWindows per_requester;
  Window overall;
  std::size_t added = 0;
};

// --- Names ------------------------------------------------------------------------------

std::string_view CodeName(Code code) {
  switch (code) {
    case Code::kNotInAllowedSubtree:
      return "not_in_allowed_subtree";
    case Code::kFilterNotMatched:
      return "filter_not_matched";
    case Code::kDeniedGroup:
      return "denied_group";
    case Code::kProtectedAccount:
      return "protected_account";
    case Code::kVerificationInsufficient:
      return "verification_insufficient";
    case Code::kRequesterNotAllowed:
      return "requester_not_allowed";
    case Code::kRateLimited:
      return "rate_limited";
    case Code::kBreakerTripped:
      return "breaker_tripped";
    case Code::kBreakerRejected:
      return "breaker_rejected";
    case Code::kPasswordTooShort:
      return "password_too_short";
    case Code::kPasswordTooLong:
      return "password_too_long";
    case Code::kPasswordClasses:
      return "password_classes";
    case Code::kPasswordForbiddenCharacter:
      return "password_forbidden_character";
    case Code::kPasswordRepeated:
      return "password_repeated";
    case Code::kPasswordSameAsOld:
      return "password_same_as_old";
    case Code::kPasswordContainsName:
      return "password_contains_name";
    case Code::kPasswordBanned:
      return "password_banned";
    case Code::kPasswordBreached:
      return "password_breached";
  }
  return "";
}

std::optional<Code> ParseCode(std::string_view name) {
  for (Code c :
       {Code::kNotInAllowedSubtree, Code::kFilterNotMatched, Code::kDeniedGroup,
        Code::kProtectedAccount, Code::kVerificationInsufficient, Code::kRequesterNotAllowed,
        Code::kRateLimited, Code::kBreakerTripped, Code::kBreakerRejected, Code::kPasswordTooShort,
        Code::kPasswordTooLong, Code::kPasswordClasses, Code::kPasswordForbiddenCharacter,
        Code::kPasswordRepeated, Code::kPasswordSameAsOld, Code::kPasswordContainsName,
        Code::kPasswordBanned, Code::kPasswordBreached}) {
    if (CodeName(c) == name) return c;
  }
  return std::nullopt;
}

protocol::UserAction UserActionFor(Code code) {
  using protocol::UserAction;
  switch (code) {
    case Code::kNotInAllowedSubtree:
    case Code::kFilterNotMatched:
      return UserAction::kNotEnabled;
    case Code::kDeniedGroup:
    case Code::kProtectedAccount:
    case Code::kRequesterNotAllowed:
    case Code::kBreakerRejected:
      return UserAction::kContactAdmin;
    case Code::kVerificationInsufficient:
      return UserAction::kCouldNotVerify;
    case Code::kRateLimited:
    case Code::kBreakerTripped:
      return UserAction::kTryLater;
    case Code::kPasswordTooShort:
    case Code::kPasswordTooLong:
    case Code::kPasswordClasses:
    case Code::kPasswordForbiddenCharacter:
    case Code::kPasswordRepeated:
    case Code::kPasswordSameAsOld:
    case Code::kPasswordContainsName:
    case Code::kPasswordBanned:
    case Code::kPasswordBreached:
      return UserAction::kStrongerPassword;
  }
  return UserAction::kContactAdmin;
}

std::string_view VerdictName(Verdict verdict) {
  switch (verdict) {
    case Verdict::kAllow:
      return "allow";
    case Verdict::kDeny:
      return "deny";
    case Verdict::kWouldDeny:
      return "would_deny";
    case Verdict::kHold:
      return "hold";
  }
  return "";
}

const RuleMatch* Decision::deciding() const {
  for (const auto& m : matches) {
    if (m.enforced) return &m;
  }
  return nullptr;
}

namespace {

Decision Decide(std::vector<RuleMatch> matches) {
  Decision d;
  d.matches = std::move(matches);
  if (d.matches.empty()) return d;
  d.verdict = d.deciding() != nullptr ? Verdict::kDeny : Verdict::kWouldDeny;
  return d;
}

// Verification methods as the requester gave them: the distinct known ones, which of those are
// strong (not weak), and the unknown ones (they never count).
struct Methods {
  std::vector<std::string> known;
  std::vector<std::string> strong;
  std::vector<std::string> unknown;
};

Methods Classify(const std::vector<std::string>& verified_by, const config::VerificationConfig& c) {
  Methods m;
  for (const auto& method : verified_by) {
    const bool known =
        std::find(config::kVerificationMethods.begin(), config::kVerificationMethods.end(),
                  method) != config::kVerificationMethods.end();
    auto& list = known ? m.known : m.unknown;
    if (Contains(list, method)) continue;
    list.push_back(method);
    if (known && !Contains(c.weak_methods, method)) m.strong.push_back(method);
  }
  return m;
}

std::optional<RuleMatch> CheckVerification(const Verification& v,
                                           const protocol::Requester& requester) {
  const config::VerificationConfig& c = v.config;
  if (c.min_methods == 0) return std::nullopt;
  const Methods m = Classify(requester.verified_by, c);
  std::string missing;
  if (static_cast<int>(m.known.size()) < c.min_methods) {
    missing = std::to_string(c.min_methods) + " distinct verification methods are required";
  } else if (m.strong.empty()) {
    missing = "at least one method not in weak_methods (" + Join(c.weak_methods) + ") is required";
  } else {
    return std::nullopt;
  }
  std::string reason = missing + "; the requester was verified by: " + Join(m.known);
  if (!m.unknown.empty()) reason += " (not counted, unknown methods: " + Join(m.unknown) + ")";
  return RuleMatch{Code::kVerificationInsufficient, RuleName(v.name, kMinMethods), reason,
                   v.enforced};
}

std::optional<RuleMatch> CheckPrivilegedVerification(const Verification& v,
                                                     const protocol::Requester& requester,
                                                     const std::string& why) {
  const auto& required = v.config.privileged_methods;
  if (required.empty()) {
    // Nothing is "one of" an empty list. Letting every requester through instead would make
    // allow_protected and privileged_groups mean "no verification at all" for a requester type
    // whose table was never written (the admin table does not inherit the self-service one).
    return RuleMatch{Code::kVerificationInsufficient, RuleName(v.name, kPrivilegedMethods),
                     why + ": " + RuleName(v.name, kPrivilegedMethods) +
                         " is empty, so no verification suffices; set it to the methods that "
                         "may reset such accounts",
                     v.enforced};
  }
  for (const auto& method : requester.verified_by) {
    if (Contains(required, method)) return std::nullopt;
  }
  return RuleMatch{
      Code::kVerificationInsufficient, RuleName(v.name, kPrivilegedMethods),
      why + ": one of " + Join(required) +
          " is required; the requester was verified by: " + Join(requester.verified_by),
      v.enforced};
}

}  // namespace

// --- Open -------------------------------------------------------------------------------

Policy::Policy(std::unique_ptr<Compiled> compiled, const Clock& clock, BreakerState breaker)
    : compiled_(std::move(compiled)),
      clock_(clock),
      counts_(std::make_unique<Counts>()),
      breaker_(breaker) {}

Policy::~Policy() = default;

Result<std::unique_ptr<Policy>> Policy::Open(const config::Config& config, const Clock& clock,
                                             const std::vector<PastRequest>& history,
                                             BreakerState breaker) {
  auto compiled = std::make_unique<Compiled>();
  const PolicyMode overall = config.policy.mode;
  FileCache files;
  for (const auto& d : config.directories) {
    const std::string prefix = "directory[" + d.name + "]";
    Compiled::Directory dir;
    dir.name = d.name;
    auto scope = CompileScope(d.scope, prefix + ".scope", overall);
    if (!scope.ok()) return scope.error();
    dir.scope = std::move(*scope);
    if (d.admin_scope) {
      auto admin = CompileScope(*d.admin_scope, prefix + ".admin_scope", overall);
      if (!admin.ok()) return admin.error();
      dir.admin_scope = std::move(*admin);
    }
    if (d.password) {
      auto t = CompilePasswordTable(*d.password, prefix + ".password", overall, files);
      if (!t.ok()) return t.error();
      dir.password = std::move(*t);
    }
    if (d.admin_password) {
      auto t = CompilePasswordTable(*d.admin_password, prefix + ".password.admin", overall, files);
      if (!t.ok()) return t.error();
      dir.admin_password = std::move(*t);
    }
    compiled->directories.push_back(std::move(dir));
  }
  const auto& p = config.policy;
  compiled->self_verification = {"policy.verification", p.self_verification,
                                 Enforced(p.self_verification.mode, overall)};
  compiled->admin_verification = {"policy.verification.admin", p.admin_verification,
                                  Enforced(p.admin_verification.mode, overall)};
  compiled->limits = p.rate_limits;
  compiled->limits_enforced = Enforced(p.rate_limits.mode, overall);
  auto self_password = CompilePasswordTable(p.self_password, "policy.password", overall, files);
  if (!self_password.ok()) return self_password.error();
  compiled->self_password = std::move(*self_password);
  if (p.admin_password) {
    auto admin = CompilePasswordTable(*p.admin_password, "policy.password.admin", overall, files);
    if (!admin.ok()) return admin.error();
    compiled->admin_password = std::move(*admin);
  }
  std::unique_ptr<Policy> policy(new Policy(std::move(compiled), clock, breaker));
  {
    std::lock_guard lock(policy->mu_);
    for (const auto& past : history) {
      policy->Count(past.account_key, past.requester_id, past.received_at);
    }
  }
  return policy;
}

}  // namespace wb::policy

namespace wb::policy {

// --- Rate limits and the breaker ---------------------------------------------------------

namespace {

std::size_t Keep(const config::RateLimit& limit) {
  return static_cast<std::size_t>(std::max(limit.count, 1));
}

bool Limited(const config::RateLimit& limit) { return limit.count > 0; }

std::string Describe(const config::RateLimit& limit) {
  return std::to_string(limit.count) + " per " + std::to_string(limit.window.count()) + " s";
}

}  // namespace

void Policy::Count(const std::string& account_key, const std::string& requester_id, WallTime at) {
  const auto& l = compiled_->limits;
  if (Limited(l.per_account)) counts_->per_account.Add(account_key, at, Keep(l.per_account));
  if (Limited(l.per_requester)) {
    counts_->per_requester.Add(requester_id, at, Keep(l.per_requester));
  }
  if (Limited(l.overall)) counts_->overall.Add(at, Keep(l.overall));
  if (++counts_->added % kSweepEvery == 0) {
    const WallTime now = clock_.Now();
    counts_->per_account.Sweep(now - l.per_account.window);
    counts_->per_requester.Sweep(now - l.per_requester.window);
  }
}

std::vector<RuleMatch> Policy::CheckRates(const RequestFacts& request) const {
  std::vector<RuleMatch> matches;
  const auto& l = compiled_->limits;
  const WallTime now = clock_.Now();
  const bool enforced = compiled_->limits_enforced;
  if (Limited(l.per_account) &&
      counts_->per_account.CountSince(request.account_key, now - l.per_account.window) >=
          static_cast<std::size_t>(l.per_account.count)) {
    matches.push_back({Code::kRateLimited, std::string(kPerAccount),
                       "this account already had " + Describe(l.per_account) +
                           " requests; the next is allowed when the oldest leaves the window",
                       enforced});
  }
  if (Limited(l.per_requester) &&
      counts_->per_requester.CountSince(request.requester.id, now - l.per_requester.window) >=
          static_cast<std::size_t>(l.per_requester.count)) {
    matches.push_back({Code::kRateLimited, std::string(kPerRequester),
                       "requester " + request.requester.id + " already made " +
                           Describe(l.per_requester) + " requests",
                       enforced});
  }
  return matches;
}

bool Policy::OverallPassed() const {
  const auto& overall = compiled_->limits.overall;
  if (!Limited(overall)) return false;
  WallTime cutoff = clock_.Now() - overall.window;
  // Only requests received after the release count (the released ones were received before).
  if (breaker_.counting_from) {
    cutoff = std::max(cutoff, *breaker_.counting_from + WallTime::duration(1));
  }
  return counts_->overall.CountSince(cutoff) >= static_cast<std::size_t>(overall.count);
}

// --- Admit --------------------------------------------------------------------------------

Decision Policy::Admit(const RequestFacts& request) {
  std::vector<RuleMatch> matches;
  if (auto m = CheckVerification(compiled_->VerificationFor(request.requester.type),
                                 request.requester)) {
    matches.push_back(std::move(*m));
  }
  std::lock_guard lock(mu_);
  for (auto& m : CheckRates(request)) matches.push_back(std::move(m));
  Decision d = Decide(std::move(matches));
  if (d.verdict == Verdict::kDeny) return d;  // refused outright: held for nothing

  const std::string breaker_rule(kOverall);
  if (!breaker_.tripped && OverallPassed()) {
    if (compiled_->limits_enforced) {
      breaker_.tripped = true;
      breaker_.tripped_at = clock_.Now();
    } else {
      d.matches.push_back({Code::kBreakerTripped, breaker_rule,
                           "more than " + Describe(compiled_->limits.overall) +
                               " requests: the breaker would trip and hold requests",
                           /*enforced=*/false});
      d.verdict = Verdict::kWouldDeny;
    }
  }
  if (breaker_.tripped) {
    d.matches.push_back({Code::kBreakerTripped, breaker_rule,
                         "the breaker is tripped (more than " +
                             Describe(compiled_->limits.overall) +
                             " requests): held until an administrator runs `wbagent breaker "
                             "release` or `wbagent breaker reject`",
                         /*enforced=*/true});
    d.verdict = Verdict::kHold;
    return d;
  }
  Count(request.account_key, request.requester.id, request.received_at);
  return d;
}

BreakerState Policy::Breaker() const {
  std::lock_guard lock(mu_);
  return breaker_;
}

BreakerState Policy::ReleaseBreaker() {
  std::lock_guard lock(mu_);
  breaker_ = BreakerState{.tripped = false, .tripped_at = {}, .counting_from = clock_.Now()};
  return breaker_;
}

BreakerState Policy::RejectBreaker() { return ReleaseBreaker(); }

// --- CheckAccount ---------------------------------------------------------------------------

ldap::ScopeQuestions Policy::QuestionsFor(std::string_view directory,
                                          protocol::RequesterType type) const {
  ldap::ScopeQuestions q;
  const Compiled::Directory* dir = compiled_->Find(directory);
  if (dir == nullptr) return q;
  const Scope& scope = dir->For(type);
  q.filter = scope.filter;
  q.groups = scope.denied_groups;
  q.groups.insert(q.groups.end(), scope.privileged_groups.begin(), scope.privileged_groups.end());
  return q;
}

namespace {

// The groups among the answers, split back into denied and privileged (QuestionsFor asked
// for the denied groups first).
struct GroupHits {
  std::vector<std::string> denied;
  std::vector<std::string> privileged;
};

GroupHits SplitGroups(const Scope& scope, const ldap::ScopeAnswers& answers) {
  GroupHits hits;
  const std::size_t denied = scope.denied_groups.size();
  for (std::size_t i : answers.member_of) {
    if (i < denied) {
      hits.denied.push_back(scope.denied_groups[i]);
    } else if (i - denied < scope.privileged_groups.size()) {
      hits.privileged.push_back(scope.privileged_groups[i - denied]);
    }
  }
  return hits;
}

struct ProtectedReason {
  bool by_admin_count = false;  // else listed in protected_dns
  std::string text;
};

// Why the account is protected, or nullopt.
std::optional<ProtectedReason> ProtectedBecause(const Scope& scope, const ldap::Account& account,
                                                const std::optional<ldap::Dn>& dn) {
  if (scope.protect_admin_count && account.protected_account) {
    return ProtectedReason{true, "adminCount=1 (a member, now or before, of a protected AD group)"};
  }
  for (const auto& p : scope.protected_dns) {
    if (dn && dn->IsWithin(p))
      return ProtectedReason{false, "listed in protected_dns (" + p.text() + ")"};
  }
  return std::nullopt;
}

}  // namespace

Decision Policy::CheckAccount(const RequestFacts& request, const AccountFacts& facts) const {
  if (facts.account == nullptr) return Decision{};
  const Compiled::Directory* dir = compiled_->Find(facts.directory);
  if (dir == nullptr) {
    // Rules and directories come from one config (a reload keeps them matched): a directory
    // without rules is a defect, and fails closed rather than meet no scope at all.
    std::vector<RuleMatch> matches;
    matches.push_back({Code::kNotInAllowedSubtree, "directory[" + facts.directory + "]",
                       "the policy has no rules for this directory", /*enforced=*/true});
    return Decide(std::move(matches));
  }
  const Scope& scope = dir->For(request.requester.type);
  const ldap::Account& account = *facts.account;
  std::vector<RuleMatch> matches;
  auto deny = [&](Code code, std::string_view key, std::string reason) {
    matches.push_back({code, RuleName(scope.name, key), std::move(reason), scope.enforced});
  };
  // The DN is compared only where a rule names DNs; one that does not parse fails closed.
  std::optional<ldap::Dn> dn;
  if (!scope.allowed_subtrees.empty() || !scope.protected_dns.empty()) {
    auto parsed = ldap::Dn::Parse(account.dn);
    if (!parsed.ok()) {
      deny(Code::kNotInAllowedSubtree, kAllowedSubtrees,
           "the account's DN does not parse: " + parsed.error().message());
      return Decide(std::move(matches));
    }
    dn = std::move(*parsed);
  }
  if (!scope.allowed_subtrees.empty() && !WithinAny(*dn, scope.allowed_subtrees)) {
    std::vector<std::string> subtrees;
    for (const auto& s : scope.allowed_subtrees) subtrees.push_back(s.text());
    deny(Code::kNotInAllowedSubtree, kAllowedSubtrees,
         account.dn + " is not under any of " + Join(subtrees));
  }
  if (!scope.filter.empty() && !facts.answers.matches_filter) {
    deny(Code::kFilterNotMatched, kFilter, account.dn + " does not match " + scope.filter);
  }
  const GroupHits groups = SplitGroups(scope, facts.answers);
  for (const auto& g : groups.denied) {
    deny(Code::kDeniedGroup, kDeniedGroups, account.dn + " is a member of " + g);
  }
  std::optional<std::string> privileged_because;
  if (auto why = ProtectedBecause(scope, account, dn)) {
    if (scope.allow_protected) {
      privileged_because = "the account is protected: " + why->text;
    } else {
      deny(Code::kProtectedAccount, why->by_admin_count ? kProtectAdminCount : kProtectedDns,
           account.dn + " is protected: " + why->text + "; an administrator resets it directly");
    }
  }
  if (!privileged_because && !groups.privileged.empty()) {
    privileged_because = "the account is a member of " + groups.privileged.front();
  }
  if (request.requester.type == protocol::RequesterType::kAdmin &&
      !RequesterAllowed(scope.admin_requesters, request.requester.id)) {
    deny(Code::kRequesterNotAllowed, kAdminRequesters,
         "requester " + request.requester.id + " may not reset accounts in this scope");
  }
  if (privileged_because) {
    if (auto m = CheckPrivilegedVerification(compiled_->VerificationFor(request.requester.type),
                                             request.requester, *privileged_because)) {
      matches.push_back(std::move(*m));
    }
  }
  return Decide(std::move(matches));
}

}  // namespace wb::policy

namespace wb::policy {

// --- The rules that apply ----------------------------------------------------------------------

std::string_view StageName(Stage stage) {
  switch (stage) {
    case Stage::kAdmission:
      return "admission";
    case Stage::kAccount:
      return "account";
    case Stage::kPassword:
      return "password";
  }
  return "";
}

namespace {

std::string JoinDns(const std::vector<ldap::Dn>& dns) {
  std::vector<std::string> texts;
  for (const auto& dn : dns) texts.push_back(dn.text());
  return Join(texts);
}

void AddRateRule(std::vector<RuleInfo>& rules, std::string_view name,
                 const config::RateLimit& limit, bool enforced) {
  if (!Limited(limit)) return;
  rules.push_back({Stage::kAdmission, std::string(name), Describe(limit), enforced});
}

void AddScopeRules(std::vector<RuleInfo>& rules, const Scope& s, protocol::RequesterType type) {
  auto add = [&](std::string_view key, std::string setting) {
    rules.push_back({Stage::kAccount, RuleName(s.name, key), std::move(setting), s.enforced});
  };
  if (!s.allowed_subtrees.empty()) add(kAllowedSubtrees, JoinDns(s.allowed_subtrees));
  if (!s.filter.empty()) add(kFilter, s.filter);
  if (!s.denied_groups.empty()) add(kDeniedGroups, Join(s.denied_groups));
  const std::string protected_how =
      s.allow_protected ? " (allowed with privileged_methods: allow_protected)" : " (refused)";
  if (s.protect_admin_count) add(kProtectAdminCount, "accounts with adminCount=1" + protected_how);
  if (!s.protected_dns.empty()) add(kProtectedDns, JoinDns(s.protected_dns) + protected_how);
  if (type == protocol::RequesterType::kAdmin && !s.admin_requesters.empty()) {
    add(kAdminRequesters, Join(s.admin_requesters));
  }
}

}  // namespace

std::vector<RuleInfo> Policy::RulesFor(std::string_view directory,
                                       protocol::RequesterType type) const {
  std::vector<RuleInfo> rules;
  const Verification& v = compiled_->VerificationFor(type);
  if (v.config.min_methods > 0) {
    rules.push_back({Stage::kAdmission, RuleName(v.name, kMinMethods),
                     std::to_string(v.config.min_methods) +
                         " distinct, at least one not weak (weak: " + Join(v.config.weak_methods) +
                         ")",
                     v.enforced});
  }
  const auto& l = compiled_->limits;
  AddRateRule(rules, kPerAccount, l.per_account, compiled_->limits_enforced);
  AddRateRule(rules, kPerRequester, l.per_requester, compiled_->limits_enforced);
  AddRateRule(rules, kOverall, l.overall, compiled_->limits_enforced);

  const Compiled::Directory* dir = compiled_->Find(directory);
  if (dir == nullptr) {
    AddPasswordRulesFor(rules, directory, type);
    return rules;
  }
  const Scope& scope = dir->For(type);
  AddScopeRules(rules, scope, type);
  const bool privileged_possible = scope.allow_protected || !scope.privileged_groups.empty();
  if (privileged_possible) {
    std::string setting = v.config.privileged_methods.empty()
                              ? "none configured: denied, for "
                              : "one of " + Join(v.config.privileged_methods) + ", for ";
    setting += scope.allow_protected ? "protected accounts" : "";
    if (!scope.privileged_groups.empty()) {
      setting += scope.allow_protected ? " and " : "";
      setting += "members of " + Join(scope.privileged_groups);
    }
    rules.push_back(
        {Stage::kAccount, RuleName(v.name, kPrivilegedMethods), std::move(setting), v.enforced});
  }
  AddPasswordRulesFor(rules, directory, type);
  return rules;
}

}  // namespace wb::policy

namespace wb::policy {

// --- CheckPassword ---------------------------------------------------------------------------

namespace {

constexpr std::string_view kMinLength = "min_length";
constexpr std::string_view kMaxLength = "max_length";
constexpr std::string_view kMinClasses = "min_classes";
constexpr std::string_view kForbiddenCharacters = "forbidden_characters";
constexpr std::string_view kMaxRepeated = "max_repeated";
constexpr std::string_view kNotSameAsOld = "not_same_as_old";
constexpr std::string_view kNoNameParts = "no_name_parts";
constexpr std::string_view kBannedWordsFile = "banned_words_file";
constexpr std::string_view kBreachedFile = "breached_file";

bool SameSecret(const Secret& a, const Secret& b) {
  // Constant time for equal lengths: how much of the old password the new one shares stays
  // unobservable.
  return a.size() == b.size() && CRYPTO_memcmp(a.view().data(), b.view().data(), a.size()) == 0;
}

std::vector<std::u32string> TokensOf(const Names& names) {
  std::vector<std::u32string> tokens;
  for (const std::string* name : {&names.login, &names.display, &names.given, &names.surname}) {
    auto more = internal::NameTokens(*name);
    tokens.insert(tokens.end(), more.begin(), more.end());
  }
  return tokens;
}

// The names Entra's substring match checks: first name, last name and (in place of the
// tenant's name) the login name without its domain; normalised like the banned terms.
internal::TermSet NameTerms(const Names& names) {
  internal::TermSet set;
  const std::string_view login = std::string_view(names.login).substr(0, names.login.find('@'));
  for (std::string_view name :
       {std::string_view(names.given), std::string_view(names.surname), login}) {
    auto text = internal::DecodeText(name);
    if (!text) continue;
    for (auto& c : *text) c = internal::NormaliseBanned(c);
    set.Add(*text);
  }
  set.Finish();
  return set;
}

// Concatenation without `"literal" + std::string` temporaries (GCC 12's -Wrestrict at -O3).
std::string Sentence(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (std::string_view part : parts) out += part;
  return out;
}

std::string Count(int n, std::string_view what) {
  std::string out = std::to_string(n);
  out += ' ';
  out += what;
  return out;
}

// The rules of `t` over the decoded password. Reasons say which rule failed and what it
// requires, never what the password holds.
// How often the new password appears in the table's breached list: the count the caller gave
// (tests), else a lookup in the mapped list.
Result<std::uint64_t> BreachedCount(const breached::List& list, const PasswordFacts& facts) {
  if (facts.breached_count) return *facts.breached_count;
  if (facts.new_password == nullptr) return std::uint64_t{0};
  return list.Count(*facts.new_password);
}

std::vector<RuleMatch> CheckRules(const PasswordTable& t, std::span<const char32_t> password,
                                  const PasswordFacts& facts) {
  const auto& c = t.config;
  std::vector<RuleMatch> matches;
  auto deny = [&](Code code, std::string_view key, std::string reason) {
    matches.push_back({code, RuleName(t.name, key), std::move(reason), t.enforced});
  };
  const auto length = static_cast<int>(password.size());
  if (c.min_length > 0 && length < c.min_length) {
    deny(Code::kPasswordTooShort, kMinLength,
         Sentence({"the password must have at least ", Count(c.min_length, "characters")}));
  }
  if (c.max_length > 0 && length > c.max_length) {
    deny(Code::kPasswordTooLong, kMaxLength,
         Sentence({"the password must have at most ", Count(c.max_length, "characters")}));
  }
  if (c.min_classes > 0 && internal::CountClasses(password) < c.min_classes) {
    deny(Code::kPasswordClasses, kMinClasses,
         Sentence({"the password must use characters of at least ", Count(c.min_classes, "kinds"),
                   " of: upper case, lower case, digit, symbol, other (non-ASCII)"}));
  }
  if (!t.forbidden.empty() && internal::ContainsAnyOf(password, t.forbidden)) {
    deny(Code::kPasswordForbiddenCharacter, kForbiddenCharacters,
         "the password contains a character that forbidden_characters lists");
  }
  if (c.max_repeated > 0 &&
      internal::LongestRun(password) > static_cast<std::size_t>(c.max_repeated)) {
    deny(Code::kPasswordRepeated, kMaxRepeated,
         Sentence({"the password repeats one character more than ", Count(c.max_repeated, "times"),
                   " in a row"}));
  }
  if (c.not_same_as_old && facts.old_password != nullptr && facts.new_password != nullptr &&
      SameSecret(*facts.new_password, *facts.old_password)) {
    deny(Code::kPasswordSameAsOld, kNotSameAsOld, "the new password is the old password");
  }
  if (c.no_name_parts && internal::ContainsNameToken(password, TokensOf(facts.names))) {
    deny(Code::kPasswordContainsName, kNoNameParts,
         "the password contains a part (3 or more characters) of the user's login, display, "
         "given or surname");
  }
  if (t.banned) {
    const int score = internal::BannedScore(password, t.banned->terms(), NameTerms(facts.names));
    if (score < c.banned_min_score) {
      deny(Code::kPasswordBanned, kBannedWordsFile,
           "the password is built on a banned word or the user's name and scores below " +
               std::to_string(c.banned_min_score) + " points");
    }
  }
  if (t.breached) {
    auto count = BreachedCount(*t.breached, facts);
    if (!count.ok()) {
      // Fail closed: a password the list cannot check is not known to be safe.
      deny(Code::kPasswordBreached, kBreachedFile,
           "the breached-password list could not check the password: " + count.error().message());
    } else if (*count >= static_cast<std::uint64_t>(c.breached_min_count)) {
      deny(Code::kPasswordBreached, kBreachedFile,
           "the password is in the breached-password list (seen at least " +
               std::to_string(c.breached_min_count) + " times)");
    }
  }
  return matches;
}

}  // namespace

Decision Policy::CheckPassword(const RequestFacts& request, const PasswordFacts& facts) const {
  const PasswordTable& t = compiled_->PasswordFor(facts.directory, request.requester.type);
  if (!t.AnyOn()) return Decision{};
  const std::string_view bytes =
      facts.new_password != nullptr ? facts.new_password->view() : std::string_view();
  auto password = internal::DecodeUtf8(bytes);
  if (!password) {
    // No rule can count characters it cannot decode: refused whatever the other rules say.
    return Decide({{Code::kPasswordForbiddenCharacter, RuleName(t.name, kForbiddenCharacters),
                    "the password is not valid UTF-8", t.enforced}});
  }
  return Decide(CheckRules(t, *password, facts));
}

bool Policy::ChecksPasswords(std::string_view directory, protocol::RequesterType type) const {
  return compiled_->PasswordFor(directory, type).AnyOn();
}

std::optional<std::filesystem::path> Policy::BreachedFileFor(std::string_view directory,
                                                             protocol::RequesterType type) const {
  return compiled_->PasswordFor(directory, type).config.breached_file;
}

namespace {

void AddPasswordRules(std::vector<RuleInfo>& rules, const PasswordTable& t) {
  if (!t.AnyOn()) return;
  const auto& c = t.config;
  auto add = [&](std::string_view key, std::string setting) {
    rules.push_back({Stage::kPassword, RuleName(t.name, key), std::move(setting), t.enforced});
  };
  if (c.min_length > 0) add(kMinLength, Count(c.min_length, "characters"));
  if (c.max_length > 0) add(kMaxLength, Count(c.max_length, "characters"));
  if (c.min_classes > 0) add(kMinClasses, Count(c.min_classes, "of 5 kinds"));
  // Always on with any other rule: a password that is not UTF-8 is refused under it.
  add(kForbiddenCharacters,
      (t.forbidden.empty() ? std::string("none listed")
                           : Count(static_cast<int>(t.forbidden.size()), "characters")) +
          "; and any password that is not valid UTF-8");
  if (c.max_repeated > 0) add(kMaxRepeated, Count(c.max_repeated, "in a row at most"));
  if (c.not_same_as_old) add(kNotSameAsOld, "on a change");
  if (c.no_name_parts) add(kNoNameParts, "tokens of 3 or more characters");
  if (t.banned) {
    add(kBannedWordsFile, c.banned_words_file->string() + " (" +
                              std::to_string(t.banned->terms().size()) + " terms), min score " +
                              std::to_string(c.banned_min_score));
  }
  if (c.breached_file) {
    add(kBreachedFile,
        c.breached_file->string() + ", min count " + std::to_string(c.breached_min_count));
  }
}

}  // namespace

protocol::PasswordRulesSummary Policy::PasswordSummaryFor(std::string_view directory,
                                                          protocol::RequesterType type) const {
  const PasswordTable& t = compiled_->PasswordFor(directory, type);
  const config::PasswordRulesConfig& c = t.config;
  return protocol::PasswordRulesSummary{.min_length = c.min_length,
                                        .max_length = c.max_length,
                                        .min_classes = c.min_classes,
                                        .forbidden_characters = c.forbidden_characters,
                                        .max_repeated = c.max_repeated,
                                        .not_same_as_old = c.not_same_as_old,
                                        .no_name_parts = c.no_name_parts,
                                        .banned_words = t.banned != nullptr,
                                        .breached = c.breached_file.has_value(),
                                        .enforced = t.enforced};
}

void Policy::AddPasswordRulesFor(std::vector<RuleInfo>& rules, std::string_view directory,
                                 protocol::RequesterType type) const {
  AddPasswordRules(rules, compiled_->PasswordFor(directory, type));
}

}  // namespace wb::policy
