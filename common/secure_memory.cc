#include "common/secure_memory.h"

#include <openssl/crypto.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <type_traits>

#include "common/thread_annotations.h"

namespace wb {
namespace {

std::size_t PageSize() {
  static const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  return page;
}

std::size_t PageRounded(std::size_t bytes) {
  const std::size_t page = PageSize();
  return (bytes + page - 1) / page * page;
}

// The page cache (see the header): wiped one-page buffers, last freed on top, so that a page
// is reused while it is still in the TLB and the CPU's caches.
struct PageCache {
  Mutex mu;
  std::array<void*, kMaxCachedSecurePages> pages WB_GUARDED_BY(mu){};
  std::size_t count WB_GUARDED_BY(mu) = 0;
  // Set, never cleared, once the kernel refused madvise or mlock for a fresh mapping: a page
  // without them may be in the cache from then on, so each reuse applies both again. Relaxed
  // is enough: the store happens before the refused page is handed out, hence before it is
  // pushed and popped under `mu`, and a load after that pop cannot see an older value.
  std::atomic<bool> reprotect{false};
};
// Constant-initialised and trivially destructible, so it works from the first static
// initialiser to the last static destructor, either of which may allocate or free a Secret.
static_assert(std::is_trivially_destructible_v<PageCache>);
// NOLINTNEXTLINE(cppcoreguidelines-avoid-non-const-global-variables): the header says why
constinit PageCache cache;

// The pthread_atfork handlers. The forking thread holds the cache's mutex across fork, so that
// no other thread holds it at the moment of the copy (the child would deadlock on it), and the
// child unmaps the pages it inherited: memory locks are not inherited, so they are no longer
// locked, and a child maps its own. They take the mutex in one function and release it in
// another, which the analysis cannot follow.
void LockCacheForFork() WB_NO_THREAD_SAFETY_ANALYSIS { cache.mu.Lock(); }
void UnlockCacheInParent() WB_NO_THREAD_SAFETY_ANALYSIS { cache.mu.Unlock(); }
void EmptyCacheInChild() WB_NO_THREAD_SAFETY_ANALYSIS {
  for (std::size_t i = 0; i < cache.count; ++i) (void)::munmap(cache.pages[i], PageSize());
  cache.count = 0;
  cache.mu.Unlock();
}

// Whether pages may be cached: only once the fork handlers are registered (pthread_atfork
// fails only when out of memory; the cache then stays empty and every page is unmapped).
bool CacheUsable() {
  static const bool registered =
      ::pthread_atfork(LockCacheForFork, UnlockCacheInParent, EmptyCacheInChild) == 0;
  return registered;
}

// Excludes `length` bytes at `data` from core dumps and locks them. Both are best effort (see
// the header): the start-up probe reports a refusal once. Returns whether both were granted.
bool Protect(void* data, std::size_t length) {
  const bool excluded = ::madvise(data, length, MADV_DONTDUMP) == 0;
  const bool locked = ::mlock(data, length) == 0;
  return excluded && locked;
}

// A new mapping of `length` bytes (zero-filled by the kernel), protected.
void* MapProtected(std::size_t length) {
  void* data = ::mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (data == MAP_FAILED) throw std::bad_alloc();
  if (!Protect(data, length)) cache.reprotect.store(true, std::memory_order_relaxed);
  return data;
}

// munmap also unlocks, and wiping is the caller's.
void Unmap(void* data, std::size_t length) noexcept { (void)::munmap(data, length); }

// A wiped page from the cache, or nullptr when it is empty.
void* TakeCachedPage() {
  if (!CacheUsable()) return nullptr;
  void* page = nullptr;
  {
    MutexLock lock(cache.mu);
    if (cache.count > 0) page = cache.pages[--cache.count];
  }
  if (page != nullptr && cache.reprotect.load(std::memory_order_relaxed)) {
    (void)Protect(page, PageSize());
  }
  return page;
}

// Keeps a wiped page for reuse; false when the cache is full.
bool KeepInCache(void* page) noexcept {
  if (!CacheUsable()) return false;
  MutexLock lock(cache.mu);
  if (cache.count == cache.pages.size()) return false;
  cache.pages[cache.count++] = page;
  return true;
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
  if (length == PageSize()) {
    if (void* page = TakeCachedPage(); page != nullptr) return page;
  }
  return MapProtected(length);
}

void FreeSecureBytes(void* data, std::size_t bytes) noexcept {
  if (data == nullptr) return;
  const std::size_t length = PageRounded(std::max<std::size_t>(bytes, 1));
  // Wiped before it is cached: OPENSSL_cleanse writes zeros, so a cached page is handed out
  // again zero-filled, as a fresh mapping is.
  OPENSSL_cleanse(data, length);
  if (length == PageSize() && KeepInCache(data)) return;
  Unmap(data, length);
}

std::size_t CachedSecurePages() {
  MutexLock lock(cache.mu);
  return cache.count;
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
  // Unmapped, never cached: nothing was written to it, and a page whose mlock failed here must
  // not be handed out as if it had been locked.
  Unmap(data, length);
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
