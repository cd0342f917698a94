#include "agent/daemon.h"

#include <algorithm>
#include <atomic>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "agent/open.h"
#include "agent/policy_summary.h"
#include "agent/recorded_keys.h"
#include "agent/request_mapping.h"
#include "channel/identity.h"
#include "common/log_escape.h"
#include "common/secure_memory.h"
#include "common/version.h"

namespace wb::agent {

namespace {

protocol::AuditHead ToWire(const audit::Head& head) {
  return {.seq = head.seq, .hash = head.hash, .hmac = head.hmac};
}

audit::Head FromWire(const protocol::AuditHead& head) {
  return {.seq = head.seq, .hash = head.hash, .hmac = head.hmac};
}

// Why the agent refuses a cloud whose witnessed head its trail does not hold, and what to do.
std::string WitnessRefusal(audit::WitnessCheck check, const audit::Head& witnessed) {
  const std::string seq = "seq " + std::to_string(witnessed.seq);
  std::string what;
  switch (check) {
    case audit::WitnessCheck::kMissing:
      what = "the audit trail ends before " + seq +
             ", which the cloud witnessed: records were deleted or rolled back with the "
             "checkpoint";
      break;
    case audit::WitnessCheck::kReplaced:
      what = "the audit record at " + seq +
             " is not the one the cloud witnessed: the trail was rewritten";
      break;
    case audit::WitnessCheck::kForged:
      what = "the cloud's witnessed audit head (" + seq +
             ") was not made with this agent's audit key: another key, or not this agent's head";
      break;
    case audit::WitnessCheck::kHeld:
      break;
  }
  return what +
         ". The agent takes no new requests: restore the trail and its checkpoint from a backup, "
         "or enroll the agent again (wbagent register), which starts a new witnessed chain "
         "(docs/audit.md, \"The witness\")";
}

// How long the channel's I/O thread may go without turning its event loop: its callbacks
// enqueue and audit (each a durable write), which takes well under a second on a healthy disk.
constexpr std::chrono::milliseconds kChannelDeadline{30'000};
// A worker's steps between two directory calls: the queue's and the audit trail's durable
// writes and the policy's checks.
constexpr std::chrono::milliseconds kWorkerSlack{15'000};

// The longest a worker may go without a beat: the slowest directory's longest call.
std::chrono::milliseconds WorkerDeadline(const config::Config& config) {
  std::chrono::milliseconds longest{0};
  for (const auto& d : config.directories) longest = std::max(longest, ldap::LongestCall(d));
  return longest + kWorkerSlack;
}

}  // namespace

// The pipeline's messages go out through the channel.
class Daemon::ChannelOutbound final : public Outbound {
 public:
  explicit ChannelOutbound(channel::Channel& channel) : channel_(channel) {}
  Status Send(const protocol::Message& message) override { return channel_.Send(message); }

 private:
  channel::Channel& channel_;
};

// The channel's callbacks go to the pipeline; and the audit trail meets the cloud's witness.
// Built after both, and handed to the channel when it starts.
class Daemon::Link final : public channel::Handler {
 public:
  Link(spdlog::logger& log, audit::Writer& audit, StatusWriter& status, Pipeline& pipeline,
       Intake& intake, channel::Channel& channel, metrics::Recorder& recorder)
      : log_(log),
        audit_(audit),
        status_(status),
        pipeline_(pipeline),
        intake_(intake),
        channel_(channel),
        recorder_(recorder) {}

  channel::HelloState OnConnecting() override { return pipeline_.HelloState(); }
  // The cloud's witnessed head must be in the trail (docs/audit.md, "The witness").
  Status CheckWelcome(const protocol::Welcome& welcome) override {
    if (!welcome.audit_head) return Status::Ok();
    const audit::Head witnessed = FromWire(*welcome.audit_head);
    auto check = audit_.CheckWitness(witnessed);
    if (!check.ok()) {
      // The detail (local paths) stays in the log; the cloud learns only that it failed.
      log_.error("cannot compare the audit trail with the cloud's witness: {}",
                 check.error().ToString());
      return Unavailable("the agent could not read its audit trail to compare it with the witness");
    }
    if (*check == audit::WitnessCheck::kHeld) return Status::Ok();
    const std::string why = WitnessRefusal(*check, witnessed);
    if (refused_witness_ != witnessed) {  // once per witnessed head, not at every retry
      refused_witness_ = witnessed;
      log_.error("{}", why);
      audit::Event e;
      e.type = audit::EventType::kWitnessRefused;
      e.outcome = std::string(audit::Name(*check));
      e.detail = "witnessed head " + audit::FormatHead(witnessed) + ": " + why;
      (void)audit_.Append(e);
    }
    return FailedPrecondition(why);
  }
  // Tells the witness the new durable head, if it moved (from the daemon's periodic tick).
  void SendAuditHead(bool even_if_sent = false) {
    const audit::Head head = audit_.DurableHead();
    if (!even_if_sent && head.seq == witness_sent_seq_.load()) return;
    if (channel_.Send(protocol::AuditHeadMessage{ToWire(head)}).ok()) {
      witness_sent_seq_ = head.seq;
    }
  }
  void OnConnected(const protocol::Welcome& welcome) override {
    log_.info("connected to the cloud (tenant {})", EscapeForLog(welcome.tenant));
    // Only now, after CheckWelcome: a trail the witness caught never tells it a new head.
    SendAuditHead(/*even_if_sent=*/true);
    SendPolicySummary();
    pipeline_.ResendResults();
  }
  // A new policy summary: sent now when it differs from the last one and the channel is up;
  // otherwise at the next welcome. Any thread.
  void SetPolicySummary(protocol::PolicySummary summary) {
    if (protocol::Serialize(summary).size() > protocol::kMaxMessageBytes) {
      log_.error(
          "the policy summary is larger than a message may be ({} directories); the cloud is not "
          "told the password rules",
          summary.directories.size());
      return;
    }
    {
      MutexLock lock(summary_mu_);
      if (summary_ == summary) return;
      summary_ = std::move(summary);
    }
    SendPolicySummary();
  }
  // What needs the disk goes through the intake: this thread never waits on a sync.
  void OnMessage(protocol::Message message) override {
    if (auto* request = std::get_if<protocol::Request>(&message)) {
      intake_.PostRequest(std::move(*request));
    } else if (auto* ack = std::get_if<protocol::ResultAck>(&message)) {
      intake_.PostResultAck(std::move(ack->id));
    }
    // An ErrorMessage needs nothing more: the channel has logged it.
  }
  void OnFrameRejected(const protocol::Rejected& rejected) override {
    intake_.PostFrameRejected(rejected);
  }
  bool MayReject() override { return !pipeline_.AuditFailed(); }
  void OnKeySetChanged(const protocol::Jwks& keys) override { intake_.PostKeySetChanged(keys); }
  void OnCertificateRenewed(const channel::RenewedCertificate& renewed) override {
    intake_.PostCertificateRenewed(renewed);
  }
  void Settle() override { intake_.Settle(); }
  void OnDisconnected(const Status& why) override {
    log_.debug("channel: {}", why.ToString());
    recorder_.CountReconnect(CodeName(why.code()));
    pipeline_.MarkChannelLost();  // now, for what is stored already
    intake_.PostChannelLost();    // and after what is still on its way
  }
  void OnStateChanged() override { status_.Changed(); }

 private:
  spdlog::logger& log_;
  audit::Writer& audit_;
  StatusWriter& status_;
  Pipeline& pipeline_;
  Intake& intake_;
  channel::Channel& channel_;
  void SendPolicySummary() {
    std::optional<protocol::PolicySummary> summary;
    {
      MutexLock lock(summary_mu_);
      summary = summary_;
    }
    // Not connected: kUnavailable, and OnConnected sends it.
    if (summary) (void)channel_.Send(*summary);
  }
  Mutex summary_mu_;
  std::optional<protocol::PolicySummary> summary_ WB_GUARDED_BY(summary_mu_);
  metrics::Recorder& recorder_;
  std::atomic<std::uint64_t> witness_sent_seq_{0};  // the head the cloud was last sent
  std::optional<audit::Head> refused_witness_;      // I/O thread only
};

namespace {

// A trail that fails the Writer's checks (kCorruption) is told apart from a key that cannot be
// read, which a fixed file or credential and a restart do cure.
Result<std::unique_ptr<audit::Writer>, Daemon::OpenError> OpenAudit(const config::Config& c,
                                                                    const Clock& clock,
                                                                    spdlog::logger& log) {
  auto key = audit::LoadKey({.key_file = c.audit.key_file, .create_if_missing = true});
  if (!key.ok()) return Daemon::OpenError{key.error().WithContext("audit key")};
  if (key->created) log.warn("created a new audit key in {}", key->source.string());
  auto writer =
      audit::Writer::Open({.file = c.audit.file,
                           .checkpoint_file = audit::CheckpointPath(c.agent.state_dir),
                           .agent_id = c.agent.id,
                           .rotate_size = static_cast<std::uint64_t>(c.audit.rotate_size_mb) << 20},
                          std::move(key->key), clock);
  if (!writer.ok()) {
    return Daemon::OpenError{writer.error().WithContext("audit trail " + c.audit.file.string()),
                             writer.error().code() == Code::kCorruption};
  }
  if ((*writer)->recovery()) {
    log.warn("audit trail: removed a torn final line left by a crash ({} bytes)",
             (*writer)->recovery()->bytes);
  }
  if (const auto& slot = (*writer)->checkpoint_recovery()) {
    log.error(
        "audit trail: one slot of the checkpoint failed its check ({}): a power loss that tore "
        "its write, or an edit; went on from the other slot (seq {}), recorded as seq {}; run "
        "`wbagent audit verify` and treat an unexplained one as an incident (docs/audit.md)",
        slot->problem, slot->from_seq, slot->seq);
  }
  return std::move(*writer);
}

Result<PipelineKeys> LoadKeys(const config::Config& c) {
  const channel::StatePaths paths(c.agent.state_dir);
  auto enrollment = channel::LoadEnrollment(paths);
  if (!enrollment.ok()) return enrollment.error();
  auto trusted = channel::LoadCloudKeys(paths);
  if (!trusted.ok()) return trusted.error();
  auto key = protocol::EcPrivateKey::Load(paths.encryption_key());
  if (!key.ok()) return key.error().WithContext(paths.encryption_key().string());
  PipelineKeys keys;
  keys.trusted = protocol::TrustedKeys(std::move(*trusted));
  keys.encryption_key = std::make_shared<const protocol::EcPrivateKey>(std::move(*key));
  keys.open.expected_tenant = enrollment->tenant;
  keys.open.expected_audience = c.agent.id;
  return keys;
}

// A directory's tables that the policy reads (scope and password rules): a reload applies them.
struct PolicyTables {
  std::string directory;
  config::ScopeConfig scope;
  std::optional<config::ScopeConfig> admin_scope;
  std::optional<config::PasswordRulesConfig> password;
  std::optional<config::PasswordRulesConfig> admin_password;
  bool operator==(const PolicyTables&) const = default;
};

std::vector<PolicyTables> PolicyTablesOf(const std::vector<config::DirectoryConfig>& directories) {
  std::vector<PolicyTables> out;
  for (const auto& d : directories) {
    out.push_back({d.name, d.scope, d.admin_scope, d.password, d.admin_password});
  }
  return out;
}

// A directory's connection settings: everything but its policy tables.
config::DirectoryConfig ConnectionOf(config::DirectoryConfig d) {
  d.scope = {};
  d.admin_scope.reset();
  d.password.reset();
  d.admin_password.reset();
  return d;
}

// Equal but for the tables the policy reads, which a reload applies.
bool SameConnections(const std::vector<config::DirectoryConfig>& a,
                     const std::vector<config::DirectoryConfig>& b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](const auto& x, const auto& y) {
    return ConnectionOf(x) == ConnectionOf(y);
  });
}

// The rules a reload puts in force are for the directories that run, which only a restart
// changes: the running config with the loaded [policy] and, for each running directory, the
// scope and password tables of the loaded directory with the same name and the same
// connection. A directory whose name or connection the reload changed keeps its tables until
// that restart: without them its requests would meet no scope at all, and another
// directory's tables (a name given to a new server, base DN or tree) are not its own. Those
// directories' names are added to `waiting`.
config::Config RulesForRunningDirectories(const config::Config& loaded,
                                          const config::Config& running,
                                          std::vector<std::string>& waiting) {
  config::Config rules = running;
  rules.policy = loaded.policy;
  for (auto& directory : rules.directories) {
    const auto same = std::find_if(loaded.directories.begin(), loaded.directories.end(),
                                   [&](const auto& candidate) {
                                     return candidate.name == directory.name &&
                                            ConnectionOf(candidate) == ConnectionOf(directory);
                                   });
    if (same == loaded.directories.end()) {
      waiting.push_back(directory.name);
      continue;
    }
    directory.scope = same->scope;
    directory.admin_scope = same->admin_scope;
    directory.password = same->password;
    directory.admin_password = same->admin_password;
  }
  return rules;
}

// Notes `which` as recorded (recorded_keys.h). A failure costs a second record of the same
// change at the next start, never a missing one.
void NoteKeysRecorded(const std::filesystem::path& state_dir, KeyMaterial which,
                      spdlog::logger& log) {
  if (Status noted = NoteRecorded(channel::StatePaths(state_dir), which); !noted.ok()) {
    log.warn("cannot note the recorded keys in {}: {} (the next start records them again)",
             RecordedKeysPath(state_dir).string(), noted.ToString());
  }
}

// A change of the key material that the trail does not hold (a crash between a renewal and its
// record, a registration while the agent was stopped) is recorded before anything else can
// change the keys: with the state lock held (no other agent writes them), before the channel
// starts. Fails only when the trail cannot be written.
Status RecordKeyChangesFoundAtStart(const std::filesystem::path& state_dir, audit::Sink& audit,
                                    spdlog::logger& log) {
  const channel::StatePaths paths(state_dir);
  // A renewal interrupted between its renames ends here, not later at the first connection:
  // its new certificate is then a change found now.
  channel::RecoverRenewal(paths);
  auto current = CurrentKeyFingerprints(paths);
  if (!current.ok()) return Status::Ok();  // not registered: loading the keys says so
  auto recorded = LoadRecordedKeys(state_dir);
  std::vector<audit::Event> changes;
  if (!recorded.ok()) {
    changes.push_back(BaselineEvent(*current, recorded.error().message()));
  } else {
    changes = UnrecordedKeyChanges(*recorded, *current);
  }
  for (const audit::Event& change : changes) {
    log.warn("{}", change.detail);
    if (auto appended = audit.Append(change); !appended.ok()) return appended.error();
  }
  if (!recorded.ok() || *recorded != *current) {
    if (Status saved = SaveRecordedKeys(state_dir, *current); !saved.ok()) {
      log.warn("cannot note the recorded keys in {}: {} (the next start records them again)",
               RecordedKeysPath(state_dir).string(), saved.ToString());
    }
  }
  return Status::Ok();
}

audit::Event LifecycleEvent(audit::EventType type, std::string detail) {
  audit::Event e;
  e.type = type;
  e.detail = std::move(detail);
  return e;
}

}  // namespace

Result<std::unique_ptr<Daemon>, Daemon::OpenError> Daemon::Open(
    const config::Config& config, std::shared_ptr<spdlog::logger> log,
    std::function<void()> audit_failed) {
  std::unique_ptr<Daemon> d(new Daemon());
  d->config_ = config;
  d->log_ = std::move(log);
  d->audit_failed_ = std::move(audit_failed);
  d->status_ = std::make_unique<StatusWriter>(
      StatusWriter::Options{.file = config.agent.state_dir / "status.json"},
      [daemon = d.get()] { return daemon->StatusView(); }, d->clock_);
  auto audit = OpenAudit(config, d->clock_, *d->log_);
  if (!audit.ok()) return audit.error();
  d->audit_ = std::move(*audit);
  // Durable (lifecycle events are): an agent that cannot record its start would record
  // nothing it does either (docs/audit.md, "When the trail cannot be written"), so it does not
  // start; systemd tries again after RestartSec=.
  for (const audit::Event& e :
       {LifecycleEvent(audit::EventType::kAgentStarted, std::string("wbagent ") + kVersion),
        LifecycleEvent(audit::EventType::kConfigLoaded, config.file.string())}) {
    if (auto appended = d->audit_->Append(e); !appended.ok()) {
      return OpenError{appended.error().WithContext("the audit trail cannot be written")};
    }
  }
  if (Status s = d->OpenComponents(config); !s.ok()) return OpenError{s};
  return d;
}

Status Daemon::OpenComponents(const config::Config& config) {
  auto queue =
      queue::Queue::Open({.state_dir = config.agent.state_dir,
                          .max_pending = static_cast<std::size_t>(config.queue.max_pending),
                          .max_in_flight = static_cast<std::size_t>(config.queue.max_in_flight),
                          .retention = config.queue.retention,
                          .account_key_rule = AccountKeyRule()},
                         clock_);
  if (!queue.ok()) return queue.error().WithContext("queue");
  queue_ = std::move(*queue);
  WB_RETURN_IF_ERROR(RecordKeyChangesFoundAtStart(config.agent.state_dir, *audit_, *log_)
                         .WithContext("the audit trail cannot be written"));
  auto router = OpenDirectories(config, clock_);
  if (!router.ok()) return router.error();
  router_ = std::move(*router);
  directories_ = config.directories;
  auto history = RateLimitHistory(config, *queue_, clock_);
  if (!history.ok()) return history.error().WithContext("rate limit history");
  auto policy = OpenPolicy(config, *history, clock_);
  if (!policy.ok()) return policy.error().WithContext("policy");
  if ((*policy)->Breaker().tripped) {
    log_->critical(
        "the breaker is tripped (since the last run): requests are held until `wbagent breaker "
        "release` or `wbagent breaker reject`");
  }
  auto keys = LoadKeys(config);
  if (!keys.ok()) return keys.error().WithContext("enrollment (run wbagent register)");
  channel::Environment env;
  env.clock = &clock_;
  env.log = log_;
  env.alive = [&beat = liveness_.Add("channel I/O thread", kChannelDeadline)] { beat.Beat(); };
  env.alive_interval = Liveness::IdleWake(kChannelDeadline);
  channel_ = std::make_unique<channel::Channel>(channel::OptionsFromConfig(config), env);
  outbound_ = std::make_unique<ChannelOutbound>(*channel_);
  pipeline_ = std::make_unique<Pipeline>(
      PipelineDeps{
          .queue = queue_.get(),
          .router = router_.get(),
          .policy = std::move(*policy),
          .audit = audit_.get(),
          .outbound = outbound_.get(),
          .clock = &clock_,
          .log = log_,
          .activity_changed = [status = status_.get()] { status->Changed(); },
          .breaker_changed =
              [this](const policy::BreakerState& state, std::optional<BreakerOutcome> action) {
                KeepBreaker(state, std::move(action));
              },
          .audit_failed = audit_failed_,
          .keys_recorded = [state_dir = config.agent.state_dir, log = log_](
                               KeyMaterial which) { NoteKeysRecorded(state_dir, which, *log); },
          .metrics = &recorder_,
          .liveness = &liveness_,
          .worker_deadline = WorkerDeadline(config)},
      std::move(*keys), config.queue.max_in_flight);
  intake_ = std::make_unique<Intake>(*pipeline_, &liveness_.Add("intake", kChannelDeadline));
  link_ =
      std::make_unique<Link>(*log_, *audit_, *status_, *pipeline_, *intake_, *channel_, recorder_);
  return Status::Ok();
}

Daemon::~Daemon() { Stop(); }

Status Daemon::Start() {
  WB_RETURN_IF_ERROR(pipeline_->Start());
  intake_->Start();
  // Before the channel: /readyz answers (503) while it connects, and a port that cannot be
  // had is in the log before "connected".
  StartMetrics();
  WB_RETURN_IF_ERROR(channel_->Start(*link_));
  status_->Start();
  CheckDirectoriesInBackground();
  return Status::Ok();
}

void Daemon::Stop() {
  if (endpoint_) endpoint_->Stop();  // no scrape reads a component that is stopping
  if (directory_check_.joinable()) directory_check_.join();
  if (!audit_) return;
  if (channel_) channel_->Stop();    // no new requests
  if (intake_) intake_->Stop();      // what arrived is stored and answered (or dropped)
  if (pipeline_) pipeline_->Stop();  // finish the ones in flight
  KeepUnsavedBreakerAtStop();
  (void)audit_->Append(LifecycleEvent(audit::EventType::kAgentStopped, "stopped by signal"));
  if (Status s = audit_->Close(); !s.ok()) log_->error("audit trail: {}", s.ToString());
  status_->Stop();
  audit_.reset();
}

void Daemon::Tick(bool maintenance) {
  link_->SendAuditHead();
  pipeline_->EndOwedAttempts();
  pipeline_->SendOwedResults();
  RetryBreaker();
  ApplyBreakerCommand();
  if (maintenance) pipeline_->Maintain();
  // The directories' own password policies can change without the agent knowing: read again
  // now and then, and the cloud is told only when the summary changed.
  if (maintenance && ++maintenance_ticks_ % kSummaryRefreshEvery == 0) {
    CheckDirectoriesInBackground();
  }
  // What the agent does changes the status, and says so (a request, a check, the channel).
  // Anything else, once a minute: an idle agent renders it no more often.
  if (maintenance) status_->Changed();
}

bool Daemon::AuditFailed() const {
  return audit_->AppendFailures() > 0 || (pipeline_ && pipeline_->AuditFailed());
}

bool Daemon::Reloaded(const config::Config& config, bool accepted, const std::string& why) {
  if (!accepted) {
    (void)audit_->Append(LifecycleEvent(audit::EventType::kConfigRejected, why));
    return false;
  }
  std::vector<std::string> waiting;
  const config::Config rules = RulesForRunningDirectories(config, config_, waiting);
  const bool rules_changed =
      !(rules.policy == config_.policy &&
        PolicyTablesOf(rules.directories) == PolicyTablesOf(config_.directories));
  // The trail says config_loaded only for a configuration that is in force: one whose rules
  // cannot be opened (a banned-words file that is not UTF-8, a corrupt breached list) is
  // rejected whole, and recorded so.
  if (rules_changed) {
    if (Status s = ReloadPolicy(rules, why); !s.ok()) {
      const std::string reason =
          "the policy's new rules could not be put in force, the running configuration "
          "stays: " +
          s.ToString();
      log_->error("reload: {}", reason);
      (void)audit_->Append(LifecycleEvent(audit::EventType::kConfigRejected, reason));
      return false;
    }
  } else {
    (void)audit_->Append(LifecycleEvent(audit::EventType::kConfigLoaded, why));
  }
  if (!(SameConnections(config.directories, config_.directories) && config.cloud == config_.cloud &&
        config.queue == config_.queue)) {
    log_->warn(
        "directory connection, cloud and queue settings take effect after a restart; the log "
        "level, [policy] and the directories' scope and password tables apply now");
  }
  config_.log = config.log;
  for (const std::string& name : waiting) {
    log_->warn(
        "reload: directory \"{}\" was renamed, removed or connected elsewhere: it keeps the "
        "scope and password tables it has until the restart that applies that change",
        EscapeForLog(name));
  }
  if (rules_changed) {
    log_->warn(
        "reload: the policy's rules changed and apply from now to every admission and account "
        "check (requests already past their checks finish as they started)");
  }
  return true;
}

// The new rules from now on: the rate limits counted again from the queue's records (as at a
// start), the breaker as it is. Rules that cannot be opened leave the old ones. The reload's
// config_loaded record is appended once the new rules are open and before they replace the
// old, so that no decision under them precedes it in the trail.
Status Daemon::ReloadPolicy(const config::Config& config, const std::string& why) {
  Status s = pipeline_->ReplacePolicy(
      [&](const policy::BreakerState& breaker) -> Result<std::unique_ptr<policy::Policy>> {
        auto history = RateLimitHistory(config, *queue_, clock_);
        if (!history.ok()) return history.error().WithContext("rate limit history");
        auto opened = policy::Policy::Open(config, clock_, *history, breaker);
        if (opened.ok()) {
          (void)audit_->Append(LifecycleEvent(audit::EventType::kConfigLoaded, why));
        }
        return opened;
      });
  if (!s.ok()) return s;
  config_.policy = config.policy;
  config_.directories = config.directories;  // the running ones, with the new tables
  return Status::Ok();
}

void Daemon::KeepBreaker(const policy::BreakerState& state, std::optional<BreakerOutcome> action) {
  {
    std::lock_guard lock(breaker_mu_);
    BreakerFile file{state, action};
    if (!action) file.last_action = LastBreakerAction();
    WriteBreakerLocked(std::move(file));
  }
  status_->Changed();
}

// The latest administrator action: the one not written yet, else the one in breaker.json.
std::optional<BreakerOutcome> Daemon::LastBreakerAction() {
  if (unsaved_breaker_) return unsaved_breaker_->last_action;
  auto kept = ReadBreakerFile(config_.agent.state_dir);
  return kept.ok() ? kept->last_action : std::nullopt;
}

// The last chance to write it: what is not written now the next start does not know. The
// trail has the trip and the administrator's decisions (policy_decision records); the log
// says what the file says against what it should, and how to make the next start right.
void Daemon::KeepUnsavedBreakerAtStop() {
  RetryBreaker();
  std::lock_guard lock(breaker_mu_);
  if (!unsaved_breaker_) return;
  const UnsavedBreakerWarning warning = WarnOfUnsavedBreaker(
      config_.agent.state_dir, *unsaved_breaker_, ReadBreakerFile(config_.agent.state_dir));
  log_->log(warning.critical ? spdlog::level::critical : spdlog::level::err, "{}", warning.text);
}

void Daemon::RetryBreaker() {
  std::lock_guard lock(breaker_mu_);
  if (unsaved_breaker_) WriteBreakerLocked(BreakerFile(*unsaved_breaker_));
}

void Daemon::WriteBreakerLocked(BreakerFile file) {
  if (Status s = WriteBreakerFile(config_.agent.state_dir, file); !s.ok()) {
    if (!unsaved_breaker_) {
      log_->error(
          "breaker state: {} (a restart would not remember it; written again every tick until "
          "it is)",
          s.ToString());
    }
    unsaved_breaker_ = std::move(file);
    return;
  }
  if (unsaved_breaker_) log_->warn("breaker state: written now, after earlier failures");
  unsaved_breaker_.reset();
}

void Daemon::ApplyBreakerCommand() {
  auto command = ReadBreakerCommand(config_.agent.state_dir);
  if (command.ok() && !*command) return;
  (void)RemoveBreakerCommand(config_.agent.state_dir);
  if (!command.ok()) {
    log_->error("breaker: {}; ignored", command.error().ToString());
    return;
  }
  const BreakerAction action = **command;
  auto moved =
      action == BreakerAction::kRelease ? pipeline_->ReleaseHeld() : pipeline_->RejectHeld();
  if (!moved.ok() && pipeline_->AuditFailed()) {
    // Not carried out, for want of a trail to record it in: the command is put back for the
    // next start (the command-line waits, then points at the journal).
    (void)WriteBreakerCommand(config_.agent.state_dir, action);
    log_->error("breaker {}: {}; left for the next start", BreakerActionName(action),
                moved.error().ToString());
    return;
  }
  if (!moved.ok()) {
    log_->error("breaker {}: {}", BreakerActionName(action), moved.error().ToString());
    return;
  }
  // breaker.json already says so: the pipeline reported the change with the action, in the
  // order of the breaker's changes (a trip right after the release is written after it).
  log_->warn("breaker {} by an administrator: {} held request(s) {}", BreakerActionName(action),
             *moved, action == BreakerAction::kRelease ? "admitted" : "refused");
}

void Daemon::ReloadSecrets() {
  ApplyBreakerCommand();
  if (Status s = router_->ReloadSecrets(); !s.ok()) {
    log_->error("reload: {}; the directory keeps the password it had", s.ToString());
  }
  CheckDirectoriesInBackground();
  auto woken = pipeline_->RetryWaitingNow();
  if (!woken.ok()) {
    log_->error("reload: cannot retry the waiting requests: {}", woken.error().ToString());
  } else if (*woken > 0) {
    log_->info("reload: retrying {} waiting request(s) now", *woken);
  }
  status_->Changed();
}

void Daemon::CheckDirectoriesInBackground() {
  {
    // Never wait here for a running check (the main loop feeds the watchdog, and a check of
    // several unreachable servers takes connect_timeout each): it runs once more instead.
    MutexLock lock(check_mu_);
    if (check_running_) {
      check_again_ = true;
      return;
    }
    check_running_ = true;
  }
  if (directory_check_.joinable()) directory_check_.join();  // finished: it is not running
  directory_check_ = std::thread([this] {
    for (;;) {
      LogServiceBinds();
      RefreshPolicySummary();
      MutexLock lock(check_mu_);
      if (!check_again_) {
        check_running_ = false;
        return;
      }
      check_again_ = false;
    }
  });
}

// Reads each directory's default password policy (on the background check's thread: a down
// server takes connect_timeout) and gives the link the summary to send.
void Daemon::RefreshPolicySummary() {
  const DefaultPolicies defaults = router_->DefaultPolicies();
  for (const auto& [name, policy] : defaults) {
    if (!policy.ok()) {
      log_->warn("directory '{}': its password policy could not be read for the policy summary: {}",
                 name, policy.error().ToString());
    }
  }
  link_->SetPolicySummary(BuildPolicySummary(directories_, *pipeline_->Rules(), defaults));
}

void Daemon::LogServiceBinds() {
  for (const auto& [name, outcome] : router_->CheckServiceBinds()) {
    if (outcome.ok()) {
      if (!outcome.server.empty()) {
        log_->info("directory '{}': the service account binds ({})", name, outcome.server);
      }
    } else {
      // Found now rather than by the first user; requests meanwhile wait (it is transient).
      const char* what = outcome.code == ldap::OutcomeCode::kServiceBindFailed
                             ? "the service account cannot bind"
                             : "cannot connect as the service account";
      log_->error(
          "directory '{}': {}: {}; requests to it wait; after fixing it, run "
          "`systemctl reload wbagent`",
          name, what, outcome.ToString());
    }
  }
  status_->Changed();
}

// One snapshot of the components, for `wbagent status` (StatusJson) and for the metrics
// endpoint (metrics::RenderText, metrics::ReadinessOf): the same state, read the same way.
metrics::Snapshot Daemon::TakeSnapshot(metrics::Detail detail) const {
  metrics::Snapshot s;
  s.version = kVersion;
  s.pid = ::getpid();
  // Read back from the kernel, not assumed: `wbagent run` made the process non-dumpable.
  s.dumpable = ProcessIsDumpable();
  std::optional<WallTime> certificate_expires;
  if (channel_) {
    const auto state = channel_->GetState();
    metrics::Snapshot::Channel c;
    c.state = std::string(channel::ChannelStateName(state.state));
    for (auto each : {channel::ChannelState::kStopped, channel::ChannelState::kConnecting,
                      channel::ChannelState::kConnected, channel::ChannelState::kDisconnected}) {
      c.all_states.emplace_back(channel::ChannelStateName(each));
    }
    c.connected = state.state == channel::ChannelState::kConnected;
    c.since = state.since;
    c.last_error = state.last_error.ok() ? "" : state.last_error.ToString();
    c.tenant = state.tenant;
    if (state.clock_skew) {
      c.clock_skew_seconds = static_cast<double>(state.clock_skew->count()) / 1000.0;
      c.max_clock_skew_seconds = state.max_clock_skew.count();
    }
    certificate_expires = state.certificate_expires;
    s.channel = std::move(c);
  }
  if (router_) {
    for (const auto& [directory, health] : router_->Health()) {
      s.servers.push_back({.directory = directory,
                           .url = health.url,
                           .healthy = health.healthy,
                           .last_error = health.last_error,
                           .last_error_at = health.last_error_at,
                           .failing_since = health.failing_since,
                           .consecutive_failures = health.consecutive_failures,
                           .failovers = health.failovers});
    }
  }
  if (pipeline_) {
    const policy::BreakerState breaker = pipeline_->Breaker();
    s.breaker = metrics::Snapshot::Breaker{breaker.tripped, breaker.tripped_at};
    const Activity a = pipeline_->LastActivity();
    s.last_success = a.last_success;
    s.last_failure = a.last_failure;
    s.last_failure_outcome = a.last_failure_outcome;
  }
  if (detail == metrics::Detail::kStatus) return s;
  // The metrics' detail: a query of the queue, the audit trail's counter, the counted events.
  if (queue_) {
    if (auto stats = queue_->GetStats(); stats.ok()) {
      metrics::Snapshot::Queue q;
      for (std::size_t i = 0; i < queue::kStateCount; ++i) {
        const auto state = static_cast<queue::State>(i);
        q.by_state.emplace_back(std::string(queue::StateName(state)), stats->count(state));
      }
      q.oldest_pending_age = stats->oldest_unfinished_age;
      s.queue = std::move(q);
    } else {
      log_->warn("metrics: cannot read the queue: {}", stats.error().ToString());
    }
  }
  if (certificate_expires) s.certificate_expires_in = *certificate_expires - clock_.Now();
  if (audit_) s.audit_append_failures = audit_->AppendFailures();
  s.recorded = recorder_.Read();
  return s;
}

nlohmann::json Daemon::StatusView() const {
  return StatusJson(TakeSnapshot(metrics::Detail::kStatus));
}

void Daemon::StartMetrics() {
  if (!config_.metrics.listen) return;
  const config::HostPort& listen = *config_.metrics.listen;
  auto endpoint = metrics::Endpoint::Start({.address = listen.host, .port = listen.port},
                                           [this] { return TakeSnapshot(metrics::Detail::kFull); });
  if (!endpoint.ok()) {
    // Writeback matters more than its metrics: the agent runs on, and Prometheus's own `up`
    // shows the missing target.
    log_->error("{}; the agent runs without its metrics endpoint", endpoint.error().ToString());
    return;
  }
  endpoint_ = std::move(*endpoint);
  const bool v6 = listen.host.find(':') != std::string::npos;  // written [::1]:PORT
  log_->info("metrics: serving /metrics, /healthz and /readyz on http://{}{}{}:{}", v6 ? "[" : "",
             listen.host, v6 ? "]" : "", endpoint_->port());
}

}  // namespace wb::agent
