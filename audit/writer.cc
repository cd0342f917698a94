// The Writer: one chain, appended under a mutex; durable appends share fsyncs (group commit).
//
// Invariants, under mu_:
//   - head_ is the seq and hash of the last line in the files; the active file ends with it
//     or is empty (then the head is the last line of the newest rotated file).
//   - durable_seq_ <= head_.seq: records up to durable_seq_ are fdatasync'ed and the
//     checkpoint names durable_seq_. The checkpoint is only written after the sync of the data
//     it names, so after a crash it is never ahead of the files.
//   - At most one thread syncs at a time (syncing_); the others wait on synced_cv_.
#include <fcntl.h>
#include <stdio.h>  // renameat2
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <limits>
#include <mutex>
#include <vector>

#include "audit/audit.h"
#include "audit/internal/checkpoint.h"
#include "audit/internal/crypto.h"
#include "audit/internal/files.h"
#include "audit/internal/record_json.h"
#include "audit/internal/seal.h"
#include "audit/internal/witness.h"
#include "common/thread_annotations.h"

namespace wb::audit {

using internal::Fd;

namespace {

Status Corrupt(std::string message) { return Status(Code::kCorruption, std::move(message)); }

std::string Location(const std::filesystem::path& file, std::uint64_t line) {
  return file.string() + ":" + std::to_string(line);
}

// Counts the newlines in the first `end` bytes of a file.
Result<std::uint64_t> CountLines(int fd, std::uint64_t end, const std::filesystem::path& path) {
  std::uint64_t lines = 0;
  std::string chunk(64 * 1024, '\0');
  for (std::uint64_t at = 0; at < end;) {
    const std::size_t want =
        static_cast<std::size_t>(std::min<std::uint64_t>(chunk.size(), end - at));
    const ssize_t n = ::pread(fd, chunk.data(), want, static_cast<off_t>(at));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus(errno, "read " + path.string());
    if (n == 0) break;
    lines += static_cast<std::uint64_t>(std::count(chunk.data(), chunk.data() + n, '\n'));
    at += static_cast<std::uint64_t>(n);
  }
  return lines;
}

}  // namespace

class Writer::Impl {
 public:
  Impl(WriterOptions options, Secret key, const Clock& clock)
      : options_(std::move(options)), key_(std::move(key)), record_mac_(key_), clock_(clock) {}

  Status Open();
  Result<Appended> Append(const Event& event, Durability durability);
  Status Sync();
  Status Close();
  Head DurableHead();
  Result<WitnessCheck> CheckWitness(const Head& head);

  std::optional<Recovery> recovery_;
  std::optional<CheckpointRecovery> checkpoint_recovery_;

 private:
  struct ChainHead {
    std::uint64_t seq = 0;
    std::string hash{internal::kZeroHash};
  };

  // Open's steps.
  Result<std::optional<ChainHead>> ReadHead(const internal::TrailFile& file);
  Status RecoverTornLine(const std::filesystem::path& path, std::uint64_t keep, std::uint64_t size);
  // A torn last line ReadHead found: the file's bytes from `keep` to `size`.
  struct TornLine {
    std::filesystem::path path;
    std::uint64_t keep;
    std::uint64_t size;
  };
  std::vector<TornLine> torn_;  // Open only
  Status CheckAgainstCheckpoint(const std::optional<internal::Checkpoint>& checkpoint)
      WB_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Status OpenActive(bool exists) WB_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Status RotateIfDue(std::size_t next_line, WallTime now) WB_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Status Rotate() WB_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Status WaitDurable(std::uint64_t seq) WB_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Status Break(Status status) WB_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The file system calls of the trail, each through WriterOptions::inject_fault.
  Status WriteLine(std::string_view line) WB_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Status SyncFile(const Fd& file) const;
  Status RenameActive(const std::filesystem::path& rotated) const;
  Status SyncTrailDir() const;
  Status WriteCheckpoint(const internal::Checkpoint& checkpoint);
  int InjectedFault(FileCall call) const;

  const WriterOptions options_;
  const Secret key_;
  const internal::HmacKey record_mac_;  // key_, set up once for the records' seals
  const Clock& clock_;

  // Written by the one thread that syncs (syncing_), without mu_, and by Open.
  std::optional<internal::CheckpointFile> checkpoint_file_;

  Mutex mu_;
  std::condition_variable_any synced_cv_;
  std::shared_ptr<Fd> file_ WB_GUARDED_BY(mu_);  // shared with a syncer running unlocked
  ChainHead head_ WB_GUARDED_BY(mu_);
  std::string head_file_ WB_GUARDED_BY(mu_);  // the head's file name, for the checkpoint
  std::uint64_t active_size_ WB_GUARDED_BY(mu_) = 0;
  std::optional<WallTime> active_started_ WB_GUARDED_BY(mu_);
  std::uint64_t next_index_ WB_GUARDED_BY(mu_) = 1;
  std::uint64_t durable_seq_ WB_GUARDED_BY(mu_) = 0;
  std::string durable_hash_ WB_GUARDED_BY(mu_){internal::kZeroHash};  // the hash at durable_seq_
  bool syncing_ WB_GUARDED_BY(mu_) = false;
  bool closed_ WB_GUARDED_BY(mu_) = false;
  Status broken_ WB_GUARDED_BY(mu_);
};

// ---- Open -------------------------------------------------------------------------------

Status Writer::Impl::Open() {
  if (!record_mac_.ok()) return Internal("OpenSSL could not set up the audit key's HMAC");
  // The longest name the head's file can have (a rotated file's) must fit the checkpoint.
  WB_RETURN_IF_ERROR(internal::CheckpointFits(
      internal::RotatedPath(options_.file, std::numeric_limits<std::uint64_t>::max())
          .filename()
          .string(),
      key_));
  WB_RETURN_IF_ERROR(internal::MakeDirs(options_.file.parent_path()));
  WB_RETURN_IF_ERROR(internal::MakeDirs(options_.checkpoint_file.parent_path()));
  auto read = internal::ReadCheckpointSlots(options_.checkpoint_file, key_);
  if (!read.ok()) return read.error();
  const std::optional<internal::Checkpoint>& checkpoint = read->newest;
  auto files = internal::ListTrail(options_.file);
  if (!files.ok()) return files.error();
  MutexLock lock(mu_);  // nothing else can hold it yet; for the annotations
  bool active_exists = false;
  for (const auto& f : *files) {
    if (f.index == 0) {
      active_exists = true;
    } else {
      next_index_ = f.index + 1;
    }
  }
  head_file_ = options_.file.filename().string();
  for (auto it = files->rbegin(); it != files->rend(); ++it) {
    auto head = ReadHead(*it);
    if (!head.ok()) return head.error();
    if (*head) {
      head_ = **head;
      head_file_ = it->path.filename().string();
      break;
    }
  }
  WB_RETURN_IF_ERROR(CheckAgainstCheckpoint(checkpoint));
  // Only a trail its checkpoint accepts is repaired: a refused one keeps every byte for the
  // auditor.
  for (const TornLine& torn : torn_) {
    WB_RETURN_IF_ERROR(RecoverTornLine(torn.path, torn.keep, torn.size));
  }
  if (read->failed_slot) {
    checkpoint_recovery_ =
        CheckpointRecovery{read->failed_slot->message(), checkpoint->seq, head_.seq, 0};
  }
  durable_seq_ = checkpoint ? checkpoint->seq : 0;
  if (checkpoint) durable_hash_ = checkpoint->hash;
  // A new trail is checkpointed at seq 0 now, so that a checkpoint that later goes missing is
  // always a sign of tampering, never of a crash before the first sync. An existing one is
  // written again, atomically, in both slots: the syncs then alternate from a known state, and
  // the one-line checkpoint of an earlier version gets its two slots. Not one with a failed
  // slot: that slot stays as found (the evidence) until the first sync after the
  // audit_recovered record overwrites it, the record then being durable before it.
  std::size_t first_write = 1;
  if (read->failed_slot) {
    first_write = read->failed_slot_index;
  } else {
    WB_RETURN_IF_ERROR(internal::CreateCheckpoint(
        options_.checkpoint_file,
        checkpoint.value_or(
            internal::Checkpoint{0, std::string(internal::kZeroHash), head_file_, clock_.Now()}),
        key_));
  }
  auto checkpoint_file =
      internal::CheckpointFile::Open(options_.checkpoint_file, key_, first_write);
  if (!checkpoint_file.ok()) return checkpoint_file.error();
  checkpoint_file_.emplace(std::move(*checkpoint_file));
  return OpenActive(active_exists);
}

Result<std::optional<Writer::Impl::ChainHead>> Writer::Impl::ReadHead(
    const internal::TrailFile& file) {
  auto fd = internal::OpenFile(file.path, O_RDONLY | O_NOFOLLOW);
  if (!fd.ok()) return fd.error();
  auto size = internal::FileSize(fd->get(), file.path.string());
  if (!size.ok()) return size.error();
  constexpr std::size_t kTail = 2 * internal::kMaxLineBytes + 2;
  auto tail = internal::ReadTail(fd->get(), *size, kTail, file.path.string());
  if (!tail.ok()) return tail.error();
  const std::uint64_t tail_start = *size - tail->size();
  std::string_view text = *tail;
  if (!text.empty() && text.back() != '\n') {
    const std::size_t nl = text.rfind('\n');
    if (nl == std::string_view::npos && tail_start > 0) {
      return Corrupt(file.path.string() + " ends in a line longer than any record");
    }
    const std::size_t keep = nl == std::string_view::npos ? 0 : nl + 1;
    // Removed by Open once the checkpoint accepts the trail without it.
    torn_.push_back(TornLine{file.path, tail_start + keep, *size});
    text = text.substr(0, keep);
  }
  if (text.empty()) return std::optional<ChainHead>();
  text.remove_suffix(1);
  const std::size_t start = text.rfind('\n');
  if (start == std::string_view::npos && tail_start > 0) {
    return Corrupt(file.path.string() + " ends in a line longer than any record");
  }
  const std::string_view line = start == std::string_view::npos ? text : text.substr(start + 1);
  const std::string where = file.path.string() + " (last line)";
  if (internal::CheckSeal(line, record_mac_) != internal::SealCheck::kOk) {
    return Corrupt(where +
                   ": the last record fails its HMAC: the trail was edited, or the audit key "
                   "is not the one that wrote it; run `wbagent audit verify`");
  }
  auto record = ParseRecord(line);
  if (!record.ok()) return Corrupt(where + ": " + record.error().message());
  return std::optional<ChainHead>(ChainHead{record->seq, internal::Sha256Hex(line)});
}

// A torn final line is a write that a crash cut short: it was never reported as written, so
// it is removed, and the removal is itself recorded (audit_recovered).
Status Writer::Impl::RecoverTornLine(const std::filesystem::path& path, std::uint64_t keep,
                                     std::uint64_t size) {
  auto fd = internal::OpenFile(path, O_RDWR | O_NOFOLLOW);
  if (!fd.ok()) return fd.error();
  auto line = CountLines(fd->get(), keep, path);
  if (!line.ok()) return line.error();
  if (::ftruncate(fd->get(), static_cast<off_t>(keep)) != 0) {
    return ErrnoStatus(errno, "truncate torn line of " + path.string());
  }
  if (::fsync(fd->get()) != 0) return ErrnoStatus(errno, "fsync " + path.string());
  recovery_ = Recovery{path, *line + 1, size - keep, 0};
  return Status::Ok();
}

Status Writer::Impl::CheckAgainstCheckpoint(const std::optional<internal::Checkpoint>& checkpoint) {
  const std::string advice = "; refusing to extend it. Run `wbagent audit verify` (docs/audit.md)";
  if (!checkpoint) {
    if (head_.seq == 0) return Status::Ok();
    return Corrupt("the audit checkpoint " + options_.checkpoint_file.string() +
                   " is missing but the trail has records" + advice);
  }
  if (checkpoint->seq > head_.seq) {
    return Corrupt("the audit trail ends at seq " + std::to_string(head_.seq) +
                   " but its checkpoint says seq " + std::to_string(checkpoint->seq) +
                   ": records were removed" + advice);
  }
  if (checkpoint->seq == head_.seq && checkpoint->hash != head_.hash) {
    return Corrupt("the last audit record (seq " + std::to_string(head_.seq) +
                   ") is not the one the checkpoint names" + advice);
  }
  return Status::Ok();
}

Status Writer::Impl::OpenActive(bool exists) {
  auto fd = internal::OpenFile(options_.file, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW, 0640);
  if (!fd.ok()) return fd.error();
  if (!exists) WB_RETURN_IF_ERROR(internal::SyncDir(options_.file.parent_path()));
  auto size = internal::FileSize(fd->get(), options_.file.string());
  if (!size.ok()) return size.error();
  active_size_ = *size;
  if (active_size_ > 0) {
    // The file's age, for rotate_age, is its first record's time.
    auto reader = internal::LineReader::Open(options_.file);
    internal::Line first;
    if (reader.ok() && reader->Next(first).ok()) {
      if (auto record = ParseRecord(first.text); record.ok()) active_started_ = record->time;
    }
    if (!active_started_) active_started_ = clock_.Now();
  }
  file_ = std::make_shared<Fd>(std::move(*fd));
  return Status::Ok();
}

// ---- Appending --------------------------------------------------------------------------

Result<Appended> Writer::Impl::Append(const Event& event, Durability durability) {
  MutexLock lock(mu_);
  if (!broken_.ok()) return broken_;
  if (closed_) return FailedPrecondition("the audit trail is closed");
  Record record;
  record.seq = head_.seq + 1;
  record.time = internal::TruncateToMillis(clock_.Now());
  record.agent = options_.agent_id;
  record.event = event;
  record.prev = head_.hash;
  Result<std::string> sealed = internal::Seal(internal::RecordBody(record), record_mac_);
  if (!sealed.ok()) return sealed.error();  // nothing written: the trail is as it was
  std::string line = std::move(*sealed);
  if (line.size() >= internal::kMaxLineBytes) {
    return InvalidArgument("audit record too long");  // the Event limits make this unreachable
  }
  WB_RETURN_IF_ERROR(RotateIfDue(line.size() + 1, record.time));
  const std::string hash = internal::Sha256Hex(line);
  line += '\n';
  if (Status s = WriteLine(line); !s.ok()) {
    // Take a partial line back off, so the file still ends in a whole record.
    if (::ftruncate(file_->get(), static_cast<off_t>(active_size_)) != 0) {
      return Break(s.WithContext("audit write failed and could not be undone"));
    }
    return Break(s);
  }
  line.pop_back();
  active_size_ += line.size() + 1;
  if (!active_started_) active_started_ = record.time;
  head_ = ChainHead{record.seq, hash};
  head_file_ = options_.file.filename().string();
  if (options_.mirror != nullptr) {
    record.hmac = internal::Unseal(line)->hmac;
    options_.mirror->Publish(record, line);
  }
  if (durability == Durability::kDurable) WB_RETURN_IF_ERROR(WaitDurable(record.seq));
  return Appended{record.seq, record.time};
}

Status Writer::Impl::RotateIfDue(std::size_t next_line, WallTime now) {
  if (active_size_ == 0) return Status::Ok();
  const bool full = options_.rotate_size > 0 && active_size_ + next_line > options_.rotate_size;
  const bool old = options_.rotate_age.count() > 0 && active_started_ &&
                   now - *active_started_ >= options_.rotate_age;
  return full || old ? Rotate() : Status::Ok();
}

// The rotated file is complete and durable before it gets its final name; a crash between
// the rename and the new file's creation leaves no active file, which Open re-creates.
Status Writer::Impl::Rotate() {
  if (Status s = SyncFile(*file_); !s.ok()) return Break(s);
  const std::filesystem::path rotated = internal::RotatedPath(options_.file, next_index_);
  if (Status s = RenameActive(rotated); !s.ok()) return Break(s);
  ++next_index_;
  if (head_file_ == options_.file.filename().string()) head_file_ = rotated.filename().string();
  if (Status s = SyncTrailDir(); !s.ok()) return Break(s);
  auto fd =
      internal::OpenFile(options_.file, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_NOFOLLOW, 0640);
  if (!fd.ok()) return Break(fd.error());
  if (Status s = SyncTrailDir(); !s.ok()) return Break(s);
  file_ = std::make_shared<Fd>(std::move(*fd));
  active_size_ = 0;
  active_started_.reset();
  return Status::Ok();
}

Status Writer::Impl::WaitDurable(std::uint64_t seq) {
  while (durable_seq_ < seq) {
    if (!broken_.ok()) return broken_;
    // Woken after Close: the file is gone, and Close synced what it could.
    if (closed_) return FailedPrecondition("the audit trail is closed");
    if (syncing_) {
      mu_.Wait(synced_cv_);
      continue;
    }
    // Become the syncer for everything written so far; threads arriving meanwhile wait and
    // are covered by this fsync or start the next one.
    syncing_ = true;
    const internal::Checkpoint checkpoint{head_.seq, head_.hash, head_file_, clock_.Now()};
    const std::shared_ptr<Fd> file = file_;
    mu_.Unlock();
    Status s;
    s = SyncFile(*file);
    if (s.ok()) s = WriteCheckpoint(checkpoint);
    mu_.Lock();
    syncing_ = false;
    if (s.ok() && checkpoint.seq >= durable_seq_) {
      durable_seq_ = checkpoint.seq;
      durable_hash_ = checkpoint.hash;
    } else if (!s.ok()) {
      broken_ = s;
    }
    synced_cv_.notify_all();
  }
  return Status::Ok();
}

int Writer::Impl::InjectedFault(FileCall call) const {
  return options_.inject_fault ? options_.inject_fault(call) : 0;
}

Status Writer::Impl::WriteLine(std::string_view line) {
  if (const int e = InjectedFault(FileCall::kWrite); e != 0) {
    return ErrnoStatus(e, "write " + options_.file.string());
  }
  return internal::WriteAll(file_->get(), line, options_.file.string());
}

Status Writer::Impl::SyncFile(const Fd& file) const {
  int e = InjectedFault(FileCall::kSync);
  // fdatasync: the data and the file's size, which is all a reader needs; not its times.
  if (e == 0 && ::fdatasync(file.get()) != 0) e = errno;
  return e == 0 ? Status::Ok() : ErrnoStatus(e, "fdatasync " + options_.file.string());
}

Status Writer::Impl::RenameActive(const std::filesystem::path& rotated) const {
  int e = InjectedFault(FileCall::kRename);
  if (e == 0 && ::renameat2(AT_FDCWD, options_.file.c_str(), AT_FDCWD, rotated.c_str(),
                            RENAME_NOREPLACE) != 0) {
    e = errno;
  }
  return e == 0 ? Status::Ok()
                : ErrnoStatus(e, "rotate " + options_.file.string() + " to " + rotated.string());
}

Status Writer::Impl::SyncTrailDir() const {
  const std::filesystem::path dir = options_.file.parent_path();
  if (const int e = InjectedFault(FileCall::kSyncDir); e != 0) {
    return ErrnoStatus(e, "fsync " + dir.string());
  }
  return internal::SyncDir(dir);
}

Status Writer::Impl::WriteCheckpoint(const internal::Checkpoint& checkpoint) {
  if (const int e = InjectedFault(FileCall::kCheckpoint); e != 0) {
    return ErrnoStatus(e, "write " + options_.checkpoint_file.string());
  }
  return checkpoint_file_->Write(checkpoint);
}

Status Writer::Impl::Break(Status status) {
  broken_ = status;
  return status;
}

Status Writer::Impl::Sync() {
  MutexLock lock(mu_);
  if (!broken_.ok()) return broken_;
  if (closed_) return FailedPrecondition("the audit trail is closed");
  return WaitDurable(head_.seq);
}

Status Writer::Impl::Close() {
  MutexLock lock(mu_);
  if (closed_) return Status::Ok();
  Status s = broken_.ok() ? WaitDurable(head_.seq) : broken_;
  mu_.Wait(synced_cv_, [this]() WB_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !syncing_; });
  closed_ = true;
  file_.reset();
  return s;
}

// ---- The witness --------------------------------------------------------------------------

Head Writer::Impl::DurableHead() {
  MutexLock lock(mu_);
  return internal::MakeHead(durable_seq_, durable_hash_, key_);
}

Result<WitnessCheck> Writer::Impl::CheckWitness(const Head& head) {
  if (!head.hmac.empty() && !internal::HeadMacIsValid(head, key_)) return WitnessCheck::kForged;
  Result<std::vector<internal::OpenTrailFile>> files = std::vector<internal::OpenTrailFile>();
  {
    // Only the snapshot under the lock: the files are opened here, so that a rotation renaming
    // one later does not disturb the search, which runs while appends go on.
    MutexLock lock(mu_);
    if (head.seq > head_.seq) return WitnessCheck::kMissing;
    if (head.seq == head_.seq || head.seq == 0) {
      const std::string_view ours = head.seq == 0 ? internal::kZeroHash : head_.hash;
      return head.hash == ours ? WitnessCheck::kHeld : WitnessCheck::kReplaced;
    }
    auto listed = internal::ListTrail(options_.file);
    if (!listed.ok()) return listed.error();
    files = internal::OpenTrailFiles(*listed);
  }
  if (!files.ok()) return files.error();
  auto hash = internal::FindLineHash(std::move(*files), head.seq);
  if (!hash.ok()) return hash.error();
  if (!*hash) return WitnessCheck::kMissing;
  return **hash == head.hash ? WitnessCheck::kHeld : WitnessCheck::kReplaced;
}

// ---- Writer -----------------------------------------------------------------------------

Result<std::unique_ptr<Writer>> Writer::Open(WriterOptions options, Secret key,
                                             const Clock& clock) {
  auto impl = std::make_unique<Impl>(std::move(options), std::move(key), clock);
  WB_RETURN_IF_ERROR(impl->Open());
  std::unique_ptr<Writer> writer(new Writer(std::move(impl)));
  if (writer->impl_->recovery_) {
    Recovery& r = *writer->impl_->recovery_;
    Event event;
    event.type = EventType::kAuditRecovered;
    event.outcome = "torn_line_removed";
    event.detail = "removed the torn final line " + Location(r.file.filename(), r.line) + " (" +
                   std::to_string(r.bytes) +
                   " bytes, no newline): a write cut short by an unclean stop";
    auto appended = writer->Append(event, Durability::kBuffered);
    if (!appended.ok()) return appended.error();
    r.seq = appended->seq;
  }
  if (writer->impl_->checkpoint_recovery_) {
    CheckpointRecovery& r = *writer->impl_->checkpoint_recovery_;
    Event event;
    event.type = EventType::kAuditRecovered;
    event.outcome = "checkpoint_slot_failed";
    event.detail = "one slot of the checkpoint failed its check (" + r.problem +
                   "): a power loss that tore its write, or an edit; went on from the other "
                   "slot, at seq " +
                   std::to_string(r.from_seq) + ", with the trail ending at seq " +
                   std::to_string(r.trail_seq) + "; run `wbagent audit verify`";
    auto appended = writer->Append(event, Durability::kBuffered);
    if (!appended.ok()) return appended.error();
    r.seq = appended->seq;
  }
  // One sync for both recovery records, before the first checkpoint write: that write goes
  // into a failed slot (Open), which must stay as found until its record is durable.
  WB_RETURN_IF_ERROR(writer->Sync());
  return writer;
}

Writer::Writer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Writer::~Writer() { (void)impl_->Close(); }

Result<Appended> Writer::Append(const Event& event, Durability durability) {
  auto appended = impl_->Append(event, durability);
  if (!appended.ok()) ++append_failures_;
  return appended;
}

Status Writer::Sync() { return impl_->Sync(); }

Status Writer::Close() { return impl_->Close(); }

const std::optional<Recovery>& Writer::recovery() const { return impl_->recovery_; }

const std::optional<CheckpointRecovery>& Writer::checkpoint_recovery() const {
  return impl_->checkpoint_recovery_;
}

Head Writer::DurableHead() { return impl_->DurableHead(); }

Result<WitnessCheck> Writer::CheckWitness(const Head& head) { return impl_->CheckWitness(head); }

std::filesystem::path CheckpointPath(const std::filesystem::path& state_dir) {
  return state_dir / "audit.checkpoint";
}

}  // namespace wb::audit
