#pragma once
// Builds a DirectoryConfig for a test server, as LoadConfig would from a file.

#include <string>

#include "common/secret.h"
#include "config/config.h"
#include "ldap/directory.h"
#include "tests/support/process.h"

namespace wb::testing {

// "ldaps://127.0.0.1:636" or "ldap://127.0.0.1:389" (StartTLS).
inline config::LdapUrl TestUrl(const std::string& url) {
  config::LdapUrl u;
  u.url = url;
  u.transport = url.rfind("ldaps://", 0) == 0 ? config::LdapTransport::kLdaps
                                              : config::LdapTransport::kStartTls;
  const auto host_start = url.find("://") + 3;
  const auto colon = url.rfind(':');
  u.address.host = url.substr(host_start, colon - host_start);
  u.address.port = static_cast<std::uint16_t>(std::stoi(url.substr(colon + 1)));
  return u;
}

struct TestDirectory {
  config::DirectoryKind kind;
  std::vector<std::string> urls;
  std::filesystem::path ca_file;
  std::string bind_dn;
  std::string bind_password;
  std::string base_dn;
  std::vector<config::LookupAttribute> lookup;
};

// Writes the bind password to a 0600 file in `dir` and returns the config.
inline config::DirectoryConfig MakeDirectoryConfig(const TestDirectory& t,
                                                   const std::filesystem::path& dir) {
  config::DirectoryConfig c;
  c.name = "test";
  c.kind = t.kind;
  for (const auto& u : t.urls) c.urls.push_back(TestUrl(u));
  c.ca_file = t.ca_file;
  c.bind_dn = t.bind_dn;
  c.bind_password_file = dir / "bind.password";
  (void)WriteFile(*c.bind_password_file, t.bind_password, 0600);
  c.base_dn = t.base_dn;
  c.lookup_attributes = t.lookup;
  c.connect_timeout = std::chrono::seconds(2);
  c.operation_timeout = std::chrono::seconds(2);
  c.pool_size = 2;
  return c;
}

// The user's own change of `a`'s password, from `old_password` to `new_password`.
inline ldap::Outcome ChangePassword(ldap::Directory& dir, const ldap::Account& a,
                                    const std::string& old_password,
                                    const std::string& new_password) {
  Secret old_secret(old_password);
  Secret new_secret(new_password);
  return dir.Apply(a, {.password = ldap::PasswordChange::Password::kChange,
                       .new_password = &new_secret,
                       .old_password = &old_secret});
}

}  // namespace wb::testing
