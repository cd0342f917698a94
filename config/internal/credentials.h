#pragma once
// Internal to config/: directory.bind_password_credential, a systemd credential named in the
// config (config.h, LoadOptions, says where it is looked for).

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "config/internal/sections.h"

namespace wb::config::internal {

// A systemd credential name: a file name in $CREDENTIALS_DIRECTORY, and without ':' (which
// ends the name in LoadCredential=NAME:PATH).
Problem CheckCredentialName(std::string_view name);

// `problem` with a pointer to bind_password_credential when `path` is under /run/credentials:
// that file exists only inside the running unit, so every command run by hand fails on it.
Problem WithCredentialHint(const std::filesystem::path& path, Problem problem);

// The credential's file and any problem with it. Under systemd, $CREDENTIALS_DIRECTORY/NAME;
// otherwise, with secrets examined, the source of the installed unit's LoadCredential=NAME:
// line (file unset, and a problem saying why, when there is none); with secrets skipped
// outside systemd, neither.
struct ResolvedCredential {
  std::optional<std::filesystem::path> file;
  Problem problem;
};
ResolvedCredential ResolveCredential(const LoadContext& ctx, const std::string& name);

}  // namespace wb::config::internal
