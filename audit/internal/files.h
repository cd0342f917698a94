#pragma once
// Files of the trail, and the few POSIX file operations the audit code needs, with errno
// converted once here.

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace wb::audit::internal {

// Longest line the Writer produces (the Event limits keep records far below it) and the
// longest line a reader accepts.
inline constexpr std::size_t kMaxLineBytes = 256 * 1024;

// An owned file descriptor.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd();
  Fd(Fd&& other) noexcept : fd_(other.Release()) {}
  Fd& operator=(Fd&& other) noexcept;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int Release();

 private:
  int fd_ = -1;
};

// One file of the trail. index 0 is the active file; rotated files count up from 1.
struct TrailFile {
  std::filesystem::path path;
  std::uint64_t index = 0;
};

// "<active>.000042".
std::filesystem::path RotatedPath(const std::filesystem::path& active, std::uint64_t index);

// The rotated files, oldest first, then the active file if it exists. kNotFound when the
// directory does not exist.
Result<std::vector<TrailFile>> ListTrail(const std::filesystem::path& active);

// Creates missing directories (mode 0750) down to and including `dir`.
Status MakeDirs(const std::filesystem::path& dir);
Status SyncDir(const std::filesystem::path& dir);
Status WriteAll(int fd, std::string_view data, std::string_view what);
Result<Fd> OpenFile(const std::filesystem::path& path, int flags, mode_t mode = 0);
Result<std::uint64_t> FileSize(int fd, std::string_view what);
// The last `max_bytes` of the file (or all of it).
Result<std::string> ReadTail(int fd, std::uint64_t size, std::size_t max_bytes,
                             std::string_view what);
// Writes `data` to a temporary file beside `path`, fsyncs it, renames it over `path` and
// fsyncs the directory: after a crash `path` holds either the old or the new content.
Status WriteFileAtomically(const std::filesystem::path& path, std::string_view data, mode_t mode);
// The whole file; kNotFound when it does not exist. At most `max_bytes`.
Result<std::string> ReadSmallFile(const std::filesystem::path& path, std::size_t max_bytes);

struct Line {
  std::string text;          // without the newline
  std::uint64_t number = 0;  // 1-based
  bool complete = true;      // false: the file ends in this line with no newline
  bool too_long = false;     // longer than kMaxLineBytes; text holds the first part
};

// Reads a file line by line with bounded memory.
class LineReader {
 public:
  static Result<LineReader> Open(const std::filesystem::path& path);
  // Reads an open file from its start (`path` names it in errors). A rename of the file does
  // not disturb the reader.
  static LineReader FromFd(Fd fd, std::filesystem::path path) {
    return LineReader(std::move(fd), std::move(path));
  }
  // False at the end of the file.
  Result<bool> Next(Line& line);

 private:
  LineReader(Fd fd, std::filesystem::path path) : fd_(std::move(fd)), path_(std::move(path)) {}
  Status Fill();

  Fd fd_;
  std::filesystem::path path_;
  std::string buffer_;
  std::size_t pos_ = 0;
  bool eof_ = false;
  std::uint64_t number_ = 0;
};

}  // namespace wb::audit::internal
