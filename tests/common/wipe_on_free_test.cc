// Wipe on free (common/wipe_on_free.h), in a binary that links the object as wbagent does: a
// block freed by any path (free, a realloc that moves it, operator delete, a growing string)
// leaves no copy of what it held in the process's memory. Each test fails without the object:
// glibc keeps a freed block's bytes (past its first 16, which its free lists reuse).
#include "common/wipe_on_free.h"

#include <gtest/gtest.h>
#include <malloc.h>
#include <openssl/rand.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tests/support/process_memory.h"

#if defined(__SANITIZE_ADDRESS__)
#define WB_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WB_TEST_ASAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define WB_TEST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define WB_TEST_TSAN 1
#endif
#endif

namespace wb {
namespace {

// ThreadSanitizer's allocator has no fill of freed blocks (wipe_on_free.h): a TSan build has
// no wipe on free, and so none of these tests.
#if !defined(WB_TEST_TSAN)

using testing::FindInProcessMemory;

// A marker no other memory holds: random letters, on this thread's stack only.
using Marker = std::array<char, 40>;

Marker NewMarker() {
  Marker m{};
  std::array<unsigned char, m.size()> random{};
  EXPECT_EQ(RAND_bytes(random.data(), static_cast<int>(random.size())), 1);
  for (std::size_t i = 0; i < m.size(); ++i) m[i] = static_cast<char>('a' + random[i] % 26);
  return m;
}

std::string_view View(const Marker& m) { return {m.data(), m.size()}; }

// Where the marker is in this process's heap and other writable memory, besides `m` itself.
// Not the main thread's stack: dead frames there (the marker's own making) may hold copies
// that no free could wipe, and the heap's free is what is under test.
std::size_t CopiesOf(const Marker& m) {
  auto hits = FindInProcessMemory(::getpid(), View(m), m.data());
  EXPECT_TRUE(hits.ok()) << hits.error().ToString();
  if (!hits.ok()) return 0;
  return static_cast<std::size_t>(
      std::count_if(hits->begin(), hits->end(), [](const testing::MemoryHit& hit) {
        return hit.mapping.find("[stack]") == std::string::npos;
      }));
}

// The marker written at the end of a block of `size` bytes: past the bytes a free list
// reuses, and past what a later, smaller allocation split from the freed block would cover.
void WriteInside(char* block, std::size_t size, const Marker& m) {
  std::memcpy(block + size - m.size() - 8, m.data(), m.size());
}

class WipeOnFreeTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(WipesOnFree()); }
};

TEST_F(WipeOnFreeTest, TheMarkerIsFoundWhileItsBlockIsInUse) {
  const Marker m = NewMarker();
  char* block = static_cast<char*>(std::malloc(128));
  ASSERT_NE(block, nullptr);
  WriteInside(block, 128, m);
  EXPECT_EQ(CopiesOf(m), 1u) << "the search itself must see a live copy";
  std::free(block);
}

// Sizes for each of glibc's free lists (the per-thread cache, the unsorted bin), each freed
// block followed by one in use, so that none merges into the heap's free top.
TEST_F(WipeOnFreeTest, AFreedBlockLeavesNoCopy) {
  const Marker m = NewMarker();
  std::vector<void*> guards;
  for (std::size_t size : {1000, 3000, 20000}) {
    char* block = static_cast<char*>(std::malloc(size));
    ASSERT_NE(block, nullptr);
    guards.push_back(std::malloc(64));
    WriteInside(block, size, m);
    std::free(block);
  }
  EXPECT_EQ(CopiesOf(m), 0u);
  for (void* guard : guards) std::free(guard);
}

TEST_F(WipeOnFreeTest, ABlockThatReallocMovesLeavesNoCopyBehind) {
  const Marker m = NewMarker();
  char* block = static_cast<char*>(std::malloc(1000));
  ASSERT_NE(block, nullptr);
  WriteInside(block, 1000, m);
  // A block next to it in use, so that the growth cannot happen in place.
  char* neighbour = static_cast<char*>(std::malloc(128));
  char* grown = static_cast<char*>(std::realloc(block, 64 * 1024));
  ASSERT_NE(grown, nullptr);
  EXPECT_EQ(std::memcmp(grown + 1000 - m.size() - 8, m.data(), m.size()), 0)
      << "realloc keeps the contents";
  EXPECT_EQ(CopiesOf(m), 1u) << "only the grown block holds it";
  std::free(grown);
  std::free(neighbour);
  EXPECT_EQ(CopiesOf(m), 0u);
}

// Wiping a block glibc's cache already holds would erase the mark by which glibc catches a
// double free: the second free of a block must still abort.
TEST_F(WipeOnFreeTest, ADoubleFreeIsStillCaughtByGlibc) {
  EXPECT_DEATH(
      {
        void* volatile block = std::malloc(48);
        std::free(block);
        std::free(block);
      },
      "double.free");
}

TEST_F(WipeOnFreeTest, AStringThatGrowsAndIsDestroyedLeavesNoCopy) {
  const Marker m = NewMarker();
  {
    auto text = std::make_unique<std::string>(64, '.');
    text->append(View(m));
    for (int i = 0; i < 8; ++i) text->append(text->size(), '.');  // moves it several times
  }
  EXPECT_EQ(CopiesOf(m), 0u);
}

// The one fact about glibc's chunks that free relies on: a block from mmap says so, and one
// from the heap does not. A glibc that changed it would make free wipe what it need not, or
// skip what it must. (Not in an ASan build, whose allocator has no glibc chunks.)
#if !defined(WB_TEST_ASAN)
TEST_F(WipeOnFreeTest, GlibcMarksABlockFromItsOwnMapping) {
  using internal::GlibcChunkIsMmapped;
  void* small = std::malloc(100);
  void* large = std::malloc(64 << 20);  // above any mmap threshold glibc sets itself
  ASSERT_NE(small, nullptr);
  ASSERT_NE(large, nullptr);
  EXPECT_FALSE(GlibcChunkIsMmapped(small));
  EXPECT_TRUE(GlibcChunkIsMmapped(large));
  std::free(small);
  std::free(large);
}
#endif

#endif  // !WB_TEST_TSAN

}  // namespace
}  // namespace wb
