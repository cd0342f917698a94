// LoadConfig as a whole: a full config, defaults, path resolution, reporting many problems at
// once, the shipped example, and the documented defaults.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>

#include "tests/config/config_test_util.h"

namespace wb::config::testing {
namespace {

namespace fs = std::filesystem;
using std::chrono::hours;
using std::chrono::seconds;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST_F(ConfigTest, MinimalConfigLoads) { LoadOk(kMinimal); }

TEST_F(ConfigTest, ValidFullConfigLoadsWithTheRightValues) {
  WriteFile("proxy.password", "x\n", 0600);
  WriteFile("client.pem", "cert\n");
  WriteFile("client.key", "key\n", 0600);
  const std::string text = R"([agent]
id = "hq-01"
state_dir = "state"

[cloud]
url = "wss://cloud.example.com:8443/agents/v1"
ca_file = "ca.pem"
proxy = "http://wb@proxy.example.com:3128"
proxy_password_file = "proxy.password"
min_tls = "1.2"
spki_pin = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
connect_timeout = 20
heartbeat_interval = 15

[[directory]]
name = "corp"
kind = "ad"
urls = ["ldaps://dc1.corp.example.com", "ldap://dc2.corp.example.com:3389/"]
ca_file = "ca.pem"
bind_method = "simple"
bind_dn = "CN=svc,DC=corp,DC=example,DC=com"
bind_password_file = "bind.password"
base_dn = "DC=corp,DC=example,DC=com"
upn_suffixes = ["Corp.Example.COM"]
lookup_attributes = ["sAMAccountName", "mail"]
history_on_reset = "enforce"
connect_timeout = 3
operation_timeout = 7
pool_size = 2

[[directory]]
name = "lab"
kind = "openldap"
urls = ["ldaps://[2001:db8::1]:1636"]
ca_file = "ca.pem"
bind_method = "sasl_external"
client_cert_file = "client.pem"
client_key_file = "client.key"
base_dn = "ou=people,dc=lab,dc=example"
base_dns = ["dc=lab,dc=example"]
history_on_reset = "off"

[policy]
mode = "log_only"

[queue]
max_pending = 500
max_in_flight = 4
retention = 24

[audit]
file = "/var/log/wbagent/audit.jsonl"
key_file = "keys/audit.key"
rotate_size_mb = 16

[log]
level = "debug"
format = "json"

[metrics]
listen = "127.0.0.1:9469"
)";
  const Config c = LoadOk(text);
  EXPECT_EQ(c.file, config_path_);
  EXPECT_EQ(c.agent.id, "hq-01");
  EXPECT_EQ(c.agent.state_dir, dir_ / "state");

  EXPECT_EQ(c.cloud.url, "wss://cloud.example.com:8443/agents/v1");
  EXPECT_EQ(c.cloud.server, (HostPort{"cloud.example.com", 8443}));
  EXPECT_EQ(c.cloud.path, "/agents/v1");
  EXPECT_EQ(c.cloud.ca_file, dir_ / "ca.pem");
  ASSERT_TRUE(c.cloud.proxy.has_value());
  EXPECT_EQ(c.cloud.proxy->address, (HostPort{"proxy.example.com", 3128}));
  EXPECT_EQ(c.cloud.proxy->user, "wb");
  EXPECT_EQ(c.cloud.proxy->password_file, dir_ / "proxy.password");
  EXPECT_EQ(c.cloud.min_tls, TlsVersion::kTls12);
  ASSERT_TRUE(c.cloud.spki_pin.has_value());
  EXPECT_EQ((*c.cloud.spki_pin)[0], 0xe3);  // SHA-256("") starts e3 b0 c4 42
  EXPECT_EQ((*c.cloud.spki_pin)[31], 0x55);
  EXPECT_EQ(c.cloud.connect_timeout, seconds(20));
  EXPECT_EQ(c.cloud.heartbeat_interval, seconds(15));

  ASSERT_EQ(c.directories.size(), 2u);
  const DirectoryConfig& ad = c.directories[0];
  EXPECT_EQ(ad.name, "corp");
  EXPECT_EQ(ad.kind, DirectoryKind::kActiveDirectory);
  ASSERT_EQ(ad.urls.size(), 2u);
  EXPECT_EQ(ad.urls[0].transport, LdapTransport::kLdaps);
  EXPECT_EQ(ad.urls[0].address, (HostPort{"dc1.corp.example.com", 636}));
  EXPECT_EQ(ad.urls[1].transport, LdapTransport::kStartTls);
  EXPECT_EQ(ad.urls[1].address, (HostPort{"dc2.corp.example.com", 3389}));
  EXPECT_EQ(ad.bind_method, BindMethod::kSimple);
  EXPECT_EQ(ad.bind_dn, "CN=svc,DC=corp,DC=example,DC=com");
  EXPECT_EQ(ad.bind_password_file, dir_ / "bind.password");
  EXPECT_EQ(ad.base_dn, "DC=corp,DC=example,DC=com");
  EXPECT_THAT(ad.upn_suffixes, ElementsAre("corp.example.com"));
  EXPECT_THAT(ad.lookup_attributes,
              ElementsAre(LookupAttribute::kSamAccountName, LookupAttribute::kMail));
  EXPECT_EQ(ad.history_on_reset, HistoryOnReset::kEnforce);
  EXPECT_EQ(ad.connect_timeout, seconds(3));
  EXPECT_EQ(ad.operation_timeout, seconds(7));
  EXPECT_EQ(ad.pool_size, 2);

  const DirectoryConfig& lab = c.directories[1];
  EXPECT_EQ(lab.kind, DirectoryKind::kOpenLdap);
  EXPECT_EQ(lab.urls[0].address, (HostPort{"2001:db8::1", 1636}));
  EXPECT_EQ(lab.bind_method, BindMethod::kSaslExternal);
  EXPECT_FALSE(lab.bind_dn.has_value());
  EXPECT_FALSE(lab.bind_password_file.has_value());
  EXPECT_EQ(lab.client_cert_file, dir_ / "client.pem");
  EXPECT_EQ(lab.client_key_file, dir_ / "client.key");
  EXPECT_THAT(lab.base_dns, ElementsAre("dc=lab,dc=example"));
  EXPECT_THAT(lab.lookup_attributes, ElementsAre(LookupAttribute::kUid, LookupAttribute::kMail));
  EXPECT_EQ(lab.history_on_reset, HistoryOnReset::kOff);

  EXPECT_EQ(c.policy.mode, PolicyMode::kLogOnly);
  EXPECT_EQ(c.queue.max_pending, 500);
  EXPECT_EQ(c.queue.max_in_flight, 4);
  EXPECT_EQ(c.queue.retention, hours(24));
  EXPECT_EQ(c.audit.file, fs::path("/var/log/wbagent/audit.jsonl"));
  EXPECT_EQ(c.audit.key_file, dir_ / "keys" / "audit.key");
  EXPECT_EQ(c.audit.rotate_size_mb, 16);
  EXPECT_EQ(c.log.level, LogLevel::kDebug);
  EXPECT_EQ(c.log.format, LogFormat::kJson);
  EXPECT_EQ(c.metrics.listen, (HostPort{"127.0.0.1", 9469}));
}

TEST_F(ConfigTest, DefaultsAreApplied) {
  const Config c = LoadOk(RemoveKey(kMinimal, "[agent]", "state_dir"));
  EXPECT_EQ(c.agent.state_dir, fs::path("/var/lib/wbagent"));
  EXPECT_EQ(c.cloud.server.port, 443);
  EXPECT_FALSE(c.cloud.proxy.has_value());
  EXPECT_EQ(c.cloud.min_tls, TlsVersion::kTls13);
  EXPECT_FALSE(c.cloud.spki_pin.has_value());
  EXPECT_EQ(c.cloud.connect_timeout, seconds(10));
  EXPECT_EQ(c.cloud.heartbeat_interval, seconds(30));
  const DirectoryConfig& d = c.directories.at(0);
  EXPECT_EQ(d.bind_method, BindMethod::kSimple);
  EXPECT_THAT(d.lookup_attributes,
              ElementsAre(LookupAttribute::kUserPrincipalName, LookupAttribute::kSamAccountName));
  EXPECT_EQ(d.history_on_reset, HistoryOnReset::kWhenSupported);
  EXPECT_EQ(d.connect_timeout, seconds(5));
  EXPECT_EQ(d.operation_timeout, seconds(10));
  EXPECT_EQ(d.pool_size, 4);
  EXPECT_EQ(c.policy.mode, PolicyMode::kEnforce);
  EXPECT_EQ(c.queue.max_pending, 10000);
  EXPECT_EQ(c.queue.max_in_flight, 8);
  EXPECT_EQ(c.queue.retention, hours(168));
  EXPECT_EQ(c.audit.file, fs::path("/var/lib/wbagent/audit/audit.jsonl"));
  EXPECT_EQ(c.audit.key_file, fs::path("/var/lib/wbagent/audit.key"));
  EXPECT_EQ(c.audit.rotate_size_mb, 64);
  EXPECT_EQ(c.log.level, LogLevel::kInfo);
  EXPECT_EQ(c.log.format, LogFormat::kAuto);
  EXPECT_FALSE(c.metrics.listen.has_value());
}

TEST_F(ConfigTest, OpenLdapLookupAttributesDefaultToUidAndMail) {
  std::string text = SetKey(kMinimal, "[[directory]]", "kind", "\"openldap\"");
  const Config c = LoadOk(text);
  EXPECT_THAT(c.directories.at(0).lookup_attributes,
              ElementsAre(LookupAttribute::kUid, LookupAttribute::kMail));
}

TEST_F(ConfigTest, AuditPathsDefaultUnderStateDir) {
  const Config c = LoadOk(kMinimal);
  EXPECT_EQ(c.audit.file, dir_ / "state" / "audit" / "audit.jsonl");
  EXPECT_EQ(c.audit.key_file, dir_ / "state" / "audit.key");
}

TEST_F(ConfigTest, RelativePathsResolveAgainstTheConfigDirectory) {
  WriteFile("sub/ca2.pem", "cert\n");
  std::string text = SetKey(kMinimal, "[cloud]", "ca_file", "\"sub/../sub/./ca2.pem\"");
  text = SetKey(text, "[audit]", "file", "\"logs/audit.jsonl\"");
  // Loading from another working directory must not change what the paths mean.
  const fs::path cwd = fs::current_path();
  fs::current_path("/");
  const Config c = LoadOk(text);
  fs::current_path(cwd);
  EXPECT_EQ(c.cloud.ca_file, dir_ / "sub" / "ca2.pem");
  EXPECT_EQ(c.directories.at(0).bind_password_file, dir_ / "bind.password");
  EXPECT_EQ(c.agent.state_dir, dir_ / "state");
  EXPECT_EQ(c.audit.file, dir_ / "logs" / "audit.jsonl");
  EXPECT_TRUE(c.cloud.ca_file.is_absolute());
}

TEST_F(ConfigTest, ConfigFileGivenAsRelativePathIsMadeAbsolute) {
  WriteFile("wbagent.toml", kMinimal);
  const fs::path cwd = fs::current_path();
  fs::current_path(dir_);
  Result<Config, ConfigErrors> result = LoadConfig("wbagent.toml");
  fs::current_path(cwd);
  ASSERT_TRUE(result.ok()) << FormatErrors(result.error());
  EXPECT_EQ(result->file, config_path_);
  EXPECT_EQ(result->cloud.ca_file, dir_ / "ca.pem");
}

TEST_F(ConfigTest, ThreeDifferentMistakesAreAllReportedWithLineNumbers) {
  std::string text = SetKey(kMinimal, "[agent]", "id", "\"has space\"");
  text = SetKey(text, "[cloud]", "url", "\"https://cloud.example.com\"");
  text = SetKey(text, "[[directory]]", "pool_size", "\"four\"");
  const ConfigErrors errors = LoadErrors(text);
  ASSERT_EQ(errors.size(), 3u) << FormatErrors(errors);
  EXPECT_EQ(errors[0].key, "agent.id");
  EXPECT_EQ(errors[0].line, LineOf(text, "id = \"has space\""));
  EXPECT_EQ(errors[1].key, "cloud.url");
  EXPECT_EQ(errors[1].line, LineOf(text, "url = \"https"));
  EXPECT_THAT(errors[1].problem, HasSubstr("wss://"));
  EXPECT_EQ(errors[2].key, "directory[0].pool_size");
  EXPECT_EQ(errors[2].line, LineOf(text, "pool_size"));
  EXPECT_EQ(errors[2].problem, "expected an integer, found a string");
}

TEST_F(ConfigTest, ErrorsAreSortedByPosition) {
  std::string text = SetKey(kMinimal, "[log]", "level", "\"loud\"");
  text = SetKey(text, "[agent]", "colour", "1");
  const ConfigErrors errors = LoadErrors(text);
  ASSERT_EQ(errors.size(), 2u) << FormatErrors(errors);
  EXPECT_LT(errors[0].line, errors[1].line);
}

TEST_F(ConfigTest, ErrorToStringIsFileLineColumnKeyProblem) {
  ConfigError e{.file = "/etc/wbagent/wbagent.toml",
                .line = 12,
                .column = 7,
                .key = "cloud.url",
                .problem = "must start with wss://"};
  EXPECT_EQ(e.ToString(), "/etc/wbagent/wbagent.toml:12:7: cloud.url: must start with wss://");
  e.line = 0;
  e.column = 0;
  e.key = "";
  EXPECT_EQ(e.ToString(), "/etc/wbagent/wbagent.toml: must start with wss://");
}

TEST_F(ConfigTest, EqualConfigsCompareEqual) {
  const Config a = LoadOk(kMinimal);
  const Config b = LoadOk(kMinimal);
  EXPECT_EQ(a, b);
  const Config c = LoadOk(SetKey(kMinimal, "[log]", "level", "\"debug\""));
  EXPECT_NE(a, c);
}

// The example in the repository, with the files scripts/example-files.sh makes, must pass.
TEST_F(ConfigTest, ExampleConfigLoadsWithExampleFiles) {
  const fs::path source(WB_SOURCE_DIR);
  fs::copy_file(source / "config" / "wbagent.example.toml", dir_ / "wbagent.example.toml");
  const std::string command = "bash '" + (source / "scripts" / "example-files.sh").string() +
                              "' '" + dir_.string() + "' >/dev/null";
  ASSERT_EQ(std::system(command.c_str()), 0) << command;
  Result<Config, ConfigErrors> result = LoadConfig(dir_ / "wbagent.example.toml");
  ASSERT_TRUE(result.ok()) << FormatErrors(result.error());
  EXPECT_EQ(result->directories.size(), 2u);
  EXPECT_EQ(result->directories[1].bind_method, BindMethod::kSaslExternal);
}

// docs/configuration.md has THE table of defaults. Setting every documented default
// explicitly must give the same Config as leaving every key out; if the code's default and the
// documented one differ, the two Configs differ.
struct DocumentedDefault {
  std::string header;  // "[cloud]", "[[directory]]"
  std::string key;
  std::string value;  // TOML
};

std::vector<DocumentedDefault> ReadDocumentedDefaults() {
  std::ifstream in(fs::path(WB_SOURCE_DIR) / "docs" / "configuration.md");
  std::vector<DocumentedDefault> out;
  std::string line;
  bool in_table = false;
  while (std::getline(in, line)) {
    if (line.starts_with("## ")) in_table = line.find("defaults") != std::string::npos;
    if (!in_table || !line.starts_with("| `")) continue;
    // | `section.key` | `toml value` | ... ; rows whose default is computed have no backticks.
    std::vector<std::string> cells;
    std::stringstream row(line.substr(1));
    for (std::string cell; std::getline(row, cell, '|');) cells.push_back(cell);
    if (cells.size() < 2) continue;
    auto ticked = [](const std::string& cell) -> std::string {
      const std::size_t a = cell.find('`');
      const std::size_t b = cell.rfind('`');
      return a == std::string::npos || a == b ? "" : cell.substr(a + 1, b - a - 1);
    };
    const std::string dotted = ticked(cells[0]);
    const std::string value = ticked(cells[1]);
    if (dotted.empty() || value.empty()) continue;
    const std::size_t dot = dotted.find('.');
    const std::string section = dotted.substr(0, dot);
    out.push_back({section == "directory" ? "[[directory]]" : "[" + section + "]",
                   dotted.substr(dot + 1), value});
  }
  return out;
}

TEST_F(ConfigTest, DocumentedDefaultsMatchCode) {
  const std::vector<DocumentedDefault> defaults = ReadDocumentedDefaults();
  ASSERT_GE(defaults.size(), 18u) << "the defaults table in docs/configuration.md was not found";
  const std::string base = RemoveKey(kMinimal, "[agent]", "state_dir");
  const Config implicit = LoadOk(base);
  for (const DocumentedDefault& d : defaults) {
    const Config explicit_config = LoadOk(SetKey(base, d.header, d.key, d.value));
    EXPECT_TRUE(explicit_config == implicit)
        << d.header << " " << d.key << " = " << d.value
        << ": the documented default is not the code's default";
  }
}

}  // namespace
}  // namespace wb::config::testing
