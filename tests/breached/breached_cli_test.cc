// Drives the real wbagent binary: `wbagent breached import` and `wbagent breached check`, their
// exit codes, the password read from stdin only, and nothing secret in their output.
#include <gtest/gtest.h>
#include <poll.h>
#include <pty.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

#include "tests/support/process.h"

namespace wb::testing {
namespace {

constexpr char kWbagent[] = WB_WBAGENT_PATH;
constexpr char kPasswordSha1[] = "5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8";

CommandResult Wbagent(std::vector<std::string> args, const std::string* input = nullptr) {
  args.insert(args.begin(), kWbagent);
  return RunCommand(args, {}, input);
}

bool Contains(const std::string& text, const std::string& what) {
  return text.find(what) != std::string::npos;
}

// The lowercase form of a hex string, for the output scans.
std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

class BreachedCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(WriteFile(text(), std::string("0000000000000000000000000000000000000001:2\r\n") +
                                      kPasswordSha1 + ":3861493\r\n" +
                                      "7C4A8D09CA3762AF61E59520943DC26494F8941B:50\r\n")
                    .ok());
  }
  std::filesystem::path text() const { return dir_.path() / "pwned.txt"; }
  std::filesystem::path list() const { return dir_.path() / "pwned.bin"; }
  void Import() {
    CommandResult r = Wbagent({"breached", "import", text().string(), list().string()});
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
  CommandResult Check(const std::string& input, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"breached", "check", "--file", list().string()};
    args.insert(args.end(), extra.begin(), extra.end());
    return Wbagent(args, &input);
  }
  // Neither the password nor its SHA-1 appears in `output`.
  static void ExpectNothingSecret(const std::string& output, const std::string& password) {
    EXPECT_FALSE(Contains(output, password)) << output;
    EXPECT_FALSE(Contains(output, kPasswordSha1)) << output;
    EXPECT_FALSE(Contains(output, Lower(kPasswordSha1))) << output;
  }

 private:
  TempDir dir_;
};

TEST_F(BreachedCliTest, ImportPrintsASummary) {
  CommandResult r = Wbagent({"breached", "import", text().string(), list().string()});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(Contains(r.output, "imported 3 sha1 entries")) << r.output;
  EXPECT_TRUE(std::filesystem::exists(list()));
}

TEST_F(BreachedCliTest, ImportReadsStandardInputAndReportsProgress) {
  const std::string input = ReadFileOrEmpty(text());
  CommandResult r = Wbagent({"breached", "import", "-", list().string(), "--progress-every", "2",
                             "--kind", "sha1", "--index-bits", "9"},
                            &input);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(Contains(r.output, "breached import: 2 lines")) << r.output;
  EXPECT_TRUE(Contains(r.output, "imported 3 sha1 entries")) << r.output;
  EXPECT_TRUE(Contains(r.output, "2^9 index buckets")) << r.output;
}

TEST_F(BreachedCliTest, ImportOfUnsortedInputExitsOneNamingTheLine) {
  ASSERT_TRUE(WriteFile(text(), std::string(kPasswordSha1) +
                                    ":1\n0000000000000000000000000000000000000001:2\n")
                  .ok());
  CommandResult r = Wbagent({"breached", "import", text().string(), list().string()});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(Contains(r.output, "pwned.txt:2: not sorted")) << r.output;
  EXPECT_FALSE(std::filesystem::exists(list()));
}

TEST_F(BreachedCliTest, ImportWithoutDestIsAUsageError) {
  EXPECT_EQ(Wbagent({"breached", "import", text().string()}).exit_code, 2);
}

TEST_F(BreachedCliTest, ImportRefusesIndexBitsOutOfRange) {
  EXPECT_EQ(Wbagent({"breached", "import", text().string(), list().string(), "--index-bits", "25"})
                .exit_code,
            2);
  EXPECT_FALSE(std::filesystem::exists(list()));
}

TEST_F(BreachedCliTest, CheckFoundExitsOneAndPrintsNothingSecret) {
  Import();
  CommandResult r = Check("password\n");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_EQ(r.output, "found 3861493 times\n");
  ExpectNothingSecret(r.output, "password");
}

TEST_F(BreachedCliTest, CheckAcceptsCrlfAndNoNewline) {
  Import();
  EXPECT_EQ(Check("password\r\n").exit_code, 1);
  EXPECT_EQ(Check("password").exit_code, 1);
}

TEST_F(BreachedCliTest, CheckNotFoundExitsZero) {
  Import();
  CommandResult r = Check("correct horse battery staple\n");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, "not found\n");
}

TEST_F(BreachedCliTest, CheckBelowMinCountExitsZero) {
  Import();
  // "123456" is listed 50 times here.
  CommandResult below = Check("123456\n", {"--min-count", "51"});
  EXPECT_EQ(below.exit_code, 0) << below.output;
  EXPECT_EQ(below.output, "found 50 times\n");
  EXPECT_EQ(Check("123456\n", {"--min-count", "50"}).exit_code, 1);
}

TEST_F(BreachedCliTest, CheckRefusesAPasswordOnTheCommandLineWithoutEchoingIt) {
  Import();
  CommandResult r = Check("", {"hunter2secret"});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(Contains(r.output, "never from the command line")) << r.output;
  EXPECT_FALSE(Contains(r.output, "hunter2secret")) << r.output;
}

TEST_F(BreachedCliTest, CheckWithoutAPasswordOnStdinIsAUsageError) {
  Import();
  CommandResult r = Check("");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(Contains(r.output, "no password on standard input")) << r.output;
}

TEST_F(BreachedCliTest, CheckRefusesAPasswordLongerThanTheLimit) {
  Import();
  CommandResult r = Check(std::string(1025, 'x') + "\n");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(Contains(r.output, "longer than 1024 bytes")) << r.output;
}

TEST_F(BreachedCliTest, CheckOfAMissingListIsAUsageError) {
  CommandResult r = Check("password\n");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(Contains(r.output, "not_found")) << r.output;
}

TEST_F(BreachedCliTest, CheckOfATruncatedListIsAUsageErrorSayingSo) {
  Import();
  std::filesystem::resize_file(list(), std::filesystem::file_size(list()) - 10);
  CommandResult r = Check("password\n");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(Contains(r.output, "truncated")) << r.output;
  ExpectNothingSecret(r.output, "password");
}

TEST_F(BreachedCliTest, CheckWithoutFileIsAUsageError) {
  const std::string input = "password\n";
  EXPECT_EQ(Wbagent({"breached", "check"}, &input).exit_code, 2);
}

// Reads from `fd` until `until` appears in what was read, EOF, or 10 s pass.
std::string ReadUntil(int fd, const std::string& until) {
  std::string out;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (until.empty() || out.find(until) == std::string::npos) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
    char buf[256];
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n <= 0) break;  // EIO on Linux once the child has closed the terminal
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

// On a terminal, check prompts on stderr and turns echo off: the typed password is not shown.
TEST_F(BreachedCliTest, CheckOnATerminalPromptsAndDoesNotEcho) {
  Import();
  int master = -1;
  const std::string file = list().string();
  const pid_t pid = ::forkpty(&master, nullptr, nullptr, nullptr);
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::execl(kWbagent, kWbagent, "breached", "check", "--file", file.c_str(),
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  // Type only after the prompt: echo is off by then (turning it off flushes earlier input).
  std::string seen = ReadUntil(master, "Password: ");
  EXPECT_NE(seen.find("Password: "), std::string::npos) << seen;
  const std::string typed = "password\n";
  ASSERT_EQ(::write(master, typed.data(), typed.size()), static_cast<ssize_t>(typed.size()));
  seen += ReadUntil(master, "");
  ::close(master);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 1) << seen;
  EXPECT_NE(seen.find("found 3861493 times"), std::string::npos) << seen;
  EXPECT_EQ(seen.find("password"), std::string::npos) << seen;  // "Password: " is the prompt
}

}  // namespace
}  // namespace wb::testing
