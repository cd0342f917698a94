#include "tools/wbcloud/tokens.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <nlohmann/json.hpp>

#include "common/hex.h"
#include "tools/wbcloud/files.h"

namespace wb::cloud {
namespace {

using Json = nlohmann::json;

std::int64_t Unix(WallTime t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

std::string Hex(const unsigned char* data, std::size_t len) {
  return HexEncode(std::string_view(reinterpret_cast<const char*>(data), len));
}

std::string Sha256Hex(std::string_view text) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(text.data(), text.size(), md, &len, EVP_sha256(), nullptr);
  return Hex(md, len);
}

std::filesystem::path LockPath(const std::filesystem::path& tokens_file) {
  return tokens_file.string() + ".lock";
}

Result<Json> Load(const std::filesystem::path& file) {
  if (!std::filesystem::exists(file)) return Json::array();
  auto text = ReadFile(file);
  if (!text.ok()) return text.error();
  Json j = Json::parse(*text, nullptr, false);
  if (!j.is_array()) return Status(Code::kCorruption, file.string() + " is invalid");
  return j;
}

}  // namespace

Result<std::string> CreateToken(const std::filesystem::path& tokens_file, std::chrono::seconds ttl,
                                const Clock& clock) {
  unsigned char raw[32];
  if (RAND_bytes(raw, sizeof raw) != 1) return Internal("no random bytes for a token");
  std::string token(48, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(token.data()), raw, sizeof raw);
  token.resize(static_cast<std::size_t>(n));
  for (char& c : token) c = c == '+' ? '-' : c == '/' ? '_' : c;
  while (!token.empty() && token.back() == '=') token.pop_back();

  auto lock = FileLock::Acquire(LockPath(tokens_file), /*wait=*/true);
  if (!lock.ok()) return lock.error();
  auto tokens = Load(tokens_file);
  if (!tokens.ok()) return tokens.error();
  const std::int64_t now = Unix(clock.Now());
  // Forget tokens that expired more than a day ago.
  Json kept = Json::array();
  for (auto& t : *tokens) {
    if (t.value("expires", std::int64_t{0}) > now - 86400) kept.push_back(t);
  }
  kept.push_back({{"sha256", Sha256Hex(token)},
                  {"created", now},
                  {"expires", now + ttl.count()},
                  {"used", false}});
  WB_RETURN_IF_ERROR(WriteFileAtomic(tokens_file, kept.dump(2) + "\n", 0600));
  return token;
}

Status ConsumeToken(const std::filesystem::path& tokens_file, std::string_view token,
                    const Clock& clock) {
  auto lock = FileLock::Acquire(LockPath(tokens_file), /*wait=*/true);
  if (!lock.ok()) return lock.error();
  auto tokens = Load(tokens_file);
  if (!tokens.ok()) return tokens.error();
  const std::string digest = Sha256Hex(token);
  for (auto& t : *tokens) {
    const std::string stored = t.value("sha256", "");
    if (stored.size() != digest.size() ||
        CRYPTO_memcmp(stored.data(), digest.data(), digest.size()) != 0) {
      continue;
    }
    if (t.value("used", false)) return PermissionDenied("the enrollment token was already used");
    if (Unix(clock.Now()) >= t.value("expires", std::int64_t{0})) {
      return PermissionDenied("the enrollment token expired");
    }
    t["used"] = true;
    t["used_at"] = Unix(clock.Now());
    return WriteFileAtomic(tokens_file, tokens->dump(2) + "\n", 0600);
  }
  return PermissionDenied("unknown enrollment token");
}

}  // namespace wb::cloud
