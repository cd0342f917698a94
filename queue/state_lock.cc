#include "queue/state_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <string>

namespace wb::queue {

namespace {

std::string ReadHolderPid(int fd) {
  char buf[32] = {};
  ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
  std::string pid;
  for (ssize_t i = 0; i < n && buf[i] >= '0' && buf[i] <= '9'; ++i) pid += buf[i];
  return pid;
}

Status Busy(const std::filesystem::path& dir, int fd) {
  std::string pid = ReadHolderPid(fd);
  std::string m = "state directory " + dir.string() + " is in use by another wbagent";
  if (!pid.empty()) m += " (pid " + pid + ")";
  m += "; only one agent may use a state directory";
  return FailedPrecondition(std::move(m));
}

Status WritePid(int fd, const std::filesystem::path& path) {
  std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) != 0 ||
      ::pwrite(fd, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    return ErrnoStatus(errno, "writing " + path.string());
  }
  return Status::Ok();
}

}  // namespace

Result<StateLock> StateLock::Acquire(const std::filesystem::path& state_dir) {
  const std::filesystem::path path = state_dir / kLockFileName;
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return ErrnoStatus(errno, "opening " + path.string());
  StateLock lock(fd);  // closes fd on every path below
  while (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EINTR) continue;
    if (errno == EWOULDBLOCK) return Busy(state_dir, fd);
    return ErrnoStatus(errno, "locking " + path.string());
  }
  WB_RETURN_IF_ERROR(WritePid(fd, path));
  return lock;
}

StateLock::~StateLock() {
  if (fd_ >= 0) ::close(fd_);  // releases the flock
}

}  // namespace wb::queue
