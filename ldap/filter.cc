#include "ldap/filter.h"

namespace wb::ldap {

std::string EscapeFilterValue(std::string_view value) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(value.size());
  for (unsigned char c : value) {
    const bool special = c == '*' || c == '(' || c == ')' || c == '\\' || c < 0x20 || c >= 0x7f;
    if (special) {
      out.push_back('\\');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out;
}

namespace {

std::string AccountFilterTerms(config::DirectoryKind kind) {
  switch (kind) {
    case config::DirectoryKind::kActiveDirectory:
      return "(objectCategory=person)(objectClass=user)";
    case config::DirectoryKind::kOpenLdap:
      return "(objectClass=person)";
  }
  return "(objectClass=person)";
}

}  // namespace

std::string AccountFilter(config::DirectoryKind kind) {
  return "(&" + AccountFilterTerms(kind) + ")";
}

std::string UserFilter(config::DirectoryKind kind, config::LookupAttribute attribute,
                       std::string_view value) {
  return "(&" + AccountFilterTerms(kind) + "(" + std::string(config::Name(attribute)) + "=" +
         EscapeFilterValue(value) + "))";
}

}  // namespace wb::ldap
