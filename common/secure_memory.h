#pragma once
// Memory for secrets: passwords, private keys, data keys and anything derived from them.
//
// Secret (common/secret.h) and SecureString keep their bytes here, never in the ordinary heap.
//
// Guarantees. Every buffer AllocateSecureBytes hands out, and so every buffer of
// SecureAllocator, whether it comes from a fresh mapping or from the page cache below:
//   - is zero-filled when handed out;
//   - is excluded from core dumps (madvise MADV_DONTDUMP), whatever the dump settings;
//   - is locked in RAM (mlock), so never written to swap, when RLIMIT_MEMLOCK or
//     CAP_IPC_LOCK allows. Locking is best effort: when the limit is reached the memory works
//     unlocked and no error is raised per buffer. The daemon calls ProbeSecureMemory once at
//     start and reports a failure there, once;
//   - is wiped with OPENSSL_cleanse when it is freed, before it is cached or unmapped. A
//     std::basic_string or std::vector that uses SecureAllocator therefore leaves nothing
//     behind when it grows (the old buffer is wiped as it is freed), is cleared, or is
//     destroyed.
//
// Allocation is page granular: a buffer is a whole number of pages of anonymous memory
// (mmap), so a 20-byte password costs 4 KiB, its flags cannot leak to unrelated data on the
// same page, and locking is all or nothing per buffer. Do not put bulk data here. There are no
// guard pages.
//
// The page cache. A buffer of one page (the common case: a password, a key, the code points of
// a password) is not unmapped when freed but kept, wiped, in a process-wide cache of at most
// kMaxCachedSecurePages pages, and the next one-page allocation takes a cached page before it
// maps a new one. That spares the mmap, madvise, mlock, munlock and munmap of each buffer, and
// above all munmap's TLB shootdown across the process's threads, which under load cost the
// agent 6-8% of its CPU (13 buffers per password reset). A cached page stays excluded from
// dumps and locked while it waits, and is all zeros because it was wiped when freed
// (OPENSSL_cleanse writes zeros). Buffers of more than one page, and one-page buffers freed
// while the cache is full, are unmapped as before.
//   - The bound: 64 pages (256 KiB). It covers the buffers a busy agent frees and allocates
//     again between two requests (8 workers, about 13 buffers each per request), and costs at
//     most 256 KiB of resident, locked memory when idle: 1/32 of the default RLIMIT_MEMLOCK of
//     8 MiB, so that the limit still locks about 1,980 buffers in use at once. Past the limit
//     buffers stay out of core dumps all the same.
//   - Locking a reused page again: when the kernel ever refused to lock or to exclude a fresh
//     buffer (the limit was reached), such a page may be in the cache, so from then on every
//     page taken from the cache is locked and excluded again, which costs two system calls but
//     keeps "locked when allowed" for every buffer. A forked child starts with an empty cache
//     (it unmaps the pages it inherited): the kernel does not carry memory locks across fork.
//   - Why process-wide: SecureAllocator is a stateless standard allocator, default-constructed
//     inside std::vector and std::basic_string, so it cannot be handed a cache. The cache is
//     the one piece of global mutable state here, and it is acceptable because it is only a
//     cache: no caller can observe it except by cost and by CachedSecurePages (a page from the
//     cache and a fresh mapping are indistinguishable to the holder). It is hidden in
//     secure_memory.cc.
//
// What this does not cover: copies made inside libraries (libldap's bind request, OpenSSL's
// own buffers other than its secure heap, the kernel's socket buffers). Private keys that
// OpenSSL holds live in OpenSSL's secure heap once InitOpenSslSecureHeap has run.
//
// Errors: an allocation the kernel refuses (mmap fails) throws std::bad_alloc, as operator
// new does. A failed madvise or mlock is not an error (see ProbeSecureMemory).
//
// Threads: every function may be called from any thread, concurrently. The page cache is
// guarded by one mutex held only to push or pop one pointer (no allocation, no system call
// and no wiping under it).

#include <cstddef>
#include <new>
#include <string>
#include <type_traits>

#include "common/status.h"

namespace wb {

// At most this many freed one-page buffers are kept for reuse (see "The page cache" above).
inline constexpr std::size_t kMaxCachedSecurePages = 64;

// At least `bytes` (rounded up to whole pages), zero-filled, as described above: a cached page
// when `bytes` fits in one page and the cache has one, else a new mapping. Throws
// std::bad_alloc. REQUIRES: bytes > 0.
void* AllocateSecureBytes(std::size_t bytes);
// Wipes memory from AllocateSecureBytes(bytes), with the same `bytes`, then keeps it in the
// page cache when it is one page and the cache has room, else unmaps it.
void FreeSecureBytes(void* data, std::size_t bytes) noexcept;

// How many wiped pages the cache holds now (at most kMaxCachedSecurePages): for tests (it is
// not a metric yet).
std::size_t CachedSecurePages();

// A standard allocator over AllocateSecureBytes. Stateless: all instances are equal.
template <class T>
class SecureAllocator {
 public:
  using value_type = T;
  using is_always_equal = std::true_type;
  SecureAllocator() = default;
  template <class U>
  SecureAllocator(const SecureAllocator<U>&) noexcept {}  // NOLINT(google-explicit-constructor)

  T* allocate(std::size_t n) { return static_cast<T*>(AllocateSecureBytes(n * sizeof(T))); }
  void deallocate(T* p, std::size_t n) noexcept { FreeSecureBytes(p, n * sizeof(T)); }

  template <class U>
  bool operator==(const SecureAllocator<U>&) const noexcept {
    return true;
  }
};

// A string whose heap buffer is secure memory. Beware the small-string optimisation: a short
// value may live inside the string object itself, outside secure memory. MakeSecureString
// avoids that; use it to create one.
using SecureString = std::basic_string<char, std::char_traits<char>, SecureAllocator<char>>;

// An empty SecureString with room for `capacity` bytes, its buffer always in secure memory:
// it reserves more than the small-string buffer inside the object can hold.
SecureString MakeSecureString(std::size_t capacity);

// What ProbeSecureMemory found: whether secret buffers are kept out of core dumps and locked.
struct SecureMemoryReport {
  bool excluded_from_dumps = false;
  bool locked = false;
  // When !excluded_from_dumps or !locked: the failing call and its error, and the
  // RLIMIT_MEMLOCK soft limit, as a sentence for the log.
  std::string problem;
};

// Maps, locks and unmaps one page of its own (never a cached page, whose state says nothing
// about what the kernel grants now) and reports what the kernel granted. For the daemon's
// start.
SecureMemoryReport ProbeSecureMemory();

// Makes the process non-dumpable (prctl PR_SET_DUMPABLE 0): no core dump is written, whatever
// ulimit -c or the unit's LimitCORE= says, and processes of the same user without
// CAP_SYS_PTRACE can neither ptrace it nor read /proc/PID/mem or environ. For `wbagent run`,
// before it reads a secret. kInternal when the kernel refuses.
Status DisableCoreDumps();
// Whether the process is dumpable (prctl PR_GET_DUMPABLE), for the status file and tests.
bool ProcessIsDumpable();

// Sets up OpenSSL's secure heap (CRYPTO_secure_malloc_init: its own mlocked, MADV_DONTDUMP
// mapping with guard pages), where OpenSSL keeps private key material (BN_secure_new) and
// BIO_s_secmem data. Call once, before any key is loaded. Returns whether the heap is locked;
// kInternal when it could not be set up at all (OpenSSL then uses the ordinary heap).
Result<bool> InitOpenSslSecureHeap(std::size_t bytes);

}  // namespace wb
