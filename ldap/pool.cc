#include "ldap/pool.h"

#include <algorithm>

namespace wb::ldap {
namespace {

// 1 s, 2 s, 4 s ... capped at 60 s: a down server is retried, but not on every request.
std::chrono::seconds Backoff(int failures) {
  return std::chrono::seconds(std::min(60, 1 << std::min(failures - 1, 6)));
}

// The failures that say something about this server rather than about the request: the
// transient ones, by definition (IsTransient lists every code), since a request that failed
// on its own account would fail the same way when retried.
bool IsServerFailure(const Outcome& o) { return IsTransient(o.code); }

}  // namespace

ServerPool::ServerPool(std::vector<config::LdapUrl> urls, ConnectionSettings settings,
                       Secret bind_password, int max_connections, const Clock& clock)
    : settings_(std::move(settings)),
      max_connections_(std::max(1, max_connections)),
      clock_(clock),
      bind_password_(std::make_shared<const Secret>(std::move(bind_password))) {
  for (auto& u : urls) {
    Server s;
    s.health.url = u.url;
    s.url = std::move(u);
    servers_.push_back(std::move(s));
  }
}

ServerPool::~ServerPool() = default;

ServerPool::Lease::~Lease() {
  if (pool_ != nullptr && conn_ != nullptr) pool_->Release(std::move(conn_));
}

std::vector<std::size_t> ServerPool::ConnectOrder() const {
  const auto now = clock_.Monotonic();
  std::vector<std::size_t> order;
  for (std::size_t i = 0; i < servers_.size(); ++i) {
    if (servers_[i].retry_after <= now) order.push_back(i);
  }
  for (std::size_t i = 0; i < servers_.size(); ++i) {
    if (servers_[i].retry_after > now) order.push_back(i);
  }
  return order;
}

bool ServerPool::IsPreferred(const std::string& url) const {
  auto order = ConnectOrder();
  return !order.empty() && servers_[order.front()].url.url == url;
}

void ServerPool::MarkFailed(std::size_t index, const Outcome& why) {
  Server& s = servers_[index];
  ++s.health.consecutive_failures;
  s.retry_after = clock_.Monotonic() + Backoff(s.health.consecutive_failures);
  const WallTime now = clock_.Now();
  if (s.health.healthy) s.health.failing_since = now;
  s.health.healthy = false;
  s.health.last_error = why.ToString();
  s.health.last_error_at = now;
}

void ServerPool::MarkHealthy(std::size_t index) {
  Server& s = servers_[index];
  s.health.consecutive_failures = 0;
  s.write_failed = false;
  s.retry_after = {};
  s.health.healthy = true;
  s.health.failing_since.reset();
}

Result<std::unique_ptr<Connection>, Outcome> ServerPool::OpenNew() {
  std::vector<std::pair<std::size_t, config::LdapUrl>> candidates;
  std::shared_ptr<const Secret> password;
  {
    std::lock_guard lock(mu_);
    if (bind_refused_ && clock_.Monotonic() < bind_retry_at_) return *bind_refused_;
    bind_refused_.reset();
    password = bind_password_;
    for (std::size_t i : ConnectOrder()) candidates.emplace_back(i, servers_[i].url);
  }
  std::optional<Outcome> first_refusal;
  Outcome last = MakeOutcome(OutcomeCode::kDirectoryUnavailable, "no server configured");
  bool failed_over = false;  // a server before this one failed in this attempt
  for (const auto& [index, url] : candidates) {
    auto conn = Connection::Open(url, settings_, *password);
    std::lock_guard lock(mu_);
    if (conn.ok()) {
      // Not healthy yet: only an operation's success says so (Observe). A server that binds
      // and then hangs keeps its failures, so its back-off keeps growing.
      if (failed_over) ++servers_[index].health.failovers;
      return std::move(*conn);
    }
    failed_over = true;
    MarkFailed(index, conn.error());
    last = conn.error();
    if (last.code == OutcomeCode::kServiceBindFailed) return HoldBinds(std::move(last));
    if (last.code != OutcomeCode::kDirectoryUnavailable &&
        last.code != OutcomeCode::kDirectoryTimeout && !first_refusal) {
      first_refusal = last;
    }
  }
  // A TLS refusal says more to an administrator than "unreachable" does.
  return first_refusal ? *first_refusal : last;
}

// Not the next server with the same password: every DC counts the bad logon against the one
// account (AD replicates its lockout), so one refusal is enough to know.
Outcome ServerPool::HoldBinds(Outcome refusal) {
  refusal.reason += "; no new bind for ";
  refusal.reason += std::to_string(kBindHold.count());
  refusal.reason +=
      " minutes or until `systemctl reload wbagent` (refused binds can lock the service "
      "account out)";
  bind_refused_ = refusal;
  bind_retry_at_ = clock_.Monotonic() + kBindHold;
  return refusal;
}

void ServerPool::Reload(Secret bind_password) {
  std::lock_guard lock(mu_);
  bind_password_ = std::make_shared<const Secret>(std::move(bind_password));
  bind_refused_.reset();
  for (auto& server : servers_) server.retry_after = {};
}

Result<ServerPool::Lease, Outcome> ServerPool::Acquire() {
  std::unique_lock lock(mu_);
  const auto deadline = std::chrono::steady_clock::now() + settings_.operation_timeout;
  for (;;) {
    while (!idle_.empty()) {
      std::unique_ptr<Connection> conn = std::move(idle_.back());
      idle_.pop_back();
      if (IsPreferred(conn->url())) return Lease(this, std::move(conn));
      --open_;  // a fallback connection is dropped once the preferred server is back
    }
    if (open_ < max_connections_) break;
    if (released_.wait_until(lock, deadline) == std::cv_status::timeout && idle_.empty() &&
        open_ >= max_connections_) {
      return MakeOutcome(OutcomeCode::kDirectoryUnavailable,
                         "all " + std::to_string(max_connections_) +
                             " directory connections are busy (pool_size)");
    }
  }
  ++open_;
  lock.unlock();
  auto conn = OpenNew();
  if (!conn.ok()) {
    lock.lock();
    --open_;
    released_.notify_one();
    return conn.error();
  }
  return Lease(this, std::move(*conn));
}

Outcome ServerPool::Probe() {
  {
    std::lock_guard lock(mu_);
    if (open_ >= max_connections_) return Succeeded("");  // requests are binding already
    ++open_;
  }
  auto conn = OpenNew();
  if (!conn.ok()) {
    std::lock_guard lock(mu_);
    --open_;
    released_.notify_one();
    return conn.error();
  }
  // The bind alone ends no failure row (Observe): a server that binds may still not answer.
  Outcome bound = Succeeded((*conn)->url());
  Release(std::move(*conn));
  return bound;
}

void ServerPool::Release(std::unique_ptr<Connection> conn) {
  std::lock_guard lock(mu_);
  if (conn->broken()) {
    --open_;
  } else {
    idle_.push_back(std::move(conn));
  }
  released_.notify_one();
}

void ServerPool::Observe(const std::string& url, const Outcome& outcome, bool is_write) {
  const bool failed = IsServerFailure(outcome);
  if (!failed && !outcome.ok()) return;  // a refusal, maybe the agent's own: says nothing
  std::lock_guard lock(mu_);
  for (std::size_t i = 0; i < servers_.size(); ++i) {
    Server& s = servers_[i];
    if (s.url.url != url) continue;
    if (failed) {
      MarkFailed(i, outcome);
      s.write_failed = s.write_failed || is_write;
    } else if (is_write || !s.write_failed) {
      // A read answered does not clear a failed write: a server whose reads work and whose
      // writes hang would be tried again at once after every lookup.
      MarkHealthy(i);
    }
  }
}

std::vector<ServerHealth> ServerPool::Health() const {
  std::lock_guard lock(mu_);
  std::vector<ServerHealth> out;
  for (const auto& s : servers_) out.push_back(s.health);
  return out;
}

}  // namespace wb::ldap
