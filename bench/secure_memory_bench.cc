// What a Secret costs to make and destroy (issue #18, item 5): a 32-byte Secret allocated,
// filled and freed, from 1 and 4 threads, against two baselines in the same run:
//   - plain new/delete of 32 bytes, filled the same way (what an unprotected buffer costs);
//   - the uncached path, one fresh mapping per buffer (mmap, madvise, mlock, wipe, munlock,
//     munmap): what every Secret cost before the page cache of common/secure_memory.h.
// Run: build/bench/secure_memory_bench. Compare the ratios, not the times (bench/README.md).

#include <benchmark/benchmark.h>
#include <openssl/crypto.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>
#include <new>
#include <string_view>

#include "common/secret.h"

namespace wb {
namespace {

constexpr std::string_view kBytes = "0123456789abcdef0123456789abcdef";  // 32 bytes

void BM_Secret32(benchmark::State& state) {
  for (auto _ : state) {
    Secret secret(kBytes);
    benchmark::DoNotOptimize(secret.view().data());
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_NewDelete32(benchmark::State& state) {
  for (auto _ : state) {
    char* bytes = new char[kBytes.size()];
    benchmark::DoNotOptimize(bytes);
    std::memcpy(bytes, kBytes.data(), kBytes.size());
    benchmark::ClobberMemory();
    delete[] bytes;
  }
  state.SetItemsProcessed(state.iterations());
}

// The path AllocateSecureBytes/FreeSecureBytes took for every buffer before the page cache.
void BM_FreshMapping32(benchmark::State& state) {
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  for (auto _ : state) {
    void* data = ::mmap(nullptr, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (data == MAP_FAILED) {
      state.SkipWithError("mmap failed");
      return;
    }
    (void)::madvise(data, page, MADV_DONTDUMP);
    (void)::mlock(data, page);
    std::memcpy(data, kBytes.data(), kBytes.size());
    benchmark::ClobberMemory();
    OPENSSL_cleanse(data, page);
    (void)::munlock(data, page);
    (void)::munmap(data, page);
  }
  state.SetItemsProcessed(state.iterations());
}

// Real time: with 4 threads on a 2-core machine the rate over wall-clock time is what counts.
BENCHMARK(BM_NewDelete32)->Threads(1)->Threads(4)->UseRealTime();
BENCHMARK(BM_Secret32)->Threads(1)->Threads(4)->UseRealTime();
BENCHMARK(BM_FreshMapping32)->Threads(1)->Threads(4)->UseRealTime();

}  // namespace
}  // namespace wb

BENCHMARK_MAIN();
