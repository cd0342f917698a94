#pragma once
// One function per wbagent verb. Each returns the process exit code (see agent.h).

#include <filesystem>
#include <string>

namespace wb::agent {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

int CheckConfigCommand(const std::filesystem::path& config_file);
int RunDaemonCommand(const std::filesystem::path& config_file);
// `wbagent register` (register_command.cc): enrolls the agent with a one-time token.
int RegisterCommand(const std::filesystem::path& config_file, const std::string& token, bool force);

// `wbagent audit verify` and `wbagent audit query` (audit_commands.cc). An empty path is taken
// from the config (audit.file, audit.key_file, <agent.state_dir>/audit.checkpoint); the
// config is read only when one is needed. Exit 1: the trail failed verification or cannot be
// read; 2: bad arguments, config or key.
struct AuditVerifyArgs {
  std::filesystem::path config_file;
  std::filesystem::path file;
  std::filesystem::path key_file;
  std::filesystem::path checkpoint;
  bool no_checkpoint = false;
};
int AuditVerifyCommand(const AuditVerifyArgs& args);

struct AuditQueryArgs {
  std::filesystem::path config_file;
  std::filesystem::path file;
  std::string since;  // UTC, see wb::audit::ParseTime; empty: no bound
  std::string until;
  std::string user;
  std::string request;
  std::string outcome;
  std::string format = "table";  // table, json or csv
};
int AuditQueryCommand(const AuditQueryArgs& args);

}  // namespace wb::agent
