#include "config/internal/diagnostics.h"

#include <algorithm>
#include <tuple>

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

ConfigErrors Diagnostics::Take() && {
  // Stable: problems at one position keep the order the checks found them in.
  std::stable_sort(errors_.begin(), errors_.end(), [](const ConfigError& a, const ConfigError& b) {
    return std::tie(a.line, a.column) < std::tie(b.line, b.column);
  });
  return std::move(errors_);
}

}  // namespace wb::config::internal
