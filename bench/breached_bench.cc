// The offline breached-password list (issue #15: a lookup adds under 100 µs warm; import speed
// and lookup p50/p99 at 100 million entries). One run:
//   1. generates N random SHA-1 entries as Pwned Passwords text (CRLF, sorted by construction)
//      in DIR;
//   2. reads that text once sequentially: the floor for any streaming import;
//   3. imports it (breached::Import): MB/s and entries/s, and the ratio to the plain read;
//   4. looks up the same mix of present and absent hashes (half each, shuffled) in the imported
//      list and, as the baseline, by a plain binary search over the sorted text file (pread,
//      realigned to line starts): p50, p99, max of each after one warm-up pass, and the ratio.
// The files are deleted at the end. Exits 0; 1 when a lookup answers wrongly or a step fails.
// Run: build/bench/breached_bench DIR [ENTRIES (default 1000000)] [LOOKUPS (default 200000)]

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "breached/breached.h"

namespace wb::breached {
namespace {

using Clock = std::chrono::steady_clock;
using Hash = std::array<std::uint8_t, 20>;

struct Query {
  Hash hash;
  std::uint64_t expected;  // 0: absent
};

void HexUpper(const Hash& h, char* out) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  for (std::size_t i = 0; i < h.size(); ++i) {
    out[2 * i] = kDigits[h[i] >> 4];
    out[2 * i + 1] = kDigits[h[i] & 15];
  }
}

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// User + system CPU seconds of this process so far: on a shared machine the wall time of an
// import also measures the neighbours and the disk.
double CpuSeconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// Writes n entries (each hash's first 8 bytes grow by a random step; the rest is random) and
// keeps every k-th as a present query.
bool Generate(const std::filesystem::path& path, std::uint64_t n, std::size_t present_wanted,
              std::vector<Query>& queries) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return false;
  std::mt19937_64 rng(1);
  const auto max_step =
      static_cast<std::uint64_t>(1.9 * 18446744073709551615.0 / static_cast<double>(n));
  const std::uint64_t every = std::max<std::uint64_t>(1, n / present_wanted);
  std::uint64_t prefix = 0;
  Hash h{};
  char line[64];
  for (std::uint64_t i = 0; i < n; ++i) {
    prefix += 1 + rng() % max_step;
    for (int k = 0; k < 8; ++k)
      h[static_cast<std::size_t>(k)] = static_cast<std::uint8_t>(prefix >> (56 - 8 * k));
    for (std::size_t k = 8; k < h.size(); ++k) h[k] = static_cast<std::uint8_t>(rng());
    const std::uint64_t count = rng() % 10000 + 1;
    HexUpper(h, line);
    const int tail = std::snprintf(line + 40, sizeof(line) - 40, ":%llu\r\n",
                                   static_cast<unsigned long long>(count));
    std::fwrite(line, 1, 40 + static_cast<std::size_t>(tail), f);
    if (i % every == 0 && queries.size() < present_wanted) queries.push_back({h, count});
  }
  return std::fclose(f) == 0;
}

// Reads the whole file once; returns its size.
std::uint64_t ReadAll(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  std::vector<char> buf(4 << 20);
  std::uint64_t total = 0;
  for (ssize_t n; (n = ::read(fd, buf.data(), buf.size())) > 0;)
    total += static_cast<std::uint64_t>(n);
  ::close(fd);
  return total;
}

// The baseline: binary search over the sorted text, one pread per probe, realigned to the
// first line that starts at or after the probe. Returns the count, 0 when absent.
class TextSearch {
 public:
  explicit TextSearch(const std::filesystem::path& path)
      : fd_(::open(path.c_str(), O_RDONLY | O_CLOEXEC)), size_(std::filesystem::file_size(path)) {}
  ~TextSearch() { ::close(fd_); }
  TextSearch(const TextSearch&) = delete;
  TextSearch& operator=(const TextSearch&) = delete;

  std::uint64_t Count(const Hash& hash) const {
    char key[40];
    HexUpper(hash, key);
    std::uint64_t lo = 0;      // every line starting before lo is below the key
    std::uint64_t hi = size_;  // every line starting at or after hi is above it
    char buf[192];
    while (lo < hi) {
      const std::uint64_t mid = lo + (hi - lo) / 2;
      const std::uint64_t from = mid == 0 ? 0 : mid - 1;
      const ssize_t n = ::pread(fd_, buf, sizeof(buf), static_cast<off_t>(from));
      if (n <= 0) return 0;
      std::size_t start = 0;
      if (mid > 0) {
        const void* nl = std::memchr(buf, '\n', static_cast<std::size_t>(n));
        if (nl == nullptr) return 0;
        start = static_cast<std::size_t>(static_cast<const char*>(nl) - buf) + 1;
      }
      const std::uint64_t line = from + start;
      if (line >= hi || start + 40 > static_cast<std::size_t>(n)) {
        hi = mid;
        continue;
      }
      const int order = std::memcmp(buf + start, key, 40);
      if (order == 0) return std::strtoull(buf + start + 41, nullptr, 10);
      if (order > 0) {
        hi = mid;
      } else {
        const void* nl = std::memchr(buf + start, '\n', static_cast<std::size_t>(n) - start);
        lo = nl == nullptr ? size_ : from + (static_cast<const char*>(nl) - buf) + 1;
      }
    }
    return 0;
  }

 private:
  int fd_;
  std::uint64_t size_;
};

struct Latency {
  double p50_us, p99_us, max_us;
  int wrong;
};

template <typename Lookup>
Latency Measure(const std::vector<Query>& queries, Lookup lookup) {
  for (const Query& q : queries) lookup(q.hash);  // warm-up: the pages the queries touch
  std::vector<double> us;
  us.reserve(queries.size());
  int wrong = 0;
  for (const Query& q : queries) {
    const auto start = Clock::now();
    const std::uint64_t count = lookup(q.hash);
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
    if (count != q.expected) ++wrong;
  }
  std::sort(us.begin(), us.end());
  return {us[us.size() / 2], us[us.size() * 99 / 100], us.back(), wrong};
}

int Run(const std::filesystem::path& dir, std::uint64_t n, std::size_t lookups) {
  const auto text = dir / "breached_bench.txt";
  const auto bin = dir / "breached_bench.bin";
  std::vector<Query> queries;
  auto t0 = Clock::now();
  if (!Generate(text, n, lookups / 2, queries)) {
    std::fprintf(stderr, "cannot write %s\n", text.c_str());
    return 1;
  }
  std::mt19937_64 rng(2);
  while (queries.size() < lookups) {
    Hash h{};
    for (auto& b : h) b = static_cast<std::uint8_t>(rng());
    queries.push_back({h, 0});  // absent: a random 160-bit hash is not among n
  }
  std::shuffle(queries.begin(), queries.end(), rng);
  std::printf("generated %llu entries in %.1f s\n", static_cast<unsigned long long>(n),
              Seconds(Clock::now() - t0));

  t0 = Clock::now();
  const std::uint64_t text_bytes = ReadAll(text);
  const double read_s = Seconds(Clock::now() - t0);
  t0 = Clock::now();
  const double cpu0 = CpuSeconds();
  Result<ImportSummary> summary = Import(text, bin, {});
  const double import_s = Seconds(Clock::now() - t0);
  const double import_cpu_s = CpuSeconds() - cpu0;
  if (!summary.ok()) {
    std::fprintf(stderr, "import failed: %s\n", summary.error().ToString().c_str());
    return 1;
  }
  t0 = Clock::now();
  Result<List> list = List::Open(bin);
  const double open_s = Seconds(Clock::now() - t0);
  if (!list.ok()) {
    std::fprintf(stderr, "open failed: %s\n", list.error().ToString().c_str());
    return 1;
  }
  const double mb = static_cast<double>(text_bytes) / 1e6;
  std::printf("text: %.0f MB; plain sequential read: %.2f s (%.0f MB/s)\n", mb, read_s,
              mb / read_s);
  std::printf(
      "import: %.2f s, %.0f MB/s, %.2f M entries/s, %.0f MB written (2^%u index buckets); "
      "%.2fx the plain read's time\n",
      import_s, mb / import_s, static_cast<double>(n) / import_s / 1e6,
      static_cast<double>(summary->output_bytes) / 1e6, summary->index_bits, import_s / read_s);
  std::printf("import CPU: %.2f s (%.0f MB of text per CPU second)\n", import_cpu_s,
              mb / import_cpu_s);
  std::printf("open (header, index, sampled check): %.3f s\n", open_s);

  const Latency ours = Measure(queries, [&](const Hash& h) { return *list->CountHash(h); });
  TextSearch baseline(text);
  const Latency base = Measure(queries, [&](const Hash& h) { return baseline.Count(h); });
  std::printf("lookups (%zu, half present, warm):\n", queries.size());
  std::printf("  breached list   p50 %8.2f us  p99 %8.2f us  max %9.2f us\n", ours.p50_us,
              ours.p99_us, ours.max_us);
  std::printf("  text bsearch    p50 %8.2f us  p99 %8.2f us  max %9.2f us\n", base.p50_us,
              base.p99_us, base.max_us);
  std::printf("  ratio (text / list): p50 %.1fx, p99 %.1fx; goal p99 < 100 us: %s\n",
              base.p50_us / ours.p50_us, base.p99_us / ours.p99_us,
              ours.p99_us < 100 ? "met" : "NOT met");
  std::filesystem::remove(text);
  std::filesystem::remove(bin);
  if (ours.wrong != 0 || base.wrong != 0) {
    std::fprintf(stderr, "wrong answers: list %d, text %d\n", ours.wrong, base.wrong);
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace wb::breached

int main(int argc, char** argv) {
  if (argc < 2 || argc > 4) {
    std::fprintf(stderr, "usage: %s DIR [ENTRIES] [LOOKUPS]\n", argv[0]);
    return 2;
  }
  const std::uint64_t n = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 1'000'000;
  const std::size_t lookups = argc > 3 ? std::strtoull(argv[3], nullptr, 10) : 200'000;
  if (n == 0 || lookups < 2) {
    std::fprintf(stderr, "ENTRIES and LOOKUPS must be positive\n");
    return 2;
  }
  return wb::breached::Run(argv[1], n, lookups);
}
