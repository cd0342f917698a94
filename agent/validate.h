#pragma once
// The answer to a `validate` request (protocol::Operation::kValidate; docs/protocol.md,
// "validate"): would this password be accepted for this account? (internal to agent/)
//
// Decides only: the pipeline records the answer (audit, queue) and reports it. It runs every
// local password rule (Policy::CheckPassword, each failing rule listed, not only the first),
// then the directory's own rules that can be checked without writing (the account's effective
// policy, read; policy::CheckDirectoryRules). Nothing is written and no user binds.
//
//   passed      every rule checked passed; `message` says what could not be checked
//   !passed     `code` is the first failing rule's (a policy::Code or an ldap::OutcomeCode
//               name, all of which ask for a stronger password); `message` lists every
//               failing rule ("code: reason; ..."), then what was not checked
//   retry       the directory's policy could not be read for a passing reason
//               (IsTransient): the request is retried like any other
//
// The message never holds the password, a part of it, or a banned term that matched.

#include <optional>
#include <string>

#include "ldap/directory.h"
#include "policy/policy.h"

namespace wb::agent {

struct ValidateAnswer {
  bool passed = false;
  std::string code;     // "succeeded" when passed
  std::string message;  // the reasons and what was not checked
  // The local rules' decision, for its policy_decision record; unset when no rule is on.
  std::optional<policy::Decision> local;
  // Set when the answer must wait: the directory could not be read now.
  std::optional<ldap::Outcome> retry;
};

ValidateAnswer AnswerValidate(const policy::Policy& rules, const policy::RequestFacts& request,
                              const policy::PasswordFacts& password, ldap::Directory& directory,
                              const ldap::Account& account);

}  // namespace wb::agent
