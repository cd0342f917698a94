// Verify: one pass over the trail, stopping at the first problem (docs/audit.md, "What verify
// checks").
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <string>

#include "audit/audit.h"
#include "audit/internal/checkpoint.h"
#include "audit/internal/crypto.h"
#include "audit/internal/files.h"
#include "audit/internal/record_json.h"
#include "audit/internal/seal.h"
#include "audit/internal/witness.h"

namespace wb::audit {
namespace {

using internal::Line;
using internal::TrailFile;

std::string Seq(std::uint64_t seq) { return "seq " + std::to_string(seq); }

std::string Plural(std::uint64_t n, const char* word) {
  return std::to_string(n) + " " + word + (n == 1 ? "" : "s");
}

// --- Finding the checkpoint's record from the end of a file --------------------------------

// The seq a record line starts with ({"v":1,"seq":N,...}), read without parsing the line:
// only to find where to start; the line is then checked in full.
std::optional<std::uint64_t> LeadingSeq(std::string_view line) {
  constexpr std::string_view kKey = "\"seq\":";
  const std::size_t at = line.substr(0, 32).find(kKey);
  if (at == std::string_view::npos) return std::nullopt;
  const char* begin = line.data() + at + kKey.size();
  std::uint64_t seq = 0;
  const auto [end, ec] = std::from_chars(begin, line.data() + line.size(), seq);
  if (ec != std::errc() || end == begin) return std::nullopt;
  return seq;
}

enum class Place {
  kFound,    // the line with the seq starts at `offset`
  kAfter,    // the file's records all come after the seq (or it has none): look further back
  kBefore,   // the file's records all come before the seq
  kSkipped,  // the file's records pass over the seq
};
struct Located {
  Place place = Place::kAfter;
  std::uint64_t offset = 0;
  std::uint64_t first = 0;  // the first and last seq seen, when any
  std::uint64_t last = 0;
};

// Reads `path` backwards in doubling chunks until the record with `seq` is found or ruled
// out, so that finding a record near the end reads about as much as lies after it. A torn
// last line and lines that are not records are passed over here (the forward check reports
// them).
Result<Located> Locate(const std::filesystem::path& path, std::uint64_t seq) {
  auto fd = internal::OpenFile(path, O_RDONLY);
  if (!fd.ok()) return fd.error();
  auto size = internal::FileSize(fd->get(), path.string());
  if (!size.ok()) return size.error();
  for (std::uint64_t chunk = 64 * 1024;; chunk *= 2) {
    const std::uint64_t start = *size > chunk ? *size - chunk : 0;
    auto data = internal::ReadTail(fd->get(), *size, static_cast<std::size_t>(*size - start),
                                   path.string());
    if (!data.ok()) return data.error();
    std::size_t pos = 0;
    if (start > 0) {  // the chunk starts inside a line
      pos = data->find('\n');
      if (pos == std::string::npos) continue;
      ++pos;
    }
    Located found;
    bool any = false;
    for (std::size_t end; (end = data->find('\n', pos)) != std::string::npos; pos = end + 1) {
      const auto line_seq = LeadingSeq(std::string_view(*data).substr(pos, end - pos));
      if (!line_seq) continue;
      if (*line_seq == seq) return Located{Place::kFound, start + pos, seq, seq};
      if (!any) found.first = *line_seq;
      found.last = *line_seq;
      any = true;
    }
    if (any && found.first < seq) {
      found.place = found.last < seq ? Place::kBefore : Place::kSkipped;
      return found;
    }
    if (start == 0) return found;  // kAfter
  }
}

class Verifier {
 public:
  Verifier(const VerifyOptions& options, const Secret& key)
      : options_(options), key_(key), record_mac_(key) {}

  Result<VerifyReport> Run();
  Result<VerifyReport> RunFromCheckpoint();

 private:
  Status ReadCheckpoint();
  std::size_t NewestWithContent(const std::vector<TrailFile>& files) const;
  Result<VerifyReport> CheckFilesFrom(const std::vector<TrailFile>& files, std::size_t first,
                                      std::uint64_t offset);
  bool CheckNumbering(const TrailFile& file, std::uint64_t previous_index);
  Result<bool> CheckFile(const TrailFile& file, bool newest, std::uint64_t offset);
  bool CheckLine(const TrailFile& file, const Line& line, bool first_in_file);
  bool CheckSeq(const TrailFile& file, const Line& line, const Record& record, bool first_in_file);
  std::string GapMessage(const TrailFile& file, const Line& line, std::uint64_t seq,
                         bool first_in_file, Problem& problem);
  void CheckEnd();
  bool Find(Problem problem, const std::filesystem::path& file, std::uint64_t line,
            std::string message);

  const VerifyOptions& options_;
  const Secret& key_;
  const internal::HmacKey record_mac_;  // key_, set up once for every line
  VerifyReport report_;
  std::optional<internal::Checkpoint> checkpoint_;
  std::optional<Finding> checkpoint_finding_;
  std::optional<Finding> torn_tail_;
  std::string prev_hash_{internal::kZeroHash};
  std::filesystem::path last_file_;
  std::uint64_t last_line_ = 0;
  bool started_ = false;          // a record was accepted
  bool from_checkpoint_ = false;  // the first record read is the checkpoint's, not seq 1
  // The file being read was opened at this offset (not its start): its line numbers are
  // relative, so findings there carry line 0 and the seq.
  std::uint64_t offset_ = 0;
  std::uint64_t current_seq_ = 0;  // of the line being checked, once it parsed
};

bool Verifier::Find(Problem problem, const std::filesystem::path& file, std::uint64_t line,
                    std::string message) {
  report_.finding =
      Finding{problem, file, offset_ > 0 ? 0 : line, std::move(message), current_seq_};
  return false;
}

// A reader positioned at `offset` of `path` (a line start).
Result<internal::LineReader> OpenAt(const std::filesystem::path& path, std::uint64_t offset) {
  auto fd = internal::OpenFile(path, O_RDONLY);
  if (!fd.ok()) return fd.error();
  if (offset > 0 && ::lseek(fd->get(), static_cast<off_t>(offset), SEEK_SET) < 0) {
    return ErrnoStatus(errno, "seek " + path.string());
  }
  return internal::LineReader::FromFd(std::move(*fd), path);
}

Status Verifier::ReadCheckpoint() {
  if (!options_.checkpoint_file) return Status::Ok();
  const std::filesystem::path& path = *options_.checkpoint_file;
  auto checkpoint = internal::ReadCheckpoint(path, key_);
  if (!checkpoint.ok()) {
    if (checkpoint.error().code() != Code::kCorruption) return checkpoint.error();
    checkpoint_finding_ = Finding{Problem::kCheckpointInvalid, path, 0,
                                  "the checkpoint is not valid: " + checkpoint.error().message()};
    return Status::Ok();
  }
  if (!*checkpoint) {
    checkpoint_finding_ =
        Finding{Problem::kCheckpointMissing, path, 0,
                "the checkpoint does not exist, but the trail has records: it was deleted, or "
                "this is not the agent's state directory (use --no-checkpoint for a copy)"};
    return Status::Ok();
  }
  checkpoint_ = std::move(*checkpoint);
  report_.checkpoint_seq = checkpoint_->seq;
  return Status::Ok();
}

Result<VerifyReport> Verifier::Run() {
  // Not a finding about the trail: without a working MAC every line would look forged.
  if (!record_mac_.ok()) return Internal("OpenSSL could not set up the audit key's HMAC");
  if (options_.witness && !options_.witness->hmac.empty() &&
      !internal::HeadMacIsValid(*options_.witness, key_)) {
    Find(Problem::kWitnessForged, options_.file, 0,
         "the witness head " + FormatHead(*options_.witness) +
             " was not made with this audit key: it is not this trail's head (another agent's, "
             "or made up)");
    return report_;
  }
  // The checkpoint first: a Writer appending meanwhile only moves the files further ahead.
  WB_RETURN_IF_ERROR(ReadCheckpoint());
  auto files = internal::ListTrail(options_.file);
  if (!files.ok()) return files.error();
  return CheckFilesFrom(*files, 0, 0);
}

// The last file with content: only it may end in a torn line.
std::size_t Verifier::NewestWithContent(const std::vector<TrailFile>& files) const {
  std::size_t newest = 0;
  for (std::size_t i = 0; i < files.size(); ++i) {
    struct stat st {};
    if (::stat(files[i].path.c_str(), &st) == 0 && st.st_size > 0) newest = i;
  }
  return newest;
}

// Checks files[first] from `offset` on, then every later file, then the end.
Result<VerifyReport> Verifier::CheckFilesFrom(const std::vector<TrailFile>& files,
                                              std::size_t first, std::uint64_t offset) {
  const std::size_t newest = NewestWithContent(files);
  std::uint64_t previous_index = first > 0 ? files[first - 1].index : 0;
  for (std::size_t i = first; i < files.size(); ++i) {
    const TrailFile& file = files[i];
    if (!CheckNumbering(file, previous_index)) return report_;
    previous_index = file.index;
    ++report_.files;
    offset_ = i == first ? offset : 0;
    auto more = CheckFile(file, i == newest, offset_);
    if (!more.ok()) return more.error();
    if (!*more) return report_;
  }
  offset_ = 0;
  CheckEnd();
  return report_;
}

// Rotated files are numbered from 1 without gaps; the active file (index 0) comes last.
bool Verifier::CheckNumbering(const TrailFile& file, std::uint64_t previous_index) {
  if (file.index == 0 || file.index == previous_index + 1) return true;
  const std::filesystem::path missing = internal::RotatedPath(options_.file, previous_index + 1);
  std::string message = missing.filename().string() + " is missing";
  if (file.index > previous_index + 2) {
    message += " (and " + Plural(file.index - previous_index - 2, "more file") + " up to " +
               internal::RotatedPath(options_.file, file.index - 1).filename().string() + ")";
  }
  message += ": the rotated files jump to " + file.path.filename().string();
  return Find(Problem::kMissingFile, missing, 0, std::move(message));
}

Result<bool> Verifier::CheckFile(const TrailFile& file, bool newest, std::uint64_t offset) {
  auto reader = OpenAt(file.path, offset);
  if (!reader.ok()) return reader.error();
  Line line;
  bool first = true;
  for (;;) {
    auto more = reader->Next(line);
    if (!more.ok()) return more.error();
    if (!*more) return true;
    if (!line.complete && newest) {
      torn_tail_ = Finding{Problem::kTornTail, file.path, line.number,
                           "the last line is incomplete (" + Plural(line.text.size(), "byte") +
                               ", no newline): a write was cut short by a crash or power loss. "
                               "The records before it verify; wbagent removes the torn line "
                               "and records audit_recovered when it next starts"};
      return true;
    }
    if (!line.complete) {
      return Find(Problem::kMalformed, file.path, line.number,
                  "the file ends in an incomplete line, but it is not the newest file: a torn "
                  "line is only expected at the very end of the trail");
    }
    if (!CheckLine(file, line, first)) return false;
    first = false;
  }
}

bool Verifier::CheckLine(const TrailFile& file, const Line& line, bool first_in_file) {
  // The seq the line claims, until it parses: a finding names it even when the HMAC fails.
  current_seq_ = LeadingSeq(line.text).value_or(0);
  if (line.too_long) {
    return Find(Problem::kMalformed, file.path, line.number, "line too long to be a record");
  }
  if (line.text.find("{\"v\":", 1) != std::string::npos) {
    // A raw {"v": cannot occur inside a JSON string (its quotes would be escaped).
    return Find(Problem::kMalformed, file.path, line.number,
                "a torn record (a write cut short, no newline) with another record after it on "
                "the same line: a torn line is only expected at the very end of the trail");
  }
  switch (internal::CheckSeal(line.text, record_mac_)) {
    case internal::SealCheck::kOk:
      break;
    case internal::SealCheck::kNotSealed:
      return Find(Problem::kMalformed, file.path, line.number,
                  "not an audit record (it does not end in an \"hmac\" member)");
    case internal::SealCheck::kBadMac:
      return Find(Problem::kBadHmac, file.path, line.number,
                  "HMAC mismatch: the record was changed after it was written, or was not "
                  "written with this audit key");
  }
  auto record = ParseRecord(line.text);
  if (!record.ok()) {
    return Find(Problem::kMalformed, file.path, line.number, record.error().message());
  }
  current_seq_ = record->seq;
  if (internal::Unseal(line.text)->body != internal::RecordBody(*record)) {
    return Find(Problem::kNotCanonical, file.path, line.number,
                "the record is not in canonical form (it has a valid HMAC, so it was written "
                "by something holding the audit key, but not by wbagent)");
  }
  if (!CheckSeq(file, line, *record, first_in_file)) return false;
  const std::string hash = internal::Sha256Hex(line.text);
  if (checkpoint_ && record->seq == checkpoint_->seq && hash != checkpoint_->hash) {
    return Find(Problem::kCheckpointMismatch, file.path, line.number,
                Seq(record->seq) + " is not the record the checkpoint names: it was replaced");
  }
  if (options_.witness && record->seq == options_.witness->seq && hash != options_.witness->hash) {
    return Find(Problem::kWitnessReplaced, file.path, line.number,
                Seq(record->seq) +
                    " is not the record the witness holds: the trail was rewritten from here "
                    "on by someone holding the audit key");
  }
  prev_hash_ = hash;
  report_.last_seq = record->seq;
  if (record->event.type == EventType::kAuditRecovered &&
      record->event.outcome == "checkpoint_slot_failed") {
    report_.checkpoint_recoveries.push_back({record->seq, record->event.detail});
  }
  // The checkpoint's own record, where VerifyFromCheckpoint starts, is checked, not counted.
  if (started_ || !from_checkpoint_) ++report_.records;
  started_ = true;
  current_seq_ = 0;
  last_file_ = file.path;
  last_line_ = line.number;
  return true;
}

bool Verifier::CheckSeq(const TrailFile& file, const Line& line, const Record& record,
                        bool first_in_file) {
  const std::uint64_t seq = record.seq;
  const std::uint64_t last = report_.last_seq;
  // The checkpoint's record: CheckLine compares its hash with the checkpoint's.
  if (!started_ && from_checkpoint_) return true;
  if (!started_ && (seq != 1 || record.prev != internal::kZeroHash)) {
    return Find(Problem::kBadStart, file.path, line.number,
                "the trail starts at " + Seq(seq) +
                    " and not with the first record of a chain (seq 1, zero prev): the records "
                    "or files before it are missing");
  }
  if (!started_) return true;
  if (seq <= last) {
    return Find(Problem::kOutOfOrder, file.path, line.number,
                Seq(seq) + " comes after " + Seq(last) + ": records were reordered or copied");
  }
  if (seq > last + 1) {
    Problem problem = Problem::kGap;
    std::string message = GapMessage(file, line, seq, first_in_file, problem);
    return Find(problem, file.path, line.number, std::move(message));
  }
  if (record.prev != prev_hash_) {
    return Find(Problem::kBrokenLink, file.path, line.number,
                "\"prev\" is not the hash of the record before it (" + Seq(last) +
                    "): the chain is broken here");
  }
  return true;
}

// A jump in seq is a removal, unless a missing record turns up later in the same file.
std::string Verifier::GapMessage(const TrailFile& file, const Line& line, std::uint64_t seq,
                                 bool first_in_file, Problem& problem) {
  const std::uint64_t last = report_.last_seq;
  if (auto reader = OpenAt(file.path, offset_); reader.ok()) {
    Line later;
    for (;;) {
      auto more = reader->Next(later);
      if (!more.ok() || !*more || !later.complete) break;
      if (later.number <= line.number) continue;
      auto record = ParseRecord(later.text);
      if (record.ok() && record->seq > last && record->seq < seq) {
        problem = Problem::kOutOfOrder;
        return Seq(seq) + " comes after " + Seq(last) + ", but " + Seq(record->seq) +
               " is later, at line " + std::to_string(later.number) + ": records were reordered";
      }
    }
  }
  const std::uint64_t missing = seq - last - 1;
  std::string message = Seq(seq) + " follows " + Seq(last) + ": " + Plural(missing, "record") +
                        " (" + Seq(last + 1) +
                        (missing > 1 ? " to " + std::to_string(seq - 1) : "") + ") missing";
  if (first_in_file) {
    message += "; this is the first record of its file and the previous file (" +
               last_file_.filename().string() +
               ") ends before them: a rotated file or the end of one was removed";
  } else {
    message += ": records were deleted";
  }
  return message;
}

void Verifier::CheckEnd() {
  if (options_.witness && report_.last_seq < options_.witness->seq) {
    Find(Problem::kWitnessMissing, last_file_.empty() ? options_.file : last_file_, last_line_,
         "the trail ends at " + Seq(report_.last_seq) + " but the witness holds " +
             Seq(options_.witness->seq) + ": " +
             Plural(options_.witness->seq - report_.last_seq, "record") +
             " missing: the trail was deleted or rolled back, with its checkpoint");
    return;
  }
  if (checkpoint_ && report_.last_seq < checkpoint_->seq) {
    Find(Problem::kTruncated, last_file_.empty() ? options_.file : last_file_, last_line_,
         "the trail ends at " + Seq(report_.last_seq) + " but the checkpoint of " +
             FormatTime(checkpoint_->time) + " names " + Seq(checkpoint_->seq) + ": " +
             Plural(checkpoint_->seq - report_.last_seq, "record") +
             " missing from the end: the tail was removed");
    return;
  }
  if (checkpoint_finding_ &&
      (checkpoint_finding_->problem != Problem::kCheckpointMissing || report_.records > 0)) {
    report_.finding = checkpoint_finding_;
    return;
  }
  if (torn_tail_) report_.finding = torn_tail_;
}

Result<VerifyReport> Verifier::RunFromCheckpoint() {
  if (!record_mac_.ok()) return Internal("OpenSSL could not set up the audit key's HMAC");
  WB_RETURN_IF_ERROR(ReadCheckpoint());
  if (checkpoint_finding_ && checkpoint_finding_->problem == Problem::kCheckpointInvalid) {
    report_.finding = checkpoint_finding_;
    return report_;
  }
  if (!checkpoint_) return Verifier(options_, key_).Run();  // no checkpoint: the whole trail
  auto files = internal::ListTrail(options_.file);
  if (!files.ok()) return files.error();
  // The names alone, before and after the checkpoint's file: a missing rotated file is named as
  // the full verify names it, and one before the checkpoint is not missed, at the cost of a
  // directory listing.
  std::uint64_t previous_index = 0;
  for (const internal::TrailFile& file : *files) {
    if (!CheckNumbering(file, previous_index)) return report_;
    previous_index = file.index;
  }
  const std::uint64_t seq = checkpoint_->seq;
  report_.from_seq = seq;
  if (seq == 0) return CheckFilesFrom(*files, 0, 0);  // every record is after it
  // The newest file first: the checkpoint names a record near the end of the trail.
  bool later_records = false;  // a newer file holds records after the checkpoint's
  for (std::size_t i = files->size(); i-- > 0;) {
    const std::filesystem::path& path = (*files)[i].path;
    auto at = Locate(path, seq);
    if (!at.ok()) return at.error();
    switch (at->place) {
      case Place::kFound:
        from_checkpoint_ = true;
        return CheckFilesFrom(*files, i, at->offset);
      case Place::kAfter:
        later_records = later_records || at->last > 0;
        continue;
      case Place::kBefore:
        if (!later_records) {
          Find(Problem::kTruncated, path, 0,
               "the trail ends at " + Seq(at->last) + " but the checkpoint of " +
                   FormatTime(checkpoint_->time) + " names " + Seq(seq) + ": " +
                   Plural(seq - at->last, "record") +
                   " missing from the end: the tail was removed");
          return report_;
        }
        [[fallthrough]];
      case Place::kSkipped:
        Find(Problem::kGap, path, 0,
             Seq(seq) +
                 ", the record the checkpoint names, is missing from the trail (the "
                 "records around it are there): records were deleted");
        return report_;
    }
  }
  Find(later_records ? Problem::kGap : Problem::kTruncated, options_.file, 0,
       later_records ? "the trail starts after " + Seq(seq) +
                           ", the record the checkpoint names: it and the records or files before "
                           "it are missing"
                     : "the trail has no records but the checkpoint names " + Seq(seq) +
                           ": the trail was removed");
  return report_;
}

}  // namespace

Result<VerifyReport> Verify(const VerifyOptions& options, const Secret& key) {
  return Verifier(options, key).Run();
}

Result<VerifyReport> VerifyFromCheckpoint(const VerifyOptions& options, const Secret& key) {
  if (!options.checkpoint_file) {
    return Status(Code::kInvalidArgument,
                  "verifying from the checkpoint needs the checkpoint file; without it, verify "
                  "the whole trail");
  }
  if (options.witness) {
    return Status(Code::kInvalidArgument,
                  "a witness head is checked by verifying the whole trail, not from the "
                  "checkpoint");
  }
  return Verifier(options, key).RunFromCheckpoint();
}

}  // namespace wb::audit
