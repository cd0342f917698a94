// [[directory]]: URLs, DNs, bind methods and their files, lookup, history, routing.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>

#include "tests/config/config_test_util.h"

namespace wb::config::testing {
namespace {

using ::testing::HasSubstr;

constexpr char kDir[] = "[[directory]]";

std::string WithUrls(std::string_view urls) { return SetKey(kMinimal, kDir, "urls", urls); }

// A second, valid directory appended to `text`.
std::string WithSecondDirectory(std::string text, std::string_view routes) {
  text += R"(
[[directory]]
name = "lab"
kind = "openldap"
urls = ["ldaps://ldap.lab.example"]
ca_file = "ca.pem"
bind_dn = "cn=wbagent,dc=lab,dc=example"
bind_password_file = "bind.password"
base_dn = "dc=lab,dc=example"
)";
  return text + std::string(routes) + "\n";
}

std::string SaslExternal(std::string text) {
  text = SetKey(text, kDir, "bind_method", "\"sasl_external\"");
  text = RemoveKey(text, kDir, "bind_dn");
  return RemoveKey(text, kDir, "bind_password_file");
}

TEST_F(ConfigTest, LdapUrlWithoutSchemeOrWithOtherSchemeIsRefused) {
  ExpectOneError(WithUrls("[\"ldapi:///var/run/slapd.sock\"]"), "directory[0].urls[0]",
                 "must start with ldaps:// or ldap://");
}

TEST_F(ConfigTest, PlainLdapUrlMeansStartTls) {
  const Config c = LoadOk(WithUrls("[\"ldap://dc1.corp.example.com\"]"));
  const LdapUrl& url = c.directories.at(0).urls.at(0);
  EXPECT_EQ(url.transport, LdapTransport::kStartTls);
  EXPECT_EQ(url.address.port, 389);
}

TEST_F(ConfigTest, LdapUrlWithDnIsRefused) {
  ExpectOneError(WithUrls("[\"ldaps://dc1.corp.example.com/DC=corp,DC=example\"]"),
                 "directory[0].urls[0]", "must not contain a DN");
}

TEST_F(ConfigTest, LdapUrlWithFilterIsRefused) {
  ExpectOneError(WithUrls("[\"ldaps://dc1.corp.example.com/??"
                          "?(uid=x)\"]"),
                 "directory[0].urls[0]", "filter");
}

TEST_F(ConfigTest, LdapUrlWithoutHostIsRefused) {
  ExpectOneError(WithUrls("[\"ldaps://\"]"), "directory[0].urls[0]", "has no host");
}

TEST_F(ConfigTest, LdapUrlWithUserInfoIsRefused) {
  ExpectOneError(WithUrls("[\"ldaps://admin@dc1.corp.example.com\"]"), "directory[0].urls[0]",
                 "user info");
}

TEST_F(ConfigTest, EachBadLdapUrlIsReported) {
  const ConfigErrors errors =
      LoadErrors(WithUrls("[\"ldaps://ok.example.com\", \"http://x\", \"ldap://:0\"]"));
  ASSERT_EQ(errors.size(), 2u) << FormatErrors(errors);
  EXPECT_EQ(errors[0].key, "directory[0].urls[1]");
  EXPECT_EQ(errors[1].key, "directory[0].urls[2]");
  EXPECT_LT(errors[0].column, errors[1].column);
}

TEST_F(ConfigTest, EmptyUrlsIsRefused) {
  ExpectOneError(WithUrls("[]"), "directory[0].urls", "must not be empty");
}

TEST_F(ConfigTest, MalformedBindDnIsRefused) {
  std::string text = SetKey(kMinimal, kDir, "bind_dn", "\"svc-wbagent\"");
  ExpectOneError(text, "directory[0].bind_dn", "is not a valid DN");
}

TEST_F(ConfigTest, MalformedBaseDnIsRefused) {
  std::string text = SetKey(kMinimal, kDir, "base_dn", "\"DC=corp,DC=example,\"");
  ExpectOneError(text, "directory[0].base_dn", "is not a valid DN");
}

TEST_F(ConfigTest, EmptyBaseDnIsRefused) {
  std::string text = SetKey(kMinimal, kDir, "base_dn", "\"\"");
  ExpectOneError(text, "directory[0].base_dn", "must not be empty");
}

TEST_F(ConfigTest, DnWithEscapedCommaIsAccepted) {
  std::string text =
      SetKey(kMinimal, kDir, "bind_dn", R"("CN=Smith\\, John,OU=Service,DC=corp,DC=example")");
  LoadOk(text);
}

TEST_F(ConfigTest, GroupReadablePasswordFileIsRefused) {
  WriteFile("bind.password", "s3cret\n", 0640);
  const ConfigError e = ExpectOneError(kMinimal, "directory[0].bind_password_file", "chmod 600");
  EXPECT_THAT(e.problem, HasSubstr("0640"));
  EXPECT_THAT(e.problem, HasSubstr("group or others"));
}

TEST_F(ConfigTest, OtherWritablePasswordFileIsRefused) {
  WriteFile("bind.password", "s3cret\n", 0602);
  const ConfigError e = ExpectOneError(kMinimal, "directory[0].bind_password_file", "chmod 600");
  EXPECT_THAT(e.problem, HasSubstr("0602"));
}

TEST_F(ConfigTest, MissingPasswordFileSaysDoesNotExist) {
  std::filesystem::remove(dir_ / "bind.password");
  ExpectOneError(kMinimal, "directory[0].bind_password_file", "does not exist");
}

TEST_F(ConfigTest, SecretFileContentsAreNeverPrinted) {
  WriteFile("bind.password", "Tr0ub4dor&3-unique-marker\n", 0644);
  std::string text = SetKey(kMinimal, kDir, "client_key_file", "\"bind.password\"");
  const ConfigErrors errors = LoadErrors(text);
  ASSERT_FALSE(errors.empty());
  EXPECT_THAT(FormatErrors(errors), ::testing::Not(HasSubstr("unique-marker")));
}

TEST_F(ConfigTest, SimpleBindRequiresBindDn) {
  const std::string text = RemoveKey(kMinimal, kDir, "bind_dn");
  const ConfigError e = ExpectOneError(text, "directory[0].bind_dn", "missing required key");
  EXPECT_THAT(e.problem, HasSubstr("bind_method = \"simple\""));
  EXPECT_EQ(e.line, LineOf(text, kDir));
}

TEST_F(ConfigTest, SimpleBindRequiresPasswordFile) {
  ExpectOneError(RemoveKey(kMinimal, kDir, "bind_password_file"), "directory[0].bind_password_file",
                 "missing required key");
}

TEST_F(ConfigTest, SaslExternalLoadsWithClientCertificateAndKey) {
  WriteFile("client.pem", "cert\n");
  WriteFile("client.key", "key\n", 0600);
  std::string text = SaslExternal(kMinimal);
  text = SetKey(text, kDir, "client_cert_file", "\"client.pem\"");
  text = SetKey(text, kDir, "client_key_file", "\"client.key\"");
  const Config c = LoadOk(text);
  EXPECT_EQ(c.directories.at(0).bind_method, BindMethod::kSaslExternal);
  EXPECT_EQ(c.directories.at(0).client_key_file, dir_ / "client.key");
}

TEST_F(ConfigTest, SaslExternalRequiresClientCertificateAndKey) {
  const ConfigErrors errors = LoadErrors(SaslExternal(kMinimal));
  ASSERT_EQ(errors.size(), 2u) << FormatErrors(errors);
  EXPECT_EQ(errors[0].key, "directory[0].client_cert_file");
  EXPECT_EQ(errors[1].key, "directory[0].client_key_file");
  EXPECT_THAT(errors[1].problem, HasSubstr("bind_method = \"sasl_external\""));
}

TEST_F(ConfigTest, SaslExternalRefusesBindDnAndPasswordFile) {
  WriteFile("client.pem", "cert\n");
  WriteFile("client.key", "key\n", 0600);
  std::string text = SetKey(kMinimal, kDir, "bind_method", "\"sasl_external\"");
  text = SetKey(text, kDir, "client_cert_file", "\"client.pem\"");
  text = SetKey(text, kDir, "client_key_file", "\"client.key\"");
  const ConfigErrors errors = LoadErrors(text);
  ASSERT_EQ(errors.size(), 2u) << FormatErrors(errors);
  EXPECT_EQ(errors[0].key, "directory[0].bind_dn");
  EXPECT_THAT(errors[0].problem, HasSubstr("only valid with bind_method = \"simple\""));
  EXPECT_EQ(errors[1].key, "directory[0].bind_password_file");
}

TEST_F(ConfigTest, GroupReadableClientKeyIsRefused) {
  WriteFile("client.pem", "cert\n");
  WriteFile("client.key", "key\n", 0640);
  std::string text = SaslExternal(kMinimal);
  text = SetKey(text, kDir, "client_cert_file", "\"client.pem\"");
  text = SetKey(text, kDir, "client_key_file", "\"client.key\"");
  ExpectOneError(text, "directory[0].client_key_file", "chmod 600");
}

TEST_F(ConfigTest, ClientCertificateWithoutKeyIsRefused) {
  WriteFile("client.pem", "cert\n");
  std::string text = SetKey(kMinimal, kDir, "client_cert_file", "\"client.pem\"");
  ExpectOneError(text, "directory[0].client_cert_file", "set both or neither");
}

TEST_F(ConfigTest, UnknownBindMethodIsRefused) {
  std::string text = SetKey(kMinimal, kDir, "bind_method", "\"kerberos\"");
  ExpectOneError(text, "directory[0].bind_method", "must be one of \"simple\", \"sasl_external\"");
}

TEST_F(ConfigTest, DirectoryNameWithBadCharactersIsRefused) {
  std::string text = SetKey(kMinimal, kDir, "name", "\"corp domain\"");
  ExpectOneError(text, "directory[0].name", "may only contain");
}

TEST_F(ConfigTest, UpnSuffixesAreLowerCased) {
  std::string text = SetKey(kMinimal, kDir, "upn_suffixes", "[\"Corp.Example.COM\"]");
  EXPECT_THAT(LoadOk(text).directories.at(0).upn_suffixes,
              ::testing::ElementsAre("corp.example.com"));
}

TEST_F(ConfigTest, UpnSuffixThatIsNotADnsNameIsRefused) {
  std::string text = SetKey(kMinimal, kDir, "upn_suffixes", "[\"corp..example\"]");
  ExpectOneError(text, "directory[0].upn_suffixes[0]", "empty label");
}

TEST_F(ConfigTest, UpnSuffixWithAtSignIsRefused) {
  std::string text = SetKey(kMinimal, kDir, "upn_suffixes", "[\"@corp.example.com\"]");
  ExpectOneError(text, "directory[0].upn_suffixes[0]", "without '@'");
}

TEST_F(ConfigTest, MalformedBaseDnsEntryIsRefused) {
  std::string text = SetKey(kMinimal, kDir, "base_dns", "[\"DC=corp,DC=example\", \"corp\"]");
  ExpectOneError(text, "directory[0].base_dns[1]", "is not a valid DN");
}

TEST_F(ConfigTest, UnknownLookupAttributeIsRefused) {
  std::string text = SetKey(kMinimal, kDir, "lookup_attributes", "[\"cn\"]");
  ExpectOneError(text, "directory[0].lookup_attributes[0]",
                 "must be one of \"userPrincipalName\", \"sAMAccountName\", \"uid\", \"mail\", "
                 "\"dn\"; found \"cn\"");
}

TEST_F(ConfigTest, DuplicateLookupAttributeIsRefused) {
  std::string text = SetKey(kMinimal, kDir, "lookup_attributes", "[\"mail\", \"mail\"]");
  ExpectOneError(text, "directory[0].lookup_attributes[1]", "is listed twice");
}

TEST_F(ConfigTest, EmptyLookupAttributesIsRefused) {
  std::string text = SetKey(kMinimal, kDir, "lookup_attributes", "[]");
  ExpectOneError(text, "directory[0].lookup_attributes", "must not be empty");
}

TEST_F(ConfigTest, HistoryEnforceIsAcceptedForAd) {
  std::string text = SetKey(kMinimal, kDir, "history_on_reset", "\"enforce\"");
  EXPECT_EQ(LoadOk(text).directories.at(0).history_on_reset, HistoryOnReset::kEnforce);
}

TEST_F(ConfigTest, HistoryEnforceIsRefusedForOpenLdap) {
  std::string text = SetKey(kMinimal, kDir, "kind", "\"openldap\"");
  text = SetKey(text, kDir, "history_on_reset", "\"enforce\"");
  ExpectOneError(text, "directory[0].history_on_reset", "only available with kind = \"ad\"");
}

TEST_F(ConfigTest, PpolicyDefaultDnLoadsForOpenLdap) {
  std::string text = SetKey(kMinimal, kDir, "kind", "\"openldap\"");
  text = SetKey(text, kDir, "ppolicy_default_dn", "\"cn=default,ou=policies,dc=corp,dc=example\"");
  EXPECT_EQ(LoadOk(text).directories.at(0).ppolicy_default_dn,
            "cn=default,ou=policies,dc=corp,dc=example");
}

TEST_F(ConfigTest, PpolicyDefaultDnIsRefusedForAd) {
  std::string text =
      SetKey(kMinimal, kDir, "ppolicy_default_dn", "\"cn=default,ou=policies,dc=corp\"");
  ExpectOneError(text, "directory[0].ppolicy_default_dn",
                 "only meaningful with kind = \"openldap\"");
}

TEST_F(ConfigTest, MalformedPpolicyDefaultDnIsRefused) {
  std::string text = SetKey(kMinimal, kDir, "kind", "\"openldap\"");
  text = SetKey(text, kDir, "ppolicy_default_dn", "\"default\"");
  ExpectOneError(text, "directory[0].ppolicy_default_dn", "is not a valid DN");
}

TEST_F(ConfigTest, DuplicateDirectoryNameIsRefused) {
  std::string text = SetKey(kMinimal, kDir, "upn_suffixes", "[\"corp.example.com\"]");
  text = WithSecondDirectory(text, "upn_suffixes = [\"lab.example\"]");
  text.replace(text.find("name = \"lab\""), 12, "name = \"corp\"");
  const ConfigError e =
      ExpectOneError(text, "directory[1].name", "already the name of directory[0]");
  EXPECT_EQ(e.line, LastLineOf(text, "name = \"corp\""));
}

TEST_F(ConfigTest, TwoDirectoriesLoadWhenEachHasARoute) {
  std::string text = SetKey(kMinimal, kDir, "upn_suffixes", "[\"corp.example.com\"]");
  text = WithSecondDirectory(text, "base_dns = [\"dc=lab,dc=example\"]");
  const Config c = LoadOk(text);
  ASSERT_EQ(c.directories.size(), 2u);
  EXPECT_EQ(c.directories[1].name, "lab");
}

TEST_F(ConfigTest, WithTwoDirectoriesEachNeedsARoute) {
  std::string text = SetKey(kMinimal, kDir, "upn_suffixes", "[\"corp.example.com\"]");
  text = WithSecondDirectory(text, "");
  const ConfigError e = ExpectOneError(text, "directory[1]", "needs upn_suffixes or base_dns");
  EXPECT_EQ(e.line, LineOf(text, "name = \"lab\"") - 1);  // the second [[directory]] header
}

TEST_F(ConfigTest, UpnSuffixRoutingToTwoDirectoriesIsRefused) {
  std::string text = SetKey(kMinimal, kDir, "upn_suffixes", "[\"example.com\"]");
  text = WithSecondDirectory(text, "upn_suffixes = [\"lab.example\", \"EXAMPLE.com\"]");
  const ConfigError e = ExpectOneError(text, "directory[1].upn_suffixes[1]",
                                       "already routes to directory \"corp\" (directory[0])");
  EXPECT_EQ(e.line, LineOf(text, "\"EXAMPLE.com\""));
}

TEST_F(ConfigTest, BaseDnRoutingToTwoDirectoriesIsRefused) {
  std::string text = SetKey(kMinimal, kDir, "base_dns", "[\"DC=corp,DC=example\"]");
  text = WithSecondDirectory(text, "base_dns = [\"dc=corp, dc=example\"]");
  ExpectOneError(text, "directory[1].base_dns[0]", "already routes to directory \"corp\"");
}

// The router compares parsed DNs with case folded beyond ASCII (ldap::Dn): two spellings of one
// base DN once passed this check, as different text, and the first directory took both.
TEST_F(ConfigTest, BaseDnSpelledAnotherWayInASecondDirectoryIsRefused) {
  std::string text =
      SetKey(kMinimal, kDir, "base_dns", "[\"OU=Direcci\u00D3n,DC=corp,DC=example\"]");
  text = WithSecondDirectory(text, "base_dns = [\"ou=direcci\u00f3n,dc=corp,dc=example\"]");
  ExpectOneError(text, "directory[1].base_dns[0]", "already routes to directory \"corp\"");
}

// A base DN inside another directory's: the router takes the first directory whose base DN
// holds the target, so the nested directory's accounts went to the outer one.
TEST_F(ConfigTest, BaseDnWithinAnotherDirectorysBaseDnIsRefused) {
  std::string text = SetKey(kMinimal, kDir, "base_dns", "[\"dc=corp,dc=example\"]");
  text = WithSecondDirectory(text, "base_dns = [\"ou=Lab,DC=Corp,dc=example\"]");
  const ConfigError e =
      ExpectOneError(text, "directory[1].base_dns[0]", "lies within \"dc=corp,dc=example\"");
  EXPECT_THAT(e.problem, HasSubstr("directory \"corp\" (directory[0]), which comes first"));
  EXPECT_EQ(e.line, LineOf(text, "ou=Lab"));
}

// The more specific directory first (a child domain before its parent, a catch-all last)
// routes as written: the router takes the first match.
TEST_F(ConfigTest, ABaseDnContainingAnEarlierDirectorysBaseDnLoads) {
  std::string text = SetKey(kMinimal, kDir, "base_dns", "[\"dc=emea,dc=corp,dc=example\"]");
  text = WithSecondDirectory(text, "base_dns = [\"dc=corp,dc=example\"]");
  EXPECT_EQ(LoadOk(text).directories.size(), 2u);
}

// An escaped comma makes one RDN: "ou=Lab\\,dc=corp,dc=example" is an entry directly under
// dc=example whose ou holds a comma, not a DN under dc=corp (as a text suffix check took it).
TEST_F(ConfigTest, BaseDnWithAnEscapedCommaIsNotTakenAsNested) {
  std::string text = SetKey(kMinimal, kDir, "base_dns", "[\"dc=corp,dc=example\"]");
  text = WithSecondDirectory(text, "base_dns = [\"ou=Lab\\\\,dc=corp,dc=example\"]");
  LoadOk(text);
}

TEST_F(ConfigTest, NestedBaseDnsWithinOneDirectoryLoad) {
  LoadOk(SetKey(kMinimal, kDir, "base_dns",
                "[\"dc=corp,dc=example\", \"ou=Lab,dc=corp,dc=example\"]"));
}

TEST_F(ConfigTest, UpnSuffixListedTwiceInOneDirectoryIsRefused) {
  std::string text = SetKey(kMinimal, kDir, "upn_suffixes", "[\"a.example\", \"a.example\"]");
  ExpectOneError(text, "directory[0].upn_suffixes[1]", "is listed twice");
}

// allow_protected and privileged_groups admit accounts only with a privileged method; with the
// verification table that serves the scope naming none, every such request is denied. Valid
// (the daemon runs it), and said as a warning at the key, for each kind of request it denies.
TEST_F(ConfigTest, PrivilegedRulesWithNoPrivilegedMethodWarnAtTheKey) {
  std::string text = SetKey(kMinimal, "[directory.scope]", "allow_protected", "true");
  text = SetKey(text, "[directory.scope]", "privileged_groups",
                "[\"CN=Tier0,OU=Groups,DC=corp,DC=example,DC=com\"]");
  const Config config = LoadOk(text);
  ASSERT_EQ(config.warnings.size(), 4u) << FormatErrors(config.warnings);
  const auto at_key = std::find_if(
      config.warnings.begin(), config.warnings.end(),
      [](const ConfigError& w) { return w.key == "directory[0].scope.allow_protected"; });
  ASSERT_NE(at_key, config.warnings.end()) << FormatErrors(config.warnings);
  const ConfigError& first = *at_key;
  EXPECT_EQ(first.line, LineOf(text, "allow_protected"));
  EXPECT_NE(first.problem.find("self-service request for protected accounts is denied"),
            std::string::npos)
      << first.problem;
  EXPECT_NE(first.problem.find("[policy.verification]"), std::string::npos) << first.problem;
  std::string all = FormatErrors(config.warnings);
  EXPECT_NE(all.find("every admin request for protected accounts is denied: "
                     "[policy.verification.admin]"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("directory[0].scope.privileged_groups"), std::string::npos) << all;
  EXPECT_NE(all.find("or use denied_groups"), std::string::npos) << all;
}

TEST_F(ConfigTest, PrivilegedRulesWarnOnlyForTheRequestsWhoseTableNamesNoMethod) {
  std::string text = SetKey(kMinimal, "[directory.scope]", "allow_protected", "true");
  text = SetKey(text, "[policy.verification]", "privileged_methods", "[\"fido2\"]");
  // No admin_scope: the scope serves admin requests, whose table names no method.
  Config config = LoadOk(text);
  ASSERT_EQ(config.warnings.size(), 1u) << FormatErrors(config.warnings);
  EXPECT_NE(config.warnings[0].problem.find("every admin request"), std::string::npos);
  // An admin_scope of its own without the rule: nothing left to warn of.
  text = SetKey(text, "[directory.admin_scope]", "allowed_subtrees",
                "[\"OU=Staff,DC=corp,DC=example,DC=com\"]");
  EXPECT_TRUE(LoadOk(text).warnings.empty()) << FormatErrors(LoadOk(text).warnings);
  // Both tables name a method: no warning whatever the scopes hold.
  text = SetKey(text, "[directory.admin_scope]", "allow_protected", "true");
  text = SetKey(text, "[policy.verification.admin]", "privileged_methods", "[\"admin_approval\"]");
  EXPECT_TRUE(LoadOk(text).warnings.empty()) << FormatErrors(LoadOk(text).warnings);
}

// In log_only nothing is denied yet: the warning says what enforce would do.
TEST_F(ConfigTest, PrivilegedRulesInLogOnlySayTheyWouldBeDenied) {
  std::string text = SetKey(kMinimal, "[directory.admin_scope]", "allow_protected", "true");
  text = SetKey(text, "[policy.verification.admin]", "mode", "\"log_only\"");
  const Config config = LoadOk(text);
  ASSERT_EQ(config.warnings.size(), 1u) << FormatErrors(config.warnings);
  EXPECT_NE(config.warnings[0].problem.find("every admin request for protected accounts would be "
                                            "denied (log_only"),
            std::string::npos)
      << config.warnings[0].problem;
}

// allow_protected on OpenLDAP without protected_dns protects nobody (adminCount is AD's):
// there is nothing it would deny.
TEST_F(ConfigTest, AllowProtectedWhereNothingIsProtectedDoesNotWarn) {
  std::string text = SetKey(kMinimal, "[[directory]]", "kind", "\"openldap\"");
  text = SetKey(text, "[directory.scope]", "allow_protected", "true");
  EXPECT_TRUE(LoadOk(text).warnings.empty()) << FormatErrors(LoadOk(text).warnings);
  text = SetKey(text, "[directory.scope]", "protected_dns",
                "[\"OU=Break Glass,DC=corp,DC=example,DC=com\"]");
  EXPECT_EQ(LoadOk(text).warnings.size(), 2u) << FormatErrors(LoadOk(text).warnings);
}

TEST_F(ConfigTest, AnAdminScopeWithPrivilegedRulesWarnsOfTheAdminTableAlone) {
  std::string text = SetKey(kMinimal, "[directory.admin_scope]", "allow_protected", "true");
  const Config config = LoadOk(text);
  ASSERT_EQ(config.warnings.size(), 1u) << FormatErrors(config.warnings);
  EXPECT_EQ(config.warnings[0].key, "directory[0].admin_scope.allow_protected");
  EXPECT_NE(config.warnings[0].problem.find("[policy.verification.admin]"), std::string::npos);
  // allow_protected = false needs nothing.
  EXPECT_TRUE(
      LoadOk(SetKey(kMinimal, "[directory.scope]", "allow_protected", "false")).warnings.empty());
}

// admin_scope replaces the scope for admin requests whole: admin_requesters left in the scope
// once restricted nothing, and any admin requester was let through.
TEST_F(ConfigTest, AdminRequestersInTheScopeBesideAnAdminScopeAreRefused) {
  std::string text = SetKey(kMinimal, "[directory.scope]", "admin_requesters", "[\"helpdesk-*\"]");
  LoadOk(text);  // alone, the scope serves admin requests and the key restricts them
  text = SetKey(text, "[directory.admin_scope]", "allowed_subtrees",
                "[\"OU=Students,DC=corp,DC=example,DC=com\"]");
  const ConfigError e =
      ExpectOneError(text, "directory[0].scope.admin_requesters", "has no effect");
  EXPECT_THAT(e.problem, HasSubstr("move admin_requesters into [directory.admin_scope]"));
  EXPECT_EQ(e.line, LineOf(text, "admin_requesters"));
  // Where the admin scope says it, it is what it seems.
  LoadOk(SetKey(SetKey(kMinimal, "[directory.admin_scope]", "admin_requesters", "[\"helpdesk-*\"]"),
                "[directory.scope]", "allowed_subtrees",
                "[\"OU=Students,DC=corp,DC=example,DC=com\"]"));
}

}  // namespace
}  // namespace wb::config::testing
