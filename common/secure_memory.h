#pragma once
// Memory for secrets: passwords, private keys, data keys and anything derived from them.
//
// Secret (common/secret.h) and SecureString keep their bytes here, never in the ordinary heap.
// Memory from AllocateSecureBytes, and so from SecureAllocator, guarantees while it is held:
//   - it is excluded from core dumps (madvise MADV_DONTDUMP), whatever the dump settings;
//   - it is locked in RAM (mlock), so never written to swap, when RLIMIT_MEMLOCK or
//     CAP_IPC_LOCK allows. Locking is best effort: when the limit is reached the memory works
//     unlocked and no error is raised per buffer. The daemon calls ProbeSecureMemory once at
//     start and reports a failure there, once;
//   - it is wiped with OPENSSL_cleanse before it is unmapped. A std::basic_string or
//     std::vector that uses SecureAllocator therefore leaves nothing behind when it grows
//     (the old buffer is wiped as it is freed), is cleared, or is destroyed.
//
// The trade-off: allocation is page granular. Each buffer is its own anonymous mapping
// (mmap), rounded up to whole pages: a 20-byte password costs 4 KiB of address space and one
// mmap/munmap pair. In exchange there is no allocator state at all (no arena, nothing global
// to lock or to size), a buffer's flags cannot leak to unrelated data on the same page, and
// locking is all or nothing per buffer. Secrets are few and short-lived (the requests in
// flight, a handful of keys): with the default RLIMIT_MEMLOCK of 8 MiB, about 2000 buffers
// can be locked at once; past that they still stay out of core dumps. Do not put bulk data
// here. There are no guard pages.
//
// What this does not cover: copies made inside libraries (libldap's bind request, OpenSSL's
// own buffers other than its secure heap, the kernel's socket buffers). Private keys that
// OpenSSL holds live in OpenSSL's secure heap once InitOpenSslSecureHeap has run.
//
// Errors: an allocation the kernel refuses (mmap fails) throws std::bad_alloc, as operator
// new does. A failed madvise or mlock is not an error (see ProbeSecureMemory).
//
// Threads: nothing here holds state; every function may be called from any thread.

#include <cstddef>
#include <new>
#include <string>
#include <type_traits>

#include "common/status.h"

namespace wb {

// At least `bytes` (rounded up to whole pages), zero-filled, as described above. Throws
// std::bad_alloc. REQUIRES: bytes > 0.
void* AllocateSecureBytes(std::size_t bytes);
// Wipes and unmaps memory from AllocateSecureBytes(bytes), with the same `bytes`.
void FreeSecureBytes(void* data, std::size_t bytes) noexcept;

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

// Allocates and frees one buffer and reports what the kernel granted. For the daemon's start.
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
