// Checks of single string values: agent id, DNS names, DNs, the SPKI pin.

#include <ldap.h>

#include <cctype>
#include <memory>

#include "config/internal/validate.h"

namespace wb::config::internal {
namespace {

bool IsAlnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

Problem CheckDnsLabel(std::string_view label) {
  if (label.empty()) return "has an empty label (\"..\" or a leading or trailing dot)";
  if (label.size() > 63) return "has a label longer than 63 characters";
  for (char c : label) {
    if (!IsAlnum(c) && c != '-') return "may only contain letters, digits, '-' and '.'";
  }
  if (label.front() == '-' || label.back() == '-') {
    return "has a label that starts or ends with '-'";
  }
  return std::nullopt;
}

// Standard base64 alphabet value of c, or -1.
int Base64Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

}  // namespace

Problem CheckIdentifier(std::string_view id) {
  if (id.empty()) return "must not be empty";
  if (id.size() > 64) return "must be at most 64 characters";
  for (char c : id) {
    if (!IsAlnum(c) && c != '.' && c != '_' && c != '-') {
      return "may only contain letters, digits, '.', '_' and '-'; found " + Quote(id);
    }
  }
  return std::nullopt;
}

Problem CheckDnsName(std::string_view name) {
  if (name.empty()) return "must not be empty";
  if (name.size() > 253) return "is longer than 253 characters";
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = name.find('.', start);
    if (Problem p = CheckDnsLabel(name.substr(start, dot - start))) return p;
    if (dot == std::string_view::npos) return std::nullopt;
    start = dot + 1;
  }
}

Problem CheckDn(std::string_view dn) {
  if (dn.empty()) return "must not be empty";
  if (!CanonicalDn(dn)) {
    return "is not a valid DN (RFC 4514), e.g. \"CN=svc-wbagent,OU=Service,DC=corp,DC=example\"";
  }
  return std::nullopt;
}

std::optional<std::string> CanonicalDn(std::string_view dn) {
  const std::string in(dn);
  if (in.find('\0') != std::string::npos) return std::nullopt;
  char* out = nullptr;
  if (ldap_dn_normalize(in.c_str(), LDAP_DN_FORMAT_LDAPV3, &out, LDAP_DN_FORMAT_LDAPV3) !=
      LDAP_SUCCESS) {
    return std::nullopt;
  }
  std::unique_ptr<char, decltype(&ldap_memfree)> owned(out, &ldap_memfree);
  if (out == nullptr) return std::nullopt;  // the empty DN
  std::string canonical(out);
  for (char& c : canonical) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return canonical;
}

Result<std::array<std::uint8_t, 32>, std::string> DecodeSpkiPin(std::string_view text) {
  // 32 bytes are 43 base64 characters and one '='; the last character before '=' carries
  // only 4 bits, the low 2 of which must be zero in a canonical encoding.
  static const std::string kShape =
      "must be the base64 SHA-256 of the server's SubjectPublicKeyInfo (44 characters ending "
      "in '=')";
  if (text.size() != 44 || text.back() != '=') return kShape;
  std::array<std::uint8_t, 32> out{};
  std::uint32_t bits = 0;
  int nbits = 0;
  std::size_t n = 0;
  for (char c : text.substr(0, 43)) {
    const int v = Base64Value(c);
    if (v < 0) return kShape;
    bits = (bits << 6) | static_cast<std::uint32_t>(v);
    nbits += 6;
    if (nbits >= 8) {
      nbits -= 8;
      out[n++] = static_cast<std::uint8_t>(bits >> nbits);
      bits &= (1u << nbits) - 1;
    }
  }
  if (bits != 0) return kShape;
  return out;
}

}  // namespace wb::config::internal
