#include "queue/fs_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>

namespace wb::queue {

Status WriteAllAndSync(int fd, std::string_view data, const std::filesystem::path& path) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus(errno, "writing " + path.string());
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  if (::fsync(fd) != 0) return ErrnoStatus(errno, "syncing " + path.string());
  return Status::Ok();
}

Status SyncDirectory(const std::filesystem::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "opening " + dir.string());
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return ErrnoStatus(err, "syncing " + dir.string());
  return Status::Ok();
}

Status EnsureDirectory(const std::filesystem::path& dir) {
  if (::mkdir(dir.c_str(), 0700) == 0 || errno == EEXIST) {
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0) return ErrnoStatus(errno, dir.string());
    if (!S_ISDIR(st.st_mode)) return InvalidArgument(dir.string() + " is not a directory");
    return Status::Ok();
  }
  return ErrnoStatus(errno, "creating state directory " + dir.string());
}

Status EnsureFileMode(const std::filesystem::path& path, mode_t mode) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0) return ErrnoStatus(errno, "opening " + path.string());
  struct stat st {};
  int rc = ::fstat(fd, &st);
  if (rc == 0 && (st.st_mode & 07777 & ~mode) != 0) rc = ::fchmod(fd, st.st_mode & mode);
  int err = errno;
  ::close(fd);
  if (rc != 0) return ErrnoStatus(err, "setting the mode of " + path.string());
  return Status::Ok();
}

}  // namespace wb::queue
