// What a durable audit append costs (audit/audit.h, Durability::kDurable), against the floor
// under it in the same run: a line of the same size appended to a plain file and fdatasync'ed,
// the least any durable append can cost on this disk. A durable append also checkpoints the
// head (audit/internal/checkpoint.h), so one thread cannot do better than about half the
// floor; several threads share each sync (group commit) and can do better than the floor.
//
// Prints appends/s for the floor and for the Writer from 1, 8 and 32 threads, each with its
// ratio to the floor, then exits 0. Nothing is asserted: speed is reported, not tested.
// Run: build/bench/audit_bench [--seconds S] [--dir DIR] [--tiny]
//   --tiny: a few appends each, so that the ctest audit_bench_tiny_test keeps it running.

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "audit/audit.h"
#include "common/clock.h"
#include "common/secret.h"

namespace wb::audit {
namespace {

using Clock = std::chrono::steady_clock;

struct Run {
  std::filesystem::path dir;
  double seconds = 2.0;
  int tiny_appends = 0;  // > 0: each measurement stops after this many appends
};

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "audit_bench: %s\n", what.c_str());
  std::exit(1);
}

Event SampleEvent(int i) {
  Event e;
  e.type = EventType::kDirectoryWrite;
  e.request_id = "req-" + std::to_string(i);
  e.correlation_id = "corr-" + std::to_string(i);
  e.target.requested = "user" + std::to_string(i % 500) + "@example.test";
  e.target.dn = "uid=user" + std::to_string(i % 500) + ",ou=people,dc=example,dc=test";
  e.directory = "demo";
  e.outcome = "succeeded";
  e.duration = std::chrono::milliseconds(2);
  return e;
}

bool Done(const Run& run, Clock::time_point start, long appended) {
  if (run.tiny_appends > 0) return appended >= run.tiny_appends;
  return Clock::now() - start >= std::chrono::duration<double>(run.seconds);
}

// One thread: write(2) a record-sized line, fdatasync, again.
double Floor(const Run& run) {
  const std::filesystem::path file = run.dir / "floor.jsonl";
  const int fd = ::open(file.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) Fail("open " + file.string() + ": " + std::strerror(errno));
  const std::string line(420, 'x');  // about a directory_write record
  long appended = 0;
  const auto start = Clock::now();
  while (!Done(run, start, appended)) {
    if (::write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size()) ||
        ::fdatasync(fd) != 0) {
      Fail("floor: " + std::string(std::strerror(errno)));
    }
    ++appended;
  }
  const double took = std::chrono::duration<double>(Clock::now() - start).count();
  ::close(fd);
  return static_cast<double>(appended) / took;
}

// `threads` threads, each appending durably as fast as it can, into one fresh trail.
double Durable(const Run& run, int threads) {
  const std::filesystem::path dir = run.dir / ("trail-" + std::to_string(threads));
  WriterOptions options;
  options.file = dir / "audit" / "audit.jsonl";
  options.checkpoint_file = dir / "audit.checkpoint";
  options.agent_id = "bench";
  SystemClock clock;
  auto writer = Writer::Open(options, Secret(std::string(kKeyBytes, 'k')), clock);
  if (!writer.ok()) Fail(writer.error().ToString());
  std::atomic<long> appended{0};
  std::atomic<bool> failed{false};
  const auto start = Clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (int i = t; !Done(run, start, appended.load()); i += threads) {
        if (!(*writer)->Append(SampleEvent(i), Durability::kDurable).ok()) {
          failed = true;
          return;
        }
        ++appended;
      }
    });
  }
  for (auto& th : pool) th.join();
  const double took = std::chrono::duration<double>(Clock::now() - start).count();
  if (failed) Fail("a durable append failed");
  if (!(*writer)->Close().ok()) Fail("close failed");
  return static_cast<double>(appended.load()) / took;
}

int Main(int argc, char** argv) {
  Run run;
  std::string dir_arg;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--seconds" && i + 1 < argc) {
      run.seconds = std::atof(argv[++i]);
    } else if (a == "--dir" && i + 1 < argc) {
      dir_arg = argv[++i];
    } else if (a == "--tiny") {
      run.tiny_appends = 20;
    } else {
      std::fprintf(stderr, "usage: audit_bench [--seconds S] [--dir DIR] [--tiny]\n");
      return 2;
    }
  }
  const char* tmp = std::getenv("TMPDIR");
  std::string templ = (dir_arg.empty() ? std::string(tmp != nullptr ? tmp : "/tmp") : dir_arg) +
                      "/wbauditbench-XXXXXX";
  if (::mkdtemp(templ.data()) == nullptr) Fail("mkdtemp: " + std::string(std::strerror(errno)));
  run.dir = templ;
  const double floor = Floor(run);
  std::printf("%-34s %10.0f appends/s\n", "floor: write + fdatasync, 1 thread", floor);
  for (int threads : {1, 8, 32}) {
    const double rate = Durable(run, threads);
    char label[64];
    std::snprintf(label, sizeof label, "durable append, %d thread%s", threads,
                  threads == 1 ? "" : "s");
    std::printf("%-34s %10.0f appends/s  %5.2f x floor\n", label, rate, rate / floor);
  }
  std::error_code ignored;
  std::filesystem::remove_all(run.dir, ignored);
  return 0;
}

}  // namespace
}  // namespace wb::audit

int main(int argc, char** argv) { return wb::audit::Main(argc, argv); }
