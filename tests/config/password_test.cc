// [policy.password], [policy.password.admin], [directory.password] and
// [directory.password.admin]: the keys load, bad values are refused at FILE:LINE with the key.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>

#include "tests/config/config_test_util.h"

namespace wb::config::testing {
namespace {

using ::testing::HasSubstr;

TEST_F(ConfigTest, PasswordTablesLoadEveryKey) {
  WriteFile("banned.txt", "contoso\n");
  WriteFile("breached.bin", "");
  std::string text = std::string(kMinimal) +
                     "[policy.password]\n"
                     "min_length = 12\n"
                     "max_length = 64\n"
                     "min_classes = 3\n"
                     "forbidden_characters = \"\xC2\xA7 \"\n"
                     "max_repeated = 3\n"
                     "not_same_as_old = true\n"
                     "no_name_parts = true\n"
                     "banned_words_file = \"banned.txt\"\n"
                     "banned_min_score = 6\n"
                     "breached_file = \"breached.bin\"\n"
                     "breached_min_count = 10\n"
                     "mode = \"log_only\"\n"
                     "[policy.password.admin]\n"
                     "min_length = 16\n";
  const Config c = LoadOk(text);
  const PasswordRulesConfig& p = c.policy.self_password;
  EXPECT_EQ(p.min_length, 12);
  EXPECT_EQ(p.max_length, 64);
  EXPECT_EQ(p.min_classes, 3);
  EXPECT_EQ(p.forbidden_characters, "\xC2\xA7 ");
  EXPECT_EQ(p.max_repeated, 3);
  EXPECT_TRUE(p.not_same_as_old);
  EXPECT_TRUE(p.no_name_parts);
  EXPECT_EQ(p.banned_words_file, dir_ / "banned.txt");
  EXPECT_EQ(p.banned_min_score, 6);
  EXPECT_EQ(p.breached_file, dir_ / "breached.bin");
  EXPECT_EQ(p.breached_min_count, 10);
  EXPECT_EQ(p.mode, PolicyMode::kLogOnly);
  ASSERT_TRUE(c.policy.admin_password.has_value());
  EXPECT_EQ(c.policy.admin_password->min_length, 16);
  EXPECT_EQ(c.policy.admin_password->banned_min_score, 5);  // its own defaults, not self's
}

TEST_F(ConfigTest, DirectoryPasswordTablesLoad) {
  const std::string text = std::string(kMinimal) +
                           "[directory.password]\nmin_length = 10\n"
                           "[directory.password.admin]\nmin_length = 20\n";
  const Config c = LoadOk(text);
  ASSERT_TRUE(c.directories.back().password.has_value());
  EXPECT_EQ(c.directories.back().password->min_length, 10);
  ASSERT_TRUE(c.directories.back().admin_password.has_value());
  EXPECT_EQ(c.directories.back().admin_password->min_length, 20);
  EXPECT_FALSE(c.policy.admin_password.has_value());
}

// TOML makes [directory.password] by itself for [directory.password.admin]. Taken as a table,
// it replaced [policy.password] for this directory's self-service resets with no rules at all.
TEST_F(ConfigTest, ADirectoryAdminPasswordTableAloneLeavesSelfServiceToThePolicysTable) {
  const std::string text = std::string(kMinimal) +
                           "[policy.password]\nmin_length = 12\n"
                           "[directory.password.admin]\nmin_length = 16\n";
  const Config c = LoadOk(text);
  EXPECT_FALSE(c.directories.back().password.has_value());
  ASSERT_TRUE(c.directories.back().admin_password.has_value());
  EXPECT_EQ(c.directories.back().admin_password->min_length, 16);
  EXPECT_EQ(c.policy.self_password.min_length, 12);
}

// A table that applies is used whole: one with only `mode` replaced [policy.password] for this
// directory with no rules at all, and check-config said nothing.
TEST_F(ConfigTest, DirectoryPasswordTableWithNoRuleWarnsThatItChecksNothing) {
  const std::string text = std::string(kMinimal) +
                           "[policy.password]\nmin_length = 12\n"
                           "[directory.password]\nmode = \"log_only\"\n";
  const Config c = LoadOk(text);
  ASSERT_EQ(c.warnings.size(), 1u) << FormatErrors(c.warnings);
  EXPECT_EQ(c.warnings[0].key, "directory[0].password");
  EXPECT_THAT(c.warnings[0].problem, HasSubstr("checked against no rule at all"));
  EXPECT_EQ(c.warnings[0].line, LineOf(text, "[directory.password]"));
}

TEST_F(ConfigTest, AdminPasswordTablesWithNoRuleWarnToo) {
  const Config c = LoadOk(std::string(kMinimal) +
                          "[policy.password]\nmin_length = 12\n"
                          "[policy.password.admin]\nbanned_min_score = 6\n"
                          "[directory.password.admin]\nmode = \"enforce\"\n");
  ASSERT_EQ(c.warnings.size(), 2u) << FormatErrors(c.warnings);
  EXPECT_EQ(c.warnings[0].key, "policy.password.admin");
  EXPECT_EQ(c.warnings[1].key, "directory[0].password.admin");
}

// [policy.password] is the last table: with no rule it replaces nothing, and says nothing.
TEST_F(ConfigTest, PasswordTablesWithRulesOrThePolicysOwnDoNotWarn) {
  EXPECT_TRUE(LoadOk(std::string(kMinimal) + "[policy.password]\nmode = \"log_only\"\n"
                                             "[directory.password]\nmin_classes = 3\n"
                                             "[directory.password.admin]\nno_name_parts = true\n")
                  .warnings.empty());
}

TEST_F(ConfigTest, PasswordMaxLengthBelowMinLengthIsRefusedAtItsLine) {
  const std::string text =
      std::string(kMinimal) + "[policy.password]\nmin_length = 12\nmax_length = 8\n";
  const ConfigError e = ExpectOneError(text, "policy.password.max_length", "at least min_length");
  EXPECT_EQ(e.line, LineOf(text, "max_length = 8"));
}

TEST_F(ConfigTest, PasswordMinClassesAboveFiveIsRefused) {
  const std::string text = std::string(kMinimal) + "[policy.password]\nmin_classes = 6\n";
  const ConfigError e = ExpectOneError(text, "policy.password.min_classes", "5");
  EXPECT_EQ(e.line, LineOf(text, "min_classes = 6"));
}

TEST_F(ConfigTest, PasswordUnknownKeyIsReported) {
  const std::string text = std::string(kMinimal) + "[policy.password]\nmin_lenght = 6\n";
  const ConfigError e = ExpectOneError(text, "policy.password.min_lenght", "unknown key");
  EXPECT_EQ(e.line, LineOf(text, "min_lenght"));
}

TEST_F(ConfigTest, MissingBannedWordsFileIsRefusedAtItsLine) {
  const std::string text =
      std::string(kMinimal) + "[policy.password]\nbanned_words_file = \"nope.txt\"\n";
  const ConfigError e = ExpectOneError(text, "policy.password.banned_words_file", "does not exist");
  EXPECT_EQ(e.line, LineOf(text, "banned_words_file"));
}

TEST_F(ConfigTest, BannedWordsFileOverTheSizeLimitIsRefused) {
  const auto path = WriteFile("big.txt", "");
  std::filesystem::resize_file(path, kMaxBannedWordsFileBytes + 1);
  const std::string text =
      std::string(kMinimal) + "[directory.password]\nbanned_words_file = \"big.txt\"\n";
  const ConfigError e = ExpectOneError(text, "directory[0].password.banned_words_file",
                                       "larger than the limit of 10485760 bytes");
  EXPECT_EQ(e.line, LineOf(text, "banned_words_file"));
}

TEST_F(ConfigTest, BreachedFileWritableByOthersIsRefused) {
  WriteFile("breached.bin", "", 0646);
  const std::string text =
      std::string(kMinimal) + "[policy.password.admin]\nbreached_file = \"breached.bin\"\n";
  const ConfigError e =
      ExpectOneError(text, "policy.password.admin.breached_file", "is writable by others");
  EXPECT_EQ(e.line, LineOf(text, "breached_file"));
}

TEST_F(ConfigTest, BreachedMinCountBelowOneIsRefused) {
  const std::string text = std::string(kMinimal) + "[policy.password]\nbreached_min_count = 0\n";
  ExpectOneError(text, "policy.password.breached_min_count", "1");
}

}  // namespace
}  // namespace wb::config::testing
