#include "audit/internal/seal.h"

#include "audit/internal/crypto.h"

namespace wb::audit::internal {
namespace {

constexpr std::string_view kHmacOpen = ",\"hmac\":\"";
constexpr std::string_view kHmacClose = "\"}";
constexpr std::size_t kSealSize = kHmacOpen.size() + kHexDigestSize + kHmacClose.size();

std::string SealWith(std::string_view body, std::string_view hmac) {
  std::string line;
  line.reserve(body.size() + kSealSize);
  line.append(body.substr(0, body.size() - 1));  // drop the final '}'
  line += kHmacOpen;
  line += hmac;
  line += kHmacClose;
  return line;
}

}  // namespace

std::string Seal(std::string_view body, const Secret& key) {
  return SealWith(body, HmacSha256Hex(key, body));
}

Result<std::string> Seal(std::string_view body, const HmacKey& key) {
  const std::string mac = key.Hex(body);
  if (mac.size() != kHexDigestSize) return Internal("OpenSSL could not compute the record's HMAC");
  return SealWith(body, mac);
}

std::optional<Unsealed> Unseal(std::string_view line) {
  if (line.size() < kSealSize + 2 || line.front() != '{') return std::nullopt;
  const std::size_t at = line.size() - kSealSize;
  if (line.substr(at, kHmacOpen.size()) != kHmacOpen ||
      line.substr(line.size() - kHmacClose.size()) != kHmacClose) {
    return std::nullopt;
  }
  std::string_view hmac = line.substr(at + kHmacOpen.size(), kHexDigestSize);
  if (!IsLowerHex(hmac)) return std::nullopt;
  std::string body(line.substr(0, at));
  body += '}';
  return Unsealed{std::move(body), hmac};
}

SealCheck CheckSeal(std::string_view line, const Secret& key) {
  return CheckSeal(line, HmacKey(key));
}

SealCheck CheckSeal(std::string_view line, const HmacKey& key) {
  std::optional<Unsealed> parts = Unseal(line);
  if (!parts) return SealCheck::kNotSealed;
  return ConstantTimeEquals(key.Hex(parts->body), parts->hmac) ? SealCheck::kOk
                                                               : SealCheck::kBadMac;
}

}  // namespace wb::audit::internal
