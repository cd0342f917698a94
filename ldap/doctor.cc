#include "ldap/doctor.h"

#include <netdb.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <optional>

#include "ldap/connection.h"
#include "ldap/dn.h"
#include "ldap/filter.h"
#include "ldap/kind.h"
#include "ldap/security_descriptor.h"
#include "ldap/socket.h"
#include "ldap/tls_probe.h"

namespace wb::ldap {
namespace {

constexpr char kPolicyHintsOid[] = "1.2.840.113556.1.4.2239";
constexpr char kPolicyHintsOldOid[] = "1.2.840.113556.1.4.2066";
constexpr char kPpolicyControlOid[] = "1.3.6.1.4.1.42.2.27.8.5.1";
constexpr char kPasswordModifyOid[] = "1.3.6.1.4.1.4203.1.11.1";
// LDAP_SERVER_SD_FLAGS_OID with SEQUENCE { INTEGER 4 }: DACL_SECURITY_INFORMATION only, which
// a service account without SeSecurityPrivilege may read.
constexpr char kSdFlagsOid[] = "1.2.840.113556.1.4.801";
constexpr char kSdFlagsDaclOnly[] = "\x30\x03\x02\x01\x04";

constexpr char kUserClassGuid[] = "bf967aba-0de6-11d0-a285-00aa003049e2";
// Well-known SIDs every authenticated token holds, which tokenGroups does not list.
constexpr const char* kImplicitSids[] = {"S-1-1-0", "S-1-5-11"};

struct RightSpec {
  const char* name;       // as AD's delegation wizard names it
  const char* attribute;  // lDAPDisplayName for WriteProperty; null for a control access right
  const char* guid;       // the extended right's rightsGuid, or the attribute's schemaIDGUID
  bool needed;            // false: reported, but its absence fails nothing
};

// Unexpire-Password is needed only where passwords expire; AD resets it with pwdLastSet, so its
// absence is shown, not failed.
constexpr RightSpec kAdRights[] = {
    {"Reset Password", nullptr, "00299570-246d-11d0-a768-00aa006e0529", true},
    {"Write lockoutTime", "lockoutTime", "28630ebf-41d5-11d1-a9c1-0000f80367c1", true},
    {"Write pwdLastSet", "pwdLastSet", "bf967a0a-0de6-11d0-a285-00aa003049e2", true},
    {"Unexpire Password", nullptr, "ccc2dc7d-a6ad-4a7a-8846-c04e3cc53501", false},
};

std::string Prefix(const config::DirectoryConfig& c) { return "directory." + c.name; }

ConnectionSettings SettingsOf(const config::DirectoryConfig& c) {
  ConnectionSettings s;
  s.ca_file = c.ca_file;
  s.bind_method = c.bind_method;
  s.bind_dn = c.bind_dn.value_or("");
  s.client_cert_file = c.client_cert_file;
  s.client_key_file = c.client_key_file;
  s.connect_timeout = c.connect_timeout;
  s.operation_timeout = c.operation_timeout;
  return s;
}

std::string ServiceAccount(const config::DirectoryConfig& c) {
  return c.bind_dn ? "the service account " + *c.bind_dn : std::string("the service account");
}

// The TLS check of a server whose certificate libldap accepted: its days left, failed within
// kCertificateWarnDays.
CheckResult CheckCertificateExpiry(const config::DirectoryConfig& c, const config::LdapUrl& url,
                                   const std::string& id, const std::string& title, WallTime now) {
  std::string verified = "certificate verified against ";
  verified += c.ca_file.string();
  verified += " for ";
  verified += url.address.host;
  auto cert = ProbeServerCertificate(url, SettingsOf(c), c.connect_timeout);
  if (!cert.ok()) {
    return CheckFail(id, title,
                     verified + ", but its expiry could not be read: " + cert.error().message(),
                     "run the doctor again; if this persists, check the server's TLS setup");
  }
  const auto days =
      std::chrono::duration_cast<std::chrono::hours>(cert->not_after - now).count() / 24;
  std::string detail = verified;
  detail += "; it expires ";
  detail += FormatUtcSeconds(cert->not_after);
  detail += " (";
  detail += std::to_string(days);
  detail += days == 1 ? " day left)" : " days left)";
  if (days < kCertificateWarnDays) {
    detail += ", within the ";
    detail += std::to_string(kCertificateWarnDays);
    detail += " days in which it must be renewed";
    return CheckFail(id, title, detail,
                     "renew the certificate of " + url.url + " (subject \"" + cert->subject +
                         "\") before it expires, or every request to this server fails");
  }
  return CheckOk(id, title, detail);
}

// DNS, TCP, TLS and bind for one URL; the connection when all passed.
std::unique_ptr<Connection> CheckUrl(const config::DirectoryConfig& c, std::size_t index,
                                     const Secret& password, WallTime now,
                                     std::vector<CheckResult>& out) {
  const config::LdapUrl& url = c.urls[index];
  std::string id = Prefix(c);
  id += ".url";
  id += std::to_string(index + 1);
  const std::string& host = url.address.host;
  const std::string port = std::to_string(url.address.port);
  const std::string dns_title = "DNS for " + url.url;
  const std::string tcp_title = "TCP to " + host + ":" + port;
  const std::string tls_title = "TLS to " + url.url;
  const std::string bind_title = "bind of " + ServiceAccount(c) + " at " + url.url;
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const int rc = getaddrinfo(host.c_str(), nullptr, &hints, &found);
  if (found != nullptr) freeaddrinfo(found);
  if (rc != 0) {
    out.push_back(CheckFail(id + ".dns", dns_title, host + " does not resolve: " + gai_strerror(rc),
                            "fix the host name in urls of [[directory]] \"" + c.name +
                                "\", or this host's DNS resolver (/etc/resolv.conf)"));
    out.push_back(CheckSkipped(id + ".tcp", tcp_title, "its host name does not resolve"));
    out.push_back(CheckSkipped(id + ".tls", tls_title, "its host name does not resolve"));
    out.push_back(CheckSkipped(id + ".bind", bind_title, "its host name does not resolve"));
    return nullptr;
  }
  out.push_back(CheckOk(id + ".dns", dns_title, host + " resolves"));
  auto fd = ConnectTcp(host, url.address.port, c.connect_timeout);
  if (!fd.ok()) {
    out.push_back(CheckFail(id + ".tcp", tcp_title, fd.error().message(),
                            "check that the server listens on port " + port +
                                " and that no firewall between here and it drops the connection"));
    out.push_back(CheckSkipped(id + ".tls", tls_title, "TCP to the server failed"));
    out.push_back(CheckSkipped(id + ".bind", bind_title, "TCP to the server failed"));
    return nullptr;
  }
  close(*fd);
  out.push_back(CheckOk(id + ".tcp", tcp_title, "connected"));
  Connection::Step reached = Connection::Step::kConnect;
  auto conn = Connection::Open(url, SettingsOf(c), password, &reached);
  if (!conn.ok() && reached != Connection::Step::kBind) {
    out.push_back(CheckFail(id + ".tls", tls_title, conn.error().ToString(),
                            "make ca_file (" + c.ca_file.string() +
                                ") hold the CA that signed the server's certificate, and name the "
                                "server in urls as its certificate does (see docs/"
                                "troubleshooting.md, \"Directory TLS\")"));
    out.push_back(CheckSkipped(id + ".bind", bind_title, "the TLS handshake failed"));
    return nullptr;
  }
  out.push_back(CheckCertificateExpiry(c, url, id + ".tls", tls_title, now));
  if (!conn.ok()) {
    // The server may have failed the bind for a reason of its own (busy, an operations error):
    // then the account is not what to check.
    const bool refused = conn.error().code == OutcomeCode::kServiceBindFailed;
    out.push_back(CheckFail(id + ".bind", bind_title, conn.error().ToString(),
                            refused ? "check bind_dn and the password in its bind password file, "
                                      "and that the account is enabled and not locked"
                                    : "the server could not complete the bind, or closed the "
                                      "connection during it: see its own log (with a client "
                                      "certificate, check that the server accepts it), and try "
                                      "again once it answers"));
    return nullptr;
  }
  out.push_back(CheckOk(id + ".bind", bind_title, "bound"));
  return std::move(*conn);
}

bool Has(const std::vector<std::string>& values, const char* oid) {
  return std::find(values.begin(), values.end(), oid) != values.end();
}

struct RootDse {
  std::string schema_nc;
};

std::optional<RootDse> CheckRootDse(const config::DirectoryConfig& c, Connection& conn,
                                    std::vector<CheckResult>& out) {
  const std::string id = Prefix(c) + ".rootdse";
  const std::string title = "rootDSE of " + conn.url();
  auto root = conn.Search("", LDAP_SCOPE_BASE, "(objectClass=*)",
                          {"supportedControl", "supportedExtension", "schemaNamingContext"});
  if (!root.ok() || root->empty()) {
    out.push_back(CheckFail(id, title,
                            root.ok() ? "the server returned no rootDSE" : root.error().ToString(),
                            "let the service account read the rootDSE (anonymous read of the "
                            "root entry is the default on AD and OpenLDAP)"));
    return std::nullopt;
  }
  const Entry& e = root->front();
  const auto& controls = e.All("supportedcontrol");
  const auto& extensions = e.All("supportedextension");
  std::string found;
  auto note = [&found](const char* what, bool present) {
    if (!found.empty()) found += "; ";
    found += what;
    found += present ? ": advertised" : ": not advertised";
  };
  note("policy hints 1.2.840.113556.1.4.2239", Has(controls, kPolicyHintsOid));
  note("policy hints (deprecated) 1.2.840.113556.1.4.2066", Has(controls, kPolicyHintsOldOid));
  note("ppolicy control", Has(controls, kPpolicyControlOid));
  note("Password Modify exop", Has(extensions, kPasswordModifyOid));
  RootDse dse{e.First("schemanamingcontext").value_or("")};
  if (c.kind == config::DirectoryKind::kActiveDirectory) {
    const bool hints = Has(controls, kPolicyHintsOid) || Has(controls, kPolicyHintsOldOid);
    if (!hints && c.history_on_reset == config::HistoryOnReset::kEnforce) {
      out.push_back(CheckFail(id, title, found,
                              "history_on_reset = \"enforce\" needs the policy-hints control "
                              "(Windows Server 2016 or Samba 4.24 or later): upgrade the DC, or "
                              "set history_on_reset = \"when_supported\""));
      return dse;
    }
    if (!hints) found += " (password history is not enforced on a reset)";
  } else if (!Has(extensions, kPasswordModifyOid)) {
    out.push_back(CheckFail(id, title, found,
                            "the server must offer the Password Modify extended operation "
                            "(RFC 3062); slapd always does: is this an OpenLDAP server?"));
    return dse;
  }
  out.push_back(CheckOk(id, title, found));
  return dse;
}

void CheckPolicy(const config::DirectoryConfig& c, Connection& conn,
                 std::vector<CheckResult>& out) {
  const std::string id = Prefix(c) + ".policy";
  const std::string title = "effective password policy";
  const bool ad = c.kind == config::DirectoryKind::kActiveDirectory;
  if (!ad && c.ppolicy_default_dn.empty()) {
    out.push_back(CheckSkipped(id, title,
                               "ppolicy_default_dn is not set: the policy is read per user, from "
                               "its pwdPolicySubentry (`wbagent policy test` shows it)"));
    return;
  }
  const SystemClock clock;  // only reads here: no refused change to judge
  std::unique_ptr<KindOps> ops = ad ? MakeAdOps(c, clock) : MakeOpenLdapOps(c);
  auto policy = ops->ReadPolicy(conn, Account{});
  if (!policy.ok()) {
    out.push_back(CheckFail(id, title, policy.error().ToString(),
                            ad ? "let the service account read the domain root's password "
                                 "attributes (minPwdLength...) and the Password Settings Container"
                               : "let the service account read ppolicy_default_dn's entry"));
    return;
  }
  std::string detail = "from " + policy->source + ": minimum length ";
  detail += std::to_string(policy->min_length);
  detail += ", history ";
  detail += std::to_string(policy->history_length);
  detail += policy->complexity ? ", complexity on" : ", complexity off";
  out.push_back(CheckOk(id, title, detail));
}

// A lookup asks for two entries, to tell a unique account from an ambiguous one; a server
// that returns fewer to the service account would hide every ambiguity.
void CheckSizeLimit(const config::DirectoryConfig& c, Connection& conn,
                    std::vector<CheckResult>& out) {
  const std::string id = Prefix(c) + ".size_limit";
  const std::string title = "entries per search for " + ServiceAccount(c);
  auto sample = conn.SearchSample(c.base_dn, LDAP_SCOPE_SUBTREE, AccountFilter(c.kind), {"1.1"},
                                  kLookupEntries);
  if (!sample.ok()) {
    out.push_back(CheckFail(id, title, sample.error().ToString(),
                            "let the service account search accounts under " + c.base_dn));
    return;
  }
  const std::size_t returned = sample->entries.size();
  if (returned >= static_cast<std::size_t>(kLookupEntries)) {
    out.push_back(CheckOk(id, title,
                          "at least 2 accounts returned under " + c.base_dn +
                              ": a lookup can tell an ambiguous name"));
    return;
  }
  if (!sample->more) {
    out.push_back(CheckSkipped(
        id, title,
        "fewer than 2 accounts under " + c.base_dn + ": a size limit below 2 would not show"));
    return;
  }
  out.push_back(CheckFail(
      id, title,
      "the server returns at most " + std::to_string(returned) +
          (returned == 1 ? " entry" : " entries") +
          " per search to the service account: a lookup asks for 2 to tell a unique "
          "account from an ambiguous one, so every lookup that matches more than one account "
          "fails with internal_error",
      c.kind == config::DirectoryKind::kActiveDirectory
          ? "raise MaxPageSize in the domain's query policy (ntdsutil, LDAP policies) to at "
            "least 2"
          : "raise the service account's size limit to at least 2 (olcLimits: dn.exact=\"" +
                c.bind_dn.value_or("DN") + "\" size=...)"));
}

// --- Active Directory rights ---------------------------------------------------------------

// The service account's SIDs: its own, its groups' (tokenGroups, nested included) and the
// well-known ones every logon holds.
Result<std::vector<Sid>, Outcome> TokenOf(Connection& conn, const std::string& dn) {
  auto found = conn.Search(dn, LDAP_SCOPE_BASE, "(objectClass=*)", {"objectSid", "tokenGroups"});
  if (!found.ok()) return found.error();
  if (found->empty()) {
    return MakeOutcome(OutcomeCode::kInternalError, "the service account's entry is not readable");
  }
  std::vector<Sid> token;
  for (const char* attr : {"objectsid", "tokengroups"}) {
    for (const auto& v : found->front().All(attr)) {
      if (auto sid = ParseSidBytes(v)) token.push_back(*sid);
    }
  }
  if (token.empty()) {
    return MakeOutcome(OutcomeCode::kInternalError,
                       "neither objectSid nor tokenGroups could be read on the service account");
  }
  for (const char* text : kImplicitSids) token.push_back(*ParseSidText(text));
  return token;
}

// The RightQuery for `r`: for an attribute, the schema says its schemaIDGUID and the property
// set (attributeSecurityGUID) it is in, if any.
RightQuery QueryFor(Connection& conn, const RootDse& dse, const RightSpec& r) {
  RightQuery q{r.attribute ? kRightDsWriteProperty : kRightDsControlAccess, *ParseGuidText(r.guid),
               std::nullopt};
  if (r.attribute == nullptr || dse.schema_nc.empty()) return q;
  std::string filter = "(lDAPDisplayName=";
  filter += r.attribute;
  filter += ")";
  auto found = conn.Search(dse.schema_nc, LDAP_SCOPE_ONELEVEL, filter, {"attributeSecurityGUID"});
  if (found.ok() && !found->empty()) {
    if (auto v = found->front().First("attributesecurityguid")) q.property_set = GuidFromBytes(*v);
  }
  return q;
}

Result<SecurityDescriptor, Outcome> ReadDacl(Connection& conn, const std::string& dn) {
  auto found = conn.Search(dn, LDAP_SCOPE_BASE, "(objectClass=*)", {"nTSecurityDescriptor"}, 0,
                           {{kSdFlagsOid, std::string(kSdFlagsDaclOnly, 5), true}});
  if (!found.ok()) return found.error();
  auto value = found->empty() ? std::nullopt : found->front().First("ntsecuritydescriptor");
  if (!value) {
    return MakeOutcome(OutcomeCode::kAccessDenied,
                       "nTSecurityDescriptor of " + dn + " is not readable");
  }
  auto sd = ParseSecurityDescriptor(*value);
  if (!sd.ok()) {
    return MakeOutcome(OutcomeCode::kInternalError,
                       "nTSecurityDescriptor of " + dn + ": " + sd.error().message());
  }
  return std::move(*sd);
}

std::vector<std::string> ScopeRoots(const config::DirectoryConfig& c) {
  if (!c.scope.allowed_subtrees.empty()) return c.scope.allowed_subtrees;
  return {c.base_dn};
}

void CheckAdRightsOn(const config::DirectoryConfig& c, Connection& conn, const RootDse& dse,
                     const std::vector<Sid>& token, const std::string& root,
                     std::vector<CheckResult>& out) {
  const std::string id = Prefix(c) + ".rights";
  const std::string title = "rights of " + ServiceAccount(c) + " on users under " + root;
  auto sd = ReadDacl(conn, root);
  if (!sd.ok()) {
    out.push_back(CheckFail(id, title, sd.error().ToString(),
                            "give the service account Read Permissions on " + root +
                                " (it is part of the default Read rights of Authenticated Users)"));
    return;
  }
  const Guid user_class = *ParseGuidText(kUserClassGuid);
  std::string granted;
  std::string missing;
  std::string optional_missing;
  for (const RightSpec& r : kAdRights) {
    const AccessAnswer a = ChildAccess(*sd, token, QueryFor(conn, dse, r), user_class);
    std::string& list = a.granted ? granted : (r.needed ? missing : optional_missing);
    if (!list.empty()) list += ", ";
    list += r.name;
    if (!a.granted && a.deciding)
      list += " (denied by an ACE for " + SidText(a.deciding->sid) + ")";
  }
  std::string detail = granted.empty() ? "granted: none" : "granted: " + granted;
  if (!optional_missing.empty())
    detail += "; not granted (needed only where passwords expire): " + optional_missing;
  if (missing.empty()) {
    out.push_back(CheckOk(id, title, detail));
    return;
  }
  out.push_back(CheckFail(
      id, title, "missing on user objects under " + root + ": " + missing + "; " + detail,
      "delegate to " + ServiceAccount(c) + " on " + root + ", for descendant User objects: " +
          missing + " (docs/troubleshooting.md, \"access_denied\")"));
}

std::string PasswordStampsTitle(const std::string& root) {
  return "when passwords under " + root + " were last written";
}

// Whether the service account can see when a user's password was last written (unicodePwd's
// stamp in replPropertyMetaData). The retry and hand-over checks need it to see a landed reset
// that requires a change (pwdLastSet is 0 then); without it they fall back to pwdLastSet.
CheckResult CheckPasswordStamps(const config::DirectoryConfig& c, const std::string& root,
                                const Connection::Sample& sample) {
  const std::string id = Prefix(c) + ".password_stamps";
  std::size_t stamped = 0;
  for (const Entry& u : sample.entries) {
    const auto meta = u.First("replpropertymetadata");
    if (meta && AttributeWrittenAt(*meta, kUnicodePwdAttid)) ++stamped;
  }
  std::string detail = std::to_string(stamped) + " of " + std::to_string(sample.entries.size()) +
                       " users read show when their password was last written (unicodePwd's "
                       "stamp in replPropertyMetaData)";
  if (stamped > 0 || sample.entries.empty()) {
    return CheckOk(id, PasswordStampsTitle(root), detail);
  }
  return CheckFail(id, PasswordStampsTitle(root), detail,
                   "let the service account read replPropertyMetaData on users under " + root +
                       " (Read Property; an operational attribute). Without it, a reset that "
                       "requires a change and whose answer was lost is written again "
                       "(docs/protocol.md, \"Hand-over without a second write\")");
}

// Users in scope whose DACL does not inherit (SE_DACL_PROTECTED), and those with adminCount=1.
void SampleUsers(const config::DirectoryConfig& c, Connection& conn, const std::string& root,
                 std::vector<CheckResult>& out) {
  const std::string id = Prefix(c) + ".users";
  const std::string title = "users under " + root + " that do not inherit its rights";
  // A sample: the server's own size limit (MaxPageSize) may cut it shorter than ours.
  auto sample =
      conn.SearchSample(root, LDAP_SCOPE_SUBTREE, AccountFilter(c.kind),
                        {"nTSecurityDescriptor", "adminCount", "replPropertyMetaData"},
                        kSampleUsers, {{kSdFlagsOid, std::string(kSdFlagsDaclOnly, 5), true}});
  if (!sample.ok()) {
    out.push_back(CheckFail(id, title, sample.error().ToString(),
                            "let the service account read users' nTSecurityDescriptor (Read "
                            "Permissions) under " +
                                root));
    out.push_back(CheckSkipped(Prefix(c) + ".password_stamps", PasswordStampsTitle(root),
                               "the users could not be read"));
    return;
  }
  const std::vector<Entry>& users = sample->entries;
  out.push_back(CheckPasswordStamps(c, root, *sample));
  std::vector<std::string> inheritance_off;  // and not adminCount=1: in scope, yet no rights
  std::vector<std::string> admin_count;
  for (const Entry& u : users) {
    const bool admin = u.First("admincount").value_or("0") == "1";
    if (admin) admin_count.push_back(u.dn);
    auto v = u.First("ntsecuritydescriptor");
    if (!v) continue;
    auto sd = ParseSecurityDescriptor(*v);
    if (sd.ok() && sd->dacl_protected() && !(admin && c.scope.protect_admin_count)) {
      inheritance_off.push_back(u.dn);
    }
  }
  auto names = [](const std::vector<std::string>& dns) {
    std::string s;
    for (std::size_t i = 0; i < dns.size() && i < static_cast<std::size_t>(kSampleDnsShown); ++i) {
      s += i == 0 ? " (" : "; ";
      s += dns[i];
    }
    if (!dns.empty()) s += dns.size() > kSampleDnsShown ? "; ...)" : ")";
    return s;
  };
  std::string detail = std::to_string(users.size());
  detail += " users read";
  if (sample->more) detail += " (a sample)";
  detail +=
      "; inheritance disabled: " + std::to_string(inheritance_off.size()) + names(inheritance_off);
  detail += "; adminCount=1: " + std::to_string(admin_count.size()) + names(admin_count);
  if (!admin_count.empty() && c.scope.protect_admin_count) {
    detail += " (protected: requests for them are refused by policy)";
  }
  if (inheritance_off.empty()) {
    out.push_back(CheckOk(id, title, detail));
    return;
  }
  out.push_back(CheckFail(id, title, detail,
                          "enable inheritance on these users (Security > Advanced > Enable "
                          "inheritance), or the agent's writes to them are denied"));
}

void CheckAdRights(const config::DirectoryConfig& c, Connection& conn, const RootDse& dse,
                   std::vector<CheckResult>& out) {
  auto token = TokenOf(conn, c.bind_dn.value_or(""));
  if (!token.ok()) {
    out.push_back(CheckFail(Prefix(c) + ".rights", "rights of " + ServiceAccount(c),
                            token.error().ToString(),
                            "let the service account read its own objectSid and tokenGroups"));
    out.push_back(CheckSkipped(Prefix(c) + ".users", "users that do not inherit rights",
                               "the service account's groups could not be read"));
    out.push_back(CheckSkipped(Prefix(c) + ".password_stamps", "when passwords were last written",
                               "the service account's groups could not be read"));
    return;
  }
  for (const std::string& root : ScopeRoots(c)) {
    CheckAdRightsOn(c, conn, dse, *token, root, out);
    SampleUsers(c, conn, root, out);
  }
}

}  // namespace

std::vector<CheckResult> DiagnoseDirectory(const config::DirectoryConfig& c, WallTime now) {
  std::vector<CheckResult> out;
  Secret password;
  if (c.bind_method == config::BindMethod::kSimple && c.bind_password_file) {
    auto read = ReadSecretFile(*c.bind_password_file);
    if (!read.ok()) {
      out.push_back(CheckFail(Prefix(c) + ".password", "bind password file",
                              read.error().ToString(),
                              "make " + c.bind_password_file->string() +
                                  " readable by the agent's user, and by it only (0600)"));
      return out;
    }
    password = std::move(*read);
  }
  std::unique_ptr<Connection> conn;
  for (std::size_t i = 0; i < c.urls.size(); ++i) {
    auto opened = CheckUrl(c, i, password, now, out);
    if (!conn) conn = std::move(opened);
  }
  const bool ad = c.kind == config::DirectoryKind::kActiveDirectory;
  if (!conn) {
    const std::string why = "no server of this directory took the service account's bind";
    out.push_back(CheckSkipped(Prefix(c) + ".rootdse", "rootDSE", why));
    out.push_back(CheckSkipped(Prefix(c) + ".policy", "effective password policy", why));
    out.push_back(CheckSkipped(Prefix(c) + ".size_limit", "entries per search", why));
    out.push_back(CheckSkipped(Prefix(c) + ".rights", "rights of " + ServiceAccount(c), why));
    return out;
  }
  auto dse = CheckRootDse(c, *conn, out);
  CheckPolicy(c, *conn, out);
  CheckSizeLimit(c, *conn, out);
  if (!ad) {
    out.push_back(CheckSkipped(Prefix(c) + ".rights", "rights of " + ServiceAccount(c),
                               "cannot be known without writing: OpenLDAP has no control that "
                               "reports effective rights, and a test write is not made. The bind "
                               "and the Password Modify exop were checked; the rights show at "
                               "the first request (access_denied names the entry)"));
    return out;
  }
  if (!dse) {
    out.push_back(CheckSkipped(Prefix(c) + ".rights", "rights of " + ServiceAccount(c),
                               "the rootDSE could not be read"));
    return out;
  }
  CheckAdRights(c, *conn, *dse, out);
  return out;
}

}  // namespace wb::ldap
