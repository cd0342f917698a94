#pragma once
// What differs between Active Directory and OpenLDAP (internal to ldap/): which attributes
// describe an account, how a change is written, where the password policy lives, how nested
// group membership is found.

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "ldap/connection.h"
#include "ldap/directory.h"
#include "ldap/dn.h"

namespace wb::ldap {

class KindOps {
 public:
  virtual ~KindOps() = default;
  // Attributes a subtree search can return; Complete() fetches anything else it needs.
  virtual std::vector<std::string> AccountAttributes() const = 0;
  // Fills the fields that need a base-scope read (AD's constructed attributes).
  virtual Result<Account, Outcome> Complete(Connection& conn, const Entry& entry) = 0;
  virtual Outcome Apply(Connection& conn, const Account& account, const PasswordChange& change) = 0;
  virtual Result<PasswordPolicy, Outcome> ReadPolicy(Connection& conn, const Account& account) = 0;
  // Indices into `groups`, ascending, of the groups `account` is a member of, directly or
  // through nested groups (Directory::AnswerScope). REQUIRES: `groups` is not empty.
  virtual Result<std::vector<std::size_t>, Outcome> MemberOf(Connection& conn,
                                                             const Account& account,
                                                             const std::vector<Dn>& groups) = 0;
};

std::unique_ptr<KindOps> MakeAdOps(const config::DirectoryConfig& config);
std::unique_ptr<KindOps> MakeOpenLdapOps(const config::DirectoryConfig& config);

// Shared parsing helpers. A time the clock cannot hold (WallTime counts nanoseconds from 1970
// in 64 bits: about the years 1678 to 2261) is nullopt, as an unparsable one: the directory's
// value is untrusted input, and out of range it would overflow.
std::optional<WallTime> ParseGeneralizedTime(std::string_view text);
// AD's FILETIME (pwdLastSet): 100 ns intervals since 1601-01-01; 0 (and less) is "no time".
std::optional<WallTime> FileTimeToWallTime(long long ticks);
std::optional<long long> ParseInteger(const std::optional<std::string>& text);
// "\"password\"" as UTF-16LE, the value AD's unicodePwd takes; kPolicyViolation when the
// password is not valid UTF-8.
Result<Secret, Outcome> AdQuotedUtf16(std::string_view utf8);

}  // namespace wb::ldap
