#include "agent/status_writer.h"

#include <string>
#include <utility>

#include "audit/audit.h"
#include "common/files.h"

namespace wb::agent {

StatusWriter::StatusWriter(Options options, Render render, const Clock& clock)
    : options_(std::move(options)), render_(std::move(render)), clock_(clock) {}

StatusWriter::~StatusWriter() { Stop(); }

void StatusWriter::Start() {
  if (thread_.joinable()) return;
  WriteIfDue();  // before the thread: the file is there when the agent says it is ready
  thread_ = std::thread([this] { Loop(); });
}

void StatusWriter::Changed() {
  {
    MutexLock lock(mu_);
    changed_ = true;
  }
  cv_.notify_one();
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
    mu_.WaitFor(cv_, options_.heartbeat,
                [this]() WB_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_ || changed_; });
    if (stopping_) break;
    changed_ = false;
    lock.Unlock();
    WriteIfDue();
    lock.Lock();
    // The gap: changes arriving now are written together, once, when it ends.
    mu_.WaitFor(cv_, options_.min_gap,
                [this]() WB_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; });
  }
}

void StatusWriter::WriteIfDue() {
  nlohmann::json view = render_();
  const auto now = clock_.Monotonic();
  const bool heartbeat_due = !last_write_ || now - *last_write_ >= options_.heartbeat;
  if (view == last_written_ && !heartbeat_due) return;
  nlohmann::json file = view;
  file["updated_at"] = audit::FormatTime(clock_.Now());
  if (!WriteFileAtomic(options_.file, file.dump(2) + "\n", 0644).ok()) return;
  last_written_ = std::move(view);
  last_write_ = now;
}

}  // namespace wb::agent
