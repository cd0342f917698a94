#include "queue/sealed_passwords.h"

#include <cstdint>
#include <optional>

#include "common/secure_memory.h"

namespace wb::queue {

namespace {

void PutLength(SecureString& out, std::size_t n) {
  for (int shift = 24; shift >= 0; shift -= 8) {
    out += static_cast<char>((n >> shift) & 0xff);
  }
}

// Reads one length-prefixed field from `in`, advancing it.
std::optional<std::string_view> TakeField(std::string_view& in) {
  if (in.size() < 4) return std::nullopt;
  std::uint32_t n = 0;
  for (int i = 0; i < 4; ++i) n = (n << 8) | static_cast<unsigned char>(in[i]);
  in.remove_prefix(4);
  if (in.size() < n) return std::nullopt;
  std::string_view field = in.substr(0, n);
  in.remove_prefix(n);
  return field;
}

}  // namespace

Result<std::string> SealPasswords(const DataKey& key, std::string_view request_id,
                                  const Secret& new_password, const Secret& old_password) {
  if (new_password.empty() && old_password.empty()) return std::string();
  SecureString plain = MakeSecureString(8 + new_password.size() + old_password.size());
  PutLength(plain, new_password.size());
  plain += new_password.view();
  PutLength(plain, old_password.size());
  plain += old_password.view();
  return key.Seal(std::string_view(plain.data(), plain.size()), request_id);
}

Result<Passwords> OpenPasswords(const DataKey& key, std::string_view request_id,
                                std::string_view blob) {
  Result<Secret> plain = key.Open(blob, request_id);
  if (!plain.ok()) return plain.error();
  std::string_view rest = plain->view();
  std::optional<std::string_view> new_pw = TakeField(rest);
  std::optional<std::string_view> old_pw = new_pw ? TakeField(rest) : std::nullopt;
  if (!old_pw || !rest.empty()) {
    return Status(Code::kCorruption, "stored secret has an invalid layout");
  }
  return Passwords{Secret(*new_pw), Secret(*old_pw)};
}

}  // namespace wb::queue
