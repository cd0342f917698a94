#include "ldap/dn.h"

#include <ldap.h>

#include <algorithm>
#include <memory>

namespace wb::ldap {
namespace {

char AsciiLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// caseIgnoreMatch's form of a string value: ASCII case folded, insignificant spaces removed.
std::string MatchingForm(std::string_view value) {
  std::string out;
  bool pending_space = false;
  for (char c : value) {
    if (c == ' ') {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out.push_back(' ');
    pending_space = false;
    out.push_back(AsciiLower(c));
  }
  return out;
}

// AD's <GUID=...>, <SID=...> and <WKGUID=...> forms, alone or before ";dn".
bool IsExtendedForm(std::string_view text) {
  const auto start = text.find_first_not_of(' ');
  return start != std::string_view::npos && text[start] == '<';
}

std::string_view View(const berval& b) { return {b.bv_val, b.bv_len}; }

}  // namespace

Result<Dn> Dn::Parse(std::string_view text) {
  if (IsExtendedForm(text)) {
    return InvalidArgument(
        "an extended DN form (<GUID=...>, <SID=...>, <WKGUID=...>) names no place in the tree; "
        "use the account's DN");
  }
  if (text.find('\0') != std::string_view::npos) return InvalidArgument("the DN holds a NUL byte");
  const std::string owned(text);
  LDAPDN parsed = nullptr;
  if (ldap_str2dn(owned.c_str(), &parsed, LDAP_DN_FORMAT_LDAPV3) != LDAP_SUCCESS) {
    return InvalidArgument("not a valid DN (RFC 4514)");
  }
  std::unique_ptr<LDAPRDN, decltype(&ldap_dnfree)> guard(parsed, &ldap_dnfree);
  if (parsed == nullptr || parsed[0] == nullptr) return InvalidArgument("the DN is empty");
  Dn dn;
  dn.text_ = owned;
  for (LDAPRDN* rdn = parsed; *rdn != nullptr; ++rdn) {
    Rdn avas;
    for (LDAPAVA** ava = *rdn; *ava != nullptr; ++ava) {
      const bool binary = ((*ava)->la_flags & LDAP_AVA_BINARY) != 0;
      std::string type(View((*ava)->la_attr));
      std::transform(type.begin(), type.end(), type.begin(), AsciiLower);
      std::string value =
          binary ? std::string(View((*ava)->la_value)) : MatchingForm(View((*ava)->la_value));
      avas.push_back({std::move(type), std::move(value), binary});
    }
    std::sort(avas.begin(), avas.end());
    dn.rdns_.push_back(std::move(avas));
  }
  return dn;
}

bool Dn::IsWithin(const Dn& base) const {
  if (base.rdns_.size() > rdns_.size()) return false;
  return std::equal(base.rdns_.rbegin(), base.rdns_.rend(), rdns_.rbegin());
}

bool IsDnWithin(std::string_view dn, std::string_view base) {
  auto d = Dn::Parse(dn);
  auto b = Dn::Parse(base);
  return d.ok() && b.ok() && d->IsWithin(*b);
}

}  // namespace wb::ldap
