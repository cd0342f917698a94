#include "tests/support/process_memory.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <sstream>

namespace wb::testing {

namespace {

struct Mapping {
  std::uintptr_t start = 0;
  std::uintptr_t end = 0;
  std::string line;
};

// The writable private mappings of `pid`, from /proc/PID/maps.
Result<std::vector<Mapping>> WritableMappings(pid_t pid) {
  std::ifstream maps("/proc/" + std::to_string(pid) + "/maps");
  if (!maps) return NotFound("cannot read /proc/" + std::to_string(pid) + "/maps");
  std::vector<Mapping> out;
  for (std::string line; std::getline(maps, line);) {
    std::istringstream fields(line);
    std::string range;
    std::string perms;
    fields >> range >> perms;
    const std::size_t dash = range.find('-');
    if (dash == std::string::npos || perms.size() < 4) continue;
    if (perms[0] != 'r' || perms[1] != 'w' || perms[3] != 'p') continue;
    Mapping m;
    m.start = std::stoull(range.substr(0, dash), nullptr, 16);
    m.end = std::stoull(range.substr(dash + 1), nullptr, 16);
    m.line = line;
    if (line.find("[vvar]") != std::string::npos) continue;
    constexpr std::uintptr_t kLargest = std::uintptr_t{1} << 30;
    if (m.end - m.start > kLargest) continue;
    out.push_back(std::move(m));
  }
  return out;
}

}  // namespace

Result<std::vector<MemoryHit>> FindInProcessMemory(pid_t pid, std::string_view needle,
                                                   const void* ignore) {
  if (needle.empty()) return InvalidArgument("an empty needle");
  auto mappings = WritableMappings(pid);
  if (!mappings.ok()) return mappings.error();
  const std::string path = "/proc/" + std::to_string(pid) + "/mem";
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "open " + path);
  std::vector<MemoryHit> hits;
  std::size_t heap_bytes_read = 0;
  const auto ignored = reinterpret_cast<std::uintptr_t>(ignore);
  std::string chunk;
  constexpr std::size_t kChunk = 1 << 20;
  for (const Mapping& m : *mappings) {
    // Read in chunks that overlap by needle.size() - 1 bytes, so that no occurrence is cut.
    for (std::uintptr_t at = m.start; at < m.end;) {
      const std::size_t want = std::min<std::uintptr_t>(kChunk, m.end - at);
      chunk.resize(want);
      const ssize_t n = ::pread(fd, chunk.data(), want, static_cast<off_t>(at));
      if (n <= 0) break;  // a guard page or a mapping gone meanwhile
      chunk.resize(static_cast<std::size_t>(n));
      if (m.line.find("[heap]") != std::string::npos) heap_bytes_read += chunk.size();
      for (std::size_t pos = chunk.find(needle); pos != std::string::npos;
           pos = chunk.find(needle, pos + 1)) {
        const std::uintptr_t address = at + pos;
        if (ignore != nullptr && address == ignored) continue;
        hits.push_back({m.line, address});
      }
      // Cleared before the next read: when the process searches itself, the mapping that holds
      // this buffer is read too, and must not show the needle this buffer held a moment ago.
      std::fill(chunk.begin(), chunk.end(), '\0');
      if (static_cast<std::size_t>(n) < needle.size() ||
          at + static_cast<std::size_t>(n) >= m.end) {
        break;
      }
      at += static_cast<std::size_t>(n) - (needle.size() - 1);
    }
  }
  ::close(fd);
  // A search that could read nothing would find nothing: not an answer. (A sanitizer's
  // allocator has no [heap]; its arenas are anonymous mappings.)
  const bool has_heap = std::any_of(mappings->begin(), mappings->end(), [](const Mapping& m) {
    return m.line.find("[heap]") != std::string::npos;
  });
  if (has_heap && heap_bytes_read == 0) {
    return PermissionDenied("could not read the heap of process " + std::to_string(pid) +
                            " through " + path);
  }
  return hits;
}

std::string Utf16LeOfAscii(std::string_view text) {
  std::string out;
  out.reserve(text.size() * 2);
  for (char c : text) {
    out.push_back(c);
    out.push_back('\0');
  }
  return out;
}

}  // namespace wb::testing
