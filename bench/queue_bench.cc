// Enqueue throughput with group commit: N threads enqueue at once into a queue on the real file
// system (TMPDIR); each Enqueue returns only after its row is fsynced. The counters show how
// many requests shared one transaction (one fsync).

#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "queue/queue.h"
#include "queue/sqlite_queue.h"

namespace wb::queue {
namespace {

std::filesystem::path MakeTempDir() {
  const char* tmp = std::getenv("TMPDIR");
  std::string templ = std::string(tmp != nullptr ? tmp : "/tmp") + "/wbqbench-XXXXXX";
  if (::mkdtemp(templ.data()) == nullptr) std::abort();
  return templ;
}

Request MakeRequest(const std::string& id, const Clock& clock) {
  Request r;
  r.info = RequestInfo{.id = id,
                       .tenant = "bench",
                       .operations = {.reset = true},
                       .target = id + "@example.test",
                       .target_kind = "upn",
                       .account_key = "corp|" + id,
                       .issued_at = clock.Now(),
                       .expires_at = clock.Now() + std::chrono::hours(1),
                       .requester_json = R"({"by":"self"})"};
  r.new_password = Secret("Bench-Pa55word!");
  return r;
}

void BM_ConcurrentEnqueue(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(0));
  constexpr int kPerThread = 50;
  SystemClock clock;
  const std::filesystem::path dir = MakeTempDir();
  Options o;
  o.state_dir = dir / "state";
  o.max_pending = 1'000'000;
  o.credentials_directory = std::filesystem::path();
  auto opened = Queue::Open(o, clock);
  if (!opened.ok()) {
    state.SkipWithError(opened.error().ToString().c_str());
    return;
  }
  std::unique_ptr<Queue> queue = std::move(opened).value();
  auto* impl = dynamic_cast<SqliteQueue*>(queue.get());
  std::atomic<int> errors{0};
  int round = 0;
  for (auto _ : state) {
    const std::uint64_t batches_before = impl->commit_batches();
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&, t] {
        for (int i = 0; i < kPerThread; ++i) {
          std::string id =
              std::to_string(round) + "-" + std::to_string(t) + "-" + std::to_string(i);
          if (!queue->Enqueue(MakeRequest(id, clock)).ok()) ++errors;
        }
      });
    }
    for (auto& th : pool) th.join();
    ++round;
    state.counters["fsyncs"] += static_cast<double>(impl->commit_batches() - batches_before);
  }
  const double requests = static_cast<double>(state.iterations()) * threads * kPerThread;
  state.counters["requests/s"] = benchmark::Counter(requests, benchmark::Counter::kIsRate);
  state.counters["requests/fsync"] = requests / state.counters["fsyncs"];
  state.counters["errors"] = errors.load();
  queue.reset();
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_ConcurrentEnqueue)
    ->Arg(1)
    ->Arg(4)
    ->Arg(16)
    ->Arg(64)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace wb::queue

BENCHMARK_MAIN();
