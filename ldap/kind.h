#pragma once
// What differs between Active Directory and OpenLDAP (internal to ldap/): which attributes
// describe an account, how a change is written, where the password policy lives, how nested
// group membership is found.

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
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

// `clock` judges a refused change against the minimum password age (ExplainRefusedChange).
std::unique_ptr<KindOps> MakeAdOps(const config::DirectoryConfig& config, const Clock& clock);
std::unique_ptr<KindOps> MakeOpenLdapOps(const config::DirectoryConfig& config);

// Shared parsing helpers. A time the clock cannot hold (WallTime counts nanoseconds from 1970
// in 64 bits: about the years 1678 to 2261) is nullopt, as an unparsable one: the directory's
// value is untrusted input, and out of range it would overflow.
std::optional<WallTime> ParseGeneralizedTime(std::string_view text);
// AD's FILETIME (pwdLastSet): 100 ns intervals since 1601-01-01; 0 (and less) is "no time".
std::optional<WallTime> FileTimeToWallTime(long long ticks);
// unicodePwd's attribute ID ([MS-ADA3] unicodePwd, 1.2.840.113556.1.4.90, under the prefix every
// AD forest maps to 0x0009): the same on every DC, so it is known without reading the schema.
inline constexpr std::uint32_t kUnicodePwdAttid = 0x9005A;
// When the attribute `attid` of an object was last written, at the DC where the write
// originated, from the object's replPropertyMetaData value (binary). AD keeps one stamp per
// attribute there: its ID, a version that every write increments, the write's time in seconds
// since 1601, the originating DC and two USNs, 48 bytes each after a 16-byte header (version 1,
// a reserved word, the count, a reserved word; little-endian throughout, the layout Samba's
// drsblobs.idl names replPropertyMetaDataBlob and Windows keeps as its property meta-data
// vector). nullopt when the value is not exactly that (another version, a length that does not
// match its count), when it has no stamp for `attid`, or when the time is before 1970 (0: never
// written) or one the clock cannot hold: the value comes from the directory, and nothing here
// trusts its lengths.
std::optional<WallTime> AttributeWrittenAt(std::string_view repl_property_meta_data,
                                           std::uint32_t attid);
std::optional<long long> ParseInteger(const std::optional<std::string>& text);
// A Windows DC refuses a user's change against any of its password rules with the same bare
// 0000052D, no words naming the rule (Samba's words name it: kPolicyTooYoung and the rest come
// from them). Within the minimum password age no password can pass, so such a refusal
// (`refused`, kPolicyViolation with 0000052D) of an account whose pwdLastSet is less than
// `policy.min_age` ago, by more than 5 s of clock difference, is kPolicyTooYoung: the user is
// told to try later, not to pick a stronger password. Not while the user must change the
// password (pwdLastSet 0): the DC does not apply the minimum age then. Otherwise `refused`
// unchanged.
Outcome ExplainRefusedChange(Outcome refused, const Account& account, const PasswordPolicy& policy,
                             WallTime now);
// "\"password\"" as UTF-16LE, the value AD's unicodePwd takes; kPolicyViolation when the
// password is not valid UTF-8.
Result<Secret, Outcome> AdQuotedUtf16(std::string_view utf8);

}  // namespace wb::ldap
