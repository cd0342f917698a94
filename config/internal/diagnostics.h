#pragma once
// Internal to config/: where a problem is, and the list the whole load appends problems to.

#include <string>
#include <string_view>
#include <utility>

#include "config/config.h"

namespace wb::config::internal {

// A 1-based position in the config file; 0 means unknown.
struct Location {
  int line = 0;
  int column = 0;
};

// Collects every problem of one load. Checks keep going after a problem so that one run of
// check-config shows them all.
class Diagnostics {
 public:
  explicit Diagnostics(std::string file) : file_(std::move(file)) {}

  void Add(Location at, std::string key, std::string problem);
  // A key that is accepted but has no effect yet, or a valid setting that denies what it
  // seems to allow (Config::warnings): not a problem.
  void Warn(Location at, std::string key, std::string what);

  bool empty() const { return errors_.empty(); }

  // The problems, ordered by position so the output reads top to bottom like the file.
  ConfigErrors Take() &&;
  // The warnings, in the same order.
  ConfigErrors TakeWarnings();

 private:
  std::string file_;
  ConfigErrors errors_;
  ConfigErrors warnings_;
};

// A value from the file, quoted and escaped for a message.
std::string Quote(std::string_view text);

}  // namespace wb::config::internal
