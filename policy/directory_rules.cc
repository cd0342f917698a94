// CheckDirectoryRules (policy.h): the directory's own password rules that `validate` can check
// without writing, the way each kind of directory checks them.
#include <algorithm>
#include <array>
#include <initializer_list>
#include <string>

#include "policy/password_rules.h"
#include "policy/policy.h"

namespace wb::policy {
namespace {

using internal::CodePoints;

// AD's five kinds of character ("Password must meet complexity requirements").
enum class AdKind { kUpper, kLower, kDigit, kSymbol, kOther, kNone };

// Lower-case letters of the scripts FoldCase knows (Latin-1, Latin Extended-A, Greek,
// Cyrillic): a letter that folding leaves alone there is lower case.
bool IsKnownLowerLetter(char32_t c) {
  return (c >= 0xDF && c <= 0xFF && c != 0xF7) || (c >= 0x100 && c <= 0x17F) ||
         (c >= 0x3AC && c <= 0x3CE) || (c >= 0x430 && c <= 0x45F);
}

AdKind AdKindOf(char32_t c) {
  if (c >= U'A' && c <= U'Z') return AdKind::kUpper;
  if (c >= U'a' && c <= U'z') return AdKind::kLower;
  if (c >= U'0' && c <= U'9') return AdKind::kDigit;
  // AD lists every ASCII punctuation character, and not the space.
  if (c > 0x20 && c < 0x7F) return AdKind::kSymbol;
  if (c < 0x80) return AdKind::kNone;
  if (internal::FoldCase(c) != c) return AdKind::kUpper;
  if (IsKnownLowerLetter(c)) return AdKind::kLower;
  return AdKind::kOther;
}

int CountAdKinds(const CodePoints& password) {
  std::array<bool, 6> seen{};
  for (char32_t c : password) seen[static_cast<std::size_t>(AdKindOf(c))] = true;
  seen[static_cast<std::size_t>(AdKind::kNone)] = false;
  return static_cast<int>(std::count(seen.begin(), seen.end(), true));
}

// UTF-16 code units: what AD's minPwdLength counts.
std::size_t Utf16Length(const CodePoints& password) {
  std::size_t n = 0;
  for (char32_t c : password) n += c > 0xFFFF ? 2 : 1;
  return n;
}

// The whole sAMAccountName as one token, when it is long enough to be checked (AD skips names
// shorter than 3 characters).
std::vector<std::u32string> WholeNameToken(const std::string& name) {
  auto text = internal::DecodeText(name);
  if (!text || text->size() < 3) return {};
  std::u32string folded = *text;
  std::transform(folded.begin(), folded.end(), folded.begin(),
                 [](char32_t c) { return internal::FoldCase(c); });
  return {folded};
}

// Joins the parts (built with +=: GCC 12 -O3 sees a false -Wrestrict in "literal" + string).
std::string Text(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (std::string_view p : parts) out += p;
  return out;
}

ldap::Outcome Failure(ldap::OutcomeCode code, std::string reason) {
  return ldap::MakeOutcome(code, std::move(reason));
}

void CheckAdRules(const ldap::PasswordPolicy& rules, const ldap::Account& account,
                  const CodePoints& password, DirectoryRulesAnswer& answer) {
  const std::size_t length = Utf16Length(password);
  if (rules.min_length > 0 && length < static_cast<std::size_t>(rules.min_length)) {
    answer.failures.push_back(
        Failure(ldap::OutcomeCode::kPolicyTooShort,
                Text({"shorter than the directory's minimum of ", std::to_string(rules.min_length),
                      " characters (", rules.source, ")"})));
  }
  if (!rules.complexity) return;
  if (internal::ContainsNameToken(password, WholeNameToken(account.login_name))) {
    answer.failures.push_back(
        Failure(ldap::OutcomeCode::kPolicyComplexity,
                Text({"contains the account name (AD complexity, ", rules.source, ")"})));
  }
  if (internal::ContainsNameToken(password, internal::NameTokens(account.display_name))) {
    answer.failures.push_back(
        Failure(ldap::OutcomeCode::kPolicyComplexity,
                Text({"contains a part of the display name (AD complexity, ", rules.source, ")"})));
  }
  if (CountAdKinds(password) < 3) {
    answer.failures.push_back(
        Failure(ldap::OutcomeCode::kPolicyComplexity,
                Text({"needs characters of 3 of 5 kinds: upper case, lower case, digits, "
                      "symbols, other letters (AD complexity, ",
                      rules.source, ")"})));
  }
}

void CheckOpenLdapRules(const ldap::PasswordPolicy& rules, std::size_t bytes,
                        DirectoryRulesAnswer& answer) {
  if (!rules.complexity) return;  // pwdCheckQuality 0: slapd checks no length either
  if (rules.min_length > 0 && bytes < static_cast<std::size_t>(rules.min_length)) {
    answer.failures.push_back(
        Failure(ldap::OutcomeCode::kPolicyTooShort,
                Text({"shorter than pwdMinLength ", std::to_string(rules.min_length), " (bytes, ",
                      rules.source, ")"})));
  }
  if (rules.max_length > 0 && bytes > static_cast<std::size_t>(rules.max_length)) {
    answer.failures.push_back(
        Failure(ldap::OutcomeCode::kPolicyTooLong,
                Text({"longer than pwdMaxLength ", std::to_string(rules.max_length), " (bytes, ",
                      rules.source, ")"})));
  }
}

std::string NotChecked(const ldap::PasswordPolicy& rules) {
  std::string text = "not checked without writing: history";
  if (rules.history_length > 0) text += Text({" (", std::to_string(rules.history_length), ")"});
  text += ", minimum age";
  if (rules.min_age.count() > 0) {
    text += Text({" (", std::to_string(rules.min_age.count()), " s)"});
  }
  if (rules.kind == config::DirectoryKind::kOpenLdap && rules.complexity) {
    text += ", any pwdCheckModule";
  }
  return text;
}

}  // namespace

DirectoryRulesAnswer CheckDirectoryRules(const ldap::PasswordPolicy& rules,
                                         const ldap::Account& account, const Secret& password) {
  DirectoryRulesAnswer answer;
  answer.not_checked = NotChecked(rules);
  const std::optional<CodePoints> decoded = internal::DecodeUtf8(password.view());
  if (!decoded) {
    // Neither kind can store it: AD needs UTF-16, and the agent refuses it for OpenLDAP too.
    answer.failures.push_back(
        Failure(ldap::OutcomeCode::kPolicyViolation, "the password is not valid UTF-8"));
    return answer;
  }
  switch (rules.kind) {
    case config::DirectoryKind::kActiveDirectory:
      CheckAdRules(rules, account, *decoded, answer);
      break;
    case config::DirectoryKind::kOpenLdap:
      CheckOpenLdapRules(rules, password.view().size(), answer);
      break;
  }
  return answer;
}

}  // namespace wb::policy
