#pragma once
// Connections to one directory's servers, with failover and a health state per server
// (internal to ldap/).
//
// Servers are tried in the configured order of preference; a server that failed is tried
// after the healthy ones until its back-off passes, and a connection to a less preferred
// server is not kept once a more preferred one is healthy again. At most `max_connections`
// are open; Acquire() waits (bounded by the operation timeout) when all are in use.
//
// A refused service-account bind holds every new connection of the pool for kBindHold, or
// until Reload: the same password would be refused again, and each refusal counts as a bad
// logon that can lock the service account out (on AD, on every DC). The hold's outcome says so.
// Thread-safe.

#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "common/clock.h"
#include "ldap/connection.h"
#include "ldap/directory.h"

namespace wb::ldap {

class ServerPool {
 public:
  static constexpr std::chrono::minutes kBindHold{5};

  ServerPool(std::vector<config::LdapUrl> urls, ConnectionSettings settings, Secret bind_password,
             int max_connections, const Clock& clock);
  ~ServerPool();

  // A borrowed connection; returned to the pool when destroyed (closed if broken).
  class Lease {
   public:
    Lease(ServerPool* pool, std::unique_ptr<Connection> conn)
        : pool_(pool), conn_(std::move(conn)) {}
    Lease(Lease&&) noexcept = default;
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    Connection* operator->() { return conn_.get(); }
    Connection& operator*() { return *conn_; }

   private:
    ServerPool* pool_;
    std::unique_ptr<Connection> conn_;
  };

  Result<Lease, Outcome> Acquire();
  std::vector<ServerHealth> Health() const;
  // Records the outcome of an operation on a connection to `url`: a failure of the server
  // (unreachable, timeout, TLS, bind) marks it unhealthy and grows its back-off; a success
  // marks it healthy and ends its back-off, except that after a failed write only a write's
  // success does. A refusal (the agent's own, or the server's for this request) changes
  // nothing, and neither does a new connection or its bind.
  void Observe(const std::string& url, const Outcome& outcome, bool is_write);
  // Opens one new connection (the service account's bind) and keeps it idle: the bind's
  // outcome, or kSucceeded without a server when every connection is in use.
  Outcome Probe();
  // The administrator fixed something (systemctl reload): new connections bind with
  // `bind_password`, the bind hold ends and every server may be tried at once. Connections
  // already open stay (they are bound).
  void Reload(Secret bind_password);

 private:
  struct Server {
    config::LdapUrl url;
    ServerHealth health;
    std::chrono::steady_clock::time_point retry_after{};
    // health.consecutive_failures sets the back-off.
    bool write_failed = false;  // a write failed in the current row of failures
  };
  void Release(std::unique_ptr<Connection> conn);
  std::vector<std::size_t> ConnectOrder() const;           // REQUIRES: mu_ held
  bool IsPreferred(const std::string& url) const;          // REQUIRES: mu_ held
  void MarkFailed(std::size_t index, const Outcome& why);  // REQUIRES: mu_ held
  void MarkHealthy(std::size_t index);                     // REQUIRES: mu_ held
  Result<std::unique_ptr<Connection>, Outcome> OpenNew();  // REQUIRES: mu_ not held
  Outcome HoldBinds(Outcome refusal);                      // REQUIRES: mu_ held

  const ConnectionSettings settings_;
  const int max_connections_;
  const Clock& clock_;
  mutable std::mutex mu_;
  std::shared_ptr<const Secret> bind_password_;  // guarded by mu_; replaced by Reload
  std::optional<Outcome> bind_refused_;          // guarded by mu_: the hold, while it lasts
  std::chrono::steady_clock::time_point bind_retry_at_{};  // guarded by mu_
  std::condition_variable released_;
  std::vector<Server> servers_;                    // guarded by mu_
  std::vector<std::unique_ptr<Connection>> idle_;  // guarded by mu_
  int open_ = 0;                                   // guarded by mu_: idle + leased + opening
};

}  // namespace wb::ldap
