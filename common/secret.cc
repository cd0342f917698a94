#include "common/secret.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <string>

namespace wb {

void WipeBytes(void* data, std::size_t size) {
  if (data != nullptr && size > 0) OPENSSL_cleanse(data, size);
}

Secret::Secret(std::string_view bytes) : bytes_(bytes.begin(), bytes.end()) {}

Secret::~Secret() { Wipe(); }

Secret::Secret(Secret&& other) noexcept : bytes_(std::move(other.bytes_)) { other.Wipe(); }

Secret& Secret::operator=(Secret&& other) noexcept {
  if (this != &other) {
    Wipe();
    bytes_ = std::move(other.bytes_);
    other.Wipe();
  }
  return *this;
}

void Secret::Wipe() {
  // Swapping with an empty vector frees the buffer now; freeing secure memory wipes it.
  std::vector<char, SecureAllocator<char>>().swap(bytes_);
}

namespace {

Status CheckMode(const std::filesystem::path& path, const struct stat& st) {
  if (!S_ISREG(st.st_mode)) {
    return InvalidArgument(path.string() + " is not a regular file");
  }
  if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return PermissionDenied(path.string() + " has mode " + mode +
                            "; secret files must not be accessible by group or others "
                            "(chmod 600)");
  }
  if (st.st_uid != ::geteuid() && st.st_uid != 0) {
    return PermissionDenied(path.string() + " is owned by uid " + std::to_string(st.st_uid) +
                            ", not by this user or root");
  }
  return Status::Ok();
}

}  // namespace

Status CheckSecretFilePermissions(const std::filesystem::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return ErrnoStatus(errno, path.string());
  return CheckMode(path, st);
}

Result<Secret> ReadSecretFile(const std::filesystem::path& path) {
  // O_NONBLOCK: a FIFO planted at the path would otherwise hold the open (and the agent's
  // start) until something writes to it; opened at once, it is refused below as not a regular
  // file. On a regular file the flag changes nothing.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) return ErrnoStatus(errno, path.string());
  struct stat st {};
  // fstat on the opened descriptor: the checked file is the file read.
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return ErrnoStatus(err, path.string());
  }
  if (Status s = CheckMode(path, st); !s.ok()) {
    ::close(fd);
    return s;
  }
  constexpr std::size_t kMaxSecret = 64 * 1024;
  // Secure memory from the first byte read: the scratch buffer holds the secret too.
  SecureString buf = MakeSecureString(kMaxSecret);
  buf.resize(kMaxSecret);
  std::size_t len = 0;
  while (len < buf.size()) {
    ssize_t n = ::read(fd, buf.data() + len, buf.size() - len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      return ErrnoStatus(err, path.string());
    }
    if (n == 0) break;
    len += static_cast<std::size_t>(n);
  }
  ::close(fd);
  if (len == buf.size()) {
    return InvalidArgument(path.string() + " is larger than 64 KiB; not a secret file");
  }
  if (len > 0 && buf[len - 1] == '\n') --len;
  if (len > 0 && buf[len - 1] == '\r') --len;
  return Secret(std::string_view(buf.data(), len));
}

}  // namespace wb
