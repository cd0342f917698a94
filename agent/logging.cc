#include "agent/logging.h"

#include <openssl/evp.h>
#include <spdlog/details/log_msg.h>
#include <spdlog/formatter.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/ansicolor_sink.h>
#include <spdlog/sinks/base_sink.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

#include "common/hex.h"

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

// One JSON object per record: {"ts","level","logger","msg"}, and the record's fields where it
// has them, under the journal's names in lower case without the prefix (event, request_id,
// outcome, directory, target) and message_id, so that a log shipper reading standard error
// gets what the journal gets. Invalid UTF-8 in a message is replaced rather than producing a
// line a log shipper cannot parse.
class JsonFormatter final : public spdlog::formatter {
 public:
  explicit JsonFormatter(bool syslog_prefix) : syslog_prefix_(syslog_prefix) {}
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    Format(msg, LogFields{}, dest);
  }
  void Format(const spdlog::details::log_msg& msg, const LogFields& fields,
              spdlog::memory_buf_t& dest) const {
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
    const auto add = [&record](const char* key, std::string_view value) {
      if (!value.empty()) record[key] = std::string(value);
    };
    if (fields.event) add("event", LogEventName(*fields.event));
    add("request_id", fields.request_id);
    add("outcome", fields.outcome);
    add("directory", fields.directory);
    add("target", fields.target);
    add("message_id", MessageIdFor(fields));
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

// A sink that takes a record's fields (LogStructured gives them); spdlog's own calls reach it
// without any. Both kinds below write to standard error, the journal's as its fallback.
class FieldSink : public spdlog::sinks::base_sink<std::mutex> {
 public:
  void LogWithFields(const spdlog::details::log_msg& msg, const LogFields& fields) {
    std::lock_guard lock(mutex_);
    Write(msg, fields);
  }

 protected:
  // Called with mutex_ held.
  virtual void Write(const spdlog::details::log_msg& msg, const LogFields& fields) = 0;
  static void WriteJson(const JsonFormatter& formatter, const spdlog::details::log_msg& msg,
                        const LogFields& fields) {
    spdlog::memory_buf_t buf;
    formatter.Format(msg, fields, buf);
    std::fwrite(buf.data(), 1, buf.size(), stderr);
  }

 private:
  void sink_it_(const spdlog::details::log_msg& msg) final { Write(msg, LogFields{}); }
  void flush_() final { std::fflush(stderr); }
};

// JSON lines on standard error, with the fields (JsonFormatter).
class JsonStderrSink final : public FieldSink {
 public:
  JsonStderrSink() : formatter_(/*syslog_prefix=*/false) {}

 private:
  void Write(const spdlog::details::log_msg& msg, const LogFields& fields) override {
    WriteJson(formatter_, msg, fields);
  }

  JsonFormatter formatter_;
};

// True when standard error is the journal's stream (systemd sets JOURNAL_STREAM to its
// "device:inode").
bool StderrIsTheJournal() {
  return IsJournalStream(std::getenv("JOURNAL_STREAM"),  // NOLINT(concurrency-mt-unsafe)
                         STDERR_FILENO);
}

// A sink that gives each record to journald with its fields (sd_journal_sendv). Should journald
// refuse one (it is restarting), the record goes to standard error, which is the journal's
// stream, as a JSON line with a "<N>" priority prefix that journald strips.
class JournalSink final : public FieldSink {
 public:
  JournalSink() : fallback_(/*syslog_prefix=*/true) {}

 private:
  void Write(const spdlog::details::log_msg& msg, const LogFields& fields) override {
    const std::vector<std::string> lines =
        JournalFields(msg.level, std::string_view(msg.payload.data(), msg.payload.size()), fields);
    std::vector<iovec> iov;
    iov.reserve(lines.size());
    for (const std::string& line : lines) {
      iov.push_back({const_cast<char*>(line.data()), line.size()});  // NOLINT: read only
    }
    if (sd_journal_sendv(iov.data(), static_cast<int>(iov.size())) >= 0) return;
    WriteJson(fallback_, msg, fields);
  }

  JsonFormatter fallback_;
};

std::string MessageIdOf(std::string_view name) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int size = 0;
  EVP_Digest(name.data(), name.size(), digest.data(), &size, EVP_sha256(), nullptr);
  return HexEncode(std::string_view(reinterpret_cast<const char*>(digest.data()), 16));
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

std::string_view LogEventName(LogEvent event) {
  switch (event) {
    case LogEvent::kStarting:
      return "starting";
    case LogEvent::kReady:
      return "ready";
    case LogEvent::kNotStarting:
      return "not_starting";
    case LogEvent::kReloaded:
      return "reloaded";
    case LogEvent::kReloadRefused:
      return "reload_refused";
    case LogEvent::kStopping:
      return "stopping";
    case LogEvent::kStopped:
      return "stopped";
    case LogEvent::kRequestFinished:
      return "request_finished";
    case LogEvent::kRequestRetrying:
      return "request_retrying";
    case LogEvent::kRequestDenied:
      return "request_denied";
    case LogEvent::kRequestWouldDeny:
      return "request_would_deny";
    case LogEvent::kRequestRejected:
      return "request_rejected";
    case LogEvent::kRequestHeld:
      return "request_held";
    case LogEvent::kRequestExpired:
      return "request_expired";
    case LogEvent::kRejectionsSummarized:
      return "rejections_summarized";
    case LogEvent::kBreakerTripped:
      return "breaker_tripped";
    case LogEvent::kAuditAppendFailed:
      return "audit_append_failed";
    case LogEvent::kWatchdogStalled:
      return "watchdog_stalled";
    case LogEvent::kWatchdogRecovered:
      return "watchdog_recovered";
    case LogEvent::kHaltedByAudit:
      return "halted_by_audit";
  }
  return "";
}

std::string EventMessageId(LogEvent event) {
  std::string name = "wbagent-event:";
  name += LogEventName(event);
  return MessageIdOf(name);
}

std::string OutcomeMessageId(std::string_view outcome) {
  std::string name = "wbagent-outcome:";
  name += outcome;
  return MessageIdOf(name);
}

std::string MessageIdFor(const LogFields& fields) {
  if (!fields.outcome.empty()) return OutcomeMessageId(fields.outcome);
  if (fields.event) return EventMessageId(*fields.event);
  return "";
}

std::vector<std::string> JournalFields(spdlog::level::level_enum level, std::string_view message,
                                       const LogFields& fields) {
  std::vector<std::string> out;
  const auto add = [&out](std::string_view name, std::string_view value) {
    if (value.empty()) return;
    std::string field(name);
    field += '=';
    field += value;
    out.push_back(std::move(field));
  };
  add("MESSAGE", message);
  add("PRIORITY", std::to_string(SyslogPriority(level)));
  add("SYSLOG_IDENTIFIER", "wbagent");
  add("MESSAGE_ID", MessageIdFor(fields));
  if (fields.event) add("WBAGENT_EVENT", LogEventName(*fields.event));
  add("WBAGENT_REQUEST_ID", fields.request_id);
  add("WBAGENT_OUTCOME", fields.outcome);
  add("WBAGENT_DIRECTORY", fields.directory);
  add("WBAGENT_TARGET", fields.target);
  return out;
}

void LogStructured(spdlog::logger& logger, spdlog::level::level_enum level, const LogFields& fields,
                   std::string_view message) {
  if (!logger.should_log(level)) return;
  const spdlog::details::log_msg msg(logger.name(), level, message);
  for (const auto& sink : logger.sinks()) {
    if (!sink->should_log(level)) continue;
    if (auto* with_fields = dynamic_cast<FieldSink*>(sink.get())) {
      with_fields->LogWithFields(msg, fields);
    } else {
      sink->log(msg);
    }
  }
  if (level >= logger.flush_level()) logger.flush();
}

bool IsJournalStream(const char* journal_stream, int fd) {
  struct stat st {};
  if (journal_stream == nullptr || ::fstat(fd, &st) != 0) return false;
  std::string expected = std::to_string(st.st_dev);
  expected += ':';
  expected += std::to_string(st.st_ino);
  return expected == journal_stream;
}

void ApplyLogLevel(spdlog::logger& logger, config::LogLevel level) {
  logger.set_level(SpdlogLevel(level));
}

std::shared_ptr<spdlog::logger> MakeLogger(const config::LogConfig& settings) {
  const bool text = settings.format == config::LogFormat::kText ||
                    (settings.format == config::LogFormat::kAuto && ::isatty(STDERR_FILENO) == 1);
  std::shared_ptr<spdlog::sinks::sink> sink;
  if (StderrIsTheJournal()) {
    sink = std::make_shared<JournalSink>();
  } else if (text) {
    sink = std::make_shared<spdlog::sinks::ansicolor_stderr_sink_mt>();
    sink->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%-5l%$ %v");
  } else {
    sink = std::make_shared<JsonStderrSink>();
  }
  auto logger = std::make_shared<spdlog::logger>("wbagent", sink);
  ApplyLogLevel(*logger, settings.level);
  logger->flush_on(spdlog::level::info);
  return logger;
}

}  // namespace wb::agent
