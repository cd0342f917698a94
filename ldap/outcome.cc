#include "ldap/outcome.h"

#include <ldap.h>

#include <algorithm>
#include <cctype>

#include "common/log_escape.h"

namespace wb::ldap {
namespace {

bool Contains(std::string_view haystack, std::string_view needle) {
  auto it = std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end(),
                        [](char a, char b) {
                          return std::tolower(static_cast<unsigned char>(a)) ==
                                 std::tolower(static_cast<unsigned char>(b));
                        });
  return it != haystack.end();
}

Outcome WithDiagnostic(Outcome outcome, std::string_view diagnostic) {
  outcome.diagnostic = EscapeForLog(diagnostic, 512);
  return outcome;
}

Outcome WrongOldPassword() {
  return MakeOutcome(OutcomeCode::kWrongOldPassword,
                     "the old password given for the change is wrong");
}

// AD and Samba explain a 0000052D constraint violation in words; the words name the rule.
Outcome AdPasswordRestriction(std::string_view diag) {
  if (Contains(diag, "too short")) {
    return MakeOutcome(OutcomeCode::kPolicyTooShort,
                       "the new password is shorter than the domain's minimum length");
  }
  if (Contains(diag, "history") || Contains(diag, "already used")) {
    return MakeOutcome(OutcomeCode::kPolicyInHistory,
                       "the new password is in the account's password history");
  }
  if (Contains(diag, "complexity")) {
    return MakeOutcome(OutcomeCode::kPolicyComplexity,
                       "the new password does not meet the domain's complexity requirements");
  }
  if (Contains(diag, "too young")) {
    return MakeOutcome(OutcomeCode::kPolicyTooYoung,
                       "the password was changed too recently (minimum password age)");
  }
  if (Contains(diag, "too long")) {
    return MakeOutcome(OutcomeCode::kPolicyTooLong,
                       "the new password is longer than the domain allows");
  }
  return MakeOutcome(OutcomeCode::kPolicyViolation,
                     "the domain controller's password policy refused the new password "
                     "(length, complexity, history, minimum age or a password filter)");
}

// The "data XXX" part of an AD bind error says why the bind was refused.
std::string AdBindReason(std::string_view diag) {
  struct Reason {
    const char* data;
    const char* text;
  };
  static constexpr Reason kReasons[] = {
      {"data 52e", "wrong password"},
      {"data 525", "account not found"},
      {"data 530", "not permitted to log on at this time"},
      {"data 531", "not permitted to log on from this workstation"},
      {"data 532", "password expired"},
      {"data 533", "account disabled"},
      {"data 701", "account expired"},
      {"data 773", "password must be changed"},
      {"data 775", "account locked out"},
  };
  for (const auto& r : kReasons) {
    if (Contains(diag, r.data)) return r.text;
  }
  return "invalid credentials";
}

Outcome ServiceBindOutcome(int rc, std::string_view diag) {
  if (rc == LDAP_INVALID_CREDENTIALS) {
    return MakeOutcome(OutcomeCode::kServiceBindFailed,
                       "the directory refused the service account's bind: " + AdBindReason(diag) +
                           "; check bind_dn and the bind password (bind_password_file or "
                           "bind_password_credential)");
  }
  if (rc == LDAP_STRONG_AUTH_REQUIRED || rc == LDAP_CONFIDENTIALITY_REQUIRED) {
    return MakeOutcome(OutcomeCode::kServiceBindFailed,
                       "the directory requires a stronger authentication or encryption for "
                       "the service account's bind");
  }
  return MakeOutcome(OutcomeCode::kServiceBindFailed,
                     std::string("the service account's bind failed: ") + ldap_err2string(rc));
}

Outcome ConstraintViolation(std::string_view diag, OperationKind kind) {
  if (Contains(diag, "0000052D")) return AdPasswordRestriction(diag);
  if (Contains(diag, "00000056")) return WrongOldPassword();
  if (Contains(diag, "not being changed from existing value")) {
    return MakeOutcome(OutcomeCode::kPolicyUnchanged,
                       "the new password is the same as the current one");
  }
  if (kind == OperationKind::kPasswordChange || kind == OperationKind::kWrite) {
    return MakeOutcome(OutcomeCode::kPolicyViolation,
                       "the directory's password policy refused the new password");
  }
  return MakeOutcome(OutcomeCode::kDirectoryRefused, "the directory refused the operation");
}

// slapd's ppolicy lets an account whose password was reset under pwdMustChange (pwdReset:
// TRUE) do nothing but bind and change its own password, and says so with insufficientAccess
// (and PP_changeAfterReset when the control was sent). For the service account that is a fault
// of the agent's own setup, like a refused bind: it waits for the administrator's fix (so it is
// transient) instead of failing users with "contact your administrator" and advice about read
// rights it already has.
constexpr std::string_view kRestrictedAfterReset =
    "Operations are restricted to bind/unbind/abandon/StartTLS/modify password";

Outcome ServiceAccountMustChangePassword() {
  return MakeOutcome(OutcomeCode::kServiceBindFailed,
                     "the service account's password was reset and must be changed first "
                     "(pwdReset under the policy's pwdMustChange): slapd lets it do nothing "
                     "else; set its password again with pwdReset removed, or give it a policy "
                     "without pwdMustChange");
}

// In no directory kind's words: the kind's writer knows what it asked for and which right
// that needs there, and replaces this reason (ldap/access_denied.h).
Outcome InsufficientAccess(std::string_view diag, OperationKind kind) {
  if (Contains(diag, kRestrictedAfterReset)) return ServiceAccountMustChangePassword();
  if (kind == OperationKind::kSearch) {
    return MakeOutcome(OutcomeCode::kAccessDenied,
                       "the service account may not read this entry: give it read access");
  }
  return MakeOutcome(OutcomeCode::kAccessDenied,
                     "the service account lacks the right for this write on this entry");
}

Outcome UnwillingToPerform(std::string_view diag, OperationKind kind) {
  // slapd checks the old password of a Password Modify itself, before ppolicy, and answers a
  // mismatch with 53 and this text only (servers/slapd/passwd.c). It says the same when the
  // user has no userPassword (then no old password is right either) or when the service
  // account cannot read userPassword (it needs `write`, which includes read).
  if (kind == OperationKind::kPasswordChange &&
      Contains(diag, "unwilling to verify old password")) {
    return WrongOldPassword();
  }
  if (Contains(diag, "0000001F")) {
    return MakeOutcome(OutcomeCode::kDirectoryRefused,
                       "the domain controller will not perform the password write "
                       "(WILL_NOT_PERFORM): the connection must be encrypted, and the value "
                       "must be accepted by its password filters");
  }
  return MakeOutcome(OutcomeCode::kDirectoryRefused,
                     "the directory is unwilling to perform the operation");
}

// Referrals are not chased: the agent talks only to the servers it was given.
Outcome Referral(OperationKind kind) {
  if (kind == OperationKind::kSearch) {
    // A read of an entry this server does not hold (a DN in another domain or naming
    // context): every server of the directory answers so, so it is no server's failure.
    return MakeOutcome(OutcomeCode::kInternalError,
                       "the server referred the read to another server (LDAP referral): the "
                       "entry is in a naming context this directory's servers do not hold");
  }
  // A read-only replica (an AD RODC: "0000202B: RefErr", a slapd consumer with olcUpdateRef)
  // refers writes to its provider. As a server failure this one is backed off and the next
  // URL tried, instead of every write failing on it for good.
  return MakeOutcome(OutcomeCode::kDirectoryUnavailable,
                     "the server referred the write to another server (LDAP referral): it is "
                     "probably a read-only replica; list writable servers in urls");
}

Outcome ConnectFailure(int rc, std::string_view diag) {
  if (Contains(diag, "TLS") || Contains(diag, "certificate") || Contains(diag, "SSL")) {
    return MakeOutcome(OutcomeCode::kTlsFailure,
                       "TLS to the directory failed: check ca_file and that the server's "
                       "certificate names the host in the URL");
  }
  return MakeOutcome(OutcomeCode::kDirectoryUnavailable,
                     std::string("cannot reach the directory server: ") + ldap_err2string(rc));
}

// Failures that say the server could not be reached or did not answer, whatever the operation.
bool IsConnectivity(int rc) {
  return rc == LDAP_SERVER_DOWN || rc == LDAP_CONNECT_ERROR || rc == LDAP_BUSY ||
         rc == LDAP_UNAVAILABLE || rc == LDAP_TIMEOUT || rc == LDAP_TIMELIMIT_EXCEEDED;
}

// Answers to the service account's bind from a server that could not complete it for a reason
// of its own (a backend error, an administrative limit): they say nothing of the credentials.
bool IsServerTrouble(int rc) {
  return rc == LDAP_OTHER || rc == LDAP_ADMINLIMIT_EXCEEDED || rc == LDAP_OPERATIONS_ERROR;
}

Outcome ErrorResult(int rc, std::string_view diag, OperationKind kind) {
  if (kind == OperationKind::kServiceBind && IsServerTrouble(rc)) {
    // Not a refusal of the credentials: the pool's hold on binds (which keeps a wrong password
    // from locking the account out) would stop every write for minutes after a passing fault;
    // as a server failure it backs off that server and fails over instead.
    return MakeOutcome(OutcomeCode::kDirectoryUnavailable,
                       std::string("the directory server could not complete the service "
                                   "account's bind: ") +
                           ldap_err2string(rc));
  }
  // Any other refusal of the service account's own bind is about its credentials or method.
  if (kind == OperationKind::kServiceBind && !IsConnectivity(rc)) {
    return ServiceBindOutcome(rc, diag);
  }
  switch (rc) {
    case LDAP_CONSTRAINT_VIOLATION:
      return ConstraintViolation(diag, kind);
    case LDAP_INSUFFICIENT_ACCESS:
      return InsufficientAccess(diag, kind);
    case LDAP_UNWILLING_TO_PERFORM:
      return UnwillingToPerform(diag, kind);
    case LDAP_NO_SUCH_OBJECT:
      return MakeOutcome(OutcomeCode::kUserNotFound, "the account no longer exists");
    case LDAP_INVALID_CREDENTIALS:
      if (Contains(diag, "00000056")) return ConstraintViolation(diag, kind);
      return WrongOldPassword();
    case LDAP_FILTER_ERROR:
    case LDAP_INAPPROPRIATE_MATCHING:
      // libldap could not parse the filter (it sends nothing), or the server does not know a
      // matching rule in it: a configuration error, never "matches nothing".
      return MakeOutcome(OutcomeCode::kInternalError,
                         "the search filter was refused: it is not valid RFC 4515 syntax, or "
                         "names a matching rule the directory does not support");
    case LDAP_UNAVAILABLE_CRITICAL_EXTENSION:
      return MakeOutcome(OutcomeCode::kNotSupported,
                         "the server does not support a control this operation requires");
    case LDAP_SERVER_DOWN:
    case LDAP_CONNECT_ERROR:
      return ConnectFailure(rc, diag);
    case LDAP_BUSY:
    case LDAP_UNAVAILABLE:
    case LDAP_ADMINLIMIT_EXCEEDED:
    case LDAP_OTHER:
      return MakeOutcome(
          OutcomeCode::kDirectoryUnavailable,
          std::string("the directory server is busy or unavailable: ") + ldap_err2string(rc));
    case LDAP_TIMEOUT:
    case LDAP_TIMELIMIT_EXCEEDED:
      return MakeOutcome(OutcomeCode::kDirectoryTimeout,
                         "the directory server did not answer in time");
    case LDAP_REFERRAL:
      return Referral(kind);
    default:
      return MakeOutcome(OutcomeCode::kInternalError, std::string("unexpected LDAP result ") +
                                                          std::to_string(rc) + " (" +
                                                          ldap_err2string(rc) + ")");
  }
}

}  // namespace

std::string_view OutcomeName(OutcomeCode code) {
  switch (code) {
    case OutcomeCode::kSucceeded:
      return "succeeded";
    case OutcomeCode::kUserNotFound:
      return "user_not_found";
    case OutcomeCode::kAmbiguousUser:
      return "ambiguous_user";
    case OutcomeCode::kLookupNotEnabled:
      return "lookup_not_enabled";
    case OutcomeCode::kOutOfScope:
      return "out_of_scope";
    case OutcomeCode::kAccountDisabled:
      return "account_disabled";
    case OutcomeCode::kAccessDenied:
      return "access_denied";
    case OutcomeCode::kDirectoryRefused:
      return "directory_refused";
    case OutcomeCode::kServiceBindFailed:
      return "service_bind_failed";
    case OutcomeCode::kPolicyTooShort:
      return "policy_too_short";
    case OutcomeCode::kPolicyTooLong:
      return "policy_too_long";
    case OutcomeCode::kPolicyInHistory:
      return "policy_in_history";
    case OutcomeCode::kPolicyTooYoung:
      return "policy_too_young";
    case OutcomeCode::kPolicyComplexity:
      return "policy_complexity";
    case OutcomeCode::kPolicyUnchanged:
      return "policy_unchanged";
    case OutcomeCode::kPolicyChangeNotAllowed:
      return "policy_change_not_allowed";
    case OutcomeCode::kPolicyOldPasswordRequired:
      return "policy_old_password_required";
    case OutcomeCode::kPolicyViolation:
      return "policy_violation";
    case OutcomeCode::kWrongOldPassword:
      return "wrong_old_password";
    case OutcomeCode::kHistoryNotEnforceable:
      return "history_not_enforceable";
    case OutcomeCode::kDirectoryUnavailable:
      return "directory_unavailable";
    case OutcomeCode::kDirectoryTimeout:
      return "directory_timeout";
    case OutcomeCode::kTlsFailure:
      return "tls_failure";
    case OutcomeCode::kNotSupported:
      return "not_supported";
    case OutcomeCode::kInternalError:
      return "internal_error";
  }
  return "internal_error";
}

bool IsTransient(OutcomeCode code) {
  // Every code listed, no default: a new code must be placed here on purpose (-Wswitch).
  switch (code) {
    case OutcomeCode::kDirectoryUnavailable:
    case OutcomeCode::kDirectoryTimeout:
    case OutcomeCode::kServiceBindFailed:
    case OutcomeCode::kTlsFailure:
      return true;
    case OutcomeCode::kSucceeded:
    case OutcomeCode::kUserNotFound:
    case OutcomeCode::kAmbiguousUser:
    case OutcomeCode::kLookupNotEnabled:
    case OutcomeCode::kOutOfScope:
    case OutcomeCode::kAccountDisabled:
    case OutcomeCode::kAccessDenied:
    case OutcomeCode::kDirectoryRefused:
    case OutcomeCode::kPolicyTooShort:
    case OutcomeCode::kPolicyTooLong:
    case OutcomeCode::kPolicyInHistory:
    case OutcomeCode::kPolicyTooYoung:
    case OutcomeCode::kPolicyComplexity:
    case OutcomeCode::kPolicyUnchanged:
    case OutcomeCode::kPolicyChangeNotAllowed:
    case OutcomeCode::kPolicyOldPasswordRequired:
    case OutcomeCode::kPolicyViolation:
    case OutcomeCode::kWrongOldPassword:
    case OutcomeCode::kHistoryNotEnforceable:
    case OutcomeCode::kNotSupported:
    case OutcomeCode::kInternalError:
      return false;
  }
  return false;
}

std::string Outcome::ToString() const {
  std::string out(OutcomeName(code));
  if (!reason.empty()) out += ": " + reason;
  if (!diagnostic.empty()) out += " [" + diagnostic + "]";
  return out;
}

std::optional<OutcomeCode> ParseOutcomeName(std::string_view name) {
  for (int i = 0; i <= static_cast<int>(kLastOutcomeCode); ++i) {
    const auto code = static_cast<OutcomeCode>(i);
    if (OutcomeName(code) == name) return code;
  }
  return std::nullopt;
}

Outcome Succeeded(std::string server) {
  Outcome o;
  o.code = OutcomeCode::kSucceeded;
  o.server = std::move(server);
  return o;
}

Outcome MakeOutcome(OutcomeCode code, std::string reason) {
  Outcome o;
  o.code = code;
  o.reason = std::move(reason);
  return o;
}

Outcome OutcomeFromLdap(int ldap_result, std::string_view diagnostic, OperationKind kind) {
  if (ldap_result == LDAP_SUCCESS) return Succeeded();
  if (ldap_result == LDAP_NO_SUCH_ATTRIBUTE && kind == OperationKind::kClearAttribute) {
    return Succeeded();
  }
  return WithDiagnostic(ErrorResult(ldap_result, diagnostic, kind), diagnostic);
}

Outcome OutcomeFromPpolicy(int ppolicy_error, std::string_view diagnostic) {
  Outcome o;
  switch (ppolicy_error) {
    case PP_noError:
      return Succeeded();
    case PP_passwordTooShort:
      o = MakeOutcome(OutcomeCode::kPolicyTooShort,
                      "the new password is shorter than the policy's pwdMinLength");
      break;
    case PP_passwordTooLong:
      o = MakeOutcome(OutcomeCode::kPolicyTooLong,
                      "the new password is longer than the policy's pwdMaxLength");
      break;
    case PP_passwordInHistory:
      // slapd reports "the new password is the current one" with the history code too; only
      // its text tells them apart, and the pipeline needs to (a retry that meets its own write).
      o = Contains(diagnostic, "not being changed from existing value")
              ? MakeOutcome(OutcomeCode::kPolicyUnchanged,
                            "the new password is the same as the current one")
              : MakeOutcome(OutcomeCode::kPolicyInHistory,
                            "the new password is in the account's history (pwdInHistory)");
      break;
    case PP_passwordTooYoung:
      o = MakeOutcome(OutcomeCode::kPolicyTooYoung,
                      "the password was changed too recently (pwdMinAge)");
      break;
    case PP_insufficientPasswordQuality:
      o = MakeOutcome(OutcomeCode::kPolicyComplexity,
                      "the new password does not meet the policy's quality check");
      break;
    case PP_passwordModNotAllowed:
      o = MakeOutcome(OutcomeCode::kPolicyChangeNotAllowed,
                      "the policy does not allow this password to be changed");
      break;
    case PP_mustSupplyOldPassword:
      o = MakeOutcome(OutcomeCode::kPolicyOldPasswordRequired,
                      "the policy requires the old password for this change (pwdSafeModify)");
      break;
    case PP_changeAfterReset:
      o = ServiceAccountMustChangePassword();
      break;
    case PP_accountLocked:
      o = MakeOutcome(OutcomeCode::kPolicyViolation, "the account is locked by the policy");
      break;
    default:
      o = MakeOutcome(OutcomeCode::kPolicyViolation,
                      "the directory's password policy refused the new password");
      break;
  }
  return WithDiagnostic(std::move(o), diagnostic);
}

}  // namespace wb::ldap
