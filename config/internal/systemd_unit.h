#pragma once
// Internal to config/: where systemd takes a credential from. `wbagent check-config` runs
// outside the unit, where $CREDENTIALS_DIRECTORY does not exist; it reads the installed unit
// the way systemd would, to check the file that systemd will hand over.

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace wb::config::internal {

// One LoadCredential=NAME:SOURCE line.
struct CredentialSource {
  std::string source;               // as written after the colon; "" when there is none
  std::filesystem::path unit_file;  // the file that holds the line that counts
  int line = 0;                     // 1-based
};

// The LoadCredential= line for `name` that systemd would use for `unit_name`: the unit file
// is the first one found along `unit_path`, its drop-ins are <dir>/<unit_name>.d/*.conf in
// every directory of the path (for one file name, the earliest directory wins), read in file
// name order after the unit. A later line for the same name wins; an empty LoadCredential=
// forgets the earlier ones. Only [Service] is read. Fails, in words for the administrator,
// when the unit is not found or names no such credential.
Result<CredentialSource, std::string> FindLoadCredential(
    const std::vector<std::filesystem::path>& unit_path, std::string_view unit_name,
    std::string_view name);

}  // namespace wb::config::internal
