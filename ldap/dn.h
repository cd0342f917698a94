#pragma once
// ldap/dn.h: distinguished names as values (RFC 4514), so that "is this DN under that base?"
// is answered by comparing parsed RDNs, never text. A text suffix check let
// `cn=svc\,ou=Staff,dc=corp,dc=example` (one RDN whose value holds a comma, directly under
// dc=corp) pass as a DN under `ou=Staff,dc=corp,dc=example`.
//
// How two DNs compare:
//   - Both are parsed by libldap (ldap_str2dn, LDAPv3 syntax): escapes (`\,`, `\+`, `\2C`)
//     are decoded, and each RDN becomes its set of attribute-value assertions (AVAs).
//   - Two RDNs are equal when they hold the same AVAs in any order. Attribute types compare
//     case-insensitively, and the naming attributes written as OIDs (2.5.4.3, 2.5.4.11,
//     0.9.2342.19200300.100.1.25, ...) as their names (cn, ou, dc, ...). Values compare as the
//     naming attributes used in DNs are matched, caseIgnoreMatch: letters case folded
//     (common/utf8.h FoldCase: ASCII, Latin-1, Latin Extended-A, Greek, Cyrillic), leading and
//     trailing spaces dropped, inner runs of spaces made one. A value in hex form (`#04...`)
//     compares as its bytes. Anything else differs (another OID, letters of other scripts in
//     another case, bytes that are not UTF-8 beyond their ASCII letters). Both kinds of list
//     rely on it: where the rules are unsure the answer is "not equal", which fails closed for
//     allowed_subtrees but open for protected_dns, so the folding covers what AD and slapd
//     treat as the same entry in the scripts a directory's names are usually written in.
//   - A DN is within a base when the base's RDNs are its last RDNs, each equal.
//
// Refused at Parse (kInvalidArgument, with a reason naming the form):
//   - text that is not a DN, and the empty (root) DN;
//   - Active Directory's extended forms <GUID=...>, <SID=...>, <WKGUID=...> (also followed
//     by ";dn"): they name an object without saying where it is, so no scope can be checked.
//
// Thread-safety: a Dn is an immutable value.

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace wb::ldap {

class Dn {
 public:
  static Result<Dn> Parse(std::string_view text);

  // True when this DN equals `base` or lies below it.
  bool IsWithin(const Dn& base) const;
  bool operator==(const Dn& other) const { return rdns_ == other.rdns_; }
  // A strict order consistent with ==, for sets of DNs; it says nothing about the tree.
  bool operator<(const Dn& other) const { return rdns_ < other.rdns_; }

  // The text it was parsed from, unchanged.
  const std::string& text() const { return text_; }
  // One text per entry: equal for DNs that are ==, different otherwise. The RDNs as compared
  // (types as names, values in their matching form, AVAs sorted), with `\` before `,` `+`
  // `=` and `\` in values and before a leading `#`, and hex values as `#` and lower-case hex.
  // A key, not a DN to send anywhere.
  std::string Key() const;

 private:
  // One AVA as compared: the attribute type in lower case, the value in its matching form,
  // and whether the value was given in hex (then it is compared as bytes, not folded).
  struct Ava {
    std::string type;
    std::string value;
    bool binary = false;
    auto operator<=>(const Ava&) const = default;
  };
  using Rdn = std::vector<Ava>;  // sorted, so that AVA order within an RDN does not matter

  std::string text_;
  std::vector<Rdn> rdns_;  // leaf first, as written
};

// Parses `dn` and `base` and answers IsWithin; false when either does not parse.
bool IsDnWithin(std::string_view dn, std::string_view base);

// A string value as caseIgnoreMatch compares it, which the naming and lookup attributes use
// (uid, sAMAccountName, userPrincipalName, mail): letters case folded as above, leading and
// trailing spaces dropped, inner runs of spaces made one. Two values with the same form name
// the same account to slapd and to AD; the agent keys its per-account order and rate limits on
// it, so " Alice" and "ALICE" count as one account.
std::string CaseIgnoreForm(std::string_view value);

}  // namespace wb::ldap
