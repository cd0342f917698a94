// Import: the Pwned Passwords text -> the binary list (breached.h), streaming.
#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "breached/breached.h"
#include "breached/format.h"
#include "common/files.h"

namespace wb::breached {
namespace {

constexpr std::size_t kBufferSize = 4 << 20;

// Reads `fd` line by line through one fixed buffer.
class LineReader {
 public:
  explicit LineReader(int fd) : fd_(fd), buf_(kBufferSize) {}

  // The next line without its "\n" (a "\r" is left for the parser), or nullopt at the end.
  Result<std::optional<std::string_view>> Next() {
    for (;;) {
      const char* begin = buf_.data() + pos_;
      const void* nl = std::memchr(begin, '\n', end_ - pos_);
      if (nl != nullptr) {
        const std::size_t len = static_cast<const char*>(nl) - begin;
        pos_ += len + 1;
        bytes_ += len + 1;
        return std::optional<std::string_view>(std::string_view(begin, len));
      }
      if (eof_) {
        if (pos_ == end_) return std::optional<std::string_view>();
        const std::size_t len = end_ - pos_;
        pos_ = end_;
        bytes_ += len;
        return std::optional<std::string_view>(std::string_view(begin, len));
      }
      WB_RETURN_IF_ERROR(Fill());
    }
  }
  std::uint64_t bytes() const { return bytes_; }

 private:
  Status Fill() {
    if (pos_ > 0) {
      std::memmove(buf_.data(), buf_.data() + pos_, end_ - pos_);
      end_ -= pos_;
      pos_ = 0;
    }
    if (end_ == buf_.size()) return InvalidArgument("a line longer than 4 MiB");
    for (;;) {
      const ssize_t n = ::read(fd_, buf_.data() + end_, buf_.size() - end_);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return ErrnoStatus(errno, "read");
      if (n == 0) eof_ = true;
      end_ += static_cast<std::size_t>(n);
      return Status::Ok();
    }
  }

  int fd_;
  std::vector<char> buf_;
  std::size_t pos_ = 0;
  std::size_t end_ = 0;
  bool eof_ = false;
  std::uint64_t bytes_ = 0;
};

// Appends to `fd` through one fixed buffer.
class Writer {
 public:
  explicit Writer(int fd) : fd_(fd) { buf_.reserve(kBufferSize); }
  Status Append(const std::uint8_t* data, std::size_t size) {
    if (buf_.size() + size > kBufferSize) WB_RETURN_IF_ERROR(Flush());
    buf_.insert(buf_.end(), data, data + size);
    return Status::Ok();
  }
  Status Flush() {
    WB_RETURN_IF_ERROR(WriteAt(buf_.data(), buf_.size(), offset_));
    offset_ += buf_.size();
    buf_.clear();
    return Status::Ok();
  }
  void Seek(std::uint64_t offset) { offset_ = offset; }
  Status WriteAt(const std::uint8_t* data, std::size_t size, std::uint64_t offset) const {
    while (size > 0) {
      const ssize_t n = ::pwrite(fd_, data, size, static_cast<off_t>(offset));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return ErrnoStatus(errno, "write");
      data += n;
      size -= static_cast<std::size_t>(n);
      offset += static_cast<std::uint64_t>(n);
    }
    return Status::Ok();
  }

 private:
  int fd_;
  std::vector<std::uint8_t> buf_;
  std::uint64_t offset_ = 0;
};

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

struct Entry {
  std::array<std::uint8_t, 20> hash{};
  std::uint32_t count = 0;
};

// Parses "HASH:COUNT" (a trailing "\r" allowed) for a hash of `hash_size` bytes. The message
// does not name the line: the caller adds "src:line".
Status ParseLine(std::string_view line, std::size_t hash_size, Entry& entry) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  const std::size_t colon = line.find(':');
  if (colon == std::string_view::npos) return InvalidArgument("expected HASH:COUNT, no ':'");
  const std::string_view hex = line.substr(0, colon);
  const std::string_view count = line.substr(colon + 1);
  if (hex.size() != 2 * hash_size) {
    std::string m = "expected a hash of ";
    m += std::to_string(2 * hash_size);
    m += " hex digits, found ";
    m += std::to_string(hex.size());
    m += " characters";
    return InvalidArgument(std::move(m));
  }
  for (std::size_t i = 0; i < hash_size; ++i) {
    const int hi = HexValue(hex[2 * i]);
    const int lo = HexValue(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      return InvalidArgument("the hash is not uppercase hex (0-9, A-F)");
    }
    entry.hash[i] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  if (count.empty()) {
    return InvalidArgument("the count is not a decimal number");
  }
  std::uint64_t value = 0;
  for (char c : count) {
    if (c < '0' || c > '9') return InvalidArgument("the count is not a decimal number");
    const std::uint64_t digit = static_cast<std::uint64_t>(c - '0');
    if (value > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) {
      value = std::numeric_limits<std::uint64_t>::max();
      break;
    }
    value = value * 10 + digit;
  }
  if (value == 0) return InvalidArgument("the count is 0 (a listed hash was seen at least once)");
  entry.count = static_cast<std::uint32_t>(
      std::min<std::uint64_t>(value, std::numeric_limits<std::uint32_t>::max()));
  return Status::Ok();
}

std::optional<HashKind> KindOfLine(std::string_view line) {
  const std::size_t colon = line.find(':');
  if (colon == 40) return HashKind::kSha1;
  if (colon == 32) return HashKind::kNtlm;
  return std::nullopt;
}

// Concatenates with += (GCC 12's -Wrestrict misfires on chains of operator+ temporaries).
std::string Cat(std::initializer_list<std::string_view> parts) {
  std::string s;
  for (std::string_view p : parts) s += p;
  return s;
}

std::string LineContext(const std::string& src, std::uint64_t line) {
  return Cat({src, ":", std::to_string(line)});
}

// The temporary file beside `dest`, removed unless Keep() was called.
class TempFile {
 public:
  static Result<TempFile> Create(const std::filesystem::path& dest) {
    const std::string name =
        (dest.parent_path() / Cat({".", dest.filename().string(), ".tmp-XXXXXX"})).string();
    std::vector<char> templ(name.begin(), name.end());
    templ.push_back('\0');
    const int fd = ::mkostemp(templ.data(), O_CLOEXEC);
    if (fd < 0) return ErrnoStatus(errno, Cat({"create a temporary file beside ", dest.string()}));
    TempFile t;
    t.fd_ = fd;
    t.path_ = templ.data();
    if (::fchmod(fd, 0644) != 0) return ErrnoStatus(errno, Cat({"chmod ", t.path_.string()}));
    return t;
  }
  TempFile() = default;
  TempFile(TempFile&& o) noexcept
      : fd_(std::exchange(o.fd_, -1)), path_(std::move(o.path_)), keep_(o.keep_) {
    o.keep_ = true;
  }
  TempFile& operator=(TempFile&&) = delete;
  ~TempFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!keep_) ::unlink(path_.c_str());
  }
  int fd() const { return fd_; }
  const std::filesystem::path& path() const { return path_; }
  Status CloseAndRename(const std::filesystem::path& dest) {
    if (::fsync(fd_) != 0) return ErrnoStatus(errno, Cat({"fsync ", path_.string()}));
    const int fd = std::exchange(fd_, -1);
    if (::close(fd) != 0) return ErrnoStatus(errno, Cat({"close ", path_.string()}));
    if (::rename(path_.c_str(), dest.c_str()) != 0) {
      return ErrnoStatus(errno, Cat({"rename to ", dest.string()}));
    }
    keep_ = true;
    const std::filesystem::path dir = dest.parent_path().empty() ? "." : dest.parent_path();
    return SyncDirectory(dir);
  }

 private:
  int fd_ = -1;
  std::filesystem::path path_;
  bool keep_ = false;
};

std::array<std::uint8_t, format::kChecksumSize> Sha256(const std::uint8_t* data, std::size_t n) {
  std::array<std::uint8_t, format::kChecksumSize> sum{};
  unsigned int len = 0;
  EVP_Digest(data, n, sum.data(), &len, EVP_sha256(), nullptr);
  return sum;
}

// Writes the index (from the per-bucket counts) in chunks, then the header, at offset 0.
Status WriteHeaderAndIndex(const Writer& out, HashKind kind, std::uint32_t bits,
                           const std::vector<std::uint32_t>& bucket_counts, std::uint64_t entries) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) {
    return Internal("SHA-256 is unavailable");
  }
  constexpr std::size_t kChunk = 1 << 16;  // index entries written at a time
  std::vector<std::uint8_t> chunk;
  chunk.reserve(8 * kChunk);
  std::uint64_t start = 0;
  std::uint64_t offset = format::kHeaderSize;
  const auto flush = [&]() -> Status {
    EVP_DigestUpdate(ctx.get(), chunk.data(), chunk.size());
    WB_RETURN_IF_ERROR(out.WriteAt(chunk.data(), chunk.size(), offset));
    offset += chunk.size();
    chunk.clear();
    return Status::Ok();
  };
  for (std::size_t b = 0; b <= bucket_counts.size(); ++b) {
    std::uint8_t value[8];
    format::Store64(value, start);
    chunk.insert(chunk.end(), value, value + 8);
    if (b < bucket_counts.size()) start += bucket_counts[b];
    if (chunk.size() == 8 * kChunk) WB_RETURN_IF_ERROR(flush());
  }
  WB_RETURN_IF_ERROR(flush());
  std::array<std::uint8_t, format::kHeaderSize> header{};
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx.get(), header.data() + format::kOffIndexSum, &len);
  std::memcpy(header.data(), format::kMagic.data(), format::kMagic.size());
  format::Store32(header.data() + format::kOffVersion, format::kVersion);
  format::Store32(header.data() + format::kOffKind, static_cast<std::uint32_t>(kind));
  format::Store64(header.data() + format::kOffCount, entries);
  format::Store32(header.data() + format::kOffIndexBits, bits);
  format::Store32(header.data() + format::kOffEntrySize,
                  static_cast<std::uint32_t>(HashSize(kind) + format::kCountSize));
  format::Store64(header.data() + format::kOffIndexOffset, format::kHeaderSize);
  format::Store64(header.data() + format::kOffEntriesOffset,
                  format::kHeaderSize + format::IndexBytes(bits));
  const auto header_sum = Sha256(header.data(), format::kHeaderChecked);
  std::memcpy(header.data() + format::kOffHeaderSum, header_sum.data(), header_sum.size());
  return out.WriteAt(header.data(), header.size(), 0);
}

// The index size: as asked, else from the input's size when it is a regular file (about 64
// entries per bucket, so that a bucket spans one or two pages), else kDefaultIndexBits.
std::uint32_t ChooseIndexBits(const ImportOptions& options, int fd) {
  if (options.index_bits) return *options.index_bits;
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return kDefaultIndexBits;
  constexpr std::uint64_t kBytesPerLine = 45;  // a SHA-1 line with a short count and CRLF
  const std::uint64_t estimate = static_cast<std::uint64_t>(st.st_size) / kBytesPerLine;
  std::uint32_t bits = kMinIndexBits;
  while (bits < kMaxIndexBits && (estimate >> bits) > 64) ++bits;
  return bits;
}

// The input, opened for reading; "-" is standard input, which is not closed.
class Input {
 public:
  static Result<Input> Open(const std::filesystem::path& src) {
    Input in;
    if (src == "-") {
      in.fd_ = STDIN_FILENO;
      return in;
    }
    in.fd_ = ::open(src.c_str(), O_RDONLY | O_CLOEXEC);
    if (in.fd_ < 0) return ErrnoStatus(errno, Cat({"open ", src.string()}));
    in.owned_ = true;
    ::posix_fadvise(in.fd_, 0, 0, POSIX_FADV_SEQUENTIAL);
    return in;
  }
  Input() = default;
  Input(Input&& o) noexcept
      : fd_(std::exchange(o.fd_, -1)), owned_(std::exchange(o.owned_, false)) {}
  Input& operator=(Input&&) = delete;
  ~Input() {
    if (owned_) ::close(fd_);
  }
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
  bool owned_ = false;
};

}  // namespace

Result<ImportSummary> Import(const std::filesystem::path& src, const std::filesystem::path& dest,
                             const ImportOptions& options) {
  if (options.index_bits &&
      (*options.index_bits < kMinIndexBits || *options.index_bits > kMaxIndexBits)) {
    return InvalidArgument(Cat({"index bits must be between ", std::to_string(kMinIndexBits),
                                " and ", std::to_string(kMaxIndexBits)}));
  }
  const std::string src_name = src == "-" ? std::string("<stdin>") : src.string();
  Result<Input> input = Input::Open(src);
  if (!input.ok()) return input.error();
  Result<TempFile> temp = TempFile::Create(dest);
  if (!temp.ok()) return temp.error();
  const std::uint32_t bits = ChooseIndexBits(options, input->fd());

  LineReader reader(input->fd());
  Writer out(temp->fd());
  out.Seek(format::kHeaderSize + format::IndexBytes(bits));
  std::vector<std::uint32_t> bucket_counts(std::size_t{1} << bits, 0);
  std::optional<HashKind> kind = options.kind;
  std::size_t hash_size = kind ? HashSize(*kind) : 0;
  Entry entry;
  Entry previous;
  std::uint64_t line_no = 0;
  std::uint64_t entries = 0;
  std::uint8_t record[24];
  for (;;) {
    Result<std::optional<std::string_view>> line = reader.Next();
    if (!line.ok()) return line.error().WithContext(LineContext(src_name, line_no + 1));
    if (!line->has_value()) break;
    ++line_no;
    if (!kind) {
      kind = KindOfLine(**line);
      if (!kind) {
        return InvalidArgument(
            Cat({LineContext(src_name, line_no),
                 ": expected HASH:COUNT with a SHA-1 (40 hex digits) or NTLM (32) hash"}));
      }
      hash_size = HashSize(*kind);
    }
    Status parsed = ParseLine(**line, hash_size, entry);
    if (!parsed.ok()) return parsed.WithContext(LineContext(src_name, line_no));
    if (entries > 0) {
      const int order = std::memcmp(entry.hash.data(), previous.hash.data(), hash_size);
      if (order == 0) {
        return InvalidArgument(Cat(
            {LineContext(src_name, line_no), ": duplicate hash (the same as the line before)"}));
      }
      if (order < 0) {
        return InvalidArgument(Cat({LineContext(src_name, line_no),
                                    ": not sorted: the hash is smaller than the line before's"}));
      }
    }
    std::memcpy(record, entry.hash.data(), hash_size);
    format::Store32(record + hash_size, entry.count);
    WB_RETURN_IF_ERROR(
        out.Append(record, hash_size + format::kCountSize).WithContext(temp->path().string()));
    std::uint32_t& in_bucket = bucket_counts[format::BucketOf(entry.hash.data(), bits)];
    if (in_bucket == std::numeric_limits<std::uint32_t>::max()) {
      return InvalidArgument(Cat({LineContext(src_name, line_no),
                                  ": over 4 billion entries in one index bucket: import with "
                                  "more index bits"}));
    }
    ++in_bucket;
    ++entries;
    previous = entry;
    if (options.progress && options.progress_every > 0 && line_no % options.progress_every == 0) {
      options.progress(line_no, reader.bytes());
    }
  }
  if (entries == 0) return InvalidArgument(Cat({src_name, ": no entries"}));
  WB_RETURN_IF_ERROR(out.Flush().WithContext(temp->path().string()));
  WB_RETURN_IF_ERROR(WriteHeaderAndIndex(out, *kind, bits, bucket_counts, entries)
                         .WithContext(temp->path().string()));
  WB_RETURN_IF_ERROR(temp->CloseAndRename(dest));
  ImportSummary summary;
  summary.kind = *kind;
  summary.entries = entries;
  summary.input_bytes = reader.bytes();
  summary.index_bits = bits;
  summary.output_bytes =
      format::kHeaderSize + format::IndexBytes(bits) + entries * (hash_size + format::kCountSize);
  return summary;
}

}  // namespace wb::breached
