// A helper process for the queue tests.
//
//   queue_test_helper hold STATE_DIR
//       Opens the queue, prints "holding", and waits to be killed.
//   queue_test_helper crash STATE_DIR REPORT DIRECTORY_LOG TAG
//       Recovers what a previous (killed) run left, then enqueues and processes requests from
//       several threads until killed. After each Enqueue returns OK it appends the id to
//       REPORT: the ids it was told are durable. It "applies" a request by appending its id to
//       DIRECTORY_LOG (the simulated directory), so the parent can check nothing is applied
//       twice.
//   queue_test_helper drain STATE_DIR REPORT DIRECTORY_LOG TAG
//       Recovers, then finishes every unfinished request and exits 0.

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "queue/queue.h"
#include "tests/queue/queue_test_util.h"

namespace wb::queue::testing {
namespace {

[[noreturn]] void Die(int code, const std::string& what) {
  std::fprintf(stderr, "queue_test_helper: %s\n", what.c_str());
  std::fflush(stderr);
  ::_exit(code);
}

std::set<std::string> ReadLines(const std::string& path) {
  std::set<std::string> out;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) out.insert(line);
  return out;
}

void AppendLine(int fd, const std::string& line) {
  std::string l = line + "\n";
  if (::write(fd, l.data(), l.size()) != static_cast<ssize_t>(l.size())) Die(7, "append");
}

class Helper {
 public:
  Helper(const std::string& state_dir, const std::string& report, const std::string& dir_log,
         const std::string& tag)
      : tag_(tag), dir_log_(dir_log), rng_(std::hash<std::string>{}(tag)) {
    Options o;
    o.state_dir = state_dir;
    o.max_in_flight = 2;
    o.backoff_base = std::chrono::milliseconds(1);
    o.backoff_cap = std::chrono::milliseconds(4);
    o.credentials_directory = std::filesystem::path();
    auto q = Queue::Open(o, clock_);
    if (!q.ok()) Die(2, q.error().ToString());
    queue_ = std::move(q).value();
    report_fd_ = ::open(report.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    dir_fd_ = ::open(dir_log.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (report_fd_ < 0 || dir_fd_ < 0) Die(2, "cannot open the report files");
  }

  // Resolves interrupted attempts by asking the "directory", and re-admits received requests.
  void Recover() {
    const std::set<std::string> applied = ReadLines(dir_log_);
    auto interrupted = queue_->InterruptedAttempts();
    if (!interrupted.ok()) Die(3, interrupted.error().ToString());
    int found = 0;
    for (const Record& r : *interrupted) {
      const bool visible = applied.count(r.info.id) != 0;
      found += visible ? 1 : 0;
      Status s = visible ? queue_->MarkFoundApplied(r.info.id, "log")
                         : queue_->RequeueInterrupted(r.info.id);
      if (!s.ok()) Die(3, s.ToString());
    }
    std::printf("recovered: %d found applied, %zu requeued\n", found,
                interrupted->size() - static_cast<std::size_t>(found));
    std::fflush(stdout);
    auto received = queue_->List({.state = State::kReceived, .limit = 100000});
    if (!received.ok()) Die(3, received.error().ToString());
    for (const Record& r : *received) {
      if (Status s = queue_->MarkReady(r.info.id); !s.ok()) Die(3, s.ToString());
    }
  }

  void Produce(int thread) {
    for (int i = 0;; ++i) {
      std::string id = tag_ + "-p" + std::to_string(thread) + "-" + std::to_string(i);
      auto r = queue_->Enqueue(MakeReset(id, "acct" + std::to_string(Random(6)), clock_.Now()));
      if (!r.ok()) Die(4, r.error().ToString());
      AppendLine(report_fd_, id);  // only now has the queue promised durability
      if (Status s = queue_->MarkReady(id); !s.ok()) Die(4, s.ToString());
    }
  }

  // Takes and processes one request; returns false when there was none.
  bool WorkOnce(bool allow_failures) {
    auto w = queue_->Take();
    if (!w.ok()) Die(5, w.error().ToString());
    if (!w->has_value()) return false;
    const std::string id = (*w)->record.info.id;
    if ((*w)->new_password.view() != PasswordFor(id)) Die(6, "wrong password for " + id);
    const int dice = allow_failures ? Random(100) : 99;
    Status s;
    if (dice < 15) {
      auto retried = queue_->Retry(id, Transient());
      if (!retried.ok()) s = retried.error();
    } else if (dice < 25) {
      if (auto finished = queue_->Finish(id, Rejected()); !finished.ok()) s = finished.error();
    } else {
      AppendLine(dir_fd_, id);  // the directory write
      if (auto finished = queue_->Finish(id, Succeeded()); !finished.ok()) s = finished.error();
    }
    if (!s.ok()) Die(5, s.ToString());
    return true;
  }

  void WorkLoop() {
    for (;;) {
      if (!WorkOnce(true)) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }

  void Maintain() {
    for (;;) {
      std::this_thread::sleep_for(std::chrono::milliseconds(15));
      if (auto m = queue_->Maintain(); !m.ok()) Die(8, m.error().ToString());
      auto pending = queue_->PendingResults(20);
      if (!pending.ok()) Die(8, pending.error().ToString());
      for (const Record& r : *pending) {
        if (Status s = queue_->AcknowledgeResult(r.info.id); !s.ok()) Die(8, s.ToString());
      }
    }
  }

  int Drain() {
    for (;;) {
      if (WorkOnce(false)) continue;
      auto stats = queue_->GetStats();
      if (!stats.ok()) Die(9, stats.error().ToString());
      if (stats->unfinished == 0) return 0;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));  // a retry's backoff
    }
  }

 private:
  int Random(int n) {
    std::lock_guard l(rng_mu_);
    return static_cast<int>(rng_() % static_cast<unsigned>(n));
  }

  SystemClock clock_;
  std::string tag_;
  std::string dir_log_;
  std::unique_ptr<Queue> queue_;
  int report_fd_ = -1;
  int dir_fd_ = -1;
  std::mutex rng_mu_;
  std::mt19937 rng_;
};

int Hold(const std::string& state_dir) {
  SystemClock clock;
  Options o;
  o.state_dir = state_dir;
  o.credentials_directory = std::filesystem::path();
  auto q = Queue::Open(o, clock);
  if (!q.ok()) Die(2, q.error().ToString());
  std::printf("holding\n");
  std::fflush(stdout);
  for (;;) ::pause();
}

int Main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (args.size() == 2 && args[0] == "hold") return Hold(args[1]);
  if (args.size() != 5 || (args[0] != "crash" && args[0] != "drain")) {
    Die(1, "usage: hold STATE_DIR | crash|drain STATE_DIR REPORT DIRECTORY_LOG TAG");
  }
  Helper helper(args[1], args[2], args[3], args[4]);
  helper.Recover();
  if (args[0] == "drain") return helper.Drain();
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) threads.emplace_back([&, t] { helper.Produce(t); });
  for (int t = 0; t < 2; ++t) threads.emplace_back([&] { helper.WorkLoop(); });
  threads.emplace_back([&] { helper.Maintain(); });
  for (auto& t : threads) t.join();  // never: the parent kills this process
  return 0;
}

}  // namespace
}  // namespace wb::queue::testing

int main(int argc, char** argv) { return wb::queue::testing::Main(argc, argv); }
