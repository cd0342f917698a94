// Rules every table follows: syntax, unknown keys, types, required keys, ranges, enums.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/config/config_test_util.h"

namespace wb::config::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

TEST_F(ConfigTest, SyntaxErrorIsReportedWithLineAndColumn) {
  const std::string text = std::string(kMinimal) + "\n[log]\nlevel = \n";
  const ConfigErrors errors = LoadErrors(text);
  ASSERT_EQ(errors.size(), 1u) << FormatErrors(errors);
  EXPECT_EQ(errors[0].line, LineOf(text, "level ="));
  EXPECT_GE(errors[0].column, 1);
  EXPECT_EQ(errors[0].key, "");
  EXPECT_THAT(errors[0].problem, StartsWith("syntax error: "));
  EXPECT_THAT(errors[0].problem, HasSubstr("missing value"));
  EXPECT_THAT(errors[0].problem, ::testing::Not(HasSubstr("\n")));
}

TEST_F(ConfigTest, DuplicateKeyIsASyntaxError) {
  const std::string text =
      std::string(kMinimal) + "[policy]\nmode = \"enforce\"\nmode = \"log_only\"\n";
  const ConfigErrors errors = LoadErrors(text);
  ASSERT_EQ(errors.size(), 1u) << FormatErrors(errors);
  EXPECT_EQ(errors[0].line, LineOf(text, "mode = \"log_only\""));
  EXPECT_THAT(errors[0].problem, HasSubstr("already exists"));
}

TEST_F(ConfigTest, UnknownKeyIsReportedWithLineAndColumn) {
  const std::string text = SetKey(kMinimal, "[cloud]", "colour", "\"blue\"");
  const ConfigError e = ExpectOneError(text, "cloud.colour", "unknown key");
  EXPECT_EQ(e.line, LineOf(text, "colour ="));
  EXPECT_EQ(e.column, 1);
}

TEST_F(ConfigTest, UnknownKeyInInlineTableIsReportedAtTheKey) {
  const std::string text = "log = { level = \"info\", volume = 11 }\n" + std::string(kMinimal);
  const ConfigError e = ExpectOneError(text, "log.volume", "unknown key");
  EXPECT_EQ(e.line, LineOf(text, "volume"));
  EXPECT_EQ(e.column, ColumnOf(text, "volume"));
}

TEST_F(ConfigTest, UnknownTopLevelTableIsReported) {
  const std::string text = std::string(kMinimal) + "\n[clowd]\nurl = \"x\"\n";
  const ConfigError e = ExpectOneError(text, "clowd", "unknown table");
  EXPECT_EQ(e.line, LineOf(text, "[clowd]"));
}

TEST_F(ConfigTest, AMisspeltTableSuggestsTheTableAsItsHeader) {
  const std::string text = std::string(kMinimal) + "\n[audti]\nfile = \"audit.log\"\n";
  const ConfigError e = ExpectOneError(text, "audti", "unknown table; did you mean \"[audit]\"?");
  EXPECT_EQ(e.line, LineOf(text, "[audti]"));
}

TEST_F(ConfigTest, AMisspeltArrayOfTablesSuggestsItsDoubleBracketHeader) {
  const std::string text = std::string(kMinimal) + "\n[[directroy]]\nname = \"x\"\n";
  ExpectOneError(text, "directroy", "unknown table; did you mean \"[[directory]]\"?");
}

TEST_F(ConfigTest, AKeyWithTwoLettersSwappedSuggestsTheKey) {
  const std::string text = SetKey(kMinimal, "[cloud]", "ca_fiel", "\"ca.pem\"");
  ExpectOneError(text, "cloud.ca_fiel", "did you mean \"ca_file\"?");
}

TEST_F(ConfigTest, UnknownTopLevelKeyIsReported) {
  const std::string text = "debug = true\n" + std::string(kMinimal);
  const ConfigError e = ExpectOneError(text, "debug", "unknown key");
  EXPECT_EQ(e.line, 1);
}

TEST_F(ConfigTest, UnknownKeyInDirectoryNamesTheDirectoryIndex) {
  std::string text = SetKey(kMinimal, "[[directory]]", "bind_password", "\"secret\"");
  ExpectOneError(text, "directory[0].bind_password", "unknown key");
}

TEST_F(ConfigTest, UnknownKeySuggestsTheClosestKnownKey) {
  std::string text = SetKey(kMinimal, "[[directory]]", "upn_sufixes", "[\"example.com\"]");
  ExpectOneError(text, "directory[0].upn_sufixes", "did you mean \"upn_suffixes\"?");
}

TEST_F(ConfigTest, WrongTypeIsReported) {
  const std::string text = SetKey(kMinimal, "[agent]", "id", "5");
  const ConfigError e = ExpectOneError(text, "agent.id", "expected a string, found an integer");
  EXPECT_EQ(e.line, 2);
  EXPECT_EQ(e.column, 6);
}

TEST_F(ConfigTest, WrongTypeOfArrayElementIsReported) {
  std::string text =
      SetKey(kMinimal, "[[directory]]", "urls", "[\"ldaps://dc1.example.com\", 636]");
  ExpectOneError(text, "directory[0].urls[1]", "expected a string, found an integer");
}

TEST_F(ConfigTest, FloatWhereIntegerExpectedIsReported) {
  std::string text = SetKey(kMinimal, "[cloud]", "connect_timeout", "2.5");
  ExpectOneError(text, "cloud.connect_timeout", "expected an integer, found a float");
}

TEST_F(ConfigTest, SectionThatIsNotATableIsReported) {
  const std::string text = "policy = \"enforce\"\n" + std::string(kMinimal);
  ExpectOneError(text, "policy", "expected a table, found a string");
}

TEST_F(ConfigTest, MissingRequiredKeyIsReportedAtTheTableHeader) {
  const std::string text = RemoveKey(kMinimal, "[cloud]", "url");
  const ConfigError e = ExpectOneError(text, "cloud.url", "missing required key");
  EXPECT_EQ(e.line, LineOf(text, "[cloud]"));
  EXPECT_EQ(e.column, 1);
}

TEST_F(ConfigTest, MissingRequiredTableIsReportedAtLineOne) {
  std::string text(kMinimal);
  text.erase(0, text.find("[cloud]"));  // drops [agent]
  const ConfigError e = ExpectOneError(text, "agent", "missing required table [agent]");
  EXPECT_EQ(e.line, 1);
}

TEST_F(ConfigTest, MissingDirectoryIsReported) {
  std::string text(kMinimal);
  text.erase(text.find("[[directory]]"));
  ExpectOneError(text, "directory", "missing required table [[directory]]");
}

TEST_F(ConfigTest, DirectoryWrittenAsPlainTableIsRefused) {
  std::string text(kMinimal);
  text.replace(text.find("[[directory]]"), 13, "[directory]");
  ExpectOneError(text, "directory", "expected an array of tables ([[directory]])");
}

TEST_F(ConfigTest, EmptyDirectoryArrayIsRefused) {
  std::string text(kMinimal);
  text.erase(text.find("[[directory]]"));
  text = "directory = []\n" + text;
  ExpectOneError(text, "directory", "at least one [[directory]]");
}

TEST_F(ConfigTest, DirectoryArrayElementThatIsNotATableIsRefused) {
  std::string text(kMinimal);
  text.erase(text.find("[[directory]]"));
  text = "directory = [\"corp\"]\n" + text;
  ExpectOneError(text, "directory[0]", "expected a table, found a string");
}

TEST_F(ConfigTest, OutOfRangeNumberIsReportedWithTheRange) {
  std::string text = SetKey(kMinimal, "[[directory]]", "pool_size", "33");
  ExpectOneError(text, "directory[0].pool_size", "must be between 1 and 32, found 33");
}

TEST_F(ConfigTest, ZeroTimeoutIsRefused) {
  std::string text = SetKey(kMinimal, "[[directory]]", "operation_timeout", "0");
  ExpectOneError(text, "directory[0].operation_timeout", "between 1 and 600 seconds");
}

TEST_F(ConfigTest, BadEnumValueListsTheAllowedValues) {
  std::string text = SetKey(kMinimal, "[cloud]", "min_tls", "\"1.1\"");
  ExpectOneError(text, "cloud.min_tls", "must be one of \"1.2\", \"1.3\"; found \"1.1\"");
}

TEST_F(ConfigTest, EnumValuesAreCaseSensitive) {
  std::string text = SetKey(kMinimal, "[[directory]]", "kind", "\"AD\"");
  ExpectOneError(text, "directory[0].kind", "must be one of \"ad\", \"openldap\"");
}

TEST_F(ConfigTest, AnEnumValueInTheWrongCaseGetsACaseHintAtItsLine) {
  const std::string text = SetKey(kMinimal, "[[directory]]", "kind", "\"AD\"");
  const ConfigError e = ExpectOneError(
      text, "directory[0].kind", "found \"AD\"; values are case-sensitive; did you mean \"ad\"?");
  EXPECT_EQ(e.line, LineOf(text, "kind = \"AD\""));
}

TEST_F(ConfigTest, AMixedCaseModeGetsACaseHint) {
  const std::string text = SetKey(kMinimal, "[policy]", "mode", "\"Log_Only\"");
  ExpectOneError(text, "policy.mode", "values are case-sensitive; did you mean \"log_only\"?");
}

TEST_F(ConfigTest, AMisspeltEnumValueSuggestsTheClosestValue) {
  const std::string text = SetKey(kMinimal, "[policy]", "mode", "\"log_onyl\"");
  const ConfigError e = ExpectOneError(text, "policy.mode", "did you mean \"log_only\"?");
  EXPECT_THAT(e.problem, ::testing::Not(HasSubstr("case-sensitive")));
}

TEST_F(ConfigTest, AnEnumValueFarFromEveryValueGetsNoSuggestion) {
  const std::string text = SetKey(kMinimal, "[policy]", "mode", "\"audit\"");
  const ConfigError e = ExpectOneError(text, "policy.mode", "found \"audit\"");
  EXPECT_THAT(e.problem, ::testing::Not(HasSubstr("did you mean")));
}

TEST_F(ConfigTest, EmptyPathIsRefused) {
  std::string text = SetKey(kMinimal, "[cloud]", "ca_file", "\"\"");
  ExpectOneError(text, "cloud.ca_file", "must not be empty");
}

TEST_F(ConfigTest, MissingConfigFileSaysDoesNotExist) {
  Result<Config, ConfigErrors> result = LoadConfig(dir_ / "nope.toml");
  ASSERT_FALSE(result.ok());
  ASSERT_EQ(result.error().size(), 1u);
  EXPECT_EQ(result.error()[0].line, 0);
  EXPECT_EQ(result.error()[0].problem, "does not exist");
}

TEST_F(ConfigTest, ConfigPathThatIsADirectoryIsRefused) {
  Result<Config, ConfigErrors> result = LoadConfig(dir_);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().at(0).problem, "is not a regular file");
}

TEST_F(ConfigTest, OversizedConfigFileIsRefused) {
  std::string text(kMinimal);
  text += "# " + std::string(1 << 20, 'x') + "\n";
  const ConfigErrors errors = LoadErrors(text);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_THAT(errors[0].problem, HasSubstr("larger than 1 MiB"));
}

TEST_F(ConfigTest, EmptyConfigFileReportsEveryRequiredTable) {
  const ConfigErrors errors = LoadErrors("");
  ASSERT_EQ(errors.size(), 3u) << FormatErrors(errors);
  std::vector<std::string> keys;
  for (const ConfigError& e : errors) keys.push_back(e.key);
  EXPECT_THAT(keys, ::testing::UnorderedElementsAre("agent", "cloud", "directory"));
}

}  // namespace
}  // namespace wb::config::testing
