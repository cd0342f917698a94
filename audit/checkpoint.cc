#include "audit/internal/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <limits>
#include <nlohmann/json.hpp>
#include <thread>

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

constexpr int kSlotsVersion = 2;    // two slots, each line naming its slot
constexpr int kOneLineVersion = 1;  // the one-line file of an earlier build

std::string SealedLine(const Checkpoint& checkpoint, std::size_t slot, const Secret& key) {
  Json j = Json::object();
  j["v"] = kSlotsVersion;
  j["slot"] = slot;
  j["seq"] = checkpoint.seq;
  j["hash"] = checkpoint.hash;
  j["file"] = checkpoint.file;
  j["time"] = FormatTime(checkpoint.time);
  return Seal(j.dump(-1, ' ', /*ensure_ascii=*/false, Json::error_handler_t::replace), key);
}

// Slot `index`'s bytes: the sealed line, spaces, and a newline as the slot's last byte.
Result<std::string> Slot(const Checkpoint& checkpoint, std::size_t index, const Secret& key) {
  std::string slot = SealedLine(checkpoint, index, key);
  if (slot.size() > kCheckpointLineMax) {
    return InvalidArgument("the audit checkpoint naming " + checkpoint.file + " would be " +
                           std::to_string(slot.size()) + " bytes, more than the " +
                           std::to_string(kCheckpointLineMax) +
                           " that fit one disk sector: shorten the trail's file name");
  }
  slot += '\n';
  slot.resize(kCheckpointSlotBytes - 1, ' ');
  slot += '\n';
  return slot;
}

// One sealed line (without its newline), as the checkpoint's fields: a slot's line names that
// slot (`slot`); the one line of an earlier build has version 1 and no slot (`slot` nullopt).
// `where` names the line in errors.
Result<Checkpoint> ParseLine(std::string_view line, std::optional<std::size_t> slot,
                             const Secret& key, const std::filesystem::path& path,
                             const std::string& where) {
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
      !j["file"].is_string() || !j.contains("time") || !j["time"].is_string() || !j.contains("v") ||
      !j["v"].is_number_unsigned()) {
    return Invalid(path, where + "malformed");
  }
  // A line moved from the other slot, or a slot's line passed off as an earlier build's file,
  // would roll the head back: refused like an edit.
  const bool in_its_place =
      slot ? j["v"] == kSlotsVersion && j.contains("slot") && j["slot"] == *slot
           : j["v"] == kOneLineVersion && !j.contains("slot");
  if (!in_its_place) {
    return Invalid(path, where + "a line sealed for another place in the file (moved there)");
  }
  Checkpoint cp;
  cp.seq = j["seq"].get<std::uint64_t>();
  cp.hash = j["hash"].get<std::string>();
  cp.file = j["file"].get<std::string>();
  auto time = ParseTime(j["time"].get<std::string>());
  if (!time.ok() || cp.hash.size() != kHexDigestSize || !IsLowerHex(cp.hash)) {
    return Invalid(path, where + "malformed");
  }
  cp.time = *time;
  return cp;
}

// A slot: its line, then only spaces up to the newline that ends the slot.
Result<Checkpoint> ParseSlot(std::string_view slot, std::size_t index, const Secret& key,
                             const std::filesystem::path& path) {
  const std::string where = "slot " + std::to_string(index + 1) + ": ";
  const std::size_t nl = slot.find('\n');
  if (nl == std::string_view::npos || nl > kCheckpointLineMax) {
    return Invalid(path, where + "malformed");
  }
  const std::string_view padding = slot.substr(nl + 1);
  const bool padded = !padding.empty() && padding.back() == '\n' &&
                      padding.find_first_not_of(' ') == padding.size() - 1;
  if (!padded) return Invalid(path, where + "malformed");
  return ParseLine(slot.substr(0, nl), index, key, path, where);
}

// The one-line checkpoint of an earlier build.
Result<Checkpoint> ReadOneLine(std::string_view file, const Secret& key,
                               const std::filesystem::path& path) {
  if (file.empty() || file.back() != '\n') return Invalid(path, "incomplete");
  file.remove_suffix(1);
  return ParseLine(file, std::nullopt, key, path, "");
}

}  // namespace

Status CheckpointFits(const std::string& file, const Secret& key) {
  const Checkpoint longest{std::numeric_limits<std::uint64_t>::max(),
                           std::string(kHexDigestSize, 'f'), file, WallTime{}};
  Result<std::string> slot = Slot(longest, 0, key);
  return slot.ok() ? Status::Ok() : slot.error();
}

Status CreateCheckpoint(const std::filesystem::path& path, const Checkpoint& checkpoint,
                        const Secret& key) {
  Result<std::string> first = Slot(checkpoint, 0, key);
  if (!first.ok()) return first.error();
  Result<std::string> second = Slot(checkpoint, 1, key);
  if (!second.ok()) return second.error();
  return WriteFileAtomically(path, *first + *second, 0600);
}

Result<CheckpointFile> CheckpointFile::Open(const std::filesystem::path& path, const Secret& key,
                                            std::size_t first_write) {
  auto fd = OpenFile(path, O_RDWR | O_NOFOLLOW);
  if (!fd.ok()) return fd.error();
  auto size = FileSize(fd->get(), path.string());
  if (!size.ok()) return size.error();
  if (*size != 2 * kCheckpointSlotBytes) return Invalid(path, "not a two-slot checkpoint");
  return CheckpointFile(std::move(*fd), path, key, first_write == 0 ? 0 : 1);
}

Status CheckpointFile::Write(const Checkpoint& checkpoint) {
  Result<std::string> slot = Slot(checkpoint, next_slot_, *key_);
  if (!slot.ok()) return slot.error();
  const auto at = static_cast<off_t>(next_slot_ * kCheckpointSlotBytes);
  const ssize_t n = ::pwrite(fd_.get(), slot->data(), slot->size(), at);
  if (n < 0) return ErrnoStatus(errno, "write " + path_.string());
  // A slot is one page at a page-aligned offset: a regular file takes it whole.
  if (static_cast<std::size_t>(n) != slot->size()) {
    return Status(Code::kInternal, "short write to " + path_.string());
  }
  if (::fdatasync(fd_.get()) != 0) return ErrnoStatus(errno, "fdatasync " + path_.string());
  next_slot_ = 1 - next_slot_;
  return Status::Ok();
}

Result<CheckpointRead> ReadCheckpointSlots(const std::filesystem::path& path, const Secret& key) {
  constexpr int kReads = 3;
  constexpr std::chrono::milliseconds kBetweenReads{1};
  for (int read = 1;; ++read) {
    auto text = ReadSmallFile(path, 2 * kCheckpointSlotBytes);
    if (!text.ok()) {
      if (text.error().code() == Code::kNotFound) return CheckpointRead{};
      return text.error();
    }
    const std::string_view file = *text;
    if (file.size() != 2 * kCheckpointSlotBytes) {
      Result<Checkpoint> only = ReadOneLine(file, key, path);
      if (!only.ok()) return only.error();
      return CheckpointRead{std::move(*only), std::nullopt};
    }
    Result<Checkpoint> first = ParseSlot(file.substr(0, kCheckpointSlotBytes), 0, key, path);
    Result<Checkpoint> second = ParseSlot(file.substr(kCheckpointSlotBytes), 1, key, path);
    if (first.ok() && second.ok()) {
      return CheckpointRead{first->seq >= second->seq ? std::move(*first) : std::move(*second),
                            std::nullopt};
    }
    if (read < kReads) {
      std::this_thread::sleep_for(kBetweenReads);
      continue;
    }
    if (!first.ok() && !second.ok()) return first.error();
    if (first.ok()) return CheckpointRead{std::move(*first), second.error(), 1};
    return CheckpointRead{std::move(*second), first.error(), 0};
  }
}

Result<std::optional<Checkpoint>> ReadCheckpoint(const std::filesystem::path& path,
                                                 const Secret& key) {
  auto read = ReadCheckpointSlots(path, key);
  if (!read.ok()) return read.error();
  if (read->failed_slot) return *read->failed_slot;
  return std::move(read->newest);
}

}  // namespace wb::audit::internal
