#include "agent/logging.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace wb::agent {
namespace {

// Captures what a logger writes to a pipe: `message` at info, then `extra` at its level.
// With `as_journal`, JOURNAL_STREAM names the pipe, as systemd names the journal's stream.
std::string CaptureLog(config::LogConfig settings, const std::string& message,
                       std::function<void(spdlog::logger&)> extra = {}, bool as_journal = false) {
  int fds[2];
  EXPECT_EQ(pipe(fds), 0);
  int saved = dup(2);
  dup2(fds[1], 2);
  if (as_journal) {
    struct stat st {};
    EXPECT_EQ(fstat(2, &st), 0);
    setenv("JOURNAL_STREAM", (std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino)).c_str(),
           1);
  }
  {
    auto logger = MakeLogger(settings);
    logger->info("{}", message);
    logger->debug("hidden at info");
    if (extra) extra(*logger);
    logger->flush();
  }
  unsetenv("JOURNAL_STREAM");
  dup2(saved, 2);
  close(saved);
  close(fds[1]);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
  close(fds[0]);
  return out;
}

TEST(LoggingTest, JsonFormatWritesOneObjectPerLine) {
  std::string out = CaptureLog({.format = config::LogFormat::kJson}, "hello \"world\"\nnext");
  auto record = nlohmann::json::parse(out.substr(0, out.find('\n')));
  EXPECT_EQ(record["msg"], "hello \"world\"\nnext");
  EXPECT_EQ(record["level"], "info");
  EXPECT_EQ(record["logger"], "wbagent");
  EXPECT_EQ(out.find("hidden"), std::string::npos);
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1);
}

// A filter written from the config's names ([log] level = "warn") matches the JSON.
TEST(LoggingTest, JsonLevelsAreNamedAsInTheConfig) {
  std::string out = CaptureLog({.format = config::LogFormat::kJson}, "x", [](spdlog::logger& l) {
    l.warn("w");
    l.error("e");
  });
  std::vector<std::string> levels;
  std::size_t start = 0;
  for (std::size_t end; (end = out.find('\n', start)) != std::string::npos; start = end + 1) {
    levels.push_back(nlohmann::json::parse(out.substr(start, end - start))["level"]);
  }
  EXPECT_EQ(levels, (std::vector<std::string>{"info", "warn", "error"}));
  EXPECT_EQ(levels[1], config::Name(config::LogLevel::kWarn));
}

// Under systemd, standard error is the journal's stream: each line carries its syslog
// priority, which journald strips, so `journalctl -p warning` finds warnings and errors.
TEST(LoggingTest, OnTheJournalStreamEachLineCarriesItsPriority) {
  std::string out = CaptureLog(
      {.format = config::LogFormat::kJson}, "x",
      [](spdlog::logger& l) {
        l.warn("w");
        l.error("e");
      },
      /*as_journal=*/true);
  EXPECT_EQ(out.substr(0, 4), "<6>{") << out;
  EXPECT_NE(out.find("\n<4>{"), std::string::npos) << out;
  EXPECT_NE(out.find("\n<3>{"), std::string::npos) << out;
}

TEST(LoggingTest, AnotherStreamGetsNoPriorityPrefix) {
  std::string out = CaptureLog({.format = config::LogFormat::kJson}, "x");
  EXPECT_EQ(out.front(), '{') << out;
}

TEST(LoggingTest, AutoFormatIsJsonWhenNotATerminal) {
  std::string out = CaptureLog({.format = config::LogFormat::kAuto}, "x");
  EXPECT_EQ(out.front(), '{');
}

TEST(LoggingTest, TextFormatIsForPeople) {
  std::string out = CaptureLog({.format = config::LogFormat::kText}, "plain");
  EXPECT_NE(out.find("info"), std::string::npos);
  EXPECT_NE(out.find("plain"), std::string::npos);
  EXPECT_NE(out.front(), '{');
}

TEST(LoggingTest, InvalidUtf8DoesNotBreakTheJsonLine) {
  std::string out = CaptureLog({.format = config::LogFormat::kJson}, "bad \xff byte");
  EXPECT_FALSE(nlohmann::json::parse(out, nullptr, false).is_discarded());
}

TEST(LoggingTest, DebugLevelShowsDebugLines) {
  std::string out =
      CaptureLog({.level = config::LogLevel::kDebug, .format = config::LogFormat::kJson}, "x");
  EXPECT_NE(out.find("hidden at info"), std::string::npos);
}

}  // namespace
}  // namespace wb::agent
