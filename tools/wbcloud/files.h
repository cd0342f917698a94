#pragma once
// Small file helpers for wbcloud's state directory.

#include <filesystem>
#include <string>
#include <string_view>

#include "common/files.h"  // WriteFileAtomic, for the state directory
#include "common/status.h"

namespace wb::cloud {

// Reads a file of at most `max_bytes`; kNotFound when it does not exist.
Result<std::string> ReadFile(const std::filesystem::path& path,
                             std::size_t max_bytes = 16 * 1024 * 1024);

// Creates `dir` with mode 0700 when missing.
Status EnsurePrivateDirectory(const std::filesystem::path& dir);

// An exclusive advisory lock on `path` (created 0600), released when destroyed.
class FileLock {
 public:
  // kFailedPrecondition when `wait` is false and another process holds the lock.
  static Result<FileLock> Acquire(const std::filesystem::path& path, bool wait);
  FileLock(FileLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  FileLock& operator=(FileLock&&) = delete;
  FileLock(const FileLock&) = delete;
  ~FileLock();

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace wb::cloud
