// Drives the real wbagent binary: exit codes, help, check-config, and the daemon lifecycle.
#include <gtest/gtest.h>
#include <signal.h>

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
  void Write(const std::string& text) const {
    EXPECT_TRUE(WriteFile(file(), text).ok());
  }
  std::filesystem::path file() const { return dir_.path() / "wbagent.toml"; }
  std::filesystem::path log() const { return dir_.path() / "agent.log"; }

 private:
  TempDir dir_;
};

TEST(CliTest, VersionPrintsTheVersion) {
  CommandResult r = Wbagent({"--version"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.output.find(std::string("wbagent ") + kVersion), std::string::npos);
}

TEST(CliTest, EveryVerbHasHelp) {
  for (const char* verb : {"check-config", "run"}) {
    CommandResult r = Wbagent({verb, "--help"});
    EXPECT_EQ(r.exit_code, 0) << verb;
    EXPECT_NE(r.output.find("--config"), std::string::npos) << verb;
  }
  EXPECT_EQ(Wbagent({"--help"}).exit_code, 0);
}

TEST(CliTest, MissingVerbIsAUsageError) { EXPECT_EQ(Wbagent({}).exit_code, 2); }

TEST(CliTest, UnknownVerbIsAUsageError) { EXPECT_EQ(Wbagent({"frobnicate"}).exit_code, 2); }

TEST(CliTest, CheckConfigAcceptsAValidConfig) {
  ConfigDir dir;
  CommandResult r = Wbagent({"check-config", "--config", dir.file().string()});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("OK"), std::string::npos);
}

TEST(CliTest, CheckConfigReportsEveryMistakeWithItsLine) {
  ConfigDir dir;
  dir.Write(
      "[agent]\n"
      "id = \"agent-1\"\n"
      "colour = \"blue\"\n"                     // line 3: unknown key
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

TEST(CliTest, RunRefusesAnInvalidConfig) {
  ConfigDir dir;
  dir.Write("[agent]\n");
  EXPECT_EQ(Wbagent({"run", "--config", dir.file().string()}).exit_code, 2);
}

Status LogContains(const std::filesystem::path& log, const std::string& text) {
  return ReadFileOrEmpty(log).find(text) != std::string::npos
             ? Status::Ok()
             : NotFound("'" + text + "' not yet in the log");
}

TEST(CliTest, RunStopsCleanlyOnSigtermAndLogsJsonLines) {
  ConfigDir dir;
  auto agent = ChildProcess::Start({kWbagent, "run", "--config", dir.file().string()},
                                   dir.log());
  ASSERT_TRUE(agent.ok());
  ASSERT_TRUE(WaitUntil([&] { return LogContains(dir.log(), "ready"); },
                        std::chrono::seconds(10), &*agent)
                  .ok())
      << ReadFileOrEmpty(dir.log());
  agent->Signal(SIGTERM);
  auto code = agent->Wait(std::chrono::seconds(10));
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(*code, 0);
  std::istringstream lines(ReadFileOrEmpty(dir.log()));
  int count = 0;
  for (std::string line; std::getline(lines, line); ++count) {
    auto record = nlohmann::json::parse(line, nullptr, false);
    ASSERT_FALSE(record.is_discarded()) << line;
    EXPECT_TRUE(record.contains("ts") && record.contains("level") && record.contains("msg"));
  }
  EXPECT_GE(count, 3);
  EXPECT_NE(ReadFileOrEmpty(dir.log()).find("stopped"), std::string::npos);
}

TEST(CliTest, ReloadWithABadConfigKeepsRunningOnTheOld) {
  ConfigDir dir;
  auto agent = ChildProcess::Start({kWbagent, "run", "--config", dir.file().string()},
                                   dir.log());
  ASSERT_TRUE(agent.ok());
  ASSERT_TRUE(WaitUntil([&] { return LogContains(dir.log(), "ready"); },
                        std::chrono::seconds(10), &*agent)
                  .ok());
  dir.Write(dir.Valid() + "bogus_key = 1\n");
  agent->Signal(SIGHUP);
  ASSERT_TRUE(WaitUntil([&] { return LogContains(dir.log(), "keeping the running"); },
                        std::chrono::seconds(10), &*agent)
                  .ok())
      << ReadFileOrEmpty(dir.log());
  EXPECT_TRUE(agent->running());
  EXPECT_NE(ReadFileOrEmpty(dir.log()).find("bogus_key"), std::string::npos);

  dir.Write(dir.Valid() + "\n[log]\nlevel = \"debug\"\n");
  agent->Signal(SIGHUP);
  ASSERT_TRUE(WaitUntil([&] { return LogContains(dir.log(), "reloaded configuration"); },
                        std::chrono::seconds(10), &*agent)
                  .ok())
      << ReadFileOrEmpty(dir.log());
  agent->Signal(SIGTERM);
  auto code = agent->Wait(std::chrono::seconds(10));
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(*code, 0);
}

}  // namespace
}  // namespace wb::testing
