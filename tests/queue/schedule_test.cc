// Scheduling: per-account order, the in-flight bound, backoff with jitter, and expiry, with an
// injected clock and randomness.

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/queue/queue_test_util.h"

namespace wb::queue::testing {
namespace {

// The outcome has its row in docs/troubleshooting.md, where an administrator looks it up.
bool DocumentedInTroubleshooting(const std::string& code) {
  std::ifstream in(std::string(WB_SOURCE_DIR) + "/docs/troubleshooting.md");
  std::stringstream text;
  text << in.rdbuf();
  return text.str().find("| `" + code + "` |") != std::string::npos;
}

class ScheduleTest : public QueueTest {
 protected:
  void SetUp() override { Open(); }

  void OpenWith(const Options& o) {
    queue_.reset();
    auto q = OpenQueue(o);
    ASSERT_TRUE(q.ok()) << q.error().ToString();
    queue_ = std::move(q).value();
  }

  bool NothingToTake() {
    auto w = queue_->Take();
    EXPECT_TRUE(w.ok()) << w.error().ToString();
    return w.ok() && !w->has_value();
  }

  Record Get(const std::string& id) { return queue_->Show(id)->record; }
};

TEST_F(ScheduleTest, TakeOnAnEmptyQueueReturnsNothing) { EXPECT_TRUE(NothingToTake()); }

TEST_F(ScheduleTest, ReceivedRequestsAreNotHandedOut) {
  ASSERT_TRUE(queue_->Enqueue(MakeReset("r1", "alice", clock_.Now())).ok());
  EXPECT_TRUE(NothingToTake());
}

TEST_F(ScheduleTest, OneAccountIsServedInAcceptOrderOneAtATime) {
  AddReady("a1", "alice");
  AddReady("a2", "alice");
  AddReady("b1", "bob");
  EXPECT_EQ(MustTake().record.info.id, "a1");
  EXPECT_EQ(MustTake().record.info.id, "b1");
  EXPECT_TRUE(NothingToTake());  // a2 waits for a1
  ASSERT_TRUE(queue_->Finish("a1", Succeeded()).ok());
  EXPECT_EQ(MustTake().record.info.id, "a2");
}

TEST_F(ScheduleTest, AnUnadmittedOlderRequestHoldsBackItsAccount) {
  ASSERT_TRUE(queue_->Enqueue(MakeReset("a1", "alice", clock_.Now())).ok());  // received
  AddReady("a2", "alice");
  EXPECT_TRUE(NothingToTake());
  ASSERT_TRUE(queue_->Finish("a1", Rejected()).ok());
  EXPECT_EQ(MustTake().record.info.id, "a2");
}

TEST_F(ScheduleTest, ARequestInBackoffHoldsBackItsAccount) {
  AddReady("a1", "alice");
  AddReady("a2", "alice");
  MustTake();
  ASSERT_TRUE(queue_->Retry("a1", Transient()).ok());
  EXPECT_TRUE(NothingToTake());  // a1 waits for its backoff; a2 must not overtake it
  clock_.Advance(seconds(1));
  EXPECT_EQ(MustTake().record.info.id, "a1");
}

TEST_F(ScheduleTest, InFlightIsBounded) {
  Options o = DefaultOptions();
  o.max_in_flight = 2;
  OpenWith(o);
  AddReady("a1", "alice");
  AddReady("b1", "bob");
  AddReady("c1", "carol");
  MustTake();
  MustTake();
  EXPECT_TRUE(NothingToTake());
  ASSERT_TRUE(queue_->Finish("a1", Succeeded()).ok());
  EXPECT_EQ(MustTake().record.info.id, "c1");
}

TEST_F(ScheduleTest, BackoffDoublesUpToTheCap) {
  Options o = DefaultOptions();
  o.backoff_base = seconds(1);
  o.backoff_cap = seconds(5);
  OpenWith(o);
  jitter_ = 0.999999;  // delay just under the full backoff
  AddReady("r1", "alice");
  const std::vector<milliseconds> want = {seconds(1), seconds(2), seconds(4), seconds(5),
                                          seconds(5)};
  for (milliseconds d : want) {
    MustTake();
    ASSERT_TRUE(queue_->Retry("r1", Transient()).ok());
    const WallTime next = Get("r1").not_before;
    EXPECT_NEAR(std::chrono::duration<double>(next - clock_.Now()).count(),
                std::chrono::duration<double>(d).count(), 0.002);
    auto due = queue_->NextReadyTime();
    ASSERT_TRUE(due.ok());
    EXPECT_EQ(**due, next);
    clock_.Advance(next - clock_.Now() - milliseconds(1));
    EXPECT_TRUE(NothingToTake());
    clock_.Advance(milliseconds(1));
  }
  EXPECT_EQ(Get("r1").attempts, 5);
}

// After a reload (the administrator fixed the cause), every request waiting out a back-off
// is eligible at once; those already due and other states are left alone.
TEST_F(ScheduleTest, RetryWaitingNowEndsEveryBackoff) {
  AddReady("r1", "alice");
  AddReady("r2", "bob");
  AddReady("r3", "carol");
  MustTake();
  MustTake();
  ASSERT_TRUE(queue_->Retry("r1", Transient()).ok());
  ASSERT_TRUE(queue_->Retry("r2", Transient()).ok());
  EXPECT_GT(Get("r1").not_before, clock_.Now());
  const WallTime r3_not_before = Get("r3").not_before;

  auto woken = queue_->RetryWaitingNow();
  ASSERT_TRUE(woken.ok()) << woken.error().ToString();
  EXPECT_EQ(*woken, 2);
  EXPECT_EQ(Get("r1").not_before, clock_.Now());
  EXPECT_EQ(Get("r3").not_before, r3_not_before);
  EXPECT_EQ(Get("r1").attempts, 1) << "the attempt that failed still counts";
  EXPECT_EQ(MustTake().record.info.id, "r1") << "due now, first in line";
  auto again = queue_->RetryWaitingNow();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, 0) << "nothing is waiting out a back-off any more";
}

TEST_F(ScheduleTest, JitterComesFromTheInjectedRandomness) {
  AddReady("r1", "alice");
  MustTake();
  jitter_ = 0.0;  // half the backoff
  ASSERT_TRUE(queue_->Retry("r1", Transient()).ok());
  EXPECT_EQ(Get("r1").not_before - clock_.Now(), milliseconds(500));
}

TEST_F(ScheduleTest, RetryThatWouldStartAfterExpiryExpiresTheRequest) {
  Options o = DefaultOptions();
  o.backoff_base = seconds(60);  // the first retry, even with the least jitter, is 30 s away
  OpenWith(o);
  ASSERT_TRUE(queue_->Enqueue(MakeReset("r1", "alice", clock_.Now(), seconds(20))).ok());
  ASSERT_TRUE(queue_->MarkReady("r1").ok());
  MustTake();
  auto state = queue_->Retry("r1", Transient());
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(state->state, State::kExpired);
  Record rec = Get("r1");
  EXPECT_EQ(rec.state, State::kExpired);
  // The expiry to report comes back from the call itself, as stored.
  ASSERT_TRUE(state->outcome.has_value());
  EXPECT_EQ(state->outcome->code, "expired");
  EXPECT_EQ(state->finished_at, rec.finished_at);
  EXPECT_EQ(state->last_error_code, rec.last_error_code);
  EXPECT_FALSE(rec.secret_stored);
  ASSERT_TRUE(rec.outcome.has_value());
  EXPECT_EQ(rec.outcome->code, "expired");
  EXPECT_TRUE(DocumentedInTroubleshooting(rec.outcome->code));
  EXPECT_TRUE(rec.outcome->transient);
  EXPECT_NE(rec.outcome->message.find("directory_unavailable"), std::string::npos);
  EXPECT_EQ(rec.last_error_code, "directory_unavailable");
}

TEST_F(ScheduleTest, RetriesContinueUntilExpiry) {
  ASSERT_TRUE(queue_->Enqueue(MakeReset("r1", "alice", clock_.Now(), seconds(60))).ok());
  ASSERT_TRUE(queue_->MarkReady("r1").ok());
  jitter_ = 0.5;
  State state = State::kReady;
  int attempts = 0;
  while (state == State::kReady) {
    clock_.Advance(Get("r1").not_before - clock_.Now());
    MustTake();
    ++attempts;
    auto s = queue_->Retry("r1", Transient());
    ASSERT_TRUE(s.ok());
    state = s->state;
  }
  EXPECT_EQ(state, State::kExpired);
  EXPECT_LT(clock_.Now(), Get("r1").info.expires_at);
  EXPECT_EQ(Get("r1").attempts, attempts);
  EXPECT_GE(attempts, 5);  // 0.75 + 1.5 + 3 + 6 + 12 + 24 s of backoff fit in 60 s
}

// Take leaves the expiry to Maintain, so that the caller learns of every expiry from one call.
TEST_F(ScheduleTest, AReadyRequestPastItsExpiryIsNotHandedOutAndMaintenanceExpiresIt) {
  ASSERT_TRUE(queue_->Enqueue(MakeReset("r1", "alice", clock_.Now(), seconds(60))).ok());
  ASSERT_TRUE(queue_->MarkReady("r1").ok());
  clock_.Advance(seconds(60));
  EXPECT_TRUE(NothingToTake());
  EXPECT_EQ(Get("r1").state, State::kReady);
  auto report = queue_->Maintain();
  ASSERT_TRUE(report.ok()) << report.error().ToString();
  ASSERT_EQ(report->expired.size(), 1u);
  EXPECT_EQ(report->expired[0].info.id, "r1");
  Record rec = Get("r1");
  EXPECT_EQ(rec.state, State::kExpired);
  EXPECT_FALSE(rec.outcome->transient);
  EXPECT_FALSE(rec.secret_stored);
}

TEST_F(ScheduleTest, AReceivedRequestPastItsExpiryIsExpiredByMaintenance) {
  ASSERT_TRUE(queue_->Enqueue(MakeReset("r1", "alice", clock_.Now(), seconds(60))).ok());
  clock_.Advance(seconds(61));
  auto report = queue_->Maintain();
  ASSERT_TRUE(report.ok()) << report.error().ToString();
  ASSERT_EQ(report->expired.size(), 1u);
  EXPECT_EQ(Get("r1").state, State::kExpired);
  EXPECT_EQ(queue_->MarkReady("r1").code(), Code::kFailedPrecondition);
}

// The report carries what the caller needs to record and report each expiry: the terminal
// record, each once, in accept order; and nothing not yet due.
TEST_F(ScheduleTest, MaintenanceReportsEachRequestItExpiredOnceWithItsRecord) {
  ASSERT_TRUE(queue_->Enqueue(MakeReset("r1", "alice", clock_.Now(), seconds(60))).ok());
  ASSERT_TRUE(queue_->Enqueue(MakeReset("r2", "bob", clock_.Now(), seconds(60))).ok());
  ASSERT_TRUE(queue_->MarkReady("r2").ok());
  ASSERT_TRUE(queue_->Enqueue(MakeReset("r3", "carol", clock_.Now(), seconds(120))).ok());
  clock_.Advance(seconds(60));
  auto first = queue_->Maintain();
  ASSERT_TRUE(first.ok()) << first.error().ToString();
  ASSERT_EQ(first->expired.size(), 2u);
  EXPECT_EQ(first->expired[0].info.id, "r1");
  EXPECT_EQ(first->expired[1].info.id, "r2");
  for (const Record& r : first->expired) {
    EXPECT_EQ(r.state, State::kExpired);
    ASSERT_TRUE(r.outcome.has_value());
    EXPECT_EQ(r.outcome->code, "expired");
    EXPECT_TRUE(r.finished_at.has_value());
    EXPECT_FALSE(r.acknowledged_at.has_value());
    EXPECT_EQ(r.info.target, Get(r.info.id).info.target);
  }
  auto second = queue_->Maintain();
  ASSERT_TRUE(second.ok());
  EXPECT_TRUE(second->expired.empty());
  EXPECT_EQ(Get("r3").state, State::kReceived);
}

// A worker waits until NextReadyTime: a request it cannot take must not be counted there, or
// the worker would wake at once, find nothing, and wake again.
TEST_F(ScheduleTest, NextReadyTimeLeavesOutExpiredRequestsAndThoseWaitingForTheirAccount) {
  ASSERT_TRUE(queue_->Enqueue(MakeReset("r1", "alice", clock_.Now(), seconds(60))).ok());
  ASSERT_TRUE(queue_->MarkReady("r1").ok());
  AddReady("a1", "bob");
  AddReady("a2", "bob");
  EXPECT_EQ(MustTake().record.info.id, "r1");
  ASSERT_TRUE(queue_->Finish("r1", Rejected()).ok());
  EXPECT_EQ(MustTake().record.info.id, "a1");  // a2 now waits behind a1
  auto due = queue_->NextReadyTime();
  ASSERT_TRUE(due.ok());
  EXPECT_FALSE(due->has_value());

  ASSERT_TRUE(queue_->Enqueue(MakeReset("x1", "carol", clock_.Now(), seconds(10))).ok());
  ASSERT_TRUE(queue_->MarkReady("x1").ok());
  due = queue_->NextReadyTime();
  ASSERT_TRUE(due.ok() && due->has_value());
  clock_.Advance(seconds(10));  // x1 is past its expiry, not yet expired by Maintain
  due = queue_->NextReadyTime();
  ASSERT_TRUE(due.ok());
  EXPECT_FALSE(due->has_value());
}

// A worker that is not needed while the bound is reached (an attempt whose Finish failed
// keeps its slot until the next start) must wait, not be told that work is due, take nothing,
// and ask again at once.
TEST_F(ScheduleTest, NextReadyTimeIsUnsetWhileTheInFlightBoundIsReached) {
  Options o = DefaultOptions();
  o.max_in_flight = 1;
  OpenWith(o);
  AddReady("a1", "alice");
  AddReady("b1", "bob");
  EXPECT_EQ(MustTake().record.info.id, "a1");
  auto due = queue_->NextReadyTime();
  ASSERT_TRUE(due.ok());
  EXPECT_FALSE(due->has_value()) << "b1 is ready, but the only slot is taken";
  EXPECT_TRUE(NothingToTake());

  ASSERT_TRUE(queue_->Finish("a1", Succeeded()).ok());
  due = queue_->NextReadyTime();
  ASSERT_TRUE(due.ok());
  ASSERT_TRUE(due->has_value());
  EXPECT_LE(**due, clock_.Now());
  EXPECT_EQ(MustTake().record.info.id, "b1");
}

TEST_F(ScheduleTest, NextReadyTimeIsUnsetWithoutReadyRequests) {
  auto due = queue_->NextReadyTime();
  ASSERT_TRUE(due.ok());
  EXPECT_FALSE(due->has_value());
}

// Several workers take and finish work at once: per account, requests are applied in accept
// order and never two at a time; overall, never more than max_in_flight.
TEST_F(ScheduleTest, ConcurrentWorkersKeepPerAccountOrderAndTheBound) {
  Options o = DefaultOptions();
  o.max_in_flight = 3;
  OpenWith(o);
  constexpr int kAccounts = 5;
  constexpr int kPerAccount = 8;
  std::map<std::string, std::vector<std::string>> accepted;  // account -> ids in accept order
  for (int i = 0; i < kPerAccount; ++i) {
    for (int a = 0; a < kAccounts; ++a) {
      std::string account = "user" + std::to_string(a);
      std::string id = account + "-" + std::to_string(i);
      AddReady(id, account);
      accepted["corp|" + account].push_back(id);
    }
  }
  if (HasFatalFailure()) return;
  std::mutex mu;
  std::set<std::string> active_accounts;
  std::map<std::string, std::vector<std::string>> applied;
  int in_flight = 0;
  int max_seen = 0;
  int done = 0;
  std::vector<std::string> violations;
  const auto deadline = std::chrono::steady_clock::now() + seconds(60);
  auto worker = [&] {
    for (;;) {
      {
        std::lock_guard l(mu);
        if (done == kAccounts * kPerAccount || !violations.empty()) return;
        if (std::chrono::steady_clock::now() > deadline) {
          violations.push_back("workers did not finish in time");
          return;
        }
      }
      auto w = queue_->Take();
      if (!w.ok()) {
        std::lock_guard l(mu);
        violations.push_back(w.error().ToString());
        return;
      }
      if (!w->has_value()) {
        std::this_thread::yield();
        continue;
      }
      const Record& r = (*w)->record;
      {
        std::lock_guard l(mu);
        if (!active_accounts.insert(r.info.account_key).second) {
          violations.push_back("two in flight for " + r.info.account_key);
        }
        max_seen = std::max(max_seen, ++in_flight);
        applied[r.info.account_key].push_back(r.info.id);
      }
      std::this_thread::sleep_for(milliseconds(1));
      {
        std::lock_guard l(mu);
        active_accounts.erase(r.info.account_key);
        --in_flight;
      }
      Status s = StatusOf(queue_->Finish(r.info.id, Succeeded()));
      std::lock_guard l(mu);
      if (!s.ok()) violations.push_back(s.ToString());
      ++done;
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) threads.emplace_back(worker);
  for (auto& t : threads) t.join();
  EXPECT_TRUE(violations.empty()) << violations.front();
  EXPECT_EQ(applied, accepted);
  EXPECT_LE(max_seen, 3);
}

}  // namespace
}  // namespace wb::queue::testing
