#pragma once
// The request pipeline: what the daemon does with a request from the moment an envelope
// arrives to the moment the cloud acknowledges its result (internal to agent/).
//
//   OnRequests (the intake thread, agent/intake.h; a batch of envelopes): OpenRequest each
//     (signature, expiry, replay, decrypt) -> EnqueueAll (the batch's requests and replay
//     memory in one durable transaction) -> audit request_received -> "accepted" -> admission
//     (Policy::Admit, audited as policy_decision, one audit sync for the batch) ->
//     MarkReadyAll; a denial: Finish(rejected) -> "result"; a hold (the breaker): stays
//     `received` until ReleaseHeld or RejectHeld
//   workers (max_in_flight threads): Take -> route -> FindAccount -> the account checks
//     (Directory::AnswerScope, Policy::CheckAccount, audited as policy_decision) -> for a
//     password write with password rules on, Policy::CheckPassword on the decrypted password
//     (audited as policy_decision, without the password) -> Apply ->
//     Finish/Retry -> audit directory_write (durable) -> "result" -> audit result_sent
//   OnResultAcks (a batch): AcknowledgeResults (one transaction) -> audit result_acknowledged
//
// A batch costs what one request costs in disk syncs: the queue's intake transaction and, when
// the batch holds a rejection or a denial, one audit sync. Its MarkReadyAll is written, not
// fsynced (queue.h, Durability): the worker's Take carries it to the disk. "accepted" still
// leaves only after the request is durable, a `rejected` or a denial's result only after its
// record is.
//
// A request that fails a check is rejected with its stable code, audited, and writes nothing.
//
// When the queue cannot record how an attempt ended (Finish or Retry fails: a full disk, an
// I/O error), nothing is reported, since a result would contradict the queue: the request stays
// `applying`, and the daemon's tick ends it again (EndOwedAttempts) until the queue takes it.
//
// When the audit trail fails (an append or a sync; audit.h: the Writer is then broken for
// good), the pipeline acts no more, because nothing it did from then on could be recorded:
// - no worker takes a request, nor does admission (AdmitAll) or Maintain move one;
// - a worker past its checks does not write to the directory;
// - no request ends whose end depends on a missing record (no Finish, no Retry), and no
//   result leaves at all (SendResult): the outbox keeps it;
// - no `rejected` is sent; ReleaseHeld and RejectHeld are refused.
// An end whose own record made it (Finalize) still ends: it is recorded. Each request stays
// where it was, as after a crash: `received` (admitted again at the next start), `ready`, or
// `applying` (decided at the next start by the directory, see Recovery). An `accepted` still
// leaves after its request is stored: the queue, not the trail, holds it. The daemon stops
// the process (deps.audit_failed, AuditFailed). The next start records what the outbox would
// send without a record (RecordUnacknowledgedQueueEnds) and the writes it finds applied, before
// they leave.
//
// A password write that may already have been applied is not applied again: before a retry
// the workers look whether the password changed since the request arrived, and before any
// attempt of a request that another agent may have had first (the cloud says so with
// delivery > 1, or the request outlived this process's start or a channel loss, after which
// the cloud may hand it to another agent) whether it changed since the cloud issued it.
// The directory's password timestamp decides, not a guess; see docs/protocol.md section 7.
//
// Threads: OnRequest(s), OnFrameRejected, OnResultAck(s), OnKeySetChanged, OnCertificateRenewed
// and OnChannelLost are
// called one at a time, in the order the channel saw them, from the intake's thread (or a
// test's); HelloState and ResendResults from the channel's thread, at each connection (they read
// the queue, which may wait behind a commit in progress); SendOwedResults from the daemon's
// main loop. The intake, not the channel's thread,
// waits for the disk. The workers run on their own threads.
// Start/Stop from the main thread.

#include <spdlog/logger.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "agent/breaker_file.h"
#include "agent/intake.h"
#include "agent/recorded_keys.h"
#include "audit/audit.h"
#include "channel/channel.h"
#include "common/burst.h"
#include "common/clock.h"
#include "common/liveness.h"
#include "ldap/directory.h"
#include "metrics/metrics.h"
#include "policy/policy.h"
#include "protocol/protocol.h"
#include "queue/queue.h"

namespace wb::agent {

// Where the pipeline sends messages to the cloud (the channel; a fake in tests).
// Errors of Send: kUnavailable while not connected (everything unacknowledged goes again after
// the next welcome); kResourceExhausted when the channel's outgoing queue is full.
class Outbound {
 public:
  virtual ~Outbound() = default;
  virtual Status Send(const protocol::Message& message) = 0;
};

struct PipelineDeps {
  queue::Queue* queue = nullptr;
  ldap::Router* router = nullptr;
  // The pipeline shares it; a reload may replace it (Pipeline::ReplacePolicy).
  std::shared_ptr<policy::Policy> policy;
  audit::Sink* audit = nullptr;
  Outbound* outbound = nullptr;
  const Clock* clock = nullptr;
  std::shared_ptr<spdlog::logger> log;
  // Called (from a worker) after a request finished, so that the status view is rewritten.
  // Must not block. Unset: nothing.
  std::function<void()> activity_changed;
  // Called when the breaker's state changed (it tripped, or an administrator released or
  // rejected what it held), with the new state and, for an administrator's command, what it
  // did, so that both are kept durably and shown. Every call is made under the admissions'
  // lock, so the calls come in the order of the changes: the last one holds the breaker's
  // state. Unset: nothing.
  std::function<void(const policy::BreakerState&, std::optional<BreakerOutcome>)> breaker_changed;
  // Called once, from the thread whose audit append or sync failed first (AuditFailed), so
  // that the daemon stops at once rather than at its next tick. Must not block. Unset: nothing.
  std::function<void()> audit_failed;
  // Called (from the intake thread) after a key_rotated record of a renewal or a key-set
  // rollover is durable, with the material it names, so that the daemon notes it as recorded
  // (recorded_keys.h). Unset: nothing.
  std::function<void(KeyMaterial)> keys_recorded;
  // Counts each ended request, each policy decision and the latencies, for the metrics.
  // Unset: nothing is counted.
  metrics::Recorder* metrics = nullptr;
  // Each worker beats a heartbeat of its own here ("worker N"): before each directory call,
  // after each request and each time it wakes from waiting for work; while it waits for work
  // its heartbeat is idle (common/liveness.h), so an idle worker never wakes to prove it is
  // alive. Unset: no heartbeats.
  Liveness* liveness = nullptr;
  // The longest a worker may go without a beat: one directory call bounded by its timeouts,
  // plus the queue's and the audit trail's writes (ldap::LongestCall).
  std::chrono::milliseconds worker_deadline{std::chrono::minutes(1)};
};

struct PipelineKeys {
  protocol::TrustedKeys trusted;  // the cloud's request-signing keys
  std::shared_ptr<const protocol::EcPrivateKey> encryption_key;
  protocol::OpenOptions open;  // tenant, audience (agent id), skew
};

// When the last request ended well and badly, for `wbagent status`.
struct Activity {
  std::optional<WallTime> last_success;
  std::optional<WallTime> last_failure;
  std::string last_failure_outcome;
};

class Pipeline final : public IntakeTarget {
 public:
  Pipeline(PipelineDeps deps, PipelineKeys keys, int workers);
  ~Pipeline() override;  // Stop()
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  // Resolves attempts interrupted by a crash, re-admits requests left `received`, then starts
  // the workers.
  Status Start();
  // Stops taking work, lets each worker finish the request it holds (bounded by the
  // directory's timeouts), and joins them.
  void Stop();

  // A batch of envelopes, in the order they arrived (see the diagram above). Each ends
  // accepted (stored), answered from the queue (a redelivery) or rejected.
  void OnRequests(std::span<const protocol::Request> batch) override;
  void OnRequest(const protocol::Request& request) { OnRequests({&request, 1}); }
  // The channel answered a frame `rejected` itself (it did not parse, or exceeded the
  // credits): audited like any rejection.
  void OnFrameRejected(const protocol::Rejected& sent) override;
  void OnResultAcks(std::span<const std::string> ids) override;
  void OnResultAck(const std::string& id) { OnResultAcks({&id, 1}); }
  channel::HelloState HelloState();
  // After each welcome: sends the oldest protocol::kMaxUnackedResults unacknowledged results.
  // When there are more, SendOwedResults sends the rest, a page per tick.
  void ResendResults();
  // From the daemon's tick: sends again each result the channel could not take (its outgoing
  // queue was full), answers the redeliveries the queue could not be read to answer, then sends
  // the next page of an outbox larger than ResendResults sent: a backlog drains over the
  // connection instead of waiting for the next one. Nothing when nothing is owed.
  void SendOwedResults();
  // From the daemon's tick: ends again each attempt whose end the queue could not record
  // (Finish or Retry failed: a full disk, an I/O error). Its audit record was made; until the
  // queue takes its end it stays `applying`, and nothing is reported.
  void EndOwedAttempts();
  // Unacknowledged results sent per tick beyond ResendResults' first ones: fewer than the
  // channel's outgoing queue holds (256), so that the workers' own results still fit.
  static constexpr std::size_t kOutboxPage = 200;
  // The cloud's signing keys changed: later envelopes are checked against them (audited).
  void OnKeySetChanged(const protocol::Jwks& keys) override;
  // The agent's own certificate and key were renewed (audited as key_rotated).
  void OnCertificateRenewed(const channel::RenewedCertificate& renewed) override;

  // The channel to the cloud was lost (or a connection attempt failed): the cloud may hand the
  // requests this agent holds to another agent, so they are checked before they are written.
  void OnChannelLost() override;
  // The same check from the moment of the loss, before the intake gets to OnChannelLost. Any
  // thread.
  void MarkChannelLost();

  // Wakes one idle worker for each of `requests` that may go now (at most every worker); cheap.
  // A batch that makes many requests ready at once must say how many: a worker that ends a
  // request takes the next itself and wakes nobody, so one wake-up for a batch would leave it
  // to one worker.
  void Notify(std::size_t requests = 1);
  // Periodic queue maintenance (queue::Queue::Maintain; the daemon calls it every minute from
  // its main loop). Each request it expired is recorded as request_expired (durably) and then
  // its result is sent, as a worker does for a request that Retry expired.
  void Maintain();
  // The administrator fixed the cause of transient failures (a reload): the requests waiting
  // out a back-off are retried now. Returns how many.
  Result<int> RetryWaitingNow();
  Activity LastActivity() const;
  // Whether an audit append or sync has failed since the pipeline was made. The trail's
  // Writer is then broken for good (audit.h), and the pipeline stops acting: see "When the
  // audit trail fails" above. The daemon stops the process when it sees this. Any thread.
  bool AuditFailed() const { return audit_failed_.load(); }

  // `wbagent breaker release`: the breaker closes and the requests it held are admitted
  // (each audited). `wbagent breaker reject`: they end as `breaker_rejected` instead. Either
  // returns how many requests it moved. Any thread.
  Result<int> ReleaseHeld();
  Result<int> RejectHeld();
  policy::BreakerState Breaker() const;

  // A reload changed the policy's rules. `open` builds the new engine from the breaker's
  // current state; it runs with admissions paused, so that every admission is counted by the
  // old engine or seen by `open` (through the queue's records) for the new one. From then on
  // every admission and every account check uses the new rules; a request already past its
  // account checks finishes as it started. When `open` fails, the old rules stay and its error
  // is returned. Any thread.
  using PolicyOpener =
      std::function<Result<std::unique_ptr<policy::Policy>>(const policy::BreakerState&)>;
  Status ReplacePolicy(const PolicyOpener& open);
  // The rules now in force (a snapshot; a reload may replace them after it is taken).
  std::shared_ptr<const policy::Policy> Rules() const { return CurrentPolicy(); }

 private:
  // `beat` is the worker's heartbeat; null when there is no Liveness.
  void WorkerLoop(Liveness::Heartbeat* beat);
  void WaitForWork(Liveness::Heartbeat* beat,
                   std::chrono::milliseconds at_least = std::chrono::milliseconds::zero());
  // The pause of a worker after a Take that failed (not for a request), doubling from the first
  // to the longest while the failures go on; a notification ends it early.
  static constexpr std::chrono::milliseconds kFirstQueueErrorPause{100};
  static constexpr std::chrono::milliseconds kLongestQueueErrorPause{30'000};
  // After the audit trail failed: idle until Stop.
  void WaitForStop(Liveness::Heartbeat* beat);
  // True, with the request's id logged, when the audit trail has failed: `step` (e.g. "not
  // written") must then not happen.
  bool HaltedByAudit(const queue::RequestInfo& info, std::string_view step);
  void Process(queue::Work& work, Liveness::Heartbeat* beat);
  // One envelope of a batch on its way through intake (agent/pipeline_intake.cc).
  struct Arrival;
  // Stores the arrivals that passed the envelope checks in one transaction with the batch's
  // replay memory, then records and answers each arrival. False when that transaction failed.
  bool Store(std::vector<Arrival>& arrivals, std::vector<queue::NonceToRemember> nonces);
  // Records (buffered, then one sync) and sends each arrival's answer, in arrival order.
  void Answer(std::vector<Arrival>& arrivals);
  // Admission of freshly stored (or, at Start, left `received`) requests: every decision
  // recorded, one audit sync, then MarkReadyAll for the admitted. REQUIRES: admit_mu_ held
  // since the requests were stored or listed, so that ReleaseHeld and RejectHeld never see a
  // `received` request whose admission is not decided yet.
  void AdmitAll(const std::vector<queue::Record>& records);
  // A decision that ends admission: a denial ends the request, a hold logs it; false for an
  // admission.
  bool EndsAdmission(const queue::Record& record, const policy::Decision& decision);
  // The account checks between FindAccount and Apply; false when the request ended here.
  bool PassesAccountChecks(const queue::Work& work, ldap::Directory& directory,
                           const ldap::Account& account,
                           std::chrono::steady_clock::time_point start);
  // The password rules before Apply; false when the request ended here.
  bool PassesPasswordChecks(const queue::Work& work, ldap::Directory& directory,
                            const ldap::Account& account,
                            std::chrono::steady_clock::time_point start);
  // A validate request, past its account checks: answers it (agent/validate.h) and records
  // and reports the answer. Nothing is written.
  void Validate(const queue::Work& work, ldap::Directory& directory, const ldap::Account& account,
                std::chrono::steady_clock::time_point start);
  // Records a policy decision; false when it is not in the trail. `stage` is the metrics'
  // label and begins the record's detail; `why`, when given, follows it there.
  bool RecordDecision(const queue::RequestInfo& info, const policy::Decision& decision,
                      std::string_view stage, const std::string& dn = "",
                      const std::string& directory = "",
                      audit::Durability durability = audit::Durability::kDurable,
                      std::string_view why = {});
  // Ends a request that a rule denied: nothing was written. False (logged) when it could not
  // be ended.
  bool EndDenied(const queue::RequestInfo& info, const policy::RuleMatch& rule,
                 std::chrono::milliseconds duration);
  void OnBreakerChanged(const policy::BreakerState& state, const queue::RequestInfo* by,
                        std::optional<BreakerOutcome> action = std::nullopt);
  // ReleaseHeld's or RejectHeld's error when `moved` of `held` requests moved.
  Status LeftTripped(std::string_view action, int moved, std::size_t held) const;
  // After a transient failure: Retry, and when that expired the request, ReportQueueEnd.
  // False (logged) when the queue could not record it.
  bool RetryOrExpire(const queue::RequestInfo& info, const queue::Outcome& failure,
                     const ldap::Outcome& outcome, const std::string& directory);
  // How an attempt ended, recorded in the trail, for the queue and the report.
  struct AttemptEnd {
    queue::RequestInfo info;
    queue::Outcome queued;
    ldap::Outcome outcome;
    std::string directory;
    std::chrono::milliseconds duration;
  };
  // Finish or Retry, then the log and the result; false when the queue could not record it
  // (nothing was reported).
  bool EndAttempt(const AttemptEnd& end);
  // Finish: the finished record; nullopt (logged) when the queue could not record the end or
  // the audit trail has failed, and then nothing is reported.
  std::optional<queue::Record> RecordEnd(const queue::RequestInfo& info,
                                         const queue::Outcome& outcome);
  // Finish, for an end whose own record was appended (Finalize): not stopped by a failure of
  // the trail since. nullopt (logged) when the queue could not record it.
  std::optional<queue::Record> FinishRecorded(const queue::RequestInfo& info,
                                              const queue::Outcome& outcome);
  // After Finish/Retry made the request terminal (`record`, as it is now): NoteEnd, then the
  // result to the cloud.
  void Report(const queue::Record& record, bool succeeded, const std::string& code);
  // The request's end in the status view and the metrics.
  void NoteEnd(const queue::RequestInfo& info, bool succeeded, const std::string& code);
  // After the queue ended the request itself (`record`, terminal, EndedByQueue): an expiry by
  // Retry or Maintain, or a password that Take could not decrypt. Audits the end
  // (QueueEndAuditEvent), logs it, and reports it once the record is durable.
  void ReportQueueEnd(const queue::Record& record);
  // recorded_queue_ends_: an end recorded; an acknowledged one forgotten.
  void NoteEndRecorded(const std::string& id);
  void ForgetRecordedEnd(const queue::Record& acknowledged);
  // A result the queue ended itself that this process has not recorded yet: not sent.
  bool AwaitsItsRecord(const queue::Record& record);
  void Finalize(const queue::Work& work, const ldap::Outcome& outcome, const std::string& dn,
                const std::string& directory, std::chrono::milliseconds duration);
  void SendResult(const queue::Record& record);
  // Audits, then sends `rejected`; false when the full outgoing queue refused it.
  bool Reject(const protocol::Rejection& rejection);
  // Audits (with `durability`) and logs a rejection; false when it was summarised instead.
  bool RecordRejection(const protocol::Rejection& rejection,
                       audit::Durability durability = audit::Durability::kDurable);
  // The summaries of what the BurstLimiters below counted instead of recording or logging.
  static constexpr std::string_view kUnauthenticatedSummary =
      "more rejections with unauthenticated ids, not recorded one by one,";
  static constexpr std::string_view kRepeatedSummary =
      "more rejections of envelopes already rejected for the same reason, each recorded once "
      "before, not recorded again,";
  static constexpr std::string_view kUnmatchedAcksSummary =
      "more acknowledgements of results this agent does not hold, not logged one by one,";
  static constexpr std::string_view kFailedAcksSummary =
      "more acknowledgements the queue could not store, not logged one by one,";
  void RecordRejectionSummary(const BurstSummary& summary, std::string_view what,
                              bool unauthenticated);
  void LogAckSummary(spdlog::level::level_enum level, const BurstSummary& summary,
                     std::string_view what);
  void FlushSummaries();
  // Answers a redelivered (id, nonce) with the state the queue holds for it; false when the
  // queue holds nothing for it, so that the request is enqueued as new.
  // One delivery of an envelope, by its signed id and nonce, whose answer waits for the queue
  // to read again (unanswered_deliveries_).
  struct OwedAnswer {
    std::string id;
    std::string nonce;
    bool operator==(const OwedAnswer&) const = default;
  };
  // What an owed delivery is answered: `replayed`, `unavailable` (no record), or the
  // record's state (`accepted` or its result).
  struct OwedVerdict {
    bool replayed = false;
    std::optional<queue::Record> record;
  };
  bool AnswerRedelivery(const OwedAnswer& delivery);
  void OweAnswer(OwedAnswer delivery, const std::string& why);
  // nullopt while the queue still cannot be read.
  std::optional<OwedVerdict> JudgeOwed(const OwedAnswer& delivery);
  // False when the outgoing queue was full: the delivery is owed still.
  bool SendOwed(const std::string& id, const OwedVerdict& verdict);
  static protocol::Rejection RefusedByQueue(const Status& refusal, const std::string& id);
  // Appends `event` (logging a failure); false when it is not in the trail.
  bool Audit(const audit::Event& event);
  bool Audit(const audit::Event& event, audit::Durability durability);
  // Makes the records appended so far durable (logging a failure).
  bool SyncAudit();
  // Sets audit_failed_; the first time, tells deps_.audit_failed.
  void NoteAuditFailure();
  Status RecoverInterrupted();
  Status RecordUnacknowledgedQueueEnds();
  // The most outbox records RecordUnacknowledgedQueueEnds reads (the cloud holds far fewer
  // unacknowledged results: protocol::kMaxUnackedResults).
  static constexpr std::size_t kOutboxScanLimit = 100'000;
  struct FoundWrite {
    std::string directory;  // its name in the config
    std::string dn;
  };
  std::optional<FoundWrite> FoundApplied(const queue::Record& record);
  struct AppliedCheck {
    WallTime since;    // a password change at or after this time counts as this request's
    const char* note;  // the outcome's note when it does
  };
  std::optional<AppliedCheck> MayHaveBeenApplied(const queue::Record& record) const;
  // `since`, or the second after this agent's own latest password write for the account when
  // that is later; nullopt when that write cannot be read.
  std::optional<WallTime> PastOwnWrite(const queue::Record& record, WallTime since) const;
  // Ends a request whose password was found applied, writing its other parts.
  void FinishFoundApplied(const queue::Work& work, ldap::Directory& directory,
                          const ldap::Account& account, const char* note,
                          std::chrono::steady_clock::time_point start);
  static bool FoundItsOwnWrite(const queue::Operations& ops, const ldap::Outcome& outcome);

  // Adds to deps_.metrics, when set.
  void Observe(metrics::Recorder::Latency which, std::chrono::duration<double> d);

  // The rules now in force: each request's checks use one snapshot (QuestionsFor and
  // CheckAccount must come from the same rules).
  std::shared_ptr<policy::Policy> CurrentPolicy() const;

  PipelineDeps deps_;
  mutable std::mutex policy_mu_;
  std::shared_ptr<policy::Policy> policy_;  // guarded by policy_mu_
  // Storing and admitting a batch, and the breaker's release or rejection, one at a time: a
  // request is admitted once, either by Admit or by ReleaseHeld.
  std::mutex admit_mu_;
  PipelineKeys keys_;  // touched on the intake's thread only
  // Rejections with unauthenticated ids (docs/audit.md): the first kUnauthenticatedPerWindow a
  // minute are recorded one by one, the rest summarised. The intake's thread only (and Stop,
  // after the intake has stopped).
  static constexpr std::size_t kUnauthenticatedPerWindow = 20;
  static constexpr std::chrono::milliseconds kUnauthenticatedWindow{60'000};
  static constexpr std::string_view kUnauthenticatedReason = "id_not_authenticated";
  static constexpr std::string_view kBurstOutcome = "rejections_summarized";
  BurstLimiter unauthenticated_;
  // Acknowledgements of results this agent does not hold (an unknown id, or a request not
  // finished), which a correct cloud never sends: the first kUnauthenticatedPerWindow a minute
  // are logged one by one, the rest counted in one line, so a cloud repeating them cannot
  // flood the log. The intake's thread only (and Stop, after the intake has stopped).
  BurstLimiter unmatched_acks_;
  BurstLimiter failed_acks_;  // acks the queue could not store: logged at error, 20 a minute
  // Authenticated rejections already recorded: the same envelope rejected again for the same
  // reason (a front end that re-sends an expired envelope forever, a cloud that redelivers
  // what was refused) is answered each time but recorded once per kRepeatWindow and counted
  // after, in one summary per kUnauthenticatedWindow. Bounded: kRepeatMemory (id, code) pairs.
  // Guarded by repeats_mu_ (the intake's thread and the daemon's tick both reject).
  static constexpr std::size_t kRepeatMemory = 4096;
  static constexpr std::chrono::milliseconds kRepeatWindow{15 * 60'000};
  std::mutex repeats_mu_;
  RecentKeys rejected_recently_;
  BurstLimiter repeated_rejections_;
  bool IsRepeatedRejection(const protocol::Rejection& rejection);
  const int worker_count_;
  mutable std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;  // guarded by mu_
  int wakeups_ = 0;        // guarded by mu_: notifications not yet consumed, <= worker_count_
  Activity activity_;      // guarded by mu_
  // What an administrator's command that needs the trail is told after it failed.
  static constexpr std::string_view kAuditFailedRefusal =
      "the audit trail cannot be written: the agent records and does nothing until it is "
      "restarted with a trail it can write";
  // Set, never cleared, by the first failed audit append or sync (AuditFailed).
  std::atomic<bool> audit_failed_{false};
  // The requests the queue ended itself (EndedByQueue) whose end this process has recorded,
  // until the cloud acknowledges their result. SendResult sends such a result only once it is
  // here: the queue commits the end before ReportQueueEnd records it, and a reconnection's
  // re-send or a redelivery's answer in between must not send it unrecorded.
  std::mutex queue_ends_mu_;
  std::unordered_set<std::string> recorded_queue_ends_;  // guarded by queue_ends_mu_
  // The ids of results the channel refused since the last (re)send: SendOwedResults sends them
  // again. At most the queue's unacknowledged results.
  std::mutex unsent_mu_;
  std::set<std::string> unsent_results_;  // guarded by unsent_mu_
  // Rejections of the current connection that its full outgoing queue refused: each holds a
  // credit until it is answered, so the tick sends them again (SendOwedRejections); a lost
  // channel forgets them (the cloud sends the envelopes again). At most the credits' worth.
  std::vector<protocol::Rejected> unsent_rejections_;  // guarded by unsent_mu_
  void SendOwedRejections();
  // Where this connection's re-send of the outbox stopped, while more results may follow it
  // (SendOwedResults sends the next page); unset when the whole outbox went. Guarded by
  // unsent_mu_.
  std::optional<queue::OutboxPosition> resend_after_;
  // Counts the welcomes' re-sends and the channel's losses, so that a page read before one of
  // them never moves resend_after_. Guarded by unsent_mu_.
  std::uint64_t resend_generation_ = 0;
  // Deliveries whose answer waits for the queue to read again (OweAnswer: a redelivery whose
  // record, or an envelope whose replay memory, could not be read), one entry per delivery:
  // each holds a credit of the current connection, so at most protocol::kMaxCredits. Guarded
  // by unsent_mu_.
  std::vector<OwedAnswer> unanswered_deliveries_;
  void AnswerOwedRedeliveries();
  // Attempts whose end the queue could not record yet (EndOwedAttempts).
  std::mutex owed_ends_mu_;
  std::vector<AttemptEnd> owed_ends_;  // guarded by owed_ends_mu_
  void SendNextOutboxPage();
  // Requests received before this time may have been handed to another agent: the start of
  // this process or the latest channel loss. Guarded by mu_.
  WallTime handover_epoch_{};
  std::vector<std::thread> workers_;
};

}  // namespace wb::agent
