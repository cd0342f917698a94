#include "channel/internal/in_flight.h"

#include <variant>

namespace wb::channel::internal {

void InFlight::Reset(int credits) {
  credits_ = credits;
  count_ = 0;
  anonymous_ = 0;
  ids_.clear();
}

bool InFlight::Admit(const std::string& claimed_id) {
  if (credits_ < 0 || count_ >= static_cast<std::size_t>(credits_)) return false;
  ++count_;
  if (claimed_id.empty()) {
    ++anonymous_;
  } else {
    ++ids_[claimed_id];
  }
  return true;
}

void InFlight::Sent(const protocol::Message& message) {
  if (const auto* rejected = std::get_if<protocol::Rejected>(&message)) {
    EndOne(rejected->id);
  } else if (const auto* result = std::get_if<protocol::ResultMessage>(&message)) {
    // A result ends every delivery of its request; a result re-sent from an earlier
    // connection matches nothing here.
    auto it = ids_.find(result->id);
    if (it == ids_.end()) return;
    count_ -= it->second;
    ids_.erase(it);
  } else if (const auto* credits = std::get_if<protocol::Credits>(&message)) {
    credits_ = credits->credits;
  }
}

// One `rejected`: the delivery with that id, else one whose id could not be read, else any
// (the count must never stay above what the cloud believes).
void InFlight::EndOne(const std::string& id) {
  if (count_ == 0) return;
  auto it = ids_.find(id);
  if (it == ids_.end() && anonymous_ > 0) {
    --anonymous_;
  } else {
    if (it == ids_.end()) it = ids_.begin();
    if (--it->second == 0) ids_.erase(it);
  }
  --count_;
}

}  // namespace wb::channel::internal
