#include "tools/wbcloud/dispatcher.h"

#include <algorithm>

#include "common/log_escape.h"

namespace wb::cloud {
namespace {

using Json = nlohmann::json;
using std::chrono::steady_clock;

std::string Summary(const SubmitSpec& spec) {
  std::string ops;
  for (auto op : spec.operations) {
    if (!ops.empty()) ops += ',';
    ops += protocol::OperationName(op);
  }
  return ops + " " + std::string(protocol::TargetKindName(spec.target.kind)) + "=" +
         EscapeForLog(spec.target.value, 128);
}

// Breaks an envelope on purpose (see SubmitSpec::fault).
std::string Tamper(std::string envelope, std::string_view fault) {
  if (fault == "bad-signature") {
    const std::size_t sig = envelope.rfind('.') + 5;
    if (sig < envelope.size()) envelope[sig] = envelope[sig] == 'A' ? 'B' : 'A';
  } else if (fault == "oversized") {
    envelope += std::string(protocol::kMaxEnvelopeBytes, 'A');
  } else if (fault == "malformed") {
    envelope = "not-a-jws";
  } else if (fault == "unparsable") {
    envelope = "not-a-jws\x01";
  }
  return envelope;
}

}  // namespace

Dispatcher::Dispatcher(CloudState& state, const Clock& clock, spdlog::logger& log,
                       DispatcherOptions options)
    : state_(state), clock_(clock), log_(log), options_(options) {}

Status Dispatcher::Load() {
  auto loaded = state_.LoadRequests();
  if (!loaded.ok()) return loaded.error();
  for (auto& r : *loaded) {
    if (r.state == RequestState::kPending) pending_.push_back(r.id);
    if (r.state == RequestState::kAccepted) {
      held_[r.agent].insert(r.id);
      away_since_.try_emplace(r.agent, steady_clock::now());  // until it connects
    }
    requests_[r.id] = std::move(r);
  }
  log_.info("loaded {} request(s), {} pending", requests_.size(), pending_.size());
  return Status::Ok();
}

Result<std::string> Dispatcher::Seal(const SubmitSpec& spec, protocol::RequestClaims claims,
                                     const protocol::Passwords* passwords,
                                     const AgentRecord& agent) {
  claims.audience = agent.id;
  const WallTime now = clock_.Now();
  if (spec.fault == "expired") {
    claims.issued_at = now - std::chrono::minutes(20);
    claims.expires_at = now - std::chrono::minutes(10);
  } else if (spec.fault == "not-yet-valid") {
    claims.issued_at = now + std::chrono::minutes(10);
    claims.expires_at = now + std::chrono::minutes(20);
  }
  if (spec.fault == "unknown-kid" || spec.fault == "wrong-key") {
    auto other = protocol::EcPrivateKey::Generate();
    if (!other.ok()) return other.error();
    if (spec.fault == "unknown-kid") {
      return protocol::SealRequest(claims, passwords, *other, other->PublicJwk().kid,
                                   agent.encryption_key);
    }
    return protocol::SealRequest(claims, passwords, state_.signing_key(), state_.signing_kid(),
                                 other->PublicJwk("enc", "ECDH-ES"));
  }
  auto sealed = protocol::SealRequest(claims, passwords, state_.signing_key(), state_.signing_kid(),
                                      agent.encryption_key);
  if (!sealed.ok()) return sealed;
  return Tamper(std::move(*sealed), spec.fault);
}

Result<std::string> Dispatcher::Submit(const SubmitSpec& spec,
                                       const protocol::Passwords* passwords) {
  if (state_.agents().empty()) {
    return FailedPrecondition(
        "no agent is enrolled yet: create a token with `wbcloud token "
        "create` and run `wbagent register`");
  }
  const WallTime now = std::chrono::time_point_cast<std::chrono::seconds>(clock_.Now());
  protocol::RequestClaims claims;
  claims.id = protocol::NewRequestId();
  claims.tenant = state_.tenant();
  claims.issued_at = now;
  claims.expires_at = now + spec.ttl;
  claims.nonce = protocol::NewNonce();
  claims.operations = spec.operations;
  claims.target = spec.target;
  claims.requester = spec.requester;
  claims.correlation_id =
      spec.correlation_id.empty() ? "wbcloud-" + claims.id.substr(0, 8) : spec.correlation_id;

  RequestRecord r;
  r.id = claims.id;
  r.created = now;
  r.expires = claims.expires_at;
  r.summary = Summary(spec);
  for (const auto& [id, agent] : state_.agents()) {
    auto envelope = Seal(spec, claims, passwords, agent);
    if (!envelope.ok()) return envelope.error();
    r.envelopes[id] = std::move(*envelope);
  }
  Persist(r);
  log_.info("request {} submitted: {} (expires {})", r.id, r.summary, FormatUtcSeconds(r.expires));
  pending_.push_back(r.id);
  const std::string id = r.id;
  requests_[id] = std::move(r);
  Dispatch();
  return id;
}

const RequestRecord* Dispatcher::Find(std::string_view id) const {
  auto it = requests_.find(std::string(id));
  return it == requests_.end() ? nullptr : &it->second;
}

RequestRecord* Dispatcher::Lookup(const std::string& id) {
  auto it = requests_.find(id);
  return it == requests_.end() ? nullptr : &it->second;
}

void Dispatcher::Persist(const RequestRecord& r) {
  Status s = state_.SaveRequest(r);
  if (!s.ok()) log_.error("cannot store request {}: {}", r.id, s.ToString());
}

bool Dispatcher::TryDeliver(RequestRecord& r) {
  if (r.retry_after && clock_.Now() < *r.retry_after) return false;
  // The connected agent with an envelope for this request, credit left, and the least load.
  Link* best = nullptr;
  std::size_t best_load = 0;
  for (auto& [agent_id, link] : links_) {
    if (r.envelopes.count(agent_id) == 0) continue;
    const std::size_t load = held_[agent_id].size();
    if (load >= static_cast<std::size_t>(std::max(link.credits, 0))) continue;
    if (best == nullptr || load < best_load) {
      best = &link;
      best_load = load;
    }
  }
  if (best == nullptr) return false;
  const std::string& agent_id = best->link->agent_id();
  // Deliveries an agent refused kept nothing there: they do not make the next agent look.
  const int delivery = std::clamp(r.deliveries + 1 - r.refusals, 1, protocol::kMaxDelivery);
  if (!best->link->Send(protocol::Serialize(protocol::Request{r.envelopes[agent_id], delivery}))) {
    return false;
  }
  r.state = RequestState::kDelivered;
  r.agent = agent_id;
  r.retry_after.reset();
  ++r.deliveries;
  r.lease_until = steady_clock::now() + options_.lease;
  held_[agent_id].insert(r.id);
  delivered_on_[r.id] = best->link;
  Persist(r);
  log_.info("request {} delivered to agent {} (delivery {})", r.id, agent_id, r.deliveries);
  return true;
}

void Dispatcher::Dispatch() {
  for (auto it = pending_.begin(); it != pending_.end();) {
    RequestRecord* r = Lookup(*it);
    if (r == nullptr || r->state != RequestState::kPending) {
      it = pending_.erase(it);
      continue;
    }
    if (TryDeliver(*r)) {
      it = pending_.erase(it);
    } else {
      ++it;
    }
  }
}

void Dispatcher::Release(RequestRecord& r) {
  if (!r.agent.empty()) held_[r.agent].erase(r.id);
  delivered_on_.erase(r.id);
}

void Dispatcher::Requeue(RequestRecord& r, bool front) {
  Release(r);
  r.state = RequestState::kPending;
  r.agent.clear();
  Persist(r);
  if (front) {
    pending_.push_front(r.id);
  } else {
    pending_.push_back(r.id);
  }
}

void Dispatcher::GiveBack(RequestRecord& r, std::string_view why) {
  Release(r);
  r.state = RequestState::kAccepted;
  r.agent = r.handed_over_from;
  r.retry_after.reset();
  held_[r.agent].insert(r.id);
  Persist(r);
  log_.warn("request {}: {}; it stays with agent {}, which accepted it first and may still report",
            r.id, why, r.agent);
}

void Dispatcher::Complete(RequestRecord& r, std::string outcome, std::string reject_code,
                          std::string reason, std::string note) {
  Release(r);
  r.state = RequestState::kDone;
  r.outcome = std::move(outcome);
  r.reject_code = std::move(reject_code);
  r.reason = std::move(reason);
  r.note = std::move(note);
  if (!r.completed_at) r.completed_at = clock_.Now();
  Persist(r);
  log_.info("request {} done: {}{}", r.id, r.outcome,
            r.reject_code.empty() ? "" : " (" + r.reject_code + ")");
  if (on_done) on_done(r.id);
}

bool Dispatcher::AnotherAgentCanTake(const RequestRecord& r) const {
  for (const auto& [agent_id, link] : links_) {
    if (agent_id != r.agent && r.envelopes.count(agent_id) != 0) return true;
  }
  return false;
}

void Dispatcher::AgentConnected(AgentLink& link, int credits) {
  links_[link.agent_id()] = Link{&link, credits, clock_.Now()};
  away_since_.erase(link.agent_id());
  log_.info("agent {} connected with {} credit(s), holding {} request(s)", link.agent_id(), credits,
            held_[link.agent_id()].size());
  Dispatch();
}

void Dispatcher::AgentDisconnected(AgentLink& link) {
  const std::string agent_id = link.agent_id();
  auto it = links_.find(agent_id);
  if (it != links_.end() && it->second.link == &link) {
    links_.erase(it);
    away_since_[agent_id] = steady_clock::now();
  }
  // Requests delivered on this link but never accepted go to another agent (or this one when
  // it is back). Accepted ones stay with the agent that stored them.
  std::vector<std::string> lost;
  for (const auto& [id, on] : delivered_on_) {
    if (on == &link) lost.push_back(id);
  }
  for (const auto& id : lost) {
    RequestRecord* r = Lookup(id);
    if (r == nullptr) continue;
    if (r->state == RequestState::kDelivered) {
      log_.info("request {}: agent {} dropped before accepting it; redelivering", id, agent_id);
      Requeue(*r, /*front=*/true);
    } else {
      delivered_on_.erase(id);
    }
  }
  log_.info("agent {} disconnected", agent_id);
  Dispatch();
}

void Dispatcher::OnCredits(AgentLink& link, int credits) {
  auto it = links_.find(link.agent_id());
  if (it != links_.end() && it->second.link == &link) it->second.credits = credits;
  Dispatch();
}

void Dispatcher::OnAccepted(AgentLink& link, const std::string& id) {
  RequestRecord* r = Lookup(id);
  if (r == nullptr) {
    log_.warn("agent {} accepted unknown request {}", link.agent_id(), EscapeForLog(id));
    return;
  }
  if (r->state == RequestState::kDone) return;
  if (r->agent != link.agent_id()) {
    log_.warn("agent {} accepted request {} after its lease passed to {}", link.agent_id(), id,
              r->agent.empty() ? "the queue" : r->agent);
    return;
  }
  if (r->state == RequestState::kDelivered) {
    r->state = RequestState::kAccepted;
    delivered_on_.erase(r->id);
    Persist(*r);
    log_.info("request {} accepted by agent {}", id, link.agent_id());
  }
}

void Dispatcher::OnRejected(AgentLink& link, const protocol::Rejected& m) {
  const std::string code(protocol::RejectCodeName(m.code));
  RequestRecord* r = m.id.empty() ? nullptr : Lookup(m.id);
  if (r == nullptr || r->state == RequestState::kDone || r->agent != link.agent_id()) {
    // Not (or no longer) a request this agent holds: nothing to change.
    log_.warn("agent {} rejected a message{}: {}: {}", link.agent_id(),
              m.id.empty() ? "" : " for " + EscapeForLog(m.id, 64), code,
              ShowEscaped(m.reason, 300));
    return;
  }
  if (m.code == protocol::RejectCode::kQueueFull || m.code == protocol::RejectCode::kUnavailable) {
    log_.info("request {}: agent {} is busy ({}); retrying in {} s", r->id, link.agent_id(), code,
              options_.retry_delay.count());
    r->retry_after = clock_.Now() + options_.retry_delay;
    ++r->refusals;
    Requeue(*r, /*front=*/false);
    return;
  }
  if (!r->handed_over_from.empty() && r->handed_over_from != link.agent_id()) {
    GiveBack(*r, "agent " + link.agent_id() + " rejected it after the hand-over (" + code + ")");
    Dispatch();
    return;
  }
  log_.warn("request {} rejected by agent {}: {}: {}", r->id, link.agent_id(), code,
            ShowEscaped(m.reason, 300));
  Complete(*r, "rejected", code, ShowEscaped(m.reason, 500), "");
  Dispatch();
}

void Dispatcher::OnResult(AgentLink& link, const protocol::ResultMessage& m) {
  RequestRecord* r = Lookup(m.id);
  if (r == nullptr) {
    log_.warn("agent {} reported a result for unknown request {}; acknowledging it",
              link.agent_id(), m.id);
  } else if (r->state != RequestState::kDone) {
    r->completed_at = m.completed_at;
    r->user_action = std::string(protocol::UserActionName(m.user_action));
    Complete(*r, m.outcome, "", ShowEscaped(m.reason, 500), ShowEscaped(m.note, 500));
  } else if (!r->handed_over_from.empty() && r->outcome != "succeeded" &&
             m.outcome == "succeeded") {
    // Of two agents that both had the request, the one that set the password is right.
    log_.warn("request {}: agent {} reports success after it ended {}; the password was set", r->id,
              link.agent_id(), r->outcome);
    r->completed_at = m.completed_at;
    r->agent = link.agent_id();
    r->reject_code.clear();
    r->user_action = std::string(protocol::UserActionName(m.user_action));
    Complete(*r, m.outcome, "", ShowEscaped(m.reason, 500), ShowEscaped(m.note, 500));
  }
  if (r != nullptr && !r->acked) {
    r->acked = true;
    Persist(*r);
  }
  link.Send(protocol::Serialize(protocol::ResultAck{m.id}));
  Dispatch();
}

std::optional<steady_clock::time_point> Dispatcher::Tick() {
  const auto now = steady_clock::now();
  const WallTime wall = clock_.Now();
  std::optional<steady_clock::time_point> next;
  auto want = [&next](steady_clock::time_point t) {
    if (!next || t < *next) next = t;
  };
  auto at_wall = [&](WallTime t) {
    return now + std::chrono::duration_cast<steady_clock::duration>(t - wall);
  };
  for (auto& [id, r] : requests_) {
    switch (r.state) {
      case RequestState::kPending:
        if (wall >= r.expires && !r.handed_over_from.empty()) {
          GiveBack(r, "no other agent took it before it expired");
          continue;
        }
        if (wall >= r.expires) {
          Complete(r, "expired", "", "no agent took the request before it expired", "");
          continue;
        }
        want(at_wall(r.expires));
        if (r.retry_after) want(at_wall(*r.retry_after));
        break;
      case RequestState::kDelivered:
        if (now >= r.lease_until) {
          log_.warn("request {}: agent {} did not accept it within {} s; redelivering", id, r.agent,
                    options_.lease.count());
          Requeue(r, /*front=*/true);
          want(now);
          continue;
        }
        want(r.lease_until);
        break;
      case RequestState::kAccepted:
        if (wall >= r.expires + options_.result_grace) {
          Complete(r, "expired", "", "no result from agent " + r.agent, "");
          continue;
        }
        want(at_wall(r.expires + options_.result_grace));
        if (auto away = away_since_.find(r.agent); away != away_since_.end()) {
          const auto handover_at = away->second + options_.takeover;
          if (now < handover_at) {
            want(handover_at);
          } else if (wall + options_.lease < r.expires && AnotherAgentCanTake(r)) {
            log_.warn(
                "request {}: agent {} accepted it and has been away for {} s; handing it to "
                "another agent, which checks the directory before writing",
                id, r.agent, options_.takeover.count());
            if (r.handed_over_from.empty()) r.handed_over_from = r.agent;
            Requeue(r, /*front=*/true);
            want(now);
            continue;
          }
        }
        break;
      case RequestState::kDone:
        break;
    }
  }
  Dispatch();
  return next;
}

Json Dispatcher::ResultJson(const RequestRecord& r) {
  Json j = {{"id", r.id}, {"state", RequestStateName(r.state)}, {"summary", r.summary}};
  if (!r.agent.empty()) j["agent"] = r.agent;
  if (!r.handed_over_from.empty()) j["handed_over_from"] = r.handed_over_from;
  if (r.state == RequestState::kDone) {
    j["outcome"] = r.outcome;
    if (!r.reject_code.empty()) j["reject_code"] = r.reject_code;
    j["reason"] = r.reason;
    if (!r.note.empty()) j["note"] = r.note;
    if (!r.user_action.empty()) j["user_action"] = r.user_action;
    if (r.completed_at) j["completed_at"] = FormatUtcSeconds(*r.completed_at);
  } else {
    j["expires"] = FormatUtcSeconds(r.expires);
  }
  j["deliveries"] = r.deliveries;
  return j;
}

void Dispatcher::OnPolicySummary(AgentLink& link, const protocol::PolicySummary& m) {
  summaries_[link.agent_id()] = ReceivedSummary{.summary = m, .at = clock_.Now()};
  log_.info("agent {} sent its policy summary ({} directories)", link.agent_id(),
            m.directories.size());
}

namespace {

// The summary as the wire spells it, minus "type" and "v".
Json SummaryJson(const protocol::PolicySummary& summary) {
  Json j = Json::parse(protocol::Serialize(summary));
  j.erase("type");
  j.erase("v");
  return j;
}

}  // namespace

Json Dispatcher::StatusJson() const {
  Json agents = Json::array();
  for (const auto& [id, a] : state_.agents()) {
    Json entry = {{"id", id},
                  {"connected", links_.count(id) != 0},
                  {"certificate_expires", FormatUtcSeconds(a.certificate_expires)}};
    auto held = held_.find(id);
    entry["holding"] = held == held_.end() ? 0 : held->second.size();
    if (a.audit_head) {
      // The form `wbagent audit verify --witness` takes.
      entry["audit_head"] =
          std::to_string(a.audit_head->seq) + ":" + a.audit_head->hash + ":" + a.audit_head->hmac;
      entry["audit_head_seq"] = a.audit_head->seq;
      if (a.audit_head_at) entry["audit_head_at"] = FormatUtcSeconds(*a.audit_head_at);
    }
    if (auto link = links_.find(id); link != links_.end()) {
      entry["credits"] = link->second.credits;
      entry["connected_since"] = FormatUtcSeconds(link->second.since);
    }
    if (auto summary = summaries_.find(id); summary != summaries_.end()) {
      entry["policy_summary"] = SummaryJson(summary->second.summary);
      entry["policy_summary_at"] = FormatUtcSeconds(summary->second.at);
    }
    agents.push_back(entry);
  }
  Json counts = {{"pending", 0}, {"delivered", 0}, {"accepted", 0}, {"done", 0}};
  Json open = Json::array();
  for (const auto& [id, r] : requests_) {
    counts[std::string(RequestStateName(r.state))] =
        counts[std::string(RequestStateName(r.state))].get<int>() + 1;
    if (r.state != RequestState::kDone) open.push_back(ResultJson(r));
  }
  return {{"tenant", state_.tenant()}, {"agents", agents}, {"requests", counts}, {"open", open}};
}

}  // namespace wb::cloud
