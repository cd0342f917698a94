// The witness head: its MAC, its text form, and checking a trail against it.
#include "audit/internal/witness.h"

#include <fcntl.h>
#include <unistd.h>

#include <charconv>

#include "audit/internal/crypto.h"

namespace wb::audit {
namespace internal {
namespace {

// Keys no record or checkpoint has, so a head's MAC never verifies as one of theirs.
std::string HeadBody(std::uint64_t seq, std::string_view hash) {
  std::string body = "{\"witness\":1,\"seq\":" + std::to_string(seq) + ",\"hash\":\"";
  body += hash;
  body += "\"}";
  return body;
}

// Reads `file` from its start; `fd` stays open for the next read.
LineReader ReaderAtStart(const OpenTrailFile& file) {
  Fd copy(::dup(file.fd.get()));
  (void)::lseek(copy.get(), 0, SEEK_SET);
  return LineReader::FromFd(std::move(copy), file.path);
}

Result<std::optional<std::uint64_t>> FirstSeq(const OpenTrailFile& file) {
  LineReader reader = ReaderAtStart(file);
  Line line;
  auto more = reader.Next(line);
  if (!more.ok()) return more.error();
  if (!*more) return std::optional<std::uint64_t>();
  return LineSeq(line.text);
}

Result<std::optional<std::string>> HashOfSeqIn(const OpenTrailFile& file, std::uint64_t seq) {
  LineReader reader = ReaderAtStart(file);
  Line line;
  for (;;) {
    auto more = reader.Next(line);
    if (!more.ok()) return more.error();
    if (!*more) return std::optional<std::string>();
    if (!line.complete || line.too_long) continue;  // neither is a record
    const std::optional<std::uint64_t> at = LineSeq(line.text);
    if (at && *at == seq) return std::optional<std::string>(Sha256Hex(line.text));
  }
}

}  // namespace

Head MakeHead(std::uint64_t seq, std::string hash, const Secret& key) {
  Head head;
  head.seq = seq;
  head.hmac = HmacSha256Hex(key, HeadBody(seq, hash));
  head.hash = std::move(hash);
  return head;
}

bool HeadMacIsValid(const Head& head, const Secret& key) {
  return ConstantTimeEquals(HmacSha256Hex(key, HeadBody(head.seq, head.hash)), head.hmac);
}

std::optional<std::uint64_t> LineSeq(std::string_view line) {
  constexpr std::string_view kPrefix = "{\"v\":1,\"seq\":";
  if (line.substr(0, kPrefix.size()) != kPrefix) return std::nullopt;
  line.remove_prefix(kPrefix.size());
  std::uint64_t seq = 0;
  const auto [end, ec] = std::from_chars(line.data(), line.data() + line.size(), seq);
  if (ec != std::errc() || end == line.data() || end == line.data() + line.size() || *end != ',') {
    return std::nullopt;
  }
  return seq;
}

Result<std::vector<OpenTrailFile>> OpenTrailFiles(const std::vector<TrailFile>& files) {
  std::vector<OpenTrailFile> open;
  for (const TrailFile& file : files) {
    auto fd = OpenFile(file.path, O_RDONLY);
    if (!fd.ok()) return fd.error();
    open.push_back({std::move(*fd), file.path});
  }
  return open;
}

Result<std::optional<std::string>> FindLineHash(std::vector<OpenTrailFile> files,
                                                std::uint64_t seq) {
  for (auto it = files.rbegin(); it != files.rend(); ++it) {
    auto first = FirstSeq(*it);
    if (!first.ok()) return first.error();
    if (!*first || **first > seq) continue;  // empty, or starts after the record
    return HashOfSeqIn(*it, seq);
  }
  return std::optional<std::string>();
}

}  // namespace internal

std::string FormatHead(const Head& head) {
  std::string text = std::to_string(head.seq) + ":" + head.hash;
  if (!head.hmac.empty()) text += ":" + head.hmac;
  return text;
}

Result<Head> ParseHead(std::string_view text) {
  const auto bad = [](std::string what) {
    return Status(Code::kInvalidArgument,
                  "witness head: " + what + " (expected SEQ:HASH:HMAC, e.g. from wbcloud)");
  };
  const std::size_t first = text.find(':');
  if (first == std::string_view::npos) return bad("no ':'");
  Head head;
  const std::string_view seq = text.substr(0, first);
  const auto [end, ec] = std::from_chars(seq.data(), seq.data() + seq.size(), head.seq);
  if (seq.empty() || ec != std::errc() || end != seq.data() + seq.size()) {
    return bad("the seq is not a number");
  }
  std::string_view rest = text.substr(first + 1);
  const std::size_t second = rest.find(':');
  head.hash = std::string(rest.substr(0, second));
  if (second != std::string_view::npos) head.hmac = std::string(rest.substr(second + 1));
  if (head.hash.size() != internal::kHexDigestSize || !internal::IsLowerHex(head.hash)) {
    return bad("the hash is not 64 lowercase hex digits");
  }
  if (second != std::string_view::npos &&
      (head.hmac.size() != internal::kHexDigestSize || !internal::IsLowerHex(head.hmac))) {
    return bad("the HMAC is not 64 lowercase hex digits");
  }
  if (head.seq == 0 && head.hash != internal::kZeroHash) {
    return bad("seq 0 is the empty trail, whose hash is 64 zeros");
  }
  return head;
}

}  // namespace wb::audit
