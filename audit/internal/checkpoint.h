#pragma once
// The checkpoint: the head of the chain, kept in the agent's state directory so that a
// removed tail is detected.
//
// The file holds two slots of kCheckpointSlotBytes each. A slot is one sealed JSON line (see
// seal.h), padded with spaces to the slot's size less one byte, then a newline:
//   {"v":2,"slot":I,"seq":N,"hash":"<sha256 hex of record N's line>","file":"audit.jsonl",
//    "time":"...","hmac":"..."}
// "slot" is the slot's index (0 or 1), under the HMAC: a line is only valid in its own slot,
// so the older slot cannot be copied over the newer one to roll the head back a sync. "file"
// is the name the head's file had when the checkpoint was written (rotation renames it
// afterwards); verification locates the head by seq and compares the hash. The checkpoint is
// the slot with the higher seq.
//
// Why two slots: a running Writer checkpoints after every sync of the trail. Replacing the
// file atomically (a temporary file, fsync, rename, fsync of the directory) costs two fsyncs
// and five other calls each time; writing in place costs one pwrite and one fdatasync. In
// place, a crash may interrupt the write, so each write goes into the slot that does NOT
// hold the newest checkpoint: the other slot still names a durable head. The sealed line
// fits in the first 512-byte sector of its slot (kCheckpointLineMax), which disks write whole
// or not at all, so an interrupted write normally leaves that slot's old line or its new one.
// A reader that checks a copy (Verify) therefore demands that BOTH slots verify. The Writer,
// at start, goes on from the other slot when one fails (a disk that tore the sector after
// all, or an edit) and records that it did (audit_recovered): never silently, and never with
// a head that is not durable.
//
// A file of one line without "slot" ("v":1) is the checkpoint of an earlier build: it is read
// as it is, and the Writer rewrites it in two slots when it opens the trail. A two-slot line
// cut down to one line is refused: it carries "slot".

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "audit/internal/files.h"
#include "common/clock.h"
#include "common/secret.h"
#include "common/status.h"

namespace wb::audit::internal {

inline constexpr std::size_t kCheckpointSlotBytes = 4096;
// The longest sealed line a slot holds, so that line and newline fit one 512-byte sector.
inline constexpr std::size_t kCheckpointLineMax = 511;

struct Checkpoint {
  std::uint64_t seq = 0;
  std::string hash;
  std::string file;
  WallTime time;
};

// Writes `checkpoint` into both slots of a new file that replaces `path` atomically (mode
// 0600): after a crash `path` holds the old content or the new. kInvalidArgument when the
// sealed line would not fit its sector (only a trail file name near NAME_MAX whose JSON
// escapes lengthen it can do that).
Status CreateCheckpoint(const std::filesystem::path& path, const Checkpoint& checkpoint,
                        const Secret& key);

// OK when the checkpoint of a head in the trail file named `file` fits its sector with any seq,
// so that a trail is refused when it is opened rather than at a sync. kInvalidArgument as
// CreateCheckpoint.
Status CheckpointFits(const std::string& file, const Secret& key);

// The checkpoint file of a running Writer, open for writing in place. Not thread-safe: the
// Writer has one syncer at a time.
class CheckpointFile {
 public:
  // Opens a two-slot checkpoint file (its content is not read again); the first Write goes into
  // slot `first_write`: 1 after CreateCheckpoint (both slots equal), or the slot that failed
  // its checks, so that the one that verifies stays until a newer checkpoint is beside it.
  static Result<CheckpointFile> Open(const std::filesystem::path& path, const Secret& key,
                                     std::size_t first_write = 1);
  // Seals `checkpoint` into the slot that does not hold the newest one, then fdatasync; the
  // next Write goes into the other slot. After an error the slot's state on disk is not known
  // (the Writer breaks and writes no more).
  Status Write(const Checkpoint& checkpoint);

 private:
  CheckpointFile(Fd fd, std::filesystem::path path, const Secret& key, std::size_t next_slot)
      : fd_(std::move(fd)), path_(std::move(path)), key_(&key), next_slot_(next_slot) {}
  Fd fd_;
  std::filesystem::path path_;
  const Secret* key_;
  std::size_t next_slot_;
};

struct CheckpointRead {
  std::optional<Checkpoint> newest;  // nullopt when the file does not exist
  // Set when one slot failed its checks and the other verified; `newest` is then the other.
  std::optional<Status> failed_slot;
  std::size_t failed_slot_index = 0;  // which one (0 or 1), when failed_slot is set
};

// Both slots (or the one line of an earlier build). A slot that fails is read again (up to
// three reads, a millisecond apart): a read that runs while the agent writes a slot may see it
// half copied, since Linux does not order a buffered read against a write to the same page.
// kCorruption when the file is malformed or no slot verifies; one failing slot is in
// failed_slot.
Result<CheckpointRead> ReadCheckpointSlots(const std::filesystem::path& path, const Secret& key);

// The same, for a verifier: nullopt when the file does not exist; kCorruption also when one
// slot fails (the message names it).
Result<std::optional<Checkpoint>> ReadCheckpoint(const std::filesystem::path& path,
                                                 const Secret& key);

}  // namespace wb::audit::internal
