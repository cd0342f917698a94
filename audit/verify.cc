// Verify: one pass over the trail, stopping at the first problem (docs/audit.md, "What verify
// checks").
#include <sys/stat.h>

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

class Verifier {
 public:
  Verifier(const VerifyOptions& options, const Secret& key) : options_(options), key_(key) {}

  Result<VerifyReport> Run();

 private:
  Status ReadCheckpoint();
  bool CheckNumbering(const TrailFile& file, std::uint64_t previous_index);
  Result<bool> CheckFile(const TrailFile& file, bool newest);
  bool CheckLine(const TrailFile& file, const Line& line, bool first_in_file);
  bool CheckSeq(const TrailFile& file, const Line& line, const Record& record, bool first_in_file);
  std::string GapMessage(const TrailFile& file, const Line& line, std::uint64_t seq,
                         bool first_in_file, Problem& problem);
  void CheckEnd();
  bool Find(Problem problem, const std::filesystem::path& file, std::uint64_t line,
            std::string message);

  const VerifyOptions& options_;
  const Secret& key_;
  VerifyReport report_;
  std::optional<internal::Checkpoint> checkpoint_;
  std::optional<Finding> checkpoint_finding_;
  std::optional<Finding> torn_tail_;
  std::string prev_hash_{internal::kZeroHash};
  std::filesystem::path last_file_;
  std::uint64_t last_line_ = 0;
};

bool Verifier::Find(Problem problem, const std::filesystem::path& file, std::uint64_t line,
                    std::string message) {
  report_.finding = Finding{problem, file, line, std::move(message)};
  return false;
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
  std::size_t newest = 0;  // the last file with content: only it may end in a torn line
  for (std::size_t i = 0; i < files->size(); ++i) {
    struct stat st {};
    if (::stat((*files)[i].path.c_str(), &st) == 0 && st.st_size > 0) newest = i;
  }
  std::uint64_t previous_index = 0;
  for (std::size_t i = 0; i < files->size(); ++i) {
    const TrailFile& file = (*files)[i];
    if (!CheckNumbering(file, previous_index)) return report_;
    previous_index = file.index;
    ++report_.files;
    auto more = CheckFile(file, i == newest);
    if (!more.ok()) return more.error();
    if (!*more) return report_;
  }
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

Result<bool> Verifier::CheckFile(const TrailFile& file, bool newest) {
  auto reader = internal::LineReader::Open(file.path);
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
  if (line.too_long) {
    return Find(Problem::kMalformed, file.path, line.number, "line too long to be a record");
  }
  if (line.text.find("{\"v\":", 1) != std::string::npos) {
    // A raw {"v": cannot occur inside a JSON string (its quotes would be escaped).
    return Find(Problem::kMalformed, file.path, line.number,
                "a torn record (a write cut short, no newline) with another record after it on "
                "the same line: a torn line is only expected at the very end of the trail");
  }
  switch (internal::CheckSeal(line.text, key_)) {
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
  ++report_.records;
  last_file_ = file.path;
  last_line_ = line.number;
  return true;
}

bool Verifier::CheckSeq(const TrailFile& file, const Line& line, const Record& record,
                        bool first_in_file) {
  const std::uint64_t seq = record.seq;
  const std::uint64_t last = report_.last_seq;
  if (report_.records == 0 && (seq != 1 || record.prev != internal::kZeroHash)) {
    return Find(Problem::kBadStart, file.path, line.number,
                "the trail starts at " + Seq(seq) +
                    " and not with the first record of a chain (seq 1, zero prev): the records "
                    "or files before it are missing");
  }
  if (report_.records == 0) return true;
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
  if (auto reader = internal::LineReader::Open(file.path); reader.ok()) {
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

}  // namespace

Result<VerifyReport> Verify(const VerifyOptions& options, const Secret& key) {
  return Verifier(options, key).Run();
}

}  // namespace wb::audit
