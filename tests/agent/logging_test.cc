#include "agent/logging.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <string>

namespace wb::agent {
namespace {

// Captures what a logger writes to a pipe.
std::string CaptureLog(config::LogConfig settings, const std::string& message) {
  int fds[2];
  EXPECT_EQ(pipe(fds), 0);
  int saved = dup(2);
  dup2(fds[1], 2);
  {
    auto logger = MakeLogger(settings);
    logger->info("{}", message);
    logger->debug("hidden at info");
    logger->flush();
  }
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
