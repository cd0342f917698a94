#pragma once
// Test support: a small tmpfs, for a real full disk under the code being tested. Mounting needs
// root: a test skips outside CI when it cannot mount, and fails in CI when it runs as root.

#include <filesystem>
#include <memory>
#include <string>

#include "common/status.h"

namespace wb::testing {

class SmallTmpfs {
 public:
  // Mounts a tmpfs of `size` (mount(8) syntax, e.g. "256k") at `dir`, creating `dir`.
  static Result<std::unique_ptr<SmallTmpfs>> Mount(const std::filesystem::path& dir,
                                                   const std::string& size);
  ~SmallTmpfs();  // lazy unmount
  SmallTmpfs(const SmallTmpfs&) = delete;
  SmallTmpfs& operator=(const SmallTmpfs&) = delete;
  const std::filesystem::path& path() const { return dir_; }
  // Remounts it read-only (every write fails with EROFS, root's too) or read-write again.
  Status SetReadOnly(bool read_only);

 private:
  explicit SmallTmpfs(std::filesystem::path dir) : dir_(std::move(dir)) {}
  std::filesystem::path dir_;
};

// For the caller's gate: whether a failed Mount must fail the test (CI, as root).
bool TmpfsIsRequired();

}  // namespace wb::testing
