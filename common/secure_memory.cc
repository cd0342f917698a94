#include "common/secure_memory.h"

#include <openssl/crypto.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

namespace wb {
namespace {

std::size_t PageRounded(std::size_t bytes) {
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  return (bytes + page - 1) / page * page;
}

// What the kernel said no to, for the start-up report.
std::string Refusal(const char* call, int err) {
  // NOLINTNEXTLINE(concurrency-mt-unsafe): glibc returns static strings
  return std::string(call) + ": " + std::strerror(err);
}

// The process's locked memory, from /proc/self/status (VmLck, in kB); -1 when unreadable.
long LockedKilobytes() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmLck:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  }
  return -1;
}

std::string MemlockLimitText() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_MEMLOCK, &limit) != 0) return "RLIMIT_MEMLOCK unknown";
  if (limit.rlim_cur == RLIM_INFINITY) return "RLIMIT_MEMLOCK is unlimited";
  return "RLIMIT_MEMLOCK is " + std::to_string(limit.rlim_cur / 1024) + " KiB";
}

}  // namespace

void* AllocateSecureBytes(std::size_t bytes) {
  const std::size_t length = PageRounded(std::max<std::size_t>(bytes, 1));
  void* data = ::mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (data == MAP_FAILED) throw std::bad_alloc();
  // Both are best effort (see the header): the start-up probe reports a refusal once.
  (void)::madvise(data, length, MADV_DONTDUMP);
  (void)::mlock(data, length);
  return data;
}

void FreeSecureBytes(void* data, std::size_t bytes) noexcept {
  if (data == nullptr) return;
  const std::size_t length = PageRounded(std::max<std::size_t>(bytes, 1));
  OPENSSL_cleanse(data, length);
  (void)::munlock(data, length);  // unlocking pages that were never locked is harmless
  (void)::munmap(data, length);
}

SecureString MakeSecureString(std::size_t capacity) {
  SecureString s;
  // The small-string buffer lives inside the object, so it is smaller than the object:
  // reserving at least sizeof(SecureString) always puts the bytes in secure memory.
  s.reserve(std::max(capacity, sizeof(SecureString)));
  return s;
}

SecureMemoryReport ProbeSecureMemory() {
  SecureMemoryReport report;
  const std::size_t length = PageRounded(1);
  void* data = ::mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (data == MAP_FAILED) {
    report.problem = Refusal("mmap", errno);
    return report;
  }
  report.excluded_from_dumps = ::madvise(data, length, MADV_DONTDUMP) == 0;
  if (!report.excluded_from_dumps) report.problem = Refusal("madvise(MADV_DONTDUMP)", errno);
  // A call that succeeds is not enough: AddressSanitizer, for one, turns mlock into a no-op
  // that returns 0. The kernel's count of locked memory says whether it happened.
  const long locked_before = LockedKilobytes();
  const int rc = ::mlock(data, length);
  const int err = errno;
  report.locked = rc == 0 && LockedKilobytes() > locked_before;
  if (!report.locked) {
    if (!report.problem.empty()) report.problem += "; ";
    report.problem += (rc == 0 ? std::string("mlock: had no effect (VmLck did not grow)")
                               : Refusal("mlock", err)) +
                      " (" + MemlockLimitText() + ")";
  }
  FreeSecureBytes(data, length);
  return report;
}

Status DisableCoreDumps() {
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-vararg): the prctl interface
  if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
    return Internal("cannot make the process non-dumpable: " + Refusal("prctl", errno));
  }
  return Status::Ok();
}

bool ProcessIsDumpable() {
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-vararg): the prctl interface
  return ::prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0;
}

Result<bool> InitOpenSslSecureHeap(std::size_t bytes) {
  // 1: set up and locked; 2: set up, but mlock failed; 0: not set up.
  const int rc = CRYPTO_secure_malloc_init(bytes, 32);
  if (rc == 0) return Internal("cannot set up OpenSSL's secure heap");
  return rc == 1;
}

}  // namespace wb
