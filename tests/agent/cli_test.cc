// Drives the real wbagent binary: exit codes, help, check-config, and the daemon lifecycle.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "common/version.h"
#include "tests/support/process.h"
#include "tests/support/test_ca.h"

namespace wb::testing {
namespace {

constexpr char kWbagent[] = WB_WBAGENT_PATH;

CommandResult Wbagent(std::vector<std::string> args) {
  args.insert(args.begin(), kWbagent);
  return RunCommand(args);
}

// A valid config in a temp dir, with the files it names.
class ConfigDir {
 public:
  ConfigDir() {
    auto ca = TestCa::Create(dir_.path(), "ca");
    EXPECT_TRUE(ca.ok());
    EXPECT_TRUE(WriteFile(dir_.path() / "bind.password", "pw\n", 0600).ok());
    Write(Valid());
  }
  std::string Valid() const {
    return "[agent]\nid = \"agent-1\"\nstate_dir = \"" + (dir_.path() / "state").string() +
           "\"\n\n[cloud]\nurl = \"wss://cloud.example.test/agent\"\nca_file = \"ca.pem\"\n\n"
           "[[directory]]\nname = \"corp\"\nkind = \"openldap\"\n"
           "urls = [\"ldaps://127.0.0.1:636\"]\nca_file = \"ca.pem\"\n"
           "bind_dn = \"cn=wbagent,dc=example,dc=test\"\n"
           "bind_password_file = \"bind.password\"\nbase_dn = \"dc=example,dc=test\"\n";
  }
  void Write(const std::string& text) const { EXPECT_TRUE(WriteFile(file(), text).ok()); }
  std::filesystem::path file() const { return dir_.path() / "wbagent.toml"; }
  std::filesystem::path log() const { return dir_.path() / "agent.log"; }
  const std::filesystem::path& path() const { return dir_.path(); }

 private:
  TempDir dir_;
};

TEST(CliTest, VersionPrintsTheVersion) {
  CommandResult r = Wbagent({"--version"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.output.find(std::string("wbagent ") + kVersion), std::string::npos);
}

TEST(CliTest, EveryVerbHasHelp) {
  const std::vector<std::vector<std::string>> verbs = {
      {"check-config"},  {"run"},           {"register"},        {"status"},
      {"queue", "list"}, {"queue", "show"}, {"audit", "verify"}, {"audit", "query"}};
  for (std::vector<std::string> verb : verbs) {
    const std::string name = verb.front() + (verb.size() > 1 ? " " + verb.back() : "");
    verb.push_back("--help");
    CommandResult r = Wbagent(verb);
    EXPECT_EQ(r.exit_code, 0) << name;
    EXPECT_NE(r.output.find("--config"), std::string::npos) << name;
  }
  EXPECT_EQ(Wbagent({"--help"}).exit_code, 0);
}

TEST(CliTest, MissingVerbIsAUsageError) { EXPECT_EQ(Wbagent({}).exit_code, 2); }

TEST(CliTest, UnknownVerbIsAUsageError) { EXPECT_EQ(Wbagent({"frobnicate"}).exit_code, 2); }

TEST(CliTest, AMisspeltCommandSuggestsTheCommand) {
  CommandResult r = Wbagent({"stauts"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("wbagent: unknown command \"stauts\"; did you mean \"status\"?"),
            std::string::npos)
      << r.output;
}

TEST(CliTest, AMisspeltSubCommandSuggestsTheSubCommandOfItsCommand) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"audit", "qeury", "--since", "24h"},
       "wbagent audit: unknown command \"qeury\"; did you mean \"query\"?"},
      {{"queue", "lsit"}, "wbagent queue: unknown command \"lsit\"; did you mean \"list\"?"},
      {{"breaker", "relase"},
       "wbagent breaker: unknown command \"relase\"; did you mean \"release\"?"}};
  for (const auto& [args, message] : cases) {
    CommandResult r = Wbagent(args);
    EXPECT_EQ(r.exit_code, 2) << message;
    EXPECT_NE(r.output.find(message), std::string::npos) << r.output;
  }
}

TEST(CliTest, AnUnknownCommandFarFromEveryCommandListsTheCommands) {
  CommandResult r = Wbagent({"frobnicate"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.output.find("did you mean"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("wbagent: unknown command \"frobnicate\"; the commands are: "),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("status"), std::string::npos) << r.output;
}

TEST(CliTest, CheckConfigAcceptsAValidConfig) {
  ConfigDir dir;
  CommandResult r = Wbagent({"check-config", "--config", dir.file().string()});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("OK"), std::string::npos);
}

// metrics.listen takes effect now (the metrics endpoint): check-config no longer warns of it.
TEST(CliTest, CheckConfigAcceptsMetricsListenWithoutAWarning) {
  ConfigDir dir;
  dir.Write(dir.Valid() + "\n[metrics]\nlisten = \"127.0.0.1:9469\"\n");
  CommandResult r = Wbagent({"check-config", "--config", dir.file().string()});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output.find("warning:"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("OK"), std::string::npos) << r.output;
}

TEST(CliTest, CheckConfigPrintsNoWarningForAConfigWhoseKeysAllTakeEffect) {
  ConfigDir dir;
  CommandResult r = Wbagent({"check-config", "--config", dir.file().string()});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output.find("warning"), std::string::npos) << r.output;
}

TEST(CliTest, CheckConfigReportsEveryMistakeWithItsLine) {
  ConfigDir dir;
  dir.Write(
      "[agent]\n"
      "id = \"agent-1\"\n"
      "colour = \"blue\"\n"  // line 3: unknown key
      "[cloud]\n"
      "url = \"https://cloud.example.test\"\n"  // line 5: not wss://
      "ca_file = \"ca.pem\"\n"
      "[[directory]]\n"
      "name = \"corp\"\n"
      "kind = \"openldap\"\n"
      "urls = [\"ldaps://127.0.0.1\"]\n"
      "ca_file = \"ca.pem\"\n"
      "bind_dn = \"cn=wbagent,dc=example,dc=test\"\n"
      "bind_password_file = \"bind.password\"\n"
      "base_dn = \"dc=example,dc=test\"\n"
      "pool_size = \"four\"\n");  // line 15: wrong type
  CommandResult r = Wbagent({"check-config", "--config", dir.file().string()});
  EXPECT_EQ(r.exit_code, 2);
  const std::string f = dir.file().string();
  EXPECT_NE(r.output.find(f + ":3:"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(f + ":5:"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(f + ":15:"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("3 problems"), std::string::npos) << r.output;
}

// The loader checks a banned-words file's size and mode; its terms are read when the policy
// opens. check-config once stopped at the loader and said OK for a file the start refuses.
TEST(CliTest, CheckConfigRefusesABannedWordsFileTheStartWouldRefuse) {
  ConfigDir dir;
  ASSERT_TRUE(WriteFile(dir.path() / "banned.txt", "contoso\n\xff\xfe not utf-8\n", 0644).ok());
  dir.Write(dir.Valid() + "\n[policy.password]\nbanned_words_file = \"banned.txt\"\n");
  CommandResult r = Wbagent({"check-config", "--config", dir.file().string()});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("banned_words_file"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("banned.txt:2"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find(": OK ("), std::string::npos) << r.output;
  // The same file with valid terms passes.
  ASSERT_TRUE(WriteFile(dir.path() / "banned.txt", "contoso\nfabrikam\n", 0644).ok());
  r = Wbagent({"check-config", "--config", dir.file().string()});
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

TEST(CliTest, RunRefusesAnInvalidConfig) {
  ConfigDir dir;
  dir.Write("[agent]\n");
  EXPECT_EQ(Wbagent({"run", "--config", dir.file().string()}).exit_code, 2);
}

TEST(CliTest, RunBeforeRegisterSaysToRegisterAndExits1) {
  ConfigDir dir;
  auto agent = ChildProcess::Start({kWbagent, "run", "--config", dir.file().string()}, dir.log());
  ASSERT_TRUE(agent.ok());
  auto code = agent->Wait(std::chrono::seconds(20));
  ASSERT_TRUE(code.ok()) << ReadFileOrEmpty(dir.log());
  EXPECT_EQ(*code, 1);
  const std::string log = ReadFileOrEmpty(dir.log());
  EXPECT_NE(log.find("wbagent register"), std::string::npos) << log;
  // The log is JSON lines when not on a terminal.
  std::istringstream lines(log);
  for (std::string line; std::getline(lines, line);) {
    EXPECT_FALSE(nlohmann::json::parse(line, nullptr, false).is_discarded()) << line;
  }
}

// The config names a secret these commands cannot see (the bind password file is gone, as a
// systemd credential is outside the unit): they read no secret, so they must not fail on it.
TEST(CliTest, StatusQueueAuditAndRegisterNeverFailBecauseASecretCannotBeSeen) {
  ConfigDir dir;
  std::filesystem::remove(dir.path() / "bind.password");
  ASSERT_EQ(Wbagent({"check-config", "--config", dir.file().string()}).exit_code, 2);
  const std::string config = dir.file().string();
  const std::vector<std::vector<std::string>> commands = {
      {"status", "--config", config},
      {"queue", "list", "--config", config},
      {"queue", "show", "0000", "--config", config},
      {"audit", "query", "--config", config},
      // Gets as far as the cloud (which does not exist), never stopped by the config.
      {"register", "--token", "t", "--config", config}};
  for (const auto& args : commands) {
    const CommandResult r = Wbagent(args);
    EXPECT_NE(r.exit_code, 2) << args.front() << ":\n" << r.output;
    EXPECT_EQ(r.output.find("bind_password"), std::string::npos) << args.front() << r.output;
  }
}

TEST(CliTest, CheckConfigSaysWhichFileStoodForACredential) {
  ConfigDir dir;
  const std::filesystem::path units = dir.path() / "units";
  const std::filesystem::path source = dir.path() / "ad-bind";
  ASSERT_TRUE(WriteFile(source, "pw\n", 0600).ok());
  std::filesystem::create_directories(units);
  ASSERT_TRUE(WriteFile(units / "wbagent.service",
                        std::string("[Service]\nLoadCredential=ad-bind:") + source.string() + "\n")
                  .ok());
  std::string text = dir.Valid();
  const std::string file_line = "bind_password_file = \"bind.password\"";
  text.replace(text.find(file_line), file_line.size(), "bind_password_credential = \"ad-bind\"");
  dir.Write(text);
  const std::vector<std::string> argv = {kWbagent, "check-config", "--config", dir.file().string()};
  CommandResult r = RunCommand(argv, {{"SYSTEMD_UNIT_PATH", units.string()}});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("directory corp: credential \"ad-bind\" checked at " + source.string()),
            std::string::npos)
      << r.output;
  // Under systemd, the copy in $CREDENTIALS_DIRECTORY is the one checked.
  std::filesystem::create_directories(dir.path() / "creds");
  ASSERT_TRUE(WriteFile(dir.path() / "creds" / "ad-bind", "pw\n", 0400).ok());
  r = RunCommand(argv, {{"SYSTEMD_UNIT_PATH", units.string()},
                        {"CREDENTIALS_DIRECTORY", (dir.path() / "creds").string()}});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("checked at " + (dir.path() / "creds" / "ad-bind").string()),
            std::string::npos)
      << r.output;
}

}  // namespace
}  // namespace wb::testing
