#pragma once
// The offline breached-password list: Have I Been Pwned's "Pwned Passwords" converted once into
// a compact binary file that the agent maps read-only and asks, with no network, whether a
// password appears in a known breach and how often.
//
// Input (Import): the Pwned Passwords text, SHA-1 or NTLM, one entry per line:
//
//   HASH:COUNT\r\n     (or \n; the last line may lack its newline)
//
// HASH is 40 (SHA-1) or 32 (NTLM) uppercase hex digits, COUNT a decimal number >= 1 (counts
// above 2^32-1 are stored as 2^32-1). The lines are sorted by HASH, strictly ascending. The
// kind is taken from the first line's hash length unless ImportOptions::kind names it. Import
// refuses, naming the line number ("pwned.txt:12: ..."), a line that does not have this form,
// a hash of the other kind, a hash not greater than the one before it (unsorted or duplicate),
// and an input with no entries.
//
// The file (format version 1; all integers little-endian):
//
//   offset 0    header, 128 bytes:
//                 0  magic "WBBREACH"           8 bytes
//                 8  version (1)                u32
//                12  kind (1 SHA-1, 2 NTLM)     u32
//                16  entry count                u64
//                24  index bits B (8..24)       u32
//                28  entry size (hash + 4)      u32
//                32  index offset (128)         u64
//                40  entries offset             u64
//                48  SHA-256 of the index       32 bytes
//                80  zero                       16 bytes
//                96  SHA-256 of bytes 0..95     32 bytes
//   offset 128  the index: 2^B + 1 u64; entry i of bucket b (the hashes whose first B bits are b)
//               lies in [index[b], index[b+1]); index[2^B] is the entry count.
//   then        the entries, sorted: the whole hash (20 or 16 bytes), then the count (u32).
//
// The whole hash is kept (the index's prefix bits are not dropped) so that Open can check that
// every entry it samples lies in its bucket, and so that a lookup compares whole hashes only.
//
// Guarantees
// - Import streams: its memory is bounded by a count per bucket (4 B: 64 MiB at B = 24, the
//   most), a 512 KiB index chunk and two 4 MiB buffers, whatever the size of the input (the full
//   list is about two billion hashes, 40+ GB of text). It writes a temporary file beside DEST,
//   fsyncs it and renames it over DEST, then fsyncs the directory: DEST is the old file or the new
//   one, never a half-written file. The temporary file is removed on failure.
// - Open refuses, with kCorruption and a message saying what is wrong: a file shorter than its
//   header promises (truncated) or longer, a bad magic, a header whose checksum does not match,
//   an unknown version or kind, an index whose checksum does not match, an index that is not
//   monotonic or does not end at the entry count (an unsorted file), and entries out of order
//   or outside their bucket in the part it checks. Which part: every entry when the entries
//   take at most 64 MiB; otherwise 257 buckets spread evenly over the file (the first and last
//   included), each checked whole. Why bounded: a full check of the real list reads ~48 GB,
//   minutes at every start, for files that only Import writes and that Import has already
//   checked line by line. An entry corrupted outside the sample can make a lookup miss (or
//   find) that one hash; a lookup never reads outside its bucket, so it cannot crash or loop.
// - A lookup reads one index page and, typically, one entry page (two at most when the entries
//   it compares straddle a page boundary): with the index sized from the input (about 64
//   entries, 1.5 KiB, per bucket) a whole bucket fits in one or two pages. The hashes are
//   uniform, so an interpolation guess inside the bucket lands within ~sqrt(n)/2 entries of the
//   answer; it then binary-searches a window of 4 standard deviations each side of the guess,
//   or the whole bucket if the window misses. With a fixed, too small index (a list read from
//   standard input, which defaults to 2^20 buckets) a bucket spans more pages; the
//   interpolation window keeps the pages touched to a few.
// - The password: Count hashes it (SHA-1 of its UTF-8 bytes, or NTLM: MD4 of its UTF-16LE
//   form, computed by breached/md4.h because OpenSSL 3 keeps MD4 in its legacy provider). The
//   hash and the UTF-16 copy live in buffers that are wiped before Count returns; neither is
//   ever a std::string, logged, or put in an error message.
//
// Thread-safety: a List is immutable after Open; Count and CountHash may be called from any
// number of threads at once. Import has no shared state.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "common/secret.h"
#include "common/status.h"

namespace wb::breached {

// Numeric values are stored in the file: never renumber.
enum class HashKind : std::uint32_t {
  kSha1 = 1,
  kNtlm = 2,
};

// "sha1" or "ntlm".
std::string_view HashKindName(HashKind kind);
// Parses "sha1" or "ntlm"; nullopt otherwise.
std::optional<HashKind> ParseHashKind(std::string_view name);
// 20 for SHA-1, 16 for NTLM.
std::size_t HashSize(HashKind kind);

inline constexpr std::uint32_t kDefaultIndexBits = 20;
inline constexpr std::uint32_t kMinIndexBits = 8;
inline constexpr std::uint32_t kMaxIndexBits = 24;

struct ImportOptions {
  std::optional<HashKind> kind;  // nullopt: from the first line's hash length
  // nullopt: from the size of `src` when it is a regular file (about 64 entries per bucket,
  // so that a bucket spans one or two pages; 24 bits for the full list), else
  // kDefaultIndexBits (standard input).
  std::optional<std::uint32_t> index_bits;
  // Called every `progress_every` lines with the lines and input bytes read so far.
  std::function<void(std::uint64_t lines, std::uint64_t bytes)> progress;
  std::uint64_t progress_every = 10'000'000;
};

struct ImportSummary {
  HashKind kind = HashKind::kSha1;
  std::uint64_t entries = 0;
  std::uint32_t index_bits = 0;
  std::uint64_t input_bytes = 0;
  std::uint64_t output_bytes = 0;  // the size of DEST
};

// Converts the text at `src` ("-": standard input) into the binary file `dest` (mode 0644:
// the list is public data). Errors:
// - kInvalidArgument: a bad line, unsorted or duplicate hashes, a hash of the wrong kind, no
//   entries, or index_bits outside [kMinIndexBits, kMaxIndexBits]; the message names the
//   input and the line number.
// - kNotFound, kPermissionDenied, kIoError, kResourceExhausted (disk full): reading `src` or
//   writing beside `dest` failed (ErrnoStatus).
// DEST is untouched on every error.
Result<ImportSummary> Import(const std::filesystem::path& src, const std::filesystem::path& dest,
                             const ImportOptions& options);

// An imported list, mapped read-only (MAP_PRIVATE, PROT_READ, MADV_RANDOM). Move-only.
class List {
 public:
  // Errors: kNotFound / kPermissionDenied / kIoError when the file cannot be opened or mapped;
  // kCorruption for every check listed under "Guarantees" above, the message naming the path
  // and what failed.
  static Result<List> Open(const std::filesystem::path& path);

  List(List&& other) noexcept;
  List& operator=(List&& other) noexcept;
  List(const List&) = delete;
  List& operator=(const List&) = delete;
  ~List();

  HashKind kind() const { return kind_; }
  std::uint64_t entries() const { return entries_; }

  // How often the password appears in the list; 0 when it does not. Errors: kInvalidArgument
  // for an NTLM list and a password that is not valid UTF-8 (it has no UTF-16 form); the
  // message does not contain it.
  Result<std::uint64_t> Count(const Secret& password) const;

  // The same for a hash already computed (HashSize(kind()) bytes): for tests and the bench.
  // Errors: kInvalidArgument for a hash of another size.
  Result<std::uint64_t> CountHash(std::span<const std::uint8_t> hash) const;

 private:
  List() = default;
  void Unmap();
  Status CheckHeader(const std::filesystem::path& path);
  Status CheckIndex(const std::filesystem::path& path) const;
  Status CheckEntries(const std::filesystem::path& path) const;
  Status CheckBucket(const std::filesystem::path& path, std::uint64_t bucket) const;

  const std::uint8_t* base_ = nullptr;
  std::size_t size_ = 0;
  HashKind kind_ = HashKind::kSha1;
  std::uint64_t entries_ = 0;
  std::uint32_t index_bits_ = 0;
  std::size_t hash_size_ = 0;
  std::size_t entry_size_ = 0;
  const std::uint8_t* index_ = nullptr;
  const std::uint8_t* entry_base_ = nullptr;
};

}  // namespace wb::breached
