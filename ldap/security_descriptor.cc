#include "ldap/security_descriptor.h"

#include <algorithm>
#include <cctype>
#include <cstdio>

namespace wb::ldap {
namespace {

std::uint16_t U16(std::string_view b, std::size_t at) {
  return static_cast<std::uint16_t>(static_cast<std::uint8_t>(b[at]) |
                                    static_cast<std::uint8_t>(b[at + 1]) << 8);
}

std::uint32_t U32(std::string_view b, std::size_t at) {
  return static_cast<std::uint32_t>(U16(b, at)) | static_cast<std::uint32_t>(U16(b, at + 2)) << 16;
}

// The length of the SID at the start of `b`, or 0 when it is not one.
std::size_t SidLength(std::string_view b) {
  if (b.size() < 8 || static_cast<std::uint8_t>(b[0]) != 1) return 0;
  const std::size_t n = 8 + 4 * static_cast<std::size_t>(static_cast<std::uint8_t>(b[1]));
  return static_cast<std::uint8_t>(b[1]) <= 15 && b.size() >= n ? n : 0;
}

AceType TypeOf(std::uint8_t type) {
  switch (type) {
    case 0x00:
      return AceType::kAllow;
    case 0x01:
      return AceType::kDeny;
    case 0x05:
      return AceType::kAllowObject;
    case 0x06:
      return AceType::kDenyObject;
    default:
      return AceType::kOther;
  }
}

bool IsObjectAce(AceType t) { return t == AceType::kAllowObject || t == AceType::kDenyObject; }
bool IsDeny(AceType t) { return t == AceType::kDeny || t == AceType::kDenyObject; }

// The body of an object ACE after its mask: Flags, [ObjectType], [InheritedObjectType], Sid.
Status ReadObjectAce(std::string_view body, Ace& ace) {
  if (body.size() < 4) return InvalidArgument("an object ACE is too short for its flags");
  const std::uint32_t present = U32(body, 0);
  std::size_t at = 4;
  for (auto [bit, field] : {std::pair{1u, &ace.object_type}, {2u, &ace.inherited_object_type}}) {
    if ((present & bit) == 0) continue;
    if (body.size() < at + 16) return InvalidArgument("an object ACE's GUID overruns the ACE");
    *field = GuidFromBytes(body.substr(at, 16));
    at += 16;
  }
  const std::size_t n = SidLength(body.substr(at));
  if (n == 0) return InvalidArgument("an object ACE holds no valid SID");
  ace.sid.bytes = std::string(body.substr(at, n));
  return Status::Ok();
}

Result<Ace> ReadAce(std::string_view b) {
  Ace ace;
  ace.type = TypeOf(static_cast<std::uint8_t>(b[0]));
  ace.flags = static_cast<std::uint8_t>(b[1]);
  if (ace.type == AceType::kOther) return ace;
  if (b.size() < 8) return InvalidArgument("an ACE is too short for its mask");
  ace.mask = U32(b, 4);
  std::string_view body = b.substr(8);
  if (IsObjectAce(ace.type)) {
    Status s = ReadObjectAce(body, ace);
    if (!s.ok()) return s;
    return ace;
  }
  const std::size_t n = SidLength(body);
  if (n == 0) return InvalidArgument("an ACE holds no valid SID");
  ace.sid.bytes = std::string(body.substr(0, n));
  return ace;
}

Result<std::vector<Ace>> ReadAcl(std::string_view b) {
  if (b.size() < 8) return InvalidArgument("the DACL header overruns the descriptor");
  const std::size_t size = U16(b, 2);
  const std::size_t count = U16(b, 4);
  if (size < 8 || size > b.size())
    return InvalidArgument("the DACL's size overruns the descriptor");
  std::vector<Ace> aces;
  std::size_t at = 8;
  for (std::size_t i = 0; i < count; ++i) {
    if (at + 4 > size) return InvalidArgument("an ACE header overruns the DACL");
    const std::size_t ace_size = U16(b, at + 2);
    if (ace_size < 4 || at + ace_size > size) return InvalidArgument("an ACE overruns the DACL");
    auto ace = ReadAce(b.substr(at, ace_size));
    if (!ace.ok()) return ace.error();
    aces.push_back(std::move(*ace));
    at += ace_size;
  }
  return aces;
}

// Does an ACE of the container reach a child object of `child_class`?
bool ReachesChild(const Ace& ace, const Guid& child_class) {
  if ((ace.flags & kContainerInheritAce) == 0) return false;
  return !ace.inherited_object_type || *ace.inherited_object_type == child_class;
}

bool Covers(const Ace& ace, const RightQuery& q) {
  std::uint32_t mask = ace.mask;
  if ((mask & kGenericAll) != 0) mask |= kRightDsWriteProperty | kRightDsControlAccess;
  if ((mask & kGenericWrite) != 0) mask |= kRightDsWriteProperty;
  if ((mask & q.mask) == 0) return false;
  if (!IsObjectAce(ace.type) || !ace.object_type) return true;
  return *ace.object_type == q.object_type ||
         (q.property_set && q.mask == kRightDsWriteProperty && *ace.object_type == *q.property_set);
}

bool Holds(const std::vector<Sid>& token, const Sid& sid) {
  for (const Sid& s : token) {
    if (s == sid) return true;
  }
  return false;
}

// The answer from the ACEs of one group (explicit, or inherited): a deny wins.
std::optional<AccessAnswer> Decide(const std::vector<const Ace*>& group) {
  const Ace* allow = nullptr;
  for (const Ace* ace : group) {
    if (IsDeny(ace->type)) return AccessAnswer{false, *ace};
    if (allow == nullptr) allow = ace;
  }
  if (allow != nullptr) return AccessAnswer{true, *allow};
  return std::nullopt;
}

}  // namespace

std::string SidText(const Sid& sid) {
  const std::string_view b = sid.bytes;
  if (SidLength(b) != b.size()) return "(invalid SID)";
  std::uint64_t authority = 0;
  for (int i = 2; i < 8; ++i) authority = authority << 8 | static_cast<std::uint8_t>(b[i]);
  std::string out = "S-1-";
  out += std::to_string(authority);
  for (std::size_t at = 8; at < b.size(); at += 4) {
    out += '-';
    out += std::to_string(U32(b, at));
  }
  return out;
}

std::optional<Sid> ParseSidText(std::string_view text) {
  if (text.substr(0, 4) != "S-1-") return std::nullopt;
  std::vector<std::uint64_t> parts;
  std::size_t at = 4;
  while (at <= text.size()) {
    const std::size_t end = std::min(text.find('-', at), text.size());
    if (end == at) return std::nullopt;
    std::uint64_t v = 0;
    for (char c : text.substr(at, end - at)) {
      if (c < '0' || c > '9' || v > 0xffffffffffffULL) return std::nullopt;
      v = v * 10 + static_cast<std::uint64_t>(c - '0');
    }
    parts.push_back(v);
    at = end + 1;
  }
  if (parts.empty() || parts.size() > 16 || parts[0] > 0xffffffffffffULL) return std::nullopt;
  Sid sid;
  sid.bytes.push_back('\x01');
  sid.bytes.push_back(static_cast<char>(parts.size() - 1));
  for (int shift = 40; shift >= 0; shift -= 8) {
    sid.bytes.push_back(static_cast<char>(parts[0] >> shift & 0xff));
  }
  for (std::size_t i = 1; i < parts.size(); ++i) {
    if (parts[i] > 0xffffffffULL) return std::nullopt;
    for (int shift = 0; shift < 32; shift += 8) {
      sid.bytes.push_back(static_cast<char>(parts[i] >> shift & 0xff));
    }
  }
  return sid;
}

std::optional<Sid> ParseSidBytes(std::string_view bytes) {
  if (SidLength(bytes) != bytes.size()) return std::nullopt;
  return Sid{std::string(bytes)};
}

std::optional<Sid> SidInSameDomain(const Sid& sid, std::uint32_t rid) {
  if (SidLength(sid.bytes) != sid.bytes.size() || sid.bytes.size() < 12) return std::nullopt;
  Sid sibling = sid;
  const std::size_t last = sibling.bytes.size() - 4;
  for (int i = 0; i < 4; ++i) sibling.bytes[last + i] = static_cast<char>(rid >> (8 * i) & 0xff);
  return sibling;
}

std::optional<Guid> ParseGuidText(std::string_view text) {
  // 8-4-4-4-12 hex digits; the first three groups are stored little-endian.
  if (text.size() != 36 || text[8] != '-' || text[13] != '-' || text[18] != '-' ||
      text[23] != '-') {
    return std::nullopt;
  }
  std::array<std::uint8_t, 16> be{};
  std::size_t n = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '-') continue;
    unsigned v = 0;
    if (std::sscanf(std::string(text.substr(i, 2)).c_str(), "%2x", &v) != 1 ||
        !std::isxdigit(static_cast<unsigned char>(text[i])) ||
        !std::isxdigit(static_cast<unsigned char>(text[i + 1]))) {
      return std::nullopt;
    }
    be[n++] = static_cast<std::uint8_t>(v);
    ++i;
  }
  Guid g;
  constexpr std::array<int, 16> kOrder = {3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15};
  for (std::size_t i = 0; i < 16; ++i) g.bytes[i] = be[static_cast<std::size_t>(kOrder[i])];
  return g;
}

std::optional<Guid> GuidFromBytes(std::string_view bytes) {
  if (bytes.size() != 16) return std::nullopt;
  Guid g;
  for (std::size_t i = 0; i < 16; ++i) g.bytes[i] = static_cast<std::uint8_t>(bytes[i]);
  return g;
}

std::string GuidText(const Guid& g) {
  const auto& b = g.bytes;
  char out[40];
  std::snprintf(out, sizeof out,
                "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[3], b[2],
                b[1], b[0], b[5], b[4], b[7], b[6], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
                b[15]);
  return out;
}

Result<SecurityDescriptor> ParseSecurityDescriptor(std::string_view bytes) {
  if (bytes.size() < 20) return InvalidArgument("a security descriptor is at least 20 bytes");
  if (static_cast<std::uint8_t>(bytes[0]) != 1) {
    return InvalidArgument("not a security descriptor of revision 1");
  }
  SecurityDescriptor sd;
  sd.control = U16(bytes, 2);
  const std::size_t dacl_at = U32(bytes, 16);
  if ((sd.control & kSeDaclPresent) == 0 || dacl_at == 0) return sd;
  if (dacl_at >= bytes.size()) return InvalidArgument("the DACL offset is outside the descriptor");
  auto dacl = ReadAcl(bytes.substr(dacl_at));
  if (!dacl.ok()) return dacl.error();
  sd.dacl = std::move(*dacl);
  return sd;
}

AccessAnswer ChildAccess(const SecurityDescriptor& container, const std::vector<Sid>& token,
                         const RightQuery& query, const Guid& child_class) {
  // No DACL at all grants everything; an empty one grants nothing.
  if (!container.dacl) return {true, std::nullopt};
  std::vector<const Ace*> explicit_aces;
  std::vector<const Ace*> inherited_aces;
  for (const Ace& ace : *container.dacl) {
    if (ace.type == AceType::kOther || !ReachesChild(ace, child_class) || !Holds(token, ace.sid) ||
        !Covers(ace, query)) {
      continue;
    }
    ((ace.flags & kInheritedAce) != 0 ? inherited_aces : explicit_aces).push_back(&ace);
  }
  if (auto a = Decide(explicit_aces)) return *a;
  if (auto a = Decide(inherited_aces)) return *a;
  return {false, std::nullopt};
}

}  // namespace wb::ldap
