#include "ldap/dn.h"

#include <ldap.h>

#include <algorithm>
#include <array>
#include <locale>
#include <memory>
#include <optional>
#include <utility>

namespace wb::ldap {
namespace {

char AsciiLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// The lower case of a Unicode letter (its simple mapping, as AD and slapd match DN values),
// from the C.UTF-8 locale (Debian's libc-bin, an essential package, installs it), made once,
// never changed and never freed (a thread may compare a DN while the process exits); null
// where this system has no such locale: then only ASCII is folded, and a DN that differs only
// in the case of another letter does not match (tests/ldap/dn_test.cc fails on such a system).
const std::ctype<wchar_t>* UnicodeCase() {
  // Held by a static pointer, so that a leak checker sees it reachable.
  static const std::locale* const utf8 = []() -> const std::locale* {
    try {
      return new std::locale("C.UTF-8");  // NOLINT(cppcoreguidelines-owning-memory): never freed
    } catch (const std::runtime_error&) {
      return nullptr;
    }
  }();
  return utf8 != nullptr ? &std::use_facet<std::ctype<wchar_t>>(*utf8) : nullptr;
}

// One UTF-8 sequence at `at`: its code point and length; nullopt when it is not well formed
// (then the byte is kept as it is).
std::optional<std::pair<char32_t, std::size_t>> DecodeUtf8(std::string_view s, std::size_t at) {
  const auto b = [&](std::size_t i) { return static_cast<unsigned char>(s[at + i]); };
  const unsigned char lead = b(0);
  std::size_t length = 0;
  char32_t cp = 0;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
    cp = lead & 0x1Fu;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    cp = lead & 0x0Fu;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    cp = lead & 0x07u;
  } else {
    return std::nullopt;
  }
  if (at + length > s.size()) return std::nullopt;
  for (std::size_t i = 1; i < length; ++i) {
    if ((b(i) & 0xC0u) != 0x80u) return std::nullopt;
    cp = (cp << 6) | (b(i) & 0x3Fu);
  }
  constexpr std::array<char32_t, 5> kShortest = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kShortest[length] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
    return std::nullopt;
  }
  return std::make_pair(cp, length);
}

void AppendUtf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// caseIgnoreMatch's form of a string value: letters case folded (non-ASCII ones too, where the
// system knows Unicode's case), insignificant spaces removed. Folding every letter matters to
// the lists that protect: `protected_dns = ["OU=DIRECCIÓN,..."]` must match the directory's
// `OU=Dirección,...`, which is the same entry to AD and to slapd.
std::string MatchingForm(std::string_view value) {
  const std::ctype<wchar_t>* unicode = UnicodeCase();
  std::string out;
  bool pending_space = false;
  for (std::size_t at = 0; at < value.size();) {
    const char c = value[at];
    if (c == ' ') {
      pending_space = !out.empty();
      ++at;
      continue;
    }
    if (pending_space) out.push_back(' ');
    pending_space = false;
    const auto decoded = static_cast<unsigned char>(c) >= 0x80 && unicode != nullptr
                             ? DecodeUtf8(value, at)
                             : std::nullopt;
    if (!decoded) {
      out.push_back(AsciiLower(c));
      ++at;
      continue;
    }
    const auto lower =
        static_cast<char32_t>(unicode->tolower(static_cast<wchar_t>(decoded->first)));
    AppendUtf8(out, lower);
    at += decoded->second;
  }
  return out;
}

// The attribute types that name entries, written as OIDs (RFC 4514 allows either form): as
// their names, so that `2.5.4.3=Ann` equals `cn=Ann`. Another OID stays as it is, and differs.
std::string NamingType(std::string type) {
  std::transform(type.begin(), type.end(), type.begin(), AsciiLower);
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 10> kNames = {{
      {"2.5.4.3", "cn"},
      {"2.5.4.6", "c"},
      {"2.5.4.7", "l"},
      {"2.5.4.8", "st"},
      {"2.5.4.9", "street"},
      {"2.5.4.10", "o"},
      {"2.5.4.11", "ou"},
      {"0.9.2342.19200300.100.1.1", "uid"},
      {"0.9.2342.19200300.100.1.25", "dc"},
      {"1.2.840.113549.1.9.1", "email"},
  }};
  for (const auto& [number, name] : kNames) {
    if (type == number) return std::string(name);
  }
  return type;
}

// AD's <GUID=...>, <SID=...> and <WKGUID=...> forms, alone or before ";dn".
bool IsExtendedForm(std::string_view text) {
  const auto start = text.find_first_not_of(' ');
  return start != std::string_view::npos && text[start] == '<';
}

std::string_view View(const berval& b) { return {b.bv_val, b.bv_len}; }

}  // namespace

Result<Dn> Dn::Parse(std::string_view text) {
  if (IsExtendedForm(text)) {
    return InvalidArgument(
        "an extended DN form (<GUID=...>, <SID=...>, <WKGUID=...>) names no place in the tree; "
        "use the account's DN");
  }
  if (text.find('\0') != std::string_view::npos) return InvalidArgument("the DN holds a NUL byte");
  const std::string owned(text);
  LDAPDN parsed = nullptr;
  if (ldap_str2dn(owned.c_str(), &parsed, LDAP_DN_FORMAT_LDAPV3) != LDAP_SUCCESS) {
    return InvalidArgument("not a valid DN (RFC 4514)");
  }
  std::unique_ptr<LDAPRDN, decltype(&ldap_dnfree)> guard(parsed, &ldap_dnfree);
  if (parsed == nullptr || parsed[0] == nullptr) return InvalidArgument("the DN is empty");
  Dn dn;
  dn.text_ = owned;
  for (LDAPRDN* rdn = parsed; *rdn != nullptr; ++rdn) {
    Rdn avas;
    for (LDAPAVA** ava = *rdn; *ava != nullptr; ++ava) {
      const bool binary = ((*ava)->la_flags & LDAP_AVA_BINARY) != 0;
      std::string type = NamingType(std::string(View((*ava)->la_attr)));
      std::string value =
          binary ? std::string(View((*ava)->la_value)) : MatchingForm(View((*ava)->la_value));
      avas.push_back({std::move(type), std::move(value), binary});
    }
    std::sort(avas.begin(), avas.end());
    dn.rdns_.push_back(std::move(avas));
  }
  return dn;
}

bool Dn::IsWithin(const Dn& base) const {
  if (base.rdns_.size() > rdns_.size()) return false;
  return std::equal(base.rdns_.rbegin(), base.rdns_.rend(), rdns_.rbegin());
}

bool IsDnWithin(std::string_view dn, std::string_view base) {
  auto d = Dn::Parse(dn);
  auto b = Dn::Parse(base);
  return d.ok() && b.ok() && d->IsWithin(*b);
}

}  // namespace wb::ldap
