// URL checks for cloud.url, cloud.proxy and directory.urls. libldap's ldap_url_parse is not
// used: it accepts "ldap://user@host", "ldap://a b" and port 99999 without complaint, and the
// three URL forms here are small enough to check exactly.

#include <arpa/inet.h>

#include <cctype>
#include <charconv>
#include <string>

#include "config/internal/validate.h"

namespace wb::config::internal {
namespace {

// scheme://[userinfo@]host[:port][path][?query][#fragment], syntax only.
struct UrlParts {
  std::string scheme;  // lower-cased
  std::optional<std::string> userinfo;
  HostPort address;  // port 0 when absent
  std::string path;  // "" or starting with '/'
  bool has_query = false;
  bool has_fragment = false;
};

Result<std::uint16_t, std::string> ParsePort(std::string_view text) {
  unsigned value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value < 1 ||
      value > 65535) {
    return std::string("port must be a number from 1 to 65535");
  }
  return static_cast<std::uint16_t>(value);
}

bool LooksLikeIpv4(std::string_view host) {
  return host.find_first_not_of("0123456789.") == std::string_view::npos;
}

Problem CheckHost(std::string_view host) {
  if (host.empty()) return "has no host";
  if (LooksLikeIpv4(host)) {
    in_addr addr{};
    if (::inet_pton(AF_INET, std::string(host).c_str(), &addr) != 1) {
      return "host " + Quote(host) + " is not a valid IPv4 address";
    }
    return std::nullopt;
  }
  if (Problem p = CheckDnsName(host)) return "host " + Quote(host) + ": " + *p;
  return std::nullopt;
}

// host[:port] or [v6]:port.
Result<HostPort, std::string> SplitHostPort(std::string_view text) {
  HostPort out;
  std::string_view port_text;
  bool has_port = false;
  if (!text.empty() && text.front() == '[') {
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos) return std::string("has an unclosed '[' in the host");
    out.host = std::string(text.substr(1, close - 1));
    in6_addr addr{};
    if (::inet_pton(AF_INET6, out.host.c_str(), &addr) != 1) {
      return "host " + Quote(out.host) + " is not a valid IPv6 address";
    }
    std::string_view rest = text.substr(close + 1);
    if (!rest.empty() && rest.front() != ':') return std::string("has junk after ']'");
    has_port = !rest.empty();
    if (has_port) port_text = rest.substr(1);
  } else {
    const std::size_t colon = text.find(':');
    out.host = std::string(text.substr(0, colon));
    if (Problem p = CheckHost(out.host)) return *p;
    has_port = colon != std::string_view::npos;
    if (has_port) port_text = text.substr(colon + 1);
  }
  if (has_port) {
    Result<std::uint16_t, std::string> port = ParsePort(port_text);
    if (!port.ok()) return port.error();
    out.port = *port;
  }
  return out;
}

bool IsHex(char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; }

// RFC 3986 path characters: unreserved, sub-delims, ':', '@', '/', and %XX escapes.
Problem CheckPath(std::string_view path) {
  static constexpr std::string_view kAllowed = "-._~!$&'()*+,;=:@/";
  for (std::size_t i = 0; i < path.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(path[i]);
    if (std::isalnum(c) != 0 || kAllowed.find(static_cast<char>(c)) != std::string_view::npos) {
      continue;
    }
    if (c == '%' && i + 2 < path.size() && IsHex(path[i + 1]) && IsHex(path[i + 2])) {
      i += 2;
      continue;
    }
    return std::string("path contains a character that must be percent-encoded");
  }
  return std::nullopt;
}

// Unreserved and sub-delims characters only: the user name is sent as written, so a
// percent-escape, whose meaning a proxy might or might not decode, is not accepted.
bool IsPlainUserName(std::string_view user) {
  static constexpr std::string_view kAllowed = "-._~!$&'()*+,;=";
  for (char c : user) {
    if (std::isalnum(static_cast<unsigned char>(c)) == 0 &&
        kAllowed.find(c) == std::string_view::npos) {
      return false;
    }
  }
  return true;
}

// The lower-cased scheme, or "" when `url` has no "scheme://". Callers check it before the
// rest, so that "http://x" for an LDAP server is refused for its scheme, not its details.
std::string SchemeOf(std::string_view url) {
  const std::size_t sep = url.find("://");
  if (sep == std::string_view::npos) return "";
  std::string scheme;
  for (char c : url.substr(0, sep)) {
    scheme += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return scheme;
}

// REQUIRES: SchemeOf(url) is not empty.
Result<UrlParts, std::string> SplitUrl(std::string_view url) {
  const std::size_t sep = url.find("://");
  UrlParts out;
  out.scheme = SchemeOf(url);
  std::string_view rest = url.substr(sep + 3);
  if (const std::size_t hash = rest.find('#'); hash != std::string_view::npos) {
    out.has_fragment = true;
    rest = rest.substr(0, hash);
  }
  if (const std::size_t question = rest.find('?'); question != std::string_view::npos) {
    out.has_query = true;
    rest = rest.substr(0, question);
  }
  const std::size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  if (slash != std::string_view::npos) out.path = std::string(rest.substr(slash));
  if (const std::size_t at = authority.rfind('@'); at != std::string_view::npos) {
    out.userinfo = std::string(authority.substr(0, at));
    authority = authority.substr(at + 1);
  }
  Result<HostPort, std::string> address = SplitHostPort(authority);
  if (!address.ok()) return address.error();
  out.address = *address;
  if (Problem p = CheckPath(out.path)) return *p;
  return out;
}

}  // namespace

Result<CloudUrl, std::string> ParseCloudUrl(std::string_view url) {
  const std::string scheme = SchemeOf(url);
  if (scheme.empty()) return std::string("is not a URL (wss://host[:port][/path])");
  if (scheme == "ws") return std::string("must use wss:// (TLS); ws:// is not allowed");
  if (scheme != "wss") return std::string("must start with wss://");
  Result<UrlParts, std::string> parts = SplitUrl(url);
  if (!parts.ok()) return parts.error();
  if (parts->userinfo) return std::string("must not contain user info (user@)");
  if (parts->has_query) return std::string("must not contain a query (?...)");
  if (parts->has_fragment) return std::string("must not contain a fragment (#...)");
  CloudUrl out{parts->address, parts->path.empty() ? "/" : parts->path};
  if (out.server.port == 0) out.server.port = 443;
  return out;
}

Result<ProxyUrl, std::string> ParseProxyUrl(std::string_view url) {
  if (SchemeOf(url) != "http") {
    return std::string(
        "must start with http:// (the agent speaks HTTP CONNECT to the proxy; TLS to the "
        "cloud stays end to end)");
  }
  Result<UrlParts, std::string> parts = SplitUrl(url);
  if (!parts.ok()) return parts.error();
  if (parts->userinfo && parts->userinfo->find(':') != std::string::npos) {
    return std::string(
        "must not contain a password; put it in a file named by proxy_password_file");
  }
  if (parts->userinfo && parts->userinfo->empty()) return std::string("has an empty user name");
  if (parts->userinfo && !IsPlainUserName(*parts->userinfo)) {
    return std::string("user name may only contain letters, digits and -._~!$&'()*+,;=");
  }
  if (parts->address.port == 0) return std::string("needs a port (http://host:port)");
  if (!parts->path.empty() && parts->path != "/") return std::string("must not contain a path");
  if (parts->has_query || parts->has_fragment) {
    return std::string("must not contain a query or fragment");
  }
  return ProxyUrl{parts->address, parts->userinfo};
}

Result<LdapUrl, std::string> ParseLdapUrl(std::string_view url) {
  LdapUrl out{.url = std::string(url)};
  const std::string scheme = SchemeOf(url);
  if (scheme == "ldaps") {
    out.transport = LdapTransport::kLdaps;
  } else if (scheme == "ldap") {
    out.transport = LdapTransport::kStartTls;
  } else {
    return std::string("must start with ldaps:// or ldap:// (ldap:// always uses StartTLS)");
  }
  Result<UrlParts, std::string> parts = SplitUrl(url);
  if (!parts.ok()) return parts.error();
  if (parts->userinfo) return std::string("must not contain user info (user@)");
  if ((!parts->path.empty() && parts->path != "/") || parts->has_query) {
    return std::string(
        "must not contain a DN, attributes, scope or filter; use base_dn and the other keys");
  }
  if (parts->has_fragment) return std::string("must not contain a fragment (#...)");
  out.address = parts->address;
  if (out.address.port == 0) {
    out.address.port = out.transport == LdapTransport::kLdaps ? 636 : 389;
  }
  return out;
}

Result<HostPort, std::string> ParseLoopbackListen(std::string_view text) {
  Result<HostPort, std::string> address = SplitHostPort(text);
  if (!address.ok()) return address.error();
  if (address->port == 0) return std::string("needs a port (127.0.0.1:PORT or [::1]:PORT)");
  in_addr v4{};
  in6_addr v6{};
  const bool is_v4 = ::inet_pton(AF_INET, address->host.c_str(), &v4) == 1;
  const bool is_v6 = ::inet_pton(AF_INET6, address->host.c_str(), &v6) == 1;
  if (!is_v4 && !is_v6) {
    return std::string("must be a loopback IP address (127.0.0.1 or [::1]), not a host name");
  }
  const bool loopback = is_v4 ? (ntohl(v4.s_addr) >> 24) == 127 : IN6_IS_ADDR_LOOPBACK(&v6) != 0;
  if (!loopback) {
    return std::string(
        "must be a loopback address (127.0.0.0/8 or [::1]); the metrics endpoint is never "
        "exposed to the network");
  }
  return *address;
}

}  // namespace wb::config::internal
