#pragma once
// What an access_denied means on each kind of directory (internal to ldap/): the operation the
// directory refused, the right it needs there, and for an AD account protected by
// AdminSDHolder, why delegation cannot reach it. OutcomeFromLdap only knows "insufficient
// access"; the kind's writer knows what it asked for and replaces the reason with one of these.

#include <string>
#include <string_view>

#include "ldap/directory.h"

namespace wb::ldap {

// What a refused OpenLDAP step asked for: one password or attribute write.
enum class OpenLdapStep {
  kSetPassword,    // the Password Modify operation (userPassword)
  kUnlock,         // deleting pwdAccountLockedTime
  kSetMustChange,  // writing or deleting pwdReset
};

// "the service account may not reset the password and unlock the account of CN=...: on AD it
// needs ..." for the parts of `change`; for an account with adminCount=1, the AdminSDHolder
// explanation and what to do instead.
std::string AdAccessDeniedReason(const Account& account, const PasswordChange& change);

// "the service account may not unlock the account of uid=...: on OpenLDAP it needs `write` to
// pwdAccountLockedTime in olcAccess ..."; `bind_dn` (empty with SASL EXTERNAL) goes in the
// example rule.
std::string OpenLdapAccessDeniedReason(const Account& account, OpenLdapStep step,
                                       std::string_view bind_dn);

}  // namespace wb::ldap
