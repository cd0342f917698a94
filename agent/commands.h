#pragma once
// One function per wbagent verb. Each returns the process exit code (see agent.h).

#include <filesystem>

namespace wb::agent {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

int CheckConfigCommand(const std::filesystem::path& config_file);
int RunDaemonCommand(const std::filesystem::path& config_file);

}  // namespace wb::agent
