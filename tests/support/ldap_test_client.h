#pragma once
// Test support: a small synchronous LDAP client on libldap, independent of the product's
// ldap/ component, so fixtures can prepare and inspect a directory and tests can check what
// the product wrote. Always verifies the server certificate against `ca_file`.

#include <ldap.h>

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace wb::testing {

struct LdapMod {
  enum class Op { kAdd, kReplace, kDelete };
  Op op;
  std::string attribute;
  std::vector<std::string> values;  // binary-safe; empty with kDelete removes the attribute
};

class LdapTestClient {
 public:
  // Connects to `url` (ldap:// gets StartTLS, ldaps:// TLS) and simple-binds as `bind_dn`
  // (anonymous when empty). Result codes other than success become a Status whose message
  // holds the LDAP error and the server's diagnostic text.
  static Result<LdapTestClient> Connect(const std::string& url,
                                        const std::filesystem::path& ca_file,
                                        const std::string& bind_dn, const std::string& password);
  LdapTestClient(LdapTestClient&& other) noexcept;
  LdapTestClient& operator=(LdapTestClient&& other) noexcept;
  ~LdapTestClient();

  Status Add(const std::string& dn, const std::vector<LdapMod>& attributes);
  Status Modify(const std::string& dn, const std::vector<LdapMod>& mods);
  Status Delete(const std::string& dn);
  // Values of `attribute` on `dn` (empty when absent); kNotFound when the entry is missing.
  Result<std::vector<std::string>> Read(const std::string& dn, const std::string& attribute);
  // DNs under `base` (subtree) matching `filter`.
  Result<std::vector<std::string>> SearchDns(const std::string& base, const std::string& filter);
  // The last LDAP result code (LDAP_SUCCESS after success).
  int last_result() const { return last_result_; }
  const std::string& last_diagnostic() const { return last_diagnostic_; }
  LDAP* handle() { return ld_; }

 private:
  explicit LdapTestClient(LDAP* ld) : ld_(ld) {}
  Status Check(int rc, const std::string& what);
  LDAP* ld_ = nullptr;
  int last_result_ = LDAP_SUCCESS;
  std::string last_diagnostic_;
};

// Binds as `dn` with `password` on a fresh connection: the way a real user would log on.
// Returns OK, or the bind's error (with the server's diagnostic, e.g. AD "data 775").
Status TryUserBind(const std::string& url, const std::filesystem::path& ca_file,
                   const std::string& dn, const std::string& password);

// "\"password\"" encoded as UTF-16LE: the value AD expects in unicodePwd.
std::string AdUnicodePwd(const std::string& password);

}  // namespace wb::testing
