#pragma once
// "did you mean" for a misspelt command: `wbagent stauts`, `wbagent audit qeury`.

#include <CLI/CLI.hpp>
#include <optional>
#include <string>
#include <vector>

namespace wb::agent {

// When `args` (argv without the program name) name a command that `app` does not have at
// some level: the closest command at that level when it is a likely typo (common/suggest.h),
// else the commands there:
//   wbagent audit: unknown command "qeury"; did you mean "query"?
//   wbagent: unknown command "frobnicate"; the commands are: check-config, run, ...
// nullopt when the commands are right (CLI11's own error then says what is wrong). Only the
// leading command words are looked at; the first option ends them.
std::optional<std::string> UnknownCommandHint(CLI::App& app, const std::vector<std::string>& args);

}  // namespace wb::agent
