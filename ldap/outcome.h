#pragma once
// The directory's answer to one request, in wbagent's own stable vocabulary.
//
// Every LDAP result code, Active Directory diagnostic (e.g. "0000052D: ...") and ppolicy
// response error is converted here, once, at the boundary; nothing above ldap/ looks at an
// LDAP code or a diagnostic text. Each code is either transient (the queue retries it until
// the request expires) or permanent (the request fails now). docs/troubleshooting.md lists
// every code with what an administrator should do about it.

#include <optional>
#include <string>
#include <string_view>

namespace wb::ldap {

enum class OutcomeCode {
  kSucceeded,
  // The account.
  kUserNotFound,
  kAmbiguousUser,
  kLookupNotEnabled,  // the request names the user by an attribute lookup_attributes omits
  kOutOfScope,        // a DN target outside base_dn, or no directory routes the target
  kAccountDisabled,
  // Rights and refusals.
  kAccessDenied,       // the service account lacks a right on this user (LDAP 50, AD 00000005)
  kDirectoryRefused,   // the server will not perform the write (LDAP 53, AD 0000001F)
  kServiceBindFailed,  // transient: the service account's own bind was refused (the agent's
                       // fault, not the user's: retried until fixed or the request expires)
  // Password rules enforced by the directory.
  kPolicyTooShort,
  kPolicyTooLong,
  kPolicyInHistory,
  kPolicyTooYoung,
  kPolicyComplexity,           // AD complexity, ppolicy insufficient quality
  kPolicyUnchanged,            // the new password equals the current one
  kPolicyChangeNotAllowed,     // ppolicy passwordModNotAllowed
  kPolicyOldPasswordRequired,  // ppolicy mustSupplyOldPassword
  kPolicyViolation,            // another constraint the directory enforces
  kWrongOldPassword,           // a change whose old password is wrong (AD 00000056)
  kHistoryNotEnforceable,      // history_on_reset = "enforce" and the DC lacks policy hints
  // The connection.
  kDirectoryUnavailable,  // transient: no server could be reached, or it was busy
  kDirectoryTimeout,      // transient: the server did not answer in time
  kTlsFailure,            // transient: the server's certificate or the handshake was refused
  kNotSupported,          // the server lacks a feature this operation needs
  kInternalError,
};

// The stable snake_case name, e.g. "policy_too_short". These names appear in the audit
// trail, the cloud's result and docs/troubleshooting.md: never rename one.
std::string_view OutcomeName(OutcomeCode code);
// The code OutcomeName spells `name`; nullopt for any other text.
std::optional<OutcomeCode> ParseOutcomeName(std::string_view name);
inline constexpr OutcomeCode kLastOutcomeCode = OutcomeCode::kInternalError;

// Retried with back-off until the request expires: the directory could not be reached, or the
// agent's own setup failed (its bind, its TLS trust). Such a failure says nothing about the
// user's request, and fixing it (then `systemctl reload wbagent`) lets the waiting requests
// through. Everything else is decided by the directory about this request: permanent.
bool IsTransient(OutcomeCode code);

struct Outcome {
  OutcomeCode code = OutcomeCode::kInternalError;
  std::string reason;      // for people: names the rule or right; never holds a secret
  std::string diagnostic;  // the server's text, escaped with EscapeForLog; may be empty
  std::string server;      // the URL of the server that answered; may be empty
  // Facts a caller must report even on success, e.g. "history not enforced: the DC does
  // not support the policy hints control".
  std::string note;

  bool ok() const { return code == OutcomeCode::kSucceeded; }
  bool transient() const { return IsTransient(code); }
  std::string ToString() const;  // "code: reason [diagnostic]"
};

Outcome Succeeded(std::string server = {});
Outcome MakeOutcome(OutcomeCode code, std::string reason);

// What kind of operation produced a result: the same LDAP code means different things for
// the service account's bind and for a write.
enum class OperationKind {
  kServiceBind,
  kSearch,
  kWrite,
  kPasswordChange,
  kClearAttribute,  // deleting an attribute that may already be absent: absent is success
};

// Converts an LDAP result (and the server's diagnostic message) into an Outcome.
Outcome OutcomeFromLdap(int ldap_result, std::string_view diagnostic, OperationKind kind);

// Converts a ppolicy response control's error (LDAPPasswordPolicyError) into an Outcome.
// Returns kSucceeded for PP_noError.
Outcome OutcomeFromPpolicy(int ppolicy_error, std::string_view diagnostic);

}  // namespace wb::ldap
