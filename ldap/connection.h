#pragma once
// One verified, bound LDAP connection (internal to ldap/).
//
// Every connection is TLS with certificate and host-name verification against the
// directory's CA file, through LDAPS or StartTLS; plaintext LDAP is never used. The TCP
// connect, TLS handshake and bind are bounded by connect_timeout even when a server accepts
// TCP and then never answers (libldap's own timeouts do not bound the handshake, so the
// socket is ours and a watchdog shuts it down at the deadline). Every later operation is
// asynchronous and bounded by operation_timeout; on timeout it is abandoned and the
// connection is marked broken. A failed TLS handshake (not a timed-out one) is explained by a
// second, diagnostic handshake (ldap/tls_probe.h), itself bounded by connect_timeout.
//
// Not thread-safe: one thread uses a Connection at a time (the pool hands it out).
// The first Open() sets SIGPIPE to be ignored in the process: a peer that closes the socket
// must fail an operation, not kill the daemon.

#include <ldap.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/secret.h"
#include "common/status.h"
#include "config/config.h"
#include "ldap/outcome.h"

namespace wb::ldap {

// Attribute names are lower-cased keys; values are binary-safe.
struct Entry {
  std::string dn;
  std::map<std::string, std::vector<std::string>> attributes;
  // The first value of `name` (lower-case), or nullopt.
  std::optional<std::string> First(const std::string& name) const;
  const std::vector<std::string>& All(const std::string& name) const;
};

struct Modification {
  int op;  // LDAP_MOD_ADD, LDAP_MOD_REPLACE or LDAP_MOD_DELETE
  std::string attribute;
  // Views into caller-owned bytes (a password stays in its Secret; nothing is copied).
  std::vector<std::string_view> values;
};

// A request control to send with an operation.
struct RequestControl {
  std::string oid;
  std::string value;  // BER-encoded; empty for none
  bool critical = false;
};

struct ConnectionSettings {
  std::filesystem::path ca_file;
  config::BindMethod bind_method = config::BindMethod::kSimple;
  std::string bind_dn;
  std::optional<std::filesystem::path> client_cert_file;
  std::optional<std::filesystem::path> client_key_file;
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds operation_timeout{10000};
  // The largest LDAP message read from the server; a larger one fails the read, and the
  // connection is broken. Bounds what a server (or anything in its place) can make the agent
  // allocate; far above what the agent reads (an entry, its groups, a policy).
  std::size_t max_response_bytes = 32u << 20;
};

class Connection {
 public:
  // The steps of Open, in order: the one a failure happened in tells a TLS failure from a
  // bind the server could not complete (both may be directory_unavailable or _timeout).
  enum class Step { kConnect, kTls, kBind };
  // Connects to `url`, verifies TLS and binds. `bind_password` is used only during this call.
  // `reached`, when given, is set to the last step begun.
  static Result<std::unique_ptr<Connection>, Outcome> Open(const config::LdapUrl& url,
                                                           const ConnectionSettings& settings,
                                                           const Secret& bind_password,
                                                           Step* reached = nullptr);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  const std::string& url() const { return url_; }
  // True after a timeout or a connection-level error: the pool must not reuse it.
  bool broken() const { return broken_; }
  // How many requests this connection has sent (each counted once it is out). A caller
  // compares the count before and after a sequence of operations: when it did not move, the
  // server cannot have acted on any of them, so a write may be retried on another connection.
  std::uint64_t requests_sent() const { return requests_sent_; }

  // The entries under `base` in `scope` that match `filter`, at most `size_limit` of them
  // (0: no limit of the agent's). An answer the server cut short below `size_limit` (its own
  // size limit for the service account, LDAP sizeLimitExceeded) is kInternalError naming that
  // limit: more entries match than it returned, so a caller that counts them (a lookup asks
  // for 2 to tell a unique account from an ambiguous one) must not take the answer as whole.
  // sizeLimitExceeded with `size_limit` entries returned is the agent's own limit: success.
  Result<std::vector<Entry>, Outcome> Search(const std::string& base, int scope,
                                             const std::string& filter,
                                             const std::vector<std::string>& attributes,
                                             int size_limit = 0,
                                             const std::vector<RequestControl>& controls = {});
  // A sample: like Search, but an answer cut short by the server's limit is an answer, with
  // `more` set (also when the agent's own `size_limit` was reached and more matched).
  struct Sample {
    std::vector<Entry> entries;
    bool more = false;
  };
  Result<Sample, Outcome> SearchSample(const std::string& base, int scope,
                                       const std::string& filter,
                                       const std::vector<std::string>& attributes, int size_limit,
                                       const std::vector<RequestControl>& controls = {});
  // Whether the entry `dn` matches `filter`, as the server evaluates it: a base-scope search
  // that asks for no attributes. A filter libldap cannot parse, or whose matching rule the
  // server does not know, is kInternalError (OutcomeFromLdap); the connection stays usable.
  Result<bool, Outcome> Matches(const std::string& dn, const std::string& filter);
  Outcome Modify(const std::string& dn, const std::vector<Modification>& mods,
                 const std::vector<RequestControl>& controls = {},
                 OperationKind kind = OperationKind::kWrite);
  // RFC 3062 Password Modify with the ppolicy request control; the ppolicy response, when
  // present, decides the outcome. `old_password` may be null (an administrative reset).
  Outcome PasswordModify(const std::string& dn, const Secret* old_password,
                         const Secret& new_password);

 private:
  Connection(LDAP* ld, std::string url, std::chrono::milliseconds op_timeout)
      : ld_(ld), url_(std::move(url)), op_timeout_(op_timeout) {}
  Outcome Bind(const ConnectionSettings& settings, const Secret& bind_password);
  // Waits for the complete result of `msgid`; abandons it on timeout.
  Result<LDAPMessage*, Outcome> Await(int msgid, OperationKind kind);
  // The kInternalError of Search for an answer the server cut short at `returned` entries.
  Outcome ServerSizeLimitHit(std::size_t returned, int size_limit) const;
  Outcome Failed(int rc, OperationKind kind);
  Outcome Finish(LDAPMessage* result, OperationKind kind);

  LDAP* ld_;
  std::string url_;
  std::chrono::milliseconds op_timeout_;
  bool broken_ = false;
  std::uint64_t requests_sent_ = 0;
};

}  // namespace wb::ldap
