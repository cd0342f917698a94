#pragma once
// Search filters built from request values (internal to ldap/).

#include <string>
#include <string_view>

#include "config/config.h"

namespace wb::ldap {

// RFC 4515 escaping: '*', '(', ')', '\' and NUL become \2a, \28, \29, \5c, \00, and so does
// every byte outside printable ASCII. A value escaped here can only ever match itself.
std::string EscapeFilterValue(std::string_view value);

// A lookup asks for this many entries: one is the answer, a second makes it ambiguous.
inline constexpr int kLookupEntries = 2;

// The filter every account of this kind of directory matches: on AD
// (&(objectCategory=person)(objectClass=user)), on OpenLDAP (&(objectClass=person)).
std::string AccountFilter(config::DirectoryKind kind);

// The filter that finds a user by one lookup attribute, e.g. for AD and sAMAccountName:
// (&(objectCategory=person)(objectClass=user)(sAMAccountName=<escaped>)).
// REQUIRES: attribute is not kDn (a DN is looked up with a base search).
std::string UserFilter(config::DirectoryKind kind, config::LookupAttribute attribute,
                       std::string_view value);

}  // namespace wb::ldap
