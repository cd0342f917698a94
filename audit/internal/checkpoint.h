#pragma once
// The checkpoint: the head of the chain, kept in the agent's state directory so that a
// removed tail is detected. One sealed JSON line (see seal.h):
//   {"v":1,"seq":N,"hash":"<sha256 hex of record N's line>","file":"audit.jsonl",
//    "time":"...","hmac":"..."}
// "file" is the name the head's file had when the checkpoint was written (rotation renames it
// afterwards); verification locates the head by seq and compares the hash.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "common/clock.h"
#include "common/secret.h"
#include "common/status.h"

namespace wb::audit::internal {

struct Checkpoint {
  std::uint64_t seq = 0;
  std::string hash;
  std::string file;
  WallTime time;
};

Status WriteCheckpoint(const std::filesystem::path& path, const Checkpoint& checkpoint,
                       const Secret& key);

// nullopt when the file does not exist; kCorruption when it is malformed or fails its HMAC.
Result<std::optional<Checkpoint>> ReadCheckpoint(const std::filesystem::path& path,
                                                 const Secret& key);

}  // namespace wb::audit::internal
