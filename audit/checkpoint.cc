#include "audit/internal/checkpoint.h"

#include <unistd.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "audit/audit.h"
#include "audit/internal/crypto.h"
#include "audit/internal/files.h"
#include "audit/internal/seal.h"

namespace wb::audit::internal {
namespace {

using Json = nlohmann::ordered_json;

Status Invalid(const std::filesystem::path& path, const std::string& what) {
  return Status(Code::kCorruption, path.string() + ": " + what);
}

// The sealed line with its newline.
std::string CheckpointLine(const Checkpoint& checkpoint, const Secret& key) {
  Json j = Json::object();
  j["v"] = 1;
  j["seq"] = checkpoint.seq;
  j["hash"] = checkpoint.hash;
  j["file"] = checkpoint.file;
  j["time"] = FormatTime(checkpoint.time);
  std::string line =
      Seal(j.dump(-1, ' ', /*ensure_ascii=*/false, Json::error_handler_t::replace), key);
  line += '\n';
  return line;
}

// One slot's bytes: nullopt when it is empty (all zeros).
Result<std::optional<Checkpoint>> ParseSlot(std::string_view slot, int index,
                                            const std::filesystem::path& path, const Secret& key) {
  if (std::all_of(slot.begin(), slot.end(), [](char c) { return c == '\0'; })) {
    return std::optional<Checkpoint>();
  }
  const std::string where = index == 0 ? "" : "slot 1: ";
  const std::size_t newline = slot.find('\n');
  if (newline == std::string_view::npos) return Invalid(path, where + "incomplete");
  const std::string_view rest = slot.substr(newline + 1);
  if (!std::all_of(rest.begin(), rest.end(), [](char c) { return c == '\0'; })) {
    return Invalid(path, where + "malformed");
  }
  const std::string_view line = slot.substr(0, newline);
  switch (CheckSeal(line, key)) {
    case SealCheck::kOk:
      break;
    case SealCheck::kNotSealed:
      return Invalid(path, where + "not a checkpoint (no \"hmac\")");
    case SealCheck::kBadMac:
      return Invalid(path,
                     where + "HMAC mismatch: the checkpoint was edited, or another key wrote it");
  }
  Json j = Json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("seq") || !j["seq"].is_number_unsigned() ||
      !j.contains("hash") || !j["hash"].is_string() || !j.contains("file") ||
      !j["file"].is_string() || !j.contains("time") || !j["time"].is_string()) {
    return Invalid(path, where + "malformed");
  }
  Checkpoint cp;
  cp.seq = j["seq"].get<std::uint64_t>();
  cp.hash = j["hash"].get<std::string>();
  cp.file = j["file"].get<std::string>();
  cp.slot = index;
  auto time = ParseTime(j["time"].get<std::string>());
  if (!time.ok() || cp.hash.size() != kHexDigestSize || !IsLowerHex(cp.hash)) {
    return Invalid(path, where + "malformed");
  }
  cp.time = *time;
  return std::optional<Checkpoint>(std::move(cp));
}

}  // namespace

Status CreateCheckpoint(const std::filesystem::path& path, const Checkpoint& checkpoint,
                        const Secret& key) {
  return WriteFileAtomically(path, CheckpointLine(checkpoint, key), 0600);
}

Status WriteCheckpointSlot(int fd, const std::filesystem::path& path, int slot,
                           const Checkpoint& checkpoint, const Secret& key) {
  const std::string line = CheckpointLine(checkpoint, key);
  if (line.size() > kCheckpointSlotBytes) {
    return Internal("the audit checkpoint does not fit its slot (" + std::to_string(line.size()) +
                    " bytes)");
  }
  // The whole slot: the zeros after the line wipe a longer line the slot held before.
  std::string bytes(kCheckpointSlotBytes, '\0');
  std::copy(line.begin(), line.end(), bytes.begin());
  const auto offset = static_cast<off_t>(static_cast<std::size_t>(slot) * kCheckpointSlotBytes);
  for (std::size_t done = 0; done < bytes.size();) {
    const ssize_t n =
        ::pwrite(fd, bytes.data() + done, bytes.size() - done, offset + static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus(errno, "write " + path.string());
    done += static_cast<std::size_t>(n);
  }
  if (::fdatasync(fd) != 0) return ErrnoStatus(errno, "fdatasync " + path.string());
  return Status::Ok();
}

Result<std::optional<Checkpoint>> ReadCheckpoint(const std::filesystem::path& path,
                                                 const Secret& key) {
  auto text = ReadSmallFile(path, 2 * kCheckpointSlotBytes);
  if (!text.ok()) {
    if (text.error().code() == Code::kNotFound) return std::optional<Checkpoint>();
    if (text.error().code() == Code::kCorruption) return Invalid(path, "longer than two slots");
    return text.error();
  }
  const std::string_view all = *text;
  std::optional<Checkpoint> newest;
  for (int slot = 0; slot < 2; ++slot) {
    const std::size_t start = static_cast<std::size_t>(slot) * kCheckpointSlotBytes;
    if (start >= all.size()) break;
    auto cp = ParseSlot(all.substr(start, kCheckpointSlotBytes), slot, path, key);
    if (!cp.ok()) return cp.error();
    if (*cp && (!newest || (*cp)->seq > newest->seq)) newest = std::move(*cp);
  }
  if (!newest) return Invalid(path, "incomplete");
  return newest;
}

}  // namespace wb::audit::internal
