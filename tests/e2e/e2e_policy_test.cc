// The on-premises policy end to end (docs/policy.md): a real wbcloud, a real wbagent and a
// real slapd with the memberof overlay. Each denial is checked where it matters: the code and
// the user's page in the cloud's result, the audit trail, and the directory itself (the old
// password still binds, the new one does not).
#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "breached/breached.h"
#include "tests/e2e/e2e_util.h"
#include "tests/support/server_gate.h"
#include "tests/support/slapd_server.h"

namespace wb::testing {
namespace {

using Json = nlohmann::json;

// The JSON object a command printed after its other output (wbcloud submit --wait, wbagent
// policy test --json); a discarded value when there is none.
Json JsonIn(const std::string& output) {
  return Json::parse(output.substr(std::min(output.find('{'), output.size())), nullptr, false);
}

std::string StaffDn() { return "ou=staff," + SlapdServer::people_dn(); }
std::string StaffUserDn(const std::string& uid) { return "uid=" + uid + "," + StaffDn(); }
std::string StaffPassword(const std::string& uid) { return uid + "-Staff-Initial-1"; }

// An OU below ou=staff whose name has an accent written decomposed (o, then U+0301 COMBINING
// ACUTE ACCENT), as a system that writes decomposed letters (macOS) would create it; the config
// names it precomposed (ó, U+00F3).
std::string DecomposedOuDn() { return "ou=Direccio\u0301n," + StaffDn(); }
std::string PrecomposedOuDn() { return "OU=DIRECCI\u00D3N," + StaffDn(); }
std::string DecomposedOuUserDn() { return "uid=nfd1," + DecomposedOuDn(); }

// A user in ou=staff (or at `dn`), with employeeType when given.
Status CreateStaffUser(const SlapdServer& slapd, const std::string& uid,
                       const std::string& employee_type = "", std::string dn = "") {
  auto admin = slapd.AdminClient();
  if (!admin.ok()) return admin.error();
  if (dn.empty()) dn = StaffUserDn(uid);
  std::vector<LdapMod> attributes = {{LdapMod::Op::kAdd, "objectClass", {"inetOrgPerson"}},
                                     {LdapMod::Op::kAdd, "uid", {uid}},
                                     {LdapMod::Op::kAdd, "cn", {uid}},
                                     {LdapMod::Op::kAdd, "sn", {uid}},
                                     {LdapMod::Op::kAdd, "userPassword", {StaffPassword(uid)}}};
  if (!employee_type.empty()) {
    attributes.push_back({LdapMod::Op::kAdd, "employeeType", {employee_type}});
  }
  return admin->Add(dn, attributes);
}

// The audit trail's records of one request, in order.
std::vector<Json> AuditedFor(const Agent& agent, const std::string& request_id) {
  std::vector<Json> out;
  std::ifstream in(agent.state() / "audit" / "audit.jsonl");
  for (std::string line; std::getline(in, line);) {
    auto j = Json::parse(line, nullptr, false);
    if (j.is_object() && j.value("request_id", "") == request_id) out.push_back(j);
  }
  return out;
}

// Waits until `text` is in the agent's log after its first `from` bytes (a reload's line).
Status WaitForLog(const Agent& agent, std::size_t from, std::string_view text) {
  return WaitUntil(
      [&] {
        const std::string log = ReadFileOrEmpty(agent.log());
        return log.size() > from && log.find(text, from) != std::string::npos
                   ? Status::Ok()
                   : NotFound("\"" + std::string(text) + "\" is not in the log");
      },
      std::chrono::seconds(20));
}

class EndToEndPolicyTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto slapd = SlapdServer::Start();
    if (!slapd.ok()) {
      start_status_ = slapd.error();
      return;
    }
    slapd_ = std::move(*slapd);
    setup_status_ = PrepareDirectory();
    if (!setup_status_.ok()) return;
    dir_ = std::make_unique<TempDir>("wbe2epolicy");
    setup_status_ = WritePasswordLists(dir_->path());
    if (!setup_status_.ok()) return;
    auto d = Deploy(dir_->path(), SlapdServer::service_password(),
                    SlapdDirectoryToml(*slapd_, 5) + PolicyToml() + PasswordToml(dir_->path()));
    if (!d.ok()) {
      setup_status_ = d.error();
      return;
    }
    cloud_ = std::move(d->cloud);
    agent_ = std::move(d->agents.front());
  }
  // ou=staff holds the users the scope allows; tier0 <- ops <- ops1 is a nested denied group.
  static Status PrepareDirectory() {
    auto admin = slapd_->AdminClient();
    if (!admin.ok()) return admin.error();
    WB_RETURN_IF_ERROR(
        admin->Add(StaffDn(), {{LdapMod::Op::kAdd, "objectClass", {"organizationalUnit"}},
                               {LdapMod::Op::kAdd, "ou", {"staff"}}}));
    for (const char* uid : {"ok1", "ops1", "root1", "weak1", "helped1", "val1"}) {
      WB_RETURN_IF_ERROR(CreateStaffUser(*slapd_, uid));
    }
    WB_RETURN_IF_ERROR(CreateStaffUser(*slapd_, "con1", "contractor"));
    WB_RETURN_IF_ERROR(
        admin->Add(DecomposedOuDn(), {{LdapMod::Op::kAdd, "objectClass", {"organizationalUnit"}},
                                      {LdapMod::Op::kAdd, "ou", {"Direccio\u0301n"}}}));
    WB_RETURN_IF_ERROR(CreateStaffUser(*slapd_, "nfd1", "", DecomposedOuUserDn()));
    WB_RETURN_IF_ERROR(slapd_->CreateGroup(SlapdServer::group_dn("ops"), {StaffUserDn("ops1")}));
    return slapd_->CreateGroup(SlapdServer::group_dn("tier0"), {SlapdServer::group_dn("ops")});
  }
  static std::string PolicyToml() {
    return "\n[directory.scope]\n"
           "allowed_subtrees = [\"" +
           StaffDn() +
           "\"]\n"
           "filter = \"(!(employeeType=contractor))\"\n"
           "denied_groups = [\"" +
           SlapdServer::group_dn("tier0") +
           "\"]\n"
           "protected_dns = [\"" +
           StaffUserDn("root1") + "\", \"" + PrecomposedOuDn() +
           "\"]\n"
           "\n[directory.admin_scope]\n"
           "mode = \"log_only\"\n"
           "allowed_subtrees = [\"" +
           StaffDn() +
           "\"]\n"
           "\n[policy.verification]\n"
           "min_methods = 1\n"
           "weak_methods = [\"security_questions\"]\n";
  }
  // The banned words and the breached list the password rules name (docs/policy.md).
  static Status WritePasswordLists(const std::filesystem::path& dir) {
    WB_RETURN_IF_ERROR(WriteFile(dir / "banned.txt", "contoso\nwinter\n", 0644));
    WB_RETURN_IF_ERROR(WriteFile(dir / "pwned.txt", std::string(kBreachedSha1) + ":42\n", 0644));
    auto imported = breached::Import(dir / "pwned.txt", dir / "pwned.bin", {});
    return imported.ok() ? Status::Ok() : imported.error();
  }
  static std::string PasswordToml(const std::filesystem::path& dir) {
    return "\n[policy.password]\nmin_length = 12\nno_name_parts = true\nbanned_words_file = \"" +
           (dir / "banned.txt").string() + "\"\nbreached_file = \"" + (dir / "pwned.bin").string() +
           "\"\n";
  }
  // The SHA-1 of kBreachedPassword, as Pwned Passwords lists it.
  static constexpr char kBreachedPassword[] = "Breached-Password-2026";
  static constexpr char kBreachedSha1[] = "1B5A19C3534D337AE1AA76A1F07F28493325A94B";

  static void TearDownTestSuite() {
    if (agent_) (void)agent_->Stop();
    agent_.reset();
    cloud_.reset();
    slapd_.reset();
    dir_.reset();
  }
  void SetUp() override {
    WB_REQUIRE_SERVER(start_status_);
    ASSERT_TRUE(setup_status_.ok()) << setup_status_.ToString();
  }

  // A self-service reset unless `args` say otherwise (wbcloud's default requester is an admin).
  static Json Submit(std::vector<std::string> args, const std::string& password) {
    if (std::find(args.begin(), args.end(), "--requester-type") == args.end()) {
      args.insert(args.end(), {"--requester-type", "self"});
    }
    args.insert(args.end(), {"--kind", "uid", "--op", "reset", "--wait", "--timeout", "60"});
    CommandResult r = cloud_->Submit(args, &password);
    auto j = JsonIn(r.output);
    EXPECT_TRUE(j.is_object()) << r.output;
    return j.is_object() ? j : Json::object();
  }
  static bool CanBind(const std::string& dn, const std::string& password) {
    return TryUserBind(slapd_->ldaps_url(), slapd_->ca_file(), dn, password).ok();
  }
  // The request was denied with `code` and shown the user `action`; the directory was not
  // touched: the old password binds, the new one does not; the audit trail has the denial and
  // no directory_write.
  static void ExpectDeniedAndUnchanged(const Json& result, const std::string& code,
                                       const std::string& action, const std::string& dn,
                                       const std::string& old_password,
                                       const std::string& new_password) {
    EXPECT_EQ(result.value("outcome", ""), code) << result.dump();
    EXPECT_EQ(result.value("user_action", ""), action) << result.dump();
    EXPECT_TRUE(CanBind(dn, old_password)) << "the old password no longer binds";
    EXPECT_FALSE(CanBind(dn, new_password)) << "the denied password was written";
    const auto records = AuditedFor(*agent_, result.value("id", ""));
    bool denied = false;
    for (const auto& r : records) {
      EXPECT_NE(r.value("event", ""), "directory_write") << r.dump();
      if (r.value("event", "") == "policy_decision" && r.value("decision", "") == "deny") {
        denied = true;
        const std::string rule = code.rfind("password_", 0) == 0       ? "policy.password"
                                 : code == "verification_insufficient" ? "policy.verification"
                                                                       : "directory[corp]";
        EXPECT_NE(r.value("detail", "").find(rule), std::string::npos) << r.dump();
      }
    }
    EXPECT_TRUE(denied) << "no policy_decision deny in the audit trail";
  }

  static inline std::unique_ptr<SlapdServer> slapd_;
  static inline std::unique_ptr<TempDir> dir_;
  static inline std::unique_ptr<Cloud> cloud_;
  static inline std::unique_ptr<Agent> agent_;
  static inline Status start_status_;
  static inline Status setup_status_;
};

TEST_F(EndToEndPolicyTest, AUserInsideTheScopeIsReset) {
  const std::string pw = "Policy-Ok-Pass-1";
  auto result = Submit({"--user", "ok1"}, pw);
  EXPECT_EQ(result.value("outcome", ""), "succeeded") << result.dump();
  EXPECT_EQ(result.value("user_action", ""), "none") << result.dump();
  EXPECT_TRUE(CanBind(StaffUserDn("ok1"), pw));
}

TEST_F(EndToEndPolicyTest, AUserOutsideTheAllowedSubtreeIsDeniedAndKeepsItsPassword) {
  const std::string pw = "Outside-Pass-1";
  ExpectDeniedAndUnchanged(Submit({"--user", "alice"}, pw), "not_in_allowed_subtree", "not_enabled",
                           SlapdServer::user_dn("alice"), SlapdServer::user_password("alice"), pw);
}

TEST_F(EndToEndPolicyTest, AUserTheFilterExcludesIsDeniedAndKeepsItsPassword) {
  const std::string pw = "Contractor-Pass-1";
  ExpectDeniedAndUnchanged(Submit({"--user", "con1"}, pw), "filter_not_matched", "not_enabled",
                           StaffUserDn("con1"), StaffPassword("con1"), pw);
}

TEST_F(EndToEndPolicyTest, AMemberOfADeniedGroupThroughANestedGroupIsDenied) {
  const std::string pw = "Nested-Pass-1";
  ExpectDeniedAndUnchanged(Submit({"--user", "ops1"}, pw), "denied_group", "contact_admin",
                           StaffUserDn("ops1"), StaffPassword("ops1"), pw);
}

TEST_F(EndToEndPolicyTest, AProtectedAccountIsDeniedAndKeepsItsPassword) {
  const std::string pw = "Protected-Pass-1";
  ExpectDeniedAndUnchanged(Submit({"--user", "root1"}, pw), "protected_account", "contact_admin",
                           StaffUserDn("root1"), StaffPassword("root1"), pw);
}

// The directory returns the account's DN with the accent as it was written, decomposed; the
// config names the OU precomposed, in capitals. The same OU to slapd, and so to the policy:
// before, the two forms compared unequal, and the protected account was reset.
TEST_F(EndToEndPolicyTest, AProtectedOuProtectsWhetherItsAccentsAreWrittenComposedOrNot) {
  const std::string pw = "Decomposed-Pass-1";
  ExpectDeniedAndUnchanged(Submit({"--user", "nfd1"}, pw), "protected_account", "contact_admin",
                           DecomposedOuUserDn(), StaffPassword("nfd1"), pw);
}

TEST_F(EndToEndPolicyTest, ARequestVerifiedOnlyByAWeakMethodIsDenied) {
  const std::string pw = "Weak-Pass-1";
  ExpectDeniedAndUnchanged(Submit({"--user", "weak1", "--verified-by", "security_questions"}, pw),
                           "verification_insufficient", "could_not_verify", StaffUserDn("weak1"),
                           StaffPassword("weak1"), pw);
}

// --- wbagent policy test: the same rules, previewed, with nothing written ---------------------

// `wbagent policy test ... --json` against the running deployment: (exit code, the object).
std::pair<int, Json> PolicyTest(const Agent& agent, std::vector<std::string> args) {
  std::vector<std::string> argv = {"policy", "test", "--json"};
  argv.insert(argv.end(), args.begin(), args.end());
  CommandResult r = agent.Wbagent(argv);
  auto j = JsonIn(r.output);
  EXPECT_TRUE(j.is_object()) << r.output;
  return {r.exit_code, j.is_object() ? j : Json::object()};
}

// The row of `rule` in a preview; an empty object when there is none.
Json RuleRow(const Json& preview, const std::string& rule) {
  for (const auto& row : preview.value("rules", Json::array())) {
    if (row.value("rule", "") == rule) return row;
  }
  return Json::object();
}

std::uintmax_t AuditSize(const Agent& agent) {
  return std::filesystem::file_size(agent.state() / "audit" / "audit.jsonl");
}

// The password rules run on the decrypted password before anything is written: each refusal
// has its own code and asks for a stronger password, the old password still binds, and the
// refused password is nowhere in the agent's log, audit trail or database, in UTF-8 or UTF-16.
TEST_F(EndToEndPolicyTest, APasswordBuiltOnABannedWordIsRefusedAndNothingIsWritten) {
  const std::string pw = "ContosoContoso1";  // 2 banned words + 1 character: 3 points < 5
  ExpectDeniedAndUnchanged(Submit({"--user", "helped1"}, pw), "password_banned",
                           "stronger_password", StaffUserDn("helped1"), StaffPassword("helped1"),
                           pw);
  const Status secret = agent_->FindSecret(pw);
  EXPECT_TRUE(secret.ok()) << secret.ToString();
}

TEST_F(EndToEndPolicyTest, ABreachedPasswordIsRefusedAndNothingIsWritten) {
  ExpectDeniedAndUnchanged(Submit({"--user", "helped1"}, kBreachedPassword), "password_breached",
                           "stronger_password", StaffUserDn("helped1"), StaffPassword("helped1"),
                           kBreachedPassword);
  const Status secret = agent_->FindSecret(kBreachedPassword);
  EXPECT_TRUE(secret.ok()) << secret.ToString();
}

TEST_F(EndToEndPolicyTest, APasswordWithTheUsersNameIsRefused) {
  const std::string pw = "Helped1-Is-Long-Enough";
  ExpectDeniedAndUnchanged(Submit({"--user", "helped1"}, pw), "password_contains_name",
                           "stronger_password", StaffUserDn("helped1"), StaffPassword("helped1"),
                           pw);
}

// --- validate and the policy summary (#15 item 5) ---------------------------------------------

// What the directory holds of val1's password: a write changes both.
std::pair<std::vector<std::string>, std::vector<std::string>> PasswordState(
    const SlapdServer& slapd) {
  auto hash = slapd.ReadAttribute(StaffUserDn("val1"), "userPassword");
  auto changed = slapd.ReadAttribute(StaffUserDn("val1"), "pwdChangedTime");
  EXPECT_TRUE(hash.ok() && changed.ok());
  return {hash.ok() ? *hash : std::vector<std::string>{},
          changed.ok() ? *changed : std::vector<std::string>{}};
}

// `validate` answers without writing: the password hash and pwdChangedTime are unchanged, the
// old password still binds, the audit trail has the answer and no write, and the candidate is
// nowhere on the agent's disk.
TEST_F(EndToEndPolicyTest, AValidateOfAGoodPasswordSucceedsAndWritesNothing) {
  const std::string pw = "Validate-Ok-Pass-1";
  const auto before = PasswordState(*slapd_);
  ASSERT_FALSE(before.first.empty());
  const CommandResult r = cloud_->Validate({"--user", "val1", "--kind", "uid"}, pw);
  const Json result = OutputJson(r);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(result.value("outcome", ""), "succeeded") << r.output;
  EXPECT_EQ(result.value("user_action", ""), "none") << r.output;
  EXPECT_NE(result.value("note", "").find("history (5)"), std::string::npos) << r.output;
  EXPECT_EQ(PasswordState(*slapd_), before) << "validate wrote to the directory";
  EXPECT_TRUE(CanBind(StaffUserDn("val1"), StaffPassword("val1")));
  EXPECT_FALSE(CanBind(StaffUserDn("val1"), pw));
  bool answered = false;
  for (const auto& rec : AuditedFor(*agent_, result.value("id", ""))) {
    EXPECT_NE(rec.value("event", ""), "directory_write") << rec.dump();
    if (rec.value("event", "") == "password_validated") {
      answered = true;
      EXPECT_EQ(rec.value("outcome", ""), "succeeded") << rec.dump();
      EXPECT_EQ(rec.value("operation", Json::array()), Json::array({"validate"})) << rec.dump();
    }
  }
  EXPECT_TRUE(answered) << "no password_validated record";
  const Status secret = agent_->FindSecret(pw);
  EXPECT_TRUE(secret.ok()) << secret.ToString();
}

// Every failing rule is in the answer: the agent's own (min_length 12, the banned word) and
// slapd's pwdMinLength 8 (with pwdCheckQuality 2), which only the directory would have refused.
TEST_F(EndToEndPolicyTest, AValidateOfAWeakPasswordListsEveryRuleItFailsAndWritesNothing) {
  const auto before = PasswordState(*slapd_);
  const std::string pw = "Winter7";  // 7 bytes, a banned word
  const CommandResult r = cloud_->Validate({"--user", "val1", "--kind", "uid"}, pw);
  const Json result = OutputJson(r);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_EQ(result.value("outcome", ""), "password_too_short") << r.output;
  EXPECT_EQ(result.value("user_action", ""), "stronger_password") << r.output;
  const std::string reason = result.value("reason", "");
  EXPECT_NE(reason.find("password_banned"), std::string::npos) << reason;
  EXPECT_NE(reason.find("policy_too_short"), std::string::npos) << reason;
  EXPECT_NE(reason.find("pwdMinLength 8"), std::string::npos) << reason;
  EXPECT_EQ(reason.find(pw), std::string::npos) << "the answer holds the password";
  EXPECT_EQ(PasswordState(*slapd_), before);
  const Status secret = agent_->FindSecret(pw);
  EXPECT_TRUE(secret.ok()) << secret.ToString();
}

// A validate counts towards the rate limits like any request: it cannot become a guessing
// oracle. (The per-account limit is tested at length elsewhere; here: a validate is admitted
// by the same admission, so a weak verification is refused before the password is looked at.)
TEST_F(EndToEndPolicyTest, AValidateGoesThroughAdmissionLikeAReset) {
  const CommandResult r =
      cloud_->Validate({"--user", "val1", "--kind", "uid", "--verified-by", "security_questions"},
                       "Validate-Ok-Pass-1");
  const Json result = OutputJson(r);
  EXPECT_EQ(result.value("outcome", ""), "verification_insufficient") << r.output;
  EXPECT_EQ(result.value("user_action", ""), "could_not_verify") << r.output;
}

// The agent tells the cloud the rules before the user types: the summary arrives after the
// welcome, with slapd's own policy as read and the agent's tables.
TEST_F(EndToEndPolicyTest, ThePolicySummaryArrivesInTheCloudWithTheDirectorysOwnPolicy) {
  auto arrived = cloud_->PolicySummary(std::chrono::seconds(30));
  ASSERT_TRUE(arrived.ok()) << arrived.error().ToString();
  const Json summary = *arrived;
  const auto directories = summary.value("directories", Json::array());
  ASSERT_EQ(directories.size(), 1u) << summary.dump();
  const Json& corp = directories[0];
  EXPECT_EQ(corp.value("name", ""), "corp");
  ASSERT_TRUE(corp.contains("directory")) << summary.dump();
  EXPECT_EQ(corp["directory"].value("min_length", -1), 8) << summary.dump();
  EXPECT_EQ(corp["directory"].value("history_length", -1), 5) << summary.dump();
  EXPECT_TRUE(corp["directory"].value("complexity", false)) << summary.dump();
  EXPECT_EQ(corp["self"].value("min_length", -1), 12) << summary.dump();
  EXPECT_TRUE(corp["self"].value("no_name_parts", false)) << summary.dump();
  EXPECT_TRUE(corp["self"].value("banned_words", false)) << summary.dump();
  EXPECT_TRUE(corp["self"].value("breached", false)) << summary.dump();
  EXPECT_EQ(summary.dump().find("contoso"), std::string::npos) << "a banned term was sent";
  // `wbcloud status` shows it in words.
  const std::string text = cloud_->StatusText();
  EXPECT_NE(text.find("self-service: at least 12 characters"), std::string::npos) << text;
}

// `wbagent policy test --password-file -` checks a password the administrator types against the
// same rules, and prints neither the password nor the banned word.
TEST_F(EndToEndPolicyTest, PolicyTestChecksAPasswordFromStdinWithoutShowingIt) {
  const std::string pw = "ContosoContoso1";
  const std::string input = pw + "\n";
  CommandResult r = agent_->Wbagent({"policy", "test", "--json", "--user", "ok1", "--kind", "uid",
                                     "--verified-by", "email", "--password-file", "-"},
                                    &input);
  auto p = JsonIn(r.output);
  ASSERT_TRUE(p.is_object()) << r.output;
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_EQ(p.value("code", ""), "password_banned") << r.output;
  EXPECT_EQ(p.value("user_action", ""), "stronger_password") << r.output;
  EXPECT_EQ(RuleRow(p, "policy.password.banned_words_file").value("result", ""), "match");
  EXPECT_EQ(RuleRow(p, "policy.password.min_length").value("result", ""), "pass");
  EXPECT_EQ(r.output.find(pw), std::string::npos) << "the preview printed the password";
  EXPECT_EQ(r.output.find("ontoso"), std::string::npos) << "the preview named the banned word";
  // Without a password the rules are listed but never as passed.
  auto [no_password_exit, listed] =
      PolicyTest(*agent_, {"--user", "ok1", "--kind", "uid", "--verified-by", "email"});
  EXPECT_EQ(no_password_exit, 0);
  EXPECT_EQ(RuleRow(listed, "policy.password.min_length").value("result", ""), "not_checked");
}

// The admin scope runs in log-only mode: a help-desk reset outside it goes through, and the
// audit trail says what enforcement would have done.
TEST_F(EndToEndPolicyTest, LogOnlyLetsAWouldDenyRequestThroughAndAuditsIt) {
  const std::string pw = "Helpdesk-Reset-Pass-1";
  auto result =
      Submit({"--user", "bob", "--requester-type", "admin", "--requester", "helpdesk-1"}, pw);
  EXPECT_EQ(result.value("outcome", ""), "succeeded") << result.dump();
  EXPECT_TRUE(CanBind(SlapdServer::user_dn("bob"), pw));
  bool would_deny = false;
  for (const auto& r : AuditedFor(*agent_, result.value("id", ""))) {
    if (r.value("decision", "") != "would_deny") continue;
    would_deny = true;
    EXPECT_EQ(r.value("reasons", Json::array()), Json::array({"not_in_allowed_subtree"}));
    EXPECT_NE(r.value("detail", "").find("directory[corp].admin_scope.allowed_subtrees (log_only)"),
              std::string::npos)
        << r.dump();
  }
  EXPECT_TRUE(would_deny) << "no would_deny decision in the audit trail";
}

TEST_F(EndToEndPolicyTest, PolicyTestAllowsAUserInsideTheScopeAndShowsEveryRuleItPassed) {
  auto [exit_code, p] =
      PolicyTest(*agent_, {"--user", "ok1", "--kind", "uid", "--verified-by", "email"});
  EXPECT_EQ(exit_code, 0) << p.dump();
  EXPECT_EQ(p.value("verdict", ""), "allow") << p.dump();
  EXPECT_EQ(p.value("account", ""), StaffUserDn("ok1")) << p.dump();
  EXPECT_EQ(p.value("user_action", ""), "none");
  for (const char* rule :
       {"policy.verification.min_methods", "directory[corp].scope.allowed_subtrees",
        "directory[corp].scope.filter", "directory[corp].scope.denied_groups",
        "directory[corp].scope.protected_dns"}) {
    EXPECT_EQ(RuleRow(p, rule).value("result", ""), "pass") << rule << ": " << p.dump();
  }
  // The table form says the same.
  CommandResult table = agent_->Wbagent(
      {"policy", "test", "--user", "ok1", "--kind", "uid", "--verified-by", "email"});
  EXPECT_EQ(table.exit_code, 0) << table.output;
  EXPECT_NE(table.output.find("verdict: allow"), std::string::npos) << table.output;
  EXPECT_NE(table.output.find("directory[corp].scope.denied_groups"), std::string::npos)
      << table.output;
}

// Each denial the daemon makes, previewed: the same code from the same rule, exit 1, and
// nothing written: the password still binds, no audit record, no queued request.
TEST_F(EndToEndPolicyTest, PolicyTestPreviewsEachDenialWithItsRuleAndWritesNothing) {
  struct Case {
    std::string uid, dn, password, code, rule, action;
  };
  const std::vector<Case> cases = {
      {"alice", SlapdServer::user_dn("alice"), SlapdServer::user_password("alice"),
       "not_in_allowed_subtree", "directory[corp].scope.allowed_subtrees", "not_enabled"},
      {"con1", StaffUserDn("con1"), StaffPassword("con1"), "filter_not_matched",
       "directory[corp].scope.filter", "not_enabled"},
      {"ops1", StaffUserDn("ops1"), StaffPassword("ops1"), "denied_group",
       "directory[corp].scope.denied_groups", "contact_admin"},
      {"root1", StaffUserDn("root1"), StaffPassword("root1"), "protected_account",
       "directory[corp].scope.protected_dns", "contact_admin"},
  };
  const std::size_t queued =
      agent_->Wbagent({"queue", "list", "--json", "--limit", "1000"}).output.size();
  const std::uintmax_t audited = AuditSize(*agent_);
  for (const auto& c : cases) {
    auto [exit_code, p] =
        PolicyTest(*agent_, {"--user", c.uid, "--kind", "uid", "--verified-by", "email"});
    EXPECT_EQ(exit_code, 1) << c.uid << ": " << p.dump();
    EXPECT_EQ(p.value("verdict", ""), "deny") << p.dump();
    EXPECT_EQ(p.value("code", ""), c.code) << p.dump();
    EXPECT_EQ(p.value("user_action", ""), c.action) << p.dump();
    EXPECT_EQ(p.value("written", true), false);
    const Json row = RuleRow(p, c.rule);
    EXPECT_EQ(row.value("result", ""), "match") << c.rule << ": " << p.dump();
    EXPECT_EQ(row.value("code", ""), c.code) << p.dump();
    EXPECT_TRUE(CanBind(c.dn, c.password)) << c.uid << ": the preview changed the password";
  }
  EXPECT_EQ(AuditSize(*agent_), audited) << "the preview wrote to the audit trail";
  EXPECT_EQ(agent_->Wbagent({"queue", "list", "--json", "--limit", "1000"}).output.size(), queued)
      << "the preview queued a request";
}

TEST_F(EndToEndPolicyTest, PolicyTestDeniesAWeakMethodAtAdmissionAndStillShowsTheAccountRules) {
  auto [exit_code, p] = PolicyTest(
      *agent_, {"--user", "ops1", "--kind", "uid", "--verified-by", "security_questions"});
  EXPECT_EQ(exit_code, 1);
  EXPECT_EQ(p.value("code", ""), "verification_insufficient") << p.dump();
  EXPECT_EQ(p.value("user_action", ""), "could_not_verify") << p.dump();
  EXPECT_EQ(RuleRow(p, "policy.verification.min_methods").value("result", ""), "match");
  // The daemon would stop at admission; the preview goes on, so every obstacle shows at once.
  EXPECT_EQ(RuleRow(p, "directory[corp].scope.denied_groups").value("result", ""), "match")
      << p.dump();
}

TEST_F(EndToEndPolicyTest, PolicyTestShowsALogOnlyRuleAsAWouldDenyThatGoesThrough) {
  auto [exit_code, p] = PolicyTest(*agent_, {"--user", "bob", "--kind", "uid", "--requester-type",
                                             "admin", "--requester", "helpdesk-1"});
  EXPECT_EQ(exit_code, 0) << p.dump();
  EXPECT_EQ(p.value("verdict", ""), "would_deny") << p.dump();
  EXPECT_EQ(p.value("code", ""), "not_in_allowed_subtree") << p.dump();
  EXPECT_EQ(p.value("user_action", ""), "none") << p.dump();  // the request goes through
  EXPECT_EQ(p.value("applied", false), true);
  const Json row = RuleRow(p, "directory[corp].admin_scope.allowed_subtrees");
  EXPECT_EQ(row.value("result", ""), "match") << p.dump();
  EXPECT_EQ(row.value("enforced", true), false) << p.dump();
}

TEST_F(EndToEndPolicyTest, PolicyTestOfAnUnknownUserSaysTheLookupWouldFail) {
  auto [exit_code, p] =
      PolicyTest(*agent_, {"--user", "nobody-here", "--kind", "uid", "--verified-by", "email"});
  EXPECT_EQ(exit_code, 1);
  EXPECT_EQ(p.value("verdict", ""), "fails") << p.dump();
  EXPECT_EQ(p.value("code", ""), "user_not_found") << p.dump();
  EXPECT_EQ(p.value("user_action", ""), "could_not_verify") << p.dump();
  EXPECT_EQ(RuleRow(p, "directory[corp].scope.allowed_subtrees").value("result", ""),
            "not_checked");
}

TEST_F(EndToEndPolicyTest, PolicyTestRefusesBadArgumentsWithExitTwo) {
  // Each with the option its message names.
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--password-file", "/nonexistent/password"}, "--password-file"},
      {{"--requester-type", "admin"}, "--requester:"},  // an admin request needs its id
      {{"--kind", "UID"}, "--kind"},
      {{"--op", "rest"}, "--op"}};
  for (const auto& [args, named] : cases) {
    std::vector<std::string> argv = {"policy", "test", "--user", "ok1"};
    argv.insert(argv.end(), args.begin(), args.end());
    CommandResult r = agent_->Wbagent(argv);
    EXPECT_EQ(r.exit_code, 2) << named << ": " << r.output;
    EXPECT_NE(r.output.find(named), std::string::npos) << r.output;
  }
}

// `systemctl reload` applies [policy] and the directory's scope and password tables at once:
// after the reload a user the old scope refused is reset, and the new verification and password
// rules refuse what they no longer allow.
TEST_F(EndToEndPolicyTest, AReloadAppliesNewScopeVerificationAndPasswordRulesAtOnce) {
  ASSERT_TRUE(slapd_->CreateUser("reload1", "reload1-Start-1").ok());
  TempDir dir("wbe2epolreload");
  const std::string narrow = "\n[directory.scope]\nallowed_subtrees = [\"" + StaffDn() + "\"]\n";
  auto d = Deploy(dir.path(), SlapdServer::service_password(),
                  SlapdDirectoryToml(*slapd_, 5) + narrow, {"agent-reload"});
  ASSERT_TRUE(d.ok()) << d.error().ToString();
  Agent& agent = *d->agents.front();
  auto submit = [&](const std::vector<std::string>& methods, const std::string& pw) {
    std::vector<std::string> args = {"--user", "reload1",          "--kind", "uid",    "--op",
                                     "reset",  "--requester-type", "self",   "--wait", "--timeout",
                                     "60"};
    for (const auto& m : methods) args.insert(args.end(), {"--verified-by", m});
    CommandResult r = d->cloud->Submit(args, &pw);
    auto j = JsonIn(r.output);
    return j.is_object() ? j : Json::object();
  };
  EXPECT_EQ(submit({"email"}, "Before-Reload-Pass-1").value("outcome", ""),
            "not_in_allowed_subtree");

  // Widen the scope to ou=people and require two methods; then reload.
  std::string toml = ReadFileOrEmpty(agent.config());
  const std::size_t at = toml.find(StaffDn());
  ASSERT_NE(at, std::string::npos) << toml;
  toml.replace(at, StaffDn().size(), SlapdServer::people_dn());
  // A password table of the directory too, right after its scope table.
  toml.insert(toml.find('\n', at) + 1, "\n[directory.password]\nmin_length = 30\n");
  toml += "\n[policy.verification]\nmin_methods = 2\n";
  ASSERT_TRUE(WriteFile(agent.config(), toml, 0600).ok());
  agent.Signal(SIGHUP);
  ASSERT_TRUE(WaitForLog(agent, 0, "the policy's rules changed").ok())
      << ReadFileOrEmpty(agent.log());

  EXPECT_EQ(submit({"email"}, "One-Method-Pass-2").value("outcome", ""),
            "verification_insufficient");
  EXPECT_EQ(submit({"email", "sms"}, "Two-Methods-Pass-3").value("outcome", ""),
            "password_too_short");  // the directory's new password table
  const std::string pw = "Two-Methods-And-Thirty-Characters-4";
  EXPECT_EQ(submit({"email", "sms"}, pw).value("outcome", ""), "succeeded");
  EXPECT_TRUE(CanBind(SlapdServer::user_dn("reload1"), pw));

  // A reload that changes nothing but the directory's password table applies it too.
  const std::size_t log_size = ReadFileOrEmpty(agent.log()).size();
  toml = ReadFileOrEmpty(agent.config());
  const std::size_t rule = toml.find("min_length = 30");
  ASSERT_NE(rule, std::string::npos) << toml;
  toml.replace(rule, std::string("min_length = 30").size(), "min_length = 40");
  ASSERT_TRUE(WriteFile(agent.config(), toml, 0600).ok());
  agent.Signal(SIGHUP);
  ASSERT_TRUE(WaitForLog(agent, log_size, "the policy's rules changed").ok())
      << ReadFileOrEmpty(agent.log());
  EXPECT_EQ(submit({"email", "sms"}, "Thirty-Five-Characters-Is-Too-Short-5").value("outcome", ""),
            "password_too_short");
  // The cloud is told the new rules: a changed summary is sent at once.
  const Status told = WaitUntil(
      [&] {
        const Json status = d->cloud->StatusJson();
        if (!status.is_object()) return NotFound("no status");
        for (const auto& a : status.value("agents", Json::array())) {
          const Json& summary = a.value("policy_summary", Json::object());
          for (const auto& entry : summary.value("directories", Json::array())) {
            if (entry.value("self", Json::object()).value("min_length", 0) == 40) {
              return Status::Ok();
            }
          }
        }
        return NotFound("the cloud's summary does not have min_length 40");
      },
      std::chrono::seconds(20));
  EXPECT_TRUE(told.ok()) << told.ToString() << d->cloud->StatusJson().dump();

  // A reload whose rules cannot be opened (a banned-words file that is not UTF-8: the loader
  // checks only its size) is refused whole: the old rules stay, and the trail says
  // config_rejected, not config_loaded, for it.
  const std::size_t log_before_bad = ReadFileOrEmpty(agent.log()).size();
  ASSERT_TRUE(WriteFile(dir.path() / "banned.txt", "contoso\n\xff\xfe\n", 0644).ok());
  toml = ReadFileOrEmpty(agent.config());
  toml.replace(
      toml.find("min_length = 40"), std::string("min_length = 40").size(),
      "min_length = 10\nbanned_words_file = \"" + (dir.path() / "banned.txt").string() + "\"");
  ASSERT_TRUE(WriteFile(agent.config(), toml, 0600).ok());
  agent.Signal(SIGHUP);
  ASSERT_TRUE(WaitForLog(agent, log_before_bad, "refused, keeping the running configuration").ok())
      << ReadFileOrEmpty(agent.log());
  EXPECT_EQ(submit({"email", "sms"}, "Thirty-Five-Characters-Is-Too-Short-6").value("outcome", ""),
            "password_too_short");  // still min_length 40
  std::vector<std::string> reloads;
  std::ifstream trail(agent.state() / "audit" / "audit.jsonl");
  for (std::string line; std::getline(trail, line);) {
    const Json j = Json::parse(line, nullptr, false);
    const std::string type = j.is_object() ? j.value("event", "") : "";
    if (type == "config_loaded" || type == "config_rejected") reloads.push_back(type);
  }
  // The start's, the two reloads', and the refused one.
  EXPECT_EQ(reloads, (std::vector<std::string>{"config_loaded", "config_loaded", "config_loaded",
                                               "config_rejected"}));
  (void)agent.Stop();
}

// A reload that renames the directory changes its connection, which waits for a restart: the
// running directory keeps its scope until then. Before, the new rules did not know the running
// directory's name, and every account check passed: a reload lifted the whole scope.
TEST_F(EndToEndPolicyTest, AReloadThatRenamesTheDirectoryKeepsItsScopeUntilTheRestart) {
  ASSERT_TRUE(slapd_->CreateUser("rename1", "rename1-Start-1").ok());
  TempDir dir("wbe2epolrename");
  const std::string narrow = "\n[directory.scope]\nallowed_subtrees = [\"" + StaffDn() + "\"]\n";
  auto d = Deploy(dir.path(), SlapdServer::service_password(),
                  SlapdDirectoryToml(*slapd_, 5) + narrow, {"agent-rename"});
  ASSERT_TRUE(d.ok()) << d.error().ToString();
  Agent& agent = *d->agents.front();
  auto submit = [&](const std::string& pw) {
    CommandResult r = d->cloud->Submit(
        {"--user", "rename1", "--kind", "uid", "--op", "reset", "--requester-type", "self",
         "--verified-by", "email", "--verified-by", "sms", "--wait", "--timeout", "60"},
        &pw);
    auto j = JsonIn(r.output);
    return j.is_object() ? j : Json::object();
  };
  EXPECT_EQ(submit("Before-Rename-Pass-1").value("outcome", ""), "not_in_allowed_subtree");

  // The directory renamed, its scope dropped, and a [policy] change that applies now.
  std::string toml = ReadFileOrEmpty(agent.config());
  const std::string named = "name = \"corp\"";
  const std::size_t at = toml.find(named);
  ASSERT_NE(at, std::string::npos) << toml;
  toml.replace(at, named.size(), "name = \"renamed\"");
  const std::size_t scope = toml.find("[directory.scope]");
  ASSERT_NE(scope, std::string::npos) << toml;
  toml.erase(scope, toml.find('\n', toml.find("allowed_subtrees", scope)) + 1 - scope);
  toml += "\n[policy.verification]\nmin_methods = 2\n";
  ASSERT_TRUE(WriteFile(agent.config(), toml, 0600).ok());
  agent.Signal(SIGHUP);
  ASSERT_TRUE(WaitUntil(
                  [&] {
                    const std::string log = ReadFileOrEmpty(agent.log());
                    return log.find("the policy's rules changed") != std::string::npos &&
                                   log.find("was renamed, removed or connected elsewhere") !=
                                       std::string::npos
                               ? Status::Ok()
                               : NotFound("no reload in the log");
                  },
                  std::chrono::seconds(20))
                  .ok())
      << ReadFileOrEmpty(agent.log());
  const std::string pw = "After-Rename-Pass-2";
  EXPECT_EQ(submit(pw).value("outcome", ""), "not_in_allowed_subtree");
  EXPECT_FALSE(CanBind(SlapdServer::user_dn("rename1"), pw));
  (void)agent.Stop();
}

// The breaker trips while breaker.json cannot be written, and the agent stops before it could
// be: the next start would not know the breaker tripped and would admit what it held, so the
// stop says so at critical, with what to do.
TEST_F(EndToEndPolicyTest, AStopWithTheTrippedBreakerUnwrittenSaysSoAtCritical) {
  TempDir dir("wbe2ebrkstop");
  auto d = Deploy(dir.path(), SlapdServer::service_password(),
                  SlapdDirectoryToml(*slapd_, 5) + "\n[policy.rate_limits]\noverall = \"1/1h\"\n",
                  {"agent-brkstop"});
  ASSERT_TRUE(d.ok()) << d.error().ToString();
  Agent& agent = *d->agents.front();
  const auto breaker_file = agent.state() / "breaker.json";
  std::filesystem::remove(breaker_file);
  ASSERT_TRUE(std::filesystem::create_directories(breaker_file / "in-the-way"));
  // Users of its own: the suite's other tests count on the others' passwords.
  for (const std::string uid : {"brkstop1", "brkstop2"}) {
    ASSERT_TRUE(slapd_->CreateUser(uid, uid + "-Initial-Pass-1").ok());
    const std::string pw = "Stop-Unwritten-" + uid + "-1";
    CommandResult r =
        d->cloud->Submit({"--user", uid, "--kind", "uid", "--op", "reset", "--ttl", "900"}, &pw);
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
  ASSERT_TRUE(WaitUntil(
                  [&] {
                    return ReadFileOrEmpty(agent.log()).find("the breaker tripped") !=
                                   std::string::npos
                               ? Status::Ok()
                               : NotFound("not tripped yet");
                  },
                  std::chrono::seconds(60))
                  .ok())
      << ReadFileOrEmpty(agent.log());
  (void)agent.Stop();
  const std::string log = ReadFileOrEmpty(agent.log());
  // The directory in breaker.json's place cannot be read either: the next start would not run.
  const std::size_t at = log.find("breaker state: not written at stop, and ");
  ASSERT_NE(at, std::string::npos) << log;
  const std::size_t line = log.rfind('\n', at);
  EXPECT_NE(log.substr(line == std::string::npos ? 0 : line, at - line).find("critical"),
            std::string::npos)
      << log.substr(line == std::string::npos ? 0 : line, 200);
  EXPECT_NE(log.find(R"(write {\"tripped\":true,)", at), std::string::npos) << log.substr(at, 400);
  EXPECT_TRUE(std::filesystem::is_directory(breaker_file));
}

// A burst of 200 resets against an overall limit of 20 an hour. The breaker trips on the 21st
// request. Held requests are stored and accepted but not written; they keep the agent's
// credits (4 here), so the cloud keeps the rest of the burst. Each `wbagent breaker release`
// applies what is held and counting starts again, so the burst trips it again after 20 more:
// the administrator releases until the burst is through, and every request is applied exactly
// once.
class EndToEndBreakerTest : public EndToEndPolicyTest {
 protected:
  static void SetUpTestSuite() {
    auto slapd = SlapdServer::Start();
    if (!slapd.ok()) {
      start_status_ = slapd.error();
      return;
    }
    slapd_ = std::move(*slapd);
    setup_status_ = slapd_->SetPolicy({.min_length = 8, .in_history = 0, .min_age = 0});
    if (!setup_status_.ok()) return;
    dir_ = std::make_unique<TempDir>("wbe2ebreaker");
    auto d =
        Deploy(dir_->path(), SlapdServer::service_password(),
               SlapdDirectoryToml(*slapd_, 5) + "\n[policy.rate_limits]\noverall = \"20/1h\"\n");
    if (!d.ok()) {
      setup_status_ = d.error();
      return;
    }
    cloud_ = std::move(d->cloud);
    agent_ = std::move(d->agents.front());
  }
  static void TearDownTestSuite() { EndToEndPolicyTest::TearDownTestSuite(); }

  static Json QueueList() {
    CommandResult r = agent_->Wbagent({"queue", "list", "--limit", "1000", "--json"});
    auto j = Json::parse(r.output, nullptr, false);
    return j.is_object() ? j : Json::object();
  }
  static std::size_t CountInState(const Json& list, const std::string& state) {
    std::size_t n = 0;
    for (const auto& r : list.value("requests", Json::array())) {
      n += r.value("state", "") == state ? 1 : 0;
    }
    return n;
  }
};

TEST_F(EndToEndBreakerTest, ABurstTripsTheBreakerAndReleasedRequestsAreAppliedExactlyOnce) {
  // breaker.json cannot be written when the breaker trips (a directory is in its place, as a
  // full or failing disk would refuse it): the agent writes it at a tick once it can.
  const auto breaker_file = agent_->state() / "breaker.json";
  std::filesystem::remove(breaker_file);
  ASSERT_TRUE(std::filesystem::create_directories(breaker_file / "in-the-way"));
  const std::vector<std::string> users = {"alice", "bob", "carol", "dave"};
  std::map<std::string, std::string> last_password;
  for (int i = 0; i < 200; ++i) {
    const std::string& uid = users[static_cast<std::size_t>(i) % users.size()];
    const std::string pw = "Burst-" + std::to_string(i) + "-Pass";
    CommandResult r =
        cloud_->Submit({"--user", uid, "--kind", "uid", "--op", "reset", "--ttl", "900"}, &pw);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    last_password[uid] = pw;
  }
  // The first trip: 20 applied, the agent's 4 credits held, nothing else taken.
  const Status tripped = WaitUntil(
      [&]() -> Status {
        const Json list = QueueList();
        const std::size_t held = CountInState(list, "received");
        const std::size_t done = CountInState(list, "succeeded");
        if (held == 4 && done == 20) return Status::Ok();
        return Unavailable(std::to_string(held) + " held, " + std::to_string(done) + " done");
      },
      std::chrono::seconds(120));
  ASSERT_TRUE(tripped.ok()) << tripped.ToString();
  ASSERT_TRUE(std::filesystem::is_directory(breaker_file));
  std::filesystem::remove_all(breaker_file);
  const Status kept = WaitUntil(
      [&]() -> Status {
        const std::string text = ReadFileOrEmpty(breaker_file);
        if (text.find("\"tripped\":true") != std::string::npos) return Status::Ok();
        return Unavailable("breaker.json: " + text);
      },
      std::chrono::seconds(30));
  ASSERT_TRUE(kept.ok()) << kept.ToString();
  CommandResult status = agent_->Wbagent({"breaker", "status"});
  EXPECT_EQ(status.exit_code, 1) << status.output;
  EXPECT_NE(status.output.find("TRIPPED"), std::string::npos) << status.output;
  CommandResult agent_status = agent_->Wbagent({"status"});
  EXPECT_EQ(agent_status.exit_code, 1) << agent_status.output;
  EXPECT_NE(agent_status.output.find("breaker:      TRIPPED"), std::string::npos)
      << agent_status.output;
  // The preview says the next request would be held, and holds nothing itself.
  auto [held_exit, held] =
      PolicyTest(*agent_, {"--user", "alice", "--kind", "uid", "--verified-by", "email"});
  EXPECT_EQ(held_exit, 1) << held.dump();
  EXPECT_EQ(held.value("verdict", ""), "hold") << held.dump();
  EXPECT_EQ(held.value("code", ""), "breaker_tripped") << held.dump();

  // Release whenever it holds something, until all 200 are through.
  int releases = 0;
  ASSERT_TRUE(WaitUntil(
                  [&]() -> Status {
                    const Json list = QueueList();
                    const std::size_t done = CountInState(list, "succeeded");
                    if (done == 200) return Status::Ok();
                    if (CountInState(list, "received") > 0) {
                      CommandResult release = agent_->Wbagent({"breaker", "release"});
                      if (release.exit_code != 0) return Internal(release.output);
                      ++releases;
                    }
                    return Unavailable(std::to_string(done) + " of 200 done");
                  },
                  std::chrono::seconds(300))
                  .ok());
  EXPECT_GE(releases, 2) << "the burst should have tripped the breaker again after a release";
  // Exactly once: one attempt and one directory_write per request.
  for (const auto& r : QueueList().value("requests", Json::array())) {
    EXPECT_EQ(r.value("attempts", 0), 1) << r.dump();
  }
  std::map<std::string, int> writes;
  std::ifstream in(agent_->state() / "audit" / "audit.jsonl");
  for (std::string line; std::getline(in, line);) {
    auto j = Json::parse(line, nullptr, false);
    if (j.is_object() && j.value("event", "") == "directory_write") {
      ++writes[j.value("request_id", "")];
    }
  }
  EXPECT_EQ(writes.size(), 200u);
  for (const auto& [id, n] : writes) EXPECT_EQ(n, 1) << id;
  for (const auto& [uid, pw] : last_password) {
    EXPECT_TRUE(CanBind(SlapdServer::user_dn(uid), pw)) << uid;
  }
}

// A request the breaker holds until its time runs out: the agent's minute maintenance expires
// it, records request_expired, then tells the cloud (expired, try_later). Nothing is written.
class EndToEndExpiryTest : public EndToEndPolicyTest {
 protected:
  static void SetUpTestSuite() {
    auto slapd = SlapdServer::Start();
    if (!slapd.ok()) {
      start_status_ = slapd.error();
      return;
    }
    slapd_ = std::move(*slapd);
    setup_status_ = slapd_->SetPolicy({.min_length = 8, .in_history = 0, .min_age = 0});
    if (!setup_status_.ok()) return;
    dir_ = std::make_unique<TempDir>("wbe2eexpiry");
    auto d =
        Deploy(dir_->path(), SlapdServer::service_password(),
               SlapdDirectoryToml(*slapd_, 5) + "\n[policy.rate_limits]\noverall = \"1/1h\"\n");
    if (!d.ok()) {
      setup_status_ = d.error();
      return;
    }
    cloud_ = std::move(d->cloud);
    agent_ = std::move(d->agents.front());
  }
  static void TearDownTestSuite() { EndToEndPolicyTest::TearDownTestSuite(); }
};

TEST_F(EndToEndExpiryTest, ARequestHeldByTheBreakerUntilItExpiresIsAuditedAndReportedAsExpired) {
  const std::string first_pw = "Expiry-First-1";
  ASSERT_EQ(Submit({"--user", "alice"}, first_pw).value("outcome", ""), "succeeded");
  const std::string held_pw = "Expiry-Held-2";
  CommandResult r = cloud_->Submit({"--requester-type", "self", "--user", "bob", "--kind", "uid",
                                    "--op", "reset", "--ttl", "15", "--wait", "--timeout", "150"},
                                   &held_pw);
  auto result = JsonIn(r.output);
  ASSERT_TRUE(result.is_object()) << r.output;
  EXPECT_EQ(result.value("outcome", ""), "expired") << result.dump();
  EXPECT_EQ(result.value("user_action", ""), "try_later") << result.dump();
  EXPECT_FALSE(CanBind(SlapdServer::user_dn("bob"), held_pw)) << "a held request was written";

  std::vector<std::string> events;
  for (const auto& rec : AuditedFor(*agent_, result.value("id", ""))) {
    events.push_back(rec.value("event", ""));
    if (rec.value("event", "") == "request_expired") {
      EXPECT_EQ(rec.value("outcome", ""), "expired") << rec.dump();
    }
  }
  const auto expired = std::find(events.begin(), events.end(), "request_expired");
  ASSERT_NE(expired, events.end()) << "no request_expired in the audit trail";
  EXPECT_EQ(std::count(events.begin(), events.end(), "request_expired"), 1);
  EXPECT_EQ(std::count(events.begin(), events.end(), "directory_write"), 0);
  EXPECT_NE(std::find(expired, events.end(), "result_sent"), events.end())
      << "the result was not recorded as sent after the expiry";

  // The auditor's view: one row, its result expired.
  CommandResult query =
      agent_->Wbagent({"audit", "query", "--request", result.value("id", ""), "--format", "json"});
  ASSERT_EQ(query.exit_code, 0) << query.output;
  auto row = Json::parse(query.output.substr(std::min(query.output.find('{'), query.output.size())),
                         nullptr, false);
  ASSERT_TRUE(row.is_object()) << query.output;
  EXPECT_EQ(row.value("outcome", ""), "expired") << row.dump();
}

}  // namespace
}  // namespace wb::testing
