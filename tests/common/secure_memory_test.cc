#include "common/secure_memory.h"

#include <gtest/gtest.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

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

// Runs in a death-test child: removes CAP_IPC_LOCK (root ignores RLIMIT_MEMLOCK with it) and
// sets the limit to 0, so that mlock fails as it does for an unprivileged service.
void ForbidLocking() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2]{};
  if (::syscall(SYS_capget, &header, data) != 0) std::_Exit(3);
  data[CAP_IPC_LOCK / 32].effective &= ~(1U << (CAP_IPC_LOCK % 32));
  if (::syscall(SYS_capset, &header, data) != 0) std::_Exit(3);
  const rlimit none{0, 0};
  if (::setrlimit(RLIMIT_MEMLOCK, &none) != 0) std::_Exit(3);
}

TEST(SecureMemoryTest, SecretBytesAreExcludedFromCoreDumps) {
  const Secret secret("correct horse");
  EXPECT_TRUE(Has(MappingFlags(secret.view().data()), "dd")) << MappingFlags(secret.view().data());
}

TEST(SecureMemoryTest, SecretBytesAreLockedInMemoryWhenTheLimitAllows) {
  if (!ProbeSecureMemory().locked) GTEST_SKIP() << ProbeSecureMemory().problem;
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

TEST(SecureMemoryTest, AGrowingSecureStringReturnsItsOldBufferToTheKernel) {
  SecureString s = MakeSecureString(1);
  s += "secret";
  const char* old = s.data();
  s.append(64 * 1024, 'x');  // reallocates
  ASSERT_NE(s.data(), old);
  EXPECT_EQ(MappingFlags(old), "unmapped");  // wiped and unmapped, not left in a heap
}

TEST(SecureMemoryTest, AWipedSecretReturnsItsBufferToTheKernel) {
  Secret secret("correct horse");
  const char* bytes = secret.view().data();
  secret.Wipe();
  EXPECT_TRUE(secret.empty());
  EXPECT_EQ(MappingFlags(bytes), "unmapped");
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

}  // namespace
}  // namespace wb
