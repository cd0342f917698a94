// The pipeline's intake (agent/pipeline.h): envelopes in batches, from their checks to
// "accepted" or "rejected" and their admission; results acknowledged in batches. Runs on the
// intake's thread (agent/intake.h), never on the channel's.
//
// A batch pays for its disk syncs once: the queue stores every request of the batch and its
// replay memory in one transaction, the audit trail syncs the batch's records once, and only
// when one of them must be durable before something leaves (a rejection, a denial), and the
// admitted requests become ready in one transaction. Nothing leaves the host before what
// it depends on is durable: "accepted" after the request is stored, a `rejected` or a denial's
// result after its audit record.

#include <algorithm>
#include <map>
#include <set>

#include "agent/logging.h"
#include "agent/pipeline.h"
#include "agent/request_mapping.h"
#include "common/log_escape.h"

namespace wb::agent {
namespace {

using std::chrono::milliseconds;

// Replay memory for one batch, on the queue's durable store: a (id, nonce) pair seen before is
// the same request delivered again; a nonce seen with another id is a replay, and so is an id
// seen with another nonce: the queue holds or remembers the id (Queue::HoldsRequest), or an
// earlier envelope of the batch has it. So a new request costs two remembered keys, not three.
//
// What it learns is kept in memory until the queue stores it with the batch's requests
// (EnqueueAll): nothing of the batch is answered before that transaction commits, so a crash
// before it loses the memory and the requests together, and the cloud re-sends both. Keys of
// earlier arrivals in the same batch count as remembered.
class BatchReplayGuard final : public protocol::ReplayGuard {
 public:
  explicit BatchReplayGuard(queue::Queue& queue) : queue_(queue) {}

  Result<Verdict> Remember(std::string_view id, std::string_view nonce,
                           WallTime forget_after) override {
    Result<Verdict> verdict = Decide(id, nonce, forget_after);
    if (verdict.ok()) {
      unreadable_.erase(std::string(id));
    } else {
      unreadable_[std::string(id)] = std::string(nonce);
    }
    return verdict;
  }

  // The nonce of the signed id `id` when Remember could not read the queue for it (whether
  // the queue holds that request, nobody can tell now); nullopt otherwise.
  std::optional<std::string> UnreadableNonce(const std::string& id) const {
    auto it = unreadable_.find(id);
    if (it == unreadable_.end()) return std::nullopt;
    return it->second;
  }

  // Whether the latest kRedelivery was of an envelope earlier in this batch (not yet stored).
  bool RedeliveryInBatch() const { return redelivery_in_batch_; }

  // What the batch learnt, for EnqueueAll.
  std::vector<queue::NonceToRemember> Learnt() && { return std::move(learnt_); }

 private:
  Result<Verdict> Decide(std::string_view id, std::string_view nonce, WallTime forget_after) {
    std::string pair = PairPrefix(id);
    pair += nonce;
    redelivery_in_batch_ = in_batch_.count(pair) > 0;
    if (redelivery_in_batch_) return Verdict::kRedelivery;
    auto pair_known = queue_.IsNonceRemembered(pair);
    if (!pair_known.ok()) return pair_known.error();
    if (*pair_known) return Verdict::kRedelivery;
    std::string nonce_key = "nonce:";
    nonce_key += nonce;
    auto nonce_known = Known(nonce_key);
    if (!nonce_known.ok()) return nonce_known.error();
    // A replay teaches nothing: its re-send is refused as a replay again.
    if (*nonce_known) return Verdict::kReplay;
    // An id stored (or earlier in this batch) with another nonce: reused, a replay. Learnt, its
    // pair would make a re-send of this envelope look like a redelivery of the stored request,
    // answered with that request's status.
    std::string id_key = "id:";
    id_key += id;
    if (in_batch_.count(id_key) > 0) return Verdict::kReplay;
    auto id_held = queue_.HoldsRequest(id);
    if (!id_held.ok()) return id_held.error();
    if (*id_held) return Verdict::kReplay;
    // An id the queue refused (full, expired) with another nonce: its pair is remembered, not
    // its id. Learnt, this pair would take over the id, and a re-send of the refused envelope
    // would be answered as a redelivery of this request.
    auto id_refused = queue_.IsNonceRememberedWithPrefix(PairPrefix(id));
    if (!id_refused.ok()) return id_refused.error();
    if (*id_refused) return Verdict::kReplay;
    // Both keys, or neither: a redelivery is never known by its pair without its nonce.
    Add(std::move(pair), forget_after);
    Add(std::move(nonce_key), forget_after);
    in_batch_.insert(std::move(id_key));  // for this batch only: the queue holds the ids
    return Verdict::kNew;
  }

  // Every remembered pair of `id` begins with this: "pair:ID/". An id holds no '/' (a
  // request id is a UUID: protocol.h, RequestClaims), so no other id's pairs do.
  static std::string PairPrefix(std::string_view id) {
    std::string prefix = "pair:";
    prefix += id;
    prefix += '/';
    return prefix;
  }

  Result<bool> Known(const std::string& key) {
    if (in_batch_.count(key) > 0) return true;
    return queue_.IsNonceRemembered(key);
  }
  void Add(std::string key, WallTime forget_after) {
    in_batch_.insert(key);
    learnt_.push_back({std::move(key), forget_after});
  }

  queue::Queue& queue_;
  std::set<std::string> in_batch_;
  std::vector<queue::NonceToRemember> learnt_;
  std::map<std::string, std::string> unreadable_;  // id -> nonce
  bool redelivery_in_batch_ = false;
};

audit::Event ReceivedEvent(const queue::Record& record) {
  audit::Event received = AuditEventFor(audit::EventType::kRequestReceived, record.info);
  if (record.info.delivery > 1) {
    received.detail = "delivery " + std::to_string(record.info.delivery) +
                      ": another agent may have had it first; the directory is checked before "
                      "a password is written";
  }
  return received;
}

}  // namespace

struct Pipeline::Arrival {
  std::string id;     // the signed request id, once the envelope verified
  std::string nonce;  // and its nonce
  // Passed the envelope checks: what the queue is asked to store. Holds the passwords until
  // then.
  std::optional<queue::Request> request;
  // The answer, once decided: refused, or stored now (then "accepted").
  std::optional<protocol::Rejection> rejection;
  std::optional<queue::Record> stored;
  // A redelivery of an envelope earlier in the same batch.
  bool repeats_batch = false;
};

void Pipeline::OnRequests(std::span<const protocol::Request> batch) {
  BatchReplayGuard replay(*deps_.queue);
  std::vector<Arrival> arrivals;
  std::vector<Arrival> redeliveries;
  arrivals.reserve(batch.size());
  for (const protocol::Request& message : batch) {
    const auto checking = deps_.clock->Monotonic();
    auto opened = protocol::OpenRequest(message.envelope, keys_.trusted, *keys_.encryption_key,
                                        keys_.open, *deps_.clock, replay);
    Observe(metrics::Recorder::Latency::kEnvelopeCheck, deps_.clock->Monotonic() - checking);
    Arrival arrival;
    if (!opened.ok()) {
      const protocol::Rejection& refused = opened.error();
      const std::optional<std::string> nonce =
          refused.code == protocol::RejectCode::kUnavailable && refused.id_authenticated
              ? replay.UnreadableNonce(refused.request_id)
              : std::nullopt;
      if (nonce) {
        // Perhaps a redelivery of a request stored here: as in AnswerRedelivery, not
        // `unavailable` (which says this agent kept nothing) until the queue reads again.
        OweAnswer({refused.request_id, *nonce}, refused.reason);
        continue;
      }
      arrival.rejection = refused;
      arrivals.push_back(std::move(arrival));
      continue;
    }
    arrival.id = opened->claims.id;
    arrival.nonce = opened->claims.nonce;
    arrival.request = ToQueueRequest(*opened, message.delivery);
    arrival.repeats_batch = opened->redelivered && replay.RedeliveryInBatch();
    (opened->redelivered ? redeliveries : arrivals).push_back(std::move(arrival));
  }
  const bool committed = Store(arrivals, std::move(replay).Learnt());
  // A redelivery is answered with what the queue holds now (the batch's own requests
  // included). "accepted" is sent only for a request the queue holds: the replay memory
  // remembers the pair of every new request that passed the envelope checks, including those
  // the queue then refused (full, expired), so a redelivery whose id the queue does not hold
  // is such an earlier refusal, re-sent as the protocol tells the cloud to, and is stored
  // again.
  for (Arrival& again : redeliveries) {
    if (again.repeats_batch && !committed) {
      // Its first copy's replay memory was not stored either: storing it alone now would
      // accept a request the replay memory does not know.
      Reject({protocol::RejectCode::kUnavailable,
              "the agent could not store the request; it may be sent again", again.id,
              /*id_authenticated=*/true});
      continue;
    }
    if (AnswerRedelivery({again.id, again.nonce})) continue;
    std::vector<Arrival> alone;
    alone.push_back(std::move(again));
    Store(alone, {});
  }
}

bool Pipeline::Store(std::vector<Arrival>& arrivals, std::vector<queue::NonceToRemember> nonces) {
  // From the commit that stores them until their admission is decided, the new requests are
  // `received` like held ones: a breaker release or reject in between would act on them, then
  // admission would decide them again (a denial could end a request a worker is writing).
  std::lock_guard storing_and_admitting(admit_mu_);
  bool committed = true;
  std::vector<const queue::Request*> requests;
  std::vector<Arrival*> storing;
  for (Arrival& a : arrivals) {
    if (!a.request) continue;
    requests.push_back(&*a.request);
    storing.push_back(&a);
  }
  if (!requests.empty() || !nonces.empty()) {
    auto stored = deps_.queue->EnqueueAll(nonces, requests);
    committed = stored.ok();
    for (std::size_t k = 0; k < storing.size(); ++k) {
      Arrival& a = *storing[k];
      if (!stored.ok()) {
        a.rejection = RefusedByQueue(stored.error(), a.id);
        continue;
      }
      Result<queue::EnqueueResult>& result = (*stored)[k];
      if (!result.ok()) {
        a.rejection = RefusedByQueue(result.error(), a.id);
      } else if (!result->inserted) {
        // The id is known but this (id, nonce) pair is new: the id was reused with another
        // nonce.
        a.rejection = protocol::Rejection{protocol::RejectCode::kReplayed,
                                          "the request id was used before with another nonce", a.id,
                                          /*id_authenticated=*/true};
      } else {
        a.stored = std::move(result->record);
      }
    }
  }
  for (Arrival& a : arrivals) a.request.reset();  // the passwords are wiped here
  Answer(arrivals);
  std::vector<queue::Record> admitting;
  for (Arrival& a : arrivals) {
    if (a.stored) admitting.push_back(std::move(*a.stored));
  }
  AdmitAll(admitting);
  return committed;
}

void Pipeline::Answer(std::vector<Arrival>& arrivals) {
  bool must_sync = false;
  for (const Arrival& a : arrivals) {
    if (a.rejection) {
      must_sync |= RecordRejection(*a.rejection, audit::Durability::kBuffered);
    } else if (a.stored) {
      Audit(ReceivedEvent(*a.stored));  // buffered: the queue holds the request durably
    }
  }
  if (must_sync) SyncAudit();
  // A rejection whose record may be missing is not sent (pipeline.h, "When the audit trail
  // fails"): the cloud hears nothing and sends the envelope again.
  const bool may_reject = !AuditFailed();
  std::uint64_t generation = 0;
  {
    std::lock_guard lock(unsent_mu_);
    generation = resend_generation_;
  }
  for (const Arrival& a : arrivals) {
    if (a.rejection) {
      if (!may_reject) continue;
      protocol::Rejected rejected{a.rejection->request_id, a.rejection->code, a.rejection->reason};
      if (deps_.outbound->Send(rejected).code() == Code::kResourceExhausted) {
        // Its credit stays taken until it is answered: the next tick sends it, unless the
        // connection it came on is gone meanwhile.
        std::lock_guard lock(unsent_mu_);
        if (generation == resend_generation_) unsent_rejections_.push_back(std::move(rejected));
      }
    } else if (a.stored) {
      (void)deps_.outbound->Send(protocol::Accepted{a.stored->info.id});
    }
  }
}

// From the daemon's tick, the deliveries the queue could not be read to answer, on the
// connection they came on (a lost channel forgets them: the cloud sends them again). Each is
// judged by its (id, nonce) as the intake would judge it now, without learning anything: the
// same envelope as a stored request's gets that request's answer, another envelope reusing
// the id or the nonce `replayed`, and one the queue does not hold `unavailable`.
void Pipeline::AnswerOwedRedeliveries() {
  std::vector<OwedAnswer> owed;
  std::uint64_t generation = 0;
  {
    std::lock_guard lock(unsent_mu_);
    owed = unanswered_deliveries_;
    generation = resend_generation_;
  }
  std::vector<std::pair<OwedAnswer, OwedVerdict>> judged;
  for (const OwedAnswer& delivery : owed) {
    // nullopt: the queue still cannot be read, the next tick.
    if (auto verdict = JudgeOwed(delivery)) judged.emplace_back(delivery, std::move(*verdict));
  }
  // Refusals first: a result ends every delivery of its id (docs/protocol.md, section 8), so a
  // `replayed` for another envelope with that id, sent after it, would end another delivery.
  std::stable_partition(judged.begin(), judged.end(),
                        [](const auto& j) { return !j.second.record.has_value(); });
  for (const auto& [delivery, verdict] : judged) {
    {
      std::lock_guard lock(unsent_mu_);
      auto it = std::find(unanswered_deliveries_.begin(), unanswered_deliveries_.end(), delivery);
      // The channel was lost meanwhile: the answer belongs to the connection it came on.
      if (generation != resend_generation_ || it == unanswered_deliveries_.end()) return;
      unanswered_deliveries_.erase(it);  // one delivery, one answer
    }
    if (SendOwed(delivery.id, verdict)) continue;
    // The outgoing queue is full: owed still, on this connection only.
    std::lock_guard lock(unsent_mu_);
    if (generation == resend_generation_) unanswered_deliveries_.push_back(delivery);
  }
}

std::optional<Pipeline::OwedVerdict> Pipeline::JudgeOwed(const OwedAnswer& delivery) {
  BatchReplayGuard probe(*deps_.queue);  // what it learns is dropped: nothing is stored
  auto seen = probe.Remember(delivery.id, delivery.nonce, WallTime{});
  if (!seen.ok()) return std::nullopt;
  switch (*seen) {
    case protocol::ReplayGuard::Verdict::kReplay:
      return OwedVerdict{.replayed = true};
    case protocol::ReplayGuard::Verdict::kNew:
      return OwedVerdict{};  // nothing kept: `unavailable`
    case protocol::ReplayGuard::Verdict::kRedelivery:
      break;
  }
  auto known = deps_.queue->Show(delivery.id);
  if (!known.ok() && known.error().code() != Code::kNotFound) return std::nullopt;
  // Not stored: an earlier delivery the queue refused (its pair is remembered).
  if (!known.ok()) return OwedVerdict{};
  return OwedVerdict{.record = std::move(known->record)};
}

bool Pipeline::SendOwed(const std::string& id, const OwedVerdict& verdict) {
  if (verdict.replayed) {
    return Reject({protocol::RejectCode::kReplayed,
                   "the request id or nonce was already used by another request", id,
                   /*id_authenticated=*/true});
  }
  if (!verdict.record) {
    // The envelope is gone by now, so it cannot be stored here: the cloud sends it again.
    return Reject({protocol::RejectCode::kUnavailable,
                   "the agent could not store the request; it may be sent again", id,
                   /*id_authenticated=*/true});
  }
  if (queue::IsTerminal(verdict.record->state)) {
    SendResult(*verdict.record);  // kept for the next tick by SendResult itself when refused
    return true;
  }
  return deps_.outbound->Send(protocol::Accepted{id}).code() != Code::kResourceExhausted;
}

// Stored or not, nobody can tell now. `unavailable` would tell the cloud that this agent kept
// nothing (docs/protocol.md, section 7), and it could hand a request stored here to another
// agent as a first delivery. It is answered once the queue reads again
// (AnswerOwedRedeliveries): until then it holds its credit.
void Pipeline::OweAnswer(OwedAnswer delivery, const std::string& why) {
  deps_.log->error("request {}: answered later: the queue cannot be read: {}", delivery.id, why);
  std::lock_guard lock(unsent_mu_);
  unanswered_deliveries_.push_back(std::move(delivery));
}

bool Pipeline::AnswerRedelivery(const OwedAnswer& delivery) {
  auto known = deps_.queue->Show(delivery.id);
  if (!known.ok() && known.error().code() == Code::kNotFound) return false;
  if (!known.ok()) {
    OweAnswer(delivery, known.error().ToString());
  } else if (queue::IsTerminal(known->record.state)) {
    SendResult(known->record);
  } else {
    (void)deps_.outbound->Send(protocol::Accepted{delivery.id});
  }
  return true;
}

// Enqueue's refusals (queue/queue.h), as the cloud is told them.
protocol::Rejection Pipeline::RefusedByQueue(const Status& refusal, const std::string& id) {
  switch (refusal.code()) {
    case Code::kAlreadyExists:
      return {protocol::RejectCode::kReplayed, "the request id was used before", id, true};
    case Code::kResourceExhausted:
      return {protocol::RejectCode::kQueueFull, refusal.message(), id, true};
    case Code::kFailedPrecondition:
      // Within the envelope check's clock skew, but past expires_at by this agent's clock.
      return {protocol::RejectCode::kExpired, refusal.message(), id, true};
    default:
      return {protocol::RejectCode::kUnavailable, refusal.message(), id, true};
  }
}

// The cheap checks, before a worker takes the request (policy/policy.h). Each decision is
// recorded before the request moves on, buffered (audit.h: an event is durable before
// anything that depends on it leaves the host). A denial leaves with its result, so a batch
// with one is synced before it ends; an admitted request's decision becomes durable with the
// worker's own durable decision, before the directory is written.
void Pipeline::AdmitAll(const std::vector<queue::Record>& records) {
  if (records.empty()) return;
  // Without their records (request_received, the decisions), the requests stay `received`:
  // the next start admits them again.
  if (AuditFailed()) return;
  const std::shared_ptr<policy::Policy> rules = CurrentPolicy();
  std::vector<policy::Decision> decisions;
  decisions.reserve(records.size());
  for (const queue::Record& record : records) {
    const bool was_tripped = rules->Breaker().tripped;
    decisions.push_back(rules->Admit(PolicyFactsFor(record.info, record.received_at)));
    RecordDecision(record.info, decisions.back(), "admission", "", "",
                   audit::Durability::kBuffered);
    if (!was_tripped && rules->Breaker().tripped) {
      OnBreakerChanged(rules->Breaker(), &record.info);
    }
  }
  const auto denials =
      static_cast<std::size_t>(std::count_if(decisions.begin(), decisions.end(), [](const auto& d) {
        return d.verdict == policy::Verdict::kDeny;
      }));
  if (denials > 0) SyncAudit();
  if (AuditFailed()) return;
  std::vector<std::string> ready;
  for (std::size_t i = 0; i < records.size(); ++i) {
    if (!EndsAdmission(records[i], decisions[i])) ready.push_back(records[i].info.id);
  }
  Notify(denials);  // a request that waited behind a denied one may now go
  // Ordered, not fsynced: lost with the host, an admission is decided again at the next start.
  const std::vector<Status> marked = deps_.queue->MarkReadyAll(ready, queue::Sync::kOrdered);
  for (std::size_t i = 0; i < ready.size(); ++i) {
    if (!marked[i].ok()) {
      deps_.log->warn("request {}: not admitted: {}", ready[i], marked[i].ToString());
      continue;
    }
    Notify();  // one worker per admitted request
  }
}

bool Pipeline::EndsAdmission(const queue::Record& record, const policy::Decision& decision) {
  switch (decision.verdict) {
    case policy::Verdict::kDeny:
      EndDenied(record.info, *decision.deciding(), milliseconds(0));
      return true;
    case policy::Verdict::kHold:
      Log(*deps_.log, spdlog::level::info,
          LogFieldsFor(record.info, LogEvent::kRequestHeld,
                       std::string(policy::CodeName(policy::Code::kBreakerTripped))),
          "request {} for {}: held by the breaker", record.info.id,
          EscapeForLog(record.info.target));
      return true;
    case policy::Verdict::kAllow:
    case policy::Verdict::kWouldDeny:
      return false;
  }
  return true;
}

bool Pipeline::Reject(const protocol::Rejection& rejection) {
  RecordRejection(rejection);
  if (AuditFailed()) return true;  // as in Answer: not sent, and never will be
  const Status sent = deps_.outbound->Send(
      protocol::Rejected{rejection.request_id, rejection.code, rejection.reason});
  return sent.code() != Code::kResourceExhausted;
}

void Pipeline::OnFrameRejected(const protocol::Rejected& sent) {
  RecordRejection({sent.code, sent.reason, sent.id, /*id_authenticated=*/false});
}

// Audited and logged before the cloud is told. A rejection whose id is not authenticated is
// recorded without that id as the record's request_id (so that a forged frame cannot be pinned
// on a real request), and a flood of them is summarised instead of recorded one by one.
bool Pipeline::RecordRejection(const protocol::Rejection& rejection, audit::Durability durability) {
  const std::string code(protocol::RejectCodeName(rejection.code));
  if (!rejection.id_authenticated) {
    BurstLimiter::Decision d = unauthenticated_.Note(code);
    if (d.summary) RecordRejectionSummary(*d.summary, kUnauthenticatedSummary, true);
    if (!d.record) return false;
  } else if (IsRepeatedRejection(rejection)) {
    return false;
  }
  audit::Event e;
  e.type = audit::EventType::kRequestRejected;
  e.outcome = code;
  e.reasons = {code};
  if (rejection.id_authenticated) {
    e.request_id = rejection.request_id;
    e.detail = rejection.reason;
  } else {
    e.reasons.push_back(std::string(kUnauthenticatedReason));
    e.detail = (rejection.request_id.empty()
                    ? std::string("no request id could be read")
                    : "claims request id " + rejection.request_id + ", not authenticated") +
               ": " + rejection.reason;
  }
  Audit(e, durability);
  // An unauthenticated id is not put in WBAGENT_REQUEST_ID: a forged frame must not show up
  // in a search for a real request.
  Log(*deps_.log, spdlog::level::warn,
      {.event = LogEvent::kRequestRejected,
       .request_id = rejection.id_authenticated ? rejection.request_id : "",
       .outcome = code},
      "request {} rejected: {}: {}",
      rejection.id_authenticated ? rejection.request_id
                                 : "(unauthenticated) " + rejection.request_id,
      code, rejection.reason);
  return true;
}

// The same envelope (its authenticated id) rejected for the same reason within kRepeatWindow:
// counted, not recorded again; the count is recorded once a minute at most.
bool Pipeline::IsRepeatedRejection(const protocol::Rejection& rejection) {
  const std::string code(protocol::RejectCodeName(rejection.code));
  std::optional<BurstSummary> summary;
  bool repeated = false;
  {
    std::lock_guard lock(repeats_mu_);
    repeated = rejected_recently_.Seen(rejection.request_id + '\n' + code);
    if (repeated) summary = repeated_rejections_.Note(code).summary;  // never to record
  }
  if (summary) RecordRejectionSummary(*summary, kRepeatedSummary, false);
  return repeated;
}

// Every count not recorded yet, at a disconnect or at the stop: none is lost.
void Pipeline::FlushSummaries() {
  if (auto summary = unauthenticated_.Flush()) {
    RecordRejectionSummary(*summary, kUnauthenticatedSummary, true);
  }
  if (auto summary = unmatched_acks_.Flush()) {
    LogAckSummary(spdlog::level::warn, *summary, kUnmatchedAcksSummary);
  }
  if (auto summary = failed_acks_.Flush()) {
    LogAckSummary(spdlog::level::err, *summary, kFailedAcksSummary);
  }
  std::optional<BurstSummary> repeats;
  {
    std::lock_guard lock(repeats_mu_);
    repeats = repeated_rejections_.Flush();
  }
  if (repeats) RecordRejectionSummary(*repeats, kRepeatedSummary, false);
}

void Pipeline::LogAckSummary(spdlog::level::level_enum level, const BurstSummary& summary,
                             std::string_view what) {
  deps_.log->log(level, "result_ack: {}", summary.Describe(what));
}

// One request_rejected record (and a log line) for the rejections a BurstLimiter counted
// instead of recording; `unauthenticated` when their ids were not (docs/audit.md).
void Pipeline::RecordRejectionSummary(const BurstSummary& summary, std::string_view what,
                                      bool unauthenticated) {
  audit::Event e;
  e.type = audit::EventType::kRequestRejected;
  e.outcome = std::string(kBurstOutcome);
  for (const auto& [kind, count] : summary.kinds) e.reasons.push_back(kind);
  if (unauthenticated) e.reasons.push_back(std::string(kUnauthenticatedReason));
  e.detail = summary.Describe(what);
  Audit(e);
  Log(*deps_.log, spdlog::level::warn, {.event = LogEvent::kRejectionsSummarized}, "{}", e.detail);
}

// One transaction for the batch; each acknowledgement recorded once (buffered: one lost with
// the queue's own change is acknowledged and recorded again after the cloud re-sends it). An
// ack repeated for a result acknowledged before changes nothing and is not recorded again: a
// cloud that repeats them must not be able to grow the trail without bound.
void Pipeline::OnResultAcks(std::span<const std::string> ids) {
  const std::vector<Result<queue::Record>> acknowledged = deps_.queue->AcknowledgeResults(ids);
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (!acknowledged[i].ok() && acknowledged[i].error().code() == Code::kAlreadyExists) {
      continue;
    }
    if (!acknowledged[i].ok()) {
      const Status& error = acknowledged[i].error();
      if (error.code() != Code::kNotFound && error.code() != Code::kFailedPrecondition) {
        // The queue failed, not the cloud: logged at error, apart from the cloud's unmatched
        // acks, but a flood of acks during a storage incident logs 20 a minute and counts
        // the rest.
        BurstLimiter::Decision d = failed_acks_.Note(std::string(CodeName(error.code())));
        if (d.summary) LogAckSummary(spdlog::level::err, *d.summary, kFailedAcksSummary);
        if (d.record) {
          deps_.log->error("result_ack for {}: {}", EscapeForLog(ids[i]), error.ToString());
        }
        continue;
      }
      BurstLimiter::Decision d = unmatched_acks_.Note(std::string(CodeName(error.code())));
      if (d.summary) LogAckSummary(spdlog::level::warn, *d.summary, kUnmatchedAcksSummary);
      if (d.record)
        deps_.log->warn("result_ack for {}: {}", EscapeForLog(ids[i]), error.ToString());
      continue;
    }
    const queue::Record& record = *acknowledged[i];
    ForgetRecordedEnd(record);
    audit::Event e = AuditEventFor(audit::EventType::kResultAcknowledged, record.info);
    if (record.outcome) e.outcome = record.outcome->code;
    Audit(e);
  }
}

}  // namespace wb::agent
