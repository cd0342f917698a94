// The conversions of agent/request_mapping.h that name a stored request's operations.
#include "agent/request_mapping.h"

#include <gtest/gtest.h>

#include <array>

namespace wb::agent {
namespace {

TEST(RequestMappingTest, OperationsAreListedInTheProtocolsOrderAndWords) {
  queue::Operations ops{.reset = true, .unlock = true, .clear_require_change = true};
  EXPECT_EQ(OperationsOf(ops), (std::vector<protocol::Operation>{
                                   protocol::Operation::kReset, protocol::Operation::kUnlock,
                                   protocol::Operation::kClearRequireChange}));
  EXPECT_EQ(OperationsLabel(ops), "reset+unlock+clear_require_change");
  EXPECT_EQ(OperationsLabel({.change = true, .require_change = true}), "change+require_change");
  EXPECT_EQ(OperationsLabel({.validate = true}), "validate");
  EXPECT_EQ(OperationsLabel({}), "none");
}

TEST(RequestMappingTest, EveryOperationReachesTheAuditTrailUnderItsOwnName) {
  queue::RequestInfo info;
  info.operations = {.reset = true,
                     .change = false,
                     .unlock = true,
                     .require_change = true,
                     .clear_require_change = false,
                     .validate = false};
  const audit::Event e = AuditEventFor(audit::EventType::kRequestReceived, info);
  ASSERT_EQ(e.operations.size(), 3u);
  for (std::size_t i = 0; i < e.operations.size(); ++i) {
    EXPECT_EQ(audit::Name(e.operations[i]),
              protocol::OperationName(OperationsOf(info.operations)[i]));
  }
  info.operations = {.validate = true};
  EXPECT_EQ(AuditEventFor(audit::EventType::kPasswordValidated, info).operations,
            std::vector<audit::Operation>{audit::Operation::kValidate});
}

std::string AccountKeyOf(protocol::TargetKind kind, const std::string& value) {
  protocol::VerifiedRequest verified;
  verified.claims.target = {kind, value};
  return ToQueueRequest(verified, 1).info.account_key;
}

// The per-account order and rate limit key on the account as the directory matches its name
// (caseIgnoreMatch): spaces around and within, and the case of any letter it folds, do not make
// another account. Before, " alice" and "ALİCE"-like variants counted apart.
TEST(RequestMappingTest, TheAccountKeyIsTheNameAsTheDirectoryMatchesIt) {
  using protocol::TargetKind;
  const std::string key = AccountKeyOf(TargetKind::kSamAccountName, "alice");
  EXPECT_EQ(key, "sAMAccountName:alice");
  EXPECT_EQ(AccountKeyOf(TargetKind::kSamAccountName, "  ALICE "), key);
  EXPECT_EQ(AccountKeyOf(TargetKind::kUid, "Ana  María"),
            AccountKeyOf(TargetKind::kUid, "ana maría"));
  EXPECT_EQ(AccountKeyOf(TargetKind::kUid, "ÁNGEL"), AccountKeyOf(TargetKind::kUid, "ángel"));
  EXPECT_NE(AccountKeyOf(TargetKind::kUid, "angel"), AccountKeyOf(TargetKind::kUid, "ángel"))
      << "an accent is not a case";
  EXPECT_NE(AccountKeyOf(TargetKind::kUid, "alice"), key) << "another kind of name";
  EXPECT_EQ(AccountKeyOf(TargetKind::kUserPrincipalName, "Alice@Corp.Example"),
            "userPrincipalName:alice@corp.example");
}

// A DN target keys on its parsed RDNs: spacing, case and AVA order do not matter, an escaped
// comma stays part of its value.
TEST(RequestMappingTest, ADnTargetsAccountKeyIsItsParsedRdns) {
  using protocol::TargetKind;
  const std::string key = AccountKeyOf(TargetKind::kDn, "uid=alice,ou=people,dc=example,dc=test");
  EXPECT_EQ(key, "dn:uid=alice,ou=people,dc=example,dc=test");
  EXPECT_EQ(AccountKeyOf(TargetKind::kDn, "UID=Alice, OU=People,DC=example,DC=test"), key);
  EXPECT_EQ(
      AccountKeyOf(TargetKind::kDn, "0.9.2342.19200300.100.1.1=alice,ou=people,dc=example,dc=test"),
      key);
  EXPECT_NE(AccountKeyOf(TargetKind::kDn, "uid=alice\\,ou=people,dc=example,dc=test"), key);
  EXPECT_EQ(AccountKeyOf(TargetKind::kDn, "cn=a+uid=b,dc=test"),
            AccountKeyOf(TargetKind::kDn, "uid=B+cn=A,dc=test"));
  // Not a DN: its folded text; the lookup refuses it later.
  EXPECT_EQ(AccountKeyOf(TargetKind::kDn, "Not A DN"), "dn:not a dn");
}

// The queue re-keys stored requests with AccountKeyRule: for every kind of target its key must
// be the one a new request for the same target gets, or an upgrade would split an account.
TEST(RequestMappingTest, TheQueuesRekeyRuleGivesTheKeyANewRequestGets) {
  using protocol::TargetKind;
  const auto rule = AccountKeyRule();
  EXPECT_EQ(rule.version, "3");
  for (TargetKind kind : {TargetKind::kDn, TargetKind::kUserPrincipalName,
                          TargetKind::kSamAccountName, TargetKind::kUid, TargetKind::kMail}) {
    for (const char* value : {"uid=Alice, OU=People,dc=example,dc=test", "  ÁNGEL ", "Not A DN",
                              "uid=A,ou=Direccio\u0301n", "S\u0326TEFAN"}) {
      EXPECT_EQ(rule.key_of(protocol::TargetKindName(kind), value), AccountKeyOf(kind, value))
          << protocol::TargetKindName(kind) << " " << value;
    }
  }
  // A kind this build does not know is keyed as an identifier, never dropped.
  EXPECT_EQ(rule.key_of("employeeNumber", " X7 "), "employeeNumber:x7");
}

// The keys of rule version 3, pinned: a change to any of them (ldap::CaseIgnoreForm, Dn::Key,
// FoldCase) must come with a new version, or queues stored before it are never re-keyed.
TEST(RequestMappingTest, TheKeysOfTheRuleVersionArePinned) {
  const auto rule = AccountKeyRule();
  ASSERT_EQ(rule.version, "3") << "a new version: pin its keys here";
  const std::vector<std::array<std::string, 3>> pinned = {
      {"uid", "  Ana  MARÍA ", "uid:ana maría"},
      {"sAMAccountName", "ŸVES", "sAMAccountName:ÿves"},
      {"userPrincipalName", "Ann@Corp.Example", "userPrincipalName:ann@corp.example"},
      {"mail", "ΑΝΝΑ@x", "mail:αννα@x"},
      {"dn", "userid=Ann,organizationalUnitName=People,DC=Test", "dn:uid=ann,ou=people,dc=test"},
      {"dn", "2.5.4.3=a+UID=B, dc=test", "dn:cn=a+uid=b,dc=test"},
      {"dn", "Not A DN", "dn:not a dn"},
      // Version 3: the canonical form, whichever way the accents are written.
      {"uid", "Ana Mari\u0301a", "uid:ana mar\u00eda"},
      {"uid", "\u0218TEFAN", "uid:\u0219tefan"},
      {"uid", "S\u0326tefan", "uid:\u0219tefan"},
      {"dn", "uid=a,OU=Direccio\u0301n,dc=test", "dn:uid=a,ou=direcci\u00f3n,dc=test"},
  };
  for (const auto& [kind, value, key] : pinned) {
    EXPECT_EQ(rule.key_of(kind, value), key) << kind << " " << value;
  }
}

}  // namespace
// The directory's own password rules end a request `rejected` (the user may try another
// password), everything else `failed`: the codes named policy_*, a wrong old password and
// history that cannot be enforced, and no other.
TEST(RequestMappingTest, OnlyTheDirectorysPasswordRulesEndARequestRejected) {
  for (int c = 0; c <= static_cast<int>(ldap::kLastOutcomeCode); ++c) {
    const auto code = static_cast<ldap::OutcomeCode>(c);
    const std::string_view name = ldap::OutcomeName(code);
    SCOPED_TRACE(std::string(name));
    const queue::State want = code == ldap::OutcomeCode::kSucceeded ? queue::State::kSucceeded
                              : name.starts_with("policy_") ||
                                      code == ldap::OutcomeCode::kWrongOldPassword ||
                                      code == ldap::OutcomeCode::kHistoryNotEnforceable
                                  ? queue::State::kRejected
                                  : queue::State::kFailed;
    EXPECT_EQ(TerminalStateFor(ldap::MakeOutcome(code, "")), want);
  }
}

}  // namespace wb::agent
