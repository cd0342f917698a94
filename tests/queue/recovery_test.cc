// Crash recovery: attempts found `applying` at Open, and the two ways out of them.

#include <gtest/gtest.h>

#include <string>

#include "tests/queue/queue_test_util.h"

namespace wb::queue::testing {
namespace {

class RecoveryTest : public QueueTest {
 protected:
  void SetUp() override {
    Open();
    AddReady("r1", "alice");
    clock_.Advance(seconds(3));
    attempt_start_ = clock_.Now();
    MustTake();
    clock_.Advance(seconds(10));
    Reopen();  // as if the process had died during the attempt
  }

  Record Get(const std::string& id) { return queue_->Show(id)->record; }

  WallTime attempt_start_;
};

TEST_F(RecoveryTest, InterruptedAttemptIsReportedWithItsStartTime) {
  auto interrupted = queue_->InterruptedAttempts();
  ASSERT_TRUE(interrupted.ok()) << interrupted.error().ToString();
  ASSERT_EQ(interrupted->size(), 1u);
  const Record& r = interrupted->front();
  EXPECT_EQ(r.info.id, "r1");
  EXPECT_EQ(r.state, State::kApplying);
  EXPECT_EQ(r.attempts, 1);
  EXPECT_EQ(r.attempt_started_at, attempt_start_);
  EXPECT_EQ(queue_->GetStats()->interrupted, 1);
}

TEST_F(RecoveryTest, OwnAttemptsAreNotInterrupted) {
  AddReady("r2", "bob");
  MustTake();
  auto interrupted = queue_->InterruptedAttempts();
  ASSERT_TRUE(interrupted.ok());
  ASSERT_EQ(interrupted->size(), 1u);
  EXPECT_EQ(interrupted->front().info.id, "r1");
}

TEST_F(RecoveryTest, FoundAppliedMarksItSucceeded) {
  ASSERT_TRUE(queue_->MarkFoundApplied("r1", "ldaps://dc2.example.test").ok());
  Record r = Get("r1");
  EXPECT_EQ(r.state, State::kSucceeded);
  EXPECT_EQ(r.outcome->code, "succeeded");
  EXPECT_EQ(r.outcome->server, "ldaps://dc2.example.test");
  EXPECT_FALSE(r.secret_stored);
  EXPECT_EQ(queue_->Show("r1")->history.back().event, "found_applied");
  EXPECT_TRUE(queue_->InterruptedAttempts()->empty());
  EXPECT_EQ(queue_->PendingResults(10)->size(), 1u);
}

TEST_F(RecoveryTest, RequeueMakesItReadyForAnotherAttempt) {
  ASSERT_TRUE(queue_->RequeueInterrupted("r1").ok());
  EXPECT_EQ(Get("r1").state, State::kReady);
  EXPECT_EQ(queue_->Show("r1")->history.back().event, "requeued_after_interruption");
  Work w = MustTake();
  EXPECT_EQ(w.record.info.id, "r1");
  EXPECT_EQ(w.record.attempts, 2);
  EXPECT_EQ(w.new_password.view(), PasswordFor("r1"));
  EXPECT_TRUE(queue_->Finish("r1", Succeeded()).ok());
}

TEST_F(RecoveryTest, AnInterruptedAttemptHoldsBackItsAccountUntilResolved) {
  AddReady("r2", "alice");
  auto w = queue_->Take();
  ASSERT_TRUE(w.ok());
  EXPECT_FALSE(w->has_value());
  ASSERT_TRUE(queue_->MarkFoundApplied("r1", "").ok());
  EXPECT_EQ(MustTake().record.info.id, "r2");
}

TEST_F(RecoveryTest, FinishOfAnInterruptedAttemptIsRefused) {
  const Status s = StatusOf(queue_->Finish("r1", Succeeded()));
  EXPECT_EQ(s.code(), Code::kFailedPrecondition);
  EXPECT_NE(s.message().find("RequeueInterrupted"), std::string::npos);
}

TEST_F(RecoveryTest, RetryOfAnInterruptedAttemptIsRefused) {
  EXPECT_EQ(queue_->Retry("r1", Transient()).error().code(), Code::kFailedPrecondition);
}

TEST_F(RecoveryTest, FoundAppliedOfAnAttemptOfThisProcessIsRefused) {
  AddReady("r2", "bob");
  MustTake();
  EXPECT_EQ(queue_->MarkFoundApplied("r2", "").code(), Code::kFailedPrecondition);
}

TEST_F(RecoveryTest, RequeueOfAReadyRequestIsRefused) {
  AddReady("r2", "bob");
  EXPECT_EQ(queue_->RequeueInterrupted("r2").code(), Code::kFailedPrecondition);
}

TEST_F(RecoveryTest, RequeueOfUnknownIdIsNotFound) {
  EXPECT_EQ(queue_->RequeueInterrupted("nope").code(), Code::kNotFound);
}

TEST_F(RecoveryTest, ResolvedStateSurvivesAnotherRestart) {
  ASSERT_TRUE(queue_->RequeueInterrupted("r1").ok());
  Reopen();
  EXPECT_TRUE(queue_->InterruptedAttempts()->empty());
  EXPECT_EQ(Get("r1").state, State::kReady);
}

TEST_F(RecoveryTest, ReceivedRequestsSurviveARestartForReadmission) {
  ASSERT_TRUE(queue_->Enqueue(MakeReset("r2", "bob", clock_.Now())).ok());
  Reopen();
  auto received = queue_->List({.state = State::kReceived});
  ASSERT_TRUE(received.ok());
  ASSERT_EQ(received->size(), 1u);
  EXPECT_EQ(received->front().info.id, "r2");
}

}  // namespace
}  // namespace wb::queue::testing
