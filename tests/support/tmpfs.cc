#include "tests/support/tmpfs.h"

#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>

#include "tests/support/process.h"

namespace wb::testing {

Result<std::unique_ptr<SmallTmpfs>> SmallTmpfs::Mount(const std::filesystem::path& dir,
                                                      const std::string& size) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Internal("create " + dir.string() + ": " + ec.message());
  const std::string options = "size=" + size + ",mode=0700";
  if (::mount("tmpfs", dir.c_str(), "tmpfs", 0, options.c_str()) != 0) {
    return ErrnoStatus(errno, "mount a tmpfs at " + dir.string() + " (needs root)");
  }
  return std::unique_ptr<SmallTmpfs>(new SmallTmpfs(dir));
}

Status SmallTmpfs::SetReadOnly(bool read_only) {
  unsigned long flags = MS_REMOUNT;
  if (read_only) flags |= MS_RDONLY;
  if (::mount("tmpfs", dir_.c_str(), "tmpfs", flags, nullptr) != 0) {
    return ErrnoStatus(errno, "remount " + dir_.string());
  }
  return Status::Ok();
}

SmallTmpfs::~SmallTmpfs() { ::umount2(dir_.c_str(), MNT_DETACH); }

bool TmpfsIsRequired() { return InCi() && ::geteuid() == 0; }

}  // namespace wb::testing
