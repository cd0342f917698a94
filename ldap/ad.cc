// Active Directory: unicodePwd writes, lockoutTime, pwdLastSet, policy hints, domain policy,
// fine-grained password settings (PSOs) and nested group membership (IN_CHAIN).
#include <algorithm>
#include <limits>
#include <map>

#include "common/log_escape.h"
#include "ldap/access_denied.h"
#include "ldap/filter.h"
#include "ldap/kind.h"
#include "ldap/security_descriptor.h"

namespace wb::ldap {
namespace {

constexpr char kPolicyHintsOid[] = "1.2.840.113556.1.4.2239";
constexpr char kPolicyHintsOldOid[] = "1.2.840.113556.1.4.2066";
// BER of SEQUENCE { INTEGER 1 }: "enforce password history and the other policies".
constexpr char kPolicyHintsValue[] = "\x30\x03\x02\x01\x01";

// LDAP_MATCHING_RULE_IN_CHAIN: the DC follows memberOf transitively, nested groups included.
constexpr char kInChainMemberOf[] = "memberOf:1.2.840.113556.1.4.1941:=";

constexpr long long kUacAccountDisable = 0x2;
constexpr long long kUacLockout = 0x10;  // in msDS-User-Account-Control-Computed

// AD stores durations as negative 100 ns intervals.
std::chrono::seconds FromAdInterval(std::optional<long long> ticks) {
  if (!ticks || *ticks == std::numeric_limits<long long>::min()) return std::chrono::seconds(0);
  return std::chrono::seconds(-*ticks / 10'000'000);
}

struct DcCapabilities {
  std::optional<std::string> policy_hints_oid;  // nullopt: the DC lacks the control
  std::string domain_root;                      // defaultNamingContext
};

class AdOps final : public KindOps {
 public:
  AdOps(const config::DirectoryConfig& config, const Clock& clock)
      : config_(config), clock_(clock) {}

  std::vector<std::string> AccountAttributes() const override {
    return {"sAMAccountName",
            "userPrincipalName",
            "mail",
            "displayName",
            "givenName",
            "sn",
            "userAccountControl",
            "lockoutTime",
            "pwdLastSet",
            "adminCount",
            "memberOf",
            "objectSid",
            "primaryGroupID",
            "replPropertyMetaData"};
  }

  Result<Account, Outcome> Complete(Connection& conn, const Entry& found) override {
    // Constructed attributes are only returned by a base-scope search.
    auto extra = conn.Search(found.dn, LDAP_SCOPE_BASE, "(objectClass=*)",
                             {"msDS-ResultantPSO", "msDS-User-Account-Control-Computed"});
    if (!extra.ok()) return extra.error();
    const Entry* computed = extra->empty() ? nullptr : &extra->front();
    return Parse(found, computed);
  }

  Outcome Apply(Connection& conn, const Account& account, const PasswordChange& change) override {
    std::vector<RequestControl> controls;
    std::string note;
    if (change.password == PasswordChange::Password::kReset) {
      auto caps = Capabilities(conn);
      if (!caps.ok()) return caps.error();
      if (Outcome refusal = ChooseHistoryControl(*caps, conn.url(), controls, note);
          !refusal.ok()) {
        return refusal;
      }
    }
    std::optional<Secret> new_value;
    std::optional<Secret> old_value;
    if (Outcome bad = EncodePasswords(change, new_value, old_value); !bad.ok()) return bad;
    Outcome o = conn.Modify(account.dn, Modifications(change, new_value, old_value), controls);
    if (o.ok()) o.note = note;
    if (o.code == OutcomeCode::kAccessDenied) o.reason = AdAccessDeniedReason(account, change);
    if (o.code == OutcomeCode::kPolicyViolation &&
        change.password == PasswordChange::Password::kChange) {
      return ExplainRefusedChange(conn, account, std::move(o));
    }
    return o;
  }

  // The account's policy is read only after a refusal that named no rule.
  Outcome ExplainRefusedChange(Connection& conn, const Account& account, Outcome refused) {
    auto policy = ReadPolicy(conn, account);
    if (!policy.ok()) return refused;
    return ldap::ExplainRefusedChange(std::move(refused), account, *policy, clock_.Now());
  }

  Result<PasswordPolicy, Outcome> ReadPolicy(Connection& conn, const Account& account) override {
    if (account.password_policy_dn) return ReadPso(conn, *account.password_policy_dn);
    auto caps = Capabilities(conn);
    if (!caps.ok()) return caps.error();
    return ReadDomainPolicy(conn, caps->domain_root);
  }

  // Membership is asked twice over: of the account (IN_CHAIN, its memberOf followed upward),
  // then, for the groups not matched, of its primary group, which neither memberOf nor
  // IN_CHAIN shows (an account whose primary group is Domain Admins is in no member list).
  Result<std::vector<std::size_t>, Outcome> MemberOf(Connection& conn, const Account& account,
                                                     const std::vector<Dn>& groups) override {
    auto direct = WhichGroups(groups, InChain, [&](const std::string& filter) {
      return conn.Matches(account.dn, filter);
    });
    if (!direct.ok()) return direct.error();
    std::vector<std::size_t> rest;  // indices into `groups` of the groups not yet matched
    for (std::size_t i = 0; i < groups.size(); ++i) {
      if (!std::binary_search(direct->begin(), direct->end(), i)) rest.push_back(i);
    }
    if (rest.empty()) return direct;
    std::vector<Dn> rest_groups;
    for (std::size_t i : rest) rest_groups.push_back(groups[i]);
    auto through_primary = ThroughPrimaryGroup(conn, account, rest_groups);
    if (!through_primary.ok()) return through_primary.error();
    std::vector<std::size_t> member_of = std::move(*direct);
    for (std::size_t j : *through_primary) member_of.push_back(rest[j]);
    std::sort(member_of.begin(), member_of.end());
    return member_of;
  }

 private:
  // The indices of `groups`, ascending, for which `holds` is true of the filter `term(group)`.
  // The usual answer is "in none of them", so with several groups their OR asks first, and
  // the per-group questions (to say which) run only when it holds: n groups cost one round
  // trip in the common case, n + 1 at most.
  template <typename Term, typename Holds>
  static Result<std::vector<std::size_t>, Outcome> WhichGroups(const std::vector<Dn>& groups,
                                                               Term term, Holds holds) {
    if (groups.size() > 1) {
      std::string any = "(|";
      for (const Dn& g : groups) any += term(g);
      any += ")";
      auto in_any = holds(any);
      if (!in_any.ok()) return in_any.error();
      if (!*in_any) return std::vector<std::size_t>{};
    }
    std::vector<std::size_t> which;
    for (std::size_t i = 0; i < groups.size(); ++i) {
      auto in_group = holds(term(groups[i]));
      if (!in_group.ok()) return in_group.error();
      if (*in_group) which.push_back(i);
    }
    return which;
  }

  // The indices of `groups` that the account's primary group is, or is nested in. The group is
  // found first, by its SID, under the domain: a group the service account cannot find or read
  // is an error, never "not a member" (tier-0 OUs often hide exactly the groups asked about).
  // Then its DN is compared with each group's, and IN_CHAIN asked of it for the others.
  Result<std::vector<std::size_t>, Outcome> ThroughPrimaryGroup(Connection& conn,
                                                                const Account& account,
                                                                const std::vector<Dn>& groups) {
    auto primary = FindPrimaryGroup(conn, account);
    if (!primary.ok()) return primary.error();
    std::vector<std::size_t> member_of;
    std::vector<std::size_t> others;  // indices into `groups`
    std::vector<Dn> other_groups;
    for (std::size_t i = 0; i < groups.size(); ++i) {
      if (groups[i] == *primary) {
        member_of.push_back(i);
      } else {
        others.push_back(i);
        other_groups.push_back(groups[i]);
      }
    }
    if (other_groups.empty()) return member_of;
    auto nested = WhichGroups(other_groups, InChain, [&](const std::string& filter) {
      return conn.Matches(primary->text(), filter);
    });
    if (!nested.ok()) return nested.error();
    for (std::size_t j : *nested) member_of.push_back(others[j]);
    std::sort(member_of.begin(), member_of.end());
    return member_of;
  }

  Result<Dn, Outcome> FindPrimaryGroup(Connection& conn, const Account& account) {
    const auto sid = ParseSidText(account.primary_group_sid);
    if (!sid) {
      return MakeOutcome(
          OutcomeCode::kInternalError,
          "the account's objectSid and primaryGroupID cannot be read, so membership through "
          "its primary group cannot be checked: let the service account read both on users");
    }
    auto caps = Capabilities(conn);
    if (!caps.ok()) return caps.error();
    if (caps->domain_root.empty()) {
      return MakeOutcome(OutcomeCode::kInternalError,
                         "the DC named no domain to look the account's primary group up in");
    }
    // Size limit 2: a second entry with the SID would be a damaged domain, not a choice.
    auto found = conn.Search(caps->domain_root, LDAP_SCOPE_SUBTREE,
                             "(objectSid=" + EscapeFilterValue(sid->bytes) + ")", {"1.1"}, 2);
    if (!found.ok()) return found.error();
    if (found->size() != 1) {
      return MakeOutcome(OutcomeCode::kInternalError,
                         "the account's primary group (" + SidText(*sid) + ") is " +
                             (found->empty() ? "not found" : "found more than once") + " under " +
                             EscapeForLog(caps->domain_root) +
                             ", so membership through it cannot be checked: let the service "
                             "account read the domain's groups");
    }
    auto dn = Dn::Parse(found->front().dn);
    if (!dn.ok()) {
      return MakeOutcome(OutcomeCode::kInternalError,
                         "the account's primary group has a DN that does not parse: " +
                             EscapeForLog(found->front().dn));
    }
    return *dn;
  }

  Account Parse(const Entry& e, const Entry* computed) const {
    Account a;
    a.dn = e.dn;
    a.login_name = e.First("samaccountname").value_or("");
    a.upn = e.First("userprincipalname").value_or("");
    a.mail = e.First("mail").value_or("");
    a.display_name = e.First("displayname").value_or("");
    a.given_name = e.First("givenname").value_or("");
    a.surname = e.First("sn").value_or("");
    a.enabled = (ParseInteger(e.First("useraccountcontrol")).value_or(0) & kUacAccountDisable) == 0;
    const auto computed_uac =
        computed ? ParseInteger(computed->First("msds-user-account-control-computed"))
                 : std::nullopt;
    a.locked = computed_uac ? (*computed_uac & kUacLockout) != 0
                            : ParseInteger(e.First("lockouttime")).value_or(0) != 0;
    const auto pwd_last_set = ParseInteger(e.First("pwdlastset"));
    a.must_change_password = pwd_last_set && *pwd_last_set == 0;
    a.password_changed_at = PasswordWrittenAt(e, pwd_last_set);
    if (pwd_last_set) a.password_last_set = FileTimeToWallTime(*pwd_last_set);
    a.protected_account = ParseInteger(e.First("admincount")).value_or(0) == 1;
    a.groups = e.All("memberof");
    a.primary_group_sid = PrimaryGroupSid(e);
    if (computed) a.password_policy_dn = computed->First("msds-resultantpso");
    return a;
  }

  // When the password was last written: unicodePwd's own stamp in replPropertyMetaData.
  // pwdLastSet cannot say it in two cases that matter to the hand-over and retry checks
  // (Directory::PasswordChangedSince): a reset that requires a change sets it to 0, and clearing
  // "must change" sets it to the clearing's time with no password written. pwdLastSet is the
  // fallback where the service account cannot read replPropertyMetaData.
  static std::optional<WallTime> PasswordWrittenAt(const Entry& e,
                                                   std::optional<long long> pwd_last_set) {
    if (const auto meta = e.First("replpropertymetadata")) {
      if (auto written = AttributeWrittenAt(*meta, kUnicodePwdAttid)) return written;
    }
    return pwd_last_set ? FileTimeToWallTime(*pwd_last_set) : std::nullopt;
  }

  // "S-1-5-21-...-RID" from the entry's objectSid and primaryGroupID; empty when either is
  // missing or malformed (MemberOf then refuses to answer).
  static std::string PrimaryGroupSid(const Entry& e) {
    const auto object_sid = e.First("objectsid");
    const auto rid = ParseInteger(e.First("primarygroupid"));
    if (!object_sid || !rid || *rid < 0 || *rid > std::numeric_limits<std::uint32_t>::max()) {
      return "";
    }
    const auto account_sid = ParseSidBytes(*object_sid);
    if (!account_sid) return "";
    const auto primary = SidInSameDomain(*account_sid, static_cast<std::uint32_t>(*rid));
    return primary ? SidText(*primary) : "";
  }

  static std::string InChain(const Dn& group) {
    std::string term = "(";
    term += kInChainMemberOf;
    term += EscapeFilterValue(group.text());
    term += ")";
    return term;
  }

  // Read once per DC: different DCs of one domain may run different versions.
  Result<DcCapabilities, Outcome> Capabilities(Connection& conn) {
    {
      std::lock_guard lock(mu_);
      auto it = capabilities_.find(conn.url());
      if (it != capabilities_.end()) return it->second;
    }
    auto root = conn.Search("", LDAP_SCOPE_BASE, "(objectClass=*)",
                            {"supportedControl", "defaultNamingContext"});
    if (!root.ok()) return root.error();
    DcCapabilities caps;
    if (!root->empty()) {
      const auto& controls = root->front().All("supportedcontrol");
      for (const char* oid : {kPolicyHintsOid, kPolicyHintsOldOid}) {
        if (!caps.policy_hints_oid &&
            std::find(controls.begin(), controls.end(), oid) != controls.end()) {
          caps.policy_hints_oid = oid;
        }
      }
      caps.domain_root = root->front().First("defaultnamingcontext").value_or(config_.base_dn);
    }
    std::lock_guard lock(mu_);
    capabilities_[conn.url()] = caps;
    return caps;
  }

  // history_on_reset decides what an administrative reset does about password history.
  Outcome ChooseHistoryControl(const DcCapabilities& caps, const std::string& url,
                               std::vector<RequestControl>& controls, std::string& note) const {
    const auto mode = config_.history_on_reset;
    if (mode == config::HistoryOnReset::kOff) {
      note = "history not enforced: history_on_reset = \"off\"";
      return Succeeded();
    }
    if (caps.policy_hints_oid) {
      controls.push_back({*caps.policy_hints_oid, std::string(kPolicyHintsValue, 5), true});
      return Succeeded();
    }
    if (mode == config::HistoryOnReset::kEnforce) {
      Outcome o = MakeOutcome(
          OutcomeCode::kHistoryNotEnforceable,
          "the domain controller " + url +
              " does not support the LDAP_SERVER_POLICY_HINTS control (Windows Server 2016 "
              "or later, or Samba 4.24 or later), so it cannot enforce password history on "
              "a reset, and history_on_reset = \"enforce\"; nothing was written");
      o.server = url;
      return o;
    }
    note = "history not enforced: the domain controller " + url +
           " does not support the LDAP_SERVER_POLICY_HINTS control";
    return Succeeded();
  }

  static Outcome EncodePasswords(const PasswordChange& change, std::optional<Secret>& new_value,
                                 std::optional<Secret>& old_value) {
    if (change.password == PasswordChange::Password::kKeep) return Succeeded();
    auto encoded = AdQuotedUtf16(change.new_password->view());
    if (!encoded.ok()) return encoded.error();
    new_value = std::move(*encoded);
    if (change.password == PasswordChange::Password::kChange) {
      auto old_encoded = AdQuotedUtf16(change.old_password->view());
      if (!old_encoded.ok()) return old_encoded.error();
      old_value = std::move(*old_encoded);
    }
    return Succeeded();
  }

  // One modify for every part of the change, so AD applies all of it or none.
  static std::vector<Modification> Modifications(const PasswordChange& change,
                                                 const std::optional<Secret>& new_value,
                                                 const std::optional<Secret>& old_value) {
    std::vector<Modification> mods;
    if (change.password == PasswordChange::Password::kReset) {
      mods.push_back({LDAP_MOD_REPLACE, "unicodePwd", {new_value->view()}});
    } else if (change.password == PasswordChange::Password::kChange) {
      // A user's own change: the DC checks the old password and the full policy.
      mods.push_back({LDAP_MOD_DELETE, "unicodePwd", {old_value->view()}});
      mods.push_back({LDAP_MOD_ADD, "unicodePwd", {new_value->view()}});
    }
    if (change.unlock) mods.push_back({LDAP_MOD_REPLACE, "lockoutTime", {"0"}});
    // A password write without kRequire needs nothing here: the DC sets pwdLastSet to the
    // write's time itself, which ends a must-change. Writing -1 as well would need the Write
    // pwdLastSet right for every plain reset.
    if (change.must_change == PasswordChange::MustChange::kRequire) {
      mods.push_back({LDAP_MOD_REPLACE, "pwdLastSet", {"0"}});
    } else if (change.must_change == PasswordChange::MustChange::kClear) {
      mods.push_back({LDAP_MOD_REPLACE, "pwdLastSet", {"-1"}});
    }
    return mods;
  }

  static Result<PasswordPolicy, Outcome> ReadDomainPolicy(Connection& conn,
                                                          const std::string& root) {
    auto found = conn.Search(
        root, LDAP_SCOPE_BASE, "(objectClass=*)",
        {"minPwdLength", "pwdProperties", "pwdHistoryLength", "minPwdAge", "lockoutThreshold"});
    if (!found.ok()) return found.error();
    if (found->empty()) return MakeOutcome(OutcomeCode::kNotSupported, "domain root unreadable");
    const Entry& e = found->front();
    PasswordPolicy p;
    p.kind = config::DirectoryKind::kActiveDirectory;
    p.min_length = static_cast<int>(ParseInteger(e.First("minpwdlength")).value_or(0));
    p.complexity = (ParseInteger(e.First("pwdproperties")).value_or(0) & 1) != 0;
    p.history_length = static_cast<int>(ParseInteger(e.First("pwdhistorylength")).value_or(0));
    p.min_age = FromAdInterval(ParseInteger(e.First("minpwdage")));
    p.lockout_threshold = static_cast<int>(ParseInteger(e.First("lockoutthreshold")).value_or(0));
    p.source = root;
    return p;
  }

  static Result<PasswordPolicy, Outcome> ReadPso(Connection& conn, const std::string& pso) {
    auto found = conn.Search(
        pso, LDAP_SCOPE_BASE, "(objectClass=*)",
        {"msDS-MinimumPasswordLength", "msDS-PasswordComplexityEnabled",
         "msDS-PasswordHistoryLength", "msDS-MinimumPasswordAge", "msDS-LockoutThreshold"});
    if (!found.ok()) return found.error();
    if (found->empty()) {
      return MakeOutcome(OutcomeCode::kAccessDenied,
                         "the service account cannot read the user's password settings "
                         "object " +
                             pso + " (grant it read access to the PSO)");
    }
    const Entry& e = found->front();
    PasswordPolicy p;
    p.kind = config::DirectoryKind::kActiveDirectory;
    p.min_length =
        static_cast<int>(ParseInteger(e.First("msds-minimumpasswordlength")).value_or(0));
    p.complexity = e.First("msds-passwordcomplexityenabled").value_or("FALSE") == "TRUE";
    p.history_length =
        static_cast<int>(ParseInteger(e.First("msds-passwordhistorylength")).value_or(0));
    p.min_age = FromAdInterval(ParseInteger(e.First("msds-minimumpasswordage")));
    p.lockout_threshold =
        static_cast<int>(ParseInteger(e.First("msds-lockoutthreshold")).value_or(0));
    p.source = pso;
    return p;
  }

  const config::DirectoryConfig config_;
  const Clock& clock_;
  std::mutex mu_;
  std::map<std::string, DcCapabilities> capabilities_;  // by server URL; guarded by mu_
};

}  // namespace

std::unique_ptr<KindOps> MakeAdOps(const config::DirectoryConfig& config, const Clock& clock) {
  return std::make_unique<AdOps>(config, clock);
}

Outcome ExplainRefusedChange(Outcome refused, const Account& account, const PasswordPolicy& policy,
                             WallTime now) {
  constexpr auto kClockTolerance = std::chrono::seconds(5);
  // The DC does not hold a user who must change the password to the minimum age (nor does
  // Samba), so such a refusal is for another rule.
  if (refused.code != OutcomeCode::kPolicyViolation ||
      refused.diagnostic.find("0000052D") == std::string::npos ||
      policy.min_age <= std::chrono::seconds(0) || account.must_change_password ||
      !account.password_last_set) {
    return refused;
  }
  // In seconds on both sides: a minimum age read from the directory can be too large to
  // compare in the clock's nanoseconds.
  const auto age = std::chrono::floor<std::chrono::seconds>(now - *account.password_last_set);
  if (age + kClockTolerance >= policy.min_age) return refused;
  Outcome too_young = MakeOutcome(
      OutcomeCode::kPolicyTooYoung,
      "the domain controller gave no reason, and the password was last set at " +
          FormatUtcSeconds(*account.password_last_set) + ", less than the minimum password age (" +
          std::to_string(policy.min_age.count()) + " s, " + EscapeForLog(policy.source) +
          ") ago: no new password is accepted until then");
  too_young.diagnostic = std::move(refused.diagnostic);
  return too_young;
}

}  // namespace wb::ldap
