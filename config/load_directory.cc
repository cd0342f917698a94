#include <algorithm>
#include <cctype>

#include "config/internal/credentials.h"
#include "config/internal/enum_names.h"
#include "config/internal/files.h"
#include "config/internal/sections.h"

namespace wb::config::internal {
namespace {

void LoadUrls(TableReader& dir, DirectoryConfig& out) {
  auto urls = dir.GetStringArray("urls", Presence::kRequired, /*allow_empty=*/false);
  if (!urls) return;
  for (const Field<std::string>& url : *urls) {
    Result<LdapUrl, std::string> parsed = ParseLdapUrl(url.value);
    if (parsed.ok()) {
      out.urls.push_back(*parsed);
    } else {
      dir.diag().Add(url.at, url.key, parsed.error());
    }
  }
}

void RequireFor(TableReader& dir, std::string_view key, std::string_view method) {
  dir.diag().Add(dir.where(), dir.KeyPath(key),
                 "missing required key (needed for bind_method = \"" + std::string(method) + "\")");
}

template <typename T>
void RefuseFor(TableReader& dir, const std::optional<Field<T>>& field, std::string_view method) {
  if (!field) return;
  dir.diag().Add(field->at, field->key,
                 "is only valid with bind_method = \"" + std::string(method) + "\"");
}

// The keys whose presence depends on bind_method, as read.
struct BindKeys {
  std::optional<Field<std::string>> bind_dn;
  std::optional<Field<std::filesystem::path>> password_file;
  std::optional<Field<std::string>> password_credential;
  std::optional<Field<std::filesystem::path>> cert_file;
  std::optional<Field<std::filesystem::path>> key_file;
};

void LoadPasswordCredential(TableReader& dir, const LoadContext& ctx, const BindKeys& keys,
                            DirectoryConfig& out) {
  const auto& f = keys.password_credential;
  if (!f || !Expect(dir, *f, CheckCredentialName(f->value))) return;
  if (keys.password_file) {
    dir.diag().Add(f->at, f->key, "is set together with bind_password_file; use one of them");
    return;
  }
  // With another bind method the key is refused (CheckSaslExternalKeys): nothing to resolve.
  if (out.bind_method != BindMethod::kSimple) return;
  out.bind_password_credential = f->value;
  ResolvedCredential resolved = ResolveCredential(ctx, f->value);
  if (Expect(dir, *f, resolved.problem)) out.bind_password_file = resolved.file;
}

// Reads and checks each bind key on its own, and copies the valid ones into `out`.
BindKeys LoadBindKeys(TableReader& dir, const LoadContext& ctx, DirectoryConfig& out) {
  BindKeys keys{
      .bind_dn = dir.GetString("bind_dn", Presence::kOptional),
      .password_file = GetPath(dir, "bind_password_file", Presence::kOptional, ctx),
      .password_credential = dir.GetString("bind_password_credential", Presence::kOptional),
      .cert_file = GetPath(dir, "client_cert_file", Presence::kOptional, ctx),
      .key_file = GetPath(dir, "client_key_file", Presence::kOptional, ctx),
  };
  if (const auto& f = keys.bind_dn; f && Expect(dir, *f, CheckDn(f->value))) {
    out.bind_dn = f->value;
  }
  if (const auto& f = keys.password_file;
      f && Expect(dir, *f, WithCredentialHint(f->value, CheckSecret(ctx, f->value)))) {
    out.bind_password_file = f->value;
  }
  LoadPasswordCredential(dir, ctx, keys, out);
  if (const auto& f = keys.cert_file; f && Expect(dir, *f, CheckReadableFile(f->value))) {
    out.client_cert_file = f->value;
  }
  if (const auto& f = keys.key_file; f && Expect(dir, *f, CheckSecret(ctx, f->value))) {
    out.client_key_file = f->value;
  }
  return keys;
}

void CheckSaslExternalKeys(TableReader& dir, const BindKeys& keys) {
  RefuseFor(dir, keys.bind_dn, "simple");
  RefuseFor(dir, keys.password_file, "simple");
  RefuseFor(dir, keys.password_credential, "simple");
  if (!keys.cert_file) RequireFor(dir, "client_cert_file", "sasl_external");
  if (!keys.key_file) RequireFor(dir, "client_key_file", "sasl_external");
}

void CheckSimpleKeys(TableReader& dir, const BindKeys& keys) {
  if (!keys.bind_dn) RequireFor(dir, "bind_dn", "simple");
  if (!keys.password_file && !keys.password_credential) {
    dir.diag().Add(dir.where(), dir.KeyPath("bind_password_file"),
                   "missing required key (needed for bind_method = \"simple\"): set "
                   "bind_password_file, or bind_password_credential under systemd");
  }
}

// With a simple bind a client certificate is optional (TLS client authentication), but a
// certificate without its key, or a key without its certificate, is a mistake.
void CheckClientCertificatePair(TableReader& dir, const BindKeys& keys) {
  if (keys.cert_file && !keys.key_file) {
    dir.diag().Add(keys.cert_file->at, keys.cert_file->key,
                   "is set but client_key_file is not; set both or neither");
  }
  if (keys.key_file && !keys.cert_file) {
    dir.diag().Add(keys.key_file->at, keys.key_file->key,
                   "is set but client_cert_file is not; set both or neither");
  }
}

// bind_method and the keys that go with it.
void LoadBind(TableReader& dir, const LoadContext& ctx, DirectoryConfig& out) {
  const bool method_present = dir.Get("bind_method", Presence::kOptional) != nullptr;
  auto method = dir.GetEnum("bind_method", kBindMethodNames, Presence::kOptional);
  if (method) out.bind_method = method->value;
  const BindKeys keys = LoadBindKeys(dir, ctx, out);
  // When bind_method is present but bad, which keys belong cannot be judged.
  if (method_present && !method) return;
  if (out.bind_method == BindMethod::kSaslExternal) {
    CheckSaslExternalKeys(dir, keys);
  } else {
    CheckSimpleKeys(dir, keys);
    CheckClientCertificatePair(dir, keys);
  }
}

std::string Lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

void LoadRoutes(TableReader& dir, DirectoryConfig& out, DirectoryRoutes& routes) {
  if (auto suffixes = dir.GetStringArray("upn_suffixes", Presence::kOptional, true)) {
    for (const Field<std::string>& suffix : *suffixes) {
      Problem problem = CheckDnsName(suffix.value);
      if (!suffix.value.empty() && suffix.value.front() == '@') {
        problem = "is written without '@', e.g. \"example.com\"";
      }
      if (!Expect(dir, suffix, problem)) continue;
      // DNS names are case-insensitive; the router compares lower-cased suffixes.
      routes.upn_suffixes.push_back({Lower(suffix.value), suffix.at, suffix.key});
      out.upn_suffixes.push_back(Lower(suffix.value));
    }
  }
  if (auto dns = dir.GetStringArray("base_dns", Presence::kOptional, true)) {
    for (const Field<std::string>& dn : *dns) {
      if (!Expect(dir, dn, CheckDn(dn.value))) continue;
      routes.base_dns.push_back(dn);
      out.base_dns.push_back(dn.value);
    }
  }
}

std::vector<LookupAttribute> DefaultLookupAttributes(DirectoryKind kind) {
  if (kind == DirectoryKind::kActiveDirectory) {
    return {LookupAttribute::kUserPrincipalName, LookupAttribute::kSamAccountName};
  }
  return {LookupAttribute::kUid, LookupAttribute::kMail};
}

void LoadLookup(TableReader& dir, std::optional<DirectoryKind> kind, DirectoryConfig& out) {
  const bool present = dir.Get("lookup_attributes", Presence::kOptional) != nullptr;
  if (!present) {
    if (kind) out.lookup_attributes = DefaultLookupAttributes(*kind);
    return;
  }
  auto names = dir.GetStringArray("lookup_attributes", Presence::kOptional, false);
  if (!names) return;
  for (const Field<std::string>& name : *names) {
    std::optional<LookupAttribute> attribute = FindEnum(kLookupAttributeNames, name.value);
    if (!attribute) {
      dir.diag().Add(name.at, name.key, BadEnumProblem(kLookupAttributeNames, name.value));
    } else if (std::ranges::find(out.lookup_attributes, *attribute) !=
               out.lookup_attributes.end()) {
      dir.diag().Add(name.at, name.key, "is listed twice");
    } else {
      out.lookup_attributes.push_back(*attribute);
    }
  }
}

void LoadHistory(TableReader& dir, std::optional<DirectoryKind> kind, DirectoryConfig& out) {
  auto history = dir.GetEnum("history_on_reset", kHistoryOnResetNames, Presence::kOptional);
  if (!history) return;
  // "enforce" promises that an admin reset is checked against password history. Only AD
  // gives the agent a way to ask for that (the policy-hints control); on OpenLDAP the server's
  // ppolicy decides, so the agent could not keep the promise and the value is refused.
  if (history->value == HistoryOnReset::kEnforce && kind == DirectoryKind::kOpenLdap) {
    dir.diag().Add(history->at, history->key,
                   "\"enforce\" is only available with kind = \"ad\"; on openldap the server's "
                   "ppolicy (pwdInHistory) decides, so use \"when_supported\" or leave it out");
    return;
  }
  out.history_on_reset = history->value;
}

// The overlay's own default (olcPPolicyDefault) lives in cn=config, which the service
// account cannot read, so the config names it for users without a pwdPolicySubentry.
void LoadPpolicyDefault(TableReader& dir, std::optional<DirectoryKind> kind, DirectoryConfig& out) {
  auto ppolicy = dir.GetString("ppolicy_default_dn", Presence::kOptional);
  if (!ppolicy) return;
  if (kind == DirectoryKind::kActiveDirectory) {
    dir.diag().Add(ppolicy->at, ppolicy->key,
                   "is only meaningful with kind = \"openldap\"; AD's policy is read from "
                   "the domain root and the user's PSO");
  } else if (Expect(dir, *ppolicy, CheckDn(ppolicy->value))) {
    out.ppolicy_default_dn = ppolicy->value;
  }
}

void LoadLimits(TableReader& dir, DirectoryConfig& out) {
  if (auto t = dir.GetInteger("connect_timeout", Presence::kOptional, 1, 300, "seconds")) {
    out.connect_timeout = std::chrono::seconds(t->value);
  }
  if (auto t = dir.GetInteger("operation_timeout", Presence::kOptional, 1, 600, "seconds")) {
    out.operation_timeout = std::chrono::seconds(t->value);
  }
  if (auto n = dir.GetInteger("pool_size", Presence::kOptional, 1, 32)) {
    out.pool_size = static_cast<int>(n->value);
  }
}

DirectoryRoutes LoadDirectory(TableReader& dir, const LoadContext& ctx, DirectoryConfig& out) {
  DirectoryRoutes routes{.at = dir.where(), .key = dir.path()};
  routes.name = dir.GetString("name", Presence::kRequired);
  if (routes.name && !Expect(dir, *routes.name, CheckIdentifier(routes.name->value))) {
    routes.name.reset();
  }
  if (routes.name) out.name = routes.name->value;
  auto kind = dir.GetEnum("kind", kDirectoryKindNames, Presence::kRequired);
  if (kind) out.kind = kind->value;
  LoadUrls(dir, out);
  if (auto ca = GetPath(dir, "ca_file", Presence::kRequired, ctx)) {
    Expect(dir, *ca, CheckReadableFile(ca->value));
    out.ca_file = ca->value;
  }
  LoadBind(dir, ctx, out);
  if (auto base = dir.GetString("base_dn", Presence::kRequired)) {
    if (Expect(dir, *base, CheckDn(base->value))) out.base_dn = base->value;
  }
  LoadRoutes(dir, out, routes);
  std::optional<DirectoryKind> known_kind;
  if (kind) known_kind = kind->value;
  LoadLookup(dir, known_kind, out);
  LoadHistory(dir, known_kind, out);
  LoadPpolicyDefault(dir, known_kind, out);
  LoadLimits(dir, out);
  LoadScopes(dir, known_kind, ctx, out);
  dir.ReportUnknownKeys();
  return routes;
}

}  // namespace

void LoadDirectories(TableReader& root, const LoadContext& ctx, std::vector<DirectoryConfig>& out) {
  const toml::value* value = root.Get("directory", Presence::kOptional);
  if (value == nullptr) {
    root.diag().Add(root.where(), "directory", "missing required table [[directory]]");
    return;
  }
  if (!value->is_array()) {
    root.diag().Add(LocationOf(*value), "directory",
                    "expected an array of tables ([[directory]]), found " +
                        std::string(TypeName(value->type())));
    return;
  }
  const toml::array& tables = value->as_array(std::nothrow);
  if (tables.empty()) {
    root.diag().Add(LocationOf(*value), "directory", "must have at least one [[directory]]");
    return;
  }
  std::vector<DirectoryRoutes> routes;
  for (std::size_t i = 0; i < tables.size(); ++i) {
    const std::string key = "directory[" + std::to_string(i) + "]";
    if (!tables[i].is_table()) {
      root.diag().Add(LocationOf(tables[i]), key,
                      "expected a table, found " + std::string(TypeName(tables[i].type())));
      continue;
    }
    TableReader dir(tables[i], key, root.diag());
    routes.push_back(LoadDirectory(dir, ctx, out.emplace_back()));
  }
  CheckDirectoryRoutes(routes, root.diag());
}

}  // namespace wb::config::internal
