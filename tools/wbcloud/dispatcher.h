#pragma once
// wbcloud's request dispatch: requests wait (on disk) until a connected agent has credit,
// are handed to one agent at a time under a lease, go back to the queue when that agent drops
// or lets the lease lapse before `accepted`, and end with the agent's `result` (acknowledged
// with `result_ack`), a rejection, or expiry.
//
// Each request is sealed at submission once per enrolled agent (the claims name the agent as
// audience and the passwords are encrypted to its key), so no password is ever stored in
// clear; agents enrolled after a submission cannot take it.
//
// Credits: an agent holds at most `credits` requests (delivered or accepted, no result yet);
// the count survives its reconnects, because an accepted request stays with the agent that
// accepted it durably.
//
// Takeover: when that agent stays away for `takeover` (crashed, host lost) while another
// agent is connected, its accepted requests go to the other agent, with the delivery count
// (protocol `request.delivery`) telling it that the first agent may have applied them, so it
// looks at the directory before it writes. The first agent, back, does the same for the
// requests it still holds (they predate its reconnection). The first result completes the
// request, except that a success from either agent replaces a failure (the password was
// set); a handed-over request that the other agent rejects, or that nobody takes before it
// expires, goes back to the first agent, which may still report.
//
// No I/O other than the state directory; not thread-safe (the server's I/O thread owns it).

#include <spdlog/logger.h>

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>

#include "common/clock.h"
#include "common/status.h"
#include "protocol/protocol.h"
#include "tools/wbcloud/cloud_state.h"

namespace wb::cloud {

// One connected agent, as the dispatcher sees it.
class AgentLink {
 public:
  virtual ~AgentLink() = default;
  virtual const std::string& agent_id() const = 0;
  // Queues a frame for the agent; false when the link's queue is full.
  virtual bool Send(std::string frame) = 0;
};

// What an agent's session reports: the dispatcher of `serve`, or the generator of `load`.
// Called on the server's I/O thread.
class AgentEvents {
 public:
  virtual ~AgentEvents() = default;
  virtual void AgentConnected(AgentLink& link, int credits) = 0;
  virtual void AgentDisconnected(AgentLink& link) = 0;
  virtual void OnCredits(AgentLink& link, int credits) = 0;
  virtual void OnAccepted(AgentLink& link, const std::string& id) = 0;
  virtual void OnRejected(AgentLink& link, const protocol::Rejected& m) = 0;
  virtual void OnResult(AgentLink& link, const protocol::ResultMessage& m) = 0;
  virtual void OnPolicySummary(AgentLink& link, const protocol::PolicySummary& m) = 0;
};

struct SubmitSpec {
  std::vector<protocol::Operation> operations;
  protocol::Target target;
  protocol::Requester requester;
  std::string correlation_id;  // empty: derived from the request id
  std::chrono::seconds ttl{600};
  // Testing and demos only: deliver a deliberately broken envelope. One of "",
  // "bad-signature", "unknown-kid", "expired", "not-yet-valid", "wrong-key", "oversized",
  // "malformed", "unparsable" (the request frame does not parse: a control character).
  std::string fault;
};

struct DispatcherOptions {
  std::chrono::seconds lease{30};          // delivered without `accepted` this long: redeliver
  std::chrono::seconds takeover{60};       // accepted by an agent away this long: hand over
  std::chrono::seconds retry_delay{5};     // after `rejected` queue_full / unavailable
  std::chrono::seconds result_grace{600};  // accepted, no result this long past expiry: give up
};

class Dispatcher final : public AgentEvents {
 public:
  Dispatcher(CloudState& state, const Clock& clock, spdlog::logger& log, DispatcherOptions options);

  // Loads the requests on disk; a request that was delivered but not accepted is pending again.
  Status Load();

  Result<std::string> Submit(const SubmitSpec& spec, const protocol::Passwords* passwords);
  const RequestRecord* Find(std::string_view id) const;
  nlohmann::json StatusJson() const;
  static nlohmann::json ResultJson(const RequestRecord& r);

  void AgentConnected(AgentLink& link, int credits) override;
  void AgentDisconnected(AgentLink& link) override;
  void OnCredits(AgentLink& link, int credits) override;
  void OnAccepted(AgentLink& link, const std::string& id) override;
  void OnRejected(AgentLink& link, const protocol::Rejected& m) override;
  void OnResult(AgentLink& link, const protocol::ResultMessage& m) override;
  // Keeps the agent's latest policy summary (in memory: every agent sends it again after each
  // welcome), for `wbcloud status` and for a reset page to show the rules.
  void OnPolicySummary(AgentLink& link, const protocol::PolicySummary& m) override;

  // Expires leases and requests and dispatches; returns when it wants to run again.
  std::optional<std::chrono::steady_clock::time_point> Tick();

  // Called when a request reaches kDone (for `submit --wait`).
  std::function<void(const std::string& id)> on_done;

 private:
  struct Link {
    AgentLink* link = nullptr;
    int credits = 0;
    WallTime since{};
  };
  void Dispatch();
  bool TryDeliver(RequestRecord& r);
  void Requeue(RequestRecord& r, bool front);
  void Complete(RequestRecord& r, std::string outcome, std::string reject_code, std::string reason,
                std::string note);
  void Release(RequestRecord& r);
  // A handed-over request nobody else could finish goes back to the agent that accepted it.
  void GiveBack(RequestRecord& r, std::string_view why);
  // Whether a connected agent other than r.agent has an envelope for r.
  bool AnotherAgentCanTake(const RequestRecord& r) const;
  void Persist(const RequestRecord& r);
  RequestRecord* Lookup(const std::string& id);
  Result<std::string> Seal(const SubmitSpec& spec, protocol::RequestClaims claims,
                           const protocol::Passwords* passwords, const AgentRecord& agent);

  CloudState& state_;
  const Clock& clock_;
  spdlog::logger& log_;
  DispatcherOptions options_;
  std::map<std::string, RequestRecord> requests_;
  std::deque<std::string> pending_;                       // ids, delivery order
  std::map<std::string, Link> links_;                     // by agent id: the current link
  std::map<std::string, std::set<std::string>> held_;     // agent id -> delivered/accepted ids
  std::map<std::string, const AgentLink*> delivered_on_;  // request id -> the link it went to
  // agent id -> when its link dropped (or this process started): agents not connected now.
  std::map<std::string, std::chrono::steady_clock::time_point> away_since_;
  struct ReceivedSummary {
    protocol::PolicySummary summary;
    WallTime at;
  };
  std::map<std::string, ReceivedSummary> summaries_;  // by agent id
};

}  // namespace wb::cloud
