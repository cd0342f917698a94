// StartNewChain: keep a trail that failed verification as evidence, and start a new chain
// whose first record names it (audit.h).
#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <string>

#include "audit/audit.h"
#include "audit/internal/crypto.h"
#include "audit/internal/files.h"

namespace wb::audit {
namespace {

// The last line of the trail as stored: its seq (0 when it is no record) and its SHA-256.
Result<Head> LastLine(const std::vector<internal::TrailFile>& files) {
  for (auto it = files.rbegin(); it != files.rend(); ++it) {
    auto reader = internal::LineReader::Open(it->path);
    if (!reader.ok()) return reader.error();
    internal::Line line;
    std::optional<std::string> last;
    for (;;) {
      auto more = reader->Next(line);
      if (!more.ok()) return more.error();
      if (!*more) break;
      last = std::move(line.text);
    }
    if (!last) continue;  // an empty active file: its predecessor holds the head
    auto record = ParseRecord(*last);
    return Head{.seq = record.ok() ? record->seq : 0, .hash = internal::Sha256Hex(*last)};
  }
  return Head{.seq = 0, .hash = std::string(64, '0')};
}

// Why there is nothing to start over from, or Ok.
Status NeedsNewChain(const VerifyReport& report) {
  if (report.ok()) {
    return FailedPrecondition("the audit trail verifies (" + std::to_string(report.records) +
                              " records): there is nothing to recover from");
  }
  if (report.finding->problem == Problem::kTornTail) {
    return FailedPrecondition(
        "the trail's only problem is a torn final line, which the agent repairs itself at its "
        "next start (docs/audit.md, \"Crashes and torn lines\")");
  }
  return Status::Ok();
}

Status MakeEvidenceDir(const std::filesystem::path& dir) {
  if (::mkdir(dir.c_str(), 0700) == 0) return Status::Ok();
  if (errno == EEXIST) {
    return Status(Code::kAlreadyExists,
                  dir.string() + " exists: evidence is never mixed; name a new directory");
  }
  return ErrnoStatus(errno, "creating " + dir.string());
}

// rename(2): the evidence keeps its inode and bytes. A failure names what already moved.
Status MoveInto(const std::filesystem::path& dir, const std::filesystem::path& from,
                std::vector<std::filesystem::path>& moved) {
  const std::filesystem::path to = dir / from.filename();
  if (::rename(from.c_str(), to.c_str()) == 0) {
    moved.push_back(to);
    return Status::Ok();
  }
  const int err = errno;
  std::string what = "moving " + from.string() + " to " + dir.string();
  if (err == EXDEV) what += " (another file system: choose a directory beside the trail)";
  if (!moved.empty()) what += "; already moved: " + std::to_string(moved.size()) + " file(s)";
  return ErrnoStatus(err, what);
}

Status MoveEvidence(const NewChainOptions& options, const std::vector<internal::TrailFile>& files,
                    std::vector<std::filesystem::path>& moved) {
  WB_RETURN_IF_ERROR(MakeEvidenceDir(options.evidence_dir));
  for (const internal::TrailFile& f : files) {
    WB_RETURN_IF_ERROR(MoveInto(options.evidence_dir, f.path, moved));
  }
  if (std::filesystem::exists(options.checkpoint_file)) {
    WB_RETURN_IF_ERROR(MoveInto(options.evidence_dir, options.checkpoint_file, moved));
  }
  WB_RETURN_IF_ERROR(internal::SyncDir(options.evidence_dir));
  WB_RETURN_IF_ERROR(internal::SyncDir(options.file.parent_path()));
  return internal::SyncDir(options.checkpoint_file.parent_path());
}

Event ChainStarted(const NewChain& chain, const NewChainOptions& options) {
  const Finding& f = *chain.old_report.finding;
  std::string where = f.file.filename().string();
  if (f.line > 0) where.append(":").append(std::to_string(f.line));
  Event e;
  e.type = EventType::kChainStarted;
  e.outcome = std::string(Name(f.problem));
  e.reasons = {e.outcome};
  e.detail = "new chain after a trail that failed verification (";
  e.detail.append(e.outcome)
      .append(" at ")
      .append(where)
      .append(": ")
      .append(f.message)
      .append("); the old head, its last line as kept: ")
      .append(FormatHead({.seq = chain.old_head.seq, .hash = chain.old_head.hash}))
      .append("; its ")
      .append(std::to_string(chain.moved.size()))
      .append(" files (trail and checkpoint) are kept in ")
      .append(options.evidence_dir.string());
  return e;
}

}  // namespace

Result<NewChain> StartNewChain(const NewChainOptions& options, Secret key, const Clock& clock) {
  auto files = internal::ListTrail(options.file);
  if (!files.ok()) return files.error();
  if (files->empty()) return NotFound("no audit trail at " + options.file.string());
  NewChain chain;
  auto report = Verify({.file = options.file, .checkpoint_file = options.checkpoint_file}, key);
  if (!report.ok()) return report.error();
  chain.old_report = std::move(*report);
  WB_RETURN_IF_ERROR(NeedsNewChain(chain.old_report));
  auto head = LastLine(*files);
  if (!head.ok()) return head.error();
  chain.old_head = std::move(*head);
  WB_RETURN_IF_ERROR(MoveEvidence(options, *files, chain.moved));
  auto writer = Writer::Open({.file = options.file,
                              .checkpoint_file = options.checkpoint_file,
                              .agent_id = options.agent_id},
                             std::move(key), clock);
  if (!writer.ok()) return writer.error();
  auto first = (*writer)->Append(ChainStarted(chain, options), Durability::kDurable);
  if (!first.ok()) return first.error();
  chain.first = *first;
  WB_RETURN_IF_ERROR((*writer)->Close());
  return chain;
}

}  // namespace wb::audit
