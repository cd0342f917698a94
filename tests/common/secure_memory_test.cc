#include "common/secure_memory.h"

#include <gtest/gtest.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/secret.h"

namespace wb {
namespace {

// The VmFlags line of the mapping that holds `p` in /proc/self/smaps ("dd": not dumped, "lo":
// locked), or "unmapped".
std::string MappingFlags(const void* p) {
  const auto address = reinterpret_cast<std::uintptr_t>(p);
  std::ifstream smaps("/proc/self/smaps");
  bool inside = false;
  for (std::string line; std::getline(smaps, line);) {
    std::uintptr_t start = 0;
    std::uintptr_t end = 0;
    char dash = 0;
    std::istringstream head(line);
    if (head >> std::hex >> start >> dash >> end && dash == '-') {
      inside = start <= address && address < end;
    } else if (inside && line.rfind("VmFlags:", 0) == 0) {
      return line + " ";
    }
  }
  return "unmapped";
}

bool Has(const std::string& flags, const char* flag) {
  return flags.find(std::string(" ") + flag + " ") != std::string::npos;
}

std::size_t PageBytes() { return static_cast<std::size_t>(::sysconf(_SC_PAGESIZE)); }

bool AllZero(const void* data, std::size_t size) {
  const auto* bytes = static_cast<const unsigned char*>(data);
  return std::all_of(bytes, bytes + size, [](unsigned char b) { return b == 0; });
}

// The process's locked memory in kB (VmLck in /proc/self/status).
long LockedKilobytes() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmLck:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  }
  return -1;
}

// Runs `child` in a forked child (not a death test, whose "threadsafe" style would run it in a
// new process instead of a fork) and returns its exit code, or -1 when it did not exit.
template <class F>
int ExitCodeOfForkedChild(F child) {
  const pid_t pid = ::fork();
  if (pid == 0) std::_Exit(child() ? 0 : 1);
  int status = 0;
  if (pid < 0 || ::waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return -1;
  return WEXITSTATUS(status);
}

// Removes CAP_IPC_LOCK (root ignores RLIMIT_MEMLOCK with it). For a forked or death-test child.
void DropIpcLock() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2]{};
  if (::syscall(SYS_capget, &header, data) != 0) std::_Exit(3);
  data[CAP_IPC_LOCK / 32].effective &= ~(1U << (CAP_IPC_LOCK % 32));
  if (::syscall(SYS_capset, &header, data) != 0) std::_Exit(3);
}

// Runs in a death-test child: removes CAP_IPC_LOCK and sets the limit to 0, so that mlock fails
// as it does for an unprivileged service.
void ForbidLocking() {
  DropIpcLock();
  const rlimit none{0, 0};
  if (::setrlimit(RLIMIT_MEMLOCK, &none) != 0) std::_Exit(3);
}

// As ForbidLocking, but lowers only the soft limit, so that AllowLockingAgain can raise it.
void ForbidLockingForNow() {
  DropIpcLock();
  rlimit limit{};
  if (::getrlimit(RLIMIT_MEMLOCK, &limit) != 0) std::_Exit(3);
  limit.rlim_cur = 0;
  if (::setrlimit(RLIMIT_MEMLOCK, &limit) != 0) std::_Exit(3);
}

void AllowLockingAgain() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_MEMLOCK, &limit) != 0) std::_Exit(3);
  limit.rlim_cur = limit.rlim_max;
  if (::setrlimit(RLIMIT_MEMLOCK, &limit) != 0) std::_Exit(3);
}

// Locking needs the limit (or CAP_IPC_LOCK). Outside CI a low limit skips the test; in CI,
// which runs as root, locking that does not work is a regression and fails it. Not under a
// sanitizer: its runtime intercepts mlock and makes it do nothing (VmLck does not grow), so
// the test can only skip there.
bool LockingIsRequired() {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  return false;
#else
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::string_view(ci) == "true" && ::geteuid() == 0;
#endif
}

#define WB_REQUIRE_LOCKING()                                                         \
  do {                                                                               \
    if (!ProbeSecureMemory().locked) {                                               \
      if (LockingIsRequired()) FAIL() << "CI=true: " << ProbeSecureMemory().problem; \
      GTEST_SKIP() << ProbeSecureMemory().problem;                                   \
    }                                                                                \
  } while (0)

TEST(SecureMemoryTest, SecretBytesAreExcludedFromCoreDumps) {
  const Secret secret("correct horse");
  EXPECT_TRUE(Has(MappingFlags(secret.view().data()), "dd")) << MappingFlags(secret.view().data());
}

TEST(SecureMemoryTest, SecretBytesAreLockedInMemoryWhenTheLimitAllows) {
  WB_REQUIRE_LOCKING();
  const Secret secret("correct horse");
  EXPECT_TRUE(Has(MappingFlags(secret.view().data()), "lo")) << MappingFlags(secret.view().data());
}

TEST(SecureMemoryTest, AShortSecureStringStillLivesInSecureMemory) {
  SecureString s = MakeSecureString(1);
  s += "pw";
  const auto* object = reinterpret_cast<const char*>(&s);
  EXPECT_FALSE(s.data() >= object && s.data() < object + sizeof s) << "small-string buffer";
  EXPECT_TRUE(Has(MappingFlags(s.data()), "dd")) << MappingFlags(s.data());
}

TEST(SecureMemoryTest, AGrowingSecureStringLeavesItsOldBufferWiped) {
  SecureString s = MakeSecureString(1);
  s += "secret";
  // Room for the old page, which a full cache would unmap (MakeSecureString may have just taken
  // a page from it).
  ASSERT_LT(CachedSecurePages(), kMaxCachedSecurePages);
  const char* old = s.data();
  s.append(64 * 1024, 'x');  // reallocates
  ASSERT_NE(s.data(), old);
  // Wiped and kept in the page cache, still out of core dumps; not left in a heap.
  EXPECT_TRUE(Has(MappingFlags(old), "dd")) << MappingFlags(old);
  EXPECT_TRUE(AllZero(old, PageBytes()));
}

TEST(SecureMemoryTest, AWipedSecretLeavesItsPageWipedInTheCache) {
  Secret secret("correct horse");
  const std::size_t cached =
      CachedSecurePages();  // after the Secret took a page, maybe a cached one
  ASSERT_LT(cached, kMaxCachedSecurePages);
  const char* bytes = secret.view().data();
  secret.Wipe();
  EXPECT_TRUE(secret.empty());
  EXPECT_EQ(CachedSecurePages(), cached + 1);
  EXPECT_TRUE(AllZero(bytes, PageBytes()));
}

TEST(SecureMemoryTest, AFreedPageComesBackZeroFilled) {
  const std::size_t page = PageBytes();
  void* first = AllocateSecureBytes(page);
  std::memset(first, 0xA5, page);
  FreeSecureBytes(first, page);
  // The cache hands out the last page freed first; allocate until that page comes back.
  std::vector<void*> held;
  for (std::size_t i = 0; i <= kMaxCachedSecurePages; ++i) {
    held.push_back(AllocateSecureBytes(32));
    if (held.back() == first) break;
  }
  ASSERT_EQ(held.back(), first) << "the freed page never came back from the cache";
  EXPECT_TRUE(AllZero(first, page));
  for (void* p : held) FreeSecureBytes(p, 32);
}

TEST(SecureMemoryTest, AReusedPageIsStillExcludedFromCoreDumpsAndLocked) {
  const bool lockable = ProbeSecureMemory().locked;
  void* first = AllocateSecureBytes(32);
  FreeSecureBytes(first, 32);
  void* again = AllocateSecureBytes(32);
  ASSERT_EQ(again, first);
  EXPECT_TRUE(Has(MappingFlags(again), "dd")) << MappingFlags(again);
  if (lockable) {
    EXPECT_TRUE(Has(MappingFlags(again), "lo")) << MappingFlags(again);
  }
  FreeSecureBytes(again, 32);
}

TEST(SecureMemoryTest, TheCacheNeverHoldsMoreThanItsBound) {
  const std::size_t page = PageBytes();
  const long locked_before = LockedKilobytes();
  std::vector<void*> pages(3 * kMaxCachedSecurePages);
  for (void*& p : pages) p = AllocateSecureBytes(16);
  for (void* p : pages) FreeSecureBytes(p, 16);

  EXPECT_EQ(CachedSecurePages(), kMaxCachedSecurePages);
  // The kernel's view, independent of the accessor: at most the bound is still mapped (the
  // rest went back to the kernel), and locked memory grew by at most the bound.
  const auto still_mapped = std::count_if(pages.begin(), pages.end(),
                                          [](const void* p) { return Has(MappingFlags(p), "dd"); });
  EXPECT_LE(static_cast<std::size_t>(still_mapped), kMaxCachedSecurePages);
  EXPECT_LE(LockedKilobytes(),
            locked_before + static_cast<long>(kMaxCachedSecurePages * page / 1024));
}

TEST(SecureMemoryTest, AMultiPageBufferIsNeitherCachedNorTakenFromTheCache) {
  const std::size_t two_pages = 2 * PageBytes();
  FreeSecureBytes(AllocateSecureBytes(1), 1);  // at least one page in the cache
  const std::size_t cached = CachedSecurePages();
  ASSERT_GE(cached, 1U);

  void* big = AllocateSecureBytes(two_pages);
  EXPECT_EQ(CachedSecurePages(), cached);
  EXPECT_TRUE(AllZero(big, two_pages));
  FreeSecureBytes(big, two_pages);
  EXPECT_EQ(CachedSecurePages(), cached);
  EXPECT_EQ(MappingFlags(big), "unmapped");
}

TEST(SecureMemoryTest, ConcurrentAllocationsKeepEveryBufferPrivate) {
  constexpr int kThreads = 8;
  constexpr int kRounds = 3000;
  std::atomic<int> dirty_on_arrival{0};
  std::atomic<int> overwritten{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::size_t page = PageBytes();
      for (int round = 0; round < kRounds; ++round) {
        // Several live buffers per thread, mostly of one page (the cached kind), now and then
        // two pages, each filled with a pattern no other thread writes.
        const std::size_t sizes[] = {32, page, round % 16 == 0 ? 2 * page : 100};
        void* held[3];
        for (int i = 0; i < 3; ++i) {
          held[i] = AllocateSecureBytes(sizes[i]);
          if (!AllZero(held[i], sizes[i])) ++dirty_on_arrival;
          std::memset(held[i], (t * 3 + i) % 255 + 1, sizes[i]);
        }
        std::this_thread::yield();
        for (int i = 0; i < 3; ++i) {
          const auto* bytes = static_cast<const unsigned char*>(held[i]);
          const auto mine = static_cast<unsigned char>((t * 3 + i) % 255 + 1);
          if (!std::all_of(bytes, bytes + sizes[i],
                           [mine](unsigned char b) { return b == mine; })) {
            ++overwritten;
          }
          FreeSecureBytes(held[i], sizes[i]);
        }
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(dirty_on_arrival.load(), 0);
  EXPECT_EQ(overwritten.load(), 0);
  EXPECT_LE(CachedSecurePages(), kMaxCachedSecurePages);
}

TEST(SecureMemoryTest, TheProbeNeitherTakesNorLeavesACachedPage) {
  FreeSecureBytes(AllocateSecureBytes(1), 1);
  const std::size_t cached = CachedSecurePages();
  ASSERT_GE(cached, 1U);
  (void)ProbeSecureMemory();
  EXPECT_EQ(CachedSecurePages(), cached);
}

TEST(SecureMemoryTest, AForkedChildStartsWithAnEmptyCache) {
  // Memory locks are not inherited across fork: the child must not hand out its parent's
  // cached pages, which are no longer locked in it.
  void* page = AllocateSecureBytes(1);
  FreeSecureBytes(page, 1);
  ASSERT_GE(CachedSecurePages(), 1U);
  EXPECT_EQ(ExitCodeOfForkedChild(
                [page] { return CachedSecurePages() == 0 && MappingFlags(page) == "unmapped"; }),
            0);
  EXPECT_GE(CachedSecurePages(), 1U);  // the parent's cache is untouched
  EXPECT_TRUE(Has(MappingFlags(page), "dd"));
}

TEST(SecureMemoryTest, ACachedPageThatCouldNotBeLockedIsLockedWhenReusedOnceTheLimitAllows) {
  WB_REQUIRE_LOCKING();
  EXPECT_EQ(ExitCodeOfForkedChild([] {
              ForbidLockingForNow();
              void* unlocked = AllocateSecureBytes(32);  // a fresh mapping: mlock refused
              const bool refused = !Has(MappingFlags(unlocked), "lo");
              FreeSecureBytes(unlocked, 32);
              AllowLockingAgain();
              void* reused = AllocateSecureBytes(32);
              const bool ok = refused && reused == unlocked && Has(MappingFlags(reused), "lo") &&
                              Has(MappingFlags(reused), "dd");
              FreeSecureBytes(reused, 32);
              return ok;
            }),
            0);
}

TEST(SecureMemoryTest, SecretsWorkUnlockedWhenLockingIsForbiddenAndTheProbeSaysWhy) {
  EXPECT_EXIT(
      {
        ForbidLocking();
        const Secret secret("correct horse");
        const SecureMemoryReport report = ProbeSecureMemory();
        const bool ok = secret.view() == "correct horse" &&
                        !Has(MappingFlags(secret.view().data()), "lo") && !report.locked &&
                        report.excluded_from_dumps &&
                        report.problem.find("mlock") != std::string::npos &&
                        report.problem.find("RLIMIT_MEMLOCK is 0 KiB") != std::string::npos;
        std::_Exit(ok ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "");
}

TEST(SecureMemoryTest, DisableCoreDumpsMakesTheProcessNonDumpable) {
  ASSERT_TRUE(ProcessIsDumpable());  // the test binary itself, unchanged
  EXPECT_EXIT(
      {
        const bool ok = DisableCoreDumps().ok() && !ProcessIsDumpable() &&
                        ::prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 0;
        std::_Exit(ok ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "");
}

// secure_memory.h: a SecureString made without MakeSecureString keeps a short value inside the
// object, on the stack or in an ordinary heap block, never wiped. The product's code makes
// none that way (AdQuotedUtf16 did: a password of up to five bytes, quoted in UTF-16, stayed in
// a worker's stack frame). Exceptions: MakeSecureString's own definition, and a member whose
// line says that its constructors make it with MakeSecureString.
TEST(SecureMemoryTest, EverySecureStringInTheSourcesIsMadeByMakeSecureString) {
  // A variable (lower-case name: functions are CamelCase) declared bare, constructed from
  // anything, or assigned anything but MakeSecureString's result.
  const std::regex bare(
      R"(\bSecureString\s+[a-z_][a-z0-9_]*\s*(;|\{|\(|=(?!\s*MakeSecureString\b)))");
  const std::filesystem::path root = WB_SOURCE_DIR;
  int files = 0;
  for (const char* component : {"agent", "audit", "breached", "channel", "common", "config", "ldap",
                                "metrics", "policy", "protocol", "queue"}) {
    for (const auto& entry : std::filesystem::recursive_directory_iterator(root / component)) {
      const auto ext = entry.path().extension();
      if (!entry.is_regular_file() || (ext != ".cc" && ext != ".h")) continue;
      ++files;
      std::ifstream in(entry.path());
      std::string line;
      for (int number = 1; std::getline(in, line); ++number) {
        if (!std::regex_search(line, bare)) continue;
        const bool the_maker = entry.path().filename() == "secure_memory.cc" &&
                               line.find("SecureString s;") != std::string::npos;
        const bool made_by_constructors = line.find("// made by MakeSecureString") != line.npos;
        EXPECT_TRUE(the_maker || made_by_constructors)
            << entry.path().string() << ":" << number << ": " << line;
      }
    }
  }
  EXPECT_GT(files, 100) << "the sources were not found under " << root;
}

}  // namespace
}  // namespace wb
