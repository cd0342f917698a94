#pragma once
// Internal to config/: checks against the file system. They stat() files and never open
// them, so a secret file's contents are never read by the loader.

#include <cstdint>
#include <filesystem>
#include <string_view>

#include "config/internal/validate.h"

namespace wb::config::internal {

// `text` as an absolute, lexically normal path: an absolute one as is, a relative one joined
// to `config_dir` (the directory that holds the config file).
std::filesystem::path ResolvePath(const std::filesystem::path& config_dir, std::string_view text);

// A regular file this process can read: CA files, client certificates.
Problem CheckReadableFile(const std::filesystem::path& path);

// A readable regular file of at most `max_bytes` that others may not write: files of terms
// and hashes the agent trusts (the banned-words and breached-password files).
Problem CheckListFile(const std::filesystem::path& path, std::uintmax_t max_bytes);

// An existing file that passes wb::CheckSecretFilePermissions.
Problem CheckSecretFile(const std::filesystem::path& path);

// As CheckSecretFile when the file exists; a file that does not exist yet is fine (the agent
// creates it, 0600, at first start).
Problem CheckSecretFileIfExists(const std::filesystem::path& path);

// A directory that exists, or whose parent exists so that the agent can create it.
Problem CheckCreatableDirectory(const std::filesystem::path& path);

// Not an existing directory or other non-regular file (the agent appends to it).
Problem CheckNotADirectory(const std::filesystem::path& path);

}  // namespace wb::config::internal
