#pragma once
// The agent's channel to the cloud: one outbound WebSocket (RFC 6455, subprotocol
// "wbagent.v1") over TLS, through an HTTP CONNECT proxy when configured. docs/protocol.md is
// the wire specification; this header is the daemon's contract with the channel.
//
// What the channel does by itself:
//   - dials cloud.url, verifies the server (cloud.ca_file only, the URL's host name, SNI, the
//     optional SPKI pin; TLS 1.3 unless cloud.min_tls = "1.2") and presents the agent's
//     client certificate (<state_dir>/agent.crt and agent.key, written by `wbagent register`);
//   - sends `hello` (credits and unacked result ids come from Handler::OnConnecting), checks
//     `welcome` (tenant as enrolled, then Handler::CheckWelcome, e.g. the witnessed audit head;
//     clock skew is logged);
//   - pings every heartbeat_interval and declares the peer dead when no pong came for
//     dead_after_missed_pongs intervals;
//   - reconnects after any failure with capped exponential backoff and jitter, logging the
//     first failure and every change at warn and summarising repeats (no log flood); a
//     connection that reached welcome resets the backoff, unless the agent ended it for a
//     refused frame or anything failed its checks in it (see the flood limit below);
//   - judges every frame as docs/protocol.md sections 2 to 4 say: a frame that is not a valid
//     message ends the connection with `error` and the documented close status (binary 1003,
//     another version 1002, anything else 1008; over 64 KiB 1009), except a `request`, which is
//     answered `rejected` (malformed/too_large) once OnFrameRejected has recorded it (not at
//     all when Handler::MayReject says the record may be missing); a valid message
//     at the wrong time (before welcome, a second welcome, an unasked certificate) ends it
//     with `protocol_violation`;
//   - counts the requests in flight against the credits of its hello (section 8): a request
//     beyond them is answered `rejected` queue_full unopened, then the connection ends with
//     `protocol_violation`;
//   - ends the connection (1008, no reset of the backoff) when more than max_invalid_envelopes
//     envelopes failed checks that a correct cloud never fails within invalid_envelope_window
//     (a refused `keyset` and an `error` from the cloud each count as one): a flood of forged
//     frames costs a bounded number of signature checks and log lines. The count is per
//     connection, and the backoff is not reset after a connection in which anything failed
//     its checks, so a peer that closes below the limit and reconnects waits longer each time;
//   - detects a cloud that stops reading: a write that does not complete within the dead-peer
//     time ends the connection like a missing pong;
//   - applies a signed key set (`keyset`, verified against the pinned keys, then stored in
//     <state_dir>/cloud-keys.json; a set that fails a check is answered `error` bad_keyset and
//     changes nothing), and renews the client certificate over the channel once
//     two thirds of its lifetime have passed (`renew` / `certificate`; the new certificate is
//     used from the next connection on);
//   - closes cleanly (a WebSocket close frame) on Stop, within close_timeout.
// Everything else (requests, result acks, cloud errors) goes to the Handler.
//
// Errors: each failure is converted once, where it happens, into a wb::Status whose message
// says what failed and what to check, e.g. "TLS: server certificate ... is not signed by a CA
// in /etc/wbagent/cloud-ca.pem (is a TLS-inspecting proxy in the path?)". The last one is
// kept in StateInfo::last_error for `wbagent status`.
//
// Threads: a Channel owns one I/O thread (started by Start, joined by Stop). Every Handler
// callback runs on that thread, one at a time, in the order frames arrived; a callback must
// not block for long (hand work to the queue) and must not call Stop. Send, GetState and
// WaitForState are thread-safe and may be called from any thread, including from a callback.

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "channel/backoff.h"
#include "common/clock.h"
#include "common/status.h"
#include "config/config.h"
#include "protocol/protocol.h"

namespace spdlog {
class logger;
}

namespace wb::channel {

// How to reach and authenticate the cloud. Build it with OptionsFromConfig; tests fill it in.
struct Options {
  std::string agent_id;                      // sent in hello; must match the certificate
  std::string agent_version;                 // sent in hello
  config::HostPort server;                   // TCP target, SNI and the name verified
  std::string path = "/";                    // the WebSocket target
  std::filesystem::path ca_file;             // the only trusted CAs for the server certificate
  std::optional<config::ProxyConfig> proxy;  // HTTP CONNECT proxy; password read per attempt
  config::TlsVersion min_tls = config::TlsVersion::kTls13;
  std::optional<std::array<std::uint8_t, 32>> spki_pin;  // SHA-256 of the server's SPKI
  std::filesystem::path state_dir;  // agent.crt, agent.key, enrollment.json, cloud-keys.json
  std::chrono::milliseconds connect_timeout{10'000};  // TCP + proxy + TLS + WebSocket + welcome
  std::chrono::milliseconds heartbeat_interval{30'000};
  int dead_after_missed_pongs = 2;
  std::size_t max_outgoing = 256;  // messages waiting to be written; Send refuses beyond
  BackoffPolicy backoff;
  std::chrono::milliseconds close_timeout{5'000};  // Stop's deadline for the close handshake
  // More envelopes than this failing checks that a correct cloud never fails (signature, form,
  // tenant, audience, replay; not expiry), key sets refused and `error`s from the cloud within
  // the window end the connection (1008).
  std::size_t max_invalid_envelopes = 32;
  std::chrono::milliseconds invalid_envelope_window{60'000};
  std::chrono::seconds max_clock_skew = protocol::kDefaultMaxSkew;
  bool renew_certificate = true;
};

// The channel options of a loaded config (agent.id, agent.state_dir and [cloud]).
Options OptionsFromConfig(const config::Config& config);

enum class ChannelState {
  kStopped,       // not started, or stopped
  kConnecting,    // an attempt is under way (TCP, proxy, TLS, WebSocket, hello/welcome)
  kConnected,     // welcome received and Handler::OnConnected returned; Send works
  kDisconnected,  // the last attempt failed or the connection dropped; waiting to retry
};
std::string_view ChannelStateName(ChannelState state);  // "stopped", "connecting", ...

// A snapshot for `wbagent status` and metrics.
struct StateInfo {
  ChannelState state = ChannelState::kStopped;
  WallTime since{};                             // when `state` was entered
  Status last_error;                            // the most recent failure; OK when none yet
  int failed_attempts = 0;                      // consecutive, reset by a stable connection
  std::optional<WallTime> next_attempt;         // set in kDisconnected
  std::optional<WallTime> connected_since;      // set in kConnected
  std::string tenant;                           // from the last welcome
  std::size_t queued = 0;                       // outgoing messages not yet written
  std::optional<WallTime> certificate_expires;  // of <state_dir>/agent.crt, when readable
  // This host's clock minus the cloud's, from the last welcome's server_time (so within the
  // round trip of the handshake); unset before the first welcome.
  std::optional<std::chrono::milliseconds> clock_skew;
  std::chrono::seconds max_clock_skew{0};  // Options::max_clock_skew
};

// A renewal of the agent's client certificate (and its key), for the audit trail.
struct RenewedCertificate {
  std::string subject;  // one line, RFC 2253
  WallTime not_before{};
  WallTime not_after{};
};

// What the agent announces in hello on every (re)connect.
struct HelloState {
  int credits = 0;                           // 0..protocol::kMaxCredits
  std::vector<std::string> unacked_results;  // at most protocol::kMaxUnackedResults
};

// The daemon's side. All callbacks run on the channel's I/O thread (see the top of the file).
class Handler {
 public:
  virtual ~Handler() = default;
  // Before each hello.
  virtual HelloState OnConnecting() = 0;
  // A welcome for this tenant, before anything is taken from the cloud. Not OK: the connection
  // ends with `error` witness_mismatch (the status's message) and close 1008, and the next
  // attempt backs off; e.g. the audit trail does not hold the head the cloud witnessed.
  virtual Status CheckWelcome(const protocol::Welcome& welcome) {
    (void)welcome;
    return Status::Ok();
  }
  // After a valid welcome; Send works from here on (e.g. re-send unacknowledged results).
  virtual void OnConnected(const protocol::Welcome& welcome) { (void)welcome; }
  // Request, ResultAck and ErrorMessage from the cloud. Envelope checks are the handler's
  // (protocol::OpenRequest); answer with Send(Accepted/Rejected/ResultMessage).
  virtual void OnMessage(protocol::Message message) = 0;
  // The channel answers a request itself with this `rejected`, for the audit: the frame did
  // not parse as a request, or the request was beyond the credits. Its id is never
  // authenticated. Then Settle, then MayReject: the `rejected` leaves only when that is true.
  virtual void OnFrameRejected(const protocol::Rejected& rejected) { (void)rejected; }
  // Whether a `rejected` the channel made itself may leave, asked after Settle: false once its
  // record may be missing (the agent's audit trail failed). The cloud then hears nothing and
  // sends the request again, as for the handler's own rejections.
  virtual bool MayReject() { return true; }
  // A new signed key set was verified and stored in <state_dir>/cloud-keys.json.
  virtual void OnKeySetChanged(const protocol::Jwks& keys) { (void)keys; }
  // The agent's client certificate and key were renewed and stored (agent.crt, agent.key);
  // they are used from the next connection.
  virtual void OnCertificateRenewed(const RenewedCertificate& renewed) { (void)renewed; }
  // The channel is about to judge the cloud by the answers to what it already handed over (a
  // request beyond the credits, or envelopes that failed their checks within the window):
  // returns once every message given to OnMessage before has been answered (Send called). A
  // handler that answers on another thread must implement it. It is the only place the I/O
  // thread waits for the handler's work, and only for a cloud that outruns its credits or
  // sends envelopes that a correct cloud never sends.
  virtual void Settle() {}
  // A connection attempt failed or an established connection ended; `why` is never OK.
  // Called once per such attempt, before the backoff delay; not for the close done by Stop.
  virtual void OnDisconnected(const Status& why) { (void)why; }
  // GetState() now shows a new state (connecting, connected, disconnected, stopped): called
  // after the change, so that GetState() already returns it. Must not block.
  virtual void OnStateChanged() {}
};

// Injected dependencies; the defaults are the real ones.
struct Environment {
  const Clock* clock = nullptr;         // default: a SystemClock owned by the Channel
  std::function<double()> random;       // uniform in [0, 1); default: a seeded engine
  std::shared_ptr<spdlog::logger> log;  // default: a logger that drops everything
  // Called on the I/O thread every alive_interval, from the thread's own event loop, while the
  // channel runs: a thread blocked in a callback or a read stops the calls (the watchdog's
  // heartbeat, common/liveness.h). Unset: nothing.
  std::function<void()> alive;
  std::chrono::milliseconds alive_interval{10'000};
};

class Channel {
 public:
  // Nothing happens before Start.
  explicit Channel(Options options, Environment env = {});
  ~Channel();  // Stop()s if running
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  // Checks the options that cannot change by retrying (agent id, paths set), then starts the
  // I/O thread, which connects and keeps reconnecting until Stop. Missing or bad files (not
  // enrolled, unreadable CA) are reported through StateInfo and retried, so that fixing them
  // needs no restart. Every callback goes to `handler`, which must outlive Stop. The handler
  // comes here rather than to the constructor so that the daemon can build the channel first
  // and give the pipeline its Send before the handler that feeds the pipeline exists: an order
  // with no late wiring. REQUIRES: not started.
  Status Start(Handler& handler);

  // Closes the connection cleanly (close frame, then waits for the peer's close up to
  // close_timeout, then drops the socket) and joins the I/O thread. Idempotent.
  void Stop();

  // Queues one message for the cloud. Returns kUnavailable when not connected (the message is
  // not kept: results are re-sent on the next OnConnected) and kResourceExhausted when
  // max_outgoing messages are already waiting. Messages queued but unwritten when a
  // connection drops are discarded.
  Status Send(const protocol::Message& message);

  StateInfo GetState() const;

  // Blocks until the state is `state` or `timeout` passes; returns whether it was reached.
  // For tests and for a daemon that wants to wait for its first connection.
  bool WaitForState(ChannelState state, std::chrono::milliseconds timeout) const;

  // Blocks until at least `count` connection attempts have ended (failed or dropped) since
  // Start, or `timeout` passes. For tests.
  bool WaitForAttempts(int count, std::chrono::milliseconds timeout) const;

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace wb::channel
