#include "config/internal/diagnostics.h"

#include <algorithm>
#include <tuple>
#include <utility>

#include "common/log_escape.h"

namespace wb::config::internal {

void Diagnostics::Add(Location at, std::string key, std::string problem) {
  errors_.push_back(ConfigError{.file = file_,
                                .line = at.line,
                                .column = at.column,
                                .key = std::move(key),
                                .problem = std::move(problem)});
}

std::string Quote(std::string_view text) {
  std::string quoted = "\"";
  quoted += EscapeForLog(text, 200);
  quoted += '"';
  return quoted;
}

void Diagnostics::Warn(Location at, std::string key, std::string what) {
  warnings_.push_back(ConfigError{.file = file_,
                                  .line = at.line,
                                  .column = at.column,
                                  .key = std::move(key),
                                  .problem = std::move(what)});
}

namespace {

// Stable: entries at one position keep the order the checks found them in.
ConfigErrors ByPosition(ConfigErrors entries) {
  std::stable_sort(entries.begin(), entries.end(), [](const ConfigError& a, const ConfigError& b) {
    return std::tie(a.line, a.column) < std::tie(b.line, b.column);
  });
  return entries;
}

}  // namespace

ConfigErrors Diagnostics::Take() && { return ByPosition(std::move(errors_)); }

ConfigErrors Diagnostics::TakeWarnings() { return ByPosition(std::exchange(warnings_, {})); }

}  // namespace wb::config::internal
