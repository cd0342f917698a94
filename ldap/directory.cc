#include "ldap/directory.h"

#include <algorithm>
#include <cstdint>

#include "common/log_escape.h"
#include "ldap/dn.h"
#include "ldap/filter.h"
#include "ldap/kind.h"
#include "ldap/pool.h"

namespace wb::ldap {

std::chrono::milliseconds LongestCall(const config::DirectoryConfig& config) {
  const auto per_server = config.connect_timeout + 2 * config.operation_timeout;
  return std::chrono::duration_cast<std::chrono::milliseconds>(
      per_server * static_cast<long>(std::max<std::size_t>(1, config.urls.size())));
}

namespace {

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

ConnectionSettings SettingsFor(const config::DirectoryConfig& c) {
  ConnectionSettings s;
  s.ca_file = c.ca_file;
  s.bind_method = c.bind_method;
  s.bind_dn = c.bind_dn.value_or("");
  s.client_cert_file = c.client_cert_file;
  s.client_key_file = c.client_key_file;
  s.connect_timeout = c.connect_timeout;
  s.operation_timeout = c.operation_timeout;
  return s;
}

// The bind password from bind_password_file (none for other bind methods).
Result<Secret> ReadBindPassword(const config::DirectoryConfig& config) {
  if (config.bind_method != config::BindMethod::kSimple || !config.bind_password_file) {
    return Secret();
  }
  auto read = ReadSecretFile(*config.bind_password_file);
  if (!read.ok()) return read.error().WithContext("directory '" + config.name + "'");
  // A DN with an empty password is an unauthenticated bind (RFC 4513, 5.1.2), which AD accepts
  // as anonymous: the agent would seem bound and every operation would then fail.
  if (read->view().empty()) {
    return InvalidArgument("directory '" + config.name + "': the bind password file " +
                           config.bind_password_file->string() +
                           " is empty; an empty password would be an unauthenticated bind");
  }
  return std::move(*read);
}

class LdapDirectory final : public Directory {
 public:
  LdapDirectory(const config::DirectoryConfig& config, Secret bind_password, const Clock& clock)
      : config_(config),
        ops_(config.kind == config::DirectoryKind::kActiveDirectory ? MakeAdOps(config, clock)
                                                                    : MakeOpenLdapOps(config)),
        pool_(config.urls, SettingsFor(config), std::move(bind_password), config.pool_size, clock),
        base_(Dn::Parse(config.base_dn)) {}

  const std::string& name() const override { return config_.name; }

  Result<Account, Outcome> FindAccount(const Target& target) override {
    if (std::find(config_.lookup_attributes.begin(), config_.lookup_attributes.end(),
                  target.kind) == config_.lookup_attributes.end()) {
      return MakeOutcome(OutcomeCode::kLookupNotEnabled,
                         "directory '" + config_.name + "' does not look users up by " +
                             std::string(config::Name(target.kind)) +
                             " (add it to lookup_attributes)");
    }
    return ReadAccount(target);
  }

  // Filtered as each attempt ends, before the pool keeps a failure as the server's last error
  // (shown by `wbagent status`).
  Outcome Apply(const Account& account, const PasswordChange& change) override {
    return Run(/*is_write=*/true, [&](Connection& conn) {
      return WithoutEchoedPassword(ops_->Apply(conn, account, change), change);
    });
  }

  Result<PasswordPolicy, Outcome> EffectivePolicy(const Account& account) override {
    return RunFor<PasswordPolicy>(
        [&](Connection& conn) { return ops_->ReadPolicy(conn, account); });
  }

  // The account found by FindAccount, read again by its DN. Not a lookup of the cloud's: the
  // lookup_attributes, which say how the cloud may name users, do not apply.
  Result<bool, Outcome> PasswordChangedSince(const Account& account, WallTime since) override {
    auto fresh = ReadAccount({config::LookupAttribute::kDn, account.dn});
    if (!fresh.ok()) return fresh.error();
    return PasswordChangedAtOrAfter(*fresh, since);
  }

  Result<ScopeAnswers, Outcome> AnswerScope(const Account& account,
                                            const ScopeQuestions& questions) override {
    auto groups = ParseGroups(questions.groups);
    if (!groups.ok()) return groups.error();
    // One connection answers every question: a retry on another repeats only reads.
    return RunFor<ScopeAnswers>(
        [&](Connection& conn) { return Answer(conn, account, questions.filter, *groups); });
  }

  std::vector<ServerHealth> Health() const override { return pool_.Health(); }
  Outcome CheckServiceBind() override { return pool_.Probe(); }
  Status ReloadSecrets() override {
    auto password = ReadBindPassword(config_);
    if (!password.ok()) return password.error();
    pool_.Reload(std::move(*password));
    return Status::Ok();
  }

 private:
  // The account that `target` names, within base_dn: FindAccount's search after its check of
  // lookup_attributes, which only say how the cloud may name users.
  Result<Account, Outcome> ReadAccount(const Target& target) {
    if (target.kind == config::LookupAttribute::kDn) {
      if (auto refused = RefuseOutOfScope(target.value, "the requested DN")) return *refused;
    }
    auto account = RunFor<Account>([&](Connection& conn) { return Lookup(conn, target); });
    if (!account.ok()) return account;
    // The entry the server answered with is checked too, before anything can be written to it
    // (an alias, a referral or a server that ignores the base would otherwise widen the scope).
    if (auto refused = RefuseOutOfScope(account->dn, "the account the directory returned")) {
      return *refused;
    }
    return account;
  }

  // out_of_scope unless `dn` parses and lies within base_dn (ldap/dn.h: compared as RDNs).
  std::optional<Outcome> RefuseOutOfScope(const std::string& dn, std::string_view what) const {
    auto parsed = Dn::Parse(dn);
    if (!parsed.ok()) {
      return MakeOutcome(OutcomeCode::kOutOfScope,
                         std::string(what) + " is refused: " + parsed.error().message());
    }
    if (!base_.ok() || !parsed->IsWithin(*base_)) {
      return MakeOutcome(OutcomeCode::kOutOfScope, std::string(what) +
                                                       " is outside base_dn of "
                                                       "directory '" +
                                                       config_.name + "'; nothing was changed");
    }
    return std::nullopt;
  }

  // The asked groups as DNs: the kinds compare them as DNs (OpenLDAP) or put them in a filter
  // (AD), and a group that is not a DN could never match, silently.
  Result<std::vector<Dn>, Outcome> ParseGroups(const std::vector<std::string>& texts) const {
    std::vector<Dn> groups;
    for (const auto& text : texts) {
      auto dn = Dn::Parse(text);
      if (!dn.ok()) {
        std::string reason = "the group '";
        reason += EscapeForLog(text);
        reason += "' asked of directory '";
        reason += config_.name;
        reason += "' is not a DN: ";
        reason += dn.error().message();
        return MakeOutcome(OutcomeCode::kInternalError, std::move(reason));
      }
      groups.push_back(std::move(*dn));
    }
    return groups;
  }

  Result<ScopeAnswers, Outcome> Answer(Connection& conn, const Account& account,
                                       const std::string& filter, const std::vector<Dn>& groups) {
    ScopeAnswers answers;
    if (!filter.empty()) {
      auto matches = conn.Matches(account.dn, filter);
      if (!matches.ok()) return NameFilter(matches.error(), filter);
      answers.matches_filter = *matches;
    }
    if (!groups.empty()) {
      auto member_of = ops_->MemberOf(conn, account, groups);
      if (!member_of.ok()) return member_of.error();
      answers.member_of = std::move(*member_of);
    }
    return answers;
  }

  // A refused filter is a configuration error: the administrator must see which filter.
  Outcome NameFilter(Outcome refused, const std::string& filter) const {
    if (refused.code != OutcomeCode::kInternalError) return refused;
    std::string reason = "the filter '";
    reason += EscapeForLog(filter, 512);
    reason += "' of directory '";
    reason += config_.name;
    reason += "': ";
    reason += refused.reason;
    refused.reason = std::move(reason);
    return refused;
  }

  Outcome MissingBaseDnOutcome(Outcome from_server) const {
    from_server.code = OutcomeCode::kInternalError;
    from_server.reason = "base_dn '" + config_.base_dn + "' of directory '" + config_.name +
                         "' does not exist on the server, or the service account cannot see "
                         "it; nothing was changed (`wbagent doctor` checks it)";
    return from_server;
  }

  Result<Account, Outcome> Lookup(Connection& conn, const Target& target) {
    const bool by_dn = target.kind == config::LookupAttribute::kDn;
    auto found = by_dn ? conn.Search(target.value, LDAP_SCOPE_BASE, AccountFilter(config_.kind),
                                     ops_->AccountAttributes(), kLookupEntries)
                       : conn.Search(config_.base_dn, LDAP_SCOPE_SUBTREE,
                                     UserFilter(config_.kind, target.kind, target.value),
                                     ops_->AccountAttributes(), kLookupEntries);
    if (!found.ok()) {
      if (found.error().code != OutcomeCode::kUserNotFound) return found.error();
      // noSuchObject on a search of base_dn is about base_dn, not the user: a configuration
      // or rights problem for the administrator, not "we could not verify your account".
      return by_dn ? NotFoundOutcome(target) : MissingBaseDnOutcome(found.error());
    }
    if (found->empty()) return NotFoundOutcome(target);
    if (found->size() > 1) {
      return MakeOutcome(OutcomeCode::kAmbiguousUser,
                         "more than one account in directory '" + config_.name + "' has " +
                             std::string(config::Name(target.kind)) +
                             " equal to the requested value; nothing was changed");
    }
    return ops_->Complete(conn, found->front());
  }

  Outcome NotFoundOutcome(const Target& target) const {
    return MakeOutcome(OutcomeCode::kUserNotFound, "no account in directory '" + config_.name +
                                                       "' under " + config_.base_dn + " has that " +
                                                       std::string(config::Name(target.kind)));
  }

  // Runs `fn` (Connection& -> Outcome) on a pooled connection. A connection that failed
  // before its request went out (e.g. an idle connection the server had closed) is replaced
  // once; a write is repeated here only when `fn` sent no request at all. (Judged by the last
  // operation alone, a password change that succeeded followed by a search that failed
  // unsent, as in an unlock or a pwdReset clean-up, made the whole of `fn`, the change
  // included, run again.) The caller's retries check for their own earlier write.
  template <typename Fn>
  Outcome Run(bool is_write, Fn fn) {
    Outcome outcome;
    for (int attempt = 0; attempt < 2; ++attempt) {
      auto lease = pool_.Acquire();
      if (!lease.ok()) return lease.error();
      const std::uint64_t sent_before = (*lease)->requests_sent();
      outcome = fn(**lease);
      pool_.Observe((*lease)->url(), outcome, is_write);
      if (outcome.ok()) return outcome;
      const bool sent_nothing = (*lease)->requests_sent() == sent_before;
      const bool retryable =
          (*lease)->broken() && outcome.transient() && (!is_write || sent_nothing);
      if (!retryable) return outcome;
    }
    return outcome;
  }

  // Run() for a read that produces a T.
  template <typename T, typename Fn>
  Result<T, Outcome> RunFor(Fn fn) {
    std::optional<T> value;
    Outcome o = Run(/*is_write=*/false, [&](Connection& conn) {
      auto r = fn(conn);
      if (!r.ok()) return r.error();
      value = std::move(*r);
      return Succeeded(conn.url());
    });
    if (!o.ok()) return o;
    return std::move(*value);
  }

  const config::DirectoryConfig config_;
  std::unique_ptr<KindOps> ops_;
  ServerPool pool_;
  const Result<Dn> base_;  // config validated it; should it not parse, every check refuses
};

// Whether `text` was cut by EscapeForLog (it ends in "...") right after the start of `form`: a
// password the cut went through left a prefix of itself, of any length, before the "...".
bool CutInside(std::string_view text, std::string_view form) {
  constexpr std::string_view kCut = "...";
  if (!text.ends_with(kCut)) return false;
  text.remove_suffix(kCut.size());
  for (std::size_t n = std::min(form.size(), text.size()); n > 0; --n) {
    if (text.ends_with(form.substr(0, n))) return true;
  }
  return false;
}

}  // namespace

Outcome WithoutEchoedPassword(Outcome outcome, const PasswordChange& change) {
  constexpr std::string_view kWithheld = "(withheld: the server's message contained the password)";
  for (const Secret* password : {change.new_password, change.old_password}) {
    if (password == nullptr || password->view().empty()) continue;
    // As sent, and as EscapeForLog wrote it into the diagnostic (no limit: a long password's
    // escaped form is longer still). A diagnostic cut short may end inside either form; it is
    // withheld then too, even when the prefix it ends with is there by chance.
    std::string escaped = EscapeForLog(password->view(), std::string::npos);
    for (std::string* text : {&outcome.diagnostic, &outcome.reason, &outcome.note}) {
      if (text->find(password->view()) != std::string::npos ||
          text->find(escaped) != std::string::npos || CutInside(*text, password->view()) ||
          CutInside(*text, escaped)) {
        WipeBytes(text->data(), text->size());
        *text = kWithheld;
      }
    }
    WipeBytes(escaped.data(), escaped.size());
  }
  return outcome;
}

Result<std::unique_ptr<Directory>> OpenDirectory(const config::DirectoryConfig& config,
                                                 const Clock& clock) {
  auto password = ReadBindPassword(config);
  if (!password.ok()) return password.error();
  return std::unique_ptr<Directory>(new LdapDirectory(config, std::move(*password), clock));
}

Router::Router(std::vector<std::unique_ptr<Directory>> directories,
               std::vector<config::DirectoryConfig> configs)
    : directories_(std::move(directories)), configs_(std::move(configs)) {}

std::vector<std::pair<std::string, ServerHealth>> Router::Health() const {
  std::vector<std::pair<std::string, ServerHealth>> out;
  for (const auto& d : directories_) {
    for (auto& h : d->Health()) out.emplace_back(d->name(), std::move(h));
  }
  return out;
}

Status Router::ReloadSecrets() {
  Status first;
  for (const auto& d : directories_) {
    Status s = d->ReloadSecrets();
    if (!s.ok() && first.ok()) first = std::move(s);
  }
  return first;
}

std::vector<std::pair<std::string, Outcome>> Router::CheckServiceBinds() {
  std::vector<std::pair<std::string, Outcome>> out;
  for (const auto& d : directories_) out.emplace_back(d->name(), d->CheckServiceBind());
  return out;
}

std::vector<std::pair<std::string, Result<PasswordPolicy, Outcome>>> Router::DefaultPolicies() {
  std::vector<std::pair<std::string, Result<PasswordPolicy, Outcome>>> out;
  for (const auto& d : directories_) out.emplace_back(d->name(), d->EffectivePolicy(Account{}));
  return out;
}

Result<Directory*, Outcome> Router::Route(const Target& target) const {
  if (directories_.size() == 1) return directories_.front().get();
  const std::string value = Lower(target.value);
  for (std::size_t i = 0; i < configs_.size(); ++i) {
    const auto& c = configs_[i];
    if (target.kind == config::LookupAttribute::kDn) {
      for (const auto& base : c.base_dns) {
        if (IsDnWithin(target.value, base)) return directories_[i].get();
      }
      continue;
    }
    const auto at = value.rfind('@');
    if (at == std::string::npos) continue;
    const std::string suffix = value.substr(at + 1);
    for (const auto& s : c.upn_suffixes) {
      if (Lower(s) == suffix) return directories_[i].get();
    }
  }
  return MakeOutcome(OutcomeCode::kOutOfScope,
                     "no configured directory routes this target (upn_suffixes / base_dns)");
}

}  // namespace wb::ldap
