// Policy::CheckPassword: one test per password rule and per denial path, the tables'
// precedence, log-only mode, and what a denial says (never the password or the term).

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "breached/breached.h"
#include "policy/policy.h"
#include "tests/support/fake_clock.h"

namespace wb::policy {
namespace {

namespace fs = std::filesystem;
using protocol::RequesterType;

config::Config BaseConfig() {
  config::Config c;
  config::DirectoryConfig d;
  d.name = "corp";
  d.base_dn = "dc=corp,dc=example";
  c.directories.push_back(d);
  return c;
}

RequestFacts Request(RequesterType type = RequesterType::kSelf) {
  RequestFacts r;
  r.id = "r1";
  r.requester = {type, type == RequesterType::kSelf ? "ann@corp.example" : "helpdesk-1", {}};
  r.account_key = "upn:ann";
  return r;
}

class PasswordPolicyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "wb-pwpolicy-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path WriteFile(const std::string& name, std::string_view content) {
    std::ofstream(dir_ / name, std::ios::binary) << content;
    return dir_ / name;
  }

  // An imported breached list of the given Pwned Passwords lines (sorted HASH:COUNT).
  fs::path BreachedList(std::string_view lines = "0000000000000000000000000000000000000000:1\n") {
    const fs::path text = WriteFile("breached.txt", lines);
    auto imported = breached::Import(text, dir_ / "breached.bin", {});
    EXPECT_TRUE(imported.ok()) << imported.error().ToString();
    return dir_ / "breached.bin";
  }

  std::unique_ptr<Policy> Open(const config::Config& c) {
    auto p = Policy::Open(c, clock_, {}, {});
    EXPECT_TRUE(p.ok()) << p.error().ToString();
    return p.ok() ? std::move(*p) : nullptr;
  }

  // CheckPassword of `password` for a self-service request to "corp".
  Decision Check(const config::PasswordRulesConfig& rules, std::string_view password,
                 Names names = {}, const Secret* old_password = nullptr,
                 std::optional<std::uint64_t> breached = std::nullopt) {
    auto c = BaseConfig();
    c.policy.self_password = rules;
    auto p = Open(c);
    if (p == nullptr) return Decision{};
    const Secret secret(password);
    PasswordFacts facts{.directory = "corp",
                        .new_password = &secret,
                        .old_password = old_password,
                        .names = std::move(names),
                        .breached_count = breached};
    return p->CheckPassword(Request(), facts);
  }

  static void ExpectDenied(const Decision& d, Code code, std::string_view rule) {
    ASSERT_EQ(d.verdict, Verdict::kDeny) << CodeName(code);
    ASSERT_EQ(d.matches.size(), 1u);
    EXPECT_EQ(d.matches[0].code, code);
    EXPECT_EQ(d.matches[0].rule, rule);
    EXPECT_EQ(UserActionFor(code), protocol::UserAction::kStrongerPassword);
  }

  fs::path dir_;
  testing::FakeClock clock_;
};

TEST_F(PasswordPolicyTest, NoRulesConfiguredChecksNothing) {
  auto p = Open(BaseConfig());
  EXPECT_FALSE(p->ChecksPasswords("corp", RequesterType::kSelf));
  EXPECT_FALSE(p->WantsBreachedCount("corp", RequesterType::kSelf));
  const Secret secret("a");
  EXPECT_EQ(p->CheckPassword(Request(), {.directory = "corp", .new_password = &secret}).verdict,
            Verdict::kAllow);
}

TEST_F(PasswordPolicyTest, TooShortIsDeniedCountingCodePointsNotBytes) {
  const config::PasswordRulesConfig r{.min_length = 5};
  EXPECT_EQ(Check(r, "h\xC3\xA9llo").verdict, Verdict::kAllow);  // 5 characters, 6 bytes
  ExpectDenied(Check(r, "h\xC3\xA9ll"), Code::kPasswordTooShort, "policy.password.min_length");
}

TEST_F(PasswordPolicyTest, TooLongIsDeniedCountingCodePointsNotBytes) {
  const config::PasswordRulesConfig r{.max_length = 3};
  EXPECT_EQ(Check(r, "\xE2\x82\xAC\xE2\x82\xAC\xE2\x82\xAC").verdict, Verdict::kAllow);  // €€€
  ExpectDenied(Check(r, "abcd"), Code::kPasswordTooLong, "policy.password.max_length");
}

TEST_F(PasswordPolicyTest, TooFewClassesIsDenied) {
  const config::PasswordRulesConfig r{.min_classes = 3};
  EXPECT_EQ(Check(r, "abcD1").verdict, Verdict::kAllow);
  EXPECT_EQ(Check(r, "abc\xC3\xA9 ").verdict, Verdict::kAllow);  // lower, other, symbol
  ExpectDenied(Check(r, "abcDEF"), Code::kPasswordClasses, "policy.password.min_classes");
}

TEST_F(PasswordPolicyTest, ForbiddenCharacterIsDenied) {
  const config::PasswordRulesConfig r{.forbidden_characters = "\xC2\xA7 "};  // § and space
  EXPECT_EQ(Check(r, "abc\xC2\xA8").verdict, Verdict::kAllow);  // ¨ shares §'s first byte
  ExpectDenied(Check(r, "ab\xC2\xA7"), Code::kPasswordForbiddenCharacter,
               "policy.password.forbidden_characters");
  ExpectDenied(Check(r, "a b"), Code::kPasswordForbiddenCharacter,
               "policy.password.forbidden_characters");
}

TEST_F(PasswordPolicyTest, InvalidUtf8PasswordIsRefusedUnderForbiddenCharacters) {
  const config::PasswordRulesConfig r{.min_length = 1};
  const Decision d = Check(r, "abc\xFF");
  ExpectDenied(d, Code::kPasswordForbiddenCharacter, "policy.password.forbidden_characters");
  EXPECT_EQ(d.matches[0].reason, "the password is not valid UTF-8");
}

TEST_F(PasswordPolicyTest, RunLongerThanMaxRepeatedIsDenied) {
  const config::PasswordRulesConfig r{.max_repeated = 2};
  EXPECT_EQ(Check(r, "aabbaa").verdict, Verdict::kAllow);
  ExpectDenied(Check(r, "abbbc"), Code::kPasswordRepeated, "policy.password.max_repeated");
}

TEST_F(PasswordPolicyTest, SameAsOldIsDeniedOnAChangeOnly) {
  const config::PasswordRulesConfig r{.not_same_as_old = true};
  const Secret old_password("Winter-2026");
  ExpectDenied(Check(r, "Winter-2026", {}, &old_password), Code::kPasswordSameAsOld,
               "policy.password.not_same_as_old");
  EXPECT_EQ(Check(r, "Winter-2027", {}, &old_password).verdict, Verdict::kAllow);
  EXPECT_EQ(Check(r, "Winter-2026").verdict, Verdict::kAllow);  // a reset: no old password
}

TEST_F(PasswordPolicyTest, PartOfAnyNameIsDenied) {
  const config::PasswordRulesConfig r{.no_name_parts = true};
  const Names names{.login = "ehagens",
                    .display = "Erin M. Hagens-Lee",
                    .given = "Erin",
                    .surname = "Hagens-Lee"};
  ExpectDenied(Check(r, "xxLEE123", names), Code::kPasswordContainsName,
               "policy.password.no_name_parts");
  ExpectDenied(Check(r, "EHAGENS!", names), Code::kPasswordContainsName,
               "policy.password.no_name_parts");
  EXPECT_EQ(Check(r, "Zq!m.9x", names).verdict, Verdict::kAllow);  // "M" is under 3 characters
}

TEST_F(PasswordPolicyTest, BannedWordScoringBelowMinScoreIsDenied) {
  const config::PasswordRulesConfig r{.banned_words_file =
                                          WriteFile("banned.txt", "contoso\nblank\n")};
  ExpectDenied(Check(r, "C0ntos0Blank12"), Code::kPasswordBanned,
               "policy.password.banned_words_file");
  EXPECT_EQ(Check(r, "ContoS0Bl@nkf9!").verdict, Verdict::kAllow);
}

TEST_F(PasswordPolicyTest, BannedMinScoreIsConfigurable) {
  const config::PasswordRulesConfig r{
      .banned_words_file = WriteFile("banned.txt", "contoso\nblank\n"), .banned_min_score = 4};
  EXPECT_EQ(Check(r, "C0ntos0Blank12").verdict, Verdict::kAllow);
}

TEST_F(PasswordPolicyTest, UsersNamesScoreInTheBannedCheck) {
  const config::PasswordRulesConfig r{.banned_words_file = WriteFile("banned.txt", "contoso\n")};
  const Names names{.login = "ehagens@corp.example", .given = "Erin", .surname = "Hagens"};
  ExpectDenied(Check(r, "Er1nHagens!", names), Code::kPasswordBanned,
               "policy.password.banned_words_file");
  EXPECT_EQ(Check(r, "Er1nHagens!").verdict, Verdict::kAllow);  // 11 points without names
}

TEST_F(PasswordPolicyTest, BreachedCountAtOrAboveMinCountIsDenied) {
  const config::PasswordRulesConfig r{.breached_file = BreachedList(), .breached_min_count = 3};
  ExpectDenied(Check(r, "hunter2", {}, nullptr, 3), Code::kPasswordBreached,
               "policy.password.breached_file");
  EXPECT_EQ(Check(r, "hunter2", {}, nullptr, 2).verdict, Verdict::kAllow);
  EXPECT_EQ(Check(r, "hunter2", {}, nullptr, std::nullopt).verdict, Verdict::kAllow);
}

// The daemon gives no count: the engine looks the password up in the list it mapped at Open.
TEST_F(PasswordPolicyTest, ABreachedPasswordIsFoundInTheMappedList) {
  const config::PasswordRulesConfig r{
      .breached_file = BreachedList("F3BBBD66A63D4BF1747940578EC3D0103530E21D:5\n"),  // hunter2
      .breached_min_count = 3};
  ExpectDenied(Check(r, "hunter2"), Code::kPasswordBreached, "policy.password.breached_file");
  EXPECT_EQ(Check(r, "hunter3").verdict, Verdict::kAllow);
}

TEST_F(PasswordPolicyTest, OpenRefusesABreachedListThatIsNotOneNamingTheKey) {
  auto c = BaseConfig();
  c.policy.self_password.breached_file = WriteFile("breached.bin", "not a list");
  auto p = Policy::Open(c, clock_, {}, {});
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.error().ToString().find("policy.password.breached_file"), std::string::npos)
      << p.error().ToString();
}

TEST_F(PasswordPolicyTest, DenialsHoldNoPartOfThePasswordOrTheTerm) {
  const config::PasswordRulesConfig r{.min_length = 40,
                                      .min_classes = 5,
                                      .forbidden_characters = "Z",
                                      .max_repeated = 1,
                                      .no_name_parts = true,
                                      .banned_words_file = WriteFile("banned.txt", "zebrafish\n"),
                                      .banned_min_score = 10,
                                      .breached_file = BreachedList()};
  const Decision d = Check(r, "Zebrafish77Ann", {.login = "ann", .given = "Ann"}, nullptr, 9);
  EXPECT_EQ(d.matches.size(), 7u);
  for (const auto& m : d.matches) {
    for (std::string_view part : {"ebra", "fish", "77", "Ann", "zebra"}) {
      EXPECT_EQ(m.reason.find(part), std::string::npos) << m.rule << ": " << m.reason;
    }
  }
}

TEST_F(PasswordPolicyTest, LogOnlyTableGivesWouldDeny) {
  const config::PasswordRulesConfig r{.min_length = 8, .mode = config::PolicyMode::kLogOnly};
  const Decision d = Check(r, "short");
  EXPECT_EQ(d.verdict, Verdict::kWouldDeny);
  ASSERT_EQ(d.matches.size(), 1u);
  EXPECT_FALSE(d.matches[0].enforced);
}

TEST_F(PasswordPolicyTest, PolicyLogOnlyAppliesToPasswordRules) {
  auto c = BaseConfig();
  c.policy.mode = config::PolicyMode::kLogOnly;
  c.policy.self_password.min_length = 8;
  auto p = Open(c);
  const Secret s("short");
  EXPECT_EQ(p->CheckPassword(Request(), {.directory = "corp", .new_password = &s}).verdict,
            Verdict::kWouldDeny);
}

// Precedence: the directory's tables before the policy's; admin before self at each level.
TEST_F(PasswordPolicyTest, TablePrecedenceDirectoryThenAdminThenSelf) {
  auto c = BaseConfig();
  c.policy.self_password.min_length = 10;
  c.policy.admin_password = config::PasswordRulesConfig{.min_length = 20};
  config::DirectoryConfig other = c.directories[0];
  other.name = "lab";
  other.password = config::PasswordRulesConfig{.min_length = 30};
  c.directories.push_back(other);
  config::DirectoryConfig admin_only = c.directories[0];
  admin_only.name = "ops";
  admin_only.admin_password = config::PasswordRulesConfig{.min_length = 40};
  c.directories.push_back(admin_only);
  auto p = Open(c);
  auto rule_for = [&](std::string_view dir, RequesterType type) {
    const Secret s("x");
    const Decision d =
        p->CheckPassword(Request(type), {.directory = std::string(dir), .new_password = &s});
    return d.matches.empty() ? std::string() : d.matches[0].rule;
  };
  EXPECT_EQ(rule_for("corp", RequesterType::kSelf), "policy.password.min_length");
  EXPECT_EQ(rule_for("corp", RequesterType::kAdmin), "policy.password.admin.min_length");
  EXPECT_EQ(rule_for("lab", RequesterType::kSelf), "directory[lab].password.min_length");
  EXPECT_EQ(rule_for("lab", RequesterType::kAdmin), "directory[lab].password.min_length");
  EXPECT_EQ(rule_for("ops", RequesterType::kSelf), "policy.password.min_length");
  EXPECT_EQ(rule_for("ops", RequesterType::kAdmin), "directory[ops].password.admin.min_length");
  EXPECT_EQ(rule_for("unknown", RequesterType::kSelf), "policy.password.min_length");
}

TEST_F(PasswordPolicyTest, BreachedFileForNamesTheApplyingTablesFile) {
  auto c = BaseConfig();
  const fs::path file = BreachedList();
  c.policy.admin_password = config::PasswordRulesConfig{.breached_file = file};
  auto p = Open(c);
  EXPECT_FALSE(p->WantsBreachedCount("corp", RequesterType::kSelf));
  EXPECT_TRUE(p->WantsBreachedCount("corp", RequesterType::kAdmin));
  EXPECT_EQ(p->BreachedFileFor("corp", RequesterType::kAdmin), file);
  EXPECT_TRUE(p->ChecksPasswords("corp", RequesterType::kAdmin));
  EXPECT_FALSE(p->ChecksPasswords("corp", RequesterType::kSelf));
}

TEST_F(PasswordPolicyTest, OpenRefusesABannedFileWithInvalidUtf8NamingKeyAndLine) {
  auto c = BaseConfig();
  const fs::path file = WriteFile("banned.txt", "contoso\nbad\xFFterm\n");
  c.policy.self_password.banned_words_file = file;
  auto p = Policy::Open(c, clock_, {}, {});
  ASSERT_FALSE(p.ok());
  const std::string message = p.error().ToString();
  EXPECT_NE(message.find("policy.password.banned_words_file"), std::string::npos) << message;
  EXPECT_NE(message.find(file.string() + ":2: is not valid UTF-8"), std::string::npos) << message;
}

TEST_F(PasswordPolicyTest, OpenRefusesAMissingBannedFile) {
  auto c = BaseConfig();
  c.directories[0].password =
      config::PasswordRulesConfig{.banned_words_file = dir_ / "missing.txt"};
  auto p = Policy::Open(c, clock_, {}, {});
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.error().ToString().find("directory[corp].password.banned_words_file"),
            std::string::npos);
}

TEST_F(PasswordPolicyTest, RulesForListsThePasswordStage) {
  auto c = BaseConfig();
  c.policy.self_password = {.min_length = 12,
                            .banned_words_file = WriteFile("banned.txt", "contoso\n"),
                            .breached_file = BreachedList()};
  auto p = Open(c);
  std::vector<std::string> names;
  for (const auto& r : p->RulesFor("corp", RequesterType::kSelf)) {
    if (r.stage == Stage::kPassword) names.push_back(r.rule);
  }
  const std::vector<std::string> want = {
      "policy.password.min_length", "policy.password.forbidden_characters",
      "policy.password.banned_words_file", "policy.password.breached_file"};
  EXPECT_EQ(names, want);
  EXPECT_EQ(StageName(Stage::kPassword), "password");
}

TEST_F(PasswordPolicyTest, CodesHaveStableNamesThatParseBack) {
  for (Code code :
       {Code::kPasswordTooShort, Code::kPasswordTooLong, Code::kPasswordClasses,
        Code::kPasswordForbiddenCharacter, Code::kPasswordRepeated, Code::kPasswordSameAsOld,
        Code::kPasswordContainsName, Code::kPasswordBanned, Code::kPasswordBreached}) {
    EXPECT_EQ(ParseCode(CodeName(code)), code) << CodeName(code);
    EXPECT_EQ(UserActionFor(code), protocol::UserAction::kStrongerPassword);
  }
  EXPECT_EQ(CodeName(Code::kPasswordBanned), "password_banned");
  EXPECT_EQ(CodeName(Code::kPasswordContainsName), "password_contains_name");
}

}  // namespace
}  // namespace wb::policy
