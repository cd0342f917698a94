#pragma once
// The service log (not the audit trail): human lines on a terminal, one JSON object per line
// otherwise, so journald and log shippers get structured records.
//
// Only outcomes are logged, never secret values; text from a peer goes through EscapeForLog.

#include <spdlog/logger.h>

#include <memory>

#include "config/config.h"

namespace wb::agent {

// A logger that writes to standard error (journald takes it from there). LogFormat::kAuto
// picks text when standard error is a terminal. The caller owns the logger and passes it to
// the components that log.
std::shared_ptr<spdlog::logger> MakeLogger(const config::LogConfig& settings);

// Applies a reloaded level to an existing logger.
void ApplyLogLevel(spdlog::logger& logger, config::LogLevel level);

}  // namespace wb::agent
