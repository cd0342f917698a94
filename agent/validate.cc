#include "agent/validate.h"

#include <vector>

namespace wb::agent {
namespace {

struct Failure {
  std::string code;
  std::string reason;
};

// Every enforced rule the local check matched: a log-only rule does not refuse a real request,
// so it does not fail a validate either.
void AddLocalFailures(const policy::Decision& d, std::vector<Failure>& failures) {
  for (const policy::RuleMatch& m : d.matches) {
    if (!m.enforced) continue;
    std::string reason = m.rule;
    reason += ": ";
    reason += m.reason;
    failures.push_back({std::string(policy::CodeName(m.code)), std::move(reason)});
  }
}

std::string Join(const std::vector<Failure>& failures, const std::string& not_checked) {
  std::string text;
  for (const Failure& f : failures) {
    if (!text.empty()) text += "; ";
    text += f.code;
    text += ": ";
    text += f.reason;
  }
  if (!not_checked.empty()) {
    if (!text.empty()) text += "; ";
    text += not_checked;
  }
  return text;
}

}  // namespace

ValidateAnswer AnswerValidate(const policy::Policy& rules, const policy::RequestFacts& request,
                              const policy::PasswordFacts& password, ldap::Directory& directory,
                              const ldap::Account& account) {
  ValidateAnswer answer;
  std::vector<Failure> failures;
  if (rules.ChecksPasswords(password.directory, request.requester.type)) {
    answer.local = rules.CheckPassword(request, password);
    AddLocalFailures(*answer.local, failures);
  }
  std::string not_checked;
  auto own = directory.EffectivePolicy(account);
  if (!own.ok() && own.error().transient()) {
    answer.retry = own.error();
    return answer;
  }
  if (own.ok()) {
    policy::DirectoryRulesAnswer checked =
        policy::CheckDirectoryRules(*own, account, *password.new_password);
    for (const ldap::Outcome& o : checked.failures) {
      failures.push_back({std::string(ldap::OutcomeName(o.code)), o.reason});
    }
    not_checked = std::move(checked.not_checked);
  } else {
    not_checked = "the directory's own rules were not checked: ";
    not_checked += own.error().ToString();
  }
  answer.passed = failures.empty();
  answer.code = answer.passed ? std::string(ldap::OutcomeName(ldap::OutcomeCode::kSucceeded))
                              : failures.front().code;
  answer.message = Join(failures, not_checked);
  return answer;
}

}  // namespace wb::agent
