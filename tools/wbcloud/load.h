#pragma once
// `wbcloud load`: a load generator for one enrolled agent (issue #18, bench/load.sh).
//
// It takes the state directory's lock and listens on the agent's cloud URL itself, as the
// cloud for the run, with serve's TLS endpoint and agent sessions (so `serve` must be
// stopped). Before the agent connects it seals every envelope (a reset with a fresh random
// password each, over the users round robin; the passwords exist only while sealing). Then
// it sends them over the one channel, never more in flight than the agent's credits (and
// --concurrency), keeps nothing on disk per request, acknowledges each result and prints
// what it measured:
//   closed loop (no --rate): a new request as soon as one ends;
//   open loop (--rate R): request i is due at start + i / R, and its latency counts from
//     then, so that waiting for a credit is part of it.
// Latencies are exact percentiles over all samples; every outcome other than `succeeded`
// is counted by name ("rejected:CODE" for a rejection, "no_result" when none came in time).

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "config/config.h"

namespace wb::cloud {

struct LoadOptions {
  std::filesystem::path state_dir;
  std::optional<config::HostPort> listen;  // default: the host and port of DIR/agent-url
  std::string agent;                       // empty: the only enrolled agent
  std::filesystem::path users_file;        // one user per line; or:
  std::string user_pattern;                // with %d, expanded for 0 .. user_count-1
  int user_count = 0;
  std::string kind = "uid";  // how users are named: upn, sam, uid, mail, dn
  int requests = 0;          // 0: rate x duration (open loop only)
  double rate = 0;           // requests per second; 0: closed loop
  double duration_seconds = 0;
  int concurrency = 0;                       // 0: as many as the agent's credits
  std::chrono::seconds connect_timeout{60};  // for the agent to connect and say hello
  std::chrono::seconds result_timeout{60};   // for each result, from its send
  bool json = false;
  std::string log_level = "warn";
};

// Usage errors, each naming its option (the command exits 2).
Status CheckLoadOptions(const LoadOptions& o);
// How many requests the run sends: --requests, or rate x duration.
std::size_t RequestCount(const LoadOptions& o);
// The users from --users-file (blank lines and lines starting with # skipped) or
// --user-pattern; kInvalidArgument when there are none.
Result<std::vector<std::string>> LoadUsers(const LoadOptions& o);

// The open loop: how long after the start request i is due.
std::chrono::nanoseconds ScheduledOffset(std::size_t i, double rate);

struct LatencySummary {
  std::size_t count = 0;
  double p50_ms = 0, p90_ms = 0, p99_ms = 0, max_ms = 0;
};
LatencySummary Summarize(std::vector<double> samples_ms);

// What a run saw, and its report.
struct LoadReport {
  std::string mode;  // "closed" or "open"
  double offered_per_second = 0;
  int credits = 0;
  int concurrency = 0;  // the in-flight bound used: min(credits, --concurrency)
  std::size_t requests = 0;
  std::size_t users = 0;
  double seconds = 0;                // first send (or first due time) to last result
  std::vector<double> latencies_ms;  // of requests with a result, in arrival order
  std::vector<double> send_lag_ms;   // open loop: how late each request left
  std::map<std::string, std::size_t> outcomes;
  double cpu_ms = 0;  // this process's user+system CPU over the run (after sealing)
  double seal_seconds = 0;

  nlohmann::json ToJson() const;
  std::string Text() const;
  bool AllSucceeded() const;
};

// Runs `wbcloud load`; returns the exit code (0 all succeeded, 1 otherwise).
int RunLoad(const LoadOptions& options);

}  // namespace wb::cloud
