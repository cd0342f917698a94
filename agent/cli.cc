#include <CLI/CLI.hpp>
#include <string>

#include "agent/agent.h"
#include "agent/commands.h"
#include "common/version.h"

namespace wb::agent {
namespace {

constexpr char kDefaultConfig[] = "/etc/wbagent/wbagent.toml";

CLI::App* AddConfigVerb(CLI::App& app, const char* name, const char* description,
                        std::string& config_path) {
  CLI::App* verb = app.add_subcommand(name, description);
  verb->add_option("-c,--config", config_path, "Configuration file")->capture_default_str();
  return verb;
}

}  // namespace

int Main(int argc, char** argv) {
  CLI::App app{"wbagent: on-premises password writeback agent", "wbagent"};
  app.set_version_flag("--version", std::string("wbagent ") + kVersion);
  app.require_subcommand(1);
  std::string config_path = kDefaultConfig;
  CLI::App* check = AddConfigVerb(
      app, "check-config", "Validate a configuration file, print every problem, and exit",
      config_path);
  CLI::App* run = AddConfigVerb(
      app, "run", "Run the agent in the foreground (as systemd starts it)", config_path);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version are "errors" with exit code 0 in CLI11; the rest are usage errors.
    return app.exit(e) == 0 ? kExitOk : kExitUsage;
  }
  if (check->parsed()) return CheckConfigCommand(config_path);
  if (run->parsed()) return RunDaemonCommand(config_path);
  return kExitUsage;
}

}  // namespace wb::agent
