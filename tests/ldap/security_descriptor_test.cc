// ldap/security_descriptor.h: hand-built self-relative descriptors, one per rule of ChildAccess.
#include "ldap/security_descriptor.h"

#include <gtest/gtest.h>

namespace wb::ldap {
namespace {

// The GUIDs the doctor asks about (Samba's schema, setup/ad-schema).
const Guid kUserClass = *ParseGuidText("bf967aba-0de6-11d0-a285-00aa003049e2");
const Guid kGroupClass = *ParseGuidText("bf967a9c-0de6-11d0-a285-00aa003049e2");
const Guid kResetPassword = *ParseGuidText("00299570-246d-11d0-a768-00aa006e0529");
const Guid kPwdLastSet = *ParseGuidText("bf967a0a-0de6-11d0-a285-00aa003049e2");
const Guid kLockoutTime = *ParseGuidText("28630ebf-41d5-11d1-a9c1-0000f80367c1");
const Guid kUserAccountRestrictions = *ParseGuidText("4c164200-20c0-11d0-a768-00aa006e0529");

const Sid kService = *ParseSidText("S-1-5-21-1-2-3-1105");
const Sid kHelpdesk = *ParseSidText("S-1-5-21-1-2-3-1200");
const Sid kOther = *ParseSidText("S-1-5-21-1-2-3-1300");
const std::vector<Sid> kToken = {kService, kHelpdesk};

const RightQuery kResetQuery{kRightDsControlAccess, kResetPassword, std::nullopt};
const RightQuery kPwdLastSetQuery{kRightDsWriteProperty, kPwdLastSet, kUserAccountRestrictions};
const RightQuery kLockoutQuery{kRightDsWriteProperty, kLockoutTime, std::nullopt};

struct TestAce {
  std::uint8_t type;  // 0 allow, 1 deny, 5 allow object, 6 deny object
  std::uint8_t flags;
  std::uint32_t mask;
  std::optional<Guid> object_type;
  std::optional<Guid> inherited_object_type;
  Sid sid;
};

void Put16(std::string& b, std::uint16_t v) {
  b.push_back(static_cast<char>(v & 0xff));
  b.push_back(static_cast<char>(v >> 8));
}
void Put32(std::string& b, std::uint32_t v) {
  Put16(b, static_cast<std::uint16_t>(v & 0xffff));
  Put16(b, static_cast<std::uint16_t>(v >> 16));
}
void PutGuid(std::string& b, const Guid& g) {
  for (auto byte : g.bytes) b.push_back(static_cast<char>(byte));
}

std::string EncodeAce(const TestAce& a) {
  std::string body;
  Put32(body, a.mask);
  if (a.type == 5 || a.type == 6) {
    Put32(body, (a.object_type ? 1u : 0u) | (a.inherited_object_type ? 2u : 0u));
    if (a.object_type) PutGuid(body, *a.object_type);
    if (a.inherited_object_type) PutGuid(body, *a.inherited_object_type);
  }
  body += a.sid.bytes;
  std::string ace;
  ace.push_back(static_cast<char>(a.type));
  ace.push_back(static_cast<char>(a.flags));
  Put16(ace, static_cast<std::uint16_t>(4 + body.size()));
  return ace + body;
}

// A self-relative descriptor holding only a DACL (as the SD-flags control asks for).
std::string Descriptor(const std::vector<TestAce>& aces, std::uint16_t extra_control = 0) {
  std::string acl_body;
  for (const auto& a : aces) acl_body += EncodeAce(a);
  std::string acl;
  acl.push_back(4);  // ACL_REVISION_DS
  acl.push_back(0);
  Put16(acl, static_cast<std::uint16_t>(8 + acl_body.size()));
  Put16(acl, static_cast<std::uint16_t>(aces.size()));
  Put16(acl, 0);
  acl += acl_body;
  std::string sd;
  sd.push_back(1);
  sd.push_back(0);
  Put16(sd, static_cast<std::uint16_t>(0x8000 | kSeDaclPresent | extra_control));  // self-relative
  Put32(sd, 0);                                                                    // owner
  Put32(sd, 0);                                                                    // group
  Put32(sd, 0);                                                                    // SACL
  Put32(sd, 20);                                                                   // DACL
  return sd + acl;
}

AccessAnswer Ask(const std::vector<TestAce>& aces, const RightQuery& q) {
  auto sd = ParseSecurityDescriptor(Descriptor(aces));
  EXPECT_TRUE(sd.ok()) << sd.error().ToString();
  if (!sd.ok()) return {};
  return ChildAccess(*sd, kToken, q, kUserClass);
}

constexpr std::uint8_t kCi = kContainerInheritAce;

TEST(SecurityDescriptorTest, SidAndGuidTextRoundTrip) {
  EXPECT_EQ(SidText(kService), "S-1-5-21-1-2-3-1105");
  EXPECT_EQ(GuidText(kResetPassword), "00299570-246d-11d0-a768-00aa006e0529");
  // AD's byte order: the first three fields little-endian.
  EXPECT_EQ(kResetPassword.bytes[0], 0x70);
  EXPECT_EQ(kResetPassword.bytes[3], 0x00);
  EXPECT_FALSE(ParseGuidText("00299570-246d-11d0-a768-00aa006e05zz"));
  EXPECT_FALSE(ParseSidText("S-1-5-"));
  EXPECT_FALSE(ParseSidBytes(std::string("\x01\x05", 2)));
}

TEST(SecurityDescriptorTest, ASidInTheSameDomainReplacesOnlyTheLastSubAuthority) {
  EXPECT_EQ(SidText(*SidInSameDomain(kService, 513)), "S-1-5-21-1-2-3-513");
  EXPECT_EQ(SidText(*SidInSameDomain(kService, 4294967295U)), "S-1-5-21-1-2-3-4294967295");
  // A SID without a sub-authority has no RID to replace; malformed bytes are no SID.
  EXPECT_FALSE(SidInSameDomain(*ParseSidText("S-1-5"), 513));
  EXPECT_FALSE(SidInSameDomain(Sid{std::string("\x01\x02\x00", 3)}, 513));
}

TEST(SecurityDescriptorTest, ObjectAceForTheRightOnUsersGrantsIt) {
  const auto a =
      Ask({{5, kCi, kRightDsControlAccess, kResetPassword, kUserClass, kService}}, kResetQuery);
  EXPECT_TRUE(a.granted);
  ASSERT_TRUE(a.deciding);
  EXPECT_EQ(a.deciding->sid, kService);
}

TEST(SecurityDescriptorTest, NothingMatchingIsNotGranted) {
  const auto a =
      Ask({{5, kCi, kRightDsControlAccess, kResetPassword, kUserClass, kOther}}, kResetQuery);
  EXPECT_FALSE(a.granted);
  EXPECT_FALSE(a.deciding);
}

TEST(SecurityDescriptorTest, DenyWinsOverAllowWhateverTheOrder) {
  const TestAce allow{5, kCi, kRightDsControlAccess, kResetPassword, kUserClass, kService};
  const TestAce deny{6, kCi, kRightDsControlAccess, kResetPassword, std::nullopt, kHelpdesk};
  for (const auto& aces : {std::vector<TestAce>{allow, deny}, std::vector<TestAce>{deny, allow}}) {
    const auto a = Ask(aces, kResetQuery);
    EXPECT_FALSE(a.granted);
    ASSERT_TRUE(a.deciding);
    EXPECT_EQ(a.deciding->type, AceType::kDenyObject);
  }
}

TEST(SecurityDescriptorTest, ExplicitAllowComesBeforeAnInheritedDeny) {
  const auto a =
      Ask({{6, kCi | kInheritedAce, kRightDsControlAccess, kResetPassword, std::nullopt, kService},
           {5, kCi, kRightDsControlAccess, kResetPassword, std::nullopt, kService}},
          kResetQuery);
  EXPECT_TRUE(a.granted);
}

TEST(SecurityDescriptorTest, InheritOnlyAceReachesChildrenAndANonInheritableOneDoesNot) {
  EXPECT_TRUE(Ask({{5, kCi | kInheritOnlyAce, kRightDsControlAccess, kResetPassword, std::nullopt,
                    kService}},
                  kResetQuery)
                  .granted);
  // Set on the OU for the OU itself only: users below never get it.
  EXPECT_FALSE(
      Ask({{5, 0, kRightDsControlAccess, kResetPassword, std::nullopt, kService}}, kResetQuery)
          .granted);
}

TEST(SecurityDescriptorTest, ObjectTypeLimitsTheAceToThatRight) {
  // An ACE for another extended right (Change Password) does not give Reset Password.
  const Guid change_password = *ParseGuidText("ab721a53-1e2f-11d0-9819-00aa0040529b");
  EXPECT_FALSE(
      Ask({{5, kCi, kRightDsControlAccess, change_password, kUserClass, kService}}, kResetQuery)
          .granted);
  // Without an ObjectType, an object ACE covers every control access right.
  EXPECT_TRUE(
      Ask({{5, kCi, kRightDsControlAccess, std::nullopt, kUserClass, kService}}, kResetQuery)
          .granted);
  // Write lockoutTime does not give Write pwdLastSet.
  EXPECT_FALSE(
      Ask({{5, kCi, kRightDsWriteProperty, kLockoutTime, kUserClass, kService}}, kPwdLastSetQuery)
          .granted);
  EXPECT_TRUE(
      Ask({{5, kCi, kRightDsWriteProperty, kLockoutTime, kUserClass, kService}}, kLockoutQuery)
          .granted);
}

TEST(SecurityDescriptorTest, InheritedObjectTypeLimitsTheAceToThatClass) {
  EXPECT_FALSE(
      Ask({{5, kCi, kRightDsControlAccess, kResetPassword, kGroupClass, kService}}, kResetQuery)
          .granted);
}

TEST(SecurityDescriptorTest, GenericAllAndFullControlCoverEveryRight) {
  for (std::uint32_t mask : {kGenericAll, 0x000F01FFu}) {
    EXPECT_TRUE(Ask({{0, kCi, mask, std::nullopt, std::nullopt, kHelpdesk}}, kResetQuery).granted);
    EXPECT_TRUE(
        Ask({{0, kCi, mask, std::nullopt, std::nullopt, kHelpdesk}}, kPwdLastSetQuery).granted);
  }
  // GENERIC_WRITE writes properties but is no control access right.
  EXPECT_FALSE(
      Ask({{0, kCi, kGenericWrite, std::nullopt, std::nullopt, kService}}, kResetQuery).granted);
  EXPECT_TRUE(
      Ask({{0, kCi, kGenericWrite, std::nullopt, std::nullopt, kService}}, kLockoutQuery).granted);
}

TEST(SecurityDescriptorTest, PropertySetGrantsWriteOfItsMembers) {
  // pwdLastSet is in User-Account-Restrictions; lockoutTime is in no property set.
  const TestAce set{5, kCi, kRightDsWriteProperty, kUserAccountRestrictions, kUserClass, kService};
  EXPECT_TRUE(Ask({set}, kPwdLastSetQuery).granted);
  EXPECT_FALSE(Ask({set}, kLockoutQuery).granted);
  // A deny on the set denies its member.
  const TestAce deny{6,        kCi, kRightDsWriteProperty, kUserAccountRestrictions, std::nullopt,
                     kHelpdesk};
  const TestAce allow{5, kCi, kRightDsWriteProperty, kPwdLastSet, kUserClass, kService};
  EXPECT_FALSE(Ask({allow, deny}, kPwdLastSetQuery).granted);
}

TEST(SecurityDescriptorTest, ProtectedFlagIsRead) {
  auto sd = ParseSecurityDescriptor(Descriptor({}, kSeDaclProtected));
  ASSERT_TRUE(sd.ok());
  EXPECT_TRUE(sd->dacl_protected());
  ASSERT_TRUE(sd->dacl);
  EXPECT_TRUE(sd->dacl->empty());
  EXPECT_FALSE(ChildAccess(*sd, kToken, kResetQuery, kUserClass).granted);
}

TEST(SecurityDescriptorTest, MalformedDescriptorsAreRefusedWithTheReason) {
  EXPECT_FALSE(ParseSecurityDescriptor("short").ok());
  std::string sd = Descriptor({{0, kCi, kGenericAll, std::nullopt, std::nullopt, kService}});
  std::string bad_revision = sd;
  bad_revision[0] = 2;
  EXPECT_NE(ParseSecurityDescriptor(bad_revision).error().ToString().find("revision"),
            std::string::npos);
  // The ACE claims more bytes than the ACL holds.
  std::string overrun = sd;
  overrun[20 + 8 + 2] = static_cast<char>(0x7f);
  EXPECT_NE(ParseSecurityDescriptor(overrun).error().ToString().find("overruns"),
            std::string::npos);
  std::string truncated = sd.substr(0, sd.size() - 3);
  EXPECT_FALSE(ParseSecurityDescriptor(truncated).ok());
}

}  // namespace
}  // namespace wb::ldap
