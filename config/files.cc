#include "config/internal/files.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>

#include "common/secret.h"

namespace wb::config::internal {
namespace {

namespace fs = std::filesystem;

std::string Describe(const fs::path& path) { return Quote(path.string()); }

// stat() result, or the problem; nullopt+no problem means "does not exist".
struct StatResult {
  std::optional<struct stat> st;
  Problem problem;
};

StatResult Stat(const fs::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) return {st, std::nullopt};
  const int err = errno;
  if (err == ENOENT || err == ENOTDIR) return {std::nullopt, std::nullopt};
  // NOLINTNEXTLINE(concurrency-mt-unsafe): glibc returns static strings
  return {std::nullopt, Describe(path) + " cannot be examined: " + std::strerror(err)};
}

std::string DoesNotExist(const fs::path& path) { return Describe(path) + " does not exist"; }

}  // namespace

fs::path ResolvePath(const fs::path& config_dir, std::string_view text) {
  fs::path path(text);
  if (path.is_relative()) path = config_dir / path;
  path = path.lexically_normal();
  // "/var/lib/wbagent/" names the same directory as "/var/lib/wbagent"; drop the trailing
  // separator so that parent_path() and comparisons treat them alike.
  if (!path.has_filename() && path.has_relative_path()) path = path.parent_path();
  return path;
}

Problem CheckReadableFile(const fs::path& path) {
  StatResult s = Stat(path);
  if (s.problem) return s.problem;
  if (!s.st) return DoesNotExist(path);
  if (!S_ISREG(s.st->st_mode)) return Describe(path) + " is not a regular file";
  if (::access(path.c_str(), R_OK) != 0) {
    const int err = errno;
    // NOLINTNEXTLINE(concurrency-mt-unsafe): glibc returns static strings
    return Describe(path) + " cannot be read: " + std::strerror(err);
  }
  return std::nullopt;
}

Problem CheckListFile(const fs::path& path, std::uintmax_t max_bytes) {
  if (Problem p = CheckReadableFile(path)) return p;
  StatResult s = Stat(path);
  if (s.problem) return s.problem;
  if (!s.st) return DoesNotExist(path);
  // Whoever may write the list decides which passwords pass.
  if ((s.st->st_mode & S_IWOTH) != 0) return Describe(path) + " is writable by others";
  if (static_cast<std::uintmax_t>(s.st->st_size) > max_bytes) {
    std::string problem = Describe(path);
    problem += " is larger than the limit of ";
    problem += std::to_string(max_bytes);
    problem += " bytes";
    return problem;
  }
  return std::nullopt;
}

Problem CheckSecretFile(const fs::path& path) {
  StatResult s = Stat(path);
  if (s.problem) return s.problem;
  if (!s.st) return DoesNotExist(path);
  // The rule itself (regular file, no group/other bits, owned by us or root) lives in one
  // place, common/secret.cc, so that ReadSecretFile at run time applies the same one.
  if (Status status = CheckSecretFilePermissions(path); !status.ok()) return status.message();
  return std::nullopt;
}

Problem CheckSecretFileIfExists(const fs::path& path) {
  StatResult s = Stat(path);
  if (s.problem) return s.problem;
  if (!s.st) return std::nullopt;
  return CheckSecretFile(path);
}

Problem CheckCreatableDirectory(const fs::path& path) {
  StatResult s = Stat(path);
  if (s.problem) return s.problem;
  if (s.st) {
    if (!S_ISDIR(s.st->st_mode)) return Describe(path) + " exists and is not a directory";
    return std::nullopt;
  }
  const fs::path parent = path.parent_path();
  StatResult p = Stat(parent);
  if (p.problem) return p.problem;
  if (!p.st) {
    return Describe(path) + " does not exist and neither does its parent " + Describe(parent) +
           " (the agent creates only the last component)";
  }
  if (!S_ISDIR(p.st->st_mode)) return Describe(parent) + " is not a directory";
  return std::nullopt;
}

Problem CheckNotADirectory(const fs::path& path) {
  StatResult s = Stat(path);
  if (s.problem) return s.problem;
  if (s.st && !S_ISREG(s.st->st_mode)) return Describe(path) + " is not a regular file";
  return std::nullopt;
}

}  // namespace wb::config::internal
