#pragma once
// The agent's health, as Prometheus metrics and as the view `wbagent status` shows.
//
// One structure, three readers. The daemon takes a Snapshot from its components (the channel,
// the directories, the queue, the policy's breaker, the audit trail, the certificate) and from
// the Recorder the pipeline counts into; status.json, the Prometheus text (RenderText) and the
// readiness answer (ReadinessOf) are each rendered from that one Snapshot. Nothing here keeps
// a second copy of a component's state: a Snapshot is taken when it is read.
//
// Recorder: what the components cannot answer for afterwards, counted as it happens —
// requests by operation and outcome, policy decisions by rule, channel reconnects by reason,
// and four latency histograms. Thread-safe; each call takes one short lock. Counters only
// grow (a restart starts them at zero, which Prometheus's rate() understands).
//
// Endpoint: a tiny HTTP/1.1 server on a loopback address (`[metrics] listen`):
//   GET /metrics   200, the Prometheus text format 0.0.4 (names prefixed wbagent_, each with
//                  HELP and TYPE)
//   GET /healthz   200 "ok": the process answers (liveness)
//   GET /readyz    200 "ready", or 503 with one line per reason: the channel is not connected,
//                  or a directory has no reachable server (readiness)
//   anything else  404 (unknown path) or 405 (a method other than GET or HEAD)
// One thread, which sleeps in the kernel until a client connects (no timer, no polling). It
// serves one connection at a time, one request per connection (Connection: close), so a
// client holds it at most `read_timeout` + `write_timeout`: a request head over
// `max_request_bytes` is answered 431, a client silent past `read_timeout` is dropped, and a
// malformed request is answered 400. Nothing a client sends reaches the daemon's state: the
// endpoint only reads Snapshots.
//
//   Start (bound, thread running) --Stop--> stopped (thread joined; idempotent)

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "common/clock.h"
#include "common/status.h"

namespace wb::metrics {

// --- Histograms --------------------------------------------------------------------------

// The upper bounds (seconds) of the latency histograms' buckets, +Inf implied: from a
// millisecond (an envelope check) to ten minutes (a request that waited out back-offs).
inline constexpr std::array<double, 14> kLatencyBounds = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 60, 600};

struct HistogramCounts {
  // cumulative[i]: observations <= kLatencyBounds[i] (cumulative, as Prometheus wants them).
  std::array<std::uint64_t, kLatencyBounds.size()> cumulative{};
  std::uint64_t count = 0;  // all observations (the +Inf bucket)
  double sum = 0;           // seconds
  // Adds one observation. A negative duration (a wall clock stepped back) counts as zero.
  void Observe(std::chrono::duration<double> d);
};

// --- What the pipeline and the channel count -----------------------------------------------

struct Recorded {
  // (operation, outcome) -> requests ended so. operation: the request's operations in the
  // protocol's words and order, joined with '+' ("reset+unlock"; agent's OperationsLabel);
  // outcome: the stable outcome code of docs/troubleshooting.md.
  std::map<std::pair<std::string, std::string>, std::uint64_t> requests;
  // (stage, rule, decision) -> decisions. stage: "admission", "account", "password",
  // "breaker release", "breaker reject"; rule: the rule's name ("" for none matched);
  // decision: "allow", "deny", "would_deny", "hold".
  std::map<std::tuple<std::string, std::string, std::string>, std::uint64_t> decisions;
  std::map<std::string, std::uint64_t> reconnects;  // reason (a status code name) -> count
  HistogramCounts envelope_check;   // the envelope checks of a request (signature ... decrypt)
  HistogramCounts queue_wait;       // from receipt to the start of each directory attempt
  HistogramCounts directory_write;  // one directory write (Apply)
  HistogramCounts stay;             // from receipt to the end of the request
};

class Recorder {
 public:
  enum class Latency { kEnvelopeCheck, kQueueWait, kDirectoryWrite, kStay };

  void CountRequest(std::string_view operation, std::string_view outcome);
  void CountDecision(std::string_view stage, std::string_view rule, std::string_view decision);
  void CountReconnect(std::string_view reason);
  void Observe(Latency which, std::chrono::duration<double> d);
  Recorded Read() const;

 private:
  mutable std::mutex mu_;
  Recorded recorded_;  // guarded by mu_
};

// --- The snapshot ------------------------------------------------------------------------

struct Snapshot {
  std::string version;
  long pid = 0;
  bool dumpable = false;

  struct Channel {
    std::string state;                    // channel::ChannelStateName's
    std::vector<std::string> all_states;  // every state's name, for the state gauge
    bool connected = false;               // the state in which requests can arrive
    WallTime since{};
    std::string last_error;  // empty when none
    std::string tenant;
    std::optional<double> clock_skew_seconds;
    std::int64_t max_clock_skew_seconds = 0;
  };
  std::optional<Channel> channel;

  struct Server {
    std::string directory;
    std::string url;
    bool healthy = true;
    std::string last_error;
    std::optional<WallTime> last_error_at;
    std::optional<WallTime> failing_since;
    int consecutive_failures = 0;  // ldap::ServerHealth's: failures in a row
    std::uint64_t failovers = 0;  // connections that went here after an earlier server failed
  };
  std::vector<Server> servers;

  struct Breaker {
    bool tripped = false;
    std::optional<WallTime> tripped_at;
  };
  std::optional<Breaker> breaker;

  std::optional<WallTime> last_success;
  std::optional<WallTime> last_failure;
  std::string last_failure_outcome;

  // Filled only for the metrics (Detail::kFull): reading them costs a database query and a
  // file read, which a status rewrite at every finished request does not need.
  struct Queue {
    std::vector<std::pair<std::string, std::int64_t>> by_state;  // queue::StateName's -> count
    std::optional<std::chrono::seconds> oldest_pending_age;      // of the oldest unfinished
  };
  std::optional<Queue> queue;
  // Until the agent's TLS certificate expires (negative: expired); unset while it is unknown
  // (not enrolled, unreadable).
  std::optional<std::chrono::duration<double>> certificate_expires_in;
  std::optional<std::uint64_t> audit_append_failures;

  Recorded recorded;
};

// How much a Snapshot holds.
enum class Detail { kStatus, kFull };

// The Prometheus text exposition format 0.0.4 of `s`.
std::string RenderText(const Snapshot& s);

struct Readiness {
  bool ready = false;
  std::string why;  // one line per reason it is not ready; "ready" when it is
};
// Ready when the channel is connected and every directory has a healthy server.
Readiness ReadinessOf(const Snapshot& s);

// --- The HTTP endpoint -------------------------------------------------------------------

class Endpoint {
 public:
  struct Options {
    std::string address;     // a loopback IP address (config::ParseLoopbackListen checked it)
    std::uint16_t port = 0;  // 0: any free port (tests)
    std::chrono::milliseconds read_timeout{5000};
    std::chrono::milliseconds write_timeout{5000};
    std::size_t max_request_bytes = 8192;
  };
  // Called on the endpoint's thread for each scrape of /metrics and /readyz: must be
  // thread-safe with respect to the components it reads.
  using Source = std::function<Snapshot()>;

  // Binds and starts the thread. kUnavailable (naming the address) when it cannot listen.
  static Result<std::unique_ptr<Endpoint>> Start(Options options, Source source);
  ~Endpoint();  // Stop()
  Endpoint(const Endpoint&) = delete;
  Endpoint& operator=(const Endpoint&) = delete;

  std::uint16_t port() const;  // the bound port
  // Closes the listener, drops a connection in progress and joins the thread. Idempotent.
  void Stop();

  class Impl;

 private:
  explicit Endpoint(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace wb::metrics
