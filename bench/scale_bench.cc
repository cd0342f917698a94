// How the agent's stores behave as they grow (issue #18, item 4). Three benches, each at 10 k,
// 100 k and (with --max 1M) 1 M against 0 in the same run:
//   queue   Enqueue + MarkReady + Take + Finish per request, with that many finished records
//           retained in the queue (the 7-day retention keeps them): p50/p99 per request and
//           the mean of each call;
//   replay  RememberNonce of a new nonce and of a known one (the replay lookup), with that
//           many nonces remembered: p50/p99 of each;
//   audit   `audit verify` (Verify) of a 10 MB / 100 MB / (with --max 1M) 1 GB trail as a ratio
//           to `sha256sum` of the same files, and the fast path (VerifyFromCheckpoint) beside it.
// The stores are filled directly (one SQLite transaction; the audit Writer's buffered appends);
// every measured call goes through the public API. Everything lives in a temporary directory
// under --dir (default $TMPDIR or /tmp), removed at the end. --tiny runs each bench at a few
// records so that a test keeps it working; it asserts no speed.
//
// Run: build/bench/scale_bench [--max 10k|100k|1M] [--only queue,replay,audit]
//                              [--requests N] [--dir DIR] [--tiny]
// Or: build/bench/scale_bench --fill-queue STATE_DIR --retained N (what bench/load.sh
// --retained runs: finished records in a state directory the agent has not opened yet).

#include <sqlite3.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "audit/audit.h"
#include "common/clock.h"
#include "common/percentile.h"
#include "common/secret.h"
#include "queue/queue.h"

namespace wb::bench {
namespace {

using Clock = std::chrono::steady_clock;
using Micro = std::chrono::duration<double, std::micro>;

struct Args {
  std::uint64_t max = 100'000;
  bool queue = true;
  bool replay = true;
  bool audit = true;
  int requests = 1000;
  std::filesystem::path dir;
  bool tiny = false;
  // --fill-queue: only fill this state directory's queue with `retained` finished records.
  std::filesystem::path fill_queue;
  std::uint64_t retained = 0;
};

[[noreturn]] void Usage(const std::string& why) {
  std::fprintf(stderr,
               "scale_bench: %s\nusage: scale_bench [--max 10k|100k|1M] [--only "
               "queue,replay,audit] [--requests N] [--dir DIR] [--tiny]\n"
               "       scale_bench --fill-queue STATE_DIR --retained N\n",
               why.c_str());
  std::exit(2);
}

std::uint64_t ParseSize(std::string_view s) {
  if (s == "10k") return 10'000;
  if (s == "100k") return 100'000;
  if (s == "1M") return 1'000'000;
  std::string why = "--max takes 10k, 100k or 1M, not \"";
  why += s;
  why += '"';
  Usage(why);
}

Args ParseArgs(int argc, char** argv) {
  Args a;
  const char* tmp = std::getenv("TMPDIR");
  a.dir = tmp != nullptr ? tmp : "/tmp";
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    const auto value = [&]() -> std::string {
      if (i + 1 >= argc) Usage(std::string(arg) + " needs a value");
      return argv[++i];
    };
    if (arg == "--max") {
      a.max = ParseSize(value());
    } else if (arg == "--only") {
      std::string only = ",";
      only += value();
      only += ',';
      a.queue = only.find(",queue,") != std::string::npos;
      a.replay = only.find(",replay,") != std::string::npos;
      a.audit = only.find(",audit,") != std::string::npos;
      if (!a.queue && !a.replay && !a.audit) Usage("--only names none of queue, replay, audit");
    } else if (arg == "--requests") {
      a.requests = std::atoi(value().c_str());
      if (a.requests < 1) Usage("--requests must be at least 1");
    } else if (arg == "--dir") {
      a.dir = value();
    } else if (arg == "--tiny") {
      a.tiny = true;
    } else if (arg == "--fill-queue") {
      a.fill_queue = value();
    } else if (arg == "--retained") {
      const std::string n = value();
      if (n.empty() || n.find_first_not_of("0123456789") != std::string::npos) {
        Usage("--retained takes a count, not \"" + n + "\"");
      }
      a.retained = std::stoull(n);
    } else {
      std::string why = "unknown argument \"";
      why += arg;
      why += '"';
      Usage(why);
    }
  }
  if (a.tiny) a.requests = std::min(a.requests, 20);
  if (a.retained > 0 && a.fill_queue.empty()) Usage("--retained goes with --fill-queue");
  if (!a.fill_queue.empty() && a.retained == 0) Usage("--fill-queue needs --retained 1 or more");
  return a;
}

// The sizes of one bench: 0 (the baseline), then 10 k, 100 k, 1 M up to --max.
std::vector<std::uint64_t> Sizes(const Args& a) {
  if (a.tiny) return {0, 100};
  std::vector<std::uint64_t> sizes = {0};
  for (std::uint64_t n : {10'000ULL, 100'000ULL, 1'000'000ULL}) {
    if (n <= a.max) sizes.push_back(n);
  }
  return sizes;
}

std::string Count(std::uint64_t n) {
  if (n >= 1'000'000 && n % 1'000'000 == 0) return std::to_string(n / 1'000'000) + "M";
  if (n >= 1'000 && n % 1'000 == 0) return std::to_string(n / 1'000) + "k";
  return std::to_string(n);
}

double Mean(const std::vector<double>& v) {
  double sum = 0;
  for (double x : v) sum += x;
  return v.empty() ? 0 : sum / static_cast<double>(v.size());
}

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "scale_bench: %s\n", what.c_str());
  std::exit(1);
}

template <typename T>
T Must(Result<T> r, const char* what) {
  if (!r.ok()) Die(std::string(what) + ": " + r.error().ToString());
  return std::move(r).value();
}
void Must(const Status& s, const char* what) {
  if (!s.ok()) Die(std::string(what) + ": " + s.ToString());
}

std::filesystem::path MakeTempDir(const std::filesystem::path& under) {
  std::string templ = (under / "wbscale-XXXXXX").string();
  if (::mkdtemp(templ.data()) == nullptr) Die("mkdtemp failed under " + templ);
  return templ;
}

// --- The queue's stores, filled directly ------------------------------------------------------

// Runs `sql` on the queue's database in one transaction (the Queue is closed meanwhile).
void FillDb(const std::filesystem::path& state_dir, const std::string& sql) {
  sqlite3* db = nullptr;
  if (sqlite3_open((state_dir / "queue.db").c_str(), &db) != SQLITE_OK) {
    Die("cannot open the queue database");
  }
  char* error = nullptr;
  // The fill's pages are copied from the WAL into the database here, not by the measured calls.
  std::string all = "BEGIN;";
  all += sql;
  all += "COMMIT; PRAGMA wal_checkpoint(TRUNCATE);";
  if (sqlite3_exec(db, all.c_str(), nullptr, nullptr, &error) != SQLITE_OK) {
    std::string why = error != nullptr ? error : "unknown";
    sqlite3_free(error);
    sqlite3_close(db);
    Die(why.insert(0, "filling the queue database: "));
  }
  sqlite3_close(db);
}

std::string Numbers(std::uint64_t n) {
  std::string sql = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ";
  sql += std::to_string(n);
  sql += ") ";
  return sql;
}

// n succeeded, acknowledged records with their five history events, as the agent leaves them,
// received one after another over the six days before the last ten minutes (inside the 7-day
// retention, so that none is purged; and spread, so that a rate limit's window holds only its
// share of them). Their ids are random version-4 UUIDs, as the cloud's are: sequential ones
// would fill one end of the id index and leave the measured requests' inserts a small,
// cached corner of it.
std::string FinishedRecordsSql(std::uint64_t n, std::int64_t now_ms) {
  constexpr std::int64_t kSixDaysMs = 6LL * 24 * 3600 * 1000;
  const std::int64_t step = std::max<std::int64_t>(1, kSixDaysMs / static_cast<std::int64_t>(n));
  // When record i was received, as SQL.
  const std::string b = "(" + std::to_string(now_ms - 600000) + " - (" + std::to_string(n) +
                        " - i) * " + std::to_string(step) + ")";
  std::string sql = Numbers(n);
  sql +=
      "INSERT INTO requests (id, tenant, correlation_id, operations, target, target_kind, "
      "account_key, requester, issued_at, expires_at, state, attempts, received_at, ready_at, "
      "attempt_started_at, not_before, finished_at, acked_at, outcome_code, outcome_transient, "
      "outcome_message, outcome_server, outcome_duration_ms, history) SELECT "
      "lower(printf('%s-%s-4%s-8%s-%s', hex(randomblob(4)), hex(randomblob(2)), "
      "substr(hex(randomblob(2)), 2), substr(hex(randomblob(2)), 2), hex(randomblob(6)))), "
      "'bench', 'corr-' || i, 1, "
      "'user' || (i % 5000) || '@example.test', 'upn', 'corp|user' || (i % 5000), "
      "'{\"by\":\"self\"}', ";
  sql += b + ", " + b + " + 300000, 3, 1, " + b + ", " + b + " + 1000, ";
  sql += b + " + 2000, " + b + ", " + b + " + 3000, " + b + " + 4000, ";
  sql += "'succeeded', 0, '', 'ldaps://127.0.0.1:636', 4, json_array(";
  sql += "json_array(" + b + ", 'received', 0, 0, '', ''), ";
  sql += "json_array(" + b + " + 1000, 'ready', 1, 0, '', ''), ";
  sql += "json_array(" + b + " + 2000, 'applying', 2, 1, '', ''), ";
  sql += "json_array(" + b + " + 3000, 'succeeded', 3, 1, '', ''), ";
  sql += "json_array(" + b + " + 4000, 'result_acknowledged', 3, 1, '', '')) FROM n;";
  return sql;
}

std::string NoncesSql(std::uint64_t n, std::int64_t forget_after_ms) {
  std::string sql = Numbers(n);
  // Scattered over the key space, as the cloud's random nonces are (see FinishedRecordsSql on
  // why not sequential), yet known to the lookups below (FillNonce).
  sql +=
      "INSERT INTO replay (kind, value, forget_after) SELECT 1, "
      "printf('%08x-fill-nonce-%020d', (i * 2654435761) % 4294967296, i), ";
  sql += std::to_string(forget_after_ms);
  sql += " FROM n;";
  return sql;
}

std::int64_t Millis(WallTime t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

queue::Options QueueOptions(const std::filesystem::path& state_dir) {
  queue::Options o;
  o.state_dir = state_dir;
  o.max_pending = 10'000'000;
  o.credentials_directory = std::filesystem::path();  // not the environment's
  return o;
}

std::unique_ptr<queue::Queue> OpenQueue(const std::filesystem::path& state_dir,
                                        const wb::Clock& clock) {
  return Must(queue::Queue::Open(QueueOptions(state_dir), clock), "opening the queue");
}

// A queue holding `retained` finished records (or nonces): created through the API, filled
// directly, opened again.
std::unique_ptr<queue::Queue> FilledQueue(const std::filesystem::path& state_dir,
                                          const wb::Clock& clock, const std::string& fill_sql) {
  OpenQueue(state_dir, clock).reset();
  if (!fill_sql.empty()) FillDb(state_dir, fill_sql);
  return OpenQueue(state_dir, clock);
}

queue::Request MakeRequest(const std::string& id, const wb::Clock& clock) {
  queue::Request r;
  r.info = queue::RequestInfo{.id = id,
                              .tenant = "bench",
                              .correlation_id = "corr-" + id,
                              .operations = {.reset = true},
                              .target = "measured-" + id + "@example.test",
                              .target_kind = "upn",
                              .account_key = "corp|measured-" + id,
                              .issued_at = clock.Now(),
                              .expires_at = clock.Now() + std::chrono::hours(1),
                              .requester_json = R"({"by":"self"})"};
  r.new_password = Secret("Bench-Pa55word!");
  return r;
}

double Elapsed(Clock::time_point from) { return Micro(Clock::now() - from).count(); }

double Micros(const timeval& t) {
  return static_cast<double>(t.tv_sec) * 1e6 + static_cast<double>(t.tv_usec);
}

// The process's CPU time (user + system) in microseconds: unlike the wall time, hardly moved by
// a disk's fsync latency or by other processes on a shared machine.
double CpuMicros() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return Micros(u.ru_utime) + Micros(u.ru_stime);
}

void QueueStep(const Args& a, std::uint64_t retained, const std::filesystem::path& root) {
  SystemClock clock;
  std::filesystem::path state = root / "queue-";
  state += Count(retained);
  const auto fill_start = Clock::now();
  auto q = FilledQueue(state, clock,
                       retained > 0 ? FinishedRecordsSql(retained, Millis(clock.Now())) : "");
  const double fill_s = Elapsed(fill_start) / 1e6;
  std::vector<double> total, enqueue, ready, take, finish;
  const queue::Outcome succeeded{.state = queue::State::kSucceeded, .code = "succeeded"};
  const double cpu_start = CpuMicros();
  for (int i = 0; i < a.requests; ++i) {
    char id[64];
    std::snprintf(id, sizeof id, "11111111-0000-4000-8000-%012d", i);
    const queue::Request request = MakeRequest(id, clock);
    const auto t0 = Clock::now();
    Must(q->Enqueue(request), "Enqueue");
    const auto t1 = Clock::now();
    Must(q->MarkReady(id), "MarkReady");
    const auto t2 = Clock::now();
    auto work = Must(q->Take(), "Take");
    if (!work || work->record.info.id != id) Die("Take did not return the request just made ready");
    const auto t3 = Clock::now();
    Must(q->Finish(id, succeeded), "Finish");
    const auto t4 = Clock::now();
    enqueue.push_back(Micro(t1 - t0).count());
    ready.push_back(Micro(t2 - t1).count());
    take.push_back(Micro(t3 - t2).count());
    finish.push_back(Micro(t4 - t3).count());
    total.push_back(Micro(t4 - t0).count());
  }
  const double cpu_per_request = (CpuMicros() - cpu_start) / a.requests;
  q.reset();
  std::uintmax_t db_bytes = 0;
  for (const auto& f : std::filesystem::directory_iterator(state)) {
    if (f.is_regular_file()) db_bytes += f.file_size();
  }
  std::printf("%9s %8.1f %9.0f %9.0f %9.0f %9.0f %9.0f %9.0f %9.0f %9.1f\n",
              Count(retained).c_str(), static_cast<double>(db_bytes) / 1e6,
              NearestRankOf(total, 0.5), NearestRankOf(total, 0.99), cpu_per_request, Mean(enqueue),
              Mean(ready), Mean(take), Mean(finish), fill_s);
  std::fflush(stdout);
  std::filesystem::remove_all(state);
}

void QueueBench(const Args& a, const std::filesystem::path& root) {
  std::printf(
      "\nqueue: Enqueue+MarkReady+Take+Finish per request (%d requests per step), finished "
      "records retained\n",
      a.requests);
  std::printf("%9s %8s %9s %9s %9s %9s %9s %9s %9s %9s\n", "retained", "db MB", "p50 us", "p99 us",
              "cpu us", "enqueue", "ready", "take", "finish", "fill s");
  for (std::uint64_t n : Sizes(a)) QueueStep(a, n, root);
}

// The k-th nonce of NoncesSql (1-based), as it wrote it.
void FillNonce(std::uint64_t k, char* out, std::size_t size) {
  const auto scatter = static_cast<unsigned long long>((k * 2654435761ULL) % 4294967296ULL);
  std::snprintf(out, size, "%08llx-fill-nonce-%020llu", scatter,
                static_cast<unsigned long long>(k));
}

void ReplayStep(const Args& a, std::uint64_t nonces, const std::filesystem::path& root) {
  SystemClock clock;
  std::filesystem::path state = root / "replay-";
  state += Count(nonces);
  const WallTime expires = clock.Now() + std::chrono::hours(1);
  const auto fill_start = Clock::now();
  auto q = FilledQueue(state, clock, nonces > 0 ? NoncesSql(nonces, Millis(expires)) : "");
  const double fill_s = Elapsed(fill_start) / 1e6;
  std::vector<double> fresh, known;
  double fresh_cpu = 0;
  double known_cpu = 0;
  for (int i = 0; i < a.requests; ++i) {
    char nonce[64];
    std::snprintf(nonce, sizeof nonce, "measured-nonce-%020d", i);
    double c0 = CpuMicros();
    auto t0 = Clock::now();
    if (!Must(q->RememberNonce(nonce, expires), "RememberNonce")) Die("a new nonce was known");
    fresh.push_back(Elapsed(t0));
    fresh_cpu += CpuMicros() - c0;
    // A replay of a nonce from the filled part (or, at 0, the one just remembered).
    if (nonces > 0) {
      FillNonce(1 + (static_cast<std::uint64_t>(i) * 7919) % nonces, nonce, sizeof nonce);
    }
    c0 = CpuMicros();
    t0 = Clock::now();
    if (Must(q->RememberNonce(nonce, expires), "RememberNonce")) Die("a known nonce was new");
    known.push_back(Elapsed(t0));
    known_cpu += CpuMicros() - c0;
  }
  q.reset();
  std::printf("%9s %9.0f %9.0f %9.0f %9.0f %9.0f %9.0f %9.1f\n", Count(nonces).c_str(),
              NearestRankOf(fresh, 0.5), NearestRankOf(fresh, 0.99), fresh_cpu / a.requests,
              NearestRankOf(known, 0.5), NearestRankOf(known, 0.99), known_cpu / a.requests,
              fill_s);
  std::fflush(stdout);
  std::filesystem::remove_all(state);
}

void ReplayBench(const Args& a, const std::filesystem::path& root) {
  std::printf(
      "\nreplay memory: RememberNonce of a new nonce and of a known one (the replay lookup), "
      "%d each per step\n",
      a.requests);
  std::printf("%9s %9s %9s %9s %9s %9s %9s %9s\n", "nonces", "new p50", "new p99", "new cpu",
              "seen p50", "seen p99", "seen cpu", "fill s");
  for (std::uint64_t n : Sizes(a)) ReplayStep(a, n, root);
}

// --- The audit trail ------------------------------------------------------------------------

audit::Event TrailEvent(std::uint64_t i) {
  audit::Event e;
  e.type = audit::EventType::kDirectoryWrite;
  e.request_id = "7d444840-9dc0-11d1-b245-5ffdce74fa10";
  e.correlation_id = "corr-";
  e.correlation_id += std::to_string(i);
  e.tenant = "contoso";
  e.operations = {audit::Operation::kReset, audit::Operation::kUnlock};
  std::string user = "user";
  user += std::to_string(i % 5000);
  std::string dn = "CN=User ";
  dn += std::to_string(i % 5000);
  dn += ",OU=Staff,DC=corp,DC=example,DC=com";
  e.target = {user + "@corp.example.com", dn};
  e.requester = {audit::RequesterKind::kSelf, e.target.requested, {"sms", "email"}};
  e.decision = audit::Decision::kAllow;
  e.directory = "corp";
  e.server = "ldaps://dc1.corp.example.com:636";
  e.outcome = "succeeded";
  e.duration = std::chrono::milliseconds(40);
  return e;
}

std::uintmax_t TrailBytes(const std::filesystem::path& dir) {
  std::uintmax_t bytes = 0;
  for (const auto& f : std::filesystem::directory_iterator(dir)) {
    if (f.is_regular_file()) bytes += f.file_size();
  }
  return bytes;
}

// Fills the trail to `bytes` with buffered appends (the durable head is checkpointed at Close,
// as after a clean stop) and returns how many records it holds.
std::uint64_t WriteTrail(const audit::WriterOptions& options, std::uint64_t bytes) {
  SystemClock clock;
  auto writer =
      Must(audit::Writer::Open(options, Secret(std::string(audit::kKeyBytes, 'k')), clock),
           "opening the audit writer");
  std::uint64_t records = 0;
  for (std::uint64_t written = 0; written < bytes;) {
    for (int i = 0; i < 1000; ++i) {
      Must(writer->Append(TrailEvent(records), audit::Durability::kBuffered), "Append");
      ++records;
    }
    written = TrailBytes(options.file.parent_path());
  }
  Must(writer->Close(), "closing the audit writer");
  return records;
}

// Wall time of `sha256sum` over the trail's files, in seconds.
double Sha256sumSeconds(const std::filesystem::path& dir) {
  std::string command = "sha256sum ";
  command += dir.string();
  command += "/audit.jsonl* > /dev/null";
  const auto t0 = Clock::now();
  const int rc = std::system(command.c_str());
  const double s = Elapsed(t0) / 1e6;
  if (rc != 0) Die("sha256sum failed");
  return s;
}

void AuditStep(std::uint64_t bytes, const std::filesystem::path& root) {
  std::filesystem::path dir = root / "audit-";
  dir += std::to_string(bytes);
  audit::WriterOptions options;
  options.file = dir / "audit" / "audit.jsonl";
  options.checkpoint_file = dir / "audit.checkpoint";
  options.agent_id = "bench";
  const auto fill_start = Clock::now();
  const std::uint64_t records = WriteTrail(options, bytes);
  const double fill_s = Elapsed(fill_start) / 1e6;
  const std::uintmax_t size = TrailBytes(options.file.parent_path());
  const Secret key(std::string(audit::kKeyBytes, 'k'));
  const audit::VerifyOptions verify{options.file, options.checkpoint_file};
  Sha256sumSeconds(options.file.parent_path());  // the page cache warm for all three
  const double sha_s = Sha256sumSeconds(options.file.parent_path());
  auto t0 = Clock::now();
  const audit::VerifyReport full = Must(audit::Verify(verify, key), "Verify");
  const double verify_s = Elapsed(t0) / 1e6;
  if (!full.ok() || full.records != records) Die("the trail did not verify");
  t0 = Clock::now();
  const audit::VerifyReport fast = Must(audit::VerifyFromCheckpoint(verify, key), "fast path");
  const double fast_s = Elapsed(t0) / 1e6;
  if (!fast.ok() || fast.from_seq != records) Die("the fast path did not verify from the head");
  std::printf("%9.1f %9llu %6zu %9.3f %9.3f %7.1fx %11.3f %9.1f\n", static_cast<double>(size) / 1e6,
              static_cast<unsigned long long>(records), full.files, sha_s, verify_s,
              verify_s / sha_s, fast_s * 1e3, fill_s);
  std::fflush(stdout);
  std::filesystem::remove_all(dir);
}

void AuditBench(const Args& a, const std::filesystem::path& root) {
  std::printf(
      "\naudit verify against sha256sum of the same files (page cache warm), and the fast path "
      "from the checkpoint\n");
  std::printf("%9s %9s %6s %9s %9s %8s %11s %9s\n", "MB", "records", "files", "sha256 s",
              "verify s", "ratio", "fast ms", "fill s");
  std::vector<std::uint64_t> sizes;
  if (a.tiny) {
    sizes = {100'000};
  } else {
    sizes = {10'000'000, 100'000'000};
    if (a.max >= 1'000'000) sizes.push_back(1'000'000'000);
  }
  for (std::uint64_t bytes : sizes) AuditStep(bytes, root);
}

// bench/load.sh --retained: the agent's own state directory, as a week's retention leaves it,
// before the agent first starts. The queue (and its key) is created as the agent would.
int FillQueue(const Args& a) {
  SystemClock clock;
  const auto start = Clock::now();
  FilledQueue(a.fill_queue, clock, FinishedRecordsSql(a.retained, Millis(clock.Now()))).reset();
  std::printf("scale_bench: %s finished records retained in %s (%.1f s)\n",
              Count(a.retained).c_str(), a.fill_queue.c_str(), Elapsed(start) / 1e6);
  return 0;
}

int Main(int argc, char** argv) {
  const Args a = ParseArgs(argc, argv);
  if (!a.fill_queue.empty()) return FillQueue(a);
  const std::filesystem::path root = MakeTempDir(a.dir);
  std::printf("scale_bench: up to %s (--max), in %s\n", Count(a.max).c_str(), root.c_str());
  if (a.queue) QueueBench(a, root);
  if (a.replay) ReplayBench(a, root);
  if (a.audit) AuditBench(a, root);
  std::filesystem::remove_all(root);
  return 0;
}

}  // namespace
}  // namespace wb::bench

int main(int argc, char** argv) { return wb::bench::Main(argc, argv); }
