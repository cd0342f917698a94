#include "ldap/filter.h"

#include <gtest/gtest.h>

namespace wb::ldap {
namespace {

TEST(FilterTest, SpecialCharactersAreEscaped) {
  EXPECT_EQ(EscapeFilterValue("*)(uid=*"), "\\2a\\29\\28uid=\\2a");
  EXPECT_EQ(EscapeFilterValue("a\\b"), "a\\5cb");
  EXPECT_EQ(EscapeFilterValue(std::string("a\0b", 3)), "a\\00b");
}

TEST(FilterTest, NonAsciiBytesAreEscaped) {
  EXPECT_EQ(EscapeFilterValue("J\xc3\xbcrgen"), "J\\c3\\bcrgen");
}

TEST(FilterTest, PlainValuesPassThrough) {
  EXPECT_EQ(EscapeFilterValue("alice@example.com"), "alice@example.com");
}

TEST(FilterTest, AdUserFilterRequiresAPersonUser) {
  EXPECT_EQ(UserFilter(config::DirectoryKind::kActiveDirectory,
                       config::LookupAttribute::kSamAccountName, "al*"),
            "(&(objectCategory=person)(objectClass=user)(sAMAccountName=al\\2a))");
}

TEST(FilterTest, OpenLdapUserFilterRequiresAPerson) {
  EXPECT_EQ(UserFilter(config::DirectoryKind::kOpenLdap, config::LookupAttribute::kUid, "bob"),
            "(&(objectClass=person)(uid=bob))");
}

}  // namespace
}  // namespace wb::ldap
