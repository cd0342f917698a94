#include "agent/command_suggest.h"

#include "common/log_escape.h"
#include "common/suggest.h"

namespace wb::agent {
namespace {

std::vector<std::string> Names(const std::vector<CLI::App*>& commands) {
  std::vector<std::string> names;
  names.reserve(commands.size());
  for (const CLI::App* c : commands) names.push_back(c->get_name());
  return names;
}

// The closest command when one is near enough, else all of them.
std::string Hint(const std::string& where, const std::string& word,
                 const std::vector<std::string>& names) {
  std::string hint = where;
  hint += ": unknown command \"";
  hint += EscapeForLog(word, 64);
  if (std::optional<std::string> near = Suggest(word, names)) {
    hint += "\"; did you mean \"";
    hint += *near;
    hint += "\"?";
    return hint;
  }
  hint += "\"; the commands are:";
  for (std::size_t i = 0; i < names.size(); ++i) {
    hint += i == 0 ? " " : ", ";
    hint += names[i];
  }
  return hint;
}

}  // namespace

std::optional<std::string> UnknownCommandHint(CLI::App& app, const std::vector<std::string>& args) {
  CLI::App* level = &app;
  std::string where = app.get_name();
  for (const std::string& word : args) {
    if (word.empty() || word.front() == '-') return std::nullopt;
    const std::vector<CLI::App*> commands = level->get_subcommands({});
    if (commands.empty()) return std::nullopt;  // a verb's own argument, not a command
    CLI::App* next = nullptr;
    for (CLI::App* c : commands) {
      if (c->check_name(word)) next = c;
    }
    if (next == nullptr) return Hint(where, word, Names(commands));
    level = next;
    where += " " + next->get_name();
  }
  return std::nullopt;
}

}  // namespace wb::agent
