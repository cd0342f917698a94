// OpenLDAP (and 389-DS): the RFC 3062 Password Modify operation with the ppolicy control,
// pwdAccountLockedTime, pwdReset, the ppolicy entry that applies to the user, and nested
// group membership through the memberOf overlay.
#include "common/log_escape.h"
#include "ldap/access_denied.h"
#include "ldap/group_walk.h"
#include "ldap/kind.h"

namespace wb::ldap {
namespace {

// ppolicy's "locked by an administrator" value: the account is disabled, not locked out.
constexpr char kAdministrativeLock[] = "000001010000Z";

class OpenLdapOps final : public KindOps {
 public:
  explicit OpenLdapOps(const config::DirectoryConfig& config) : config_(config) {}

  std::vector<std::string> AccountAttributes() const override {
    // Operational attributes are only returned when asked for by name.
    return {"uid",     "mail",           "displayName",          "cn",       "givenName",
            "sn",      "pwdChangedTime", "pwdAccountLockedTime", "pwdReset", "pwdPolicySubentry",
            "memberOf"};
  }

  Result<Account, Outcome> Complete(Connection&, const Entry& e) override {
    Account a;
    a.dn = e.dn;
    a.login_name = e.First("uid").value_or("");
    a.mail = e.First("mail").value_or("");
    a.display_name = e.First("displayname").value_or(e.First("cn").value_or(""));
    a.given_name = e.First("givenname").value_or("");
    a.surname = e.First("sn").value_or("");
    const auto locked_time = e.First("pwdaccountlockedtime");
    a.enabled = locked_time != kAdministrativeLock;
    a.locked = locked_time.has_value() && a.enabled;
    a.must_change_password = e.First("pwdreset").value_or("FALSE") == "TRUE";
    a.reset_may_leave_mark = true;
    if (auto changed = e.First("pwdchangedtime")) {
      a.password_changed_at = ParseGeneralizedTime(*changed);
    }
    a.groups = e.All("memberof");
    a.password_policy_dn = e.First("pwdpolicysubentry");
    return a;
  }

  Outcome Apply(Connection& conn, const Account& account, const PasswordChange& change) override {
    Outcome o = Succeeded(conn.url());
    const bool sets_password = change.password != PasswordChange::Password::kKeep;
    if (sets_password) {
      const Secret* old_password =
          change.password == PasswordChange::Password::kChange ? change.old_password : nullptr;
      o = conn.PasswordModify(account.dn, old_password, *change.new_password);
      if (!o.ok()) return Explained(std::move(o), account, OpenLdapStep::kSetPassword);
    }
    // The password operation cannot carry other modifications; the rest follows it, and
    // only once it succeeded.
    if (change.unlock) {
      o = Unlock(conn, account, sets_password);
      if (!o.ok()) {
        return AfterPassword(Explained(std::move(o), account, OpenLdapStep::kUnlock),
                             sets_password);
      }
    }
    return AfterPassword(
        Explained(WriteMustChange(conn, account.dn, change), account, OpenLdapStep::kSetMustChange),
        sets_password);
  }

  Result<PasswordPolicy, Outcome> ReadPolicy(Connection& conn, const Account& account) override {
    const std::string dn = account.password_policy_dn.value_or(config_.ppolicy_default_dn);
    if (dn.empty()) {
      return MakeOutcome(OutcomeCode::kNotSupported,
                         "the user has no pwdPolicySubentry and ppolicy_default_dn is not set");
    }
    auto found = conn.Search(dn, LDAP_SCOPE_BASE, "(objectClass=pwdPolicy)",
                             {"pwdMinLength", "pwdMaxLength", "pwdInHistory", "pwdMinAge",
                              "pwdCheckQuality", "pwdMaxFailure", "pwdLockout"});
    if (!found.ok()) return found.error();
    if (found->empty()) {
      return MakeOutcome(OutcomeCode::kNotSupported, "no readable ppolicy entry at " + dn);
    }
    const Entry& e = found->front();
    PasswordPolicy p;
    p.kind = config::DirectoryKind::kOpenLdap;
    p.min_length = static_cast<int>(ParseInteger(e.First("pwdminlength")).value_or(0));
    p.max_length = static_cast<int>(ParseInteger(e.First("pwdmaxlength")).value_or(0));
    p.history_length = static_cast<int>(ParseInteger(e.First("pwdinhistory")).value_or(0));
    p.min_age = std::chrono::seconds(ParseInteger(e.First("pwdminage")).value_or(0));
    p.complexity = ParseInteger(e.First("pwdcheckquality")).value_or(0) > 0;
    if (e.First("pwdlockout").value_or("FALSE") == "TRUE") {
      p.lockout_threshold = static_cast<int>(ParseInteger(e.First("pwdmaxfailure")).value_or(0));
    }
    p.source = dn;
    return p;
  }

  // The account's memberOf values came with FindAccount; each group's own memberOf is read
  // as the walk needs it (ldap/group_walk.h).
  Result<std::vector<std::size_t>, Outcome> MemberOf(Connection& conn, const Account& account,
                                                     const std::vector<Dn>& groups) override {
    return FindNestedGroups(account.groups, groups,
                            [&](const Dn& group) { return ParentGroups(conn, group); });
  }

 private:
  // ppolicy clears a failure lock (pwdAccountLockedTime) itself when the password changes, so
  // after a password write the delete may be refused (no `write` on the attribute) for a lock
  // that is already gone: then the unlock is done, and the request is not failed for it. Only
  // when the lookup saw the lock: that proves the service account may read the attribute, so
  // a filter that no longer matches means it is gone, not that it is hidden.
  static Outcome Unlock(Connection& conn, const Account& account, bool password_set) {
    Outcome o = conn.Modify(account.dn, {{LDAP_MOD_DELETE, "pwdAccountLockedTime", {}}}, {},
                            OperationKind::kClearAttribute);
    if (o.ok() || !password_set || !account.locked || o.code != OutcomeCode::kAccessDenied) {
      return o;
    }
    auto still_locked = conn.Matches(account.dn, "(pwdAccountLockedTime=*)");
    if (still_locked.ok() && !*still_locked) return Succeeded(conn.url());
    return o;
  }

  // A step after the password that failed leaves the new password in effect: the outcome
  // says so, so that neither the administrator nor the audit trail reads "nothing changed".
  // (A retry finds the password applied and writes only the rest: Pipeline::Process.)
  static Outcome AfterPassword(Outcome o, bool password_set) {
    if (!o.ok() && password_set) o.reason = "the new password was set, but then " + o.reason;
    return o;
  }

  // An access_denied names the step and the olcAccess rule it needs.
  Outcome Explained(Outcome o, const Account& account, OpenLdapStep step) const {
    if (o.code == OutcomeCode::kAccessDenied) {
      o.reason = OpenLdapAccessDeniedReason(account, step, config_.bind_dn.value_or(""));
    }
    return o;
  }

  static Result<std::vector<std::string>, Outcome> ParentGroups(Connection& conn, const Dn& group) {
    auto found = conn.Search(group.text(), LDAP_SCOPE_BASE, "(objectClass=*)", {"memberOf"});
    // A group the walk cannot read might be the link to a wanted group: an error, never "not
    // a member". slapd says noSuchObject both for a group that is gone (a memberOf value left
    // behind without olcMemberOfRefInt) and for one the service account may not read.
    if (!found.ok() && found.error().code != OutcomeCode::kUserNotFound) return found.error();
    if (!found.ok() || found->empty()) {
      std::string reason = "the group ";
      reason += EscapeForLog(group.text());
      reason +=
          " (a memberOf value) cannot be read: give the service account read access to "
          "groups and their memberOf, and set olcMemberOfRefInt so deleted groups leave no "
          "memberOf behind";
      return MakeOutcome(OutcomeCode::kInternalError, std::move(reason));
    }
    return found->front().All("memberof");
  }

  // The request alone decides must-change (PasswordChange::MustChange). A password write
  // without kRequire must leave pwdReset absent, but ppolicy sets pwdReset: TRUE itself when
  // the writer has `manage` on userPassword and the policy says pwdMustChange: TRUE
  // (ITS#7084); with `write` it deletes pwdReset instead.
  static Outcome WriteMustChange(Connection& conn, const std::string& dn,
                                 const PasswordChange& change) {
    switch (change.must_change) {
      case PasswordChange::MustChange::kRequire:
        return conn.Modify(dn, {{LDAP_MOD_REPLACE, "pwdReset", {"TRUE"}}});
      case PasswordChange::MustChange::kClear:
        return ClearPwdReset(conn, dn);
      case PasswordChange::MustChange::kLeave:
        break;
    }
    if (change.password == PasswordChange::Password::kKeep) return Succeeded(conn.url());
    return ClearPwdResetIfSet(conn, dn);
  }

  static Outcome ClearPwdReset(Connection& conn, const std::string& dn) {
    return conn.Modify(dn, {{LDAP_MOD_DELETE, "pwdReset", {}}}, {}, OperationKind::kClearAttribute);
  }

  // Reads first: with the documented `write` rights the password write has already removed
  // pwdReset, so the usual case costs one search and needs no right on pwdReset but read.
  static Outcome ClearPwdResetIfSet(Connection& conn, const std::string& dn) {
    auto flagged = conn.Search(dn, LDAP_SCOPE_BASE, "(pwdReset=TRUE)", {"1.1"});
    if (!flagged.ok()) return flagged.error();
    if (flagged->empty()) return Succeeded(conn.url());
    return ClearPwdReset(conn, dn);
  }

  const config::DirectoryConfig config_;
};

}  // namespace

std::unique_ptr<KindOps> MakeOpenLdapOps(const config::DirectoryConfig& config) {
  return std::make_unique<OpenLdapOps>(config);
}

}  // namespace wb::ldap
