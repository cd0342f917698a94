// An in-memory ReplayGuard, for tests and tools; the agent's durable one lives in the queue.
#include <map>
#include <mutex>

#include "protocol/protocol.h"

namespace wb::protocol {
namespace {

class InMemoryReplayGuard final : public ReplayGuard {
 public:
  explicit InMemoryReplayGuard(const Clock& clock) : clock_(clock) {}

  Result<Verdict> Remember(std::string_view request_id, std::string_view nonce,
                           WallTime forget_after) override {
    std::lock_guard lock(mu_);
    Forget(clock_.Now());
    auto by_id = ids_.find(request_id);
    auto by_nonce = nonces_.find(nonce);
    if (by_id != ids_.end() || by_nonce != nonces_.end()) {
      const bool same = by_id != ids_.end() && by_id->second.nonce == nonce;
      return same ? Verdict::kRedelivery : Verdict::kReplay;
    }
    ids_.emplace(std::string(request_id), Entry{std::string(nonce), forget_after});
    nonces_.emplace(std::string(nonce), std::string(request_id));
    return Verdict::kNew;
  }

 private:
  struct Entry {
    std::string nonce;
    WallTime forget_after;
  };

  void Forget(WallTime now) {
    for (auto it = ids_.begin(); it != ids_.end();) {
      if (it->second.forget_after < now) {
        nonces_.erase(it->second.nonce);
        it = ids_.erase(it);
      } else {
        ++it;
      }
    }
  }

  const Clock& clock_;
  std::mutex mu_;
  std::map<std::string, Entry, std::less<>> ids_;           // GUARDED_BY(mu_)
  std::map<std::string, std::string, std::less<>> nonces_;  // GUARDED_BY(mu_)
};

}  // namespace

std::unique_ptr<ReplayGuard> NewInMemoryReplayGuard(const Clock& clock) {
  return std::make_unique<InMemoryReplayGuard>(clock);
}

}  // namespace wb::protocol
