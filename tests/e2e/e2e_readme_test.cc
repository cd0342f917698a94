// The README's "Quick start for a real deployment", run as written against a real slapd and a
// real wbcloud, with the bind password as a systemd credential. The wbagent commands are taken
// from README.md itself, so this test fails when the README drifts from what works.
//
// What stands in for the host: the repository's own wbagent.service, installed in a scratch
// unit directory ($SYSTEMD_UNIT_PATH, which wbagent reads as systemd does) with its
// /etc/wbagent/ sources moved into the scratch directory; `systemctl enable --now wbagent`
// becomes `wbagent run` with $CREDENTIALS_DIRECTORY holding copies of the LoadCredential=
// sources, as systemd hands them over. `sudo` and `sudo -u wbagent` are dropped (the test runs
// as one user), and /etc/wbagent/wbagent.toml and TOKEN are replaced by the scratch config and
// a real enrollment token. Everything else is the command as the README prints it.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tests/e2e/e2e_util.h"
#include "tests/support/server_gate.h"
#include "tests/support/slapd_server.h"

namespace wb::testing {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kWbagent[] = WB_WBAGENT_PATH;
constexpr char kConfigInReadme[] = "/etc/wbagent/wbagent.toml";
// A valid audit key (64 hex digits), as `openssl rand -hex 32` writes it.
constexpr char kAuditKey[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n";

std::string SourceFile(const std::string& relative) {
  return ReadFileOrEmpty(fs::path(WB_SOURCE_DIR) / relative);
}

std::vector<std::string> Words(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> words;
  for (std::string w; in >> w;) words.push_back(w);
  return words;
}

// `words` without a leading `sudo` or `sudo -u USER`.
std::vector<std::string> WithoutSudo(std::vector<std::string> words) {
  if (!words.empty() && words.front() == "sudo") {
    words.erase(words.begin());
    if (words.size() >= 2 && words.front() == "-u") words.erase(words.begin(), words.begin() + 2);
  }
  return words;
}

// The lines of the quick start's ```sh blocks that run wbagent, as written (comments cut).
std::vector<std::string> QuickStartCommands(const std::string& readme) {
  const std::size_t start = readme.find("## Quick start for a real deployment");
  if (start == std::string::npos) return {};
  const std::size_t end = readme.find("\n## ", start + 1);
  std::istringstream in(readme.substr(start, end - start));
  std::vector<std::string> commands;
  bool in_sh = false;
  for (std::string line; std::getline(in, line);) {
    const std::string trimmed = line.substr(std::min(line.find_first_not_of(' '), line.size()));
    if (trimmed.starts_with("```")) {
      in_sh = !in_sh && trimmed == "```sh";
      continue;
    }
    if (!in_sh) continue;
    const std::string command = trimmed.substr(0, trimmed.find(" #"));
    const std::vector<std::string> words = WithoutSudo(Words(command));
    if (!words.empty() && words.front() == "wbagent") commands.push_back(command);
  }
  return commands;
}

std::string Verb(const std::string& command) { return WithoutSudo(Words(command)).at(1); }

class ReadmeQuickStartTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto slapd = SlapdServer::Start();
    if (!slapd.ok()) {
      start_status_ = slapd.error();
      return;
    }
    slapd_ = std::move(*slapd);
    dir_ = std::make_unique<TempDir>("wbreadme");
    setup_status_ = PrepareHost();
  }
  static void TearDownTestSuite() {
    if (agent_.running()) {
      agent_.Signal(SIGTERM);
      (void)agent_.Wait(std::chrono::seconds(30));
    }
    cloud_.reset();
    slapd_.reset();
    dir_.reset();
  }
  void SetUp() override {
    WB_REQUIRE_SERVER(start_status_);
    ASSERT_TRUE(setup_status_.ok()) << setup_status_.ToString();
  }

  static fs::path Path(const std::string& name) { return dir_->path() / name; }

  // The installed unit: the repository's, with its /etc/wbagent/ sources in the scratch dir.
  static Status InstallUnit() {
    std::string unit = SourceFile("systemd/wbagent.service");
    const std::string etc = "/etc/wbagent/";
    for (std::size_t at = 0; (at = unit.find(etc, at)) != std::string::npos;) {
      unit.replace(at, etc.size(), Path("etc").string() + "/");
    }
    fs::create_directories(Path("units"));
    fs::create_directories(Path("no-units"));
    return WriteFile(Path("units") / "wbagent.service", unit);
  }

  // The config as the README tells the administrator to write it: the bind password named by
  // its credential.
  static Status WriteConfig() {
    std::string directory = SlapdDirectoryToml(*slapd_, 5);
    const std::string file_line = "bind_password_file = \"bind.password\"";
    directory.replace(directory.find(file_line), file_line.size(),
                      "bind_password_credential = \"ad-bind\"");
    return WriteFile(Path("wbagent.toml"),
                     "[agent]\nid = \"agent-1\"\nstate_dir = \"" + Path("state").string() +
                         "\"\n\n[cloud]\nurl = \"" + cloud_->agent_url() + "\"\nca_file = \"" +
                         cloud_->ca_file() + "\"\nheartbeat_interval = 2\n\n" + directory +
                         "\n[log]\nformat = \"json\"\n");
  }

  static Status PrepareHost() {
    auto cloud = Cloud::Start(dir_->path());
    if (!cloud.ok()) return cloud.error().WithContext("wbcloud");
    cloud_ = std::move(*cloud);
    fs::create_directories(Path("etc"));
    // Step 2 of the README: the root-only credential sources.
    WB_RETURN_IF_ERROR(
        WriteFile(Path("etc/ad-bind"), SlapdServer::service_password() + "\n", 0600));
    WB_RETURN_IF_ERROR(WriteFile(Path("etc/audit.key"), kAuditKey, 0600));
    WB_RETURN_IF_ERROR(InstallUnit());
    return WriteConfig();
  }

  // Runs a README command as written, on the scratch host; `unit_dir` is $SYSTEMD_UNIT_PATH.
  static CommandResult RunAsWritten(const std::string& command, const fs::path& unit_dir) {
    std::vector<std::string> argv = WithoutSudo(Words(command));
    argv.front() = kWbagent;
    for (std::string& word : argv) {
      if (word == kConfigInReadme) word = Path("wbagent.toml").string();
      if (word == "TOKEN") word = token_;
    }
    // `register --token-file -`: the token is pasted on standard input.
    const std::string pasted = token_ + "\n";
    const bool reads_stdin = std::find(argv.begin(), argv.end(), "-") != argv.end();
    return RunCommand(argv, {{"SYSTEMD_UNIT_PATH", unit_dir.string()}},
                      reads_stdin ? &pasted : nullptr);
  }

  // `systemctl enable --now wbagent`: systemd copies each LoadCredential= source into the
  // credentials directory (mode 0400) and starts the unit's ExecStart= with
  // $CREDENTIALS_DIRECTORY set.
  static Status StartAsSystemdWould() {
    const fs::path creds = Path("credentials");
    fs::create_directories(creds);
    for (const char* name : {"ad-bind", "audit.key"}) {
      WB_RETURN_IF_ERROR(WriteFile(creds / name, ReadFileOrEmpty(Path("etc") / name), 0400));
    }
    auto child =
        ChildProcess::Start({kWbagent, "run", "--config", Path("wbagent.toml").string()},
                            Path("wbagent.log"), {{"CREDENTIALS_DIRECTORY", creds.string()}});
    if (!child.ok()) return child.error();
    agent_ = std::move(*child);
    return WaitUntil(
        [&] {
          return ReadFileOrEmpty(Path("wbagent.log")).find("connected to the cloud") !=
                         std::string::npos
                     ? Status::Ok()
                     : NotFound("not connected yet");
        },
        std::chrono::seconds(20), &agent_);
  }

  static inline std::unique_ptr<SlapdServer> slapd_;
  static inline std::unique_ptr<TempDir> dir_;
  static inline std::unique_ptr<Cloud> cloud_;
  static inline ChildProcess agent_;
  static inline std::string token_;
  static inline Status start_status_;
  static inline Status setup_status_;
};

TEST_F(ReadmeQuickStartTest, TheReadmeTheUnitAndTheDocsNameTheSameCredential) {
  const std::string credential_line = "LoadCredential=ad-bind:/etc/wbagent/ad-bind";
  EXPECT_THAT(SourceFile("systemd/wbagent.service"), HasSubstr(credential_line));
  EXPECT_THAT(SourceFile("README.md"), HasSubstr(credential_line));
  EXPECT_THAT(SourceFile("README.md"), HasSubstr("bind_password_credential = \"ad-bind\""));
  EXPECT_THAT(SourceFile("docs/operations.md"),
              HasSubstr("bind_password_credential = \"ad-bind\""));
  EXPECT_THAT(SourceFile("docs/configuration.md"), HasSubstr("bind_password_credential"));
  // The form that failed for every command run by hand is no longer recommended anywhere.
  for (const char* page : {"README.md", "docs/operations.md", "systemd/wbagent.service"}) {
    EXPECT_THAT(SourceFile(page),
                Not(HasSubstr("bind_password_file = \"/run/credentials/wbagent.service/")))
        << page;
  }
}

TEST_F(ReadmeQuickStartTest, TheQuickStartCommandsWorkAsWrittenWithSystemdCredentials) {
  const std::vector<std::string> commands = QuickStartCommands(SourceFile("README.md"));
  std::vector<std::string> verbs;
  for (const std::string& c : commands) verbs.push_back(Verb(c));
  ASSERT_EQ(verbs, (std::vector<std::string>{"check-config", "register", "doctor", "status"}))
      << "the README's quick start no longer runs check-config, register, doctor and status in "
         "order";

  auto token = cloud_->Token();
  ASSERT_TRUE(token.ok()) << token.error().ToString();
  token_ = *token;
  for (const std::string& command : commands) {
    SCOPED_TRACE(command);
    if (Verb(command) == "status") {
      // Step 6: `sudo systemctl enable --now wbagent` comes first.
      Status started = StartAsSystemdWould();
      ASSERT_TRUE(started.ok()) << started.ToString() << "\n"
                                << ReadFileOrEmpty(Path("wbagent.log"));
      // The daemon bound with the password from $CREDENTIALS_DIRECTORY: a reset goes through.
      const std::string pw = "Readme-Quick-1";
      CommandResult submit = cloud_->Submit(
          {"--user", "alice", "--op", "reset", "--kind", "uid", "--wait", "--timeout", "60"}, &pw);
      EXPECT_EQ(submit.exit_code, 0) << submit.output;
      EXPECT_THAT(submit.output, HasSubstr("\"succeeded\""));
      EXPECT_TRUE(
          TryUserBind(slapd_->ldaps_url(), slapd_->ca_file(), SlapdServer::user_dn("alice"), pw)
              .ok());
    }
    if (Verb(command) == "status") {
      // The agent may not have written its connected state yet (status.json is rewritten when
      // the state changes, and at least every 30 s): wait for that, then run it once more.
      (void)WaitUntil(
          [&] {
            return RunAsWritten(command, Path("units")).exit_code == 0 ? Status::Ok()
                                                                       : NotFound("not yet");
          },
          std::chrono::seconds(35));
    }
    const CommandResult r = RunAsWritten(command, Path("units"));
    EXPECT_EQ(r.exit_code, 0) << r.output;
    if (Verb(command) == "doctor") {
      // Before the first start, with the credential's source file: every check passes.
      EXPECT_THAT(r.output, Not(HasSubstr("\u2717"))) << r.output;
    }
    if (Verb(command) == "check-config") {
      EXPECT_THAT(r.output, HasSubstr("credential \"ad-bind\" checked at " +
                                      (Path("etc") / "ad-bind").string()));
    }
  }
}

// After the quick start: the commands that read no secret, where neither the unit nor the
// credential can be seen (root on a host whose unit was removed, a copied config).
TEST_F(ReadmeQuickStartTest, InspectionCommandsNeverFailBecauseTheCredentialCannotBeSeen) {
  ASSERT_TRUE(agent_.running()) << "runs after TheQuickStartCommandsWorkAsWritten...";
  const std::string config = Path("wbagent.toml").string();
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"status"}, {"queue", "list"}, {"audit", "query"}}) {
    std::vector<std::string> argv{kWbagent};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.insert(argv.end(), {"--config", config});
    const CommandResult r = RunCommand(argv, {{"SYSTEMD_UNIT_PATH", Path("no-units").string()}});
    EXPECT_EQ(r.exit_code, 0) << args.front() << ":\n" << r.output;
    EXPECT_THAT(r.output, Not(HasSubstr("bind_password"))) << args.front();
  }
}

TEST_F(ReadmeQuickStartTest, CheckConfigWithoutTheUnitSaysPlainlyWhyItCannotSeeTheCredential) {
  const CommandResult r =
      RunCommand({kWbagent, "check-config", "--config", Path("wbagent.toml").string()},
                 {{"SYSTEMD_UNIT_PATH", Path("no-units").string()}});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr("directory[0].bind_password_credential: credential \"ad-bind\" "
                                  "cannot be checked: $CREDENTIALS_DIRECTORY is not set"));
  EXPECT_THAT(r.output,
              HasSubstr("no wbagent.service is installed in " + Path("no-units").string()));
}

}  // namespace
}  // namespace wb::testing
