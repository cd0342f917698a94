#include "agent/logging.h"

#include <spdlog/details/log_msg.h>
#include <spdlog/formatter.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/ansicolor_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>
#include <string>

namespace wb::agent {
namespace {

std::string IsoUtcMillis(spdlog::log_clock::time_point tp) {
  using namespace std::chrono;
  const auto ms = duration_cast<milliseconds>(tp.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];  // room for any int values, so the compiler can prove no truncation
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(ms % 1000));
  return buf;
}

// The level as the config names it ([log] level = "warn"), not spdlog's "warning", so that a
// filter written from the config matches the log.
std::string_view LevelName(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace:
      return config::Name(config::LogLevel::kTrace);
    case spdlog::level::debug:
      return config::Name(config::LogLevel::kDebug);
    case spdlog::level::info:
      return config::Name(config::LogLevel::kInfo);
    case spdlog::level::warn:
      return config::Name(config::LogLevel::kWarn);
    case spdlog::level::err:
      return config::Name(config::LogLevel::kError);
    case spdlog::level::critical:
      return "critical";
    case spdlog::level::off:
    case spdlog::level::n_levels:
      break;
  }
  return "off";
}

// syslog(3) priorities, so that `journalctl -p warning` finds warnings and errors.
int SyslogPriority(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace:
    case spdlog::level::debug:
      return 7;  // LOG_DEBUG
    case spdlog::level::info:
      return 6;  // LOG_INFO
    case spdlog::level::warn:
      return 4;  // LOG_WARNING
    case spdlog::level::err:
      return 3;  // LOG_ERR
    case spdlog::level::critical:
      return 2;  // LOG_CRIT
    case spdlog::level::off:
    case spdlog::level::n_levels:
      break;
  }
  return 6;
}

// One JSON object per record: {"ts","level","logger","msg"}. Invalid UTF-8 in a message is
// replaced rather than producing a line a log shipper cannot parse.
class JsonFormatter final : public spdlog::formatter {
 public:
  explicit JsonFormatter(bool syslog_prefix) : syslog_prefix_(syslog_prefix) {}
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    if (syslog_prefix_) {
      // Appended piece by piece: GCC 12's -Wrestrict misfires on "<" + std::string at -O3.
      std::string prefix(1, '<');
      prefix += std::to_string(SyslogPriority(msg.level));
      prefix += '>';
      dest.append(prefix.data(), prefix.data() + prefix.size());
    }
    nlohmann::json record = {
        {"ts", IsoUtcMillis(msg.time)},
        {"level", std::string(LevelName(msg.level))},
        {"logger", std::string(msg.logger_name.data(), msg.logger_name.size())},
        {"msg", std::string(msg.payload.data(), msg.payload.size())},
    };
    const std::string line =
        record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    dest.append(line.data(), line.data() + line.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>(syslog_prefix_);
  }

 private:
  const bool syslog_prefix_;
};

// True when standard error is the journal's stream (systemd sets JOURNAL_STREAM to its
// "device:inode"): journald then takes a "<N>" prefix as the line's priority and strips it.
bool StderrIsTheJournal() {
  const char* stream = std::getenv("JOURNAL_STREAM");  // NOLINT(concurrency-mt-unsafe)
  struct stat st {};
  if (stream == nullptr || ::fstat(STDERR_FILENO, &st) != 0) return false;
  std::string expected = std::to_string(st.st_dev);
  expected += ':';
  expected += std::to_string(st.st_ino);
  return expected == stream;
}

spdlog::level::level_enum SpdlogLevel(config::LogLevel level) {
  switch (level) {
    case config::LogLevel::kTrace:
      return spdlog::level::trace;
    case config::LogLevel::kDebug:
      return spdlog::level::debug;
    case config::LogLevel::kInfo:
      return spdlog::level::info;
    case config::LogLevel::kWarn:
      return spdlog::level::warn;
    case config::LogLevel::kError:
      return spdlog::level::err;
  }
  return spdlog::level::info;
}

}  // namespace

void ApplyLogLevel(spdlog::logger& logger, config::LogLevel level) {
  logger.set_level(SpdlogLevel(level));
}

std::shared_ptr<spdlog::logger> MakeLogger(const config::LogConfig& settings) {
  const bool text = settings.format == config::LogFormat::kText ||
                    (settings.format == config::LogFormat::kAuto && ::isatty(STDERR_FILENO) == 1);
  std::shared_ptr<spdlog::sinks::sink> sink;
  if (text) {
    sink = std::make_shared<spdlog::sinks::ansicolor_stderr_sink_mt>();
    sink->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%-5l%$ %v");
  } else {
    sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    sink->set_formatter(std::make_unique<JsonFormatter>(StderrIsTheJournal()));
  }
  auto logger = std::make_shared<spdlog::logger>("wbagent", sink);
  ApplyLogLevel(*logger, settings.level);
  logger->flush_on(spdlog::level::info);
  return logger;
}

}  // namespace wb::agent
