#include "audit/internal/checkpoint.h"

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

}  // namespace

Status WriteCheckpoint(const std::filesystem::path& path, const Checkpoint& checkpoint,
                       const Secret& key) {
  Json j = Json::object();
  j["v"] = 1;
  j["seq"] = checkpoint.seq;
  j["hash"] = checkpoint.hash;
  j["file"] = checkpoint.file;
  j["time"] = FormatTime(checkpoint.time);
  std::string line =
      Seal(j.dump(-1, ' ', /*ensure_ascii=*/false, Json::error_handler_t::replace), key);
  line += '\n';
  return WriteFileAtomically(path, line, 0600);
}

Result<std::optional<Checkpoint>> ReadCheckpoint(const std::filesystem::path& path,
                                                 const Secret& key) {
  auto text = ReadSmallFile(path, 4096);
  if (!text.ok()) {
    if (text.error().code() == Code::kNotFound) return std::optional<Checkpoint>();
    return text.error();
  }
  std::string_view line = *text;
  if (line.empty() || line.back() != '\n') return Invalid(path, "incomplete");
  line.remove_suffix(1);
  switch (CheckSeal(line, key)) {
    case SealCheck::kOk:
      break;
    case SealCheck::kNotSealed:
      return Invalid(path, "not a checkpoint (no \"hmac\")");
    case SealCheck::kBadMac:
      return Invalid(path, "HMAC mismatch: the checkpoint was edited, or another key wrote it");
  }
  Json j = Json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("seq") || !j["seq"].is_number_unsigned() ||
      !j.contains("hash") || !j["hash"].is_string() || !j.contains("file") ||
      !j["file"].is_string() || !j.contains("time") || !j["time"].is_string()) {
    return Invalid(path, "malformed");
  }
  Checkpoint cp;
  cp.seq = j["seq"].get<std::uint64_t>();
  cp.hash = j["hash"].get<std::string>();
  cp.file = j["file"].get<std::string>();
  auto time = ParseTime(j["time"].get<std::string>());
  if (!time.ok() || cp.hash.size() != kHexDigestSize || !IsLowerHex(cp.hash)) {
    return Invalid(path, "malformed");
  }
  cp.time = *time;
  return std::optional<Checkpoint>(std::move(cp));
}

}  // namespace wb::audit::internal
