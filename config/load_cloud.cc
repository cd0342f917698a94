#include "config/internal/enum_names.h"
#include "config/internal/files.h"
#include "config/internal/sections.h"

namespace wb::config::internal {
namespace {

void LoadProxy(TableReader& cloud, const LoadContext& ctx, CloudConfig& out) {
  std::optional<Field<std::string>> url = cloud.GetString("proxy", Presence::kOptional);
  std::optional<Field<std::filesystem::path>> password_file =
      GetPath(cloud, "proxy_password_file", Presence::kOptional, ctx);
  if (password_file) Expect(cloud, *password_file, CheckSecret(ctx, password_file->value));
  if (!url) {
    if (password_file) {
      cloud.diag().Add(password_file->at, password_file->key, "is only valid together with proxy");
    }
    return;
  }
  Result<ProxyUrl, std::string> parsed = ParseProxyUrl(url->value);
  if (!parsed.ok()) {
    cloud.diag().Add(url->at, url->key, parsed.error());
    return;
  }
  // A user name without a password, or a password for no user, is a half-done setup that
  // would fail only when the proxy first asks for credentials.
  if (parsed->user && !password_file) {
    cloud.diag().Add(url->at, url->key,
                     "names a user; set proxy_password_file to the file holding its password");
  }
  if (!parsed->user && password_file) {
    cloud.diag().Add(password_file->at, password_file->key,
                     "needs a user name in proxy (http://user@host:port)");
  }
  ProxyConfig proxy{.url = url->value, .address = parsed->address, .user = parsed->user};
  if (password_file) proxy.password_file = password_file->value;
  out.proxy = std::move(proxy);
}

}  // namespace

void LoadCloud(TableReader& root, const LoadContext& ctx, CloudConfig& out) {
  std::optional<TableReader> cloud = OpenTable(root, "cloud", Presence::kRequired);
  if (!cloud) return;
  if (auto url = cloud->GetString("url", Presence::kRequired)) {
    Result<CloudUrl, std::string> parsed = ParseCloudUrl(url->value);
    if (parsed.ok()) {
      out.url = url->value;
      out.server = parsed->server;
      out.path = parsed->path;
    } else {
      cloud->diag().Add(url->at, url->key, parsed.error());
    }
  }
  if (auto ca = GetPath(*cloud, "ca_file", Presence::kRequired, ctx)) {
    Expect(*cloud, *ca, CheckReadableFile(ca->value));
    out.ca_file = ca->value;
  }
  LoadProxy(*cloud, ctx, out);
  if (auto tls = cloud->GetEnum("min_tls", kTlsVersionNames, Presence::kOptional)) {
    out.min_tls = tls->value;
  }
  if (auto pin = cloud->GetString("spki_pin", Presence::kOptional)) {
    Result<std::array<std::uint8_t, 32>, std::string> decoded = DecodeSpkiPin(pin->value);
    if (decoded.ok()) {
      out.spki_pin = *decoded;
    } else {
      cloud->diag().Add(pin->at, pin->key, decoded.error());
    }
  }
  if (auto t = cloud->GetInteger("connect_timeout", Presence::kOptional, 1, 300, "seconds")) {
    out.connect_timeout = std::chrono::seconds(t->value);
  }
  if (auto t = cloud->GetInteger("heartbeat_interval", Presence::kOptional, 1, 3600, "seconds")) {
    out.heartbeat_interval = std::chrono::seconds(t->value);
  }
  cloud->ReportUnknownKeys();
}

}  // namespace wb::config::internal
