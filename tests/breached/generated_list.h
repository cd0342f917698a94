#pragma once
// Test support: Pwned Passwords text generated on the fly, sorted by construction (each hash's
// first 8 bytes grow by a random step, the rest is random), so that millions of entries cost
// no sort and constant memory.

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

namespace wb::testing {

using Hash = std::vector<std::uint8_t>;

inline std::string HexUpper(const Hash& h) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string s;
  for (std::uint8_t b : h) {
    s += kDigits[b >> 4];
    s += kDigits[b & 15];
  }
  return s;
}

inline Hash HashFromHex(const std::string& hex) {
  Hash h;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    h.push_back(static_cast<std::uint8_t>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  return h;
}

// The first 8 bytes as a big-endian number.
inline std::uint64_t Prefix(const Hash& h) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | h[static_cast<std::size_t>(i)];
  return v;
}

struct GeneratedEntry {
  Hash hash;
  std::uint32_t count;
};

// Produces `n` random entries in ascending order, merging `extra` (sorted, distinct from what
// the generator makes only with overwhelming probability) in their place. Calls
// `emit(entry, index)` for each.
template <typename Emit>
void GenerateEntries(std::uint64_t n, std::size_t hash_size, std::vector<GeneratedEntry> extra,
                     std::uint64_t seed, Emit emit) {
  std::sort(extra.begin(), extra.end(),
            [](const GeneratedEntry& a, const GeneratedEntry& b) { return a.hash < b.hash; });
  std::mt19937_64 rng(seed);
  // Mean step 0.95 * 2^64 / n: the last prefix stays below 2^64.
  const std::uint64_t max_step =
      static_cast<std::uint64_t>(1.9 * 18446744073709551615.0 / static_cast<double>(n));
  std::uint64_t prefix = 0;
  std::size_t next_extra = 0;
  std::uint64_t index = 0;
  GeneratedEntry e{Hash(hash_size), 0};
  for (std::uint64_t i = 0; i < n; ++i) {
    prefix += 1 + rng() % max_step;
    for (int k = 0; k < 8; ++k)
      e.hash[static_cast<std::size_t>(k)] = static_cast<std::uint8_t>(prefix >> (56 - 8 * k));
    for (std::size_t k = 8; k < hash_size; ++k) e.hash[k] = static_cast<std::uint8_t>(rng());
    e.count = static_cast<std::uint32_t>(i % 1000 + 1);
    while (next_extra < extra.size() && extra[next_extra].hash < e.hash) {
      emit(extra[next_extra++], index++);
    }
    if (next_extra < extra.size() && extra[next_extra].hash == e.hash) continue;
    emit(e, index++);
  }
  while (next_extra < extra.size()) emit(extra[next_extra++], index++);
}

// Writes entries as "HASH:COUNT" lines with `eol`.
class TextWriter {
 public:
  TextWriter(const std::filesystem::path& path, std::string eol)
      : file_(std::fopen(path.c_str(), "wb")), eol_(std::move(eol)) {}
  ~TextWriter() { Close(); }
  TextWriter(const TextWriter&) = delete;
  TextWriter& operator=(const TextWriter&) = delete;
  void Write(const GeneratedEntry& e) {
    line_ = HexUpper(e.hash);
    line_ += ':';
    line_ += std::to_string(e.count);
    line_ += eol_;
    std::fwrite(line_.data(), 1, line_.size(), file_);
  }
  void Close() {
    if (file_ != nullptr) std::fclose(file_);
    file_ = nullptr;
  }

 private:
  std::FILE* file_;
  std::string eol_;
  std::string line_;
};

}  // namespace wb::testing
