#include "common/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>

namespace wb {
namespace {

Status WriteAll(int fd, std::string_view data, const std::string& what) {
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus(errno, "write " + what);
    done += static_cast<std::size_t>(n);
  }
  return Status::Ok();
}

}  // namespace

Status SyncDirectory(const std::filesystem::path& dir) {
  const std::filesystem::path d = dir.empty() ? std::filesystem::path(".") : dir;
  const int fd = ::open(d.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "open " + d.string());
  Status s = ::fsync(fd) == 0 ? Status::Ok() : ErrnoStatus(errno, "fsync " + d.string());
  ::close(fd);
  return s;
}

Status WriteFileAtomic(const std::filesystem::path& path, std::string_view content, mode_t mode) {
  std::string tmp = path.string() + ".tmp.XXXXXX";
  const int fd = ::mkostemp(tmp.data(), O_CLOEXEC);  // created 0600, never a shared name
  if (fd < 0) return ErrnoStatus(errno, "create " + tmp);
  Status s = ::fchmod(fd, mode) == 0 ? Status::Ok() : ErrnoStatus(errno, "chmod " + tmp);
  if (s.ok()) s = WriteAll(fd, content, tmp);
  if (s.ok() && ::fsync(fd) != 0) s = ErrnoStatus(errno, "fsync " + tmp);
  if (::close(fd) != 0 && s.ok()) s = ErrnoStatus(errno, "close " + tmp);
  if (s.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) {
    s = ErrnoStatus(errno, "rename " + tmp + " to " + path.string());
  }
  if (!s.ok()) {
    ::unlink(tmp.c_str());
    return s;
  }
  return SyncDirectory(path.parent_path());
}

}  // namespace wb
