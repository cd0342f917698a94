// The request pipeline with a real queue and audit trail, real envelopes, a fake directory
// and a fake channel: each path a request can take, and what it must never do.
#include "agent/pipeline.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spdlog/sinks/ringbuffer_sink.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <future>
#include <iterator>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <thread>
#include <variant>

#include "agent/open.h"
#include "audit/audit.h"
#include "tests/queue/queue_test_util.h"
#include "tests/support/fake_clock.h"
#include "tests/support/process.h"

namespace wb::agent {
namespace {

using namespace std::chrono_literals;

class FakeOutbound final : public Outbound {
 public:
  Status Send(const protocol::Message& m) override {
    if (std::holds_alternative<protocol::ResultMessage>(m) && refuse_results > 0) {
      --refuse_results;
      return Status(Code::kResourceExhausted, "the outgoing queue is full");
    }
    if (std::holds_alternative<protocol::Rejected>(m) && refuse_rejections > 0) {
      --refuse_rejections;
      return Status(Code::kResourceExhausted, "the outgoing queue is full");
    }
    if (on_send) on_send(m);
    std::lock_guard lock(mu_);
    sent_.push_back(m);
    return Status::Ok();
  }
  // Called as each message leaves, before it is kept. Set before anything is sent.
  std::function<void(const protocol::Message&)> on_send;
  // The next this many results are refused, as a full outgoing queue refuses them.
  std::atomic<int> refuse_results{0};
  std::atomic<int> refuse_rejections{0};  // and rejections
  // The type of each message sent, in order: "rejected", "result", ...
  std::vector<std::string> Kinds() {
    std::lock_guard lock(mu_);
    std::vector<std::string> out;
    for (const auto& m : sent_) {
      out.push_back(std::holds_alternative<protocol::Rejected>(m)        ? "rejected"
                    : std::holds_alternative<protocol::ResultMessage>(m) ? "result"
                    : std::holds_alternative<protocol::Accepted>(m)      ? "accepted"
                                                                         : "other");
    }
    return out;
  }
  template <typename T>
  std::vector<T> All() {
    std::lock_guard lock(mu_);
    std::vector<T> out;
    for (const auto& m : sent_) {
      if (auto* t = std::get_if<T>(&m)) out.push_back(*t);
    }
    return out;
  }
  void Clear() {
    std::lock_guard lock(mu_);
    sent_.clear();
  }

 private:
  std::mutex mu_;
  std::vector<protocol::Message> sent_;
};

// A directory whose answers the test scripts. Thread-safe.
class FakeDirectory final : public ldap::Directory {
 public:
  const std::string& name() const override { return name_; }
  Result<ldap::Account, ldap::Outcome> FindAccount(const ldap::Target& t) override {
    if (on_find) on_find(t);
    ldap::Account a{.dn = t.value};
    std::lock_guard lock(mu_);
    a.protected_account = protected_accounts_.count(t.value) > 0;
    a.enabled = disabled_accounts_.count(t.value) == 0;
    a.must_change_password = must_change_.count(t.value) > 0;
    a.reset_may_leave_mark = resets_may_leave_mark;
    if (auto it = password_changed_at_.find(t.value); it != password_changed_at_.end()) {
      a.password_changed_at = it->second;
    }
    return a;
  }
  ldap::Outcome Apply(const ldap::Account& a, const ldap::PasswordChange& change) override {
    {
      std::unique_lock lock(mu_);
      ++at_gate;
      gate_.wait(lock, [this] { return !closed_; });
      --at_gate;
    }
    if (on_apply) on_apply(a);
    {
      std::lock_guard lock(mu_);
      changes_.push_back({change.password, change.unlock, change.must_change});
    }
    ++applies;
    if (change.new_password != nullptr && stamp_writes) {
      SetPasswordChangedAt(a.dn, SystemClock().Now());
    }
    if (fail_transiently_once.exchange(false)) {
      return ldap::MakeOutcome(ldap::OutcomeCode::kDirectoryTimeout, "no answer");
    }
    return next_outcome;
  }
  Result<ldap::PasswordPolicy, ldap::Outcome> EffectivePolicy(const ldap::Account&) override {
    ++policy_reads;
    if (fail_policy_once.exchange(false)) {
      return ldap::MakeOutcome(ldap::OutcomeCode::kDirectoryUnavailable, "down");
    }
    std::lock_guard lock(mu_);
    return policy_;
  }
  void SetPolicy(ldap::PasswordPolicy p) {
    std::lock_guard lock(mu_);
    policy_ = std::move(p);
  }
  Status ReloadSecrets() override { return Status::Ok(); }
  ldap::Outcome CheckServiceBind() override { return ldap::Succeeded("fake://"); }
  Result<bool, ldap::Outcome> PasswordChangedSince(const ldap::Account& a,
                                                   WallTime since) override {
    auto fresh = FindAccount({config::LookupAttribute::kUid, a.dn});
    return ldap::PasswordChangedAtOrAfter(*fresh, since);
  }
  std::vector<ldap::ServerHealth> Health() const override { return {}; }
  // Called as each write reaches the directory, before it is made. Set before the workers run.
  std::function<void(const ldap::Account&)> on_apply;
  // Called as each lookup reaches the directory. Set before the workers run.
  std::function<void(const ldap::Target&)> on_find;
  Result<ldap::ScopeAnswers, ldap::Outcome> AnswerScope(const ldap::Account& a,
                                                        const ldap::ScopeQuestions& q) override {
    ++questions_asked;
    if (fail_answers_once.exchange(false)) {
      return ldap::MakeOutcome(ldap::OutcomeCode::kDirectoryUnavailable, "down");
    }
    std::lock_guard lock(mu_);
    ldap::ScopeAnswers answers;
    answers.matches_filter = !q.filter.empty() ? filter_matches_.count(a.dn) > 0 : true;
    for (std::size_t i = 0; i < q.groups.size(); ++i) {
      if (members_.count({q.groups[i], a.dn}) > 0) answers.member_of.push_back(i);
    }
    return answers;
  }
  // Scripted directory facts, for the policy's questions.
  void MatchesFilter(const std::string& uid) {
    std::lock_guard lock(mu_);
    filter_matches_.insert(uid);
  }
  void AddMember(const std::string& group, const std::string& uid) {
    std::lock_guard lock(mu_);
    members_.insert({group, uid});
  }
  void Protect(const std::string& uid) {
    std::lock_guard lock(mu_);
    protected_accounts_.insert(uid);
  }
  void Disable(const std::string& uid) {
    std::lock_guard lock(mu_);
    disabled_accounts_.insert(uid);
  }
  // Whether the accounts found say a reset may leave a must-change mark (OpenLDAP, the default
  // here) or not (AD).
  std::atomic<bool> resets_may_leave_mark{true};
  // As slapd marks an account after an administrator's reset under pwdMustChange.
  void MarkMustChange(const std::string& uid) {
    std::lock_guard lock(mu_);
    must_change_.insert(uid);
  }
  // As if someone (another agent, the user) set the password of `uid` at `t`.
  void SetPasswordChangedAt(const std::string& uid, WallTime t) {
    std::lock_guard lock(mu_);
    password_changed_at_[uid] = t;
  }
  // What each Apply was asked to write, without the passwords.
  struct AppliedChange {
    ldap::PasswordChange::Password password;
    bool unlock;
    ldap::PasswordChange::MustChange must_change;
  };
  std::vector<AppliedChange> Changes() {
    std::lock_guard lock(mu_);
    return changes_;
  }
  // While closed, Apply waits: the workers stay busy.
  void SetGate(bool closed) {
    {
      std::lock_guard lock(mu_);
      closed_ = closed;
    }
    gate_.notify_all();
  }

  std::atomic<int> applies{0};
  std::atomic<int> at_gate{0};  // Apply calls waiting at the closed gate
  std::atomic<int> questions_asked{0};
  std::atomic<bool> fail_answers_once{false};
  std::atomic<bool> fail_transiently_once{false};
  std::atomic<bool> fail_policy_once{false};
  std::atomic<int> policy_reads{0};
  // False: a write leaves the password timestamp as it was (as when it lands in the same
  // second as the account's previous change, where a second's resolution cannot show it).
  std::atomic<bool> stamp_writes{true};
  ldap::Outcome next_outcome = ldap::Succeeded("ldaps://fake");

 private:
  std::string name_ = "fake";
  std::set<std::string> filter_matches_;
  std::set<std::pair<std::string, std::string>> members_;
  std::set<std::string> protected_accounts_;
  std::set<std::string> disabled_accounts_;
  std::set<std::string> must_change_;
  std::mutex mu_;
  std::condition_variable gate_;
  bool closed_ = false;
  std::map<std::string, WallTime> password_changed_at_;
  std::vector<AppliedChange> changes_;
  ldap::PasswordPolicy policy_;
};

// The real queue, with Finish and Retry failing on demand (as a full disk or an I/O error
// would make them fail). Counts Take calls, so a test knows when a worker has moved on.
class FaultyQueue final : public queue::Queue {
 public:
  explicit FaultyQueue(std::unique_ptr<queue::Queue> inner) : inner_(std::move(inner)) {}
  std::atomic<bool> fail_enqueue_all{false};
  std::atomic<bool> fail_finish{false};
  std::atomic<bool> fail_retry{false};
  std::atomic<bool> fail_show{false};
  std::atomic<bool> fail_acks{false};          // AcknowledgeResults fails each id with kUnavailable
  std::atomic<bool> fail_replay_reads{false};  // IsNonceRemembered and HoldsRequest
  std::atomic<bool> corrupt_storage{false};    // Take fails with kCorruption, no request ended
  std::atomic<int> failed_calls{0};
  std::atomic<int> takes{0};
  std::atomic<int> durable_admissions{0};  // MarkReadyAll calls with Sync::kDurable
  std::atomic<int> ordered_admissions{0};  // and with Sync::kOrdered

  Result<queue::EnqueueResult> Enqueue(const queue::Request& r) override {
    return inner_->Enqueue(r);
  }
  Result<bool> RememberNonce(std::string_view nonce, WallTime expires_at) override {
    return inner_->RememberNonce(nonce, expires_at);
  }
  Result<std::vector<Result<queue::EnqueueResult>>> EnqueueAll(
      std::span<const queue::NonceToRemember> nonces,
      std::span<const queue::Request* const> requests) override {
    if (fail_enqueue_all) return Status(Code::kIoError, "injected: disk I/O error");
    auto stored = inner_->EnqueueAll(nonces, requests);
    if (after_enqueue_all && !after_enqueue_all_called.exchange(true)) after_enqueue_all();
    return stored;
  }
  // Called once, after the first EnqueueAll that follows setting it (the commit is made).
  std::function<void()> after_enqueue_all;
  std::atomic<bool> after_enqueue_all_called{false};
  Result<bool> HoldsRequest(std::string_view id) override {
    if (fail_replay_reads) return ReplayReadFailed();
    return inner_->HoldsRequest(id);
  }
  Result<bool> IsNonceRemembered(std::string_view nonce) override {
    if (fail_replay_reads) return ReplayReadFailed();
    return inner_->IsNonceRemembered(nonce);
  }
  Result<bool> IsNonceRememberedWithPrefix(std::string_view prefix) override {
    if (fail_replay_reads) return ReplayReadFailed();
    return inner_->IsNonceRememberedWithPrefix(prefix);
  }
  Status ReplayReadFailed() {
    ++failed_calls;
    return Status(Code::kIoError, "injected: disk I/O error reading the replay memory");
  }
  Status MarkReady(std::string_view id) override { return inner_->MarkReady(id); }
  std::vector<Status> MarkReadyAll(std::span<const std::string> ids, queue::Sync sync) override {
    ++(sync == queue::Sync::kDurable ? durable_admissions : ordered_admissions);
    return inner_->MarkReadyAll(ids, sync);
  }
  using queue::Queue::Take;
  Result<std::optional<queue::Work>> Take(std::optional<queue::Record>* unreadable) override {
    ++takes;
    if (corrupt_storage) {
      if (unreadable != nullptr) unreadable->reset();
      return Status(Code::kCorruption, "injected: database disk image is malformed");
    }
    return inner_->Take(unreadable);
  }
  Result<std::optional<WallTime>> NextReadyTime() override { return inner_->NextReadyTime(); }
  Result<queue::Record> Finish(std::string_view id, const queue::Outcome& outcome) override {
    if (fail_finish) {
      ++failed_calls;
      return Status(Code::kIoError, "injected: disk I/O error");
    }
    return inner_->Finish(id, outcome);
  }
  Result<int> RetryWaitingNow() override { return inner_->RetryWaitingNow(); }
  Result<queue::Record> Retry(std::string_view id, const queue::Outcome& failure) override {
    if (fail_retry) {
      ++failed_calls;
      return Status(Code::kIoError, "injected: disk I/O error");
    }
    return inner_->Retry(id, failure);
  }
  Result<std::vector<queue::Record>> InterruptedAttempts() override {
    return inner_->InterruptedAttempts();
  }
  Status MarkFoundApplied(std::string_view id, std::string_view server) override {
    return inner_->MarkFoundApplied(id, server);
  }
  Status RequeueInterrupted(std::string_view id) override { return inner_->RequeueInterrupted(id); }
  Result<std::optional<WallTime>> LastPasswordWrite(std::string_view account_key,
                                                    std::string_view except_id) override {
    return inner_->LastPasswordWrite(account_key, except_id);
  }
  using queue::Queue::PendingResults;
  Result<std::vector<queue::Record>> PendingResults(
      std::size_t limit, std::optional<queue::OutboxPosition> after) override {
    return inner_->PendingResults(limit, after);
  }
  Status AcknowledgeResult(std::string_view id) override { return inner_->AcknowledgeResult(id); }
  std::vector<Result<queue::Record>> AcknowledgeResults(std::span<const std::string> ids) override {
    if (fail_acks) {
      ++failed_calls;
      return std::vector<Result<queue::Record>>(ids.size(), Unavailable("database is locked"));
    }
    return inner_->AcknowledgeResults(ids);
  }
  Result<queue::MaintenanceReport> Maintain() override { return inner_->Maintain(); }
  Result<queue::Stats> GetStats() override { return inner_->GetStats(); }
  Result<std::vector<queue::Record>> List(const queue::ListFilter& filter) override {
    return inner_->List(filter);
  }
  Result<queue::RequestDetail> Show(std::string_view id) override {
    if (fail_show) {
      ++failed_calls;
      return Status(Code::kIoError, "injected: disk I/O error");
    }
    return inner_->Show(id);
  }

 private:
  std::unique_ptr<queue::Queue> inner_;
};

// The seeds of a property test: fixed ones, so that a failure found once repeats in every run,
// and one more for this run (WB_PROPERTY_SEED, else random), so that runs together explore more
// than the fixed ones. A failure's trace names its seed; WB_PROPERTY_SEED=N replays it.
std::vector<std::uint32_t> PropertySeeds(std::uint32_t fixed) {
  std::vector<std::uint32_t> seeds;
  for (std::uint32_t seed = 1; seed <= fixed; ++seed) seeds.push_back(seed);
  const char* env = std::getenv("WB_PROPERTY_SEED");
  seeds.push_back(env != nullptr && *env != '\0'
                      ? static_cast<std::uint32_t>(std::strtoul(env, nullptr, 10))
                      : std::random_device{}());
  return seeds;
}
std::string SeedTrace(std::uint32_t seed) {
  return "seed " + std::to_string(seed) + " (WB_PROPERTY_SEED=" + std::to_string(seed) +
         " replays it)";
}

class PipelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    OpenQueue();
    OpenWriter(/*faulty=*/false);
    auto signing = protocol::EcPrivateKey::Generate();
    auto encryption = protocol::EcPrivateKey::Generate();
    ASSERT_TRUE(signing.ok() && encryption.ok());
    signing_ = std::make_unique<protocol::EcPrivateKey>(std::move(*signing));
    agent_key_ = std::make_shared<const protocol::EcPrivateKey>(std::move(*encryption));
    auto directory = std::make_unique<FakeDirectory>();
    directory_ = directory.get();
    std::vector<std::unique_ptr<ldap::Directory>> dirs;
    dirs.push_back(std::move(directory));
    router_ =
        std::make_unique<ldap::Router>(std::move(dirs), std::vector<config::DirectoryConfig>(1));
    policy_config_.directories.resize(1);
    policy_config_.directories[0].name = "fake";
    MakePipeline();
  }
  // The audit trail. A faulty one fails as a dead disk would: once armed_, every file call of
  // the Writer from the fail_from_-th on fails with EIO (after the first, the Writer is broken
  // anyway: audit.h).
  void OpenWriter(bool faulty) {
    audit_.reset();
    audit::WriterOptions options{.file = dir_.path() / "audit.jsonl",
                                 .checkpoint_file = dir_.path() / "audit.checkpoint",
                                 .agent_id = "agent-1"};
    if (faulty) options.inject_fault = [this](audit::FileCall call) { return FaultNow(call); };
    auto writer = audit::Writer::Open(std::move(options), Secret(std::string(32, 'k')), *clock_);
    ASSERT_TRUE(writer.ok()) << writer.error().ToString();
    audit_ = std::move(*writer);
  }
  int FaultNow(audit::FileCall call) {
    if (!armed_.load()) return 0;
    const int n = calls_after_arming_.fetch_add(1);
    if (n < fail_from_) return 0;
    if (n == fail_from_) first_failed_call_ = static_cast<int>(call);
    return EIO;
  }
  // Which call failed first (its audit::FileCall), or -1: which call the N-th is depends on
  // the threads' timing, so a failing test says it.
  std::string FirstFailure() const {
    return "the trail's first failed call: #" + std::to_string(fail_from_) + ", FileCall " +
           std::to_string(first_failed_call_.load());
  }
  void OpenQueue(std::size_t max_pending = 10'000) {
    auto q = queue::Queue::Open({.state_dir = dir_.path() / "state",
                                 .max_pending = max_pending,
                                 .backoff_base = 10ms,
                                 .backoff_cap = 20ms,
                                 .random = [] { return 0.5; }},
                                *clock_);
    ASSERT_TRUE(q.ok()) << q.error().ToString();
    auto faulty = std::make_unique<FaultyQueue>(std::move(*q));
    faulty_ = faulty.get();
    queue_ = std::move(faulty);
  }
  // The agent stops (as a crash would: nothing is finished on the way) and starts again on the
  // same state directory. Not started: no worker takes requests, so the queue stays as full
  // as the test made it.
  void Restart(std::size_t max_pending) {
    breaker_ = pipeline_->Breaker();  // kept durably by the daemon (breaker_file.h)
    pipeline_.reset();
    policy_.reset();
    queue_.reset();
    OpenQueue(max_pending);
    MakePipeline(/*start=*/false);
  }
  void MakePipeline(bool start = true, int workers = 2) {
    PipelineKeys keys;
    keys.trusted = protocol::TrustedKeys(protocol::Jwks{{signing_->PublicJwk("sig", "ES256")}});
    keys.encryption_key = agent_key_;
    keys.open.expected_tenant = "tenant-1";
    keys.open.expected_audience = "agent-1";
    if (!policy_) {
      auto opened = policy::Policy::Open(policy_config_, *clock_, {}, breaker_);
      ASSERT_TRUE(opened.ok()) << opened.error().ToString();
      policy_ = std::move(*opened);
    }
    pipeline_ = std::make_unique<Pipeline>(
        PipelineDeps{
            .queue = queue_.get(),
            .router = router_.get(),
            .policy = policy_,
            .audit = audit_.get(),
            .outbound = &outbound_,
            .clock = clock_,
            .log = log_,
            .activity_changed = {},
            .breaker_changed =
                [this](const policy::BreakerState& state, std::optional<BreakerOutcome> action) {
                  std::lock_guard lock(breaker_mu_);
                  breaker_changes_.emplace_back(state, action);
                },
            .audit_failed = [this] { ++audit_failed_calls_; },
            .keys_recorded =
                [this](KeyMaterial which) {
                  ++keys_recorded_calls_;
                  last_key_recorded_ = which;
                },
            .metrics = &recorder_},
        std::move(keys), workers);
    if (start) {
      ASSERT_TRUE(pipeline_->Start().ok());
      PastTheStartsMillisecond();
    }
  }
  // Start marks everything received before it as possibly handed over, and the queue keeps
  // times in milliseconds: a request stored in the same millisecond would count as older than
  // the start. In the daemon the channel connects long after; a test waits that one
  // millisecond out, so that its requests are first deliveries.
  void PastTheStartsMillisecond() {
    if (clock_ != &system_clock_) return;
    const auto started = std::chrono::floor<std::chrono::milliseconds>(clock_->Now());
    while (std::chrono::floor<std::chrono::milliseconds>(clock_->Now()) <= started) {
      std::this_thread::yield();
    }
  }
  // A new policy from policy_config_ (and the kept breaker state), and a pipeline using it.
  void Reconfigure() {
    pipeline_.reset();
    policy_.reset();
    MakePipeline();
  }
  void TearDown() override { pipeline_.reset(); }

  // Claims of an envelope that expired 45 minutes ago: refused `expired`, whatever else.
  protocol::RequestClaims ExpiredClaims() {
    auto c = Claims();
    c.issued_at = std::chrono::floor<std::chrono::seconds>(clock_->Now()) - std::chrono::hours(1);
    c.expires_at = c.issued_at + std::chrono::minutes(15);
    return c;
  }
  protocol::RequestClaims Claims(std::string id = protocol::NewRequestId(),
                                 std::string nonce = protocol::NewNonce()) {
    protocol::RequestClaims c;
    c.id = std::move(id);
    c.tenant = "tenant-1";
    c.audience = "agent-1";
    c.issued_at = std::chrono::floor<std::chrono::seconds>(clock_->Now());
    c.expires_at = c.issued_at + 5min;
    c.nonce = std::move(nonce);
    c.operations = {protocol::Operation::kReset};
    c.target = {protocol::TargetKind::kUid, "alice"};
    c.requester = {protocol::RequesterType::kSelf, "alice", {"sms"}};
    return c;
  }
  std::string Seal(const protocol::RequestClaims& c, const protocol::EcPrivateKey* key = nullptr) {
    protocol::Passwords pw{Secret("Pipeline-Pass-1"), Secret()};
    const protocol::EcPrivateKey& signer = key ? *key : *signing_;
    auto envelope = protocol::SealRequest(c, &pw, signer, signing_->PublicJwk().kid,
                                          agent_key_->PublicJwk("enc", "ECDH-ES"));
    EXPECT_TRUE(envelope.ok());
    return envelope.ok() ? *envelope : "";
  }
  // A reset of `c`'s target put straight into the queue, ready: as a previous process
  // accepted it.
  Status EnqueueReady(const protocol::RequestClaims& c, const std::string& password,
                      queue::Operations operations = {.reset = true}) {
    queue::Request r;
    r.info = {.id = c.id,
              .tenant = c.tenant,
              .correlation_id = "corr",
              .operations = operations,
              .target = c.target.value,
              .target_kind = "uid",
              .account_key = "uid:" + c.target.value,
              .issued_at = c.issued_at,
              .expires_at = c.expires_at};
    r.new_password = Secret(password);
    auto stored = queue_->Enqueue(r);
    if (!stored.ok()) return stored.error();
    return queue_->MarkReady(c.id);
  }
  Status ResultArrives(const std::string& id) {
    return testing::WaitUntil(
        [&] {
          for (const auto& r : outbound_.All<protocol::ResultMessage>()) {
            if (r.id == id) return Status::Ok();
          }
          return NotFound("no result yet");
        },
        10s);
  }
  protocol::ResultMessage ResultFor(const std::string& id) {
    for (const auto& r : outbound_.All<protocol::ResultMessage>()) {
      if (r.id == id) return r;
    }
    return {};
  }

  // A request that succeeded, then its envelope again while the queue cannot be read (a read
  // fails): the queue stays unreadable.
  void RedeliverWhileTheQueueCannotBeRead() {
    auto c = Claims();
    const std::string envelope = Seal(c);
    pipeline_->OnRequest({envelope});
    ASSERT_TRUE(ResultArrives(c.id).ok());
    faulty_->fail_show = true;
    pipeline_->OnRequest({envelope});
  }
  // A request with `operations` whose first attempt lands the password, then fails transiently
  // before the rest (as on OpenLDAP, where the rest is a write of its own): the directory's
  // writes, once the retry ended it succeeded, found applied.
  std::vector<FakeDirectory::AppliedChange> RetriedAfterThePasswordLanded(
      std::vector<protocol::Operation> operations) {
    directory_->fail_transiently_once = true;
    auto c = Claims();
    c.operations = std::move(operations);
    pipeline_->OnRequest({Seal(c)});
    EXPECT_TRUE(ResultArrives(c.id).ok());
    EXPECT_EQ(ResultFor(c.id).outcome, "succeeded");
    EXPECT_NE(ResultFor(c.id).note.find("found applied"), std::string::npos);
    return directory_->Changes();
  }

  std::vector<audit::Event> AuditedRejections() {
    return Audited(audit::EventType::kRequestRejected);
  }
  std::vector<audit::Event> Audited(audit::EventType type) {
    std::vector<audit::Event> out;
    for (audit::Record& record : Trail()) {
      if (record.event.type == type) out.push_back(std::move(record.event));
    }
    return out;
  }
  // Every record of the trail, in order.
  std::vector<audit::Record> Trail() {
    std::vector<audit::Record> out;
    std::ifstream in(dir_.path() / "audit.jsonl");
    for (std::string line; std::getline(in, line);) {
      auto record = audit::ParseRecord(line);
      EXPECT_TRUE(record.ok()) << line;
      if (record.ok()) out.push_back(std::move(*record));
    }
    return out;
  }
  // A batch of `n` resets, for user0 .. user<n-1>; their ids in `ids`.
  std::vector<protocol::Request> BatchOfResets(int n, std::vector<std::string>& ids) {
    std::vector<protocol::Request> batch;
    for (int i = 0; i < n; ++i) {
      auto c = Claims();
      c.target.value = "user" + std::to_string(i);
      ids.push_back(c.id);
      batch.push_back({Seal(c)});
    }
    return batch;
  }

  testing::TempDir dir_;
  // The system's clock, unless a fixture sets clock_ to fake_clock_ before SetUp: then time
  // moves only when the test advances it.
  SystemClock system_clock_;
  testing::FakeClock fake_clock_;
  const Clock* clock_ = &system_clock_;
  std::unique_ptr<queue::Queue> queue_;
  FaultyQueue* faulty_ = nullptr;  // queue_, seen as what it is
  std::unique_ptr<audit::Writer> audit_;
  std::atomic<bool> armed_{false};  // OpenWriter's faults
  std::atomic<int> calls_after_arming_{0};
  int fail_from_ = 0;
  std::atomic<int> first_failed_call_{-1};
  std::atomic<int> audit_failed_calls_{0};   // PipelineDeps::audit_failed
  std::atomic<int> keys_recorded_calls_{0};  // PipelineDeps::keys_recorded
  std::mutex breaker_mu_;                    // PipelineDeps::breaker_changed, in order:
  std::vector<std::pair<policy::BreakerState, std::optional<BreakerOutcome>>> breaker_changes_;
  std::optional<KeyMaterial> last_key_recorded_;
  std::unique_ptr<protocol::EcPrivateKey> signing_;
  std::shared_ptr<const protocol::EcPrivateKey> agent_key_;
  FakeDirectory* directory_ = nullptr;
  std::unique_ptr<ldap::Router> router_;
  FakeOutbound outbound_;
  config::Config policy_config_;
  policy::BreakerState breaker_;
  std::shared_ptr<policy::Policy> policy_;
  metrics::Recorder recorder_;  // before pipeline_, which counts into it
  // The pipeline's log: its last lines, read under the sink's lock.
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> log_lines_ =
      std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(4096);
  std::shared_ptr<spdlog::logger> log_ = std::make_shared<spdlog::logger>("test", log_lines_);
  int LogLinesWith(const std::string& text) const {
    int n = 0;
    for (const std::string& line : log_lines_->last_formatted()) {
      if (line.find(text) != std::string::npos) ++n;
    }
    return n;
  }
  std::unique_ptr<Pipeline> pipeline_;
};

// When the queue cannot record how an attempt ended, nothing is reported: a result must
// describe what the queue holds (the record is still `applying`). The daemon's tick ends it
// again once the queue works. Before, a failed Retry was followed by a `failed` result, and
// later the request waited for a restart.
class PipelineQueueFailureTest : public PipelineTest, public ::testing::WithParamInterface<bool> {};

TEST_P(PipelineQueueFailureTest, NothingIsReportedUntilTheQueueCanRecordTheEnd) {
  const bool transient = GetParam();
  pipeline_.reset();
  MakePipeline(/*start=*/true, /*workers=*/1);  // one worker: its next Take means it moved on
  directory_->fail_transiently_once = transient;
  (transient ? faulty_->fail_retry : faulty_->fail_finish) = true;
  auto c = Claims();
  const int takes_before = faulty_->takes.load();
  pipeline_->OnRequest({Seal(c)});
  ASSERT_TRUE(
      testing::WaitUntil(
          [&] { return faulty_->failed_calls.load() > 0 ? Status::Ok() : NotFound("not yet"); },
          10s)
          .ok());
  pipeline_->Notify();
  ASSERT_TRUE(testing::WaitUntil(
                  [&] {
                    return faulty_->takes.load() > takes_before + 1 ? Status::Ok()
                                                                    : NotFound("not yet");
                  },
                  10s)
                  .ok());
  EXPECT_TRUE(outbound_.All<protocol::ResultMessage>().empty());
  auto shown = queue_->Show(c.id);
  ASSERT_TRUE(shown.ok());
  EXPECT_EQ(shown->record.state, queue::State::kApplying);
  // A tick while the queue still fails changes nothing; the first one after it works ends the
  // attempt, once, and only then is the result sent.
  pipeline_->EndOwedAttempts();
  EXPECT_TRUE(outbound_.All<protocol::ResultMessage>().empty());
  (transient ? faulty_->fail_retry : faulty_->fail_finish) = false;
  pipeline_->EndOwedAttempts();
  ASSERT_TRUE(ResultArrives(c.id).ok());
  EXPECT_EQ(ResultFor(c.id).outcome, "succeeded");
  pipeline_->EndOwedAttempts();
  EXPECT_EQ(outbound_.All<protocol::ResultMessage>().size(), 1u);
  EXPECT_EQ(directory_->applies, 1);
}

INSTANTIATE_TEST_SUITE_P(RetryAndFinish, PipelineQueueFailureTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& transient) {
                           return transient.param ? "RetryFails" : "FinishFails";
                         });

TEST_F(PipelineTest, ValidEnvelopeIsAcceptedAppliedAndReported) {
  auto c = Claims();
  pipeline_->OnRequest({Seal(c)});
  ASSERT_TRUE(ResultArrives(c.id).ok());
  EXPECT_EQ(outbound_.All<protocol::Accepted>().size(), 1u);
  EXPECT_EQ(ResultFor(c.id).outcome, "succeeded");
  EXPECT_EQ(directory_->applies, 1);
}

// Every operation a request asks for is in its audit records: an auditor must see that a reset
// also cleared a forced change at next logon.
TEST_F(PipelineTest, EveryOperationOfTheRequestIsAudited) {
  auto c = Claims();
  c.operations = {protocol::Operation::kReset, protocol::Operation::kUnlock,
                  protocol::Operation::kClearRequireChange};
  pipeline_->OnRequest({Seal(c)});
  ASSERT_TRUE(ResultArrives(c.id).ok());
  auto received = Audited(audit::EventType::kRequestReceived);
  ASSERT_EQ(received.size(), 1u);
  EXPECT_THAT(received[0].operations,
              ::testing::ElementsAre(audit::Operation::kReset, audit::Operation::kUnlock,
                                     audit::Operation::kClearRequireChange));
}

TEST_F(PipelineTest, TheSameEnvelopeTwiceIsAppliedOnce) {
  auto c = Claims();
  const std::string envelope = Seal(c);
  pipeline_->OnRequest({envelope});
  ASSERT_TRUE(ResultArrives(c.id).ok());
  pipeline_->OnRequest({envelope});  // a redelivery: answered with the state it has
  EXPECT_EQ(outbound_.All<protocol::ResultMessage>().size(), 2u);
  EXPECT_EQ(directory_->applies, 1);
  EXPECT_TRUE(outbound_.All<protocol::Rejected>().empty());
}

// A redelivery that the queue cannot be read to answer is not refused `unavailable`: that would
// tell the cloud that the agent kept nothing, and the request it does keep could be handed to
// another agent as a first delivery. The daemon's tick answers it once the queue reads, on the
// same connection (it holds the cloud's credit until then); a tick while the queue still fails
// changes nothing.
TEST_F(PipelineTest, ARedeliveryTheQueueCannotBeReadToAnswerIsAnsweredAtATickOnceItReads) {
  RedeliverWhileTheQueueCannotBeRead();
  EXPECT_GT(faulty_->failed_calls, 0);
  pipeline_->SendOwedResults();
  EXPECT_TRUE(outbound_.All<protocol::Rejected>().empty());
  EXPECT_EQ(outbound_.All<protocol::ResultMessage>().size(), 1u);
  faulty_->fail_show = false;
  pipeline_->SendOwedResults();
  EXPECT_TRUE(outbound_.All<protocol::Rejected>().empty());
  EXPECT_EQ(outbound_.All<protocol::ResultMessage>().size(), 2u);  // its result, once more
  pipeline_->SendOwedResults();                                    // answered once
  EXPECT_EQ(outbound_.All<protocol::ResultMessage>().size(), 2u);
  EXPECT_EQ(directory_->applies, 1);
}

// The codes of the `rejected` sent for `id`, in order.
std::vector<protocol::RejectCode> RejectionsOf(FakeOutbound& outbound, const std::string& id) {
  std::vector<protocol::RejectCode> codes;
  for (const auto& r : outbound.All<protocol::Rejected>()) {
    if (r.id == id) codes.push_back(r.code);
  }
  return codes;
}

// The replay memory is read first for every envelope, a redelivery's too. When it cannot be
// read, `unavailable` would say that this agent kept nothing, though it may hold the request
// (docs/protocol.md, section 7): the answer waits for the tick, as a redelivery's does above.
TEST_F(PipelineTest, AnEnvelopeWhoseReplayMemoryCannotBeReadIsAnsweredAtATickNotRefused) {
  auto stored = Claims();
  const std::string envelope = Seal(stored);
  pipeline_->OnRequest({envelope});
  ASSERT_TRUE(ResultArrives(stored.id).ok());
  faulty_->fail_replay_reads = true;
  pipeline_->OnRequest({envelope});  // a redelivery
  auto fresh = Claims();
  const std::string fresh_envelope = Seal(fresh);
  pipeline_->OnRequest({fresh_envelope});  // never stored, delivered twice: two credits
  pipeline_->OnRequest({fresh_envelope});
  pipeline_->OnRequest({Seal(Claims(stored.id))});  // the stored id with another nonce
  EXPECT_GT(faulty_->failed_calls, 0);
  EXPECT_TRUE(outbound_.All<protocol::Rejected>().empty());
  EXPECT_EQ(outbound_.All<protocol::ResultMessage>().size(), 1u);
  // A tick while the queue still fails answers nothing.
  pipeline_->SendOwedResults();
  EXPECT_TRUE(outbound_.All<protocol::Rejected>().empty());
  // Once it reads, each delivery is judged as the intake judges it: the stored request's
  // envelope gets its result, each delivery of the other `unavailable` (nothing was kept, so
  // the cloud sends it again), and the envelope reusing the stored id `replayed`, never the
  // stored request's answer.
  // The outgoing queue is full for one of the refusals at first: that delivery stays owed.
  faulty_->fail_replay_reads = false;
  outbound_.refuse_rejections = 1;
  pipeline_->SendOwedResults();
  EXPECT_EQ(outbound_.All<protocol::ResultMessage>().size(), 2u);
  EXPECT_EQ(outbound_.All<protocol::Rejected>().size(), 2u);
  // The refusals went before the result: a result ends every delivery of its id, so a
  // `replayed` for the id sent after it would end another delivery's credit.
  const std::vector<std::string> kinds = outbound_.Kinds();
  ASSERT_GE(kinds.size(), 4u);
  EXPECT_EQ(std::vector<std::string>(kinds.end() - 3, kinds.end()),
            (std::vector<std::string>{"rejected", "rejected", "result"}));
  pipeline_->SendOwedResults();  // the refused one, now
  EXPECT_EQ(RejectionsOf(outbound_, fresh.id),
            (std::vector{protocol::RejectCode::kUnavailable, protocol::RejectCode::kUnavailable}));
  EXPECT_EQ(RejectionsOf(outbound_, stored.id), std::vector{protocol::RejectCode::kReplayed});
  pipeline_->SendOwedResults();  // answered once
  EXPECT_EQ(outbound_.All<protocol::Rejected>().size(), 3u);
  EXPECT_EQ(outbound_.All<protocol::ResultMessage>().size(), 2u);
  pipeline_->OnRequest({fresh_envelope});
  ASSERT_TRUE(ResultArrives(fresh.id).ok());
  EXPECT_EQ(directory_->applies, 2);  // each once
}

// The answer belongs to the connection the redelivery came on: after a loss the cloud sends
// it again, and the tick sends nothing for it.
TEST_F(PipelineTest, ARedeliveryLeftUnansweredIsForgottenWithTheChannel) {
  RedeliverWhileTheQueueCannotBeRead();
  faulty_->fail_show = false;
  pipeline_->OnChannelLost();
  pipeline_->SendOwedResults();
  EXPECT_EQ(outbound_.All<protocol::ResultMessage>().size(), 1u);
  EXPECT_TRUE(outbound_.All<protocol::Rejected>().empty());
}

// An auditor sees when the agent's own identity changed: a renewed certificate and key are a
// key_rotated record, naming the certificate.
TEST_F(PipelineTest, ARenewedCertificateIsAuditedAsAKeyRotation) {
  pipeline_->OnCertificateRenewed({.subject = "CN=agent-1",
                                   .not_before = WallTime(std::chrono::seconds(1'800'000'000)),
                                   .not_after = WallTime(std::chrono::seconds(1'800'086'400))});
  const auto rotated = Audited(audit::EventType::kKeyRotated);
  ASSERT_EQ(rotated.size(), 1u);
  EXPECT_EQ(rotated[0].detail,
            "the agent's client certificate and key were renewed (CN=agent-1, valid from "
            "2027-01-15T08:00:00Z until 2027-01-16T08:00:00Z); they are used from the next "
            "connection");
  // Once the record is durable the daemon may note the new keys as recorded.
  EXPECT_EQ(keys_recorded_calls_.load(), 1);
  EXPECT_EQ(last_key_recorded_, KeyMaterial::kCertificate);
  pipeline_->OnKeySetChanged(protocol::Jwks{});
  EXPECT_EQ(Audited(audit::EventType::kKeyRotated).size(), 2u);
  EXPECT_EQ(keys_recorded_calls_.load(), 2);
  EXPECT_EQ(last_key_recorded_, KeyMaterial::kCloudKeys);
}

// A forged frame may name a real request's id: the audit trail must not file the rejection
// under that request.
TEST_F(PipelineTest, AForgedEnvelopeIsAuditedWithoutPinningItOnTheIdItClaims) {
  auto forger = protocol::EcPrivateKey::Generate();
  ASSERT_TRUE(forger.ok());
  auto c = Claims();
  pipeline_->OnRequest({Seal(c, &*forger)});
  auto rejected = outbound_.All<protocol::Rejected>();
  ASSERT_EQ(rejected.size(), 1u);
  EXPECT_EQ(rejected[0].id, c.id);  // echoed to the cloud for correlation
  auto audited = AuditedRejections();
  ASSERT_EQ(audited.size(), 1u);
  EXPECT_EQ(audited[0].request_id, "");
  EXPECT_EQ(audited[0].outcome, "bad_signature");
  EXPECT_THAT(audited[0].reasons, ::testing::ElementsAre("bad_signature", "id_not_authenticated"));
  EXPECT_NE(audited[0].detail.find(c.id + ", not authenticated"), std::string::npos);
}

TEST_F(PipelineTest, ARejectionAfterTheSignatureIsFiledUnderItsRequest) {
  auto c = Claims();
  c.tenant = "tenant-other";
  pipeline_->OnRequest({Seal(c)});
  auto audited = AuditedRejections();
  ASSERT_EQ(audited.size(), 1u);
  EXPECT_EQ(audited[0].request_id, c.id);
  EXPECT_EQ(audited[0].outcome, "wrong_tenant");
}

TEST_F(PipelineTest, AFloodOfForgedEnvelopesIsSummarisedAndEveryOneIsCounted) {
  auto forger = protocol::EcPrivateKey::Generate();
  ASSERT_TRUE(forger.ok());
  constexpr int kForged = 27;
  for (int i = 0; i < kForged; ++i) pipeline_->OnRequest({Seal(Claims(), &*forger)});
  EXPECT_EQ(outbound_.All<protocol::Rejected>().size(), static_cast<std::size_t>(kForged));
  EXPECT_EQ(AuditedRejections().size(), 20u);  // one by one, then only counted
  pipeline_->OnChannelLost();                  // the count is recorded, not lost
  auto audited = AuditedRejections();
  ASSERT_EQ(audited.size(), 21u);
  EXPECT_EQ(audited.back().outcome, "rejections_summarized");
  EXPECT_THAT(audited.back().reasons,
              ::testing::ElementsAre("bad_signature", "id_not_authenticated"));
  EXPECT_EQ(audited.back().detail.rfind("7 more rejections", 0), 0u) << audited.back().detail;
  pipeline_->OnChannelLost();
  EXPECT_EQ(AuditedRejections().size(), 21u);  // counted once
}

TEST_F(PipelineTest, ARequestTheChannelRefusedIsAudited) {
  pipeline_->OnFrameRejected(
      {.id = "", .code = protocol::RejectCode::kMalformed, .reason = "request: no envelope"});
  auto audited = AuditedRejections();
  ASSERT_EQ(audited.size(), 1u);
  EXPECT_EQ(audited[0].outcome, "malformed");
  EXPECT_TRUE(outbound_.All<protocol::Rejected>().empty());  // the channel answered it
}

TEST_F(PipelineTest, AnIdReusedWithAnotherNonceIsRejectedAsReplayed) {
  auto first = Claims();
  pipeline_->OnRequest({Seal(first)});
  ASSERT_TRUE(ResultArrives(first.id).ok());
  pipeline_->OnRequest({Seal(Claims(first.id))});  // same id, fresh nonce
  auto rejected = outbound_.All<protocol::Rejected>();
  ASSERT_EQ(rejected.size(), 1u);
  EXPECT_EQ(rejected[0].code, protocol::RejectCode::kReplayed);
  EXPECT_EQ(directory_->applies, 1);
}

// The metrics (metrics::Recorder): an ended request is counted by operation and outcome, with
// each of its latencies.
TEST_F(PipelineTest, AnEndedRequestIsCountedWithItsLatencies) {
  auto c = Claims();
  pipeline_->OnRequest({Seal(c)});
  ASSERT_TRUE(ResultArrives(c.id).ok());
  const metrics::Recorded got = recorder_.Read();
  ASSERT_EQ(got.requests.size(), 1u);
  EXPECT_EQ(got.requests.begin()->first.second, "succeeded");
  EXPECT_EQ(got.requests.begin()->second, 1u);
  EXPECT_EQ(got.envelope_check.count, 1u);
  EXPECT_EQ(got.queue_wait.count, 1u);
  EXPECT_EQ(got.directory_write.count, 1u);
  EXPECT_EQ(got.stay.count, 1u);
  // Allowed at admission and at the account checks, no rule matching either.
  using Key = std::tuple<std::string, std::string, std::string>;
  EXPECT_EQ(got.decisions.size(), 2u);
  EXPECT_EQ(got.decisions.count(Key{"admission", "", "allow"}), 1u);
  EXPECT_EQ(got.decisions.count(Key{"account", "", "allow"}), 1u);
}

TEST_F(PipelineTest, ADenialIsCountedUnderItsRuleAndWritesNothing) {
  auto c = Claims();
  c.requester.verified_by = {"carrier_pigeon"};
  pipeline_->OnRequest({Seal(c)});
  ASSERT_TRUE(ResultArrives(c.id).ok());
  const metrics::Recorded got = recorder_.Read();
  ASSERT_EQ(got.requests.size(), 1u);
  EXPECT_EQ(got.requests.begin()->first.second, "verification_insufficient");
  ASSERT_EQ(got.decisions.size(), 1u);
  const auto& [stage, rule, decision] = got.decisions.begin()->first;
  EXPECT_EQ(stage, "admission");
  EXPECT_FALSE(rule.empty());
  EXPECT_EQ(decision, "deny");
  EXPECT_EQ(got.directory_write.count, 0u);
}

TEST_F(PipelineTest, AForgedEnvelopeCountsItsCheckButNoRequest) {
  auto other = protocol::EcPrivateKey::Generate();
  ASSERT_TRUE(other.ok());
  pipeline_->OnRequest({Seal(Claims(), &*other)});
  const metrics::Recorded got = recorder_.Read();
  EXPECT_EQ(got.envelope_check.count, 1u);
  EXPECT_TRUE(got.requests.empty());
}

TEST_F(PipelineTest, AForgedEnvelopeIsRejectedAndNothingIsQueued) {
  auto other = protocol::EcPrivateKey::Generate();
  ASSERT_TRUE(other.ok());
  auto c = Claims();
  pipeline_->OnRequest({Seal(c, &*other)});
  auto rejected = outbound_.All<protocol::Rejected>();
  ASSERT_EQ(rejected.size(), 1u);
  EXPECT_EQ(rejected[0].code, protocol::RejectCode::kBadSignature);
  EXPECT_EQ(queue_->Show(c.id).error().code(), Code::kNotFound);
  EXPECT_EQ(directory_->applies, 0);
}

TEST_F(PipelineTest, ARetriedWriteThatAlreadyLandedIsNotWrittenAgain) {
  directory_->fail_transiently_once = true;  // the write lands, its answer is lost
  auto c = Claims();
  pipeline_->OnRequest({Seal(c)});
  ASSERT_TRUE(ResultArrives(c.id).ok());
  EXPECT_EQ(ResultFor(c.id).outcome, "succeeded");
  EXPECT_NE(ResultFor(c.id).note.find("found applied"), std::string::npos);
  EXPECT_EQ(directory_->applies, 1);
}

// A write without its password (kKeep) and with exactly these other parts: the rest of a
// request whose password was found applied.
::testing::AssertionResult OnlyTheRest(const FakeDirectory::AppliedChange& change, bool unlock,
                                       ldap::PasswordChange::MustChange must_change) {
  if (change.password != ldap::PasswordChange::Password::kKeep) {
    return ::testing::AssertionFailure() << "the password was written twice";
  }
  if (change.unlock != unlock || change.must_change != must_change) {
    return ::testing::AssertionFailure() << "unlock " << change.unlock << ", must-change "
                                         << static_cast<int>(change.must_change);
  }
  return ::testing::AssertionSuccess();
}

// On OpenLDAP an unlock is a write of its own after the password: an attempt whose password
// landed may have ended before it. The retry finds the password applied and writes only the
// unlock (docs/protocol.md: unlocks and must-change flags are written again).
TEST_F(PipelineTest, ARetriedResetWithAnUnlockWritesTheUnlockWhenThePasswordLanded) {
  const auto changes =
      RetriedAfterThePasswordLanded({protocol::Operation::kReset, protocol::Operation::kUnlock});
  ASSERT_EQ(changes.size(), 2u);
  EXPECT_TRUE(OnlyTheRest(changes[1], true, ldap::PasswordChange::MustChange::kLeave));
}

TEST_F(PipelineTest, ARetriedResetWithAMustChangeFlagWritesTheFlagWhenThePasswordLanded) {
  const auto changes = RetriedAfterThePasswordLanded(
      {protocol::Operation::kReset, protocol::Operation::kRequireChange});
  ASSERT_EQ(changes.size(), 2u);
  EXPECT_TRUE(OnlyTheRest(changes[1], false, ldap::PasswordChange::MustChange::kRequire));
}

// A reset without a flag leaves the user free to keep the password. On OpenLDAP, slapd marks
// the account must-change on an administrator's reset (pwdMustChange) and the agent clears it
// in a write of its own, which the first attempt did not reach: the retry clears it.
TEST_F(PipelineTest, ARetriedResetClearsTheMustChangeMarkTheDirectoryLeft) {
  directory_->on_apply = [&](const ldap::Account& a) { directory_->MarkMustChange(a.dn); };
  const auto changes = RetriedAfterThePasswordLanded({protocol::Operation::kReset});
  ASSERT_EQ(changes.size(), 2u);
  EXPECT_TRUE(OnlyTheRest(changes[1], false, ldap::PasswordChange::MustChange::kClear));
}

// On AD a reset sets pwdLastSet in its own modify: a must-change mark seen after the landed
// password was set since by someone else (an administrator), and stays.
TEST_F(PipelineTest, ARetriedResetOnAdLeavesAMustChangeMarkSetSince) {
  directory_->resets_may_leave_mark = false;
  directory_->on_apply = [&](const ldap::Account& a) { directory_->MarkMustChange(a.dn); };
  const auto changes = RetriedAfterThePasswordLanded({protocol::Operation::kReset});
  EXPECT_EQ(changes.size(), 1u);  // the password, once; nothing after it
}

// When the rest fails, the request is not reported succeeded: the attempt ends as that
// write's failure does (here transient: retried, and then written).
TEST_F(PipelineTest, AnUnlockThatFailsAfterTheFoundPasswordIsRetried) {
  directory_->fail_transiently_once = true;
  std::atomic<int> calls{0};
  directory_->on_apply = [&](const ldap::Account&) {
    if (++calls == 2) directory_->fail_transiently_once = true;  // the unlock, the first time
  };
  auto c = Claims();
  c.operations = {protocol::Operation::kReset, protocol::Operation::kUnlock};
  pipeline_->OnRequest({Seal(c)});
  ASSERT_TRUE(ResultArrives(c.id).ok());
  EXPECT_EQ(ResultFor(c.id).outcome, "succeeded");
  const auto changes = directory_->Changes();
  ASSERT_EQ(changes.size(), 3u);
  EXPECT_TRUE(OnlyTheRest(changes[2], true, ldap::PasswordChange::MustChange::kLeave));
}

// A transient failure schedules a retry; the worker that scheduled it goes on to other work,
// which may be slow (a directory that does not answer holds a worker for its whole timeout).
// The idle worker, asleep since before the retry existed, must wake for it: before, it slept
// out its longest wait (5 minutes) and the retry with it.
TEST_F(PipelineTest, ARetryIsTakenWhenDueWhileItsWorkerIsBusyWithSlowWork) {
  pipeline_.reset();  // on_apply is set before the workers run
  auto a = Claims();
  auto b = Claims();
  b.target.value = "bob";
  std::mutex mu;
  std::condition_variable cv;
  bool release_b = false;
  std::atomic<bool> b_queued{false};
  directory_->on_apply = [&](const ldap::Account& account) {
    if (account.dn == "alice" && !b_queued.exchange(true)) {
      // Slow work, put straight into the queue (no worker is woken for it): the worker that
      // schedules alice's retry takes it next.
      ASSERT_TRUE(EnqueueReady(b, "Pipeline-Pass-2").ok());
    } else if (account.dn == "bob") {
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return release_b; });
    }
  };
  directory_->fail_transiently_once = true;
  MakePipeline();
  pipeline_->OnRequest({Seal(a)});
  const Status a_ended = ResultArrives(a.id);
  {
    std::lock_guard lock(mu);
    release_b = true;
  }
  cv.notify_all();
  ASSERT_TRUE(a_ended.ok()) << "the retry waited behind the slow request";
  EXPECT_EQ(ResultFor(a.id).outcome, "succeeded");
  EXPECT_TRUE(ResultArrives(b.id).ok());
}

// Every admitted request notifies a worker. While every worker is busy the notifications pile
// up; once free, a worker takes until nothing is left, so each one beyond the workers' count
// would only cost an empty Take (two reads) when the work is done.
TEST_F(PipelineTest, NotificationsWhileEveryWorkerIsBusyCostFewEmptyTakesAfterwards) {
  directory_->SetGate(true);
  std::vector<std::string> ids;
  pipeline_->OnRequests(BatchOfResets(2, ids));
  ASSERT_TRUE(
      testing::WaitUntil(
          [&] { return directory_->at_gate.load() == 2 ? Status::Ok() : NotFound("not yet"); }, 10s)
          .ok());
  for (int batch = 0; batch < 40; ++batch) {
    auto c = Claims();
    c.target.value = "other" + std::to_string(batch);
    ids.push_back(c.id);
    pipeline_->OnRequest({Seal(c)});
  }
  const int takes_before = faulty_->takes.load();
  directory_->SetGate(false);
  for (const auto& id : ids) ASSERT_TRUE(ResultArrives(id).ok());
  // The workers' last looks, after the work: real time, as they run on their own threads.
  std::this_thread::sleep_for(300ms);
  const int takes = faulty_->takes.load() - takes_before;
  // 40 that find a request, and a few that find none (a worker whose look raced the other's,
  // and one per worker for what is left of the notifications). Without the bound: about 80.
  EXPECT_LE(takes, 40 + 6) << "empty takes: " << takes - 40;
}

// A queue that cannot be read (here a corrupt database: kCorruption, no request ended by it)
// while a request is due makes a worker pause, longer at each failure, until notified: before,
// it went round Take without pause, logging each time.
TEST_F(PipelineTest, AWorkerPausesWhileTheQueuesStorageFails) {
  faulty_->corrupt_storage = true;
  const int takes_before = faulty_->takes.load();
  auto c = Claims();
  pipeline_->OnRequest({Seal(c)});  // wakes a worker
  ASSERT_TRUE(testing::WaitUntil(
                  [&] {
                    return faulty_->takes.load() > takes_before ? Status::Ok()
                                                                : NotFound("no take yet");
                  },
                  10s)
                  .ok());
  // Real time, as the workers run on their own threads: a spinning worker takes thousands of
  // times in it; each of the two pauses 100 ms, then 200, 400 ... (a loaded machine may
  // oversleep, hence the margin).
  std::this_thread::sleep_for(100ms);
  EXPECT_LE(faulty_->takes.load() - takes_before, 20);
  faulty_->corrupt_storage = false;
  ASSERT_TRUE(pipeline_->RetryWaitingNow().ok());  // a notification, as the next event brings
  EXPECT_TRUE(ResultArrives(c.id).ok());
}

TEST_F(PipelineTest, ARetryThatMeetsItsOwnLandedWriteInTheSameSecondSucceeds) {
  // The first attempt's write landed and its answer was lost, in the same second as the
  // account's previous change: the timestamp cannot show it, the directory's "that is already
  // the password" does.
  directory_->fail_transiently_once = true;
  directory_->stamp_writes = false;
  directory_->next_outcome =
      ldap::MakeOutcome(ldap::OutcomeCode::kPolicyUnchanged, "the same as the current one");
  auto c = Claims();
  directory_->SetPasswordChangedAt("alice", c.issued_at - 1h);
  pipeline_->OnRequest({Seal(c)});
  ASSERT_TRUE(ResultArrives(c.id).ok());
  EXPECT_EQ(ResultFor(c.id).outcome, "succeeded");
  EXPECT_NE(ResultFor(c.id).note.find("already holds the requested password"), std::string::npos);
}

TEST_F(PipelineTest, AFirstAttemptWithTheCurrentPasswordIsStillRefused) {
  directory_->next_outcome =
      ldap::MakeOutcome(ldap::OutcomeCode::kPolicyUnchanged, "the same as the current one");
  auto c = Claims();
  pipeline_->OnRequest({Seal(c)});
  ASSERT_TRUE(ResultArrives(c.id).ok());
  EXPECT_EQ(ResultFor(c.id).outcome, "policy_unchanged");
}

TEST_F(PipelineTest, ARedeliveredRequestAlreadyAppliedByAnotherAgentIsNotWrittenAgain) {
  auto c = Claims();
  directory_->SetPasswordChangedAt("alice", c.issued_at + 1s);  // the agent that vanished wrote it
  pipeline_->OnRequest({Seal(c), 2});
  ASSERT_TRUE(ResultArrives(c.id).ok());
  EXPECT_EQ(ResultFor(c.id).outcome, "succeeded");
  EXPECT_NE(ResultFor(c.id).note.find("another agent may have applied it"), std::string::npos);
  EXPECT_EQ(directory_->applies, 0);
  EXPECT_EQ(queue_->Show(c.id)->record.info.delivery, 2);
}

TEST_F(PipelineTest, ARedeliveredRequestNotYetAppliedIsWritten) {
  auto c = Claims();
  directory_->SetPasswordChangedAt("alice",
                                   c.issued_at - 1h);  // an old password: nobody applied it
  pipeline_->OnRequest({Seal(c), 2});
  ASSERT_TRUE(ResultArrives(c.id).ok());
  EXPECT_EQ(ResultFor(c.id).outcome, "succeeded");
  EXPECT_EQ(ResultFor(c.id).note, "");
  EXPECT_EQ(directory_->applies, 1);
}

TEST_F(PipelineTest, AFirstDeliveryIsWrittenEvenWhenThePasswordChangedJustBefore) {
  // Only a request another agent may have had is checked: a user who changed the password a
  // moment before an ordinary first delivery still gets the password asked for.
  auto c = Claims();
  directory_->SetPasswordChangedAt("alice", c.issued_at);
  pipeline_->OnRequest({Seal(c)});
  ASSERT_TRUE(ResultArrives(c.id).ok());
  EXPECT_EQ(ResultFor(c.id).note, "");
  EXPECT_EQ(directory_->applies, 1);
}

TEST_F(PipelineTest, ARequestThatOutlivedTheAgentIsCheckedBeforeItIsWritten) {
  // Accepted by the previous process, never attempted; meanwhile the cloud handed it to
  // another agent, which applied it.
  pipeline_.reset();
  auto c = Claims();
  ASSERT_TRUE(EnqueueReady(c, "Pipeline-Pass-1").ok());
  directory_->SetPasswordChangedAt("alice", c.issued_at + 1s);
  std::this_thread::sleep_for(5ms);  // the new process starts strictly later
  MakePipeline();
  ASSERT_TRUE(ResultArrives(c.id).ok());
  EXPECT_NE(ResultFor(c.id).note.find("found applied"), std::string::npos);
  EXPECT_EQ(directory_->applies, 0);
}

TEST_F(PipelineTest, TwoQueuedResetsOfOneAccountAreBothWrittenAfterARestart) {
  // Both predate the new process, so both are checked; the first one's write (by this
  // agent) must not count as the second one's.
  pipeline_.reset();
  std::vector<std::string> ids;
  for (const char* password : {"First-Pass-1", "Second-Pass-2"}) {
    auto c = Claims();
    ASSERT_TRUE(EnqueueReady(c, password).ok());
    ids.push_back(c.id);
  }
  std::this_thread::sleep_for(5ms);
  MakePipeline();
  for (const auto& id : ids) {
    ASSERT_TRUE(ResultArrives(id).ok());
    EXPECT_EQ(ResultFor(id).outcome, "succeeded");
    EXPECT_EQ(ResultFor(id).note, "") << "wrongly found applied";
  }
  EXPECT_EQ(directory_->applies, 2);
}

TEST_F(PipelineTest, ARequestHeldAcrossAChannelLossIsCheckedBeforeItIsWritten) {
  // Both workers busy, so alice's request waits in the queue while the channel is lost and
  // the cloud hands it to another agent, which applies it.
  directory_->SetGate(/*closed=*/true);
  auto bob = Claims();
  bob.target.value = "bob";
  auto carol = Claims();
  carol.target.value = "carol";
  pipeline_->OnRequest({Seal(bob)});
  pipeline_->OnRequest({Seal(carol)});
  auto c = Claims();
  pipeline_->OnRequest({Seal(c)});
  std::this_thread::sleep_for(5ms);
  pipeline_->OnChannelLost();
  directory_->SetPasswordChangedAt("alice", c.issued_at + 1s);
  directory_->SetGate(/*closed=*/false);
  ASSERT_TRUE(ResultArrives(c.id).ok());
  EXPECT_NE(ResultFor(c.id).note.find("found applied"), std::string::npos);
  EXPECT_EQ(directory_->applies, 2);  // bob and carol only
}

TEST_F(PipelineTest, ADirectoryRuleRefusalEndsRejectedWithItsCode) {
  directory_->next_outcome = ldap::MakeOutcome(ldap::OutcomeCode::kPolicyTooShort, "too short");
  auto c = Claims();
  pipeline_->OnRequest({Seal(c)});
  ASSERT_TRUE(ResultArrives(c.id).ok());
  EXPECT_EQ(ResultFor(c.id).outcome, "policy_too_short");
  auto detail = queue_->Show(c.id);
  ASSERT_TRUE(detail.ok());
  EXPECT_EQ(detail->record.state, queue::State::kRejected);
}

TEST_F(PipelineTest, TheStoredMessageOfARefusalIsItsReasonWithoutTheCodeBesideIt) {
  ldap::Outcome refusal = ldap::MakeOutcome(ldap::OutcomeCode::kPolicyInHistory, "in history");
  refusal.diagnostic = "0000052D: Constraint violation";
  directory_->next_outcome = refusal;
  auto c = Claims();
  pipeline_->OnRequest({Seal(c)});
  ASSERT_TRUE(ResultArrives(c.id).ok());
  auto detail = queue_->Show(c.id);
  ASSERT_TRUE(detail.ok());
  ASSERT_TRUE(detail->record.outcome.has_value());
  EXPECT_EQ(detail->record.outcome->code, "policy_in_history");
  EXPECT_EQ(detail->record.outcome->message, "in history [0000052D: Constraint violation]");
  EXPECT_EQ(ResultFor(c.id).reason, "in history [0000052D: Constraint violation]");
}

TEST_F(PipelineTest, AResultAckIsRecordedAndTheResultIsNotPendingAnyMore) {
  auto c = Claims();
  pipeline_->OnRequest({Seal(c)});
  ASSERT_TRUE(ResultArrives(c.id).ok());
  EXPECT_EQ(pipeline_->HelloState().unacked_results, std::vector<std::string>{c.id});
  pipeline_->OnResultAck(c.id);
  EXPECT_TRUE(pipeline_->HelloState().unacked_results.empty());
}

// A cloud that repeats an ack (a bug, or a hostile peer) cannot grow the trail: the
// acknowledgement is recorded once.
TEST_F(PipelineTest, AnAckRepeatedManyTimesIsRecordedOnce) {
  auto c = Claims();
  pipeline_->OnRequest({Seal(c)});
  ASSERT_TRUE(ResultArrives(c.id).ok());
  for (int i = 0; i < 50; ++i) pipeline_->OnResultAck(c.id);
  const std::vector<std::string> batch(20, c.id);
  pipeline_->OnResultAcks(batch);
  int recorded = 0;
  for (const audit::Record& record : Trail()) {
    if (record.event.type == audit::EventType::kResultAcknowledged) ++recorded;
  }
  EXPECT_EQ(recorded, 1);
  EXPECT_TRUE(pipeline_->HelloState().unacked_results.empty());
}

// A cloud that acknowledges results this agent does not hold (a bug, or a hostile peer)
// cannot flood the log: 20 a minute are logged one by one, and the rest are counted in one
// line once the minute ends or the channel is lost.
TEST_F(PipelineTest, AcksOfResultsTheAgentDoesNotHoldAreLoggedTwentyAMinuteAndTheRestCounted) {
  std::vector<std::string> unknown;
  for (int i = 0; i < 50; ++i) unknown.push_back("no-such-request-" + std::to_string(i));
  pipeline_->OnResultAcks(unknown);
  EXPECT_EQ(LogLinesWith("result_ack for no-such-request-"), 20);
  EXPECT_EQ(LogLinesWith("not logged one by one"), 0);
  pipeline_->OnChannelLost();
  EXPECT_EQ(LogLinesWith("30 more acknowledgements of results this agent does not hold, not "
                         "logged one by one,"),
            1);
  EXPECT_EQ(LogLinesWith(": not_found 30"), 1);
  EXPECT_TRUE(pipeline_->HelloState().unacked_results.empty());
}

// An ack the queue could not store is the agent's failure, not the cloud's: logged at error,
// apart from the cloud's unmatched acks (20 a minute, the rest counted: a flood of acks during
// a storage incident must not flood the log), nothing is recorded as acknowledged, and the
// result stays owed, so that the cloud's next ack of it is stored.
TEST_F(PipelineTest, AnAckTheQueueCouldNotStoreIsLoggedAtErrorAndTheResultStaysOwed) {
  auto c = Claims();
  pipeline_->OnRequest({Seal(c)});
  ASSERT_TRUE(ResultArrives(c.id).ok());
  faulty_->fail_acks = true;
  for (int i = 0; i < 30; ++i) pipeline_->OnResultAck(c.id);
  EXPECT_EQ(LogLinesWith("result_ack for " + c.id + ": unavailable: database is locked"), 20);
  pipeline_->OnChannelLost();
  EXPECT_EQ(LogLinesWith("10 more acknowledgements the queue could not store, not logged one by "
                         "one,"),
            1);
  EXPECT_EQ(LogLinesWith("results this agent does not hold"), 0);
  for (const audit::Record& record : Trail()) {
    EXPECT_NE(record.event.type, audit::EventType::kResultAcknowledged);
  }
  EXPECT_EQ(pipeline_->HelloState().unacked_results, std::vector<std::string>{c.id});

  faulty_->fail_acks = false;
  pipeline_->OnResultAck(c.id);
  EXPECT_TRUE(pipeline_->HelloState().unacked_results.empty());
  int recorded = 0;
  for (const audit::Record& record : Trail()) {
    if (record.event.type == audit::EventType::kResultAcknowledged) ++recorded;
  }
  EXPECT_EQ(recorded, 1);
}

// A rejection the channel's full outgoing queue refused holds the delivery's credit: the next
// tick sends it (before any owed result), and a lost channel forgets it.
TEST_F(PipelineTest, ARejectionTheChannelCouldNotTakeIsSentAtTheNextTick) {
  auto c = ExpiredClaims();
  outbound_.refuse_rejections = 1;
  pipeline_->OnRequest({Seal(c)});
  EXPECT_TRUE(RejectionsOf(outbound_, c.id).empty());
  pipeline_->SendOwedResults();  // the daemon's tick
  EXPECT_EQ(RejectionsOf(outbound_, c.id), std::vector{protocol::RejectCode::kExpired});
  pipeline_->SendOwedResults();
  EXPECT_EQ(RejectionsOf(outbound_, c.id).size(), 1u) << "sent twice";

  auto lost = ExpiredClaims();
  outbound_.refuse_rejections = 1;
  pipeline_->OnRequest({Seal(lost)});
  pipeline_->OnChannelLost();
  pipeline_->SendOwedResults();
  EXPECT_TRUE(RejectionsOf(outbound_, lost.id).empty())
      << "a rejection for a lost connection went out on the next";
}

// A result the channel's full outgoing queue refused is not left for the next connection: the
// daemon's next tick sends it, and a tick with nothing owed sends nothing.
TEST_F(PipelineTest, AResultTheChannelCouldNotTakeIsSentAtTheNextTick) {
  outbound_.refuse_results = 1;
  auto c = Claims();
  pipeline_->OnRequest({Seal(c)});
  ASSERT_TRUE(testing::WaitUntil(
                  [&] {
                    auto shown = queue_->Show(c.id);
                    return shown.ok() && queue::IsTerminal(shown->record.state)
                               ? Status::Ok()
                               : NotFound("not finished");
                  },
                  10s)
                  .ok());
  ASSERT_TRUE(
      testing::WaitUntil(
          [&] { return outbound_.refuse_results == 0 ? Status::Ok() : NotFound("not sent"); }, 10s)
          .ok());
  EXPECT_TRUE(outbound_.All<protocol::ResultMessage>().empty());
  // The worker notes the refusal just after the refusal: ticks until the result goes.
  ASSERT_TRUE(testing::WaitUntil(
                  [&] {
                    pipeline_->SendOwedResults();
                    return outbound_.All<protocol::ResultMessage>().empty() ? NotFound("not yet")
                                                                            : Status::Ok();
                  },
                  10s)
                  .ok());
  ASSERT_EQ(outbound_.All<protocol::ResultMessage>().size(), 1u);
  EXPECT_EQ(ResultFor(c.id).outcome, "succeeded");
  // Taken once, it is not sent again by a tick, acknowledged or not.
  pipeline_->SendOwedResults();
  EXPECT_EQ(outbound_.All<protocol::ResultMessage>().size(), 1u);
}

// An outbox larger than what a welcome re-sends (protocol::kMaxUnackedResults, after an
// outage) is not left for the next connection: the ticks send the rest, a page each, in the
// outbox's order, each result once, and then nothing more.
TEST_F(PipelineTest, AnOutboxLargerThanAWelcomesResendDrainsOverTheConnection) {
  constexpr std::size_t kBeyond = Pipeline::kOutboxPage + 50;
  constexpr std::size_t kAll = protocol::kMaxUnackedResults + kBeyond;
  std::vector<queue::Request> requests(kAll);
  std::vector<const queue::Request*> batch;
  for (std::size_t i = 0; i < kAll; ++i) {
    auto c = Claims();
    requests[i].info = {.id = c.id,
                        .tenant = c.tenant,
                        .operations = {.unlock = true},
                        .target = "u" + std::to_string(i),
                        .target_kind = "uid",
                        .account_key = "uid:u" + std::to_string(i),
                        .issued_at = c.issued_at,
                        .expires_at = c.expires_at};
    batch.push_back(&requests[i]);
  }
  ASSERT_TRUE(queue_->EnqueueAll({}, batch).ok());
  std::vector<std::string> in_order;
  for (const auto& r : requests) {
    ASSERT_TRUE(
        queue_->Finish(r.info.id, {.state = queue::State::kRejected, .code = "denied_group"}).ok());
    in_order.push_back(r.info.id);
  }
  auto sent_ids = [&] {
    std::vector<std::string> ids;
    for (const auto& r : outbound_.All<protocol::ResultMessage>()) ids.push_back(r.id);
    return ids;
  };
  pipeline_->ResendResults();
  EXPECT_EQ(sent_ids().size(), protocol::kMaxUnackedResults);
  pipeline_->SendOwedResults();
  EXPECT_EQ(sent_ids().size(), protocol::kMaxUnackedResults + Pipeline::kOutboxPage);
  pipeline_->SendOwedResults();
  EXPECT_EQ(sent_ids(), in_order);
  pipeline_->SendOwedResults();  // the outbox went: nothing more
  EXPECT_EQ(sent_ids().size(), kAll);
  // The next welcome starts over from the oldest.
  outbound_.Clear();
  pipeline_->ResendResults();
  EXPECT_EQ(sent_ids().size(), protocol::kMaxUnackedResults);
}

// --- "accepted" only for a stored request (a refusal, then the cloud's re-send) -------------

// Every id the agent answered "accepted" is one the queue holds.
::testing::AssertionResult EveryAcceptedIdIsStored(FakeOutbound& outbound, queue::Queue& queue) {
  for (const auto& a : outbound.All<protocol::Accepted>()) {
    if (!queue.Show(a.id).ok()) {
      return ::testing::AssertionFailure() << "accepted " << a.id << ", which the queue lacks";
    }
  }
  return ::testing::AssertionSuccess();
}

TEST_F(PipelineTest, AReSendOfARequestRefusedAsQueueFullIsNotAcceptedUntilItIsStored) {
  Restart(/*max_pending=*/1);
  auto a = Claims();
  auto b = Claims();
  const std::string b_envelope = Seal(b);
  pipeline_->OnRequest({Seal(a)});
  pipeline_->OnRequest({b_envelope});
  pipeline_->OnRequest({b_envelope});  // the cloud re-sends, as the protocol tells it to
  EXPECT_EQ(RejectionsOf(outbound_, b.id),
            (std::vector{protocol::RejectCode::kQueueFull, protocol::RejectCode::kQueueFull}));
  EXPECT_EQ(queue_->Show(b.id).error().code(), Code::kNotFound);
  EXPECT_TRUE(EveryAcceptedIdIsStored(outbound_, *queue_));

  // Room again: the same envelope is now stored and accepted.
  ASSERT_TRUE(queue_->Finish(a.id, {.state = queue::State::kRejected, .code = "test"}).ok());
  pipeline_->OnRequest({b_envelope});
  auto accepted = outbound_.All<protocol::Accepted>();
  ASSERT_EQ(accepted.size(), 2u);
  EXPECT_EQ(accepted[1].id, b.id);
  EXPECT_TRUE(EveryAcceptedIdIsStored(outbound_, *queue_));
}

// A request the queue refused (full) leaves its (id, nonce) pair remembered, not its id. Another
// envelope with that id and a new nonce was then stored as new, and the cloud's re-send of the
// refused one was answered as a redelivery of it: with its `accepted` and its result.
TEST_F(PipelineTest, AnIdTheQueueRefusedCannotBeTakenOverByAnotherNonce) {
  Restart(/*max_pending=*/1);
  auto blocker = Claims();
  pipeline_->OnRequest({Seal(blocker)});
  auto refused = Claims();
  const std::string refused_envelope = Seal(refused);
  pipeline_->OnRequest({refused_envelope});
  ASSERT_EQ(RejectionsOf(outbound_, refused.id), std::vector{protocol::RejectCode::kQueueFull});
  ASSERT_TRUE(queue_->Finish(blocker.id, {.state = queue::State::kRejected, .code = "test"}).ok());

  auto reuse = Claims(refused.id);  // the same id, another nonce
  pipeline_->OnRequest({Seal(reuse)});
  EXPECT_EQ(RejectionsOf(outbound_, refused.id),
            (std::vector{protocol::RejectCode::kQueueFull, protocol::RejectCode::kReplayed}));
  EXPECT_EQ(queue_->Show(refused.id).error().code(), Code::kNotFound);
  // The refused envelope itself, sent again, is stored as what it is.
  pipeline_->OnRequest({refused_envelope});
  auto accepted = outbound_.All<protocol::Accepted>();
  ASSERT_EQ(accepted.size(), 2u);
  EXPECT_EQ(accepted[1].id, refused.id);
  EXPECT_TRUE(EveryAcceptedIdIsStored(outbound_, *queue_));
}

TEST_F(PipelineTest, ARequestExpiredByTheAgentsClockIsRejectedAsExpiredAlsoWhenReSent) {
  Restart(/*max_pending=*/10);
  // Valid for the envelope check (within its clock skew), already past for the queue: as
  // with an agent whose clock runs ahead of the cloud's.
  auto c = Claims();
  c.issued_at -= 5min;
  c.expires_at = c.issued_at + 4min + 30s;
  const std::string envelope = Seal(c);
  pipeline_->OnRequest({envelope});
  pipeline_->OnRequest({envelope});
  EXPECT_EQ(RejectionsOf(outbound_, c.id),
            (std::vector{protocol::RejectCode::kExpired, protocol::RejectCode::kExpired}));
  EXPECT_TRUE(outbound_.All<protocol::Accepted>().empty());
  EXPECT_EQ(queue_->Show(c.id).error().code(), Code::kNotFound);
}

TEST_F(PipelineTest, AReSendOfAStoredUnfinishedRequestIsAcceptedAgainAfterARestart) {
  Restart(/*max_pending=*/10);
  auto c = Claims();
  const std::string envelope = Seal(c);
  pipeline_->OnRequest({envelope});
  Restart(/*max_pending=*/10);
  pipeline_->OnRequest({envelope});
  auto accepted = outbound_.All<protocol::Accepted>();
  ASSERT_EQ(accepted.size(), 2u);
  EXPECT_EQ(accepted[1].id, c.id);
  EXPECT_TRUE(RejectionsOf(outbound_, c.id).empty());
}

// The invariant as a property: whatever order refusals (a full queue, an expired request),
// re-sends, finished requests and restarts come in, no "accepted" is ever sent for an id the
// queue does not hold. The seed is in the message (PropertySeeds).
TEST_F(PipelineTest, NoInterleavingOfRefusalReSendAndRestartAcceptsAnUnstoredId) {
  constexpr std::size_t kMaxPending = 2;
  for (const std::uint32_t seed : PropertySeeds(12)) {
    SCOPED_TRACE(SeedTrace(seed));
    Restart(kMaxPending);
    std::mt19937 rng(seed);
    std::vector<std::pair<std::string, std::string>> sent;  // (id, envelope)
    auto pick = [&](std::size_t n) {
      return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng);
    };
    for (int step = 0; step < 40; ++step) {
      switch (pick(5)) {
        case 0:
        case 1: {  // a new request; one in four already expired by the agent's clock
          auto c = Claims();
          if (pick(4) == 0) {
            c.issued_at -= 5min;
            c.expires_at = c.issued_at + 4min + 30s;
          }
          sent.emplace_back(c.id, Seal(c));
          pipeline_->OnRequest({sent.back().second});
          break;
        }
        case 2:  // the cloud re-sends something it sent before
          if (!sent.empty()) pipeline_->OnRequest({sent[pick(sent.size())].second});
          break;
        case 3: {  // a stored request finishes, which makes room
          auto listed = queue_->List({.state = queue::State::kReceived, .limit = 10});
          ASSERT_TRUE(listed.ok());
          if (!listed->empty()) {
            const auto& id = (*listed)[pick(listed->size())].info.id;
            ASSERT_TRUE(queue_->Finish(id, {.state = queue::State::kRejected, .code = "t"}).ok());
          }
          break;
        }
        case 4:  // the agent dies and starts again
          Restart(kMaxPending);
          break;
      }
      ASSERT_TRUE(EveryAcceptedIdIsStored(outbound_, *queue_)) << "after step " << step;
    }
  }
}

// The invariant again, for batches as the intake hands them over: within a batch, new requests
// (some already expired), re-sends of earlier ones (some refused before) and copies of an
// envelope of the same batch, against a queue that is often full. No "accepted" is sent for an
// id the queue does not hold, and every envelope gets exactly one answer.
TEST_F(PipelineTest, NoBatchOfNewReSentAndRepeatedEnvelopesAcceptsAnUnstoredId) {
  constexpr std::size_t kMaxPending = 3;
  for (const std::uint32_t seed : PropertySeeds(12)) {
    SCOPED_TRACE(SeedTrace(seed));
    Restart(kMaxPending);
    std::mt19937 rng(seed);
    std::vector<std::string> sent;
    auto pick = [&](std::size_t n) {
      return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng);
    };
    auto answers = [&] {
      return outbound_.All<protocol::Accepted>().size() +
             outbound_.All<protocol::Rejected>().size() +
             outbound_.All<protocol::ResultMessage>().size();
    };
    for (int step = 0; step < 30; ++step) {
      switch (pick(3)) {
        case 0: {
          std::vector<protocol::Request> batch;
          const std::size_t n = 1 + pick(6);
          while (batch.size() < n) {
            switch (pick(3)) {
              case 0: {  // a new request; one in four already expired by the agent's clock
                auto c = Claims();
                if (pick(4) == 0) {
                  c.issued_at -= 5min;
                  c.expires_at = c.issued_at + 4min + 30s;
                }
                sent.push_back(Seal(c));
                batch.push_back({sent.back()});
                break;
              }
              case 1:  // a re-send of an earlier one
                if (!sent.empty()) batch.push_back({sent[pick(sent.size())]});
                break;
              case 2:  // the same envelope twice in one batch
                if (!batch.empty()) batch.push_back(batch[pick(batch.size())]);
                break;
            }
          }
          const std::size_t before = answers();
          pipeline_->OnRequests(batch);
          EXPECT_EQ(answers() - before, batch.size()) << "step " << step;
          break;
        }
        case 1: {  // a stored request finishes, which makes room
          auto listed = queue_->List({.state = queue::State::kReady, .limit = 10});
          ASSERT_TRUE(listed.ok());
          if (!listed->empty()) {
            const auto& id = (*listed)[pick(listed->size())].info.id;
            ASSERT_TRUE(queue_->Finish(id, {.state = queue::State::kRejected, .code = "t"}).ok());
          }
          break;
        }
        case 2:  // the agent dies and starts again
          Restart(kMaxPending);
          break;
      }
      ASSERT_TRUE(EveryAcceptedIdIsStored(outbound_, *queue_)) << "after step " << step;
    }
  }
}

// A batch is stored, recorded and admitted together: every request of it is accepted once,
// recorded as received and admitted, and the trail's records are durable before the batch is
// answered.
TEST_F(PipelineTest, ABatchOfRequestsIsAcceptedRecordedAndAdmittedTogether) {
  Restart(/*max_pending=*/100);  // no workers: what is admitted stays ready
  std::vector<std::string> ids;
  pipeline_->OnRequests(BatchOfResets(5, ids));
  std::vector<std::string> accepted;
  for (const auto& a : outbound_.All<protocol::Accepted>()) accepted.push_back(a.id);
  EXPECT_EQ(accepted, ids);
  EXPECT_EQ(Audited(audit::EventType::kRequestReceived).size(), 5u);
  EXPECT_EQ(Audited(audit::EventType::kPolicyDecision).size(), 5u);
  for (const auto& id : ids) {
    auto shown = queue_->Show(id);
    ASSERT_TRUE(shown.ok());
    EXPECT_EQ(shown->record.state, queue::State::kReady) << id;  // admitted
  }
}

// audit.h's rule: an event is durable before anything that depends on it leaves the host. The
// admission's decisions are buffered (nothing leaves the host at admission); each is durable
// before its request's write reaches the directory.
TEST_F(PipelineTest, EveryAdmissionDecisionIsDurableBeforeItsDirectoryWrite) {
  std::mutex mu;
  std::vector<std::pair<std::string, std::uint64_t>> durable_at_write;  // (dn, durable seq)
  directory_->on_apply = [&](const ldap::Account& a) {
    std::lock_guard lock(mu);
    durable_at_write.emplace_back(a.dn, audit_->DurableHead().seq);
  };
  std::vector<std::string> ids;
  pipeline_->OnRequests(BatchOfResets(6, ids));
  for (const std::string& id : ids) ASSERT_TRUE(ResultArrives(id).ok()) << id;
  // The seq of each account's admission decision, from the trail.
  std::map<std::string, std::uint64_t> admitted_at;
  for (const audit::Record& record : Trail()) {
    if (record.event.type == audit::EventType::kPolicyDecision &&
        record.event.detail.rfind("admission", 0) == 0) {
      // The fake directory's DN is the name the request gave.
      admitted_at.emplace(record.event.target.requested, record.seq);
    }
  }
  std::lock_guard lock(mu);
  ASSERT_EQ(durable_at_write.size(), 6u);
  for (const auto& [dn, durable] : durable_at_write) {
    ASSERT_EQ(admitted_at.count(dn), 1u) << dn;
    EXPECT_LE(admitted_at[dn], durable) << dn << ": written before its admission was durable";
  }
}

// A denial at admission leaves the host with its result: its decision is durable first.
TEST_F(PipelineTest, ADenialAtAdmissionIsDurableBeforeItsResultIsSent) {
  std::mutex mu;
  std::optional<std::uint64_t> durable_at_result;
  outbound_.on_send = [&](const protocol::Message& m) {
    if (!std::holds_alternative<protocol::ResultMessage>(m)) return;
    std::lock_guard lock(mu);
    durable_at_result = audit_->DurableHead().seq;
  };
  auto c = Claims();
  c.requester.verified_by = {"carrier_pigeon"};  // denied at admission
  pipeline_->OnRequest({Seal(c)});
  ASSERT_TRUE(ResultArrives(c.id).ok());
  std::uint64_t decided_at = 0;
  for (const audit::Record& record : Trail()) {
    if (record.event.type == audit::EventType::kPolicyDecision) decided_at = record.seq;
  }
  ASSERT_NE(decided_at, 0u);
  std::lock_guard lock(mu);
  ASSERT_TRUE(durable_at_result.has_value());
  EXPECT_LE(decided_at, *durable_at_result) << "the denial left before its decision was durable";
}

// A nonce reused with a new id is a replay, and so is every re-send of that envelope: its
// id is not known, so a replay memory that learnt the envelope's pair would have taken the
// re-send for a redelivery of a refused request and stored it.
TEST_F(PipelineTest, AReSentReplayIsRefusedAgainNeverAccepted) {
  Restart(/*max_pending=*/10);
  auto first = Claims();
  pipeline_->OnRequest({Seal(first)});
  const std::string replay = Seal(Claims(protocol::NewRequestId(), first.nonce));
  pipeline_->OnRequest({replay});
  pipeline_->OnRequest({replay});  // the same replay again
  auto rejected = outbound_.All<protocol::Rejected>();
  ASSERT_EQ(rejected.size(), 2u);
  EXPECT_EQ(rejected[0].code, protocol::RejectCode::kReplayed);
  EXPECT_EQ(rejected[1].code, protocol::RejectCode::kReplayed);
  EXPECT_EQ(outbound_.All<protocol::Accepted>().size(), 1u);  // the first request only
}

// An id reused with a new nonce is a replay, and so is every re-send of that envelope, in a
// later batch: a replay memory that learnt its (id, nonce) pair would take the re-send for a
// redelivery of the stored request and answer with that request's `accepted`.
TEST_F(PipelineTest, AReSentIdReuseIsRefusedAgainNeverAnsweredAsTheStoredRequest) {
  Restart(/*max_pending=*/10);
  auto first = Claims();
  pipeline_->OnRequest({Seal(first)});
  auto reuse = Claims(first.id);  // the same id, a new nonce
  reuse.target = {protocol::TargetKind::kUid, "bob"};
  const std::string envelope = Seal(reuse);
  pipeline_->OnRequest({envelope});
  pipeline_->OnRequest({envelope});  // the same reuse again
  EXPECT_EQ(RejectionsOf(outbound_, first.id),
            (std::vector{protocol::RejectCode::kReplayed, protocol::RejectCode::kReplayed}));
  EXPECT_EQ(outbound_.All<protocol::Accepted>().size(), 1u);  // the first request only
  // Recorded once; the same envelope refused again for the same reason is counted, and the
  // count recorded (at the latest when the channel is lost).
  EXPECT_EQ(AuditedRejections().size(), 1u);
  pipeline_->OnChannelLost();
  const auto rejections = AuditedRejections();
  ASSERT_EQ(rejections.size(), 2u);
  EXPECT_EQ(rejections[1].outcome, "rejections_summarized");
  EXPECT_NE(rejections[1].detail.find("1 more rejections of envelopes already rejected"),
            std::string::npos)
      << rejections[1].detail;
}

// A front end that re-sends one captured envelope forever (here expired) cannot grow the
// trail or the log with it: every copy is answered, the first is recorded, the rest counted
// in one summary a minute. Another envelope is recorded as ever.
TEST_F(PipelineTest, AnEnvelopeRejectedAgainAndAgainIsRecordedOnceAndTheRepeatsCounted) {
  auto c = ExpiredClaims();
  const std::string envelope = Seal(c);
  for (int i = 0; i < 100; ++i) pipeline_->OnRequest({envelope});
  EXPECT_EQ(RejectionsOf(outbound_, c.id).size(), 100u);
  ASSERT_EQ(AuditedRejections().size(), 1u);
  EXPECT_EQ(AuditedRejections()[0].outcome, "expired");
  EXPECT_EQ(LogLinesWith("request " + c.id + " rejected"), 1);
  auto other = ExpiredClaims();
  pipeline_->OnRequest({Seal(other)});
  EXPECT_EQ(AuditedRejections().size(), 2u);
  pipeline_->OnChannelLost();
  const auto rejections = AuditedRejections();
  ASSERT_EQ(rejections.size(), 3u);
  EXPECT_EQ(rejections[2].outcome, "rejections_summarized");
  EXPECT_NE(rejections[2].detail.find("99 more rejections of envelopes already rejected for the "
                                      "same reason"),
            std::string::npos)
      << rejections[2].detail;
  EXPECT_NE(rejections[2].detail.find("expired 99"), std::string::npos) << rejections[2].detail;
}

// The same within one batch: the reuse comes before the first envelope is stored.
TEST_F(PipelineTest, AnIdReusedWithinOneBatchIsRefusedAndItsReSendToo) {
  Restart(/*max_pending=*/10);
  auto first = Claims();
  auto reuse = Claims(first.id);
  reuse.target = {protocol::TargetKind::kUid, "bob"};
  const std::string envelope = Seal(reuse);
  const std::vector<protocol::Request> batch{{Seal(first)}, {envelope}, {envelope}};
  pipeline_->OnRequests(batch);
  EXPECT_EQ(RejectionsOf(outbound_, first.id),
            (std::vector{protocol::RejectCode::kReplayed, protocol::RejectCode::kReplayed}));
  EXPECT_EQ(outbound_.All<protocol::Accepted>().size(), 1u);
}

// A batch whose store fails answers every envelope `unavailable`, including a second copy of an
// envelope of the same batch: that copy must not be stored on its own, since the replay memory
// of its first copy was not stored either. Sent again later, the request is stored once, with
// its replay memory, and a reuse of its nonce is refused.
TEST_F(PipelineTest, ATwiceSentEnvelopeInAFailedBatchIsNotStoredWithoutItsReplayMemory) {
  Restart(/*max_pending=*/10);
  auto c = Claims();
  const std::string envelope = Seal(c);
  faulty_->fail_enqueue_all = true;
  const std::vector<protocol::Request> batch{{envelope}, {envelope}};
  pipeline_->OnRequests(batch);
  EXPECT_EQ(RejectionsOf(outbound_, c.id),
            (std::vector{protocol::RejectCode::kUnavailable, protocol::RejectCode::kUnavailable}));
  EXPECT_EQ(queue_->Show(c.id).error().code(), Code::kNotFound);
  EXPECT_TRUE(outbound_.All<protocol::Accepted>().empty());

  faulty_->fail_enqueue_all = false;
  pipeline_->OnRequest({envelope});
  ASSERT_EQ(outbound_.All<protocol::Accepted>().size(), 1u);
  pipeline_->OnRequest({Seal(Claims(protocol::NewRequestId(), c.nonce))});
  EXPECT_EQ(outbound_.All<protocol::Rejected>().back().code, protocol::RejectCode::kReplayed);
}

// --- The policy's seams (policy/policy.h) -----------------------------------------------

// How many results were sent for `id`.
std::size_t ResultsFor(FakeOutbound& out, const std::string& id) {
  std::size_t n = 0;
  for (const auto& r : out.All<protocol::ResultMessage>()) {
    n += r.id == id ? 1 : 0;
  }
  return n;
}

TEST_F(PipelineTest, ASuccessTellsTheCloudThatTheUserHasNothingToDo) {
  auto c = Claims();
  pipeline_->OnRequest({Seal(c)});
  ASSERT_TRUE(ResultArrives(c.id).ok());
  EXPECT_EQ(ResultFor(c.id).user_action, protocol::UserAction::kNone);
}

TEST_F(PipelineTest, ADirectoryRefusalOfTheNewPasswordAsksForAStrongerOne) {
  directory_->next_outcome = ldap::MakeOutcome(ldap::OutcomeCode::kPolicyTooShort, "short");
  auto c = Claims();
  pipeline_->OnRequest({Seal(c)});
  ASSERT_TRUE(ResultArrives(c.id).ok());
  EXPECT_EQ(ResultFor(c.id).user_action, protocol::UserAction::kStrongerPassword);
}

// --- validate ------------------------------------------------------------------------------

class PipelineValidateTest : public PipelineTest {
 protected:
  // Every check can pass for the sealed password ("Pipeline-Pass-1", 15 characters, 4 kinds).
  void SetUp() override {
    PipelineTest::SetUp();
    policy_config_.policy.self_password.min_length = 12;
    policy_config_.policy.self_password.min_classes = 3;
    Reconfigure();
    directory_->SetPolicy(ldap::PasswordPolicy{.kind = config::DirectoryKind::kActiveDirectory,
                                               .min_length = 7,
                                               .history_length = 24,
                                               .min_age = std::chrono::seconds(86400),
                                               .complexity = true,
                                               .source = "DC=fake"});
  }
  protocol::RequestClaims ValidateClaims() {
    auto c = Claims();
    c.operations = {protocol::Operation::kValidate};
    return c;
  }
  std::string AuditText() {
    std::ifstream in(dir_.path() / "audit.jsonl");
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }
};

TEST_F(PipelineValidateTest, APasswordThatPassesEveryRuleIsAnsweredSucceededAndNothingIsWritten) {
  auto c = ValidateClaims();
  pipeline_->OnRequest({Seal(c)});
  ASSERT_TRUE(ResultArrives(c.id).ok());
  const auto result = ResultFor(c.id);
  EXPECT_EQ(result.outcome, "succeeded");
  EXPECT_EQ(result.user_action, protocol::UserAction::kNone);
  EXPECT_NE(result.note.find("history (24)"), std::string::npos) << result.note;
  EXPECT_NE(result.note.find("minimum age"), std::string::npos) << result.note;
  EXPECT_EQ(directory_->applies, 0);
  EXPECT_TRUE(Audited(audit::EventType::kDirectoryWrite).empty());
  auto validated = Audited(audit::EventType::kPasswordValidated);
  ASSERT_EQ(validated.size(), 1u);
  EXPECT_EQ(validated[0].outcome, "succeeded");
  EXPECT_THAT(validated[0].operations, ::testing::ElementsAre(audit::Operation::kValidate));
  auto detail = queue_->Show(c.id);
  ASSERT_TRUE(detail.ok());
  EXPECT_EQ(detail->record.state, queue::State::kSucceeded);
}

TEST_F(PipelineValidateTest, AFailingPasswordIsAnsweredWithEveryRuleItFailsAndNothingIsWritten) {
  policy_config_.policy.self_password.min_length = 20;
  Reconfigure();
  auto p = ldap::PasswordPolicy{.kind = config::DirectoryKind::kActiveDirectory,
                                .min_length = 16,
                                .complexity = true,
                                .source = "DC=fake"};
  directory_->SetPolicy(p);
  auto c = ValidateClaims();
  pipeline_->OnRequest({Seal(c)});
  ASSERT_TRUE(ResultArrives(c.id).ok());
  const auto result = ResultFor(c.id);
  EXPECT_EQ(result.outcome, "password_too_short");  // the first failing rule: the agent's own
  EXPECT_EQ(result.user_action, protocol::UserAction::kStrongerPassword);
  EXPECT_NE(result.reason.find("policy.password.min_length"), std::string::npos) << result.reason;
  EXPECT_NE(result.reason.find("policy_too_short"), std::string::npos) << result.reason;
  EXPECT_NE(result.reason.find("not checked without writing"), std::string::npos);
  EXPECT_EQ(directory_->applies, 0);
  auto detail = queue_->Show(c.id);
  ASSERT_TRUE(detail.ok());
  EXPECT_EQ(detail->record.state, queue::State::kRejected);
  auto decisions = Audited(audit::EventType::kPolicyDecision);
  ASSERT_FALSE(decisions.empty());
  EXPECT_EQ(decisions.back().decision, audit::Decision::kDeny);
  auto validated = Audited(audit::EventType::kPasswordValidated);
  ASSERT_EQ(validated.size(), 1u);
  EXPECT_EQ(validated[0].outcome, "password_too_short");
}

TEST_F(PipelineValidateTest, ADirectoryRuleAloneFailsTheValidateWithTheDirectorysCode) {
  policy_config_.policy.self_password = {};
  Reconfigure();
  directory_->SetPolicy(ldap::PasswordPolicy{
      .kind = config::DirectoryKind::kActiveDirectory, .min_length = 40, .source = "DC=fake"});
  auto c = ValidateClaims();
  pipeline_->OnRequest({Seal(c)});
  ASSERT_TRUE(ResultArrives(c.id).ok());
  EXPECT_EQ(ResultFor(c.id).outcome, "policy_too_short");
  EXPECT_EQ(ResultFor(c.id).user_action, protocol::UserAction::kStrongerPassword);
  for (const auto& d : Audited(audit::EventType::kPolicyDecision)) {
    EXPECT_NE(d.detail.rfind("password", 0), 0u) << "no password rule is on: " << d.detail;
  }
  EXPECT_EQ(directory_->applies, 0);
}

TEST_F(PipelineValidateTest, ADirectoryPolicyThatCannotBeReadNowIsRetriedNotGuessed) {
  directory_->fail_policy_once = true;
  auto c = ValidateClaims();
  pipeline_->OnRequest({Seal(c)});
  ASSERT_TRUE(ResultArrives(c.id).ok());
  EXPECT_EQ(ResultFor(c.id).outcome, "succeeded");
  EXPECT_EQ(directory_->policy_reads, 2);
  EXPECT_EQ(directory_->applies, 0);
}

// A validate is admitted like a reset and counted by the rate limits: it cannot become a
// guessing oracle.
TEST_F(PipelineValidateTest, ValidatesCountTowardsThePerAccountRateLimit) {
  policy_config_.policy.rate_limits.per_account = config::RateLimit{2, std::chrono::hours(1)};
  Reconfigure();
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    auto c = ValidateClaims();
    pipeline_->OnRequest({Seal(c)});
    ASSERT_TRUE(ResultArrives(c.id).ok());
    ids.push_back(c.id);
  }
  EXPECT_EQ(ResultFor(ids[0]).outcome, "succeeded");
  EXPECT_EQ(ResultFor(ids[1]).outcome, "succeeded");
  EXPECT_EQ(ResultFor(ids[2]).outcome, "rate_limited");
  EXPECT_EQ(directory_->policy_reads, 2);  // the third never reached the password
}

// Admit counted the validates that the password rules then refused; the counts rebuilt at a
// reload (RateLimitHistory) left them out, so a reload gave the account a fresh allowance.
TEST_F(PipelineValidateTest, ValidatesThePasswordRulesRefusedStillCountAfterAReload) {
  policy_config_.policy.rate_limits.per_account = config::RateLimit{2, std::chrono::hours(1)};
  policy_config_.policy.self_password.min_length = 40;
  Reconfigure();
  for (int i = 0; i < 2; ++i) {
    auto c = ValidateClaims();
    pipeline_->OnRequest({Seal(c)});
    ASSERT_TRUE(ResultArrives(c.id).ok());
    ASSERT_EQ(ResultFor(c.id).outcome, "password_too_short");
  }
  ASSERT_TRUE(
      pipeline_
          ->ReplacePolicy(
              [&](const policy::BreakerState& breaker) -> Result<std::unique_ptr<policy::Policy>> {
                auto history = RateLimitHistory(policy_config_, *queue_, *clock_);
                if (!history.ok()) return history.error();
                return policy::Policy::Open(policy_config_, *clock_, *history, breaker);
              })
          .ok());
  auto third = ValidateClaims();
  pipeline_->OnRequest({Seal(third)});
  ASSERT_TRUE(ResultArrives(third.id).ok());
  EXPECT_EQ(ResultFor(third.id).outcome, "rate_limited");
}

TEST_F(PipelineValidateTest, NeitherTheAuditTrailNorTheAnswerHoldsThePassword) {
  policy_config_.policy.self_password.min_length = 20;
  policy_config_.policy.self_password.no_name_parts = true;
  Reconfigure();
  auto c = ValidateClaims();
  c.target = {protocol::TargetKind::kUid, "Pipeline"};  // a name the password contains
  pipeline_->OnRequest({Seal(c)});
  ASSERT_TRUE(ResultArrives(c.id).ok());
  ASSERT_NE(ResultFor(c.id).outcome, "succeeded");
  EXPECT_FALSE(Audited(audit::EventType::kPasswordValidated).empty());
  EXPECT_EQ(AuditText().find("Pipeline-Pass-1"), std::string::npos);
  for (const auto& r : outbound_.All<protocol::ResultMessage>()) {
    EXPECT_EQ(r.reason.find("Pipeline-Pass-1"), std::string::npos);
    EXPECT_EQ(r.note.find("Pipeline-Pass-1"), std::string::npos);
  }
}

TEST_F(PipelineTest, ARequestFailingVerificationIsDeniedAtAdmissionAndWritesNothing) {
  auto c = Claims();
  c.requester.verified_by = {"carrier_pigeon"};
  pipeline_->OnRequest({Seal(c)});
  ASSERT_TRUE(ResultArrives(c.id).ok());
  EXPECT_EQ(outbound_.All<protocol::Accepted>().size(), 1u);  // stored first, then decided
  const auto result = ResultFor(c.id);
  EXPECT_EQ(result.outcome, "verification_insufficient");
  EXPECT_EQ(result.user_action, protocol::UserAction::kCouldNotVerify);
  EXPECT_NE(result.reason.find("carrier_pigeon"), std::string::npos);
  EXPECT_EQ(directory_->applies, 0);
  auto detail = queue_->Show(c.id);
  ASSERT_TRUE(detail.ok());
  EXPECT_EQ(detail->record.state, queue::State::kRejected);
  auto decisions = Audited(audit::EventType::kPolicyDecision);
  ASSERT_EQ(decisions.size(), 1u);
  EXPECT_EQ(decisions[0].decision, audit::Decision::kDeny);
  EXPECT_THAT(decisions[0].reasons, ::testing::ElementsAre("verification_insufficient"));
  EXPECT_NE(decisions[0].detail.find("policy.verification.min_methods"), std::string::npos);
  EXPECT_TRUE(Audited(audit::EventType::kDirectoryWrite).empty());
}

TEST_F(PipelineTest, AnAccountTheFilterDoesNotMatchIsDeniedAfterTheLookupAndWritesNothing) {
  policy_config_.directories[0].scope.filter = "(employeeType=staff)";
  Reconfigure();
  auto c = Claims();
  pipeline_->OnRequest({Seal(c)});
  ASSERT_TRUE(ResultArrives(c.id).ok());
  EXPECT_EQ(ResultFor(c.id).outcome, "filter_not_matched");
  EXPECT_EQ(ResultFor(c.id).user_action, protocol::UserAction::kNotEnabled);
  EXPECT_EQ(directory_->applies, 0);
  auto decisions = Audited(audit::EventType::kPolicyDecision);
  ASSERT_EQ(decisions.size(), 2u);  // admission allowed, the account denied
  EXPECT_EQ(decisions[0].decision, audit::Decision::kAllow);
  EXPECT_EQ(decisions[1].decision, audit::Decision::kDeny);
  EXPECT_EQ(decisions[1].target.dn, "alice");
  EXPECT_EQ(decisions[1].directory, "fake");

  directory_->MatchesFilter("bob");
  auto ok = Claims();
  ok.target.value = "bob";
  pipeline_->OnRequest({Seal(ok)});
  ASSERT_TRUE(ResultArrives(ok.id).ok());
  EXPECT_EQ(ResultFor(ok.id).outcome, "succeeded");
}

TEST_F(PipelineTest, AMemberOfADeniedGroupIsDeniedAndAProtectedAccountToo) {
  policy_config_.directories[0].scope.denied_groups = {"cn=tier0,dc=example"};
  policy_config_.directories[0].scope.protect_admin_count = true;
  Reconfigure();
  directory_->AddMember("cn=tier0,dc=example", "alice");
  directory_->Protect("carol");
  auto member = Claims();
  pipeline_->OnRequest({Seal(member)});
  auto admin = Claims();
  admin.target.value = "carol";
  pipeline_->OnRequest({Seal(admin)});
  ASSERT_TRUE(ResultArrives(member.id).ok());
  ASSERT_TRUE(ResultArrives(admin.id).ok());
  EXPECT_EQ(ResultFor(member.id).outcome, "denied_group");
  EXPECT_EQ(ResultFor(admin.id).outcome, "protected_account");
  EXPECT_EQ(ResultFor(admin.id).user_action, protocol::UserAction::kContactAdmin);
  EXPECT_EQ(directory_->applies, 0);
}

// Whatever the request asks (here a reset with an unlock, and a bare validate), a disabled
// account is not written: on OpenLDAP the write itself would enable it. The end is recorded
// like any directory outcome, and the user is sent to an administrator.
TEST_F(PipelineTest, ADisabledAccountIsNotWrittenWhateverTheRequestAsks) {
  directory_->Disable("alice");
  auto reset = Claims();
  reset.operations = {protocol::Operation::kReset, protocol::Operation::kUnlock};
  pipeline_->OnRequest({Seal(reset)});
  auto validate = Claims();
  validate.operations = {protocol::Operation::kValidate};
  pipeline_->OnRequest({Seal(validate)});
  ASSERT_TRUE(ResultArrives(reset.id).ok());
  ASSERT_TRUE(ResultArrives(validate.id).ok());
  for (const std::string& id : {reset.id, validate.id}) {
    EXPECT_EQ(ResultFor(id).outcome, "account_disabled") << id;
    EXPECT_EQ(ResultFor(id).user_action, protocol::UserAction::kContactAdmin) << id;
    EXPECT_NE(ResultFor(id).reason.find("is disabled in the directory"), std::string::npos);
  }
  EXPECT_EQ(directory_->applies, 0);
  // The reset's end is a directory_write record, the validate's a password_validated one.
  std::map<std::string, std::string> ends;
  for (const audit::Record& record : Trail()) {
    const audit::EventType type = record.event.type;
    if (type == audit::EventType::kDirectoryWrite || type == audit::EventType::kPasswordValidated) {
      ends[record.event.request_id] = record.event.outcome;
    }
  }
  EXPECT_EQ(ends, (std::map<std::string, std::string>{{reset.id, "account_disabled"},
                                                      {validate.id, "account_disabled"}}));
}

// The policy's account checks come first: a protected account that is also disabled gets the
// policy's denial, which names no more of it than the policy allows.
TEST_F(PipelineTest, APolicyDenialComesBeforeTheDisabledAccount) {
  policy_config_.directories[0].scope.protect_admin_count = true;
  Reconfigure();
  directory_->Protect("alice");
  directory_->Disable("alice");
  auto c = Claims();
  pipeline_->OnRequest({Seal(c)});
  ASSERT_TRUE(ResultArrives(c.id).ok());
  EXPECT_EQ(ResultFor(c.id).outcome, "protected_account");
  EXPECT_EQ(directory_->applies, 0);
}

TEST_F(PipelineTest, ADirectoryThatCannotAnswerThePolicysQuestionsIsRetriedNotDenied) {
  policy_config_.directories[0].scope.filter = "(employeeType=staff)";
  Reconfigure();
  directory_->MatchesFilter("alice");
  directory_->fail_answers_once = true;
  auto c = Claims();
  pipeline_->OnRequest({Seal(c)});
  ASSERT_TRUE(ResultArrives(c.id).ok());
  EXPECT_EQ(ResultFor(c.id).outcome, "succeeded");
  EXPECT_EQ(directory_->questions_asked, 2);
  EXPECT_EQ(directory_->applies, 1);
}

TEST_F(PipelineTest, LogOnlyLetsAWouldDenyThroughAndAuditsIt) {
  policy_config_.policy.mode = config::PolicyMode::kLogOnly;
  policy_config_.directories[0].scope.filter = "(employeeType=staff)";
  Reconfigure();
  auto c = Claims();
  pipeline_->OnRequest({Seal(c)});
  ASSERT_TRUE(ResultArrives(c.id).ok());
  EXPECT_EQ(ResultFor(c.id).outcome, "succeeded");
  EXPECT_EQ(directory_->applies, 1);
  auto decisions = Audited(audit::EventType::kPolicyDecision);
  ASSERT_EQ(decisions.size(), 2u);
  EXPECT_EQ(decisions[1].decision, audit::Decision::kWouldDeny);
  EXPECT_THAT(decisions[1].reasons, ::testing::ElementsAre("filter_not_matched"));
  EXPECT_NE(decisions[1].detail.find("(log_only)"), std::string::npos);
}

// A reload's new rules (Pipeline::ReplacePolicy): the next request is decided by them.
TEST_F(PipelineTest, AReplacedPolicyDecidesTheNextRequest) {
  auto before = Claims();
  pipeline_->OnRequest({Seal(before)});
  ASSERT_TRUE(ResultArrives(before.id).ok());
  EXPECT_EQ(ResultFor(before.id).outcome, "succeeded");

  config::Config stricter = policy_config_;
  stricter.directories[0].scope.filter = "(employeeType=staff)";
  ASSERT_TRUE(
      pipeline_
          ->ReplacePolicy(
              [&](const policy::BreakerState& breaker) -> Result<std::unique_ptr<policy::Policy>> {
                return policy::Policy::Open(stricter, *clock_, {}, breaker);
              })
          .ok());
  auto after = Claims();
  pipeline_->OnRequest({Seal(after)});
  ASSERT_TRUE(ResultArrives(after.id).ok());
  EXPECT_EQ(ResultFor(after.id).outcome, "filter_not_matched");
  EXPECT_EQ(directory_->applies, 1);
}

TEST_F(PipelineTest, APolicyThatCannotBeOpenedLeavesTheOldRulesInForce) {
  policy_config_.directories[0].scope.filter = "(employeeType=staff)";
  Reconfigure();
  Status s = pipeline_->ReplacePolicy(
      [](const policy::BreakerState&) -> Result<std::unique_ptr<policy::Policy>> {
        return InvalidArgument("a scope DN that does not parse");
      });
  EXPECT_FALSE(s.ok());
  auto c = Claims();
  pipeline_->OnRequest({Seal(c)});
  ASSERT_TRUE(ResultArrives(c.id).ok());
  EXPECT_EQ(ResultFor(c.id).outcome, "filter_not_matched");
}

class PipelineBreakerTest : public PipelineTest {
 protected:
  void SetUp() override {
    PipelineTest::SetUp();
    policy_config_.policy.rate_limits.overall = {2, std::chrono::seconds(600)};
    Reconfigure();
  }
  // Sends `n` requests for distinct users; returns their ids.
  std::vector<std::string> Send(int n) {
    std::vector<std::string> ids;
    for (int i = 0; i < n; ++i) {
      auto c = Claims();
      c.target.value = "user" + std::to_string(sent_++);
      pipeline_->OnRequest({Seal(c)});
      ids.push_back(c.id);
    }
    return ids;
  }
  queue::State StateOf(const std::string& id) {
    auto d = queue_->Show(id);
    EXPECT_TRUE(d.ok());
    return d.ok() ? d->record.state : queue::State::kFailed;
  }
  int sent_ = 0;
};

TEST_F(PipelineBreakerTest, PassingTheOverallLimitHoldsRequestsWithoutWritingOrRefusingThem) {
  auto first = Send(2);
  for (const auto& id : first) ASSERT_TRUE(ResultArrives(id).ok());
  auto held = Send(3);
  EXPECT_TRUE(pipeline_->Breaker().tripped);
  for (const auto& id : held) {
    EXPECT_EQ(StateOf(id), queue::State::kReceived);
    EXPECT_EQ(ResultsFor(outbound_, id), 0u);
  }
  EXPECT_EQ(outbound_.All<protocol::Accepted>().size(), 5u);  // every one was stored
  EXPECT_EQ(directory_->applies, 2);
  std::size_t holds = 0;
  for (const auto& e : Audited(audit::EventType::kPolicyDecision)) {
    holds += e.decision == audit::Decision::kHold ? 1 : 0;
  }
  EXPECT_EQ(holds, 4u);  // one per held request, and the trip itself, once
}

TEST_F(PipelineBreakerTest, AReloadKeepsATrippedBreakerTripped) {
  Send(2);
  auto held = Send(1);
  ASSERT_TRUE(pipeline_->Breaker().tripped);
  ASSERT_TRUE(
      pipeline_
          ->ReplacePolicy(
              [&](const policy::BreakerState& breaker) -> Result<std::unique_ptr<policy::Policy>> {
                return policy::Policy::Open(policy_config_, *clock_, {}, breaker);
              })
          .ok());
  EXPECT_TRUE(pipeline_->Breaker().tripped);
  auto more = Send(1);  // the new rules count nothing yet, but the breaker still holds
  EXPECT_EQ(StateOf(more.front()), queue::State::kReceived);
  ASSERT_TRUE(pipeline_->ReleaseHeld().ok());
  for (const auto& id : {held.front(), more.front()}) {
    ASSERT_TRUE(ResultArrives(id).ok());
    EXPECT_EQ(ResultFor(id).outcome, "succeeded");
  }
}

// The rules' own admissions are written without an fsync (decided again after a crash of the
// host); an administrator's release must stand as recorded, so it is fsynced.
TEST_F(PipelineBreakerTest, AnAdministratorsReleaseIsStoredDurablyAndTheRulesAdmissionsAreNot) {
  Send(2);
  EXPECT_GT(faulty_->ordered_admissions.load(), 0);
  EXPECT_EQ(faulty_->durable_admissions.load(), 0);
  auto held = Send(3);
  ASSERT_TRUE(pipeline_->Breaker().tripped);
  auto released = pipeline_->ReleaseHeld();
  ASSERT_TRUE(released.ok());
  EXPECT_EQ(*released, 3);
  EXPECT_EQ(faulty_->durable_admissions.load(), 1);  // the three, in one transaction
  for (const auto& id : held) ASSERT_TRUE(ResultArrives(id).ok());
}

TEST_F(PipelineBreakerTest, ReleasedRequestsAreAppliedExactlyOnce) {
  auto first = Send(2);
  auto held = Send(3);
  auto released = pipeline_->ReleaseHeld();
  ASSERT_TRUE(released.ok());
  EXPECT_EQ(*released, 3);
  EXPECT_FALSE(pipeline_->Breaker().tripped);
  for (const auto& id : held) {
    ASSERT_TRUE(ResultArrives(id).ok());
    EXPECT_EQ(ResultFor(id).outcome, "succeeded");
  }
  EXPECT_EQ(directory_->applies, 5);
  // A second release finds nothing held.
  EXPECT_EQ(*pipeline_->ReleaseHeld(), 0);
  EXPECT_EQ(directory_->applies, 5);
}

// A release makes many requests ready at once, and a worker that ends one takes the next
// itself without waking another: the release must wake a worker for each, or one worker would
// drain them while the others sleep out their five minutes.
TEST_F(PipelineBreakerTest, AReleaseWakesAWorkerForEachReleasedRequest) {
  const auto first = Send(2);
  for (const auto& id : first) ASSERT_TRUE(ResultArrives(id).ok());
  auto held = Send(3);
  ASSERT_TRUE(pipeline_->Breaker().tripped);
  directory_->SetGate(true);  // each worker that takes one stays in Apply
  ASSERT_TRUE(pipeline_->ReleaseHeld().ok());
  const Status both_busy = testing::WaitUntil(
      [&] {
        return directory_->at_gate.load() == 2 ? Status::Ok()
                                               : NotFound("not every worker took a request");
      },
      10s);
  EXPECT_TRUE(both_busy.ok()) << "workers in Apply: " << directory_->at_gate.load();
  directory_->SetGate(false);
  for (const auto& id : held) ASSERT_TRUE(ResultArrives(id).ok());
}

// The daemon writes breaker.json from these calls alone, the last one winning: each change
// comes once, in order, and an administrator's release or reject comes with what it did (a
// second write of the action after the fact could land after a newer trip, and a restart would
// then find the breaker closed).
TEST_F(PipelineBreakerTest, EachBreakerChangeIsReportedOnceInOrderWithTheAdministratorsAction) {
  Send(2);
  Send(3);
  const WallTime before = clock_->Now();
  ASSERT_EQ(*pipeline_->ReleaseHeld(), 3);
  const WallTime after = clock_->Now();
  // Counting starts again after the release's instant, and the queue keeps received times in
  // milliseconds: a request stored in the release's millisecond would not be counted.
  PastTheStartsMillisecond();
  Send(3);  // counted again from the release: the third trips it again
  ASSERT_EQ(*pipeline_->RejectHeld(), 1);
  std::lock_guard lock(breaker_mu_);
  ASSERT_EQ(breaker_changes_.size(), 4u);
  EXPECT_TRUE(breaker_changes_[0].first.tripped);
  EXPECT_FALSE(breaker_changes_[0].second.has_value());
  EXPECT_FALSE(breaker_changes_[1].first.tripped);
  ASSERT_TRUE(breaker_changes_[1].second.has_value());
  EXPECT_EQ(breaker_changes_[1].second->action, BreakerAction::kRelease);
  EXPECT_EQ(breaker_changes_[1].second->requests, 3);
  EXPECT_GE(breaker_changes_[1].second->at, before);
  EXPECT_LE(breaker_changes_[1].second->at, after);
  EXPECT_TRUE(breaker_changes_[2].first.tripped);
  EXPECT_FALSE(breaker_changes_[2].second.has_value());
  EXPECT_FALSE(breaker_changes_[3].first.tripped);
  ASSERT_TRUE(breaker_changes_[3].second.has_value());
  EXPECT_EQ(breaker_changes_[3].second->action, BreakerAction::kReject);
  EXPECT_EQ(breaker_changes_[3].second->requests, 1);
}

TEST_F(PipelineBreakerTest, RejectedHeldRequestsEndRefusedAndAreNeverWritten) {
  Send(2);
  auto held = Send(3);
  auto rejected = pipeline_->RejectHeld();
  ASSERT_TRUE(rejected.ok());
  EXPECT_EQ(*rejected, 3);
  for (const auto& id : held) {
    ASSERT_TRUE(ResultArrives(id).ok());
    EXPECT_EQ(ResultFor(id).outcome, "breaker_rejected");
    EXPECT_EQ(ResultFor(id).user_action, protocol::UserAction::kContactAdmin);
    EXPECT_EQ(StateOf(id), queue::State::kRejected);
  }
  EXPECT_EQ(directory_->applies, 2);
}

TEST_F(PipelineBreakerTest, AHeldRequestIsStillHeldAfterARestart) {
  Send(2);
  auto held = Send(1);
  Restart(10'000);
  ASSERT_TRUE(pipeline_->Start().ok());
  EXPECT_EQ(StateOf(held[0]), queue::State::kReceived);
  ASSERT_TRUE(pipeline_->ReleaseHeld().ok());
  ASSERT_TRUE(ResultArrives(held[0]).ok());
  EXPECT_EQ(ResultFor(held[0]).outcome, "succeeded");
}

// The breaker's promises as properties, over random interleavings of new requests,
// redeliveries, releases, rejections, restarts and reloads of the rules: a request is written
// at most once; a request the breaker holds is never written before a release; a rejected one
// never; and "accepted" is only ever sent for a request the queue holds.
// A release that comes while a request is being stored, after its commit and before its
// admission, waits for that admission: the request is held by admission, then released, one
// decision each. (Before, the release admitted it first, and admission then decided it again;
// a denial there would have ended a request a worker was writing.)
TEST_F(PipelineBreakerTest, AReleaseDuringAnArrivalWaitsForItsAdmission) {
  for (const auto& id : Send(2)) ASSERT_TRUE(ResultArrives(id).ok());
  Send(1);
  ASSERT_TRUE(pipeline_->Breaker().tripped);
  std::future<Result<int>> release;
  bool released_meanwhile = false;
  faulty_->after_enqueue_all = [&] {
    release = std::async(std::launch::async, [&] { return pipeline_->ReleaseHeld(); });
    // Were the release not held off, it would end now.
    released_meanwhile = release.wait_for(200ms) == std::future_status::ready;
  };
  auto c = Claims();
  c.target.value = "late";
  pipeline_->OnRequest({Seal(c)});
  ASSERT_TRUE(release.valid());
  EXPECT_FALSE(released_meanwhile) << "the release acted before the arrival's admission";
  ASSERT_TRUE(release.get().ok());
  ASSERT_TRUE(ResultArrives(c.id).ok());
  EXPECT_EQ(ResultFor(c.id).outcome, "succeeded");
  // Its admission decisions (the worker's account check is recorded too, after them).
  using Decided = std::pair<std::string, audit::Decision>;
  std::vector<Decided> decisions;
  for (const auto& e : Audited(audit::EventType::kPolicyDecision)) {
    if (e.request_id != c.id || e.detail.starts_with("account")) continue;
    decisions.emplace_back(e.detail.substr(0, e.detail.find(';')), e.decision);
  }
  EXPECT_EQ(decisions,
            (std::vector<Decided>{{"admission", audit::Decision::kHold},
                                  {"breaker release: admitted by an administrator after review",
                                   audit::Decision::kAllow}}));
  EXPECT_EQ(directory_->applies, 4);  // the first two, the held one and the late one, once each
}

TEST_F(PipelineBreakerTest, NoInterleavingWritesAHeldRequestEarlyOrAnyRequestTwice) {
  constexpr std::uint32_t kFixedSeeds = 8;
  const std::vector<std::uint32_t> seeds = PropertySeeds(kFixedSeeds);
  for (std::size_t run = 0; run < seeds.size(); ++run) {
    const std::uint32_t seed = seeds[run];
    SCOPED_TRACE(SeedTrace(seed));
    std::mt19937 rng(seed);
    auto pick = [&](std::size_t n) {
      return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng);
    };
    std::vector<std::string> envelopes;
    std::set<std::string> rejected;
    std::set<std::string> held;  // held at the end of the previous step
    bool saw_hold = false;
    for (int step = 0; step < 30; ++step) {
      bool released = false;
      switch (pick(7)) {
        case 0:
        case 1:
        case 2: {
          auto c = Claims();
          c.target.value = "s" + std::to_string(seed) + "u" + std::to_string(step);
          envelopes.push_back(Seal(c));
          pipeline_->OnRequest({envelopes.back()});
          break;
        }
        case 3:
          if (!envelopes.empty()) pipeline_->OnRequest({envelopes[pick(envelopes.size())]});
          break;
        case 4: {
          const bool release = pick(2) == 0;
          auto held_now = queue_->List({.state = queue::State::kReceived, .limit = 1000});
          ASSERT_TRUE(held_now.ok());
          ASSERT_TRUE((release ? pipeline_->ReleaseHeld() : pipeline_->RejectHeld()).ok());
          released = release;
          // The breaker counts only requests received after a release or reject, and the queue
          // keeps received_at in milliseconds: a request received in the same millisecond is
          // not counted, and a fast run would then never see the breaker trip again. The next
          // request comes in the next millisecond, as any real one does.
          std::this_thread::sleep_until(
              std::chrono::ceil<std::chrono::milliseconds>(std::chrono::system_clock::now()) +
              std::chrono::milliseconds(1));
          if (!release) {
            for (const auto& r : *held_now) rejected.insert(r.info.id);
          }
          break;
        }
        case 5:
          Restart(10'000);
          ASSERT_TRUE(pipeline_->Start().ok());
          break;
        case 6:  // a reload: the rules opened again, as the daemon does it
          ASSERT_TRUE(pipeline_
                          ->ReplacePolicy([&](const policy::BreakerState& breaker)
                                              -> Result<std::unique_ptr<policy::Policy>> {
                            auto history = RateLimitHistory(policy_config_, *queue_, *clock_);
                            if (!history.ok()) return history.error();
                            return policy::Policy::Open(policy_config_, *clock_, *history, breaker);
                          })
                          .ok());
          break;
      }
      ASSERT_TRUE(EveryAcceptedIdIsStored(outbound_, *queue_)) << "after step " << step;
      // What was held stays unwritten until a release; what was rejected, for ever.
      auto listed = queue_->List({.limit = 1000});
      ASSERT_TRUE(listed.ok());
      std::set<std::string> held_after;
      for (const auto& r : *listed) {
        const bool was_held = !released && held.count(r.info.id) > 0;
        if (was_held || rejected.count(r.info.id) > 0) {
          EXPECT_EQ(r.attempts, 0) << r.info.id << " was taken while held or after rejection";
        }
        if (r.state == queue::State::kReceived) held_after.insert(r.info.id);
      }
      held = std::move(held_after);
      saw_hold = saw_hold || !held.empty();
    }
    // Each fixed seed is known to trip the breaker, so that the suite always proves something;
    // the run's own random seed may not, and then checks the rest only.
    if (run < kFixedSeeds) {
      EXPECT_TRUE(saw_hold) << "the breaker never held a request: the run proves nothing";
    }
    ASSERT_TRUE(pipeline_->ReleaseHeld().ok());
    // Everything not rejected ends succeeded, each applied once.
    auto all = queue_->List({.limit = 1000});
    ASSERT_TRUE(all.ok());
    for (const auto& r : *all) {
      if (rejected.count(r.info.id) > 0) continue;
      ASSERT_TRUE(ResultArrives(r.info.id).ok()) << r.info.id;
    }
    auto final_records = queue_->List({.limit = 1000});
    ASSERT_TRUE(final_records.ok());
    for (const auto& r : *final_records) {
      EXPECT_LE(r.attempts, 1) << r.info.id << " was attempted twice";
    }
    // The next seed starts from an empty state: a fresh queue and breaker.
    pipeline_.reset();
    policy_.reset();
    breaker_ = {};
    queue_.reset();
    std::filesystem::remove_all(dir_.path() / "state");
    outbound_.Clear();
    OpenQueue();
    MakePipeline();
  }
}

// The example record of docs/audit.md whose line has all of `needles`, parsed; nullopt when
// there is none.
std::optional<audit::Record> DocumentedRecord(const std::vector<std::string>& needles) {
  std::ifstream in(std::string(WB_SOURCE_DIR) + "/docs/audit.md");
  for (std::string line; std::getline(in, line);) {
    if (!line.starts_with("{\"v\":1,")) continue;
    bool all = true;
    for (const auto& n : needles) all = all && line.find(n) != std::string::npos;
    if (!all) continue;
    auto parsed = audit::ParseRecord(line);
    EXPECT_TRUE(parsed.ok()) << line;
    if (parsed.ok()) return *parsed;
  }
  return std::nullopt;
}

// docs/audit.md's protected_account example is the record the pipeline writes for that denial,
// up to the names (directory, DN, requester) and the request id.
TEST_F(PipelineTest, TheDocumentedProtectedAccountDenialIsTheRecordThePipelineWrites) {
  policy_config_.directories[0].admin_scope = config::ScopeConfig{};  // protect_admin_count
  Reconfigure();
  const std::string dn = "CN=svc-backup,OU=Service,DC=corp,DC=contoso,DC=com";
  directory_->Protect(dn);
  auto c = Claims();
  c.operations = {protocol::Operation::kReset};
  c.target = {protocol::TargetKind::kDn, dn};
  c.requester = {protocol::RequesterType::kAdmin, "helpdesk.jo@contoso.com", {"fido2"}};
  pipeline_->OnRequest({Seal(c)});
  ASSERT_TRUE(ResultArrives(c.id).ok());
  ASSERT_EQ(ResultFor(c.id).outcome, "protected_account");
  std::optional<audit::Event> real;
  for (const auto& e : Audited(audit::EventType::kPolicyDecision)) {
    if (e.request_id == c.id && e.decision == audit::Decision::kDeny) real = e;
  }
  ASSERT_TRUE(real.has_value());

  auto documented = DocumentedRecord({"\"event\":\"policy_decision\"", "protected_account"});
  ASSERT_TRUE(documented.has_value()) << "no protected_account example in docs/audit.md";
  audit::Event doc = documented->event;
  EXPECT_EQ(doc.decision, real->decision);
  EXPECT_EQ(doc.reasons, real->reasons);
  EXPECT_EQ(doc.outcome, real->outcome);
  EXPECT_EQ(doc.operations, real->operations);
  EXPECT_EQ(doc.requester, real->requester);
  EXPECT_EQ(doc.target.dn, real->target.dn);
  EXPECT_FALSE(doc.tenant.empty());
  EXPECT_FALSE(doc.target.requested.empty());
  EXPECT_EQ(doc.server, real->server);
  EXPECT_EQ(doc.duration, real->duration);
  // The detail word for word, with the example's directory name for the test's.
  std::string detail = real->detail;
  const std::string fake = "directory[fake]";
  detail.replace(detail.find(fake), fake.size(), "directory[" + doc.directory + "]");
  EXPECT_EQ(doc.detail, detail);
}

// --- Crash recovery (queue/queue.h, "Crash recovery") ------------------------------------

// A previous process that died during a directory write, and the next start, with a clock
// that moves only when the test says so.
class PipelineRecoveryTest : public PipelineTest {
 protected:
  void SetUp() override {
    clock_ = &fake_clock_;
    PipelineTest::SetUp();
    pipeline_.reset();  // the previous process: nothing takes work but the test
  }
  // A request that was taken (`applying`) when its process died; its record as taken.
  queue::Record Interrupted(const protocol::RequestClaims& c, queue::Operations ops) {
    EXPECT_TRUE(EnqueueReady(c, "Pipeline-Pass-1", ops).ok());
    auto work = queue_->Take();
    EXPECT_TRUE(work.ok() && work->has_value());
    return work.ok() && work->has_value() ? (*work)->record : queue::Record{};
  }
  // A request of this agent's that succeeded: its password write is the agent's own.
  void Succeeded(const protocol::RequestClaims& c) {
    ASSERT_TRUE(EnqueueReady(c, "Pipeline-Pass-0").ok());
    auto work = queue_->Take();
    ASSERT_TRUE(work.ok() && work->has_value());
    ASSERT_TRUE(
        queue_->Finish(c.id, {.state = queue::State::kSucceeded, .code = "succeeded"}).ok());
    directory_->SetPasswordChangedAt(c.target.value, clock_->Now());
  }
  void StartAgain() {
    queue_.reset();
    OpenQueue();
    MakePipeline();
  }
};

TEST_F(PipelineRecoveryTest, AnInterruptedResetWhosePasswordLandedIsNotWrittenAgain) {
  auto c = Claims();
  const queue::Record taken = Interrupted(c, {.reset = true});
  directory_->SetPasswordChangedAt("alice", *taken.attempt_started_at);
  fake_clock_.Advance(1s);
  StartAgain();
  ASSERT_TRUE(ResultArrives(c.id).ok());
  EXPECT_EQ(ResultFor(c.id).outcome, "succeeded");
  EXPECT_EQ(directory_->applies, 0);
  bool recorded = false;
  for (const audit::Event& e : Audited(audit::EventType::kDirectoryWrite)) {
    recorded |= e.request_id == c.id && e.detail.starts_with("found applied after a restart");
  }
  EXPECT_TRUE(recorded) << "the write found applied is not in the trail";
}

// The password landed, the unlock (a write of its own on OpenLDAP) may not have: the unlock is
// written, the password is not.
TEST_F(PipelineRecoveryTest, AnInterruptedResetWithAnUnlockWritesTheUnlockWhenThePasswordLanded) {
  auto c = Claims();
  const queue::Record taken = Interrupted(c, {.reset = true, .unlock = true});
  directory_->SetPasswordChangedAt("alice", *taken.attempt_started_at);
  fake_clock_.Advance(1s);
  StartAgain();
  ASSERT_TRUE(ResultArrives(c.id).ok());
  EXPECT_EQ(ResultFor(c.id).outcome, "succeeded");
  EXPECT_NE(ResultFor(c.id).note.find("found applied"), std::string::npos);
  const auto changes = directory_->Changes();
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_TRUE(OnlyTheRest(changes[0], true, ldap::PasswordChange::MustChange::kLeave));
}

// This agent's own write of an earlier request for the account, in the same second as the
// interrupted attempt's start, is not the interrupted request's: it is written.
TEST_F(PipelineRecoveryTest, AnEarlierRequestsWriteIsNotTakenForTheInterruptedOnes) {
  auto earlier = Claims();
  Succeeded(earlier);
  fake_clock_.Advance(100ms);  // the same second
  auto c = Claims();
  Interrupted(c, {.reset = true});
  fake_clock_.Advance(1s);
  StartAgain();
  ASSERT_TRUE(ResultArrives(c.id).ok());
  EXPECT_EQ(ResultFor(c.id).outcome, "succeeded");
  EXPECT_EQ(ResultFor(c.id).note, "") << "wrongly found applied";
  EXPECT_EQ(directory_->applies, 1);
}

// --- Expiry (docs/audit.md, request_expired) ----------------------------------------------

// With a clock that moves only when the test says so: a request's five minutes pass at once.
class PipelineExpiryTest : public PipelineTest {
 protected:
  void SetUp() override {
    clock_ = &fake_clock_;
    PipelineTest::SetUp();
  }
  // The event types recorded for request `id`, in trail order.
  std::vector<audit::EventType> EventsOf(const std::string& id) {
    std::vector<audit::EventType> out;
    std::ifstream in(dir_.path() / "audit.jsonl");
    for (std::string line; std::getline(in, line);) {
      auto record = audit::ParseRecord(line);
      if (record.ok() && record->event.request_id == id) out.push_back(record->event.type);
    }
    return out;
  }
  // `wbagent audit query`'s row for request `id`.
  audit::RequestRow RowOf(const std::string& id) {
    auto rows = audit::QueryRequests(dir_.path() / "audit.jsonl", {.request_id = id});
    EXPECT_TRUE(rows.ok());
    if (!rows.ok() || rows->rows.size() != 1) return {};
    return rows->rows[0];
  }
  static bool Before(const std::vector<audit::EventType>& events, audit::EventType first,
                     audit::EventType then) {
    auto a = std::find(events.begin(), events.end(), first);
    auto b = std::find(events.begin(), events.end(), then);
    return a != events.end() && b != events.end() && a < b;
  }
  queue::State StateOf(const std::string& id) {
    auto d = queue_->Show(id);
    return d.ok() ? d->record.state : queue::State::kFailed;
  }
  // The next start, on the same state, with a trail that works again (as after the disk was
  // given room).
  void RestartWithAWorkingTrail() {
    pipeline_.reset();
    queue_.reset();
    armed_ = false;
    OpenWriter(/*faulty=*/false);
    OpenQueue();
    MakePipeline();
  }
};

TEST_F(PipelineExpiryTest, ARequestWithNoTimeLeftToRetryIsAuditedAsExpiredOnceAndReported) {
  directory_->next_outcome = ldap::MakeOutcome(ldap::OutcomeCode::kDirectoryUnavailable, "down");
  directory_->SetGate(true);  // the attempt waits in Apply until its request's time is nearly up
  auto c = Claims();
  pipeline_->OnRequest({Seal(c)});
  ASSERT_TRUE(testing::WaitUntil(
                  [&] {
                    return StateOf(c.id) == queue::State::kApplying ? Status::Ok()
                                                                    : NotFound("not taken yet");
                  },
                  10s)
                  .ok());
  fake_clock_.Advance(5min - 1ms);  // the retry's back-off would end after expires_at
  // The expiry is reported from Retry's own record: a read that fails after it (before, a
  // second read left the expiry unrecorded until the next start) changes nothing.
  faulty_->fail_show = true;
  directory_->SetGate(false);
  ASSERT_TRUE(ResultArrives(c.id).ok());
  faulty_->fail_show = false;
  EXPECT_EQ(StateOf(c.id), queue::State::kExpired);
  EXPECT_EQ(ResultFor(c.id).outcome, "expired");
  EXPECT_EQ(ResultFor(c.id).user_action, protocol::UserAction::kTryLater);

  auto expired = Audited(audit::EventType::kRequestExpired);
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(expired[0].request_id, c.id);
  EXPECT_EQ(expired[0].outcome, "expired");
  EXPECT_EQ(expired[0].target.requested, "alice");
  EXPECT_EQ(expired[0].requester.id, "alice");
  EXPECT_EQ(expired[0].reasons, std::vector<std::string>{"directory_unavailable"});
  EXPECT_NE(expired[0].detail.find("1 attempt(s) made"), std::string::npos) << expired[0].detail;
  EXPECT_TRUE(
      Before(EventsOf(c.id), audit::EventType::kDirectoryWrite, audit::EventType::kRequestExpired));
  EXPECT_TRUE(
      Before(EventsOf(c.id), audit::EventType::kRequestExpired, audit::EventType::kResultSent));

  // The next maintenance does not record it again.
  pipeline_->Maintain();
  EXPECT_EQ(Audited(audit::EventType::kRequestExpired).size(), 1u);
  EXPECT_EQ(ResultsFor(outbound_, c.id), 1u);
}

// docs/audit.md's request_expired example is a record as the pipeline writes it: the same
// outcome, a reason of the same kind, and every key the pipeline writes.
TEST_F(PipelineExpiryTest, TheDocumentedExpiredRecordHasTheShapeThePipelineWrites) {
  directory_->next_outcome = ldap::MakeOutcome(ldap::OutcomeCode::kDirectoryUnavailable, "down");
  directory_->next_outcome.server = "ldaps://fake:636";
  directory_->SetGate(true);
  auto c = Claims();
  c.correlation_id = "corr-1";
  pipeline_->OnRequest({Seal(c)});
  ASSERT_TRUE(testing::WaitUntil(
                  [&] {
                    return StateOf(c.id) == queue::State::kApplying ? Status::Ok()
                                                                    : NotFound("not taken yet");
                  },
                  10s)
                  .ok());
  fake_clock_.Advance(5min - 1ms);
  directory_->SetGate(false);
  ASSERT_TRUE(ResultArrives(c.id).ok());
  auto written = Audited(audit::EventType::kRequestExpired);
  ASSERT_EQ(written.size(), 1u);
  const audit::Event& real = written[0];

  auto documented = DocumentedRecord({"\"event\":\"request_expired\""});
  ASSERT_TRUE(documented.has_value()) << "no request_expired example in docs/audit.md";
  const audit::Event& doc = documented->event;
  EXPECT_EQ(doc.outcome, real.outcome);
  EXPECT_EQ(doc.reasons.size(), real.reasons.size());
  EXPECT_EQ(doc.reasons, std::vector<std::string>{"directory_unavailable"});
  EXPECT_EQ(doc.decision, real.decision);
  EXPECT_EQ(doc.directory.empty(), real.directory.empty());
  EXPECT_EQ(doc.server.empty(), real.server.empty());
  EXPECT_EQ(doc.duration.has_value(), real.duration.has_value());
  EXPECT_EQ(doc.correlation_id.empty(), real.correlation_id.empty());
  EXPECT_EQ(doc.target.dn.empty(), real.target.dn.empty());
  EXPECT_EQ(doc.requester.kind, real.requester.kind);
  EXPECT_FALSE(doc.tenant.empty() || doc.operations.empty() || doc.target.requested.empty());
  // The same wording, up to the attempt count.
  EXPECT_EQ(doc.detail.substr(0, doc.detail.find('(')),
            real.detail.substr(0, real.detail.find('(')));
  EXPECT_EQ(doc.detail.substr(doc.detail.find(')')), real.detail.substr(real.detail.find(')')));
}

TEST_F(PipelineExpiryTest, AnExpiredRequestShowsInTheRequestViewWithItsOutcomeAndLastError) {
  directory_->next_outcome = ldap::MakeOutcome(ldap::OutcomeCode::kDirectoryUnavailable, "down");
  directory_->SetGate(true);
  auto c = Claims();
  pipeline_->OnRequest({Seal(c)});
  ASSERT_TRUE(testing::WaitUntil(
                  [&] {
                    return StateOf(c.id) == queue::State::kApplying ? Status::Ok()
                                                                    : NotFound("not taken yet");
                  },
                  10s)
                  .ok());
  fake_clock_.Advance(5min - 1ms);
  directory_->SetGate(false);
  ASSERT_TRUE(ResultArrives(c.id).ok());
  const audit::RequestRow row = RowOf(c.id);
  EXPECT_EQ(row.outcome, "expired");
  EXPECT_EQ(row.reasons, std::vector<std::string>{"directory_unavailable"});
  EXPECT_EQ(row.writes, 1);
  EXPECT_TRUE(row.result_sent);
  const std::string table = audit::FormatRequests({row}, audit::Format::kTable);
  EXPECT_NE(table.find("expired (directory_unavailable)"), std::string::npos) << table;
}

// A request the queue expires without an attempt (held by the breaker, or waiting behind a
// busy account) is found by the periodic maintenance: recorded, then reported, once.
class PipelineHeldExpiryTest : public PipelineExpiryTest {
 protected:
  void SetUp() override {
    PipelineExpiryTest::SetUp();
    policy_config_.policy.rate_limits.overall = {2, std::chrono::seconds(600)};
    Reconfigure();
  }
  std::string Send(const std::string& user) {
    auto c = Claims();
    c.target.value = user;
    c.requester.id = user;
    pipeline_->OnRequest({Seal(c)});
    return c.id;
  }
};

TEST_F(PipelineHeldExpiryTest, ARequestHeldByTheBreakerUntilItExpiresIsAuditedOnceAndReported) {
  for (const auto& id : {Send("u1"), Send("u2")}) ASSERT_TRUE(ResultArrives(id).ok());
  const std::string held = Send("u3");
  ASSERT_TRUE(policy_->Breaker().tripped);
  ASSERT_EQ(StateOf(held), queue::State::kReceived);

  pipeline_->Maintain();  // not due yet
  EXPECT_TRUE(Audited(audit::EventType::kRequestExpired).empty());
  EXPECT_EQ(ResultsFor(outbound_, held), 0u);

  fake_clock_.Advance(5min);
  pipeline_->Maintain();
  EXPECT_EQ(StateOf(held), queue::State::kExpired);
  ASSERT_EQ(ResultsFor(outbound_, held), 1u);
  EXPECT_EQ(ResultFor(held).outcome, "expired");
  EXPECT_EQ(ResultFor(held).user_action, protocol::UserAction::kTryLater);
  auto expired = Audited(audit::EventType::kRequestExpired);
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(expired[0].request_id, held);
  EXPECT_EQ(expired[0].target.requested, "u3");
  EXPECT_TRUE(expired[0].reasons.empty());  // no attempt failed: it was never tried
  EXPECT_TRUE(
      Before(EventsOf(held), audit::EventType::kRequestExpired, audit::EventType::kResultSent));
  EXPECT_EQ(RowOf(held).outcome, "expired");
  EXPECT_EQ(RowOf(held).decision, audit::Decision::kHold);

  pipeline_->Maintain();
  EXPECT_EQ(Audited(audit::EventType::kRequestExpired).size(), 1u);
  EXPECT_EQ(ResultsFor(outbound_, held), 1u);
  EXPECT_EQ(directory_->applies, 2);
}

// The queue commits an end it makes itself (an expiry, an unreadable password) before the
// pipeline records it. A reconnection's re-send or a redelivery's answer in between must not
// send that result unrecorded; once recorded, it is re-sent as any result is until the cloud
// acknowledges it.
TEST_F(PipelineHeldExpiryTest, AResultTheQueueEndedIsNotSentBeforeItIsRecorded) {
  for (const auto& id : {Send("u1"), Send("u2")}) ASSERT_TRUE(ResultArrives(id).ok());
  auto c = Claims();
  c.target.value = "u3";
  c.requester.id = "u3";
  const std::string envelope = Seal(c);
  pipeline_->OnRequest({envelope});
  const std::string held = c.id;
  ASSERT_EQ(StateOf(held), queue::State::kReceived);
  fake_clock_.Advance(5min);
  ASSERT_TRUE(queue_->Maintain().ok());  // the queue's commit, not yet the pipeline's record
  ASSERT_EQ(StateOf(held), queue::State::kExpired);

  EXPECT_THAT(pipeline_->HelloState().unacked_results,
              ::testing::Not(::testing::Contains(held)));                // a reconnection's hello
  pipeline_->ResendResults();                                            // and its re-sends
  pipeline_->OnRequests(std::vector<protocol::Request>{{envelope, 2}});  // a redelivery
  EXPECT_EQ(ResultsFor(outbound_, held), 0u);
  EXPECT_TRUE(Audited(audit::EventType::kRequestExpired).empty());

  // Recorded (here by the next start), it leaves, and again at each reconnection until acked.
  RestartWithAWorkingTrail();
  pipeline_->ResendResults();
  pipeline_->ResendResults();
  EXPECT_EQ(ResultsFor(outbound_, held), 2u);
  EXPECT_TRUE(
      Before(EventsOf(held), audit::EventType::kRequestExpired, audit::EventType::kResultSent));
  EXPECT_THAT(pipeline_->HelloState().unacked_results, ::testing::Contains(held));
  pipeline_->OnResultAcks(std::vector<std::string>{held});
  pipeline_->ResendResults();
  EXPECT_EQ(ResultsFor(outbound_, held), 2u);
  // Acknowledged, it is still the answer to a redelivery of its request, in this process and
  // the next.
  pipeline_->OnRequests(std::vector<protocol::Request>{{envelope, 3}});
  EXPECT_EQ(ResultsFor(outbound_, held), 3u);
  RestartWithAWorkingTrail();
  pipeline_->OnRequests(std::vector<protocol::Request>{{envelope, 4}});
  EXPECT_EQ(ResultsFor(outbound_, held), 4u);
}

// The queue expires a request before its request_expired record is appended. When that append
// fails, the result is not sent (not even at a reconnection of this process); the next start
// records the expiry before the result is sent again.
TEST_F(PipelineHeldExpiryTest, AnExpiryWhoseRecordFailedIsRecordedAtTheNextStartBeforeItsResult) {
  pipeline_.reset();
  OpenWriter(/*faulty=*/true);
  MakePipeline();
  for (const auto& id : {Send("u1"), Send("u2")}) ASSERT_TRUE(ResultArrives(id).ok());
  const std::string held = Send("u3");
  ASSERT_EQ(StateOf(held), queue::State::kReceived);
  fake_clock_.Advance(5min);
  armed_ = true;
  pipeline_->Maintain();
  EXPECT_EQ(StateOf(held), queue::State::kExpired);
  EXPECT_TRUE(pipeline_->AuditFailed());
  pipeline_->ResendResults();  // as at a reconnection
  EXPECT_EQ(ResultsFor(outbound_, held), 0u);

  RestartWithAWorkingTrail();
  pipeline_->ResendResults();  // as at the first connection
  ASSERT_EQ(ResultsFor(outbound_, held), 1u);
  EXPECT_EQ(ResultFor(held).outcome, "expired");
  auto expired = Audited(audit::EventType::kRequestExpired);
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(expired[0].request_id, held);
  EXPECT_EQ(expired[0].detail.rfind("recorded at start", 0), 0u) << expired[0].detail;
  EXPECT_TRUE(
      Before(EventsOf(held), audit::EventType::kRequestExpired, audit::EventType::kResultSent));
}

// A request whose stored password does not decrypt (a damaged or edited queue database) is
// ended by the queue when a worker takes it. The agent records that end like any other, as a
// directory_write that wrote nothing, durably before its result leaves, and goes on.
class PipelineUnreadableSecretTest : public PipelineExpiryTest {
 protected:
  // Two ready requests of other accounts, `unreadable` holding `readable`'s ciphertext (valid,
  // but sealed to another request): queued while no worker runs, then the workers start.
  void QueueWithOneUnreadable(std::string& unreadable, std::string& readable) {
    pipeline_.reset();
    auto bad = Claims();
    bad.target.value = "bob";
    auto good = Claims();
    ASSERT_TRUE(EnqueueReady(bad, "Bob-Pass-1").ok());
    ASSERT_TRUE(EnqueueReady(good, "Alice-Pass-1").ok());
    const std::filesystem::path db = dir_.path() / "state" / "queue.db";
    queue::testing::RawSql(db,
                           "UPDATE requests SET secret = (SELECT secret FROM requests WHERE "
                           "id = '" +
                               good.id + "') WHERE id = '" + bad.id + "'");
    unreadable = bad.id;
    readable = good.id;
  }
  // The directory_write records of request `id`.
  std::vector<audit::Event> WritesOf(const std::string& id) {
    std::vector<audit::Event> out;
    for (audit::Event& e : Audited(audit::EventType::kDirectoryWrite)) {
      if (e.request_id == id) out.push_back(std::move(e));
    }
    return out;
  }
};

TEST_F(PipelineUnreadableSecretTest, ItsEndIsRecordedBeforeItsResultAndNothingIsWritten) {
  std::string unreadable, readable;
  QueueWithOneUnreadable(unreadable, readable);
  MakePipeline();
  ASSERT_TRUE(ResultArrives(unreadable).ok());
  ASSERT_TRUE(ResultArrives(readable).ok());
  EXPECT_EQ(ResultFor(unreadable).outcome, "secret_unreadable");
  EXPECT_EQ(ResultFor(unreadable).user_action, protocol::UserAction::kContactAdmin);
  EXPECT_EQ(ResultFor(readable).outcome, "succeeded");
  EXPECT_EQ(directory_->applies, 1) << "only the readable request is written";

  const std::vector<audit::Event> ends = WritesOf(unreadable);
  ASSERT_EQ(ends.size(), 1u);
  EXPECT_EQ(ends[0].outcome, "secret_unreadable");
  EXPECT_EQ(ends[0].target.requested, "bob");
  EXPECT_NE(ends[0].detail.find("nothing was written"), std::string::npos) << ends[0].detail;
  EXPECT_TRUE(Before(EventsOf(unreadable), audit::EventType::kDirectoryWrite,
                     audit::EventType::kResultSent));
  EXPECT_EQ(ResultsFor(outbound_, unreadable), 1u);
}

// The queue's commit comes before the record: when the record cannot be appended, the result
// waits in the outbox, and the next start records the end before sending it.
TEST_F(PipelineUnreadableSecretTest,
       AnEndWhoseRecordFailedIsRecordedAtTheNextStartBeforeItsResult) {
  std::string unreadable, readable;
  QueueWithOneUnreadable(unreadable, readable);
  OpenWriter(/*faulty=*/true);
  armed_ = true;  // every append fails from now on
  MakePipeline();
  ASSERT_TRUE(testing::WaitUntil(
                  [&] {
                    return StateOf(unreadable) == queue::State::kFailed ? Status::Ok()
                                                                        : NotFound("not taken");
                  },
                  10s)
                  .ok());
  ASSERT_TRUE(
      testing::WaitUntil(
          [&] { return pipeline_->AuditFailed() ? Status::Ok() : NotFound("trail not failed"); },
          10s)
          .ok());
  pipeline_->ResendResults();  // as at a reconnection
  EXPECT_EQ(ResultsFor(outbound_, unreadable), 0u);

  RestartWithAWorkingTrail();
  pipeline_->ResendResults();  // as at the first connection
  ASSERT_EQ(ResultsFor(outbound_, unreadable), 1u);
  EXPECT_EQ(ResultFor(unreadable).outcome, "secret_unreadable");
  const std::vector<audit::Event> ends = WritesOf(unreadable);
  ASSERT_EQ(ends.size(), 1u);
  EXPECT_EQ(ends[0].outcome, "secret_unreadable");
  EXPECT_EQ(ends[0].detail.rfind("recorded at start", 0), 0u) << ends[0].detail;
  EXPECT_TRUE(Before(EventsOf(unreadable), audit::EventType::kDirectoryWrite,
                     audit::EventType::kResultSent));
}

// Maintenance would end requests (expiries) it could not record once the trail failed: it
// waits for the next start.
TEST_F(PipelineHeldExpiryTest, MaintenanceEndsNothingOnceTheTrailFailed) {
  pipeline_.reset();
  OpenWriter(/*faulty=*/true);
  MakePipeline();
  for (const auto& id : {Send("u1"), Send("u2")}) ASSERT_TRUE(ResultArrives(id).ok());
  const std::string held = Send("u3");
  armed_ = true;
  Send("u4");  // its request_received fails
  ASSERT_TRUE(pipeline_->AuditFailed());
  fake_clock_.Advance(5min);
  pipeline_->Maintain();
  EXPECT_EQ(StateOf(held), queue::State::kReceived);
  EXPECT_EQ(ResultsFor(outbound_, held), 0u);
}

TEST_F(PipelineExpiryTest, ARequestWaitingBehindABusyAccountUntilItExpiresIsAuditedAndReported) {
  directory_->SetGate(true);  // the account's first request stays applying
  auto first = Claims();
  pipeline_->OnRequest({Seal(first)});
  ASSERT_TRUE(testing::WaitUntil(
                  [&] {
                    return StateOf(first.id) == queue::State::kApplying ? Status::Ok()
                                                                        : NotFound("not yet");
                  },
                  10s)
                  .ok());
  auto second = Claims();  // the same account
  pipeline_->OnRequest({Seal(second)});
  ASSERT_EQ(StateOf(second.id), queue::State::kReady);
  fake_clock_.Advance(5min);
  pipeline_->Maintain();
  EXPECT_EQ(StateOf(second.id), queue::State::kExpired);
  ASSERT_EQ(ResultsFor(outbound_, second.id), 1u);
  EXPECT_EQ(ResultFor(second.id).outcome, "expired");
  auto expired = Audited(audit::EventType::kRequestExpired);
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(expired[0].request_id, second.id);
  directory_->SetGate(false);
  ASSERT_TRUE(ResultArrives(first.id).ok());
  EXPECT_EQ(directory_->applies, 1);
}

// --- When the audit trail fails (pipeline.h) ------------------------------------------------

// A faulty trail (OpenWriter), armed by each test where it wants the failure.
class PipelineAuditFailureTest : public PipelineTest {
 protected:
  void SetUp() override {
    PipelineTest::SetUp();
    pipeline_.reset();
    OpenWriter(/*faulty=*/true);
    MakePipeline();
  }
  // The next process: a new queue instance on the same database (what it finds `applying` was
  // interrupted), a new Writer on the same trail, disarmed.
  void RestartOnANewTrail(bool faulty, bool start = true) {
    pipeline_.reset();
    policy_.reset();
    queue_.reset();
    armed_ = false;
    OpenWriter(faulty);
    OpenQueue();
    MakePipeline(start);
  }
  // Waits until the pipeline saw the failure, then stops it: each worker has then finished
  // with whatever it held.
  void SettleAfterFailure() {
    ASSERT_TRUE(
        testing::WaitUntil(
            [&] { return pipeline_->AuditFailed() ? Status::Ok() : NotFound("not failed yet"); },
            10s)
            .ok());
    pipeline_->Stop();
  }
  // A reset for alice, sent; returns once the trail failed and the workers stopped.
  protocol::RequestClaims ResetUntilTheTrailFails() {
    auto c = Claims();
    pipeline_->OnRequest({Seal(c)});
    SettleAfterFailure();
    return c;
  }
  queue::State StateOf(const std::string& id) {
    auto shown = queue_->Show(id);
    EXPECT_TRUE(shown.ok()) << id;
    return shown.ok() ? shown->record.state : queue::State::kFailed;
  }
  // The trail's records as they are on disk; a line that does not parse is left out.
  std::vector<audit::Record> ReadableTrail() {
    std::vector<audit::Record> out;
    std::ifstream in(dir_.path() / "audit.jsonl");
    for (std::string line; std::getline(in, line);) {
      auto record = audit::ParseRecord(line);
      if (record.ok()) out.push_back(std::move(*record));
    }
    return out;
  }
};

// A key rotation whose record failed is not noted as recorded: the next start finds the new
// keys unrecorded and records them then (recorded_keys.h).
TEST_F(PipelineAuditFailureTest, AKeyRotationWhoseRecordFailedIsNotNotedAsRecorded) {
  armed_ = true;
  pipeline_->OnCertificateRenewed({.subject = "CN=agent-1"});
  pipeline_->OnKeySetChanged(protocol::Jwks{});
  EXPECT_TRUE(pipeline_->AuditFailed());
  EXPECT_EQ(keys_recorded_calls_.load(), 0);
}

// The daemon is told of the failure once, by the thread that met it first, however many
// appends fail after it.
TEST_F(PipelineAuditFailureTest, TheDaemonIsToldOnceOfTheFirstFailure) {
  EXPECT_EQ(audit_failed_calls_.load(), 0);
  armed_ = true;
  std::vector<std::string> ids;
  pipeline_->OnRequests(BatchOfResets(3, ids));
  SettleAfterFailure();
  pipeline_->OnFrameRejected({"", protocol::RejectCode::kMalformed, "not JSON"});
  EXPECT_EQ(audit_failed_calls_.load(), 1);
}

// The account's decision could not be recorded: the password is not written, the request
// does not end (no result), and it stays `applying` for the next start to decide.
TEST_F(PipelineAuditFailureTest, NothingIsWrittenWhenTheDecisionCannotBeRecorded) {
  directory_->on_find = [&](const ldap::Target&) { armed_ = true; };
  const auto c = ResetUntilTheTrailFails();
  EXPECT_EQ(directory_->applies, 0);
  EXPECT_TRUE(outbound_.All<protocol::ResultMessage>().empty());
  EXPECT_EQ(StateOf(c.id), queue::State::kApplying);
}

// The write happened but its directory_write record could not be appended: no result leaves
// and the queue does not end the request; the next start asks the directory (Recovery).
TEST_F(PipelineAuditFailureTest, NoResultLeavesWhenTheWriteCannotBeRecorded) {
  directory_->on_apply = [&](const ldap::Account&) { armed_ = true; };
  const auto c = ResetUntilTheTrailFails();
  EXPECT_EQ(directory_->applies, 1);
  EXPECT_TRUE(outbound_.All<protocol::ResultMessage>().empty());
  EXPECT_EQ(StateOf(c.id), queue::State::kApplying);
}

// The same for a transient failure: without its record, the attempt is not retried either.
TEST_F(PipelineAuditFailureTest, AFailedAttemptIsNotRetriedWhenItCannotBeRecorded) {
  directory_->fail_transiently_once = true;
  directory_->on_apply = [&](const ldap::Account&) { armed_ = true; };
  const auto c = ResetUntilTheTrailFails();
  EXPECT_EQ(StateOf(c.id), queue::State::kApplying);
  EXPECT_TRUE(outbound_.All<protocol::ResultMessage>().empty());
}

// After the failure no worker takes a request: the worker whose attempt the failure stopped
// does not go on to the ready request behind it. Without the check it takes that one at once
// (microseconds); the 300 ms it is given is the only wait in these tests that is expected to
// run out.
TEST_F(PipelineAuditFailureTest, NoRequestIsTakenOnceTheTrailFailed) {
  pipeline_.reset();
  MakePipeline(/*start=*/true, /*workers=*/1);
  directory_->SetGate(true);
  auto first = Claims();
  pipeline_->OnRequest({Seal(first)});
  ASSERT_TRUE(
      testing::WaitUntil(
          [&] { return directory_->at_gate.load() == 1 ? Status::Ok() : NotFound("not yet"); }, 10s)
          .ok());
  auto later = Claims();
  later.target.value = "bob";
  ASSERT_TRUE(EnqueueReady(later, "Later-Pass-1").ok());  // ready, as a worker would find it
  const int takes = faulty_->takes.load();
  armed_ = true;  // the first's directory_write fails
  directory_->SetGate(false);
  ASSERT_TRUE(
      testing::WaitUntil(
          [&] { return pipeline_->AuditFailed() ? Status::Ok() : NotFound("not failed yet"); }, 10s)
          .ok());
  EXPECT_FALSE(
      testing::WaitUntil(
          [&] { return faulty_->takes.load() > takes ? Status::Ok() : NotFound("no take"); }, 300ms)
          .ok())
      << "a worker took a request after the trail failed";
  pipeline_->Stop();
  EXPECT_EQ(StateOf(later.id), queue::State::kReady);
  EXPECT_EQ(StateOf(first.id), queue::State::kApplying);
}

// Arrivals after the failure are stored and accepted (the queue holds them), but not admitted:
// without their records they stay `received`, for the next start to admit.
TEST_F(PipelineAuditFailureTest, ARequestArrivingAfterTheFailureIsAcceptedButNotAdmitted) {
  armed_ = true;
  auto c = Claims();
  pipeline_->OnRequest({Seal(c)});
  EXPECT_EQ(outbound_.All<protocol::Accepted>().size(), 1u);
  SettleAfterFailure();
  EXPECT_EQ(StateOf(c.id), queue::State::kReceived);
  EXPECT_EQ(directory_->applies, 0);
}

// An administrator's release or reject needs the trail: refused, nothing moves and the
// breaker stays tripped, so that the held requests are not admitted by the ordinary rules at
// the next start.
TEST_F(PipelineAuditFailureTest, BreakerReleaseAndRejectAreRefusedOnceTheTrailFailed) {
  policy_config_.policy.rate_limits.overall = {2, std::chrono::seconds(600)};
  Reconfigure();
  const auto send = [&](const std::string& user) {
    auto c = Claims();
    c.target.value = user;
    pipeline_->OnRequest({Seal(c)});
    return c.id;
  };
  for (const auto& id : {send("u1"), send("u2")}) ASSERT_TRUE(ResultArrives(id).ok());
  const std::string held = send("u3");
  ASSERT_TRUE(policy_->Breaker().tripped);
  armed_ = true;
  send("u4");
  SettleAfterFailure();
  auto released = pipeline_->ReleaseHeld();
  ASSERT_FALSE(released.ok());
  EXPECT_EQ(released.error().code(), Code::kUnavailable);
  EXPECT_NE(released.error().message().find("audit trail"), std::string::npos);
  EXPECT_FALSE(pipeline_->RejectHeld().ok());
  EXPECT_TRUE(policy_->Breaker().tripped);
  EXPECT_EQ(StateOf(held), queue::State::kReceived);
  EXPECT_EQ(outbound_.All<protocol::ResultMessage>().size(), 2u);
}

// The trail fails part way through an administrator's decision: what was decided before the
// failure stands, the rest stays held, and the breaker stays tripped (so that the rest is not
// admitted by the ordinary rules at the next start). Each decision record is 3 file calls
// (write, fdatasync, checkpoint): the 4th call fails.
class BreakerPartWayTest : public PipelineAuditFailureTest,
                           public ::testing::WithParamInterface<bool> {};

TEST_P(BreakerPartWayTest, TheBreakerStaysTrippedWhenTheTrailFailsPartWay) {
  const bool release = GetParam();
  policy_config_.policy.rate_limits.overall = {2, std::chrono::seconds(600)};
  Reconfigure();
  const auto send = [&](const std::string& user) {
    auto c = Claims();
    c.target.value = user;
    pipeline_->OnRequest({Seal(c)});
    return c.id;
  };
  for (const auto& id : {send("u1"), send("u2")}) ASSERT_TRUE(ResultArrives(id).ok());
  const std::string first = send("u3");
  const std::string second = send("u4");
  ASSERT_TRUE(policy_->Breaker().tripped);
  fail_from_ = 3;
  armed_ = true;
  auto moved = release ? pipeline_->ReleaseHeld() : pipeline_->RejectHeld();
  EXPECT_FALSE(moved.ok());
  EXPECT_TRUE(pipeline_->AuditFailed());
  EXPECT_TRUE(policy_->Breaker().tripped);
  pipeline_->Stop();
  // A release moves nothing until every decision is recorded; a reject ended the first.
  EXPECT_EQ(StateOf(first), release ? queue::State::kReceived : queue::State::kRejected);
  EXPECT_EQ(StateOf(second), queue::State::kReceived);
}

INSTANTIATE_TEST_SUITE_P(ReleaseAndReject, BreakerPartWayTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& release) {
                           return release.param ? "Release" : "Reject";
                         });

// A denial at admission leaves with its result only after its decision is durable: when the
// sync fails, the request stays `received` (admitted again at the next start).
TEST_F(PipelineAuditFailureTest, ADenialAtAdmissionIsNotSentWhenItCannotBeRecorded) {
  outbound_.on_send = [&](const protocol::Message& m) {
    if (std::holds_alternative<protocol::Accepted>(m)) armed_ = true;
  };
  auto c = Claims();
  c.requester.verified_by = {"carrier_pigeon"};  // denied at admission
  pipeline_->OnRequest({Seal(c)});
  SettleAfterFailure();
  EXPECT_TRUE(outbound_.All<protocol::ResultMessage>().empty());
  EXPECT_EQ(StateOf(c.id), queue::State::kReceived);
}

// A rejection is sent only once its record is durable: the cloud hears nothing instead.
TEST_F(PipelineAuditFailureTest, ARejectionIsNotSentWhenItCannotBeRecorded) {
  armed_ = true;
  auto c = Claims();
  c.tenant = "someone-else";
  pipeline_->OnRequest({Seal(c)});
  SettleAfterFailure();
  EXPECT_TRUE(outbound_.All<protocol::Rejected>().empty());
}

// The next start asks the directory about a write whose record failed, and records the write
// it finds (directory_write, durable) before the result leaves.
TEST_F(PipelineAuditFailureTest, AWriteFoundAppliedAtTheNextStartIsRecordedBeforeItsResult) {
  directory_->on_apply = [&](const ldap::Account&) { armed_ = true; };
  const auto c = ResetUntilTheTrailFails();
  directory_->on_apply = nullptr;
  std::optional<std::uint64_t> durable_at_result;
  outbound_.on_send = [&](const protocol::Message& m) {
    if (std::holds_alternative<protocol::ResultMessage>(m)) {
      durable_at_result = audit_->DurableHead().seq;
    }
  };
  RestartOnANewTrail(/*faulty=*/false);  // recovery runs in Start, on this thread
  ASSERT_TRUE(ResultArrives(c.id).ok());
  EXPECT_EQ(ResultFor(c.id).outcome, "succeeded");
  EXPECT_EQ(directory_->applies, 1);
  std::optional<std::uint64_t> recorded_at;
  for (const audit::Record& record : ReadableTrail()) {
    if (record.event.type == audit::EventType::kDirectoryWrite && record.event.request_id == c.id) {
      recorded_at = record.seq;
      EXPECT_EQ(record.event.outcome, "succeeded");
      EXPECT_EQ(record.event.target.dn, "alice");
      EXPECT_EQ(record.event.detail.rfind("found applied after a restart", 0), 0u)
          << record.event.detail;
    }
  }
  ASSERT_TRUE(recorded_at.has_value()) << "the write found applied is not in the trail";
  ASSERT_TRUE(durable_at_result.has_value());
  EXPECT_LE(*recorded_at, *durable_at_result);
}

// When that record cannot be made either, the start fails: nothing is sent and the request
// stays `applying` for the start after.
TEST_F(PipelineAuditFailureTest, AStartThatCannotRecordAWriteFoundAppliedFailsAndSendsNothing) {
  directory_->on_apply = [&](const ldap::Account&) { armed_ = true; };
  const auto c = ResetUntilTheTrailFails();
  RestartOnANewTrail(/*faulty=*/true, /*start=*/false);
  calls_after_arming_ = 0;
  armed_ = true;
  EXPECT_FALSE(pipeline_->Start().ok());
  EXPECT_TRUE(outbound_.All<protocol::ResultMessage>().empty());
  EXPECT_EQ(StateOf(c.id), queue::State::kApplying);
}

// The promise as a property, over every point at which the trail can fail while a batch of
// resets goes through two workers:
// - a directory write happens only after its account decision is durable;
// - a result leaves only after its directory_write record is durable;
// - nothing is lost or applied twice: each request is reported, or waits in the queue, and
//   after a restart on a working trail every request ends, each account written once.
class AuditFailurePointTest : public PipelineAuditFailureTest,
                              public ::testing::WithParamInterface<int> {};

TEST_P(AuditFailurePointTest, EveryEffectFollowsItsDurableRecordAndNothingIsLost) {
  fail_from_ = GetParam();
  std::mutex mu;
  std::vector<std::pair<std::string, std::uint64_t>> durable_at_write;   // (dn, durable seq)
  std::vector<std::pair<std::string, std::uint64_t>> durable_at_result;  // (id, durable seq)
  directory_->on_apply = [&](const ldap::Account& a) {
    std::lock_guard lock(mu);
    durable_at_write.emplace_back(a.dn, audit_->DurableHead().seq);
  };
  outbound_.on_send = [&](const protocol::Message& m) {
    const auto* result = std::get_if<protocol::ResultMessage>(&m);
    if (result == nullptr) return;
    std::lock_guard lock(mu);
    durable_at_result.emplace_back(result->id, audit_->DurableHead().seq);
  };
  std::vector<std::string> ids;
  const std::vector<protocol::Request> batch = BatchOfResets(6, ids);
  armed_ = true;
  pipeline_->OnRequests(batch);
  ASSERT_TRUE(testing::WaitUntil(
                  [&] {
                    if (pipeline_->AuditFailed()) return Status::Ok();
                    return outbound_.All<protocol::ResultMessage>().size() == ids.size()
                               ? Status::Ok()
                               : NotFound("neither failed nor done");
                  },
                  10s)
                  .ok());
  pipeline_->Stop();
  SCOPED_TRACE(FirstFailure());

  // Each write followed its account's durable decision, each result its durable
  // directory_write record.
  const auto expect_effects_follow_records = [&] {
    std::map<std::string, std::uint64_t> decided_at;  // dn -> seq of its first account decision
    std::map<std::string, std::uint64_t> written_at;  // request id -> seq of its directory_write
    for (const audit::Record& record : ReadableTrail()) {
      const audit::Event& e = record.event;
      if (e.type == audit::EventType::kPolicyDecision && e.detail.rfind("account", 0) == 0) {
        decided_at.emplace(e.target.dn, record.seq);
      }
      if (e.type == audit::EventType::kDirectoryWrite) {
        written_at.emplace(e.request_id, record.seq);
      }
    }
    std::lock_guard lock(mu);
    for (const auto& [dn, durable] : durable_at_write) {
      ASSERT_EQ(decided_at.count(dn), 1u) << dn << ": written without a recorded decision";
      EXPECT_LE(decided_at[dn], durable) << dn << ": written before its decision was durable";
    }
    for (const auto& [id, durable] : durable_at_result) {
      ASSERT_EQ(written_at.count(id), 1u) << id << ": reported without its record";
      EXPECT_LE(written_at[id], durable) << id << ": reported before its record was durable";
    }
  };
  expect_effects_follow_records();
  // Nothing is lost: each request is in the queue, ended or not; an ended one whose result
  // did not leave waits in the outbox.
  auto outbox = queue_->PendingResults(100);
  ASSERT_TRUE(outbox.ok());
  const auto results = outbound_.All<protocol::ResultMessage>();
  for (const std::string& id : ids) {
    const queue::State state = StateOf(id);
    const bool reported =
        std::any_of(results.begin(), results.end(), [&](const auto& r) { return r.id == id; });
    const bool waiting =
        std::any_of(outbox->begin(), outbox->end(), [&](const auto& r) { return r.info.id == id; });
    EXPECT_TRUE(!queue::IsTerminal(state) || reported || waiting)
        << id << " ended (" << queue::StateName(state) << ") with its result neither sent nor kept";
  }

  // The next start, on a trail that works again, ends every request (those found applied too,
  // each with its record); none is written twice.
  RestartOnANewTrail(/*faulty=*/false);
  pipeline_->ResendResults();  // as the channel does at its first connection
  for (const std::string& id : ids) EXPECT_TRUE(ResultArrives(id).ok()) << id;
  for (const std::string& id : ids) EXPECT_EQ(ResultFor(id).outcome, "succeeded") << id;
  EXPECT_EQ(directory_->applies, static_cast<int>(ids.size()));
  pipeline_->Stop();
  expect_effects_follow_records();
}

// Enough points to pass the last file call the batch makes (about 7 per request).
INSTANTIATE_TEST_SUITE_P(EachFileCall, AuditFailurePointTest, ::testing::Range(0, 60));

}  // namespace
}  // namespace wb::agent
