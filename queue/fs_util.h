#pragma once
// Small POSIX file helpers for the state directory. errno becomes Status here.

#include <sys/types.h>

#include <filesystem>
#include <string_view>

#include "common/status.h"

namespace wb::queue {

// Writes all of `data` to `fd` and fsyncs it. `path` names the file in errors.
Status WriteAllAndSync(int fd, std::string_view data, const std::filesystem::path& path);

// fsyncs a directory, so entries created in it survive a crash.
Status SyncDirectory(const std::filesystem::path& dir);

// Creates `dir` with mode 0700 if it does not exist (its parent must exist).
Status EnsureDirectory(const std::filesystem::path& dir);

// Creates `path` with `mode` if absent; if present, removes group/other permission bits.
Status EnsureFileMode(const std::filesystem::path& path, mode_t mode);

}  // namespace wb::queue
