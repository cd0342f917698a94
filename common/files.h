#pragma once
// Files whose content must be all old or all new after a crash (state, keys, checkpoints).

#include <sys/types.h>

#include <filesystem>
#include <string_view>

#include "common/status.h"

namespace wb {

// Writes `content` to a new temporary file beside `path` (unique name, created with `mode`
// exactly, not widened by the umask), fsyncs it, renames it over `path` and fsyncs the
// directory. After a crash `path` holds the old content or the new, never a mix. The
// temporary file is removed on failure.
Status WriteFileAtomic(const std::filesystem::path& path, std::string_view content, mode_t mode);

// fsync of a directory, so a rename or a new file in it survives a crash.
Status SyncDirectory(const std::filesystem::path& dir);

}  // namespace wb
