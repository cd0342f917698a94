#include "audit/internal/files.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>

#include "common/files.h"

namespace wb::audit::internal {
namespace {

constexpr std::size_t kIndexDigits = 6;

// The index of a rotated file name "<base>.NNNNNN" (six or more digits), or 0.
std::uint64_t RotatedIndex(std::string_view name, std::string_view base) {
  if (name.size() < base.size() + 1 + kIndexDigits || name.substr(0, base.size()) != base ||
      name[base.size()] != '.') {
    return 0;
  }
  std::string_view digits = name.substr(base.size() + 1);
  if (digits.size() > 18) return 0;
  std::uint64_t index = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return 0;
    index = index * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return index;
}

std::filesystem::path ParentOf(const std::filesystem::path& path) {
  std::filesystem::path dir = path.parent_path();
  return dir.empty() ? std::filesystem::path(".") : dir;
}

}  // namespace

Fd::~Fd() {
  if (fd_ >= 0) ::close(fd_);
}

Fd& Fd::operator=(Fd&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.Release();
  }
  return *this;
}

int Fd::Release() {
  const int fd = fd_;
  fd_ = -1;
  return fd;
}

std::filesystem::path RotatedPath(const std::filesystem::path& active, std::uint64_t index) {
  char suffix[32];
  std::snprintf(suffix, sizeof suffix, ".%06llu", static_cast<unsigned long long>(index));
  std::filesystem::path path = active;
  path += suffix;
  return path;
}

Result<std::vector<TrailFile>> ListTrail(const std::filesystem::path& active) {
  const std::filesystem::path dir = ParentOf(active);
  const std::string base = active.filename().string();
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return ErrnoStatus(errno, dir.string());
  std::vector<TrailFile> files;
  bool has_active = false;
  errno = 0;
  while (const dirent* entry = ::readdir(d)) {
    std::string_view name = entry->d_name;
    if (name == base) {
      has_active = true;
    } else if (std::uint64_t index = RotatedIndex(name, base); index > 0) {
      files.push_back({dir / std::string(name), index});
    }
  }
  const int err = errno;
  ::closedir(d);
  if (err != 0) return ErrnoStatus(err, dir.string());
  std::sort(files.begin(), files.end(),
            [](const TrailFile& a, const TrailFile& b) { return a.index < b.index; });
  if (has_active) files.push_back({active, 0});
  return files;
}

Status MakeDirs(const std::filesystem::path& dir) {
  if (dir.empty()) return Status::Ok();
  struct stat st {};
  if (::stat(dir.c_str(), &st) == 0) {
    return S_ISDIR(st.st_mode) ? Status::Ok()
                               : FailedPrecondition(dir.string() + " is not a directory");
  }
  if (errno != ENOENT) return ErrnoStatus(errno, dir.string());
  if (dir.has_parent_path() && dir.parent_path() != dir) {
    WB_RETURN_IF_ERROR(MakeDirs(dir.parent_path()));
  }
  if (::mkdir(dir.c_str(), 0750) != 0 && errno != EEXIST) return ErrnoStatus(errno, dir.string());
  return SyncDir(ParentOf(dir));
}

Status SyncDir(const std::filesystem::path& dir) {
  auto fd = OpenFile(dir, O_RDONLY | O_DIRECTORY);
  if (!fd.ok()) return fd.error();
  if (::fsync(fd->get()) != 0) return ErrnoStatus(errno, "fsync " + dir.string());
  return Status::Ok();
}

Status WriteAll(int fd, std::string_view data, std::string_view what) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus(errno, "write " + std::string(what));
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return Status::Ok();
}

Result<Fd> OpenFile(const std::filesystem::path& path, int flags, mode_t mode) {
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  if (fd < 0) return ErrnoStatus(errno, path.string());
  return Fd(fd);
}

Result<std::uint64_t> FileSize(int fd, std::string_view what) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return ErrnoStatus(errno, std::string(what));
  return static_cast<std::uint64_t>(st.st_size);
}

Result<std::string> ReadTail(int fd, std::uint64_t size, std::size_t max_bytes,
                             std::string_view what) {
  const std::uint64_t start = size > max_bytes ? size - max_bytes : 0;
  std::string data(static_cast<std::size_t>(size - start), '\0');
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n =
        ::pread(fd, data.data() + done, data.size() - done, static_cast<off_t>(start + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus(errno, "read " + std::string(what));
    if (n == 0) break;
    done += static_cast<std::size_t>(n);
  }
  data.resize(done);
  return data;
}

Status WriteFileAtomically(const std::filesystem::path& path, std::string_view data, mode_t mode) {
  return WriteFileAtomic(path, data, mode);
}

Result<std::string> ReadSmallFile(const std::filesystem::path& path, std::size_t max_bytes) {
  auto fd = OpenFile(path, O_RDONLY | O_NOFOLLOW);
  if (!fd.ok()) return fd.error();
  auto size = FileSize(fd->get(), path.string());
  if (!size.ok()) return size.error();
  if (*size > max_bytes) {
    return Status(Code::kCorruption, path.string() + " is larger than expected");
  }
  return ReadTail(fd->get(), *size, max_bytes, path.string());
}

Result<LineReader> LineReader::Open(const std::filesystem::path& path) {
  auto fd = OpenFile(path, O_RDONLY);
  if (!fd.ok()) return fd.error();
  return LineReader(std::move(*fd), path);
}

Status LineReader::Fill() {
  if (pos_ > 0) {
    buffer_.erase(0, pos_);
    pos_ = 0;
  }
  constexpr std::size_t kChunk = 64 * 1024;
  const std::size_t old = buffer_.size();
  buffer_.resize(old + kChunk);
  ssize_t n;
  do {
    n = ::read(fd_.get(), buffer_.data() + old, kChunk);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    buffer_.resize(old);
    return ErrnoStatus(errno, "read " + path_.string());
  }
  buffer_.resize(old + static_cast<std::size_t>(n));
  if (n == 0) eof_ = true;
  return Status::Ok();
}

Result<bool> LineReader::Next(Line& line) {
  line.too_long = false;
  for (;;) {
    const std::size_t nl = buffer_.find('\n', pos_);
    if (nl != std::string::npos && nl - pos_ <= kMaxLineBytes) {
      line.text.assign(buffer_, pos_, nl - pos_);
      line.number = ++number_;
      line.complete = true;
      pos_ = nl + 1;
      return true;
    }
    if (buffer_.size() - pos_ > kMaxLineBytes) {
      // Report the overlong line once and skip to its end.
      line.text.assign(buffer_, pos_, kMaxLineBytes);
      line.number = ++number_;
      line.complete = true;
      line.too_long = true;
      for (;;) {
        const std::size_t end = buffer_.find('\n', pos_);
        if (end != std::string::npos) {
          pos_ = end + 1;
          return true;
        }
        pos_ = buffer_.size();
        if (eof_) {
          line.complete = false;
          return true;
        }
        WB_RETURN_IF_ERROR(Fill());
      }
    }
    if (eof_) {
      if (pos_ >= buffer_.size()) return false;
      line.text.assign(buffer_, pos_, std::string::npos);
      line.number = ++number_;
      line.complete = false;
      pos_ = buffer_.size();
      return true;
    }
    WB_RETURN_IF_ERROR(Fill());
  }
}

}  // namespace wb::audit::internal
