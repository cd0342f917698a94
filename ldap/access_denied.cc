#include "ldap/access_denied.h"

#include <vector>

#include "common/log_escape.h"

namespace wb::ldap {
namespace {

// "a", "a and b", "a, b and c".
std::string JoinedList(const std::vector<std::string>& items) {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += i + 1 == items.size() ? " and " : ", ";
    out += items[i];
  }
  return out;
}

std::string PasswordVerb(PasswordChange::Password password) {
  switch (password) {
    case PasswordChange::Password::kReset:
      return "reset the password";
    case PasswordChange::Password::kChange:
      return "change the password";
    case PasswordChange::Password::kKeep:
      break;
  }
  return "";
}

std::string MustChangeVerb(PasswordChange::MustChange must_change) {
  switch (must_change) {
    case PasswordChange::MustChange::kRequire:
      return "require a password change at next logon";
    case PasswordChange::MustChange::kClear:
      return "clear the password change at next logon";
    case PasswordChange::MustChange::kLeave:
      break;
  }
  return "";
}

// The operations of `change`, as one verb phrase: "reset the password and unlock the account".
std::string Refused(const PasswordChange& change) {
  std::vector<std::string> parts;
  if (change.password != PasswordChange::Password::kKeep)
    parts.push_back(PasswordVerb(change.password));
  if (change.unlock) parts.emplace_back("unlock the account");
  if (change.must_change != PasswordChange::MustChange::kLeave) {
    parts.push_back(MustChangeVerb(change.must_change));
  }
  return JoinedList(parts);
}

// The AD rights each part of `change` needs on the user object.
std::string AdRights(const PasswordChange& change) {
  std::vector<std::string> rights;
  if (change.password == PasswordChange::Password::kReset) {
    rights.emplace_back("the \"Reset Password\" control access right");
  } else if (change.password == PasswordChange::Password::kChange) {
    rights.emplace_back("the \"Change Password\" control access right");
  }
  if (change.unlock) rights.emplace_back("Write Property on lockoutTime");
  if (change.must_change != PasswordChange::MustChange::kLeave) {
    rights.emplace_back("Write Property on pwdLastSet");
  }
  return JoinedList(rights);
}

std::string AdminSdHolderAdvice() {
  return ". The account has adminCount=1: it is, or was, a member of a protected group "
         "(Domain Admins, Account Operators, ...), so Active Directory protects it with "
         "AdminSDHolder: every 60 minutes SDProp replaces its permissions with those of "
         "CN=AdminSDHolder,CN=System in the domain and turns inheritance off, so rights "
         "delegated on its OU never reach it. Reset it as a domain administrator instead; if it "
         "has left every protected group, clear its adminCount and re-enable inheritance on it";
}

std::string OpenLdapAttribute(OpenLdapStep step) {
  switch (step) {
    case OpenLdapStep::kSetPassword:
      return "userPassword";
    case OpenLdapStep::kUnlock:
      return "pwdAccountLockedTime";
    case OpenLdapStep::kSetMustChange:
      return "pwdReset";
  }
  return "userPassword";
}

std::string OpenLdapVerb(OpenLdapStep step) {
  switch (step) {
    case OpenLdapStep::kSetPassword:
      return "set the password";
    case OpenLdapStep::kUnlock:
      return "unlock the account";
    case OpenLdapStep::kSetMustChange:
      return "set or clear the password change at next logon (pwdReset)";
  }
  return "write";
}

}  // namespace

std::string AdAccessDeniedReason(const Account& account, const PasswordChange& change) {
  std::string reason = "the service account may not ";
  reason += Refused(change);
  reason += " of ";
  reason += EscapeForLog(account.dn);
  reason += ": on Active Directory it needs ";
  reason += AdRights(change);
  reason += " on the user, usually delegated on its OU for descendant User objects";
  if (account.protected_account) {
    reason += AdminSdHolderAdvice();
  } else {
    reason += "; check that the user inherits it (inheritance not disabled on the user)";
  }
  return reason;
}

std::string OpenLdapAccessDeniedReason(const Account& account, OpenLdapStep step,
                                       std::string_view bind_dn) {
  const std::string attribute = OpenLdapAttribute(step);
  std::string reason = "the service account may not ";
  reason += OpenLdapVerb(step);
  reason += " of ";
  reason += EscapeForLog(account.dn);
  reason += ": on OpenLDAP it needs `write` access to ";
  reason += attribute;
  reason += " in olcAccess, e.g. `to attrs=";
  reason += attribute;
  reason += " by dn.exact=\"";
  // With SASL EXTERNAL there is no bind_dn: the certificate's identity maps to the DN.
  reason += bind_dn.empty() ? "<the DN the client certificate maps to>" : EscapeForLog(bind_dn);
  reason += "\" write` on the users' subtree, before any rule that stops there";
  return reason;
}

}  // namespace wb::ldap
