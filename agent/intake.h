#pragma once
// The intake: carries what the channel receives to the pipeline on a thread of its own, so
// that the channel's I/O thread never waits on a disk sync (internal to agent/).
//
//   channel I/O thread                      intake thread
//   Post*(...) ──▶ inbox (FIFO, bounded) ──▶ drains it: the requests ─▶ OnRequests(batch)
//                                                      the acks     ─▶ OnResultAcks(batch)
//                                                      anything else ─▶ one call each, in order
//
// Guarantees
// - Order: the target sees events in the order they were posted, but for one regrouping: the
//   requests and the result acks that arrived between two other events (a rejected frame, a
//   key set, a renewed certificate, a channel loss) are two calls, the requests in order, then the
//   acks in order, so that each batch's disk syncs are shared (agent/pipeline.h) however the cloud
//   interleaves them. An ack concerns a result already sent: handing it over after a request that
//   came behind it changes nothing the pipeline decides. (A cloud that acked a result before it was
//   sent, which the protocol does not allow, may now see that ack count when the request
//   ends in the same drain; before, it was refused as not yet terminal.)
// - Batching without waiting: the intake never holds an event back to fill a batch; a batch is
//   whatever arrived while the previous one was being stored, at most kMaxBatch.
// - Bounds: at most `capacity` events wait. Post blocks while the inbox is full: back-pressure
//   on the connection that floods it. Requests are bounded by the credits anyway.
// - Durability is the target's: Post returns before anything is stored, and nothing is
//   answered for a request before the pipeline has stored it.
// - Stop: what was posted before Stop is handed to the target, then the thread is joined.
//   Posts after Stop are dropped (the channel is stopped first).
// - Liveness: the thread beats `beat` (when set) when it wakes with events and after each
//   batch; while it waits for events the heartbeat is idle (common/liveness.h), so an idle
//   intake never wakes. A target stuck in a sync stops the beats, and the watchdog's pings
//   with them.
//
// Threads: Post* from any thread (the channel's); the target is called from the intake's thread
// only. Start/Stop from the main thread.

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <variant>

#include "channel/channel.h"
#include "common/liveness.h"
#include "protocol/protocol.h"

namespace wb::agent {

// What the intake hands events to (the pipeline; a fake in tests).
class IntakeTarget {
 public:
  virtual ~IntakeTarget() = default;
  virtual void OnRequests(std::span<const protocol::Request> batch) = 0;
  virtual void OnResultAcks(std::span<const std::string> ids) = 0;
  virtual void OnFrameRejected(const protocol::Rejected& sent) = 0;
  virtual void OnKeySetChanged(const protocol::Jwks& keys) = 0;
  virtual void OnCertificateRenewed(const channel::RenewedCertificate& renewed) = 0;
  virtual void OnChannelLost() = 0;
};

class Intake {
 public:
  static constexpr std::size_t kMaxBatch = 64;
  static constexpr std::size_t kDefaultCapacity = 1024;

  // `target` and `beat` (may be null) must outlive the Intake.
  Intake(IntakeTarget& target, Liveness::Heartbeat* beat, std::size_t capacity = kDefaultCapacity);
  ~Intake();  // Stop()
  Intake(const Intake&) = delete;
  Intake& operator=(const Intake&) = delete;

  void Start();
  void Stop();

  void PostRequest(protocol::Request request);
  void PostResultAck(std::string id);
  void PostFrameRejected(protocol::Rejected sent);
  void PostKeySetChanged(protocol::Jwks keys);
  void PostCertificateRenewed(channel::RenewedCertificate renewed);
  void PostChannelLost();

  // Returns once every event posted before the call has been handed to the target (and its
  // calls returned): channel::Handler::Settle. At once when the intake is not running. Not
  // from the target (the intake's own thread).
  void Settle();

 private:
  struct ChannelLost {};
  using Event = std::variant<protocol::Request, protocol::ResultAck, protocol::Rejected,
                             protocol::Jwks, channel::RenewedCertificate, ChannelLost>;

  void Post(Event event);
  void Run();
  // Hands `events` to the target in order, the requests and the acks between two other events
  // as one call each (see Order above).
  void Deliver(std::deque<Event>& events);

  IntakeTarget& target_;
  Liveness::Heartbeat* const beat_;
  const std::size_t capacity_;

  std::mutex mu_;
  std::condition_variable wake_;      // the intake thread: an event, or stop
  std::condition_variable has_room_;  // posters: the inbox has room again
  std::condition_variable settled_;   // Settle: more events were handed over
  std::deque<Event> inbox_;           // guarded by mu_
  std::uint64_t posted_ = 0;          // guarded by mu_: events posted so far
  std::uint64_t delivered_ = 0;       // guarded by mu_: events handed to the target so far
  bool stopping_ = false;             // guarded by mu_
  bool started_ = false;              // guarded by mu_
  std::thread thread_;
};

}  // namespace wb::agent
