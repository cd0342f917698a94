#pragma once
// Internal: the witness head's MAC and finding a record's hash by seq (audit.h, "The witness").

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "audit/audit.h"
#include "audit/internal/files.h"

namespace wb::audit::internal {

// The head with its HMAC under `key`.
Head MakeHead(std::uint64_t seq, std::string hash, const Secret& key);
// Whether head.hmac is the HMAC of its seq and hash under `key`.
bool HeadMacIsValid(const Head& head, const Secret& key);

// The seq a record line starts with ({"v":1,"seq":N,...), read without parsing the rest;
// nullopt when the line does not start that way.
std::optional<std::uint64_t> LineSeq(std::string_view line);

// One trail file, opened: a rotation that renames it afterwards does not disturb a reader.
struct OpenTrailFile {
  Fd fd;
  std::filesystem::path path;
};
// Opens `files` (ListTrail order), in that order.
Result<std::vector<OpenTrailFile>> OpenTrailFiles(const std::vector<TrailFile>& files);

// The SHA-256 hex of the line holding record `seq` in `files` (oldest first), looking in the
// newest file whose first record is at or before `seq`; nullopt when no complete line has it.
Result<std::optional<std::string>> FindLineHash(std::vector<OpenTrailFile> files,
                                                std::uint64_t seq);

}  // namespace wb::audit::internal
