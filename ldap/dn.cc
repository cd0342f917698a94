#include "ldap/dn.h"

#include <ldap.h>

#include <algorithm>
#include <array>
#include <memory>
#include <string>
#include <utility>

#include "common/hex.h"
#include "common/utf8.h"

namespace wb::ldap {
namespace {

char AsciiLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// Case folded and canonically composed. Folded before decomposing, so that what FoldCase
// folds whole stays folded whole (U+0130 is `i`), and after, so that the letter inside a
// composite FoldCase does not know (Ș, U+0218: S and a comma below) is folded too.
void FoldThroughDecomposition(std::u32string& text) {
  for (char32_t& c : text) c = FoldCase(c);
  DecomposeCanonical(text);
  for (char32_t& c : text) c = FoldCase(c);
  ComposeCanonical(text);
}

// caseIgnoreMatch's form of a string value: letters case folded (FoldCase: ASCII, Latin-1,
// Latin Extended-A, Greek, Cyrillic, and the letters inside any composite of them) and
// canonically composed (FoldThroughDecomposition), insignificant spaces removed. Folding
// beyond ASCII matters to the lists that protect: `protected_dns = ["OU=DIRECCIÓN,..."]` must
// match the directory's `OU=Dirección,...`, which is the same entry to AD and to slapd; and so
// must the same name with its Ó written as O and a combining acute (slapd normalises both
// forms to one entry). A value that is not UTF-8 has its ASCII letters folded and its other
// bytes kept.
std::string MatchingForm(std::string_view value) {
  std::u32string text;
  const bool utf8 = DecodeUtf8Into(value, text);
  if (utf8) FoldThroughDecomposition(text);
  std::string out;
  bool pending_space = false;
  const auto put = [&](char32_t c, auto&& append) {
    if (c == U' ') {
      pending_space = !out.empty();
      return;
    }
    if (pending_space) out.push_back(' ');
    pending_space = false;
    append(c);
  };
  if (utf8) {
    for (const char32_t c : text) put(c, [&](char32_t k) { AppendUtf8(k, out); });
  } else {
    for (const char c : value) {
      put(static_cast<unsigned char>(c), [&](char32_t) { out.push_back(AsciiLower(c)); });
    }
  }
  return out;
}

// The attribute types that name entries, written as OIDs (RFC 4514 allows either form) or by
// their long names (RFC 4519, which slapd also accepts): as their short names, so that
// `2.5.4.3=Ann` and `commonName=Ann` equal `cn=Ann`. Another type stays as it is, and differs.
std::string NamingType(std::string type) {
  std::transform(type.begin(), type.end(), type.begin(), AsciiLower);
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 20> kNames = {{
      {"2.5.4.3", "cn"},
      {"commonname", "cn"},
      {"2.5.4.6", "c"},
      {"countryname", "c"},
      {"2.5.4.7", "l"},
      {"localityname", "l"},
      {"2.5.4.8", "st"},
      {"stateorprovincename", "st"},
      {"2.5.4.9", "street"},
      {"streetaddress", "street"},
      {"2.5.4.10", "o"},
      {"organizationname", "o"},
      {"2.5.4.11", "ou"},
      {"organizationalunitname", "ou"},
      {"0.9.2342.19200300.100.1.1", "uid"},
      {"userid", "uid"},
      {"0.9.2342.19200300.100.1.25", "dc"},
      {"domaincomponent", "dc"},
      {"1.2.840.113549.1.9.1", "email"},
      {"emailaddress", "email"},
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

std::string Dn::Key() const {
  std::string key;
  for (const Rdn& rdn : rdns_) {
    if (!key.empty()) key.push_back(',');
    for (std::size_t i = 0; i < rdn.size(); ++i) {
      if (i > 0) key.push_back('+');
      key += rdn[i].type;
      if (rdn[i].binary) {
        key += "=#" + HexEncode(rdn[i].value);
        continue;
      }
      key.push_back('=');
      // A string value starting with `#` must not read as a hex one (RFC 4514 escapes it too).
      if (!rdn[i].value.empty() && rdn[i].value.front() == '#') key.push_back('\\');
      for (const char c : rdn[i].value) {
        if (c == ',' || c == '+' || c == '=' || c == '\\') key.push_back('\\');
        key.push_back(c);
      }
    }
  }
  return key;
}

std::string CaseIgnoreForm(std::string_view value) { return MatchingForm(value); }

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
