#include "agent/intake.h"

#include <pthread.h>

#include <vector>

namespace wb::agent {

Intake::Intake(IntakeTarget& target, Liveness::Heartbeat* beat, std::size_t capacity)
    : target_(target), beat_(beat), capacity_(capacity == 0 ? 1 : capacity) {}

Intake::~Intake() { Stop(); }

void Intake::Start() {
  std::lock_guard lock(mu_);
  if (started_) return;
  started_ = true;
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "wb-intake");
    Run();
  });
}

void Intake::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  wake_.notify_all();
  has_room_.notify_all();
  settled_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Intake::PostRequest(protocol::Request request) { Post(std::move(request)); }
void Intake::PostResultAck(std::string id) { Post(protocol::ResultAck{std::move(id)}); }
void Intake::PostFrameRejected(protocol::Rejected sent) { Post(std::move(sent)); }
void Intake::PostKeySetChanged(protocol::Jwks keys) { Post(std::move(keys)); }
void Intake::PostCertificateRenewed(channel::RenewedCertificate renewed) {
  Post(std::move(renewed));
}
void Intake::PostChannelLost() { Post(ChannelLost{}); }

void Intake::Post(Event event) {
  {
    std::unique_lock lock(mu_);
    has_room_.wait(lock, [this] { return stopping_ || inbox_.size() < capacity_; });
    if (stopping_) return;
    inbox_.push_back(std::move(event));
    ++posted_;
  }
  wake_.notify_one();
}

void Intake::Run() {
  for (;;) {
    std::deque<Event> events;
    {
      std::unique_lock lock(mu_);
      // Waiting for events is not a stall: nothing wakes an idle intake.
      if (inbox_.empty() && beat_) beat_->Idle();
      wake_.wait(lock, [this] { return stopping_ || !inbox_.empty(); });
      events.swap(inbox_);
      if (events.empty() && stopping_) return;
    }
    has_room_.notify_all();
    if (beat_) beat_->Beat();
    Deliver(events);
    if (beat_) beat_->Beat();
    {
      std::lock_guard lock(mu_);
      delivered_ += events.size();
    }
    settled_.notify_all();
  }
}

void Intake::Settle() {
  std::unique_lock lock(mu_);
  const std::uint64_t posted = posted_;
  settled_.wait(lock, [&] { return !started_ || stopping_ || delivered_ >= posted; });
}

// Requests and acks between two other events are independent of each other (an ack concerns
// a result already sent; it changes nothing a request's checks or its answer depend on), so
// each kind is gathered into one batch however the cloud interleaves them: a cloud that acks
// each result as it comes would otherwise cut every batch down to one request, and each batch
// costs a disk sync.
void Intake::Deliver(std::deque<Event>& events) {
  std::vector<protocol::Request> requests;
  std::vector<std::string> acks;
  const auto flush = [&] {
    if (!requests.empty()) target_.OnRequests(requests);
    if (!acks.empty()) target_.OnResultAcks(acks);
    if ((!requests.empty() || !acks.empty()) && beat_) beat_->Beat();
    requests.clear();
    acks.clear();
  };
  for (Event& event : events) {
    if (auto* request = std::get_if<protocol::Request>(&event)) {
      if (requests.size() == kMaxBatch) flush();
      requests.push_back(std::move(*request));
    } else if (auto* ack = std::get_if<protocol::ResultAck>(&event)) {
      if (acks.size() == kMaxBatch) flush();
      acks.push_back(std::move(ack->id));
    } else {
      flush();
      if (auto* rejected = std::get_if<protocol::Rejected>(&event)) {
        target_.OnFrameRejected(*rejected);
      } else if (auto* keys = std::get_if<protocol::Jwks>(&event)) {
        target_.OnKeySetChanged(*keys);
      } else if (auto* renewed = std::get_if<channel::RenewedCertificate>(&event)) {
        target_.OnCertificateRenewed(*renewed);
      } else {
        target_.OnChannelLost();
      }
    }
  }
  flush();
}

}  // namespace wb::agent
