#include "audit/internal/seal.h"

#include "audit/internal/crypto.h"

namespace wb::audit::internal {
namespace {

constexpr std::string_view kHmacOpen = ",\"hmac\":\"";
constexpr std::string_view kHmacClose = "\"}";
constexpr std::size_t kSealSize = kHmacOpen.size() + kHexDigestSize + kHmacClose.size();

}  // namespace

std::string Seal(std::string_view body, const Secret& key) {
  std::string line(body.substr(0, body.size() - 1));  // drop the final '}'
  line += kHmacOpen;
  line += HmacSha256Hex(key, body);
  line += kHmacClose;
  return line;
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
  std::optional<Unsealed> parts = Unseal(line);
  if (!parts) return SealCheck::kNotSealed;
  return ConstantTimeEquals(HmacSha256Hex(key, parts->body), parts->hmac) ? SealCheck::kOk
                                                                          : SealCheck::kBadMac;
}

}  // namespace wb::audit::internal
