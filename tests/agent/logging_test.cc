#include "agent/logging.h"

#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace wb::agent {
namespace {

// Captures what a logger writes to a pipe: `message` at info, then `extra` at its level.
std::string CaptureLog(config::LogConfig settings, const std::string& message,
                       std::function<void(spdlog::logger&)> extra = {}) {
  int fds[2];
  EXPECT_EQ(pipe(fds), 0);
  int saved = dup(2);
  dup2(fds[1], 2);
  {
    auto logger = MakeLogger(settings);
    logger->info("{}", message);
    logger->debug("hidden at info");
    if (extra) extra(*logger);
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

// The fields of a request's end, as the pipeline logs them.
LogFields AFinishedRequest() {
  return {.event = LogEvent::kRequestFinished,
          .request_id = "req-42",
          .outcome = "access_denied",
          .directory = "corp",
          .target = "alice@example.com"};
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

// Outside the journal, a log shipper reading the JSON lines gets the same fields as the
// journal: `jq 'select(.request_id == "...")'` finds one request.
TEST(LoggingTest, JsonLinesCarryTheRecordsFieldsAndNoneItDoesNotHave) {
  std::string out =
      CaptureLog({.format = config::LogFormat::kJson}, "plain", [](spdlog::logger& l) {
        Log(l, spdlog::level::err, AFinishedRequest(), "request {}: {}", "req-42", "access_denied");
        Log(l, spdlog::level::info, {.event = LogEvent::kReady}, "ready");
      });
  std::vector<nlohmann::json> records;
  std::size_t start = 0;
  for (std::size_t end; (end = out.find('\n', start)) != std::string::npos; start = end + 1) {
    records.push_back(nlohmann::json::parse(out.substr(start, end - start)));
  }
  ASSERT_EQ(records.size(), 3u) << out;
  // A plain spdlog call: the four keys alone.
  EXPECT_EQ(records[0].size(), 4u) << records[0].dump();
  const nlohmann::json& finished = records[1];
  EXPECT_EQ(finished["msg"], "request req-42: access_denied");
  EXPECT_EQ(finished["level"], "error");
  EXPECT_EQ(finished["event"], "request_finished");
  EXPECT_EQ(finished["request_id"], "req-42");
  EXPECT_EQ(finished["outcome"], "access_denied");
  EXPECT_EQ(finished["directory"], "corp");
  EXPECT_EQ(finished["target"], "alice@example.com");
  EXPECT_EQ(finished["message_id"], OutcomeMessageId("access_denied"));
  const nlohmann::json& ready = records[2];
  EXPECT_EQ(ready["event"], "ready");
  EXPECT_EQ(ready["message_id"], EventMessageId(LogEvent::kReady));
  EXPECT_FALSE(ready.contains("request_id"));
  EXPECT_FALSE(ready.contains("outcome"));
  EXPECT_FALSE(ready.contains("target"));
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

// What a child process with a journal of its own (see JournalCapture) sent and wrote.
struct Captured {
  std::string error;                                        // why the capture failed; "" if not
  std::vector<std::map<std::string, std::string>> records;  // one per datagram, field -> value
  std::string stderr_text;                                  // what reached standard error
};

// One datagram of journald's native protocol: "NAME=value\n", or for a value that holds a
// newline "NAME\n" + 64-bit little-endian length + value + "\n" (systemd's JOURNAL_NATIVE
// protocol, as sd_journal_sendv writes it).
std::map<std::string, std::string> ParseNative(const std::string& d) {
  std::map<std::string, std::string> fields;
  std::size_t at = 0;
  while (at < d.size()) {
    const std::size_t nl = d.find('\n', at);
    if (nl == std::string::npos) break;
    const std::string line = d.substr(at, nl - at);
    const std::size_t eq = line.find('=');
    if (eq != std::string::npos) {
      fields[line.substr(0, eq)] = line.substr(eq + 1);
      at = nl + 1;
      continue;
    }
    std::uint64_t size = 0;
    for (int i = 7; i >= 0; --i) {
      size = (size << 8) | static_cast<unsigned char>(d[nl + 1 + static_cast<std::size_t>(i)]);
    }
    fields[line] = d.substr(nl + 9, size);
    at = nl + 9 + size + 1;
  }
  return fields;
}

void WriteAll(int fd, const std::string& data) {
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n <= 0) return;
    done += static_cast<std::size_t>(n);
  }
}

std::string ReadAll(int fd) {
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
  return out;
}

// In the child: a private mount namespace whose /run is an empty tmpfs, so that the socket
// libsystemd sends journal records to (/run/systemd/journal/socket) is this test's, read
// when `bind_journal` and closed otherwise; standard error is a pipe that JOURNAL_STREAM
// names, as systemd sets it up. Returns "" or what failed.
std::string BecomeAJournaledService(bool bind_journal, int stderr_pipe, int* journal_fd) {
  if (::unshare(CLONE_NEWNS) != 0) return std::string("unshare: ") + std::strerror(errno);
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    return std::string("mount private: ") + std::strerror(errno);
  }
  if (::mount("tmpfs", "/run", "tmpfs", 0, "mode=0755") != 0) {
    return std::string("mount /run: ") + std::strerror(errno);
  }
  std::filesystem::create_directories("/run/systemd/journal");
  *journal_fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, "/run/systemd/journal/socket", sizeof addr.sun_path - 1);
  if (::bind(*journal_fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    return std::string("bind: ") + std::strerror(errno);
  }
  if (!bind_journal) {
    // The socket is there but nobody reads it, as while journald restarts: sending is refused.
    ::close(*journal_fd);
    *journal_fd = -1;
  }
  ::dup2(stderr_pipe, STDERR_FILENO);
  struct stat st {};
  ::fstat(STDERR_FILENO, &st);
  const std::string stream = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
  ::setenv("JOURNAL_STREAM", stream.c_str(), 1);
  return "";
}

// Runs `log` with a logger made by MakeLogger in a child process that is a journaled service
// (above), and returns the journal records it sent and what it wrote to standard error.
Captured CaptureJournal(const std::function<void(spdlog::logger&)>& log, bool bind_journal = true) {
  int result[2];
  int err[2];
  EXPECT_EQ(::pipe(result), 0);
  EXPECT_EQ(::pipe(err), 0);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(result[0]);
    ::close(err[0]);
    int journal = -1;
    const std::string failed = BecomeAJournaledService(bind_journal, err[1], &journal);
    ::close(err[1]);
    std::string out;
    if (!failed.empty()) {
      out = "E" + failed;
    } else {
      auto logger = MakeLogger({.format = config::LogFormat::kAuto});
      log(*logger);
      logger->flush();
      out = "R";
      char buf[65536];
      ssize_t n;
      while (journal >= 0 && (n = ::recv(journal, buf, sizeof buf, MSG_DONTWAIT)) > 0) {
        out += std::to_string(n) + "\n" + std::string(buf, static_cast<std::size_t>(n));
      }
    }
    WriteAll(result[1], out);
    ::_exit(0);
  }
  ::close(result[1]);
  ::close(err[1]);
  const std::string out = ReadAll(result[0]);
  Captured c;
  c.stderr_text = ReadAll(err[0]);
  ::close(result[0]);
  ::close(err[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (out.empty() || out[0] != 'R') {
    c.error = out.empty() ? "the child wrote nothing" : out.substr(1);
    return c;
  }
  for (std::size_t at = 1; at < out.size();) {
    const std::size_t nl = out.find('\n', at);
    const std::size_t size = std::stoul(out.substr(at, nl - at));
    c.records.push_back(ParseNative(out.substr(nl + 1, size)));
    at = nl + 1 + size;
  }
  return c;
}

TEST(JournalTest, ARequestsRecordCarriesItsFieldsAndTheOutcomesMessageId) {
  const Captured c = CaptureJournal([](spdlog::logger& l) {
    Log(l, spdlog::level::err, AFinishedRequest(), "request {} for {}: {}", "req-42",
        "alice@example.com", "access_denied: no right");
  });
  ASSERT_EQ(c.error, "");
  ASSERT_EQ(c.records.size(), 1u) << c.stderr_text;
  const auto& r = c.records[0];
  EXPECT_EQ(r.at("MESSAGE"), "request req-42 for alice@example.com: access_denied: no right");
  EXPECT_EQ(r.at("PRIORITY"), "3");
  EXPECT_EQ(r.at("SYSLOG_IDENTIFIER"), "wbagent");
  EXPECT_EQ(r.at("MESSAGE_ID"), OutcomeMessageId("access_denied"));
  EXPECT_EQ(r.at("WBAGENT_EVENT"), "request_finished");
  EXPECT_EQ(r.at("WBAGENT_REQUEST_ID"), "req-42");
  EXPECT_EQ(r.at("WBAGENT_OUTCOME"), "access_denied");
  EXPECT_EQ(r.at("WBAGENT_DIRECTORY"), "corp");
  EXPECT_EQ(r.at("WBAGENT_TARGET"), "alice@example.com");
  EXPECT_EQ(c.stderr_text, "") << "sent to the journal, not also written to its stream";
}

// The fields are the ones passed, not read back from the text.
TEST(JournalTest, FieldsComeFromTheCallerNotFromTheMessageText) {
  const Captured c = CaptureJournal([](spdlog::logger& l) {
    Log(l, spdlog::level::info, {.event = LogEvent::kReady},
        "request req-1 for bob: access_denied in corp");
    l.warn("request req-2 for carol: user_not_found");
  });
  ASSERT_EQ(c.error, "");
  ASSERT_EQ(c.records.size(), 2u);
  EXPECT_EQ(c.records[0].at("MESSAGE_ID"), EventMessageId(LogEvent::kReady));
  EXPECT_EQ(c.records[0].at("PRIORITY"), "6");
  for (const auto& r : c.records) {
    EXPECT_FALSE(r.contains("WBAGENT_REQUEST_ID"));
    EXPECT_FALSE(r.contains("WBAGENT_OUTCOME"));
    EXPECT_FALSE(r.contains("WBAGENT_TARGET"));
  }
  // A plain spdlog call has no kind of event: no MESSAGE_ID, its priority all the same.
  EXPECT_FALSE(c.records[1].contains("MESSAGE_ID"));
  EXPECT_EQ(c.records[1].at("PRIORITY"), "4");
}

TEST(JournalTest, AMessageWithANewlineArrivesWhole) {
  const Captured c = CaptureJournal([](spdlog::logger& l) { l.error("first\nsecond"); });
  ASSERT_EQ(c.error, "");
  ASSERT_EQ(c.records.size(), 1u);
  EXPECT_EQ(c.records[0].at("MESSAGE"), "first\nsecond");
}

TEST(JournalTest, RecordsBelowTheLevelAreNotSent) {
  const Captured c = CaptureJournal([](spdlog::logger& l) {
    Log(l, spdlog::level::debug, {.event = LogEvent::kReady}, "hidden");
    l.debug("hidden too");
  });
  ASSERT_EQ(c.error, "");
  EXPECT_TRUE(c.records.empty());
}

// journald refuses the record (its socket is closed): the record is not lost; it goes to the
// journal's stream with its priority, which journald strips, so `journalctl -p warning`
// still finds it.
TEST(JournalTest, WithoutJournaldEachLineGoesToItsStreamWithItsPriority) {
  const Captured c = CaptureJournal(
      [](spdlog::logger& l) {
        l.info("x");
        l.warn("w");
        Log(l, spdlog::level::err, {.event = LogEvent::kNotStarting}, "e");
      },
      /*bind_journal=*/false);
  ASSERT_EQ(c.error, "");
  EXPECT_TRUE(c.records.empty());
  const std::string& out = c.stderr_text;
  EXPECT_EQ(out.substr(0, 4), "<6>{") << out;
  EXPECT_NE(out.find("\n<4>{"), std::string::npos) << out;
  EXPECT_NE(out.find("\n<3>{"), std::string::npos) << out;
  // And with its fields, as the journal would have had them.
  const std::size_t last = out.find("\n<3>") + 4;
  const auto record = nlohmann::json::parse(out.substr(last, out.find('\n', last) - last));
  EXPECT_EQ(record["event"], "not_starting");
  EXPECT_EQ(record["message_id"], EventMessageId(LogEvent::kNotStarting));
}

TEST(JournalTest, JournalStreamMustNameTheFileOnTheDescriptor) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  struct stat st {};
  ASSERT_EQ(::fstat(fds[1], &st), 0);
  const std::string right = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
  EXPECT_TRUE(IsJournalStream(right.c_str(), fds[1]));
  const std::string other_inode = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino + 1);
  EXPECT_FALSE(IsJournalStream(other_inode.c_str(), fds[1]));
  EXPECT_FALSE(IsJournalStream(nullptr, fds[1]));
  EXPECT_FALSE(IsJournalStream("", fds[1]));
  ::close(fds[0]);
  ::close(fds[1]);
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
