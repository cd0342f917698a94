#pragma once
// The service log (not the audit trail): human lines on a terminal, one JSON object per line
// otherwise, so log shippers get structured records (with the fields below, in lower case
// without the WBAGENT_ prefix, and message_id). When standard error is the journal
// (systemd's JOURNAL_STREAM names it), each record goes to journald natively instead, with
// its priority, a stable MESSAGE_ID per kind of event or outcome (explained by the message
// catalog, systemd/wbagent.catalog, so that `journalctl -x` says what to do) and the fields
// WBAGENT_EVENT, WBAGENT_REQUEST_ID, WBAGENT_OUTCOME, WBAGENT_DIRECTORY and WBAGENT_TARGET
// where the record has them: `journalctl -u wbagent WBAGENT_REQUEST_ID=...` finds one request.
//
// Only outcomes are logged, never secret values; text from a peer goes through EscapeForLog.
// The fields come from the LogFields a caller passes (Log), never from parsing the text.

#include <fmt/format.h>
#include <spdlog/logger.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/config.h"

namespace wb::agent {

// A logger that writes to standard error (journald takes it from there). LogFormat::kAuto
// picks text when standard error is a terminal. The caller owns the logger and passes it to
// the components that log.
std::shared_ptr<spdlog::logger> MakeLogger(const config::LogConfig& settings);

// Applies a reloaded level to an existing logger.
void ApplyLogLevel(spdlog::logger& logger, config::LogLevel level);

// The kinds of event the log names. Each has a MESSAGE_ID made from its name (LogEventName):
// never rename one, the catalog is keyed by the id.
enum class LogEvent {
  kStarting,              // "starting"
  kReady,                 // "ready": systemd was told READY=1
  kNotStarting,           // "not_starting": the agent exits at start
  kReloaded,              // "reloaded": a new configuration is in force
  kReloadRefused,         // "reload_refused": the running configuration stays
  kStopping,              // "stopping"
  kStopped,               // "stopped"
  kRequestFinished,       // "request_finished": a request ended (its outcome says how)
  kRequestRetrying,       // "request_retrying": a transient failure, retried with back-off
  kRequestDenied,         // "request_denied": a policy rule refused it; nothing was written
  kRequestWouldDeny,      // "request_would_deny": a log_only rule would have refused it
  kRequestRejected,       // "request_rejected": the envelope failed a check
  kRequestHeld,           // "request_held": the breaker holds it
  kRequestExpired,        // "request_expired": it ran out of time before it could be written
  kRejectionsSummarized,  // "rejections_summarized": a flood of unauthenticated rejections
  kBreakerTripped,        // "breaker_tripped"
  kAuditAppendFailed,     // "audit_append_failed"
  kWatchdogStalled,       // "watchdog_stalled": a thread stopped the watchdog's pings
  kWatchdogRecovered,     // "watchdog_recovered"
  kHaltedByAudit,         // "halted_by_audit": the audit trail failed; the agent acts no more
};
inline constexpr LogEvent kLastLogEvent = LogEvent::kHaltedByAudit;
std::string_view LogEventName(LogEvent event);

// What a record is about, as fields; empty strings are left out.
struct LogFields {
  std::optional<LogEvent> event;  // WBAGENT_EVENT and, without an outcome, the MESSAGE_ID
  std::string request_id;         // WBAGENT_REQUEST_ID: only an authenticated request id
  std::string outcome;            // WBAGENT_OUTCOME: a stable outcome code; its MESSAGE_ID
  std::string directory;          // WBAGENT_DIRECTORY: the directory's name in the config
  std::string target;             // WBAGENT_TARGET: the account as the request names it
};

// 32 lower-case hex digits (a 128-bit id, as journald wants), derived from the name with
// SHA-256 so that the same name always gives the same id: "wbagent-event:" + LogEventName,
// "wbagent-outcome:" + the outcome code.
std::string EventMessageId(LogEvent event);
std::string OutcomeMessageId(std::string_view outcome);
// The record's MESSAGE_ID: its outcome's when it has one, else its event's; "" for neither.
std::string MessageIdFor(const LogFields& fields);

// The journal fields of one record, "NAME=value" each: MESSAGE, PRIORITY (syslog's, from the
// level), SYSLOG_IDENTIFIER, MESSAGE_ID and the WBAGENT_ fields the record has.
std::vector<std::string> JournalFields(spdlog::level::level_enum level, std::string_view message,
                                       const LogFields& fields);

// Logs `message` with its fields: the journal gets them as fields, the JSON lines as keys;
// text on a terminal gets the message alone.
void LogStructured(spdlog::logger& logger, spdlog::level::level_enum level, const LogFields& fields,
                   std::string_view message);

template <typename... Args>
void Log(spdlog::logger& logger, spdlog::level::level_enum level, const LogFields& fields,
         fmt::format_string<Args...> format, Args&&... args) {
  if (!logger.should_log(level)) return;
  LogStructured(logger, level, fields, fmt::format(format, std::forward<Args>(args)...));
}

// True when `journal_stream` (JOURNAL_STREAM's value, "device:inode" in decimal, as
// systemd.exec(5) documents) names the file open on `fd`.
bool IsJournalStream(const char* journal_stream, int fd);

}  // namespace wb::agent
