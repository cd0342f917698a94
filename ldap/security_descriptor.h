#pragma once
// Active Directory security descriptors, read without writing (for `wbagent doctor`).
//
// The one place that knows the binary, self-relative SECURITY_DESCRIPTOR format ([MS-DTYP]
// 2.4.6) that nTSecurityDescriptor holds: ParseSecurityDescriptor converts it once, at the
// boundary, into the structures below; nothing else reads its bytes. ChildAccess then answers
// "would this token be granted this right on a user object below this container?" from the
// container's DACL alone, the way AD's inheritance would put its ACEs on the child:
//   - only ACEs that are inherited by children count (CONTAINER_INHERIT_ACE; AD propagates to
//     child objects with it), and an inherit-only ACE counts there too (it is for children);
//   - an object ACE whose InheritedObjectType is set is inherited only by objects of that class
//     (here: the user class, bf967aba-0de6-11d0-a285-00aa003049e2);
//   - an object ACE whose ObjectType is set grants or denies only that right: a control access
//     right (extended right), or WriteProperty on that attribute or on a property set that
//     contains it; a non-object ACE, or an object ACE without ObjectType, covers every one;
//   - GENERIC_ALL and GENERIC_WRITE (as ACEs may still hold them) cover WriteProperty, and
//     GENERIC_ALL control access too;
//   - the DACL is read in canonical order: ACEs set on the container itself before ACEs it
//     inherited from above, and within each group a matching deny wins over any allow.
// The child's own explicit ACEs are not known from the container: a user whose inheritance is
// disabled (SE_DACL_PROTECTED) does not get these ACEs at all, which is why the doctor samples
// users for that flag separately.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace wb::ldap {

// A security identifier, kept as its binary form ([MS-DTYP] 2.4.2.2).
struct Sid {
  std::string bytes;
  bool operator==(const Sid&) const = default;
};
// "S-1-5-21-..."; "(invalid SID)" for bytes that are not one.
std::string SidText(const Sid& sid);
// A SID from its text form; nullopt when it is not one.
std::optional<Sid> ParseSidText(std::string_view text);
// A SID from its binary form (objectSid, tokenGroups values); nullopt when malformed.
std::optional<Sid> ParseSidBytes(std::string_view bytes);
// The SID in the same domain as `sid` with the relative ID `rid`: `sid` with its last
// sub-authority replaced. An account's primary group is named this way (primaryGroupID is a
// RID in the account's own domain, [MS-ADTS] 3.1.1.4.5). nullopt when `sid` is malformed or
// has no sub-authority to replace.
std::optional<Sid> SidInSameDomain(const Sid& sid, std::uint32_t rid);

// A GUID in the byte order AD stores (the first three fields little-endian).
struct Guid {
  std::array<std::uint8_t, 16> bytes{};
  bool operator==(const Guid&) const = default;
};
// From "00299570-246d-11d0-a768-00aa006e0529" (the form the schema and the docs use), or from
// the 16 bytes of a schemaIDGUID / attributeSecurityGUID value; nullopt when malformed.
std::optional<Guid> ParseGuidText(std::string_view text);
std::optional<Guid> GuidFromBytes(std::string_view bytes);
std::string GuidText(const Guid& guid);

// ACE types this module evaluates; other types (audit, callback) are kept as kOther and never
// grant or deny anything here.
enum class AceType { kAllow, kDeny, kAllowObject, kDenyObject, kOther };

struct Ace {
  AceType type = AceType::kOther;
  std::uint8_t flags = 0;  // AceFlags: kObjectInherit... below
  std::uint32_t mask = 0;  // access mask
  std::optional<Guid> object_type;
  std::optional<Guid> inherited_object_type;
  Sid sid;
};

inline constexpr std::uint8_t kObjectInheritAce = 0x01;
inline constexpr std::uint8_t kContainerInheritAce = 0x02;
inline constexpr std::uint8_t kNoPropagateInheritAce = 0x04;
inline constexpr std::uint8_t kInheritOnlyAce = 0x08;
inline constexpr std::uint8_t kInheritedAce = 0x10;

inline constexpr std::uint32_t kRightDsWriteProperty = 0x00000020;
inline constexpr std::uint32_t kRightDsControlAccess = 0x00000100;
inline constexpr std::uint32_t kGenericAll = 0x10000000;
inline constexpr std::uint32_t kGenericWrite = 0x40000000;

inline constexpr std::uint16_t kSeDaclPresent = 0x0004;
inline constexpr std::uint16_t kSeDaclProtected = 0x1000;

struct SecurityDescriptor {
  std::uint16_t control = 0;
  std::optional<std::vector<Ace>> dacl;  // nullopt: no DACL in the descriptor
  bool dacl_protected() const { return (control & kSeDaclProtected) != 0; }
};

// The self-relative descriptor in `bytes`. Errors (kInvalidArgument) name what is malformed:
// a revision other than 1, an offset or length outside the buffer, an ACE that overruns its
// ACL. Owner, group and SACL are not read (the doctor asks for the DACL only).
Result<SecurityDescriptor> ParseSecurityDescriptor(std::string_view bytes);

// One right to look for: `mask` is kRightDsControlAccess (with the extended right's GUID) or
// kRightDsWriteProperty (with the attribute's schemaIDGUID and, when the schema puts it in a
// property set, that set's GUID).
struct RightQuery {
  std::uint32_t mask = 0;
  Guid object_type;
  std::optional<Guid> property_set;
};

struct AccessAnswer {
  bool granted = false;
  // The deciding ACE (a deny that matched, or the allow that granted); nullopt when no ACE
  // matched (not granted: nothing allows it).
  std::optional<Ace> deciding;
};

// Would a token holding `token` SIDs be granted `query` on an object of class `child_class`
// created below a container whose descriptor is `container`? (See the header comment.)
AccessAnswer ChildAccess(const SecurityDescriptor& container, const std::vector<Sid>& token,
                         const RightQuery& query, const Guid& child_class);

}  // namespace wb::ldap
