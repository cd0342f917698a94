#include <cstdio>
#include <string>

#include "agent/commands.h"
#include "agent/open.h"
#include "common/clock.h"
#include "config/config.h"

namespace wb::agent {

// Like `sshd -t`: validate and say everything that is wrong, then exit.
int CheckConfigCommand(const std::filesystem::path& config_file) {
  auto loaded = config::LoadConfig(
      config_file, config::LoadOptions::FromEnvironment(config::SecretChecks::kExamine));
  if (!loaded.ok()) {
    for (const auto& error : loaded.error()) std::fprintf(stderr, "%s\n", error.ToString().c_str());
    std::fprintf(stderr, "%s: %zu problem%s found\n", config_file.c_str(), loaded.error().size(),
                 loaded.error().size() == 1 ? "" : "s");
    return kExitUsage;
  }
  // The files the policy reads at its start (each banned_words_file's terms, each breached
  // list's header), as the daemon's start and reload open them: a file that passes the
  // loader's checks of size and mode may still be refused for what it holds.
  if (Status files = CheckPolicyFiles(*loaded, SystemClock()); !files.ok()) {
    std::fprintf(stderr, "%s: the policy's files: %s\n", config_file.c_str(),
                 files.ToString().c_str());
    std::fprintf(stderr, "%s: 1 problem found\n", config_file.c_str());
    return kExitUsage;
  }
  // Warnings do not change the exit status: the config is valid, and the daemon runs it.
  for (const auto& warning : loaded->warnings) {
    std::fprintf(stderr, "warning: %s\n", warning.ToString().c_str());
  }
  std::printf("%s: OK (%zu director%s)\n", config_file.c_str(), loaded->directories.size(),
              loaded->directories.size() == 1 ? "y" : "ies");
  // Says which file stood for each credential: the copy inside the unit, or its source.
  for (const config::DirectoryConfig& d : loaded->directories) {
    if (d.bind_password_credential && d.bind_password_file) {
      std::printf("  directory %s: credential \"%s\" checked at %s\n", d.name.c_str(),
                  d.bind_password_credential->c_str(), d.bind_password_file->c_str());
    }
  }
  return kExitOk;
}

}  // namespace wb::agent
