// List: opening, checking and searching an imported breached-password list.
#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <initializer_list>
#include <string>
#include <utility>

#include "breached/breached.h"
#include "breached/format.h"
#include "breached/password_hash.h"

namespace wb::breached {
namespace {

// Every entry is checked at Open up to this size; above it, kSampledBuckets buckets.
constexpr std::uint64_t kFullCheckBytes = 64 << 20;
constexpr std::uint64_t kSampledBuckets = 256;

std::string Cat(std::initializer_list<std::string_view> parts) {
  std::string s;
  for (std::string_view p : parts) s += p;
  return s;
}

Status Corrupt(const std::filesystem::path& path, std::string_view what) {
  return Status(Code::kCorruption, Cat({path.string(), ": ", what}));
}

bool ChecksumMatches(const std::uint8_t* data, std::size_t n, const std::uint8_t* expected) {
  std::array<std::uint8_t, format::kChecksumSize> sum{};
  unsigned int len = 0;
  if (EVP_Digest(data, n, sum.data(), &len, EVP_sha256(), nullptr) != 1) return false;
  return std::memcmp(sum.data(), expected, sum.size()) == 0;
}

}  // namespace

std::string_view HashKindName(HashKind kind) {
  switch (kind) {
    case HashKind::kSha1:
      return "sha1";
    case HashKind::kNtlm:
      return "ntlm";
  }
  return "unknown";
}

std::optional<HashKind> ParseHashKind(std::string_view name) {
  if (name == "sha1") return HashKind::kSha1;
  if (name == "ntlm") return HashKind::kNtlm;
  return std::nullopt;
}

std::size_t HashSize(HashKind kind) {
  switch (kind) {
    case HashKind::kSha1:
      return 20;
    case HashKind::kNtlm:
      return 16;
  }
  return 0;
}

List::List(List&& other) noexcept { *this = std::move(other); }

List& List::operator=(List&& other) noexcept {
  if (this != &other) {
    Unmap();
    base_ = std::exchange(other.base_, nullptr);
    size_ = std::exchange(other.size_, 0);
    kind_ = other.kind_;
    entries_ = std::exchange(other.entries_, 0);
    index_bits_ = other.index_bits_;
    hash_size_ = other.hash_size_;
    entry_size_ = other.entry_size_;
    index_ = std::exchange(other.index_, nullptr);
    entry_base_ = std::exchange(other.entry_base_, nullptr);
  }
  return *this;
}

List::~List() { Unmap(); }

void List::Unmap() {
  if (base_ != nullptr) ::munmap(const_cast<std::uint8_t*>(base_), size_);
  base_ = nullptr;
}

Result<List> List::Open(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, Cat({"open ", path.string()}));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return ErrnoStatus(err, Cat({"stat ", path.string()}));
  }
  const auto size = static_cast<std::uint64_t>(st.st_size);
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return Corrupt(path, "not a regular file");
  }
  if (size < format::kHeaderSize) {
    ::close(fd);
    return Corrupt(path, Cat({"not a breached-password list: ", std::to_string(size),
                              " bytes, shorter than its 128-byte header (truncated?)"}));
  }
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  const int map_err = errno;
  ::close(fd);  // the mapping keeps the file
  if (map == MAP_FAILED) return ErrnoStatus(map_err, Cat({"mmap ", path.string()}));
  // Lookups touch one or two pages at random: read-ahead would only evict useful pages.
  ::madvise(map, size, MADV_RANDOM);
  List list;
  list.base_ = static_cast<const std::uint8_t*>(map);
  list.size_ = size;
  WB_RETURN_IF_ERROR(list.CheckHeader(path));
  WB_RETURN_IF_ERROR(list.CheckIndex(path));
  WB_RETURN_IF_ERROR(list.CheckEntries(path));
  return list;
}

Status List::CheckHeader(const std::filesystem::path& path) {
  const std::uint8_t* h = base_;
  if (std::memcmp(h, format::kMagic.data(), format::kMagic.size()) != 0) {
    return Corrupt(path,
                   "not a breached-password list (bad magic; import it with "
                   "`wbagent breached import`)");
  }
  if (!ChecksumMatches(h, format::kHeaderChecked, h + format::kOffHeaderSum)) {
    return Corrupt(path, "the header is corrupt (its checksum does not match)");
  }
  const std::uint32_t version = format::Load32(h + format::kOffVersion);
  if (version != format::kVersion) {
    return Corrupt(path, Cat({"unsupported format version ", std::to_string(version),
                              " (this wbagent reads version 1)"}));
  }
  const std::uint32_t kind = format::Load32(h + format::kOffKind);
  switch (kind) {
    case static_cast<std::uint32_t>(HashKind::kSha1):
    case static_cast<std::uint32_t>(HashKind::kNtlm):
      kind_ = static_cast<HashKind>(kind);
      break;
    default:
      return Corrupt(path, Cat({"unknown hash kind ", std::to_string(kind)}));
  }
  hash_size_ = HashSize(kind_);
  entries_ = format::Load64(h + format::kOffCount);
  index_bits_ = format::Load32(h + format::kOffIndexBits);
  if (index_bits_ < kMinIndexBits || index_bits_ > kMaxIndexBits) {
    return Corrupt(path, Cat({"index bits ", std::to_string(index_bits_), " out of range"}));
  }
  entry_size_ = format::Load32(h + format::kOffEntrySize);
  const std::uint64_t index_offset = format::Load64(h + format::kOffIndexOffset);
  const std::uint64_t entries_offset = format::Load64(h + format::kOffEntriesOffset);
  if (entry_size_ != hash_size_ + format::kCountSize || index_offset != format::kHeaderSize ||
      entries_offset != format::kHeaderSize + format::IndexBytes(index_bits_)) {
    return Corrupt(path, "the header's layout fields do not match its kind and index size");
  }
  if (entries_ > (std::uint64_t{1} << 40)) {
    return Corrupt(path, "the header's entry count is implausible");
  }
  const std::uint64_t expected = entries_offset + entries_ * entry_size_;
  if (size_ < expected) {
    return Corrupt(path,
                   Cat({"truncated: ", std::to_string(size_), " bytes, the header promises ",
                        std::to_string(expected), " (", std::to_string(entries_), " entries)"}));
  }
  if (size_ > expected) {
    return Corrupt(path, Cat({std::to_string(size_ - expected),
                              " bytes after the last entry the header promises"}));
  }
  index_ = base_ + index_offset;
  entry_base_ = base_ + entries_offset;
  return Status::Ok();
}

Status List::CheckIndex(const std::filesystem::path& path) const {
  const std::uint64_t index_bytes = format::IndexBytes(index_bits_);
  if (!ChecksumMatches(index_, index_bytes, base_ + format::kOffIndexSum)) {
    return Corrupt(path, "the index is corrupt (its checksum does not match)");
  }
  const std::uint64_t buckets = std::uint64_t{1} << index_bits_;
  std::uint64_t previous = 0;
  for (std::uint64_t b = 0; b <= buckets; ++b) {
    const std::uint64_t start = format::Load64(index_ + 8 * b);
    if ((b == 0 && start != 0) || start < previous) {
      return Corrupt(path, Cat({"the index is not monotonic at bucket ", std::to_string(b),
                                ": the file is not sorted"}));
    }
    previous = start;
  }
  if (previous != entries_) {
    return Corrupt(path, "the index does not end at the entry count: the file is not sorted");
  }
  return Status::Ok();
}

Status List::CheckBucket(const std::filesystem::path& path, std::uint64_t bucket) const {
  const std::uint64_t begin = format::Load64(index_ + 8 * bucket);
  const std::uint64_t end = format::Load64(index_ + 8 * (bucket + 1));
  for (std::uint64_t i = begin; i < end; ++i) {
    const std::uint8_t* e = entry_base_ + i * entry_size_;
    if (format::BucketOf(e, index_bits_) != bucket) {
      return Corrupt(path, Cat({"entry ", std::to_string(i), " lies outside its index bucket ",
                                std::to_string(bucket), ": the file is not sorted"}));
    }
    if (i > begin && std::memcmp(e - entry_size_, e, hash_size_) >= 0) {
      return Corrupt(path, Cat({"entries ", std::to_string(i - 1), " and ", std::to_string(i),
                                " are not in ascending order: the file is not sorted"}));
    }
  }
  return Status::Ok();
}

Status List::CheckEntries(const std::filesystem::path& path) const {
  const std::uint64_t buckets = std::uint64_t{1} << index_bits_;
  if (entries_ * entry_size_ <= kFullCheckBytes) {
    for (std::uint64_t b = 0; b < buckets; ++b) WB_RETURN_IF_ERROR(CheckBucket(path, b));
    return Status::Ok();
  }
  for (std::uint64_t i = 0; i < kSampledBuckets; ++i) {
    WB_RETURN_IF_ERROR(CheckBucket(path, i * buckets / kSampledBuckets));
  }
  return CheckBucket(path, buckets - 1);
}

Result<std::uint64_t> List::Count(const Secret& password) const {
  PasswordHash hash;
  WB_RETURN_IF_ERROR(HashPassword(kind_, password, hash));
  return CountHash(hash.view());
}

Result<std::uint64_t> List::CountHash(std::span<const std::uint8_t> hash) const {
  if (hash.size() != hash_size_) {
    return InvalidArgument(Cat({"a ", HashKindName(kind_), " hash has ", std::to_string(hash_size_),
                                " bytes, not ", std::to_string(hash.size())}));
  }
  const std::uint64_t bucket = format::BucketOf(hash.data(), index_bits_);
  std::uint64_t lo = format::Load64(index_ + 8 * bucket);
  std::uint64_t hi = format::Load64(index_ + 8 * (bucket + 1));
  const auto less_at = [&](std::uint64_t i) {
    return std::memcmp(entry_base_ + i * entry_size_, hash.data(), hash_size_) < 0;
  };
  if (hi - lo > 16) {
    // Interpolation: the hashes are uniform, so the key's place in its bucket's value range
    // predicts its place among the bucket's entries with a standard deviation of at most
    // sqrt(n)/2. Narrow [lo, hi) to 4 of them each side of the guess when the window's ends
    // bracket the key.
    const std::uint64_t n = hi - lo;
    const std::uint64_t within = format::Prefix64(hash.data()) << index_bits_;  // bits below B
    const auto guess =
        lo + static_cast<std::uint64_t>(static_cast<long double>(within) / 18446744073709551616.0L *
                                        static_cast<long double>(n));
    const auto radius = static_cast<std::uint64_t>(2 * std::sqrt(static_cast<double>(n))) + 4;
    const std::uint64_t wlo = guess > lo + radius ? guess - radius : lo;
    const std::uint64_t whi = std::min(hi, guess + radius + 1);
    // The answer lies in [wlo, whi) when entry wlo-1 (or lo) is below the key and entry whi
    // (or hi) is not.
    const bool lower_ok = wlo == lo || less_at(wlo - 1);
    const bool upper_ok = whi == hi || !less_at(whi);
    if (lower_ok && upper_ok) {
      lo = wlo;
      hi = whi;
    }
  }
  // Binary search for the first entry not below the key.
  while (lo < hi) {
    const std::uint64_t mid = lo + (hi - lo) / 2;
    if (less_at(mid)) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  const std::uint64_t end = format::Load64(index_ + 8 * (bucket + 1));
  if (lo == end) return std::uint64_t{0};
  const std::uint8_t* e = entry_base_ + lo * entry_size_;
  if (std::memcmp(e, hash.data(), hash_size_) != 0) return std::uint64_t{0};
  return std::uint64_t{format::Load32(e + hash_size_)};
}

}  // namespace wb::breached
