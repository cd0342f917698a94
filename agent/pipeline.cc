#include "agent/pipeline.h"

#include <pthread.h>

#include <algorithm>

#include "agent/logging.h"
#include "agent/request_mapping.h"
#include "agent/validate.h"
#include "common/log_escape.h"

namespace wb::agent {
namespace {

// What `journalctl -p warning` must find: every failed request is a warning, and the failures
// only the administrator can fix (the agent's bind, its TLS trust, its rights, a bug) are
// errors. A success is information.
spdlog::level::level_enum LogLevelFor(const ldap::Outcome& outcome) {
  if (outcome.ok()) return spdlog::level::info;
  switch (outcome.code) {
    case ldap::OutcomeCode::kServiceBindFailed:
    case ldap::OutcomeCode::kTlsFailure:
    case ldap::OutcomeCode::kAccessDenied:
    case ldap::OutcomeCode::kInternalError:
      return spdlog::level::err;
    default:
      return spdlog::level::warn;
  }
}

using std::chrono::milliseconds;
using namespace std::chrono_literals;

// How far the cloud's clock (which dated the request) and the directory's (which dates the
// password change) may disagree for the "applied elsewhere" check. Kept small on purpose:
// a larger window turns a recent change by someone else into a false "found applied".
constexpr std::chrono::seconds kHandoverClockTolerance{5};

milliseconds Since(std::chrono::steady_clock::time_point start, const Clock& clock) {
  return std::chrono::duration_cast<milliseconds>(clock.Monotonic() - start);
}

protocol::ResultMessage ResultFor(const queue::Record& record) {
  protocol::ResultMessage m;
  m.id = record.info.id;
  m.outcome = record.outcome ? record.outcome->code : "failed";
  m.user_action = UserActionFor(record);
  // A success's message is a note worth reporting (e.g. "history not enforced").
  const bool succeeded = record.state == queue::State::kSucceeded;
  const std::string message = record.outcome ? record.outcome->message : "";
  (succeeded ? m.note : m.reason) = message;
  m.completed_at = record.finished_at.value_or(record.received_at);
  return m;
}

// A disabled account is left as it is, whatever the request: on OpenLDAP setting a password
// lifts the administrative lock (ppolicy deletes pwdAccountLockedTime 000001010000Z with any
// password change), and an unlock deletes it outright, so either would enable the account; on
// AD it would give a switched-off account, often a leaver's, a password someone knows.
// Enabling an account is the directory administrator's decision, not a reset page's.
ldap::Outcome DisabledAccount(const ldap::Account& account) {
  return ldap::MakeOutcome(ldap::OutcomeCode::kAccountDisabled,
                           "the account " + account.dn +
                               " is disabled in the directory; nothing was changed (a disabled "
                               "account must be enabled by an administrator first)");
}

// What CheckPassword knows of a taken request: its passwords, read in place from the Work's
// Secrets, and the account's names.
policy::PasswordFacts PasswordFactsFor(const queue::Work& work, const ldap::Directory& directory,
                                       const ldap::Account& account) {
  return policy::PasswordFacts{
      .directory = directory.name(),
      .new_password = &work.new_password,
      .old_password = work.record.info.operations.change ? &work.old_password : nullptr,
      .names = {.login = account.login_name,
                .display = account.display_name,
                .given = account.given_name,
                .surname = account.surname},
      .breached_count = std::nullopt};
}

// The record of an attempt's end. A validate writes nothing: its end (an account not found, a
// directory down) is recorded as the validate's answer, not as a write.
audit::Event EndRecord(const queue::RequestInfo& info, const ldap::Outcome& outcome,
                       const std::string& dn, const std::string& directory, milliseconds duration) {
  audit::Event e = AuditEventFor(info.operations.validate ? audit::EventType::kPasswordValidated
                                                          : audit::EventType::kDirectoryWrite,
                                 info);
  e.target.dn = dn;
  e.directory = directory;
  e.server = outcome.server;
  e.outcome = std::string(ldap::OutcomeName(outcome.code));
  e.duration = duration;
  e.detail = outcome.ok() ? outcome.note : outcome.reason;
  return e;
}

}  // namespace

Pipeline::~Pipeline() { Stop(); }

Pipeline::Pipeline(PipelineDeps deps, PipelineKeys keys, int workers)
    : deps_(std::move(deps)),
      keys_(std::move(keys)),
      unauthenticated_(kUnauthenticatedPerWindow, kUnauthenticatedWindow, *deps_.clock),
      unmatched_acks_(kUnauthenticatedPerWindow, kUnauthenticatedWindow, *deps_.clock),
      failed_acks_(kUnauthenticatedPerWindow, kUnauthenticatedWindow, *deps_.clock),
      rejected_recently_(kRepeatMemory, kRepeatWindow, *deps_.clock),
      repeated_rejections_(0, kUnauthenticatedWindow, *deps_.clock),
      worker_count_(std::max(1, workers)) {
  policy_ = std::move(deps_.policy);
}

std::shared_ptr<policy::Policy> Pipeline::CurrentPolicy() const {
  std::lock_guard lock(policy_mu_);
  return policy_;
}

policy::BreakerState Pipeline::Breaker() const { return CurrentPolicy()->Breaker(); }

Status Pipeline::ReplacePolicy(const PolicyOpener& open) {
  std::lock_guard admitting(admit_mu_);
  auto fresh = open(CurrentPolicy()->Breaker());
  if (!fresh.ok()) return fresh.error();
  std::lock_guard lock(policy_mu_);
  policy_ = std::move(*fresh);
  return Status::Ok();
}

Status Pipeline::Start() {
  OnChannelLost();  // everything already queued predates this process
  WB_RETURN_IF_ERROR(RecoverInterrupted());
  WB_RETURN_IF_ERROR(RecordUnacknowledgedQueueEnds());
  {
    std::lock_guard admitting(admit_mu_);
    auto received = deps_.queue->List({.state = queue::State::kReceived, .limit = 100000});
    if (!received.ok()) return received.error();
    AdmitAll(*received);
  }
  for (int i = 1; i <= worker_count_; ++i) {
    Liveness::Heartbeat* beat = nullptr;
    std::string name = "worker ";
    name += std::to_string(i);
    if (deps_.liveness) beat = &deps_.liveness->Add(name, deps_.worker_deadline);
    workers_.emplace_back([this, beat, i] {
      // Named, so that `top -H` and the watchdog's log line point at the same thread.
      std::string thread_name = "wb-worker-";
      thread_name += std::to_string(i);
      pthread_setname_np(pthread_self(), thread_name.c_str());
      WorkerLoop(beat);
    });
  }
  return Status::Ok();
}

void Pipeline::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& t : workers_) t.join();
  workers_.clear();
  // The channel has stopped: no count of suppressed rejections is left unrecorded.
  FlushSummaries();
}

Result<int> Pipeline::RetryWaitingNow() {
  auto woken = deps_.queue->RetryWaitingNow();
  Notify(woken.ok() ? static_cast<std::size_t>(std::max(1, *woken)) : 1);
  return woken;
}

Activity Pipeline::LastActivity() const {
  std::lock_guard lock(mu_);
  return activity_;
}

void Pipeline::MarkChannelLost() {
  {
    std::lock_guard lock(mu_);
    handover_epoch_ = deps_.clock->Now();
  }
  // No page of the outbox is sent into a lost channel, nor an answer to a redelivery that came
  // on it; the next welcome starts over, and the cloud sends what it awaits again.
  std::lock_guard lock(unsent_mu_);
  resend_after_.reset();
  ++resend_generation_;
  unanswered_deliveries_.clear();
  unsent_rejections_.clear();
}

// Again after the intake stored what arrived before the loss: those requests, stored after
// MarkChannelLost, are checked too.
void Pipeline::OnChannelLost() {
  MarkChannelLost();
  FlushSummaries();
}

void Pipeline::Notify(std::size_t requests) {
  if (requests == 0) return;
  const int wake = static_cast<int>(std::min<std::size_t>(requests, worker_count_));
  {
    std::lock_guard lock(mu_);
    // No more than one per worker: a woken worker takes until nothing is left, so each
    // notification beyond that would only cost an empty Take.
    wakeups_ = std::min(wakeups_ + wake, worker_count_);
  }
  if (wake == 1) {
    wake_.notify_one();
  } else {
    wake_.notify_all();
  }
}

// --- Intake (channel thread) ------------------------------------------------------------

void Pipeline::Observe(metrics::Recorder::Latency which, std::chrono::duration<double> d) {
  if (deps_.metrics) deps_.metrics->Observe(which, d);
}

namespace {

audit::Decision AuditDecision(policy::Verdict verdict) {
  switch (verdict) {
    case policy::Verdict::kAllow:
      return audit::Decision::kAllow;
    case policy::Verdict::kDeny:
      return audit::Decision::kDeny;
    case policy::Verdict::kWouldDeny:
      return audit::Decision::kWouldDeny;
    case policy::Verdict::kHold:
      return audit::Decision::kHold;
  }
  return audit::Decision::kDeny;
}

}  // namespace

// One policy_decision record per decision: the verdict, every matching rule's code in
// `reasons`, and each rule's name and reason in `detail`.
bool Pipeline::RecordDecision(const queue::RequestInfo& info, const policy::Decision& decision,
                              std::string_view stage, const std::string& dn,
                              const std::string& directory, audit::Durability durability,
                              std::string_view why) {
  audit::Event e = AuditEventFor(audit::EventType::kPolicyDecision, info);
  e.decision = AuditDecision(decision.verdict);
  e.target.dn = dn;
  e.directory = directory;
  std::string detail(stage);
  if (!why.empty()) {
    detail += ": ";
    detail += why;
  }
  for (const auto& m : decision.matches) {
    e.reasons.push_back(std::string(policy::CodeName(m.code)));
    detail += "; ";
    detail += m.rule;
    detail += m.enforced ? ": " : " (log_only): ";
    detail += m.reason;
  }
  e.detail = std::move(detail);
  const bool recorded = Audit(e, durability);
  if (deps_.metrics) {
    const std::string_view verdict = policy::VerdictName(decision.verdict);
    for (const auto& m : decision.matches) deps_.metrics->CountDecision(stage, m.rule, verdict);
    if (decision.matches.empty()) deps_.metrics->CountDecision(stage, "", verdict);
  }
  if (decision.verdict == policy::Verdict::kWouldDeny) {
    LogFields fields = LogFieldsFor(info, LogEvent::kRequestWouldDeny, "");
    fields.directory = directory;
    Log(*deps_.log, spdlog::level::warn, fields,
        "request {} for {}: would be denied (log_only): {}", info.id, EscapeForLog(info.target),
        e.detail);
  }
  return recorded;
}

bool Pipeline::EndDenied(const queue::RequestInfo& info, const policy::RuleMatch& rule,
                         milliseconds duration) {
  const std::string code(policy::CodeName(rule.code));
  queue::Outcome q{.state = queue::State::kRejected,
                   .code = code,
                   .transient = false,
                   .message = rule.rule + ": " + rule.reason,
                   .server = "",
                   .duration = duration};
  const std::optional<queue::Record> ended = RecordEnd(info, q);
  if (!ended) return false;
  Log(*deps_.log, spdlog::level::warn, LogFieldsFor(info, LogEvent::kRequestDenied, code),
      "request {} for {}: denied: {}: {}", info.id, EscapeForLog(info.target), code, q.message);
  Report(*ended, /*succeeded=*/false, code);
  return true;
}

void Pipeline::OnBreakerChanged(const policy::BreakerState& state, const queue::RequestInfo* by,
                                std::optional<BreakerOutcome> action) {
  if (deps_.breaker_changed) deps_.breaker_changed(state, action);
  if (!state.tripped) return;
  // Loudly, once: from here every request is held until an administrator decides.
  const std::string what =
      "the breaker tripped: more requests than policy.rate_limits.overall allows; every "
      "request is now held, neither written nor refused. Review them with `wbagent queue list "
      "--state received`, then run `wbagent breaker release` to apply them or `wbagent "
      "breaker reject` to refuse them";
  audit::Event e = by ? AuditEventFor(audit::EventType::kPolicyDecision, *by) : audit::Event{};
  e.type = audit::EventType::kPolicyDecision;
  e.decision = audit::Decision::kHold;
  e.reasons = {std::string(policy::CodeName(policy::Code::kBreakerTripped))};
  e.detail = what;
  Audit(e);
  Log(*deps_.log, spdlog::level::critical, {.event = LogEvent::kBreakerTripped}, "{}", what);
}

// The held requests: those still `received` (Admit runs under admit_mu_, so none is being
// admitted meanwhile). Each decision is recorded (durably) before anything is done on its
// strength, and the breaker changes only after the requests moved: when the trail fails part
// way, the rest stay held behind a breaker that is still tripped, never admitted by the
// ordinary rules at the next start. (The decisions recorded before the failure then stand in
// the trail for requests still held; the administrator's next release or reject records them
// again.)
Result<int> Pipeline::ReleaseHeld() {
  std::lock_guard admitting(admit_mu_);
  if (AuditFailed()) return Unavailable(std::string(kAuditFailedRefusal));
  auto held = deps_.queue->List({.state = queue::State::kReceived, .limit = 100000});
  if (!held.ok()) return held.error();
  std::vector<std::string> ids;
  for (const auto& record : *held) {
    const policy::Decision released;  // allow: no rule holds it any more
    if (!RecordDecision(record.info, released, "breaker release", "", "",
                        audit::Durability::kDurable, "admitted by an administrator after review")) {
      return Unavailable(std::string(kAuditFailedRefusal));
    }
    ids.push_back(record.info.id);
  }
  // Durable: an administrator's decision must stand as recorded, not be decided again by the
  // rules after a crash of the host.
  const std::vector<Status> marked = deps_.queue->MarkReadyAll(ids, queue::Sync::kDurable);
  int moved = 0;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (!marked[i].ok()) {
      deps_.log->warn("request {}: not released: {}", ids[i], marked[i].ToString());
      continue;
    }
    ++moved;
  }
  Notify(static_cast<std::size_t>(moved));
  if (moved != static_cast<int>(ids.size())) return LeftTripped("release", moved, ids.size());
  OnBreakerChanged(CurrentPolicy()->ReleaseBreaker(), nullptr,
                   BreakerOutcome{BreakerAction::kRelease, deps_.clock->Now(), moved});
  return moved;
}

Result<int> Pipeline::RejectHeld() {
  std::lock_guard admitting(admit_mu_);
  if (AuditFailed()) return Unavailable(std::string(kAuditFailedRefusal));
  auto held = deps_.queue->List({.state = queue::State::kReceived, .limit = 100000});
  if (!held.ok()) return held.error();
  int moved = 0;
  for (const auto& record : *held) {
    policy::Decision rejected;
    rejected.matches.push_back({policy::Code::kBreakerRejected, "wbagent breaker reject",
                                "held by the breaker and refused by an administrator", true});
    rejected.verdict = policy::Verdict::kDeny;
    if (!RecordDecision(record.info, rejected, "breaker reject")) break;
    if (!EndDenied(record.info, rejected.matches.front(), milliseconds(0))) break;
    ++moved;
  }
  // Each may have held up its account's next request.
  Notify(static_cast<std::size_t>(moved));
  if (moved != static_cast<int>(held->size())) return LeftTripped("reject", moved, held->size());
  OnBreakerChanged(CurrentPolicy()->RejectBreaker(), nullptr,
                   BreakerOutcome{BreakerAction::kReject, deps_.clock->Now(), moved});
  return moved;
}

// Part way through a release or reject: the breaker stays tripped, so that the requests left
// stay held rather than be admitted by the ordinary rules at the next start.
Status Pipeline::LeftTripped(std::string_view action, int moved, std::size_t held) const {
  if (AuditFailed()) return Unavailable(std::string(kAuditFailedRefusal));
  return Internal("breaker " + std::string(action) + ": " + std::to_string(moved) + " of " +
                  std::to_string(held) +
                  " held request(s) moved; the queue could not move the rest (see the log), and "
                  "the breaker stays tripped: run it again");
}

channel::HelloState Pipeline::HelloState() {
  channel::HelloState hello;
  hello.credits = worker_count_;
  // The cloud takes the listed results as coming right after welcome; after the trail failed
  // none is sent (SendResult).
  if (AuditFailed()) return hello;
  auto pending = deps_.queue->PendingResults(protocol::kMaxUnackedResults);
  if (pending.ok()) {
    for (const auto& r : *pending) {
      if (AwaitsItsRecord(r)) continue;  // as in SendResult
      hello.unacked_results.push_back(r.info.id);
    }
  }
  return hello;
}

void Pipeline::ResendResults() {
  std::uint64_t generation = 0;
  {
    // Cleared before the outbox is read: a result refused after this is noted again, and one
    // refused before it is in what is read.
    std::lock_guard lock(unsent_mu_);
    unsent_results_.clear();
    resend_after_.reset();
    generation = ++resend_generation_;
  }
  auto pending = deps_.queue->PendingResults(protocol::kMaxUnackedResults);
  if (!pending.ok()) return;
  for (const auto& r : *pending) SendResult(r);
  if (pending->size() == protocol::kMaxUnackedResults) {
    std::lock_guard lock(unsent_mu_);
    if (resend_generation_ == generation) {
      resend_after_ = queue::PositionInOutbox(pending->back());
    }
  }
}

// Before the owed results: a result ends every delivery of its id (docs/protocol.md, section
// 8), so a rejection of another envelope with that id must go first.
void Pipeline::SendOwedRejections() {
  std::vector<protocol::Rejected> owed;
  std::uint64_t generation = 0;
  {
    std::lock_guard lock(unsent_mu_);
    owed.swap(unsent_rejections_);
    generation = resend_generation_;
  }
  std::vector<protocol::Rejected> refused;
  for (const protocol::Rejected& r : owed) {
    if (deps_.outbound->Send(r).code() == Code::kResourceExhausted) refused.push_back(r);
  }
  if (refused.empty()) return;
  std::lock_guard lock(unsent_mu_);
  if (generation != resend_generation_) return;  // the connection they belong to is gone
  unsent_rejections_.insert(unsent_rejections_.begin(), refused.begin(), refused.end());
}

// Only the results the channel refused, each once per tick: a result it took is not sent again
// (its resend is the next connection's), so a slow or silent cloud adds no duplicates.
void Pipeline::SendOwedResults() {
  SendOwedRejections();
  std::vector<std::string> owed;
  {
    std::lock_guard lock(unsent_mu_);
    owed.assign(unsent_results_.begin(), unsent_results_.end());
    unsent_results_.clear();
  }
  for (const std::string& id : owed) {
    auto shown = deps_.queue->Show(id);
    if (!shown.ok() || !queue::IsTerminal(shown->record.state) || shown->record.acknowledged_at) {
      continue;  // gone (purged) or acknowledged meanwhile
    }
    SendResult(shown->record);
  }
  AnswerOwedRedeliveries();
  SendNextOutboxPage();
}

// The outbox beyond what ResendResults sent, a page at a time, in its order. A result that
// finished since is in a page too, although its worker sent it: a duplicate, which the cloud
// acknowledges again. The next welcome starts over from the oldest.
void Pipeline::SendNextOutboxPage() {
  std::optional<queue::OutboxPosition> after;
  std::uint64_t generation = 0;
  {
    std::lock_guard lock(unsent_mu_);
    after = resend_after_;
    generation = resend_generation_;
  }
  if (!after) return;
  auto page = deps_.queue->PendingResults(kOutboxPage, after);
  if (!page.ok()) return;  // tried again at the next tick
  for (const auto& r : *page) SendResult(r);
  std::lock_guard lock(unsent_mu_);
  // The channel was lost or a welcome started over meanwhile: this page may not have left.
  if (resend_generation_ != generation) return;
  if (page->size() < kOutboxPage) {
    resend_after_.reset();
  } else {
    resend_after_ = queue::PositionInOutbox(page->back());
  }
}

void Pipeline::OnKeySetChanged(const protocol::Jwks& keys) {
  keys_.trusted = protocol::TrustedKeys(keys);
  audit::Event e;
  e.type = audit::EventType::kKeyRotated;
  e.detail =
      "the cloud's request-signing key set changed (" + std::to_string(keys.keys.size()) + " keys)";
  if (Audit(e) && deps_.keys_recorded) deps_.keys_recorded(KeyMaterial::kCloudKeys);
}

void Pipeline::OnCertificateRenewed(const channel::RenewedCertificate& renewed) {
  audit::Event e;
  e.type = audit::EventType::kKeyRotated;
  e.detail = "the agent's client certificate and key were renewed (" + renewed.subject +
             ", valid from " + FormatUtcSeconds(renewed.not_before) + " until " +
             FormatUtcSeconds(renewed.not_after) + "); they are used from the next connection";
  if (Audit(e) && deps_.keys_recorded) deps_.keys_recorded(KeyMaterial::kCertificate);
}

// Every result sent is recorded before it leaves: its end (directory_write, a denial, an
// expiry) by whoever ended it, and for the outbox's results at start. After the trail failed,
// none leaves: the outbox keeps it for the next start.
void Pipeline::SendResult(const queue::Record& record) {
  if (AuditFailed()) return;
  if (AwaitsItsRecord(record)) return;  // ReportQueueEnd sends it
  if (const Status sent = deps_.outbound->Send(ResultFor(record)); !sent.ok()) {
    // Not connected: re-sent after the next welcome. The outgoing queue full: at the next tick.
    if (sent.code() == Code::kResourceExhausted) {
      std::lock_guard lock(unsent_mu_);
      unsent_results_.insert(record.info.id);
    }
    return;
  }
  audit::Event e = AuditEventFor(audit::EventType::kResultSent, record.info);
  if (record.outcome) e.outcome = record.outcome->code;
  Audit(e);
}

bool Pipeline::Audit(const audit::Event& event) {
  return Audit(event, audit::DefaultDurability(event.type));
}

bool Pipeline::Audit(const audit::Event& event, audit::Durability durability) {
  auto appended = deps_.audit->Append(event, durability);
  if (!appended.ok()) {
    NoteAuditFailure();
    Log(*deps_.log, spdlog::level::err,
        {.event = LogEvent::kAuditAppendFailed, .request_id = event.request_id},
        "audit append failed: {}", appended.error().ToString());
  }
  return appended.ok();
}

bool Pipeline::SyncAudit() {
  const Status synced = deps_.audit->Sync();
  if (!synced.ok()) {
    NoteAuditFailure();
    Log(*deps_.log, spdlog::level::err, {.event = LogEvent::kAuditAppendFailed},
        "audit sync failed: {}", synced.ToString());
  }
  return synced.ok();
}

void Pipeline::NoteAuditFailure() {
  if (!audit_failed_.exchange(true) && deps_.audit_failed) deps_.audit_failed();
}

// Checked after the step's own records were appended: a record that made it into the trail
// before the failure stands, and every append after the failure fails too (audit.h), so the
// flag is set before any step that depends on a record that is missing.
bool Pipeline::HaltedByAudit(const queue::RequestInfo& info, std::string_view step) {
  if (!AuditFailed()) return false;
  Log(*deps_.log, spdlog::level::err, {.event = LogEvent::kHaltedByAudit, .request_id = info.id},
      "request {}: {}: the audit trail failed; the request is left for the next start", info.id,
      step);
  return true;
}

// --- Recovery -------------------------------------------------------------------------

// A process that died during a directory write leaves the request `applying`. Whether the
// write happened is decided by the directory, not guessed: if the password changed after
// the attempt started (and after this agent's own latest write for the account), the
// request succeeded; otherwise it is tried again.
// The directory that shows an interrupted password write applied, and the account, if one
// does and nothing else of the request is owed. With an unlock or a must-change flag to write
// (RestAfterFoundPassword: writes of their own after the password on OpenLDAP, which the
// attempt may not have reached) the request is tried again instead: its retry finds the
// password applied and writes only the rest (Process).
std::optional<Pipeline::FoundWrite> Pipeline::FoundApplied(const queue::Record& record) {
  auto target = ToTarget(record.info);
  if (!target || !WritesPassword(record.info.operations) || !record.attempt_started_at) {
    return std::nullopt;
  }
  const std::optional<WallTime> since = PastOwnWrite(record, *record.attempt_started_at);
  if (!since) return std::nullopt;
  auto dir = deps_.router->Route(*target);
  if (!dir.ok()) return std::nullopt;
  auto account = (*dir)->FindAccount(*target);
  if (!account.ok()) return std::nullopt;  // unreachable now: the retry checks again
  // The interrupted attempt was this agent's own.
  if (HasParts(RestAfterFoundPassword(record.info.operations, *account, true))) {
    return std::nullopt;
  }
  auto changed = (*dir)->PasswordChangedSince(*account, *since);
  if (!changed.ok() || !*changed) return std::nullopt;
  return FoundWrite{(*dir)->name(), account->dn};
}

// A write found applied is recorded as any write is (directory_write, durable) before the
// queue ends the request and its result leaves: an auditor finds every write in the trail,
// also one whose record the interrupted attempt could not make.
Status Pipeline::RecoverInterrupted() {
  auto interrupted = deps_.queue->InterruptedAttempts();
  if (!interrupted.ok()) return interrupted.error();
  for (const auto& record : *interrupted) {
    const std::optional<FoundWrite> applied = FoundApplied(record);
    deps_.log->info("request {} was interrupted by a restart: {}", record.info.id,
                    applied ? "the directory shows it applied" : "it will be retried");
    if (!applied) {
      WB_RETURN_IF_ERROR(deps_.queue->RequeueInterrupted(record.info.id));
      continue;
    }
    ldap::Outcome found = ldap::Succeeded();
    found.note =
        "found applied after a restart: the password changed after the interrupted attempt "
        "started";
    if (!Audit(
            EndRecord(record.info, found, applied->dn, applied->directory, milliseconds::zero()))) {
      return Unavailable("request " + record.info.id +
                         ": its write, found applied, cannot be recorded in the audit trail");
    }
    WB_RETURN_IF_ERROR(deps_.queue->MarkFoundApplied(record.info.id, applied->directory));
    auto detail = deps_.queue->Show(record.info.id);
    if (detail.ok()) SendResult(detail->record);
  }
  return Status::Ok();
}

// The queue ends some requests itself (EndedByQueue: an expiry by Maintain or Retry, a
// password Take could not decrypt) before ReportQueueEnd appends their record: a crash or a
// failed append in between leaves the result in the outbox with no record, and the next
// connection would send it. So every such end whose result the cloud has not acknowledged is
// recorded here, before anything is sent: a duplicate record at worst, never a result without
// one.
Status Pipeline::RecordUnacknowledgedQueueEnds() {
  auto pending = deps_.queue->PendingResults(kOutboxScanLimit);
  if (!pending.ok()) return pending.error();
  bool recorded = false;
  for (const queue::Record& record : *pending) {
    if (!EndedByQueue(record)) continue;
    audit::Event e = QueueEndAuditEvent(record);
    e.detail = "recorded at start, before its unacknowledged result is sent again: " + e.detail;
    if (!Audit(e, audit::Durability::kBuffered)) break;
    recorded = true;
  }
  if (AuditFailed() || (recorded && !SyncAudit())) {
    return Unavailable(
        "the requests the queue ended, whose results wait to be sent, cannot be recorded in the "
        "audit trail");
  }
  for (const queue::Record& record : *pending) {
    if (EndedByQueue(record)) NoteEndRecorded(record.info.id);
  }
  return Status::Ok();
}

// --- Workers --------------------------------------------------------------------------

// Every path that makes work available notifies the workers (admission, a denial or a
// breaker rejection off the workers' threads, Maintain, RetryWaitingNow, the breaker's
// release, a retry scheduled, an owed end recorded at a tick); a worker that ends a request
// takes again at once, so the account's next request needs no notification: this bound only
// limits what a missed notification could cost.
constexpr std::chrono::minutes kLongestWaitForWork{5};

// Until notified, or until the next scheduled request is due (but not before `at_least`).
// This is a wait for work, so the worker's heartbeat is idle meanwhile (common/liveness.h): an
// idle agent wakes no worker.
void Pipeline::WaitForWork(Liveness::Heartbeat* beat, milliseconds at_least) {
  auto next = deps_.queue->NextReadyTime();
  milliseconds longest = kLongestWaitForWork;
  if (next.ok() && next->has_value()) {
    const auto delay = std::chrono::duration_cast<milliseconds>(**next - deps_.clock->Now());
    longest = std::clamp(delay, at_least, longest);
  }
  if (beat) beat->Idle();
  std::unique_lock lock(mu_);
  wake_.wait_for(lock, longest, [this] { return stopping_ || wakeups_ > 0; });
  if (wakeups_ > 0) --wakeups_;
}

// Not a wait for work: nothing is taken again in this process.
void Pipeline::WaitForStop(Liveness::Heartbeat* beat) {
  if (beat) beat->Idle();
  std::unique_lock lock(mu_);
  wake_.wait(lock, [this] { return stopping_; });
}

void Pipeline::WorkerLoop(Liveness::Heartbeat* beat) {
  milliseconds error_pause = milliseconds::zero();  // after consecutive failed Takes
  for (;;) {
    if (beat) beat->Beat();
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
    }
    if (AuditFailed()) return WaitForStop(beat);
    std::optional<queue::Record> unreadable;
    auto work = deps_.queue->Take(&unreadable);
    if (!work.ok()) {
      if (unreadable) {
        // The queue failed that request: recorded, logged and reported here, as an expiry is;
        // the next request may be ready now.
        ReportQueueEnd(*unreadable);
        continue;
      }
      deps_.log->error("queue: {}", work.error().ToString());
      // A queue that cannot be read (I/O error, corruption) while requests are due would
      // otherwise be asked again at once, for ever: each failure doubles the pause.
      error_pause = std::clamp(error_pause * 2, kFirstQueueErrorPause, kLongestQueueErrorPause);
      WaitForWork(beat, error_pause);
      continue;
    }
    error_pause = milliseconds::zero();
    if (!work->has_value()) {
      WaitForWork(beat);
      continue;
    }
    Process(**work, beat);
  }
}

void Pipeline::Process(queue::Work& work, Liveness::Heartbeat* beat) {
  // Before each directory call: the deadline bounds one call, not the whole request.
  const auto progress = [beat] {
    if (beat) beat->Beat();
  };
  const auto start = deps_.clock->Monotonic();
  const auto& info = work.record.info;
  Observe(metrics::Recorder::Latency::kQueueWait, deps_.clock->Now() - work.record.received_at);
  auto target = ToTarget(info);
  if (!target) {
    return Finalize(work,
                    ldap::MakeOutcome(ldap::OutcomeCode::kInternalError, "unknown target kind"), "",
                    "", Since(start, *deps_.clock));
  }
  auto dir = deps_.router->Route(*target);
  if (!dir.ok()) return Finalize(work, dir.error(), "", "", Since(start, *deps_.clock));
  ldap::Directory& directory = **dir;
  progress();
  auto account = directory.FindAccount(*target);
  if (!account.ok()) {
    return Finalize(work, account.error(), "", directory.name(), Since(start, *deps_.clock));
  }
  progress();
  if (!PassesAccountChecks(work, directory, *account, start)) return;
  // After the policy's account checks: an account out of scope or protected gets the policy's
  // answer, which says no more about it than the policy allows.
  if (!account->enabled) {
    return Finalize(work, DisabledAccount(*account), account->dn, directory.name(),
                    Since(start, *deps_.clock));
  }
  progress();
  if (info.operations.validate) return Validate(work, directory, *account, start);
  if (!PassesPasswordChecks(work, directory, *account, start)) return;
  // A password write that may already have been applied (here, before its answer was lost,
  // or by another agent) must not be applied again: it would trip the password history. The
  // account was just read, so its password timestamp costs nothing more.
  const std::optional<AppliedCheck> check = MayHaveBeenApplied(work.record);
  if (check && ldap::PasswordChangedAtOrAfter(*account, check->since)) {
    return FinishFoundApplied(work, directory, *account, check->note, start);
  }
  if (HaltedByAudit(info, "not written")) return;
  progress();
  const auto writing = deps_.clock->Monotonic();
  ldap::Outcome outcome = directory.Apply(*account, ToChange(work));
  Observe(metrics::Recorder::Latency::kDirectoryWrite, deps_.clock->Monotonic() - writing);
  if (check && FoundItsOwnWrite(info.operations, outcome)) {
    outcome = ldap::Succeeded();
    outcome.note =
        "found applied: the directory already holds the requested password (an earlier "
        "attempt wrote it in the same second as the account's previous change)";
  }
  Finalize(work, outcome, account->dn, directory.name(), Since(start, *deps_.clock));
}

// A password found applied is not written again, but the rest of the request is
// (RestAfterFoundPassword; docs/protocol.md, "Hand-over without a second write"). A failure of
// the rest ends the attempt as any write's does.
void Pipeline::FinishFoundApplied(const queue::Work& work, ldap::Directory& directory,
                                  const ldap::Account& account, const char* note,
                                  std::chrono::steady_clock::time_point start) {
  const bool after_own_attempt = work.record.attempts > 1;  // this one is counted already
  const ldap::PasswordChange rest =
      RestAfterFoundPassword(work.record.info.operations, account, after_own_attempt);
  ldap::Outcome outcome = ldap::Succeeded();
  if (HasParts(rest)) {
    if (HaltedByAudit(work.record.info, "not written")) return;
    outcome = directory.Apply(account, rest);
  }
  if (outcome.ok()) outcome.note = note;
  Finalize(work, outcome, account.dn, directory.name(), Since(start, *deps_.clock));
}

// The policy's account checks (policy/policy.h): the directory answers the questions the
// policy asks (its filter, nested group membership), the policy decides. A denial ends the
// request here, before anything is written.
bool Pipeline::PassesAccountChecks(const queue::Work& work, ldap::Directory& directory,
                                   const ldap::Account& account,
                                   std::chrono::steady_clock::time_point start) {
  const auto& info = work.record.info;
  const policy::RequestFacts facts = PolicyFactsFor(info, work.record.received_at);
  policy::AccountFacts known{.directory = directory.name(), .account = &account, .answers = {}};
  const std::shared_ptr<const policy::Policy> rules = CurrentPolicy();
  const ldap::ScopeQuestions questions =
      rules->QuestionsFor(directory.name(), facts.requester.type);
  if (!questions.filter.empty() || !questions.groups.empty()) {
    auto answers = directory.AnswerScope(account, questions);
    if (!answers.ok()) {
      Finalize(work, answers.error(), account.dn, directory.name(), Since(start, *deps_.clock));
      return false;
    }
    known.answers = std::move(*answers);
  }
  const policy::Decision d = rules->CheckAccount(facts, known);
  RecordDecision(info, d, "account", account.dn, directory.name());
  if (d.verdict != policy::Verdict::kDeny) return true;
  EndDenied(info, *d.deciding(), Since(start, *deps_.clock));
  return false;
}

// The password rules (policy/policy.h, CheckPassword) on the decrypted password, before
// anything is written: only for a request that writes one, and only when a rule is on. The
// password is read in place from the Work's Secret; the engine copies it only into memory it
// wipes.
bool Pipeline::PassesPasswordChecks(const queue::Work& work, ldap::Directory& directory,
                                    const ldap::Account& account,
                                    std::chrono::steady_clock::time_point start) {
  const auto& info = work.record.info;
  if (!WritesPassword(info.operations)) return true;
  const policy::RequestFacts facts = PolicyFactsFor(info, work.record.received_at);
  const std::shared_ptr<const policy::Policy> rules = CurrentPolicy();
  if (!rules->ChecksPasswords(directory.name(), facts.requester.type)) return true;
  const policy::Decision d =
      rules->CheckPassword(facts, PasswordFactsFor(work, directory, account));
  RecordDecision(info, d, "password", account.dn, directory.name());
  if (d.verdict != policy::Verdict::kDeny) return true;
  EndDenied(info, *d.deciding(), Since(start, *deps_.clock));
  return false;
}

void Pipeline::Validate(const queue::Work& work, ldap::Directory& directory,
                        const ldap::Account& account, std::chrono::steady_clock::time_point start) {
  const auto& info = work.record.info;
  const std::shared_ptr<const policy::Policy> rules = CurrentPolicy();
  const ValidateAnswer answer =
      AnswerValidate(*rules, PolicyFactsFor(info, work.record.received_at),
                     PasswordFactsFor(work, directory, account), directory, account);
  if (answer.local) RecordDecision(info, *answer.local, "password", account.dn, directory.name());
  const milliseconds duration = Since(start, *deps_.clock);
  if (answer.retry) return Finalize(work, *answer.retry, account.dn, directory.name(), duration);

  audit::Event e = AuditEventFor(audit::EventType::kPasswordValidated, info);
  e.target.dn = account.dn;
  e.directory = directory.name();
  e.outcome = answer.code;
  e.duration = duration;
  e.detail = answer.message;
  Audit(e);
  const queue::Outcome q{
      .state = answer.passed ? queue::State::kSucceeded : queue::State::kRejected,
      .code = answer.code,
      .transient = false,
      .message = answer.message,
      .server = "",
      .duration = duration};
  const std::optional<queue::Record> ended = RecordEnd(info, q);
  if (!ended) return;
  deps_.log->info("request {} for {}: validate: {} in {} ms", info.id, EscapeForLog(info.target),
                  answer.passed ? "the password passes" : answer.code, duration.count());
  Report(*ended, answer.passed, answer.code);
}

// A password write that may already have happened, refused because the account already holds
// exactly this password: the earlier attempt landed, in the same second as the account's
// previous change, where the timestamp cannot tell. Only for a password write alone: with an
// unlock or a must-change flag, whether those parts landed too is not known.
bool Pipeline::FoundItsOwnWrite(const queue::Operations& ops, const ldap::Outcome& outcome) {
  return WritesPasswordAlone(ops) && outcome.code == ldap::OutcomeCode::kPolicyUnchanged;
}

// Whether the password write of `record` may already have happened, and since when; nullopt
// when it cannot have (the first attempt of a request only this agent had).
std::optional<Pipeline::AppliedCheck> Pipeline::MayHaveBeenApplied(
    const queue::Record& record) const {
  if (!WritesPassword(record.info.operations)) return std::nullopt;
  WallTime epoch;
  {
    std::lock_guard lock(mu_);
    epoch = handover_epoch_;
  }
  std::optional<AppliedCheck> check;
  if (record.info.delivery > 1 || record.received_at < epoch) {
    check = AppliedCheck{record.info.issued_at - kHandoverClockTolerance,
                         "found applied: the password changed after the request was issued "
                         "(another agent may have applied it)"};
  } else if (record.attempts > 1) {
    check = AppliedCheck{record.received_at,
                         "found applied: the password changed after the request arrived"};
  }
  if (!check) return std::nullopt;
  const std::optional<WallTime> since = PastOwnWrite(record, check->since);
  if (!since) return std::nullopt;
  check->since = *since;
  return check;
}

// This agent's own write of an earlier request for the account (applied in order, maybe
// after this one arrived) is not this request's: only a change after it counts. At the
// directories' one-second resolution a change in the same second counts as ours.
std::optional<WallTime> Pipeline::PastOwnWrite(const queue::Record& record, WallTime since) const {
  auto own = deps_.queue->LastPasswordWrite(record.info.account_key, record.info.id);
  if (!own.ok()) {
    // Ours and someone else's cannot be told apart: write rather than claim a success.
    deps_.log->warn("request {}: {}; writing without the found-applied check", record.info.id,
                    own.error().ToString());
    return std::nullopt;
  }
  if (!*own) return since;
  const WallTime after_own = std::chrono::floor<std::chrono::seconds>(**own) + 1s;
  return std::max(since, after_own);
}

// How an attempt ended, in three steps: what is recorded (the audit record, durable first,
// then the queue's state), then what is reported (the log, the status, the metrics, the cloud).
void Pipeline::Finalize(const queue::Work& work, const ldap::Outcome& outcome,
                        const std::string& dn, const std::string& directory,
                        milliseconds duration) {
  const auto& info = work.record.info;
  // Durable before anything that depends on it leaves the host: without it, the request
  // neither ends nor is retried. With it, the request ends even when the trail failed since
  // (another thread's append): its end is recorded, and the next start would record the
  // write a second time, or try a failed attempt again.
  if (!Audit(EndRecord(info, outcome, dn, directory, duration))) {
    HaltedByAudit(info, "not ended");
    return;
  }
  const queue::Outcome queued{.state = TerminalStateFor(outcome),
                              .code = std::string(ldap::OutcomeName(outcome.code)),
                              .transient = outcome.transient(),
                              .message = OutcomeMessage(outcome),
                              .server = outcome.server,
                              .duration = duration};
  AttemptEnd end{info, queued, outcome, directory, duration};
  if (EndAttempt(end)) return;
  // The record stays `applying`, holding its slot and its account, and nothing is reported:
  // a result now would contradict the queue. The daemon's tick ends it again.
  std::lock_guard lock(owed_ends_mu_);
  owed_ends_.push_back(std::move(end));
}

bool Pipeline::EndAttempt(const AttemptEnd& end) {
  if (end.outcome.transient()) {
    return RetryOrExpire(end.info, end.queued, end.outcome, end.directory);
  }
  const std::optional<queue::Record> ended = FinishRecorded(end.info, end.queued);
  if (!ended) return false;
  LogFields fields = LogFieldsFor(end.info, LogEvent::kRequestFinished, end.queued.code);
  fields.directory = end.directory;
  Log(*deps_.log, LogLevelFor(end.outcome), fields, "request {} for {}: {} in {} ms", end.info.id,
      EscapeForLog(end.info.target), end.outcome.ToString(), end.duration.count());
  Report(*ended, end.outcome.ok(), end.queued.code);
  return true;
}

// Their records were appended (Finalize): only the queue's transition and the report remain.
// At most max_in_flight: each holds its attempt's slot until it ends.
void Pipeline::EndOwedAttempts() {
  std::vector<AttemptEnd> owed;
  {
    std::lock_guard lock(owed_ends_mu_);
    owed.swap(owed_ends_);
  }
  std::vector<AttemptEnd> still_owed;
  for (AttemptEnd& end : owed) {
    if (!EndAttempt(end)) still_owed.push_back(std::move(end));
  }
  // Each end freed its attempt's slot and its account: work may wait behind them, and this is
  // not a worker's thread, which would take again by itself.
  Notify(owed.size() - still_owed.size());
  std::lock_guard lock(owed_ends_mu_);
  for (AttemptEnd& end : still_owed) owed_ends_.push_back(std::move(end));
}

std::optional<queue::Record> Pipeline::RecordEnd(const queue::RequestInfo& info,
                                                 const queue::Outcome& outcome) {
  // The decision this end depends on may be missing.
  if (HaltedByAudit(info, "not ended")) return std::nullopt;
  return FinishRecorded(info, outcome);
}

std::optional<queue::Record> Pipeline::FinishRecorded(const queue::RequestInfo& info,
                                                      const queue::Outcome& outcome) {
  Result<queue::Record> finished = deps_.queue->Finish(info.id, outcome);
  if (finished.ok()) return std::move(*finished);
  // Not finished: nothing may be reported, since a result would contradict the queue.
  deps_.log->error("request {}: finish: {}", info.id, finished.error().ToString());
  return std::nullopt;
}

bool Pipeline::RetryOrExpire(const queue::RequestInfo& info, const queue::Outcome& failure,
                             const ldap::Outcome& outcome, const std::string& directory) {
  auto retried = deps_.queue->Retry(info.id, failure);
  if (!retried.ok()) {
    deps_.log->error("request {}: retry: {}", info.id, retried.error().ToString());
    return false;
  }
  const bool expired = retried->state == queue::State::kExpired;
  // The retry is due later. This worker takes whatever is ready next, which may hold it long
  // (a directory that does not answer): an idle worker, whose wait was set before the retry
  // existed, must look again and wait for the retry's time instead.
  if (!expired) Notify();
  LogFields fields =
      LogFieldsFor(info, LogEvent::kRequestRetrying, std::string(ldap::OutcomeName(outcome.code)));
  fields.directory = directory;
  Log(*deps_.log, LogLevelFor(outcome), fields, "request {} for {}: {}, {}", info.id,
      EscapeForLog(info.target), outcome.ToString(),
      expired ? "no time left to retry" : "will retry");
  // The expired record comes from Retry's own transaction: no second read that could fail
  // between the expiry and its record.
  if (expired) ReportQueueEnd(*retried);
  return true;
}

void Pipeline::Maintain() {
  // It would end requests (expiries) that could not be recorded; the purge waits too.
  if (AuditFailed()) return;
  auto report = deps_.queue->Maintain();
  if (!report.ok()) {
    deps_.log->warn("queue maintenance: {}", report.error().ToString());
    return;
  }
  if (!report->wal_checkpoint.ok()) {
    deps_.log->warn("queue maintenance: {}", report->wal_checkpoint.ToString());
  }
  for (const queue::Record& record : report->expired) ReportQueueEnd(record);
  // A request that waited behind an expired one for its account may now go.
  Notify(std::max<std::size_t>(1, report->expired.size()));
}

// The result leaves only after its record is durable (audit.h): when the append fails, the
// result is not sent now; it stays in the outbox, and the next start records it first.
void Pipeline::ReportQueueEnd(const queue::Record& record) {
  const audit::Event e = QueueEndAuditEvent(record);
  if (record.state == queue::State::kExpired) {
    Log(*deps_.log, spdlog::level::warn,
        LogFieldsFor(record.info, LogEvent::kRequestExpired, e.outcome),
        "request {} for {}: expired: {}", record.info.id, EscapeForLog(record.info.target),
        e.detail);
  } else {
    Log(*deps_.log, spdlog::level::err,
        LogFieldsFor(record.info, LogEvent::kRequestFinished, e.outcome),
        "request {} for {}: {}: {}", record.info.id, EscapeForLog(record.info.target), e.outcome,
        e.detail);
  }
  if (!Audit(e)) return;
  NoteEndRecorded(record.info.id);
  Report(record, /*succeeded=*/false, e.outcome);
}

void Pipeline::NoteEndRecorded(const std::string& id) {
  std::lock_guard lock(queue_ends_mu_);
  recorded_queue_ends_.insert(id);
}

// An acknowledged result was recorded before it first left (by this process or an earlier
// one): a redelivery of its request is answered with it again.
bool Pipeline::AwaitsItsRecord(const queue::Record& record) {
  if (!EndedByQueue(record) || record.acknowledged_at) return false;
  std::lock_guard lock(queue_ends_mu_);
  return recorded_queue_ends_.count(record.info.id) == 0;
}

void Pipeline::ForgetRecordedEnd(const queue::Record& acknowledged) {
  if (!EndedByQueue(acknowledged)) return;
  std::lock_guard lock(queue_ends_mu_);
  recorded_queue_ends_.erase(acknowledged.info.id);
}

// No worker is woken for the account's next request, which may go now: a worker that reports
// takes again at once, and the callers off the workers' threads wake one themselves.
void Pipeline::Report(const queue::Record& record, bool succeeded, const std::string& code) {
  NoteEnd(record.info, succeeded, code);
  Observe(metrics::Recorder::Latency::kStay, deps_.clock->Now() - record.received_at);
  SendResult(record);
}

void Pipeline::NoteEnd(const queue::RequestInfo& info, bool succeeded, const std::string& code) {
  {
    std::lock_guard lock(mu_);
    if (succeeded) {
      activity_.last_success = deps_.clock->Now();
    } else {
      activity_.last_failure = deps_.clock->Now();
      activity_.last_failure_outcome = code;
    }
  }
  if (deps_.activity_changed) deps_.activity_changed();
  if (deps_.metrics) deps_.metrics->CountRequest(OperationsLabel(info.operations), code);
}

}  // namespace wb::agent
