#pragma once
// The checkpoint: the head of the chain, kept in the agent's state directory so that a
// removed tail is detected. One sealed JSON line (see seal.h):
//   {"v":1,"seq":N,"hash":"<sha256 hex of record N's line>","file":"audit.jsonl",
//    "time":"...","hmac":"..."}
// "file" is the name the head's file had when the checkpoint was written (rotation renames it
// afterwards); verification locates the head by seq and compares the hash.
//
// The file has two slots of kCheckpointSlotBytes: slot 0 at offset 0, slot 1 after it. Each
// holds a sealed line, its newline, and zero bytes up to the slot's end; an all-zero (or
// absent) slot is empty. The Writer fills them in turn, in place (pwrite + fdatasync): one
// sync per checkpoint, no temporary file, rename or directory sync. A crash during a write
// leaves the other slot, the checkpoint before, whole; the slot being written holds its old or
// its new line, because a write of one aligned 512-byte sector is atomic on disks. The newest
// valid slot is the checkpoint. A file of one line (a new trail's first checkpoint, and every
// checkpoint that versions before the slots wrote) is slot 0 alone.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "common/clock.h"
#include "common/secret.h"
#include "common/status.h"

namespace wb::audit::internal {

inline constexpr std::size_t kCheckpointSlotBytes = 512;

struct Checkpoint {
  std::uint64_t seq = 0;
  std::string hash;
  std::string file;
  WallTime time;
  int slot = 0;  // where ReadCheckpoint found it
};

// Creates (or replaces) the file with `checkpoint` in slot 0, atomically (temporary file,
// fsync, rename, directory fsync): after a crash the file is the old one or the new one.
Status CreateCheckpoint(const std::filesystem::path& path, const Checkpoint& checkpoint,
                        const Secret& key);

// Writes `checkpoint` into `slot` (0 or 1) of the open file `fd` and fdatasyncs it. `path`
// names the file in errors. kInternal if the line does not fit a slot (the Writer's "file"
// names are short, so it always does).
Status WriteCheckpointSlot(int fd, const std::filesystem::path& path, int slot,
                           const Checkpoint& checkpoint, const Secret& key);

// The newest slot's checkpoint. nullopt when the file does not exist; kCorruption when it is
// empty, longer than two slots, or when a slot that is not empty is malformed or fails its
// HMAC: a crash never leaves such a slot, an edit does.
Result<std::optional<Checkpoint>> ReadCheckpoint(const std::filesystem::path& path,
                                                 const Secret& key);

}  // namespace wb::audit::internal
