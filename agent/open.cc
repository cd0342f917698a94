#include "agent/open.h"

#include <algorithm>

#include "agent/breaker_file.h"
#include "agent/request_mapping.h"

namespace wb::agent {

Result<std::unique_ptr<ldap::Router>> OpenDirectories(const config::Config& config,
                                                      const Clock& clock) {
  std::vector<std::unique_ptr<ldap::Directory>> dirs;
  for (const auto& d : config.directories) {
    auto dir = ldap::OpenDirectory(d, clock);
    if (!dir.ok()) return dir.error();
    dirs.push_back(std::move(*dir));
  }
  return std::make_unique<ldap::Router>(std::move(dirs), config.directories);
}

namespace {

std::chrono::seconds LongestWindow(const config::RateLimitsConfig& l) {
  return std::max({l.per_account.window, l.per_requester.window, l.overall.window});
}

}  // namespace

Result<std::vector<policy::PastRequest>> RateLimitHistory(const config::Config& config,
                                                          queue::Queue& queue, const Clock& clock) {
  const WallTime since = clock.Now() - LongestWindow(config.policy.rate_limits);
  // Only the windows' records are read: a week of retained records stays on disk.
  auto records = queue.List({.limit = 100000, .newest_first = true, .received_since = since});
  if (!records.ok()) return records.error();
  std::vector<policy::PastRequest> out;
  for (const auto& r : *records) {
    // Admit counts a request it lets through, and only those are marked ready: one denied
    // later, by the account or password checks (denied_group, password_banned, a failing
    // validate), was counted and counts again here. One denied at admission (rate_limited,
    // too few methods) or held by the breaker was not. (One an administrator released from the
    // breaker was not counted by Admit but counts here: stricter after a restart, never looser.)
    if (!r.ready_at) continue;
    out.push_back({RequesterOf(r.info).id, r.info.account_key, r.received_at});
  }
  return out;
}

Status CheckPolicyFiles(const config::Config& config, const Clock& clock) {
  auto opened = policy::Policy::Open(config, clock, {}, {});
  return opened.ok() ? Status::Ok() : opened.error();
}

Result<std::unique_ptr<policy::Policy>> OpenPolicy(const config::Config& config,
                                                   const std::vector<policy::PastRequest>& history,
                                                   const Clock& clock) {
  auto kept = ReadBreakerFile(config.agent.state_dir);
  if (!kept.ok()) return kept.error().WithContext("breaker state");
  return policy::Policy::Open(config, clock, history, kept->state);
}

}  // namespace wb::agent
