#include "tests/support/ldap_test_client.h"

#include <sys/time.h>

#include <memory>
#include <utility>

namespace wb::testing {
namespace {

std::string Diagnostic(LDAP* ld) {
  char* msg = nullptr;
  std::string out;
  if (ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &msg) == LDAP_OPT_SUCCESS && msg) {
    out = msg;
    ldap_memfree(msg);
  }
  return out;
}

Status LdapError(LDAP* ld, int rc, const std::string& what) {
  std::string m = what + ": " + ldap_err2string(rc) + " (" + std::to_string(rc) + ")";
  std::string diag = ld != nullptr ? Diagnostic(ld) : "";
  if (!diag.empty()) m += ": " + diag;
  Code code = rc == LDAP_NO_SUCH_OBJECT                            ? Code::kNotFound
              : rc == LDAP_INSUFFICIENT_ACCESS                     ? Code::kPermissionDenied
              : rc == LDAP_SERVER_DOWN || rc == LDAP_CONNECT_ERROR ? Code::kUnavailable
                                                                   : Code::kFailedPrecondition;
  return Status(code, m);
}

Result<LDAP*> OpenVerified(const std::string& url, const std::filesystem::path& ca_file) {
  LDAP* ld = nullptr;
  int rc = ldap_initialize(&ld, url.c_str());
  if (rc != LDAP_SUCCESS) return LdapError(nullptr, rc, "ldap_initialize " + url);
  int version = LDAP_VERSION3;
  int demand = LDAP_OPT_X_TLS_DEMAND;
  int zero = 0;
  timeval timeout{5, 0};
  ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &version);
  ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF);
  ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &timeout);
  ldap_set_option(ld, LDAP_OPT_TIMEOUT, &timeout);
  ldap_set_option(ld, LDAP_OPT_X_TLS_CACERTFILE, ca_file.c_str());
  ldap_set_option(ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &demand);
  // A per-handle TLS context: the options above apply to this connection only.
  rc = ldap_set_option(ld, LDAP_OPT_X_TLS_NEWCTX, &zero);
  if (rc != LDAP_OPT_SUCCESS) {
    ldap_unbind_ext_s(ld, nullptr, nullptr);
    return Internal("cannot create TLS context for " + url);
  }
  if (url.rfind("ldap://", 0) == 0) {
    rc = ldap_start_tls_s(ld, nullptr, nullptr);
    if (rc != LDAP_SUCCESS) {
      Status s = LdapError(ld, rc, "StartTLS " + url);
      ldap_unbind_ext_s(ld, nullptr, nullptr);
      return s;
    }
  }
  return ld;
}

Status SimpleBind(LDAP* ld, const std::string& dn, const std::string& password) {
  berval cred{static_cast<ber_len_t>(password.size()), const_cast<char*>(password.data())};
  int rc = ldap_sasl_bind_s(ld, dn.empty() ? nullptr : dn.c_str(), LDAP_SASL_SIMPLE, &cred, nullptr,
                            nullptr, nullptr);
  if (rc != LDAP_SUCCESS) return LdapError(ld, rc, "bind as " + dn);
  return Status::Ok();
}

int ModOp(LdapMod::Op op) {
  switch (op) {
    case LdapMod::Op::kAdd:
      return LDAP_MOD_ADD;
    case LdapMod::Op::kReplace:
      return LDAP_MOD_REPLACE;
    case LdapMod::Op::kDelete:
      return LDAP_MOD_DELETE;
  }
  return LDAP_MOD_REPLACE;
}

// Owns the LDAPMod arrays libldap wants, pointing into the caller's LdapMod values.
class ModArray {
 public:
  explicit ModArray(const std::vector<LdapMod>& mods) {
    for (const auto& m : mods) {
      auto& vals = bvals_.emplace_back();
      for (const auto& v : m.values) {
        vals.push_back(new berval{static_cast<ber_len_t>(v.size()), const_cast<char*>(v.data())});
      }
      vals.push_back(nullptr);
      storage_.push_back(
          LDAPMod{ModOp(m.op) | LDAP_MOD_BVALUES, const_cast<char*>(m.attribute.c_str()), {}});
    }
    for (std::size_t i = 0; i < storage_.size(); ++i) {
      storage_[i].mod_vals.modv_bvals = bvals_[i].size() > 1 ? bvals_[i].data() : nullptr;
      ptrs_.push_back(&storage_[i]);
    }
    ptrs_.push_back(nullptr);
  }
  ~ModArray() {
    for (auto& vals : bvals_)
      for (berval* b : vals) delete b;
  }
  LDAPMod** get() { return ptrs_.data(); }

 private:
  std::vector<std::vector<berval*>> bvals_;
  std::vector<LDAPMod> storage_;
  std::vector<LDAPMod*> ptrs_;
};

}  // namespace

Result<LdapTestClient> LdapTestClient::Connect(const std::string& url,
                                               const std::filesystem::path& ca_file,
                                               const std::string& bind_dn,
                                               const std::string& password) {
  auto ld = OpenVerified(url, ca_file);
  if (!ld.ok()) return ld.error();
  LdapTestClient client(*ld);
  if (!bind_dn.empty()) WB_RETURN_IF_ERROR(SimpleBind(*ld, bind_dn, password));
  return client;
}

LdapTestClient::LdapTestClient(LdapTestClient&& other) noexcept
    : ld_(std::exchange(other.ld_, nullptr)) {}

LdapTestClient& LdapTestClient::operator=(LdapTestClient&& other) noexcept {
  if (this != &other) {
    if (ld_ != nullptr) ldap_unbind_ext_s(ld_, nullptr, nullptr);
    ld_ = std::exchange(other.ld_, nullptr);
  }
  return *this;
}

LdapTestClient::~LdapTestClient() {
  if (ld_ != nullptr) ldap_unbind_ext_s(ld_, nullptr, nullptr);
}

Status LdapTestClient::Check(int rc, const std::string& what) {
  last_result_ = rc;
  last_diagnostic_ = rc == LDAP_SUCCESS ? "" : Diagnostic(ld_);
  if (rc == LDAP_SUCCESS) return Status::Ok();
  return LdapError(ld_, rc, what);
}

Status LdapTestClient::Add(const std::string& dn, const std::vector<LdapMod>& attributes) {
  std::vector<LdapMod> adds = attributes;
  for (auto& a : adds) a.op = LdapMod::Op::kAdd;
  ModArray mods(adds);
  return Check(ldap_add_ext_s(ld_, dn.c_str(), mods.get(), nullptr, nullptr), "add " + dn);
}

Status LdapTestClient::Modify(const std::string& dn, const std::vector<LdapMod>& mods) {
  ModArray array(mods);
  return Check(ldap_modify_ext_s(ld_, dn.c_str(), array.get(), nullptr, nullptr), "modify " + dn);
}

Status LdapTestClient::Delete(const std::string& dn) {
  return Check(ldap_delete_ext_s(ld_, dn.c_str(), nullptr, nullptr), "delete " + dn);
}

Result<std::vector<std::string>> LdapTestClient::Read(const std::string& dn,
                                                      const std::string& attribute) {
  char* attrs[] = {const_cast<char*>(attribute.c_str()), nullptr};
  LDAPMessage* res = nullptr;
  int rc = ldap_search_ext_s(ld_, dn.c_str(), LDAP_SCOPE_BASE, "(objectClass=*)", attrs, 0, nullptr,
                             nullptr, nullptr, 0, &res);
  std::unique_ptr<LDAPMessage, int (*)(LDAPMessage*)> guard(res, ldap_msgfree);
  WB_RETURN_IF_ERROR(Check(rc, "read " + attribute + " of " + dn));
  std::vector<std::string> values;
  LDAPMessage* entry = ldap_first_entry(ld_, res);
  if (entry == nullptr) return NotFound(dn);
  berval** vals = ldap_get_values_len(ld_, entry, attribute.c_str());
  for (int i = 0; vals != nullptr && vals[i] != nullptr; ++i) {
    values.emplace_back(vals[i]->bv_val, vals[i]->bv_len);
  }
  ldap_value_free_len(vals);
  return values;
}

Result<std::vector<std::string>> LdapTestClient::SearchDns(const std::string& base,
                                                           const std::string& filter) {
  char no_attrs[] = LDAP_NO_ATTRS;
  char* attrs[] = {no_attrs, nullptr};
  LDAPMessage* res = nullptr;
  int rc = ldap_search_ext_s(ld_, base.c_str(), LDAP_SCOPE_SUBTREE, filter.c_str(), attrs, 0,
                             nullptr, nullptr, nullptr, 0, &res);
  std::unique_ptr<LDAPMessage, int (*)(LDAPMessage*)> guard(res, ldap_msgfree);
  WB_RETURN_IF_ERROR(Check(rc, "search " + filter + " under " + base));
  std::vector<std::string> dns;
  for (LDAPMessage* e = ldap_first_entry(ld_, res); e != nullptr; e = ldap_next_entry(ld_, e)) {
    char* dn = ldap_get_dn(ld_, e);
    if (dn != nullptr) dns.emplace_back(dn);
    ldap_memfree(dn);
  }
  return dns;
}

Status TryUserBind(const std::string& url, const std::filesystem::path& ca_file,
                   const std::string& dn, const std::string& password) {
  auto client = LdapTestClient::Connect(url, ca_file, dn, password);
  return client.ok() ? Status::Ok() : client.error();
}

std::string AdUnicodePwd(const std::string& password) {
  // Test passwords are ASCII; each byte becomes one UTF-16LE code unit.
  std::string quoted = "\"" + password + "\"";
  std::string out;
  for (char c : quoted) {
    out.push_back(c);
    out.push_back('\0');
  }
  return out;
}

}  // namespace wb::testing
