// The intake (agent/intake.h): the channel's thread hands events over without waiting for the
// pipeline to store them; the pipeline sees them in order, runs of requests and acks batched.
#include "agent/intake.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/fake_clock.h"

namespace wb::agent {
namespace {

using namespace std::chrono_literals;

// Records each call as one line ("requests a,b", "acks x", "rejected", "keys", "renewed",
// "lost"); can be made to block in OnRequests, as a pipeline waiting on a disk sync would.
class RecordingTarget final : public IntakeTarget {
 public:
  void OnRequests(std::span<const protocol::Request> batch) override {
    std::string line = "requests ";
    for (std::size_t i = 0; i < batch.size(); ++i) line += (i ? "," : "") + batch[i].envelope;
    std::unique_lock lock(mu_);
    calls_.push_back(line);
    ++busy_;
    changed_.notify_all();
    changed_.wait(lock, [this] { return !blocked_; });
  }
  void OnResultAcks(std::span<const std::string> ids) override {
    std::string line = "acks ";
    for (std::size_t i = 0; i < ids.size(); ++i) line += (i ? "," : "") + ids[i];
    Record(line);
  }
  void OnFrameRejected(const protocol::Rejected&) override { Record("rejected"); }
  void OnKeySetChanged(const protocol::Jwks&) override { Record("keys"); }
  void OnCertificateRenewed(const channel::RenewedCertificate&) override { Record("renewed"); }
  void OnChannelLost() override { Record("lost"); }

  void Block(bool blocked) {
    std::lock_guard lock(mu_);
    blocked_ = blocked;
    changed_.notify_all();
  }
  // Waits until OnRequests was entered `n` times in all.
  bool WaitBusy(int n) {
    std::unique_lock lock(mu_);
    return changed_.wait_for(lock, 10s, [&] { return busy_ >= n; });
  }
  bool WaitCalls(std::size_t n) {
    std::unique_lock lock(mu_);
    return changed_.wait_for(lock, 10s, [&] { return calls_.size() >= n; });
  }
  std::vector<std::string> Calls() {
    std::lock_guard lock(mu_);
    return calls_;
  }

 private:
  void Record(std::string line) {
    std::lock_guard lock(mu_);
    calls_.push_back(std::move(line));
    changed_.notify_all();
  }
  std::mutex mu_;
  std::condition_variable changed_;
  std::vector<std::string> calls_;
  int busy_ = 0;
  bool blocked_ = false;
};

protocol::Request Envelope(std::string name) { return protocol::Request{std::move(name), 1}; }

TEST(IntakeTest, EventsReachTheTargetInOrderWithRunsOfRequestsAndAcksBatched) {
  RecordingTarget target;
  Intake intake(target, nullptr);
  intake.PostRequest(Envelope("a"));
  intake.PostRequest(Envelope("b"));
  intake.PostResultAck("x");
  intake.PostResultAck("y");
  intake.PostFrameRejected({});
  intake.PostRequest(Envelope("c"));
  intake.PostKeySetChanged({});
  intake.PostCertificateRenewed({});
  intake.PostRequest(Envelope("d"));
  intake.PostChannelLost();
  intake.Start();  // everything above is waiting: one drain sees it all
  ASSERT_TRUE(target.WaitCalls(8));
  EXPECT_EQ(target.Calls(),
            (std::vector<std::string>{"requests a,b", "acks x,y", "rejected", "requests c", "keys",
                                      "renewed", "requests d", "lost"}));
}

// A cloud that acks each result as it arrives interleaves acks with new requests; each kind
// still goes as one batch (one disk sync each), the requests first. A key set or a channel loss
// stays where it was: what came before it is handed over before it.
TEST(IntakeTest, InterleavedRequestsAndAcksAreHandedOverAsOneBatchOfEach) {
  RecordingTarget target;
  Intake intake(target, nullptr);
  intake.PostResultAck("x");
  intake.PostRequest(Envelope("a"));
  intake.PostResultAck("y");
  intake.PostRequest(Envelope("b"));
  intake.PostKeySetChanged({});
  intake.PostResultAck("z");
  intake.PostRequest(Envelope("c"));
  intake.PostRequest(Envelope("d"));
  intake.Start();  // everything above is waiting: one drain sees it all
  ASSERT_TRUE(target.WaitCalls(5));
  EXPECT_EQ(target.Calls(), (std::vector<std::string>{"requests a,b", "acks x,y", "keys",
                                                      "requests c,d", "acks z"}));
}

TEST(IntakeTest, PostingNeverWaitsForTheTargetToStoreTheRequests) {
  RecordingTarget target;
  Intake intake(target, nullptr);
  intake.Start();
  target.Block(true);  // the pipeline is inside a disk sync
  intake.PostRequest(Envelope("a"));
  ASSERT_TRUE(target.WaitBusy(1));
  // The channel's thread goes on: these return while the target is still blocked.
  intake.PostRequest(Envelope("b"));
  intake.PostRequest(Envelope("c"));
  intake.PostResultAck("x");
  EXPECT_EQ(target.Calls(), std::vector<std::string>{"requests a"});
  target.Block(false);
  ASSERT_TRUE(target.WaitCalls(3));
  // What arrived during the sync is the next batch.
  EXPECT_EQ(target.Calls(), (std::vector<std::string>{"requests a", "requests b,c", "acks x"}));
}

TEST(IntakeTest, AFullInboxHoldsThePosterUntilThereIsRoom) {
  RecordingTarget target;
  Intake intake(target, nullptr, /*capacity=*/2);
  intake.Start();
  target.Block(true);
  intake.PostRequest(Envelope("a"));
  ASSERT_TRUE(target.WaitBusy(1));
  intake.PostRequest(Envelope("b"));
  intake.PostRequest(Envelope("c"));  // the inbox is full now
  std::atomic<bool> posted{false};
  std::thread poster([&] {
    intake.PostRequest(Envelope("d"));
    posted = true;
  });
  std::this_thread::sleep_for(50ms);  // a poster that did not block would be done by now
  EXPECT_FALSE(posted.load());
  target.Block(false);
  poster.join();
  EXPECT_TRUE(posted.load());
  ASSERT_TRUE(target.WaitCalls(3));
  std::string all;
  for (const auto& call : target.Calls()) all += call + ";";
  EXPECT_EQ(all.find("requests a;"), 0u) << all;
  EXPECT_NE(all.find('d'), std::string::npos) << all;  // nothing posted was lost
}

TEST(IntakeTest, StopHandsOverEverythingPostedBeforeIt) {
  RecordingTarget target;
  {
    Intake intake(target, nullptr);
    for (int i = 0; i < 100; ++i) intake.PostResultAck(std::to_string(i));
    intake.Start();
    intake.Stop();
    intake.PostResultAck("after");  // dropped: the channel stops first
  }
  std::size_t acked = 0;
  for (const auto& call : target.Calls()) {
    ASSERT_EQ(call.rfind("acks ", 0), 0u) << call;
    EXPECT_EQ(call.find("after"), std::string::npos);
    acked += static_cast<std::size_t>(std::count(call.begin(), call.end(), ',')) + 1;
  }
  EXPECT_EQ(acked, 100u);
}

TEST(IntakeTest, ABatchHoldsAtMostMaxBatchRequests) {
  RecordingTarget target;
  Intake intake(target, nullptr);
  for (std::size_t i = 0; i < Intake::kMaxBatch + 1; ++i) intake.PostRequest(Envelope("r"));
  intake.Start();
  ASSERT_TRUE(target.WaitCalls(2));
  const auto calls = target.Calls();
  EXPECT_EQ(std::count(calls[0].begin(), calls[0].end(), ',') + 1,
            static_cast<long>(Intake::kMaxBatch));
  EXPECT_EQ(calls[1], "requests r");
}

// The channel settles before it judges a cloud by its answers (channel::Handler::Settle).
TEST(IntakeTest, SettleReturnsOnceEverythingPostedHasBeenHandled) {
  RecordingTarget target;
  Intake intake(target, nullptr);
  intake.Settle();  // not started: returns at once
  intake.Start();
  target.Block(true);
  intake.PostRequest(Envelope("a"));
  ASSERT_TRUE(target.WaitBusy(1));
  intake.PostResultAck("x");
  std::atomic<bool> settled{false};
  std::thread channel([&] {
    intake.Settle();
    settled = true;
  });
  std::this_thread::sleep_for(50ms);  // a Settle that did not wait would be done by now
  EXPECT_FALSE(settled.load());
  target.Block(false);
  channel.join();
  EXPECT_EQ(target.Calls(), (std::vector<std::string>{"requests a", "acks x"}));
}

TEST(IntakeTest, TheThreadIsIdleWhileItWaitsAndBusyWhileTheTargetStores) {
  testing::FakeClock clock;
  Liveness liveness(clock);
  Liveness::Heartbeat& beat = liveness.Add("intake", 40ms);
  RecordingTarget target;
  Intake intake(target, &beat);
  intake.Start();
  // Waiting for events: idle, so never stalled however long nothing arrives.
  for (int i = 0; i < 5000 && !beat.idle(); ++i) std::this_thread::sleep_for(1ms);
  ASSERT_TRUE(beat.idle());
  clock.Advance(1h);
  EXPECT_TRUE(liveness.Check().alive);
  // A request arrives and the target is stuck storing it: busy, and stalled past the deadline.
  target.Block(true);
  intake.PostRequest(Envelope("a"));
  ASSERT_TRUE(target.WaitBusy(1));
  EXPECT_FALSE(beat.idle());
  clock.Advance(41ms);
  EXPECT_FALSE(liveness.Check().alive);
  // The store ends: the thread beats, then waits idle again.
  target.Block(false);
  intake.Settle();
  for (int i = 0; i < 5000 && !beat.idle(); ++i) std::this_thread::sleep_for(1ms);
  EXPECT_TRUE(beat.idle());
  EXPECT_TRUE(liveness.Check().alive);
  intake.Stop();
}

}  // namespace
}  // namespace wb::agent
