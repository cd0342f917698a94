#include "ldap/outcome.h"

#include <gtest/gtest.h>
#include <ldap.h>

#include <fstream>
#include <sstream>

#include "common/log_escape.h"
#include "common/secret.h"
#include "ldap/directory.h"

namespace wb::ldap {
namespace {

Outcome Write(int rc, const char* diag) { return OutcomeFromLdap(rc, diag, OperationKind::kWrite); }

// Every code a result can carry has its row in docs/troubleshooting.md, where an administrator
// looks it up.
TEST(OutcomeTest, EveryCodeIsInTheTroubleshootingTable) {
  std::ifstream in(std::string(WB_SOURCE_DIR) + "/docs/troubleshooting.md");
  ASSERT_TRUE(in.good());
  std::stringstream text;
  text << in.rdbuf();
  for (int c = static_cast<int>(OutcomeCode::kSucceeded);
       c <= static_cast<int>(OutcomeCode::kInternalError); ++c) {
    const std::string row = "| `" + std::string(OutcomeName(static_cast<OutcomeCode>(c))) + "` |";
    EXPECT_NE(text.str().find(row), std::string::npos) << row;
  }
}

// A server's message that quotes either password (a password check module may) goes nowhere:
// the diagnostic, and a reason or note built around it, are withheld; a message without it is
// kept as it is.
TEST(OutcomeTest, AServerMessageThatQuotesAPasswordIsWithheld) {
  const Secret new_pw("N3w-Pass\\word");  // a backslash: escaped in the diagnostic
  const Secret old_pw("Old-Pass-1");
  const PasswordChange change{.password = PasswordChange::Password::kChange,
                              .new_password = &new_pw,
                              .old_password = &old_pw};
  Outcome quoted = MakeOutcome(OutcomeCode::kPolicyViolation, "refused: Old-Pass-1 is old");
  quoted.diagnostic = EscapeForLog("pwdCheckModule: 'N3w-Pass\\word' is too weak");
  quoted.note = "N3w-Pass\\word";
  const Outcome withheld = WithoutEchoedPassword(quoted, change);
  EXPECT_EQ(withheld.code, OutcomeCode::kPolicyViolation);
  for (const std::string& text : {withheld.reason, withheld.diagnostic, withheld.note}) {
    EXPECT_EQ(text, "(withheld: the server's message contained the password)");
  }
  Outcome plain = MakeOutcome(OutcomeCode::kPolicyViolation, "too weak");
  plain.diagnostic = "Password fails quality checking policy";
  const Outcome kept = WithoutEchoedPassword(plain, change);
  EXPECT_EQ(kept.reason, "too weak");
  EXPECT_EQ(kept.diagnostic, "Password fails quality checking policy");
}

// The diagnostic is cut at 512 bytes of the server's message: a password that the cut went
// through is withheld too, though only its first bytes are left before the "...".
TEST(OutcomeTest, AServerMessageCutInsideAQuotedPasswordIsWithheld) {
  const Secret new_pw("Cut-Inside\\Pass-99");
  const PasswordChange change{.password = PasswordChange::Password::kReset,
                              .new_password = &new_pw};
  for (std::size_t kept : {1u, 4u, 11u, 12u, 17u}) {  // 11: up to the backslash, escaped
    std::string message(512 - kept, 'x');
    message += std::string(new_pw.view()) + " is too weak";
    Outcome cut = MakeOutcome(OutcomeCode::kPolicyViolation, "too weak");
    cut.diagnostic = EscapeForLog(message, 512);
    ASSERT_TRUE(cut.diagnostic.ends_with("...")) << cut.diagnostic;
    EXPECT_EQ(WithoutEchoedPassword(cut, change).diagnostic,
              "(withheld: the server's message contained the password)")
        << kept << ": " << cut.diagnostic;
  }
  // A message cut elsewhere is kept.
  Outcome long_plain = MakeOutcome(OutcomeCode::kPolicyViolation, "too weak");
  long_plain.diagnostic = EscapeForLog(std::string(600, 'x'), 512);
  EXPECT_EQ(WithoutEchoedPassword(long_plain, change).diagnostic, long_plain.diagnostic);
}

TEST(OutcomeTest, AdTooShortNamesTheRule) {
  Outcome o = Write(LDAP_CONSTRAINT_VIOLATION,
                    "0000052D: Constraint violation - check_password_restrictions: the password "
                    "is too short. It should be equal or longer than 7 characters!");
  EXPECT_EQ(o.code, OutcomeCode::kPolicyTooShort);
  EXPECT_FALSE(o.transient());
  EXPECT_NE(o.diagnostic.find("0000052D"), std::string::npos);
}

TEST(OutcomeTest, AdHistoryComplexityAndAgeAreDistinguished) {
  EXPECT_EQ(Write(19, "0000052D: ... the password was already used (in history)!").code,
            OutcomeCode::kPolicyInHistory);
  EXPECT_EQ(Write(19, "0000052D: ... the password does not meet the complexity criteria!").code,
            OutcomeCode::kPolicyComplexity);
  EXPECT_EQ(Write(19, "0000052D: ... the password is too young to change!").code,
            OutcomeCode::kPolicyTooYoung);
  EXPECT_EQ(Write(19, "0000052D: Constraint violation").code, OutcomeCode::kPolicyViolation);
}

TEST(OutcomeTest, AdWrongOldPasswordIs56) {
  EXPECT_EQ(Write(LDAP_CONSTRAINT_VIOLATION, "00000056: Constraint violation").code,
            OutcomeCode::kWrongOldPassword);
}

// slapd's only answer to a wrong old password in a Password Modify (servers/slapd/passwd.c).
TEST(OutcomeTest, SlapdUnwillingToVerifyOldPasswordIsWrongOldPassword) {
  Outcome o = OutcomeFromLdap(LDAP_UNWILLING_TO_PERFORM, "unwilling to verify old password",
                              OperationKind::kPasswordChange);
  EXPECT_EQ(o.code, OutcomeCode::kWrongOldPassword) << o.ToString();
  EXPECT_FALSE(o.transient());
  EXPECT_EQ(o.diagnostic, "unwilling to verify old password");
}

TEST(OutcomeTest, SlapdsOtherRefusalsOfAPasswordModifyStayDirectoryRefused) {
  for (const char* diag :
       {"shadow context; no update referral", "operation not supported for current user", ""}) {
    EXPECT_EQ(OutcomeFromLdap(LDAP_UNWILLING_TO_PERFORM, diag, OperationKind::kPasswordChange).code,
              OutcomeCode::kDirectoryRefused)
        << diag;
  }
}

TEST(OutcomeTest, UnwillingToVerifyOldPasswordOutsideAPasswordModifyIsDirectoryRefused) {
  EXPECT_EQ(Write(LDAP_UNWILLING_TO_PERFORM, "unwilling to verify old password").code,
            OutcomeCode::kDirectoryRefused);
}

// The writer of each kind replaces the reason with its own rights (access_denied_test); here
// it must not speak of AD, since OpenLDAP answers with the same code.
TEST(OutcomeTest, InsufficientRightsIsAccessDeniedInNoDirectoryKindsWords) {
  Outcome o = Write(LDAP_INSUFFICIENT_ACCESS,
                    "00000005: SecErr: DSID-03152492, problem 4003 (INSUFF_ACCESS_RIGHTS)");
  EXPECT_EQ(o.code, OutcomeCode::kAccessDenied);
  EXPECT_EQ(o.reason.find("Reset Password"), std::string::npos) << o.reason;
  EXPECT_EQ(o.reason.find("AD"), std::string::npos) << o.reason;
}

TEST(OutcomeTest, AnAdDiagnosticEndingInANewlineIsEscapedOnce) {
  Outcome o = Write(LDAP_INSUFFICIENT_ACCESS,
                    "00000005: SecErr: DSID-03152492, problem 4003 (INSUFF_ACCESS_RIGHTS), "
                    "data 0\n\\");
  EXPECT_EQ(o.diagnostic,
            "00000005: SecErr: DSID-03152492, problem 4003 (INSUFF_ACCESS_RIGHTS), data 0\\x0a"
            "\\x5c");
  EXPECT_NE(o.ToString().find("data 0\\x0a\\x5c]"), std::string::npos) << o.ToString();
}

TEST(OutcomeTest, AdWillNotPerformIsDirectoryRefused) {
  EXPECT_EQ(Write(LDAP_UNWILLING_TO_PERFORM, "0000001F: SvcErr: DSID-031A12D2, problem 5003").code,
            OutcomeCode::kDirectoryRefused);
}

TEST(OutcomeTest, ServiceBindReasonsComeFromAdDataCodes) {
  auto bind = [](const char* diag) {
    return OutcomeFromLdap(LDAP_INVALID_CREDENTIALS, diag, OperationKind::kServiceBind);
  };
  EXPECT_NE(bind("80090308: LdapErr: DSID-0C09041C, comment: AcceptSecurityContext error, "
                 "data 52e, v4563")
                .reason.find("wrong password"),
            std::string::npos);
  EXPECT_NE(bind("... data 775, v4563").reason.find("locked"), std::string::npos);
  EXPECT_NE(bind("... data 773, v4563").reason.find("must be changed"), std::string::npos);
  EXPECT_NE(bind("... data 533, v4563").reason.find("disabled"), std::string::npos);
  EXPECT_EQ(bind("x").code, OutcomeCode::kServiceBindFailed);
}

// Only a refusal of the service account's credentials or method holds the pool's binds
// (ServerPool::kBindHold); a server's own fault during the bind is a server failure: that
// server backs off and the next one is tried, and nothing waits out the hold.
TEST(OutcomeTest, AServersOwnFaultDuringTheBindIsNotABindRefusal) {
  for (int rc :
       {LDAP_OTHER, LDAP_ADMINLIMIT_EXCEEDED, LDAP_OPERATIONS_ERROR, LDAP_BUSY, LDAP_UNAVAILABLE}) {
    const Outcome o = OutcomeFromLdap(rc, "", OperationKind::kServiceBind);
    EXPECT_EQ(o.code, OutcomeCode::kDirectoryUnavailable) << rc << ": " << o.ToString();
    EXPECT_TRUE(o.transient());
  }
  for (int rc : {LDAP_INVALID_CREDENTIALS, LDAP_STRONG_AUTH_REQUIRED, LDAP_CONFIDENTIALITY_REQUIRED,
                 LDAP_INAPPROPRIATE_AUTH, LDAP_UNWILLING_TO_PERFORM}) {
    EXPECT_EQ(OutcomeFromLdap(rc, "", OperationKind::kServiceBind).code,
              OutcomeCode::kServiceBindFailed)
        << rc;
  }
}

// A read-only replica refers writes to its provider. Once the default branch made that a
// permanent internal_error on the same server for every request; as a server failure the pool
// backs that server off and tries the next URL, and the reason says what to fix.
TEST(OutcomeTest, AReferralIsAServerFailureThatNamesTheReplica) {
  const Outcome o = Write(LDAP_REFERRAL,
                          "0000202B: RefErr: DSID-0310082F, data 0, 1 access points\n\tref 1: "
                          "'dc1.corp.example.com'\n");
  EXPECT_EQ(o.code, OutcomeCode::kDirectoryUnavailable) << o.ToString();
  EXPECT_TRUE(o.transient());
  EXPECT_NE(o.reason.find("read-only replica"), std::string::npos) << o.reason;
  EXPECT_NE(o.ToString().find("dc1.corp.example.com"), std::string::npos) << o.ToString();
  for (OperationKind kind : {OperationKind::kPasswordChange, OperationKind::kClearAttribute}) {
    EXPECT_EQ(OutcomeFromLdap(LDAP_REFERRAL, "", kind).code, OutcomeCode::kDirectoryUnavailable);
  }
}

// A read referred elsewhere names an entry no server of the directory holds: a server failure
// there would back healthy servers off, one after another, for one request's DN.
TEST(OutcomeTest, AReferralOnAReadIsNoServersFailure) {
  const Outcome o = OutcomeFromLdap(LDAP_REFERRAL, "", OperationKind::kSearch);
  EXPECT_EQ(o.code, OutcomeCode::kInternalError) << o.ToString();
  EXPECT_FALSE(o.transient());
  EXPECT_NE(o.reason.find("naming context"), std::string::npos) << o.reason;
}

TEST(OutcomeTest, ConnectionFailuresAreTransient) {
  EXPECT_TRUE(Write(LDAP_SERVER_DOWN, "").transient());
  EXPECT_TRUE(Write(LDAP_BUSY, "").transient());
  EXPECT_TRUE(Write(LDAP_UNAVAILABLE, "").transient());
  EXPECT_TRUE(Write(LDAP_TIMEOUT, "").transient());
}

// The agent's own setup (its trust, its service account) failing says nothing about the
// user's request: it waits for the administrator's fix instead of failing the user.
TEST(OutcomeTest, TheAgentsOwnFaultsAreTransient) {
  Outcome o = Write(LDAP_CONNECT_ERROR, "TLS: hostname does not match CN in peer certificate");
  EXPECT_EQ(o.code, OutcomeCode::kTlsFailure);
  EXPECT_TRUE(o.transient());
  EXPECT_TRUE(OutcomeFromLdap(LDAP_INVALID_CREDENTIALS, "data 52e", OperationKind::kServiceBind)
                  .transient());
}

TEST(OutcomeTest, TheDirectorysRefusalsOfTheRequestArePermanent) {
  for (OutcomeCode code :
       {OutcomeCode::kUserNotFound, OutcomeCode::kAccessDenied, OutcomeCode::kPolicyTooShort,
        OutcomeCode::kPolicyInHistory, OutcomeCode::kWrongOldPassword,
        OutcomeCode::kDirectoryRefused, OutcomeCode::kNotSupported}) {
    EXPECT_FALSE(IsTransient(code)) << OutcomeName(code);
  }
}

TEST(OutcomeTest, PpolicyErrorsMapOneToOne) {
  EXPECT_EQ(OutcomeFromPpolicy(PP_passwordTooShort, "").code, OutcomeCode::kPolicyTooShort);
  EXPECT_EQ(OutcomeFromPpolicy(PP_passwordTooLong, "").code, OutcomeCode::kPolicyTooLong);
  EXPECT_EQ(OutcomeFromPpolicy(PP_passwordInHistory, "").code, OutcomeCode::kPolicyInHistory);
  // slapd's history code with its "the current password" text is the unchanged password.
  EXPECT_EQ(
      OutcomeFromPpolicy(PP_passwordInHistory, "Password is not being changed from existing value")
          .code,
      OutcomeCode::kPolicyUnchanged);
  EXPECT_EQ(OutcomeFromPpolicy(PP_passwordTooYoung, "").code, OutcomeCode::kPolicyTooYoung);
  EXPECT_EQ(OutcomeFromPpolicy(PP_insufficientPasswordQuality, "").code,
            OutcomeCode::kPolicyComplexity);
  EXPECT_EQ(OutcomeFromPpolicy(PP_passwordModNotAllowed, "").code,
            OutcomeCode::kPolicyChangeNotAllowed);
  EXPECT_EQ(OutcomeFromPpolicy(PP_mustSupplyOldPassword, "").code,
            OutcomeCode::kPolicyOldPasswordRequired);
  EXPECT_TRUE(OutcomeFromPpolicy(PP_noError, "").ok());
}

// Only the service account's own operations can meet slapd's restriction after a reset: it is
// a fault of the agent's setup (transient, like a refused bind), never the user's password.
TEST(OutcomeTest, TheServiceAccountRestrictedAfterAResetIsAServiceBindFailure) {
  const Outcome by_text =
      Write(LDAP_INSUFFICIENT_ACCESS,
            "Operations are restricted to bind/unbind/abandon/StartTLS/modify password");
  EXPECT_EQ(by_text.code, OutcomeCode::kServiceBindFailed) << by_text.ToString();
  EXPECT_TRUE(by_text.transient());
  const Outcome by_control = OutcomeFromPpolicy(PP_changeAfterReset, "");
  EXPECT_EQ(by_control.code, OutcomeCode::kServiceBindFailed) << by_control.ToString();
  EXPECT_EQ(by_control.reason, by_text.reason);
  // Any other insufficientAccess stays the missing right it is.
  EXPECT_EQ(Write(LDAP_INSUFFICIENT_ACCESS, "no write access to parent").code,
            OutcomeCode::kAccessDenied);
}

TEST(OutcomeTest, UnchangedPasswordIsRecognised) {
  EXPECT_EQ(OutcomeFromLdap(LDAP_CONSTRAINT_VIOLATION,
                            "Password is not being changed from existing value",
                            OperationKind::kPasswordChange)
                .code,
            OutcomeCode::kPolicyUnchanged);
}

TEST(OutcomeTest, AbsentAttributeIsSuccessOnlyWhenClearing) {
  EXPECT_TRUE(OutcomeFromLdap(LDAP_NO_SUCH_ATTRIBUTE, "", OperationKind::kClearAttribute).ok());
  EXPECT_FALSE(OutcomeFromLdap(LDAP_NO_SUCH_ATTRIBUTE, "", OperationKind::kWrite).ok());
}

TEST(OutcomeTest, ARefusedFilterIsAnInternalErrorNotANonMatch) {
  for (int rc : {LDAP_FILTER_ERROR, LDAP_INAPPROPRIATE_MATCHING}) {
    Outcome o = OutcomeFromLdap(rc, "", OperationKind::kSearch);
    EXPECT_EQ(o.code, OutcomeCode::kInternalError) << rc;
    EXPECT_FALSE(o.transient()) << rc;
    EXPECT_NE(o.reason.find("filter"), std::string::npos) << o.ToString();
  }
}

TEST(OutcomeTest, DiagnosticIsEscaped) {
  Outcome o = Write(LDAP_OTHER, "line\ninjected");
  EXPECT_EQ(o.diagnostic.find('\n'), std::string::npos);
}

TEST(OutcomeTest, EveryCodeHasAStableName) {
  for (int c = 0; c <= static_cast<int>(OutcomeCode::kInternalError); ++c) {
    auto name = OutcomeName(static_cast<OutcomeCode>(c));
    EXPECT_FALSE(name.empty());
    EXPECT_EQ(name.find(' '), std::string_view::npos);
  }
  EXPECT_EQ(OutcomeName(OutcomeCode::kPolicyTooShort), "policy_too_short");
}

}  // namespace
}  // namespace wb::ldap
