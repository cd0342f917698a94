#pragma once
// Internal to config/: checks of single values, independent of TOML and of the file system.
// Each returns the parsed value, or the problem in the words shown to the administrator.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"
#include "config/config.h"
#include "config/internal/diagnostics.h"

namespace wb::config::internal {

using Problem = std::optional<std::string>;  // nullopt: valid

// [A-Za-z0-9._-], 1 to 64 characters: agent.id and directory names, which appear in log
// lines, metric labels and file names.
Problem CheckIdentifier(std::string_view id);

// A DNS name such as "example.com": labels of letters, digits and hyphens (no leading or
// trailing hyphen), 1 to 63 characters each, 253 in all.
Problem CheckDnsName(std::string_view name);

// A non-empty LDAPv3 distinguished name (RFC 4514), as parsed by libldap.
Problem CheckDn(std::string_view dn);

// The DN in a canonical form for comparing two DNs (case and spacing folded), or nullopt
// when it does not parse.
std::optional<std::string> CanonicalDn(std::string_view dn);

// The parts of the three URL forms the config accepts.
struct CloudUrl {
  HostPort server;
  std::string path;
};
struct ProxyUrl {
  HostPort address;
  std::optional<std::string> user;
};

// wss://host[:port][/path]: no user info, query or fragment.
Result<CloudUrl, std::string> ParseCloudUrl(std::string_view url);

// http://[user@]host:port[/]: a password in the URL is refused.
Result<ProxyUrl, std::string> ParseProxyUrl(std::string_view url);

// ldaps://host[:port][/] or ldap://host[:port][/]: no DN, attributes, scope, filter or
// extensions (the config has keys for those).
Result<LdapUrl, std::string> ParseLdapUrl(std::string_view url);

// 127.x.y.z:PORT or [::1]:PORT.
Result<HostPort, std::string> ParseLoopbackListen(std::string_view text);

// 44 characters of standard base64 encoding 32 bytes.
Result<std::array<std::uint8_t, 32>, std::string> DecodeSpkiPin(std::string_view text);

}  // namespace wb::config::internal
