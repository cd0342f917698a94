// Wipe on free (common/wipe_on_free.h): free and realloc for the wbagent executable.
#include "common/wipe_on_free.h"

#include <malloc.h>
#include <string.h>

#include <cstddef>
#include <cstdint>

namespace wb::internal {
bool GlibcChunkIsMmapped(const void* p) {
  constexpr std::uintptr_t kIsMmapped = 0x2;
  std::uintptr_t size_word = 0;
  memcpy(&size_word, static_cast<const char*>(p) - sizeof size_word, sizeof size_word);
  return (size_word & kIsMmapped) != 0;
}
}  // namespace wb::internal

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define WB_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || \
    __has_feature(memory_sanitizer)
#define WB_SANITIZED 1
#endif
#endif

#ifndef WB_SANITIZED

extern "C" {
void* __libc_malloc(std::size_t size) noexcept;
void __libc_free(void* p) noexcept;
}

namespace {

// glibc's thread cache marks each block it holds with a per-process random key in the block's
// second word, and checks for it to catch a double free. Learnt once, from a block freed here:
// the key, or 0 when glibc wrote none (no thread cache).
std::uintptr_t TcacheKey() {
  static const std::uintptr_t key = [] {
    auto* probe = static_cast<volatile std::uintptr_t*>(__libc_malloc(2 * sizeof(std::uintptr_t)));
    if (probe == nullptr) return std::uintptr_t{0};
    probe[1] = 0;
    __libc_free(const_cast<std::uintptr_t*>(probe));
    return std::uintptr_t{probe[1]};  // still the process's heap: the block is in the cache
  }();
  return key;
}

// A block glibc's cache already holds: freed before, so this free is a double free. It is not
// wiped, which would erase the mark, and glibc then aborts as it should.
bool AlreadyInTheCache(const void* p) {
  const std::uintptr_t key = TcacheKey();
  if (key == 0) return false;
  std::uintptr_t second = 0;
  memcpy(&second, static_cast<const char*>(p) + sizeof second, sizeof second);
  return second == key;
}

}  // namespace

extern "C" void free(void* p) noexcept {
  if (p == nullptr) return;
  if (!wb::internal::GlibcChunkIsMmapped(p) && !AlreadyInTheCache(p)) {
    explicit_bzero(p, malloc_usable_size(p));
  }
  __libc_free(p);
}

extern "C" void* realloc(void* p, std::size_t size) noexcept {
  if (p == nullptr) return __libc_malloc(size);
  if (size == 0) {
    free(p);
    return nullptr;
  }
  const std::size_t usable = malloc_usable_size(p);
  if (size <= usable) return p;
  void* grown = __libc_malloc(size);
  if (grown == nullptr) return nullptr;  // p stays valid and untouched, as realloc promises
  memcpy(grown, p, usable);
  free(p);
  return grown;
}

namespace wb {
bool WipesOnFree() { return true; }
}  // namespace wb

#else  // a sanitizer's allocator: its own fill of freed blocks

extern "C" const char* __asan_default_options() {
  return "max_free_fill_size=2147483647:free_fill_byte=0";
}

namespace wb {
bool WipesOnFree() {
#if defined(__SANITIZE_ADDRESS__)
  return true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
  return true;
#else
  return false;
#endif
#else
  return false;
#endif
}
}  // namespace wb

#endif
