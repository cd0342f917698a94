// `wbagent register` end to end against a real wbcloud: keys made locally, one-time tokens.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <thread>

#include "channel/channel.h"
#include "channel/identity.h"
#include "config/config.h"
#include "tests/channel/cloud_fixture.h"
#include "tests/support/server_gate.h"

namespace wb::testing {
namespace {

using ::testing::HasSubstr;

unsigned Mode(const std::filesystem::path& p) {
  struct stat st {};
  ::stat(p.c_str(), &st);
  return st.st_mode & 0777;
}

class EnrollTest : public ::testing::Test {
 protected:
  void SetUp() override { WB_REQUIRE_SERVER(cloud_.Start()); }

  // A config for agent `id` with state in `state`, pointing at the cloud.
  std::filesystem::path WriteConfig(const std::string& id, const std::filesystem::path& state) {
    const auto pw = dir_.path() / "bind.password";
    EXPECT_TRUE(WriteFile(pw, "x\n", 0600).ok());
    const std::string text = "[agent]\nid = \"" + id + "\"\nstate_dir = \"" + state.string() +
                             "\"\n\n[cloud]\nurl = \"" + cloud_.agent_url() + "\"\nca_file = \"" +
                             cloud_.ca_file().string() +
                             "\"\n\n[[directory]]\nname = \"corp\"\nkind = \"openldap\"\n"
                             "urls = [\"ldaps://127.0.0.1:636\"]\nca_file = \"" +
                             cloud_.ca_file().string() +
                             "\"\nbind_dn = \"cn=admin,dc=example,dc=com\"\n"
                             "bind_password_file = \"" +
                             pw.string() + "\"\nbase_dn = \"dc=example,dc=com\"\n";
    const auto file = dir_.path() / (id + ".toml");
    EXPECT_TRUE(WriteFile(file, text, 0644).ok());
    return file;
  }

  CommandResult Register(const std::filesystem::path& config, const std::string& token,
                         bool force = false) {
    std::vector<std::string> argv = {WbagentPath().string(), "register", "--config",
                                     config.string(),        "--token",  token};
    if (force) argv.push_back("--force");
    return RunCommand(argv);
  }

  TempDir dir_{"wbenroll"};
  CloudServer cloud_{dir_.path() / "cloud"};
};

TEST_F(EnrollTest, RegisterEndToEnd) {
  const auto state = dir_.path() / "state";
  const auto config = WriteConfig("agent-1", state);
  auto token = cloud_.CreateToken();
  ASSERT_TRUE(token.ok());
  CommandResult r = Register(config, *token);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("enrolled agent agent-1 with tenant tenant-"));

  const channel::StatePaths paths(state);
  EXPECT_EQ(Mode(state), 0700u);
  EXPECT_EQ(Mode(paths.key()), 0600u);
  EXPECT_EQ(Mode(paths.encryption_key()), 0600u);
  auto enrollment = channel::LoadEnrollment(paths);
  ASSERT_TRUE(enrollment.ok());
  EXPECT_EQ(enrollment->agent_id, "agent-1");
  EXPECT_EQ(enrollment->agent_url, cloud_.agent_url());
  auto tenant = ReadFileOrEmpty(cloud_.state_dir() / "tenant");
  EXPECT_EQ(enrollment->tenant + "\n", tenant);
  auto keys = channel::LoadCloudKeys(paths);
  ASSERT_TRUE(keys.ok());
  EXPECT_EQ(keys->keys.size(), 1u);
  auto cert = channel::ReadCertificate(paths.cert());
  ASSERT_TRUE(cert.ok());
  EXPECT_EQ(cert->common_name, "agent-1");
  // The private keys never left: the certificate is for the key on disk.
  auto key = protocol::EcPrivateKey::Load(paths.key());
  ASSERT_TRUE(key.ok());
  EXPECT_TRUE(cert->matches(*key));

  // And the enrolled agent connects with the config as written.
  auto loaded = config::LoadConfig(config);
  ASSERT_TRUE(loaded.ok());
  auto options = channel::OptionsFromConfig(*loaded);
  TestHandler handler(TestHandler::Mode::kRecord, state);
  channel::Channel channel(options);
  handler.set_channel(&channel);
  ASSERT_TRUE(channel.Start(handler).ok());
  EXPECT_TRUE(channel.WaitForState(channel::ChannelState::kConnected, kWait))
      << channel.GetState().last_error.ToString();
  EXPECT_THAT(cloud_.Run({"status"}).output, HasSubstr("agent-1"));
}

// The token never has to be on a command line: from a file of mode 0600, or from standard
// input (what the README gives).
TEST_F(EnrollTest, TheTokenIsReadFromAPrivateFileOrFromStandardInput) {
  auto first = cloud_.CreateToken();
  ASSERT_TRUE(first.ok());
  const auto token_file = dir_.path() / "token";
  ASSERT_TRUE(WriteFile(token_file, *first + "\n", 0600).ok());
  CommandResult from_file = RunCommand({WbagentPath().string(), "register", "--config",
                                        WriteConfig("agent-1", dir_.path() / "s1").string(),
                                        "--token-file", token_file.string()});
  EXPECT_EQ(from_file.exit_code, 0) << from_file.output;
  EXPECT_THAT(from_file.output, HasSubstr("enrolled agent agent-1"));

  auto second = cloud_.CreateToken();
  ASSERT_TRUE(second.ok());
  const std::string pasted = *second + "\n";
  CommandResult from_stdin =
      RunCommand({WbagentPath().string(), "register", "--config",
                  WriteConfig("agent-2", dir_.path() / "s2").string(), "--token-file", "-"},
                 {}, &pasted);
  EXPECT_EQ(from_stdin.exit_code, 0) << from_stdin.output;
  EXPECT_THAT(from_stdin.output, HasSubstr("enrolled agent agent-2"));
}

// A token file others can read is refused before anything is sent, as every secret file is;
// and a token given twice is a usage error.
TEST_F(EnrollTest, ATokenFileOthersCanReadIsRefused) {
  auto token = cloud_.CreateToken();
  ASSERT_TRUE(token.ok());
  const auto token_file = dir_.path() / "token";
  ASSERT_TRUE(WriteFile(token_file, *token + "\n", 0644).ok());
  const auto config = WriteConfig("agent-1", dir_.path() / "s1");
  CommandResult r = RunCommand({WbagentPath().string(), "register", "--config", config.string(),
                                "--token-file", token_file.string()});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr("the token:"));
  EXPECT_FALSE(std::filesystem::exists(dir_.path() / "s1" / "agent.crt"));
  CommandResult both = RunCommand({WbagentPath().string(), "register", "--config", config.string(),
                                   "--token-file", token_file.string(), "--token", *token});
  EXPECT_EQ(both.exit_code, 2) << both.output;
  // The token was not used up by either refusal.
  EXPECT_EQ(Register(config, *token).exit_code, 0);
}

// A field of the wrong type in enrollment.json (edited, or damaged) is a corrupt record, not
// an exception: json::value() throws on a wrong type, and the channel's thread would have
// ended its reconnect loop for good.
TEST_F(EnrollTest, AnEnrollmentRecordWithAFieldOfTheWrongTypeIsCorruptNotAnException) {
  const channel::StatePaths paths(dir_.path() / "state");
  std::filesystem::create_directories(paths.enrollment().parent_path());
  for (const char* field :
       {R"("agent_url": 5)", R"("enrolled_at": "yesterday")", R"("keyset_jws": [])",
        R"("keys_issued_at": 1.5)", R"("enrolled_at": 9223372036854775807)",
        R"("keys_issued_at": -9223372036854775807)"}) {
    ASSERT_TRUE(WriteFile(paths.enrollment(),
                          std::string(R"({"agent_id": "a", "tenant": "t", )") + field + "}", 0600)
                    .ok());
    auto loaded = channel::LoadEnrollment(paths);
    ASSERT_FALSE(loaded.ok()) << field;
    EXPECT_EQ(loaded.error().code(), Code::kCorruption) << field;
  }
}

TEST_F(EnrollTest, UsedTokenIsRefused) {
  auto token = cloud_.CreateToken();
  ASSERT_TRUE(token.ok());
  ASSERT_EQ(Register(WriteConfig("agent-1", dir_.path() / "s1"), *token).exit_code, 0);
  CommandResult r = Register(WriteConfig("agent-2", dir_.path() / "s2"), *token);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("already used"));
  EXPECT_FALSE(std::filesystem::exists(dir_.path() / "s2" / "agent.crt"));
}

TEST_F(EnrollTest, ExpiredTokenIsRefused) {
  auto token = cloud_.CreateToken(/*ttl_seconds=*/1);
  ASSERT_TRUE(token.ok());
  // The one wait this test needs: for the token's second to pass.
  std::this_thread::sleep_for(std::chrono::milliseconds(2100));
  CommandResult r = Register(WriteConfig("agent-1", dir_.path() / "s1"), *token);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("token expired"));
}

TEST_F(EnrollTest, UnknownTokenIsRefused) {
  CommandResult r = Register(WriteConfig("agent-1", dir_.path() / "s1"), "not-a-token");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("unknown enrollment token"));
}

TEST_F(EnrollTest, AnEnrolledAgentNeedsForce) {
  const auto config = WriteConfig("agent-1", dir_.path() / "s1");
  auto token = cloud_.CreateToken();
  ASSERT_TRUE(token.ok());
  ASSERT_EQ(Register(config, *token).exit_code, 0);
  auto second = cloud_.CreateToken();
  ASSERT_TRUE(second.ok());
  CommandResult r = Register(config, *second);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.output, HasSubstr("--force"));
  EXPECT_EQ(Register(config, *second, /*force=*/true).exit_code, 0);
}

TEST_F(EnrollTest, EnrollmentVerifiesTheServer) {
  auto other = TestCa::Create(dir_.path() / "other", "other-ca");
  ASSERT_TRUE(other.ok());
  auto token = cloud_.CreateToken();
  ASSERT_TRUE(token.ok());
  const auto config = WriteConfig("agent-1", dir_.path() / "s1");
  std::string text = ReadFileOrEmpty(config);
  const std::string from = "ca_file = \"" + cloud_.ca_file().string() + "\"";
  text.replace(text.find(from), from.size(), "ca_file = \"" + other->cert().string() + "\"");
  ASSERT_TRUE(WriteFile(config, text).ok());
  CommandResult r = Register(config, *token);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("is not signed by a CA in " + other->cert().string()));
  // The token was not spent on a connection that never reached the cloud.
  EXPECT_EQ(Register(WriteConfig("agent-2", dir_.path() / "s2"), *token).exit_code, 0);
}

}  // namespace
}  // namespace wb::testing
