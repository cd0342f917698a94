#include "agent/status_writer.h"

#include <string>
#include <utility>

#include "audit/audit.h"
#include "common/files.h"

namespace wb::agent {

nlohmann::json StatusJson(const metrics::Snapshot& s) {
  nlohmann::json j;
  j["pid"] = s.pid;
  j["version"] = s.version;
  j["dumpable"] = s.dumpable;
  if (s.channel) {
    const metrics::Snapshot::Channel& c = *s.channel;
    j["channel"] = {{"state", c.state},
                    {"since", audit::FormatTime(c.since)},
                    {"last_error", c.last_error},
                    {"tenant", c.tenant}};
    if (c.clock_skew_seconds) {
      j["channel"]["clock_skew_seconds"] = *c.clock_skew_seconds;
      j["channel"]["max_clock_skew_seconds"] = c.max_clock_skew_seconds;
    }
  }
  nlohmann::json servers = nlohmann::json::array();
  for (const metrics::Snapshot::Server& server : s.servers) {
    nlohmann::json one = {{"directory", server.directory},
                          {"url", server.url},
                          {"healthy", server.healthy},
                          {"last_error", server.last_error}};
    // When, so that `wbagent status` shows a recovered server's error as past.
    if (server.last_error_at) one["last_error_at"] = audit::FormatTime(*server.last_error_at);
    if (server.failing_since) one["failing_since"] = audit::FormatTime(*server.failing_since);
    if (!server.healthy) one["consecutive_failures"] = server.consecutive_failures;
    servers.push_back(std::move(one));
  }
  j["directory_servers"] = servers;
  if (s.breaker) {
    j["breaker"] = {{"tripped", s.breaker->tripped}};
    if (s.breaker->tripped_at)
      j["breaker"]["tripped_at"] = audit::FormatTime(*s.breaker->tripped_at);
  }
  if (s.last_success) j["last_success"] = audit::FormatTime(*s.last_success);
  if (s.last_failure) {
    j["last_failure"] = audit::FormatTime(*s.last_failure);
    j["last_failure_outcome"] = s.last_failure_outcome;
  }
  return j;
}

StatusWriter::StatusWriter(Options options, Render render, const Clock& clock)
    : options_(std::move(options)), render_(std::move(render)), clock_(clock) {}

StatusWriter::~StatusWriter() { Stop(); }

void StatusWriter::Start() {
  if (thread_.joinable()) return;
  WriteIfDue();  // before the thread: the file is there when the agent says it is ready
  thread_ = std::thread([this] { Loop(); });
}

void StatusWriter::Changed() {
  bool wake = false;
  {
    MutexLock lock(mu_);
    wake = waiting_for_change_ && !changed_;
    changed_ = true;
    if (wake) ++wakeups_;
  }
  if (wake) cv_.notify_one();
}

std::uint64_t StatusWriter::Wakeups() const {
  MutexLock lock(mu_);
  return wakeups_;
}

void StatusWriter::Stop() {
  {
    MutexLock lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_one();
  if (!thread_.joinable()) return;  // never started: what it would render may not exist
  thread_.join();
  WriteIfDue();  // the final state (a stopped channel) is what `status` shows after the exit
}

void StatusWriter::Loop() {
  MutexLock lock(mu_);
  while (!stopping_) {
    waiting_for_change_ = true;
    mu_.WaitFor(cv_, options_.heartbeat,
                [this]() WB_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_ || changed_; });
    waiting_for_change_ = false;
    if (stopping_) break;
    changed_ = false;
    lock.Unlock();
    const bool wrote = WriteIfDue();
    lock.Lock();
    // The gap: changes arriving now are written together, once, when it ends. Without a
    // write there is nothing to space out, and no reason to wake once more.
    if (!wrote) continue;
    mu_.WaitFor(cv_, options_.min_gap,
                [this]() WB_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; });
  }
}

bool StatusWriter::WriteIfDue() {
  nlohmann::json view = render_();
  const auto now = clock_.Monotonic();
  const bool heartbeat_due = !last_write_ || now - *last_write_ >= options_.heartbeat;
  if (view == last_written_ && !heartbeat_due) return false;
  nlohmann::json file = view;
  file["updated_at"] = audit::FormatTime(clock_.Now());
  if (!WriteFileAtomic(options_.file, file.dump(2) + "\n", 0644).ok()) return true;
  last_written_ = std::move(view);
  last_write_ = now;
  return true;
}

}  // namespace wb::agent
