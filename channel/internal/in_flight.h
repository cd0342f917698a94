#pragma once
// Internal: the credits the agent announced and the requests the cloud has in flight
// (docs/protocol.md section 8).
//
// A request is in flight from the moment its frame arrives until the agent sends `rejected` for
// it or its `result`; `accepted` does not end it. Counting restarts at every hello: results of
// requests accepted on an earlier connection do not count against this one.
//
//   Reset(credits)  at hello
//   Admit(id)       a request frame arrived; false when it would exceed the credits (the
//                   cloud broke section 8; the request is not counted)
//   Sent(message)   after an outgoing message was queued: `rejected` ends one delivery,
//                   `result` ends its request, `credits` replaces the limit
//
// Ids are the claimed (unauthenticated) ids of protocol::ClaimedRequestId; a request whose id
// cannot be read is counted anonymously, and a `rejected` without a known id ends one such
// request (every `rejected` answers exactly one request frame).
//
// Not thread-safe: the channel calls it under its lock.

#include <cstddef>
#include <map>
#include <string>

#include "protocol/protocol.h"

namespace wb::channel::internal {

class InFlight {
 public:
  void Reset(int credits);
  bool Admit(const std::string& claimed_id);
  void Sent(const protocol::Message& message);

  std::size_t count() const { return count_; }
  int credits() const { return credits_; }

 private:
  void EndOne(const std::string& id);

  int credits_ = 0;
  std::size_t count_ = 0;
  std::size_t anonymous_ = 0;               // requests whose id could not be read
  std::map<std::string, std::size_t> ids_;  // claimed id -> deliveries in flight
};

}  // namespace wb::channel::internal
