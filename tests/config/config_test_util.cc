#include "tests/config/config_test_util.h"

#include <gmock/gmock.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <vector>

namespace wb::config::testing {

const char kMinimal[] = R"([agent]
id = "agent-1"
state_dir = "state"

[cloud]
url = "wss://cloud.example.com/agent"
ca_file = "ca.pem"

[[directory]]
name = "corp"
kind = "ad"
urls = ["ldaps://dc1.corp.example.com"]
ca_file = "ca.pem"
bind_dn = "CN=svc-wbagent,OU=Service,DC=corp,DC=example,DC=com"
bind_password_file = "bind.password"
base_dn = "DC=corp,DC=example,DC=com"
)";

namespace {

std::vector<std::string> SplitLines(std::string_view text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    lines.emplace_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

std::string JoinLines(const std::vector<std::string>& lines) {
  std::string out;
  for (const std::string& line : lines) out += line + "\n";
  return out;
}

bool IsKeyLine(std::string_view line, std::string_view key) {
  if (!line.starts_with(key)) return false;
  const std::size_t eq = line.find_first_not_of(' ', key.size());
  return eq != std::string_view::npos && line[eq] == '=';
}

// [header_index, end) of the table with this header; header_index == lines.size() if absent.
std::pair<std::size_t, std::size_t> FindTable(const std::vector<std::string>& lines,
                                              std::string_view header) {
  std::size_t begin = 0;
  while (begin < lines.size() && lines[begin] != header) ++begin;
  std::size_t end = begin + 1;
  while (end < lines.size() && !lines[end].starts_with("[")) ++end;
  return {begin, std::min(end, lines.size())};
}

}  // namespace

std::string SetKey(std::string_view text, std::string_view header, std::string_view key,
                   std::string_view value) {
  std::vector<std::string> lines = SplitLines(text);
  const std::string line = std::string(key) + " = " + std::string(value);
  auto [begin, end] = FindTable(lines, header);
  if (begin == lines.size()) {
    lines.emplace_back(header);
    lines.push_back(line);
    return JoinLines(lines);
  }
  for (std::size_t i = begin + 1; i < end; ++i) {
    if (IsKeyLine(lines[i], key)) {
      lines[i] = line;
      return JoinLines(lines);
    }
  }
  lines.insert(lines.begin() + static_cast<std::ptrdiff_t>(begin) + 1, line);
  return JoinLines(lines);
}

std::string RemoveKey(std::string_view text, std::string_view header, std::string_view key) {
  std::vector<std::string> lines = SplitLines(text);
  auto [begin, end] = FindTable(lines, header);
  for (std::size_t i = begin + 1; i < end; ++i) {
    if (IsKeyLine(lines[i], key)) {
      lines.erase(lines.begin() + static_cast<std::ptrdiff_t>(i));
      return JoinLines(lines);
    }
  }
  ADD_FAILURE() << "no key " << key << " in " << header;
  return std::string(text);
}

int LineOf(std::string_view text, std::string_view needle) {
  const std::size_t pos = text.find(needle);
  if (pos == std::string_view::npos) return 0;
  return 1 + static_cast<int>(std::count(text.begin(), text.begin() + pos, '\n'));
}

int LastLineOf(std::string_view text, std::string_view needle) {
  const std::size_t pos = text.rfind(needle);
  if (pos == std::string_view::npos) return 0;
  return 1 + static_cast<int>(std::count(text.begin(), text.begin() + pos, '\n'));
}

int ColumnOf(std::string_view text, std::string_view needle) {
  const std::size_t pos = text.find(needle);
  if (pos == std::string_view::npos) return 0;
  const std::size_t line_start = text.rfind('\n', pos);
  return static_cast<int>(line_start == std::string_view::npos ? pos + 1 : pos - line_start);
}

void ConfigTest::SetUp() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "wb_config_test.XXXXXX").string();
  ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
  dir_ = tmpl;
  config_path_ = dir_ / "wbagent.toml";
  WriteFile("ca.pem", "-----BEGIN CERTIFICATE-----\n(test)\n-----END CERTIFICATE-----\n");
  WriteFile("bind.password", "not-a-real-password\n", 0600);
}

void ConfigTest::TearDown() {
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::filesystem::path ConfigTest::WriteFile(std::string_view name, std::string_view content,
                                            mode_t mode) {
  const std::filesystem::path path = dir_ / name;
  std::filesystem::create_directories(path.parent_path());
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << content;
  }
  EXPECT_EQ(::chmod(path.c_str(), mode), 0) << path;
  return path;
}

Result<Config, ConfigErrors> ConfigTest::Load(std::string_view text) {
  WriteFile("wbagent.toml", text);
  return LoadConfig(config_path_, options_);
}

Config ConfigTest::LoadOk(std::string_view text) {
  Result<Config, ConfigErrors> result = Load(text);
  if (!result.ok()) {
    ADD_FAILURE() << "unexpected errors:\n" << FormatErrors(result.error()) << "in:\n" << text;
    return Config{};
  }
  return std::move(result).value();
}

ConfigErrors ConfigTest::LoadErrors(std::string_view text) {
  Result<Config, ConfigErrors> result = Load(text);
  if (result.ok()) {
    ADD_FAILURE() << "loaded, but errors were expected, from:\n" << text;
    return {};
  }
  return result.error();
}

ConfigError ConfigTest::ExpectOneError(std::string_view text, std::string_view key,
                                       std::string_view problem) {
  ConfigErrors errors = LoadErrors(text);
  if (errors.size() != 1) {
    ADD_FAILURE() << "expected exactly one error, got " << errors.size() << ":\n"
                  << FormatErrors(errors);
    return errors.empty() ? ConfigError{} : errors.front();
  }
  EXPECT_EQ(errors[0].key, key) << errors[0].ToString();
  EXPECT_THAT(errors[0].problem, ::testing::HasSubstr(std::string(problem)))
      << errors[0].ToString();
  EXPECT_EQ(errors[0].file, config_path_.string());
  return errors[0];
}

}  // namespace wb::config::testing
