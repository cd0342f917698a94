#include "ldap/connection.h"

#include <openldap.h>
#include <signal.h>
#include <sys/time.h>

#include <cerrno>
#include <mutex>
#include <utility>

#include "common/log_escape.h"
#include "common/secret.h"
#include "ldap/socket.h"
#include "ldap/tls_probe.h"

namespace wb::ldap {
namespace {

timeval ToTimeval(std::chrono::milliseconds ms) {
  return {static_cast<time_t>(ms.count() / 1000),
          static_cast<suseconds_t>(ms.count() % 1000 * 1000)};
}

std::string Diagnostic(LDAP* ld) {
  char* msg = nullptr;
  std::string out;
  if (ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &msg) == LDAP_OPT_SUCCESS && msg) {
    out = msg;
    ldap_memfree(msg);
  }
  return out;
}

// libldap keeps the last result's text on the handle until another result replaces it, and
// Failed() reads the handle's text when a call fails before any result: without this, a
// refusal that quoted one request's new password would come back as the diagnostic of a later
// request's failure on the same pooled connection, past that request's echo filter (which
// knows only its own passwords), into its outcome, the log and status.json. Cleared before
// every operation and as soon as a result's text is copied out.
void ForgetDiagnostic(LDAP* ld) { ldap_set_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, nullptr); }

int ResultCode(LDAP* ld) {
  int rc = LDAP_OTHER;
  ldap_get_option(ld, LDAP_OPT_RESULT_CODE, &rc);
  return rc;
}

// Per-handle TLS: CA verification is demanded and the context is this handle's own, so two
// directories with different CAs never share trust.
Status ConfigureTls(LDAP* ld, const ConnectionSettings& s) {
  int version = LDAP_VERSION3;
  int demand = LDAP_OPT_X_TLS_DEMAND;
  int min_protocol = LDAP_OPT_X_TLS_PROTOCOL_TLS1_2;
  int zero = 0;
  bool ok = ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &version) == LDAP_OPT_SUCCESS &&
            ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF) == LDAP_OPT_SUCCESS &&
            ldap_set_option(ld, LDAP_OPT_X_TLS_CACERTFILE, s.ca_file.c_str()) == LDAP_OPT_SUCCESS &&
            ldap_set_option(ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &demand) == LDAP_OPT_SUCCESS &&
            ldap_set_option(ld, LDAP_OPT_X_TLS_PROTOCOL_MIN, &min_protocol) == LDAP_OPT_SUCCESS;
  if (ok && s.client_cert_file && s.client_key_file) {
    // libldap reads the key at each new connection: the loader's rule (a key file others can
    // read is refused) holds for the file's whole life, not only when the config was loaded.
    if (Status perms = CheckSecretFilePermissions(*s.client_key_file); !perms.ok()) {
      return FailedPrecondition("directory.client_key_file refused: " + perms.message());
    }
    ok =
        ldap_set_option(ld, LDAP_OPT_X_TLS_CERTFILE, s.client_cert_file->c_str()) ==
            LDAP_OPT_SUCCESS &&
        ldap_set_option(ld, LDAP_OPT_X_TLS_KEYFILE, s.client_key_file->c_str()) == LDAP_OPT_SUCCESS;
  }
  if (ok) ok = ldap_set_option(ld, LDAP_OPT_X_TLS_NEWCTX, &zero) == LDAP_OPT_SUCCESS;
  return ok ? Status::Ok() : Internal("cannot configure TLS (check ca_file and client key)");
}

// liblber reads a message's length first and allocates that much: a length beyond `max` fails
// the read (ERANGE) instead.
Status LimitResponseSize(LDAP* ld, std::size_t max) {
  Sockbuf* sb = nullptr;
  ber_len_t limit = max;
  if (ldap_get_option(ld, LDAP_OPT_SOCKBUF, &sb) != LDAP_OPT_SUCCESS || sb == nullptr ||
      ber_sockbuf_ctrl(sb, LBER_SB_OPT_SET_MAX_INCOMING, &limit) != 1) {
    return Internal("cannot limit the size of the directory's responses");
  }
  return Status::Ok();
}

// libldap says little more than "Can't contact LDAP server" about a refused certificate: the
// reason comes from a diagnostic handshake of our own (ldap/tls_probe.h), libldap's text stays
// as the diagnostic.
Outcome TlsOutcome(LDAP* ld, int rc, const config::LdapUrl& url, const ConnectionSettings& s,
                   bool timed_out) {
  if (timed_out) {
    return MakeOutcome(OutcomeCode::kDirectoryTimeout,
                       "the directory server accepted the connection but did not complete "
                       "the TLS handshake in time");
  }
  std::string diag = Diagnostic(ld);
  std::optional<std::string> why = ExplainTlsFailure(url, s, s.connect_timeout);
  Outcome o = MakeOutcome(OutcomeCode::kTlsFailure,
                          why ? "TLS to the directory failed: " + *why
                              : "TLS to the directory failed: check ca_file, and that the "
                                "server's certificate is valid and names the host in the URL");
  o.diagnostic = EscapeForLog(diag.empty() ? ldap_err2string(rc) : diag, 512);
  return o;
}

Result<LDAP*, Outcome> StartTls(LDAP* ld, const config::LdapUrl& url, const ConnectionSettings& s,
                                const DeadlineGuard& guard) {
  int rc = url.transport == config::LdapTransport::kLdaps ? ldap_install_tls(ld)
                                                          : ldap_start_tls_s(ld, nullptr, nullptr);
  if (rc != LDAP_SUCCESS) return TlsOutcome(ld, rc, url, s, guard.fired());
  return ld;
}

// libldap's berval needs a mutable pointer; the bytes are only read.
berval View(std::string_view bytes) {
  return {static_cast<ber_len_t>(bytes.size()), const_cast<char*>(bytes.data())};
}

// Owns the libldap arrays for a modify; the values point into caller-owned bytes.
class ModArrays {
 public:
  explicit ModArrays(const std::vector<Modification>& mods) {
    values_.resize(mods.size());
    mods_.resize(mods.size());
    for (std::size_t i = 0; i < mods.size(); ++i) {
      for (auto v : mods[i].values) bervals_.push_back(View(v));
    }
    std::size_t next = 0;
    for (std::size_t i = 0; i < mods.size(); ++i) {
      for (std::size_t j = 0; j < mods[i].values.size(); ++j) {
        values_[i].push_back(&bervals_[next++]);
      }
      values_[i].push_back(nullptr);
      mods_[i].mod_op = mods[i].op | LDAP_MOD_BVALUES;
      mods_[i].mod_type = const_cast<char*>(mods[i].attribute.c_str());
      mods_[i].mod_vals.modv_bvals = mods[i].values.empty() ? nullptr : values_[i].data();
      pointers_.push_back(&mods_[i]);
    }
    pointers_.push_back(nullptr);
  }
  LDAPMod** get() { return pointers_.data(); }

 private:
  std::vector<berval> bervals_;
  std::vector<std::vector<berval*>> values_;
  std::vector<LDAPMod> mods_;
  std::vector<LDAPMod*> pointers_;
};

class Controls {
 public:
  explicit Controls(const std::vector<RequestControl>& controls) {
    for (const auto& c : controls) {
      berval value = View(c.value);
      LDAPControl* ctrl = nullptr;
      if (ldap_control_create(c.oid.c_str(), c.critical ? 1 : 0, c.value.empty() ? nullptr : &value,
                              1, &ctrl) == LDAP_SUCCESS) {
        list_.push_back(ctrl);
      }
    }
    list_.push_back(nullptr);
  }
  ~Controls() {
    for (LDAPControl* c : list_) {
      if (c != nullptr) ldap_control_free(c);
    }
  }
  Controls(const Controls&) = delete;
  Controls& operator=(const Controls&) = delete;
  LDAPControl** get() { return list_.size() > 1 ? list_.data() : nullptr; }

 private:
  std::vector<LDAPControl*> list_;
};

Entry ReadEntry(LDAP* ld, LDAPMessage* e) {
  Entry entry;
  char* dn = ldap_get_dn(ld, e);
  if (dn != nullptr) entry.dn = dn;
  ldap_memfree(dn);
  BerElement* ber = nullptr;
  for (char* a = ldap_first_attribute(ld, e, &ber); a != nullptr;
       a = ldap_next_attribute(ld, e, ber)) {
    std::string name(a);
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    berval** vals = ldap_get_values_len(ld, e, a);
    auto& out = entry.attributes[name];
    for (int i = 0; vals != nullptr && vals[i] != nullptr; ++i) {
      out.emplace_back(vals[i]->bv_val, vals[i]->bv_len);
    }
    ldap_value_free_len(vals);
    ldap_memfree(a);
  }
  ber_free(ber, 0);
  return entry;
}

// libldap and OpenSSL write to the socket with write(2): a server that closed the connection
// would kill the process with SIGPIPE instead of failing the operation with EPIPE.
void IgnoreSigpipe() {
  static std::once_flag once;
  std::call_once(once, [] { ::signal(SIGPIPE, SIG_IGN); });
}

}  // namespace

std::optional<std::string> Entry::First(const std::string& name) const {
  auto it = attributes.find(name);
  if (it == attributes.end() || it->second.empty()) return std::nullopt;
  return it->second.front();
}

const std::vector<std::string>& Entry::All(const std::string& name) const {
  static const std::vector<std::string> kNone;
  auto it = attributes.find(name);
  return it == attributes.end() ? kNone : it->second;
}

Result<std::unique_ptr<Connection>, Outcome> Connection::Open(const config::LdapUrl& url,
                                                              const ConnectionSettings& settings,
                                                              const Secret& bind_password,
                                                              Step* reached) {
  Step ignored = Step::kConnect;
  Step& step = reached != nullptr ? *reached : ignored;
  step = Step::kConnect;
  IgnoreSigpipe();
  const auto started = std::chrono::steady_clock::now();
  auto fd = ConnectTcp(url.address.host, url.address.port, settings.connect_timeout);
  if (!fd.ok()) {
    Outcome o =
        MakeOutcome(fd.error().code() == Code::kTimeout ? OutcomeCode::kDirectoryTimeout
                                                        : OutcomeCode::kDirectoryUnavailable,
                    "cannot connect to " + url.url + ": " + fd.error().message());
    o.server = url.url;
    return o;
  }
  LDAP* ld = nullptr;
  if (ldap_init_fd(*fd, LDAP_PROTO_TCP, url.url.c_str(), &ld) != LDAP_SUCCESS) {
    ::close(*fd);
    return MakeOutcome(OutcomeCode::kInternalError, "ldap_init_fd failed");
  }
  // From here ld owns the socket; the Connection owns ld.
  std::unique_ptr<Connection> conn(new Connection(ld, url.url, settings.operation_timeout));
  if (Status s = LimitResponseSize(ld, settings.max_response_bytes); !s.ok()) {
    return MakeOutcome(OutcomeCode::kInternalError, s.message());
  }
  step = Step::kTls;
  if (Status s = ConfigureTls(ld, settings); !s.ok()) {
    return MakeOutcome(OutcomeCode::kTlsFailure, s.message());
  }
  const auto left =
      settings.connect_timeout - std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::chrono::steady_clock::now() - started);
  DeadlineGuard guard(*fd, std::max(left, std::chrono::milliseconds(1)));
  if (auto tls = StartTls(ld, url, settings, guard); !tls.ok()) {
    Outcome o = tls.error();
    o.server = url.url;
    return o;
  }
  step = Step::kBind;
  Outcome bound = conn->Bind(settings, bind_password);
  guard.Disarm();
  if (!bound.ok()) {
    bound.server = url.url;
    return bound;
  }
  return conn;
}

Connection::~Connection() { ldap_unbind_ext(ld_, nullptr, nullptr); }

Outcome Connection::Bind(const ConnectionSettings& settings, const Secret& bind_password) {
  ForgetDiagnostic(ld_);
  int msgid = -1;
  int rc;
  if (settings.bind_method == config::BindMethod::kSaslExternal) {
    // EXTERNAL takes its identity from the TLS client certificate. The initial response is
    // the authorization identity: present and empty (= the certificate's identity). Without
    // it the server asks for another round ("SASL bind in progress").
    char none[] = "";
    berval empty_authzid{0, none};
    rc = ldap_sasl_bind(ld_, nullptr, "EXTERNAL", &empty_authzid, nullptr, nullptr, &msgid);
  } else {
    berval cred = View(bind_password.view());
    rc = ldap_sasl_bind(ld_, settings.bind_dn.c_str(), LDAP_SASL_SIMPLE, &cred, nullptr, nullptr,
                        &msgid);
  }
  if (rc != LDAP_SUCCESS) return Failed(rc, OperationKind::kServiceBind);
  auto result = Await(msgid, OperationKind::kServiceBind);
  if (!result.ok()) return result.error();
  return Finish(*result, OperationKind::kServiceBind);
}

Outcome Connection::Failed(int rc, OperationKind kind) {
  // A call that fails before a result arrives leaves the handle in an unknown state.
  broken_ = true;
  int code = rc == -1 ? ResultCode(ld_) : rc;
  Outcome o = OutcomeFromLdap(code, Diagnostic(ld_), kind);
  o.server = url_;
  return o;
}

Result<LDAPMessage*, Outcome> Connection::Await(int msgid, OperationKind kind) {
  ++requests_sent_;
  timeval tv = ToTimeval(op_timeout_);
  LDAPMessage* result = nullptr;
  errno = 0;
  int rc = ldap_result(ld_, msgid, LDAP_MSG_ALL, &tv, &result);
  const int read_error = errno;
  if (rc == 0) {
    ldap_abandon_ext(ld_, msgid, nullptr, nullptr);
    broken_ = true;
    Outcome o = MakeOutcome(OutcomeCode::kDirectoryTimeout,
                            "the directory server did not answer within " +
                                std::to_string(op_timeout_.count()) + " ms");
    o.server = url_;
    return o;
  }
  if (rc < 0 && read_error == ERANGE) {
    // liblber refused a message longer than max_response_bytes (LimitResponseSize).
    broken_ = true;
    Outcome o = MakeOutcome(OutcomeCode::kDirectoryUnavailable,
                            "the directory server sent a response larger than the agent reads");
    o.server = url_;
    return o;
  }
  if (rc < 0) return Failed(-1, kind);
  return result;
}

Outcome Connection::Finish(LDAPMessage* result, OperationKind kind) {
  int err = LDAP_OTHER;
  char* errmsg = nullptr;
  int rc = ldap_parse_result(ld_, result, &err, nullptr, &errmsg, nullptr, nullptr, 1);
  std::string diag = errmsg != nullptr ? errmsg : "";
  ldap_memfree(errmsg);
  ForgetDiagnostic(ld_);
  if (rc != LDAP_SUCCESS) return Failed(rc, kind);
  Outcome o = OutcomeFromLdap(err, diag, kind);
  o.server = url_;
  return o;
}

Result<std::vector<Entry>, Outcome> Connection::Search(
    const std::string& base, int scope, const std::string& filter,
    const std::vector<std::string>& attributes, int size_limit,
    const std::vector<RequestControl>& controls) {
  auto sample = SearchSample(base, scope, filter, attributes, size_limit, controls);
  if (!sample.ok()) return sample.error();
  const bool cut_by_server =
      sample->more &&
      (size_limit <= 0 || sample->entries.size() < static_cast<std::size_t>(size_limit));
  if (cut_by_server) return ServerSizeLimitHit(sample->entries.size(), size_limit);
  return std::move(sample->entries);
}

Outcome Connection::ServerSizeLimitHit(std::size_t returned, int size_limit) const {
  std::string reason = "the directory server stopped a search at its own size limit for the ";
  reason += "service account after " + std::to_string(returned);
  reason += returned == 1 ? " entry" : " entries";
  if (size_limit > 0) {
    reason += ", fewer than the " + std::to_string(size_limit) + " the agent asked for";
  }
  reason +=
      ": more entries match than it returned, so the answer cannot be used (raise the service "
      "account's size limit: olcLimits on OpenLDAP, MaxPageSize on Active Directory)";
  Outcome o = MakeOutcome(OutcomeCode::kInternalError, std::move(reason));
  o.server = url_;
  return o;
}

Result<Connection::Sample, Outcome> Connection::SearchSample(
    const std::string& base, int scope, const std::string& filter,
    const std::vector<std::string>& attributes, int size_limit,
    const std::vector<RequestControl>& controls) {
  Controls request_controls(controls);
  ForgetDiagnostic(ld_);
  std::vector<char*> attrs;
  for (const auto& a : attributes) attrs.push_back(const_cast<char*>(a.c_str()));
  attrs.push_back(nullptr);
  int msgid = -1;
  int rc = ldap_search_ext(ld_, base.c_str(), scope, filter.c_str(), attrs.data(), 0,
                           request_controls.get(), nullptr, nullptr, size_limit, &msgid);
  if (rc == LDAP_FILTER_ERROR) {
    // libldap refused to encode the filter: nothing was sent and the connection is sound.
    Outcome o = OutcomeFromLdap(rc, "", OperationKind::kSearch);
    o.server = url_;
    return o;
  }
  if (rc != LDAP_SUCCESS) return Failed(rc, OperationKind::kSearch);
  auto result = Await(msgid, OperationKind::kSearch);
  if (!result.ok()) return result.error();
  Sample sample;
  for (LDAPMessage* e = ldap_first_entry(ld_, *result); e != nullptr; e = ldap_next_entry(ld_, e)) {
    sample.entries.push_back(ReadEntry(ld_, e));
  }
  int err = LDAP_OTHER;
  char* errmsg = nullptr;
  rc = ldap_parse_result(ld_, *result, &err, nullptr, &errmsg, nullptr, nullptr, 1);
  std::string diag = errmsg != nullptr ? errmsg : "";
  ldap_memfree(errmsg);
  ForgetDiagnostic(ld_);
  if (rc != LDAP_SUCCESS) return Failed(rc, OperationKind::kSearch);
  // sizeLimitExceeded still returns the entries found; whose limit it was, the caller decides.
  sample.more = err == LDAP_SIZELIMIT_EXCEEDED;
  if (err != LDAP_SUCCESS && !sample.more) {
    Outcome o = OutcomeFromLdap(err, diag, OperationKind::kSearch);
    o.server = url_;
    return o;
  }
  return sample;
}

Result<bool, Outcome> Connection::Matches(const std::string& dn, const std::string& filter) {
  // "1.1": no attributes (RFC 4511 4.5.1.8); one entry at most, since the scope is the entry.
  auto found = Search(dn, LDAP_SCOPE_BASE, filter, {"1.1"}, 1);
  if (!found.ok()) return found.error();
  return !found->empty();
}

Outcome Connection::Modify(const std::string& dn, const std::vector<Modification>& mods,
                           const std::vector<RequestControl>& controls, OperationKind kind) {
  ForgetDiagnostic(ld_);
  ModArrays arrays(mods);
  Controls server_controls(controls);
  int msgid = -1;
  int rc = ldap_modify_ext(ld_, dn.c_str(), arrays.get(), server_controls.get(), nullptr, &msgid);
  if (rc != LDAP_SUCCESS) return Failed(rc, kind);
  auto result = Await(msgid, kind);
  if (!result.ok()) return result.error();
  return Finish(*result, kind);
}

Outcome Connection::PasswordModify(const std::string& dn, const Secret* old_password,
                                   const Secret& new_password) {
  ForgetDiagnostic(ld_);
  LDAPControl* ppolicy = nullptr;
  if (ldap_create_passwordpolicy_control(ld_, &ppolicy) != LDAP_SUCCESS) {
    return MakeOutcome(OutcomeCode::kInternalError, "cannot create the ppolicy control");
  }
  LDAPControl* request_controls[] = {ppolicy, nullptr};
  berval user = View(dn);
  berval old_value = old_password ? View(old_password->view()) : berval{0, nullptr};
  berval new_value = View(new_password.view());
  int msgid = -1;
  int rc = ldap_passwd(ld_, &user, old_password ? &old_value : nullptr, &new_value,
                       request_controls, nullptr, &msgid);
  ldap_control_free(ppolicy);
  if (rc != LDAP_SUCCESS) return Failed(rc, OperationKind::kPasswordChange);
  auto result = Await(msgid, OperationKind::kPasswordChange);
  if (!result.ok()) return result.error();

  int err = LDAP_OTHER;
  char* errmsg = nullptr;
  LDAPControl** response_controls = nullptr;
  rc = ldap_parse_result(ld_, *result, &err, nullptr, &errmsg, nullptr, &response_controls, 1);
  std::string diag = errmsg != nullptr ? errmsg : "";
  ldap_memfree(errmsg);
  ForgetDiagnostic(ld_);
  if (rc != LDAP_SUCCESS) return Failed(rc, OperationKind::kPasswordChange);
  LDAPPasswordPolicyError pp_error = PP_noError;
  LDAPControl* response =
      ldap_control_find(LDAP_CONTROL_PASSWORDPOLICYRESPONSE, response_controls, nullptr);
  if (response != nullptr) {
    ber_int_t expire = -1;
    ber_int_t grace = -1;
    ldap_parse_passwordpolicy_control(ld_, response, &expire, &grace, &pp_error);
  }
  ldap_controls_free(response_controls);
  Outcome o = err != LDAP_SUCCESS && pp_error != PP_noError
                  ? OutcomeFromPpolicy(pp_error, diag)
                  : OutcomeFromLdap(err, diag, OperationKind::kPasswordChange);
  o.server = url_;
  return o;
}

}  // namespace wb::ldap
