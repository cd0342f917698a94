#pragma once
// Shared by the config tests: a fixture with a scratch directory holding the files a minimal
// valid config names, and helpers to edit that config one key at a time.

#include <gtest/gtest.h>
#include <sys/types.h>

#include <filesystem>
#include <string>
#include <string_view>

#include "config/config.h"

namespace wb::config::testing {

// A config that loads with no errors once the fixture's files exist: [agent], [cloud] and one
// AD [[directory]], every other key left at its default. Paths in it are relative.
extern const char kMinimal[];

// Sets `key = value` (value is TOML, e.g. "\"text\"" or "5") in the first table whose
// header line is `header` ("[cloud]", "[[directory]]"): replaces the key's line if the table
// has one, else inserts it right after the header. Appends the table when it is missing.
std::string SetKey(std::string_view text, std::string_view header, std::string_view key,
                   std::string_view value);

// Removes the `key = ...` line from the first table whose header line is `header`.
std::string RemoveKey(std::string_view text, std::string_view header, std::string_view key);

// The 1-based line of the first occurrence of `needle`; 0 when absent.
int LineOf(std::string_view text, std::string_view needle);

// The 1-based line of the last occurrence of `needle`; 0 when absent.
int LastLineOf(std::string_view text, std::string_view needle);

// The 1-based column of `needle` on its line.
int ColumnOf(std::string_view text, std::string_view needle);

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Writes `content` to dir_/name with `mode` and returns the path.
  std::filesystem::path WriteFile(std::string_view name, std::string_view content,
                                  mode_t mode = 0644);

  // Writes `text` to dir_/wbagent.toml and loads it.
  Result<Config, ConfigErrors> Load(std::string_view text);

  // Loads `text` expecting success; fails the test (and shows every error) otherwise.
  Config LoadOk(std::string_view text);

  // Loads `text` expecting failure, and returns the errors.
  ConfigErrors LoadErrors(std::string_view text);

  // Loads `text` expecting exactly one error, for `key`, whose problem contains `problem`.
  ConfigError ExpectOneError(std::string_view text, std::string_view key, std::string_view problem);

  std::filesystem::path dir_;          // the scratch directory, removed by TearDown
  std::filesystem::path config_path_;  // dir_/wbagent.toml
  // Passed to LoadConfig by Load(): secrets examined, no credentials directory, the host's
  // unit path. Tests of credentials point it at units in dir_.
  LoadOptions options_;
};

}  // namespace wb::config::testing
