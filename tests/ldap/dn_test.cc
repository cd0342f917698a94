#include "ldap/dn.h"

#include <gtest/gtest.h>

namespace wb::ldap {
namespace {

constexpr char kBase[] = "ou=Staff,dc=corp,dc=example";

bool Within(const std::string& dn) { return IsDnWithin(dn, kBase); }

TEST(DnTest, AnEntryBelowTheBaseAndTheBaseItselfAreWithin) {
  EXPECT_TRUE(Within("cn=alice,ou=Staff,dc=corp,dc=example"));
  EXPECT_TRUE(Within("cn=alice,ou=Team,ou=Staff,dc=corp,dc=example"));
  EXPECT_TRUE(Within(kBase));
}

TEST(DnTest, AnEscapedCommaIsPartOfOneValueAndDoesNotMakeASuffix) {
  // One RDN, cn = "svc,ou=Staff", directly under dc=corp: outside the base.
  EXPECT_FALSE(Within("cn=svc\\,ou=Staff,dc=corp,dc=example"));
}

TEST(DnTest, AHexEscapedCommaIsPartOfOneValueToo) {
  EXPECT_FALSE(Within("cn=svc\\2Cou=Staff,dc=corp,dc=example"));
  EXPECT_FALSE(Within("cn=svc\\2cou=Staff,dc=corp,dc=example"));
}

TEST(DnTest, HexEscapesOfOrdinaryCharactersEqualTheCharacters) {
  EXPECT_TRUE(Within("cn=alice,ou=\\53taff,dc=corp,dc=example"));
  auto plain = Dn::Parse("cn=alice,ou=Staff,dc=corp,dc=example");
  auto escaped = Dn::Parse("cn=\\61lice,ou=Staff,dc=corp,dc=example");
  ASSERT_TRUE(plain.ok() && escaped.ok());
  EXPECT_EQ(*plain, *escaped);
}

TEST(DnTest, AnEscapedPlusIsPartOfOneValueAndAMultiValuedRdnIsNotTheBaseRdn) {
  EXPECT_TRUE(Within("cn=a\\+b,ou=Staff,dc=corp,dc=example"));
  // "ou=Staff" as one of two values of an RDN directly under dc=corp.
  EXPECT_FALSE(Within("cn=svc+ou=Staff,dc=corp,dc=example"));
  EXPECT_FALSE(Within("cn=svc\\+ou=Staff,dc=corp,dc=example"));
}

TEST(DnTest, AMultiValuedRdnEqualsItselfInAnyOrder) {
  auto ab = Dn::Parse("cn=a+uid=b,dc=corp,dc=example");
  auto ba = Dn::Parse("uid=b+cn=a,dc=corp,dc=example");
  ASSERT_TRUE(ab.ok() && ba.ok());
  EXPECT_EQ(*ab, *ba);
}

TEST(DnTest, CaseAndInsignificantSpacesDoNotMatter) {
  EXPECT_TRUE(Within("CN=Alice, OU=STAFF, DC=Corp,DC=Example"));
  EXPECT_TRUE(Within("cn=alice,ou=  Staff ,dc=corp,dc=example"));
  EXPECT_TRUE(IsDnWithin("cn=a,ou=Help  Desk,dc=corp", "ou=help desk,dc=corp"));
}

// AD and slapd match DN values without regard to the case of any letter: so do these DNs.
// A protected DN written in another case than the directory returns must still protect.
TEST(DnTest, TheCaseOfNonAsciiLettersDoesNotMatter) {
  EXPECT_TRUE(IsDnWithin("cn=Ana,OU=Dirección,dc=corp", "ou=DIRECCIÓN,dc=corp"));
  EXPECT_TRUE(IsDnWithin("cn=Σοφία,ou=ΑΘΉΝΑ,dc=corp", "ou=αθήνα,dc=corp"));
  EXPECT_TRUE(IsDnWithin("cn=a,ou=ПЕРСОНАЛ,dc=corp", "ou=персонал,dc=corp"));
  EXPECT_FALSE(IsDnWithin("cn=a,ou=Direccion,dc=corp", "ou=Dirección,dc=corp"))
      << "an accent is not a case";
}

// An accented letter written as the letter and a combining mark (as macOS writes names) is
// the same letter precomposed: slapd normalises both to one entry, and a protected OU named
// one way must protect accounts the directory returns the other way.
TEST(DnTest, AnAccentWrittenDecomposedIsTheSameLetterPrecomposed) {
  EXPECT_TRUE(IsDnWithin("cn=Ana,ou=Direccio\u0301n,dc=corp", "OU=DIRECCI\u00d3N,dc=corp"));
  EXPECT_TRUE(IsDnWithin("cn=Ana,ou=Direcci\u00f3n,dc=corp", "ou=DIRECCIO\u0301N,dc=corp"));
  EXPECT_TRUE(IsDnWithin("cn=a,ou=\u0415\u0308\u0416,dc=corp", "ou=\u0451\u0436,dc=corp"));
  EXPECT_FALSE(IsDnWithin("cn=a,ou=Direccio\u0300n,dc=corp", "ou=Direcci\u00f3n,dc=corp"))
      << "a grave accent is not an acute one";
}

// The letter inside a composite that FoldCase does not know (Romanian Ș, Vietnamese Ả, Greek
// with breathing marks) is folded too, however each side writes it: before, composing first
// left `S` + comma below and `s` + comma below as two different composites.
TEST(DnTest, TheCaseOfAccentedLettersDoesNotMatterHoweverTheyAreWritten) {
  EXPECT_TRUE(IsDnWithin("cn=a,ou=S\u0326tefan,dc=corp", "ou=s\u0326tefan,dc=corp"));
  EXPECT_TRUE(IsDnWithin("cn=a,ou=\u0218tefan,dc=corp", "ou=\u0219tefan,dc=corp"));
  EXPECT_TRUE(IsDnWithin("cn=a,ou=\u0218tefan,dc=corp", "ou=s\u0326tefan,dc=corp"));
  EXPECT_TRUE(IsDnWithin("cn=a,ou=Qua\u0309n,dc=corp", "OU=QU\u1ea2N,dc=corp"));
  EXPECT_TRUE(IsDnWithin("cn=a,ou=\u1f08\u03b8,dc=corp", "ou=\u03b1\u0313\u03b8,dc=corp"));
  EXPECT_TRUE(IsDnWithin("cn=a,ou=\u1100\u1161\u11a8,dc=corp", "ou=\uac01,dc=corp"));  // Hangul
  EXPECT_TRUE(IsDnWithin("cn=a,ou=\u0130stanbul,dc=corp", "ou=istanbul,dc=corp"));     // as before
  EXPECT_FALSE(IsDnWithin("cn=a,ou=S\u0327tefan,dc=corp", "ou=s\u0326tefan,dc=corp"))
      << "a cedilla is not a comma below";
}

// Bytes that are not UTF-8 are compared as they are (their ASCII letters folded).
TEST(DnTest, ValuesThatAreNotUtf8CompareAsBytes) {
  EXPECT_TRUE(IsDnWithin("cn=a,ou=\\C3x,dc=corp", "ou=\\C3X,dc=corp"));
  EXPECT_FALSE(IsDnWithin("cn=a,ou=\\C3x,dc=corp", "ou=\\C4x,dc=corp"));
}

// RFC 4514 lets a type be written as its OID: the naming attributes equal their names.
TEST(DnTest, ANamingAttributeWrittenAsItsOidEqualsItsName) {
  EXPECT_TRUE(IsDnWithin("2.5.4.3=Alice,2.5.4.11=Staff,0.9.2342.19200300.100.1.25=corp",
                         "ou=staff,dc=corp"));
  EXPECT_FALSE(IsDnWithin("cn=Alice,1.2.3.4=Staff,dc=corp", "ou=staff,dc=corp"));
}

// slapd also takes the long names of RFC 4519: they too are one entry, and one account key
// (before, `userid=ann,organizationalUnitName=people,...` keyed apart from `uid=ann,ou=people`).
TEST(DnTest, ANamingAttributeWrittenAsItsLongNameEqualsItsShortName) {
  auto long_form = Dn::Parse(
      "userid=Ann,organizationalUnitName=People,organizationName=Corp,domainComponent=test");
  auto short_form = Dn::Parse("uid=ann,ou=people,o=corp,dc=test");
  ASSERT_TRUE(long_form.ok() && short_form.ok());
  EXPECT_TRUE(*long_form == *short_form);
  EXPECT_EQ(long_form->Key(), short_form->Key());
  EXPECT_TRUE(
      IsDnWithin("commonName=Ann,countryName=FR,localityName=Paris,"
                 "stateOrProvinceName=IDF,streetAddress=Main,emailAddress=a@b",
                 "cn=ann,c=fr,l=paris,st=idf,street=main,email=a@b"));
}

TEST(DnTest, ASiblingWhoseNameEndsLikeTheBaseIsOutside) {
  EXPECT_FALSE(Within("cn=alice,ou=NotStaff,dc=corp,dc=example"));
  EXPECT_FALSE(Within("cn=alice,ou=Staff,dc=other,dc=corp,dc=example"));
  EXPECT_FALSE(Within("dc=corp,dc=example"));
}

// Key() is equal exactly when the DNs are: one key per entry, and no two entries share one
// (a value holding `,` `+` `=` or `\` cannot pose as more RDNs or AVAs).
TEST(DnTest, TheKeyIsEqualExactlyWhenTheDnsAre) {
  const std::vector<std::string> dns = {
      "uid=alice,dc=corp",  "UID=Alice , DC=Corp",  "0.9.2342.19200300.100.1.1=alice,dc=corp",
      "cn=a\\,b,dc=corp",   "cn=a,cn=b,dc=corp",    "cn=a\\+uid=b,dc=corp",
      "cn=a+uid=b,dc=corp", "uid=b+cn=a,dc=corp",   "cn=a\\=b,dc=corp",
      "cn=a\\\\,dc=corp",   "cn=#04024869,dc=corp", "cn=\\#04024869,dc=corp",
      "cn=Hi,dc=corp",      "cn=ÁNGEL,dc=corp",     "cn=ángel,dc=corp",
      "cn=angel,dc=corp"};
  for (const std::string& a : dns) {
    for (const std::string& b : dns) {
      auto da = Dn::Parse(a);
      auto db = Dn::Parse(b);
      ASSERT_TRUE(da.ok() && db.ok()) << a << " / " << b;
      EXPECT_EQ(*da == *db, da->Key() == db->Key()) << a << " / " << b;
    }
  }
  EXPECT_EQ(Dn::Parse("cn=a\\,b,dc=corp")->Key(), "cn=a\\,b,dc=corp");
  EXPECT_EQ(Dn::Parse("cn=#04024869,dc=corp")->Key(), "cn=#04024869,dc=corp");
}

TEST(DnTest, ExtendedFormsAreRefused) {
  for (const char* text : {"<GUID=b3f6c2a4-52a1-4c8e-9a55-0c1e4f6b9d21>",
                           "<SID=S-1-5-21-1004336348-1177238915-682003330-512>",
                           "<WKGUID=a9d1ca15768811d1aded00c04fd8d5cd,dc=corp,dc=example>",
                           "<SID=S-1-5-21-1-2-3-1105>;cn=alice,ou=Staff,dc=corp,dc=example",
                           " <GUID=00000000-0000-0000-0000-000000000000>"}) {
    SCOPED_TRACE(text);
    auto dn = Dn::Parse(text);
    ASSERT_FALSE(dn.ok());
    EXPECT_NE(dn.error().message().find("extended DN form"), std::string::npos);
    EXPECT_FALSE(Within(text));
  }
}

TEST(DnTest, TextThatIsNotADnIsRefused) {
  for (const char* text : {"", "alice", "cn=alice,", "=alice,dc=corp", "cn=a\\zz,dc=corp"}) {
    SCOPED_TRACE(text);
    EXPECT_FALSE(Dn::Parse(text).ok());
    EXPECT_FALSE(Within(text));
  }
  EXPECT_FALSE(Dn::Parse(std::string("cn=a\0b,dc=corp", 15)).ok());
}

TEST(DnTest, AValueInHexFormComparesAsBytes) {
  // #04 05 "Staff" is the BER encoding of the string; it is not the text "staff".
  EXPECT_FALSE(Within("cn=alice,ou=#04055374616666,dc=corp,dc=example"));
}

}  // namespace
}  // namespace wb::ldap
