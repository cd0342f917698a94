// The outbox, retention, and the durable replay memory.

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "tests/queue/queue_test_util.h"

namespace wb::queue::testing {
namespace {

class OutboxTest : public QueueTest {
 protected:
  void SetUp() override { Open(); }

  void Finished(const std::string& id, const std::string& account) {
    ASSERT_TRUE(queue_->Enqueue(MakeReset(id, account, clock_.Now())).ok());
    ASSERT_TRUE(queue_->Finish(id, Rejected()).ok());
  }

  std::vector<std::string> PendingIds() {
    std::vector<std::string> out;
    auto pending = queue_->PendingResults(100);
    EXPECT_TRUE(pending.ok());
    if (pending.ok()) {
      for (const auto& r : *pending) out.push_back(r.info.id);
    }
    return out;
  }
};

TEST_F(OutboxTest, PendingResultsListTerminalUnacknowledgedInFinishOrder) {
  ASSERT_TRUE(queue_->Enqueue(MakeReset("r1", "alice", clock_.Now())).ok());
  Finished("r2", "bob");
  clock_.Advance(seconds(1));
  ASSERT_TRUE(queue_->Finish("r1", Rejected()).ok());
  ASSERT_TRUE(queue_->Enqueue(MakeReset("r3", "carol", clock_.Now())).ok());  // unfinished
  EXPECT_EQ(PendingIds(), (std::vector<std::string>{"r2", "r1"}));
  EXPECT_EQ(queue_->PendingResults(1)->size(), 1u);
}

// Pages after a position continue the same order: finished_at, then seq among results that
// finished in the same millisecond; nothing is skipped or listed twice.
TEST_F(OutboxTest, PendingResultsPageOnAfterAPositionInTheSameOrder) {
  Finished("r1", "alice");
  Finished("r2", "bob");  // the same millisecond: by seq
  clock_.Advance(seconds(1));
  Finished("r3", "carol");
  Finished("r4", "dave");
  clock_.Advance(seconds(1));
  Finished("r5", "erin");
  std::vector<std::string> paged;
  std::optional<OutboxPosition> after;
  for (int page = 0; page < 10; ++page) {
    auto pending = queue_->PendingResults(2, after);
    ASSERT_TRUE(pending.ok()) << pending.error().ToString();
    for (const auto& r : *pending) paged.push_back(r.info.id);
    if (pending->size() < 2) break;
    after = PositionInOutbox(pending->back());
  }
  EXPECT_EQ(paged, (std::vector<std::string>{"r1", "r2", "r3", "r4", "r5"}));
  EXPECT_EQ(PendingIds(), paged) << "a page after a position changed the first page";
}

TEST_F(OutboxTest, PendingResultsSurviveARestart) {
  Finished("r1", "alice");
  Reopen();
  EXPECT_EQ(PendingIds(), std::vector<std::string>{"r1"});
}

TEST_F(OutboxTest, AcknowledgedResultsLeaveTheOutbox) {
  Finished("r1", "alice");
  Finished("r2", "bob");
  ASSERT_TRUE(queue_->AcknowledgeResult("r1").ok());
  EXPECT_EQ(PendingIds(), std::vector<std::string>{"r2"});
  Reopen();
  EXPECT_EQ(PendingIds(), std::vector<std::string>{"r2"});
}

// One transaction for the batch; per id the record as it now is (what the agent records the
// acknowledgement from) or the error, and one id's error leaves the others acknowledged.
TEST_F(OutboxTest, AcknowledgeResultsReturnsEachRecordOrItsError) {
  Finished("r1", "alice");
  Finished("r2", "bob");
  const std::vector<std::string> ids = {"r1", "nope", "r2", "r1"};
  const std::vector<Result<Record>> acked = queue_->AcknowledgeResults(ids);
  ASSERT_EQ(acked.size(), 4u);
  ASSERT_TRUE(acked[0].ok()) << acked[0].error().ToString();
  EXPECT_EQ(acked[0]->info.id, "r1");
  EXPECT_EQ(acked[0]->state, State::kRejected);  // as Finished() ends it
  ASSERT_TRUE(acked[0]->outcome.has_value());
  EXPECT_EQ(acked[0]->outcome->code, "policy_too_short");
  ASSERT_FALSE(acked[1].ok());
  EXPECT_EQ(acked[1].error().code(), Code::kNotFound);
  ASSERT_TRUE(acked[2].ok());
  EXPECT_EQ(acked[2]->info.id, "r2");
  ASSERT_FALSE(acked[3].ok()) << "the second acknowledgement of r1 in the batch";
  EXPECT_EQ(acked[3].error().code(), Code::kAlreadyExists);
  EXPECT_TRUE(PendingIds().empty());
}

// The caller records each acknowledgement once: a repeated one, in a later batch, says so and
// changes nothing (the record's acknowledged_at stays the first one's).
TEST_F(OutboxTest, AnAcknowledgementRepeatedLaterIsAlreadyExistsAndChangesNothing) {
  Finished("r1", "alice");
  const std::vector<std::string> ids = {"r1"};
  const std::vector<Result<Record>> first = queue_->AcknowledgeResults(ids);
  ASSERT_TRUE(first[0].ok()) << first[0].error().ToString();
  ASSERT_TRUE(first[0]->acknowledged_at.has_value());
  clock_.Advance(std::chrono::seconds(5));
  const std::vector<Result<Record>> again = queue_->AcknowledgeResults(ids);
  ASSERT_FALSE(again[0].ok());
  EXPECT_EQ(again[0].error().code(), Code::kAlreadyExists);
  auto shown = queue_->Show("r1");
  ASSERT_TRUE(shown.ok());
  EXPECT_EQ(shown->record.acknowledged_at, first[0]->acknowledged_at);
  EXPECT_TRUE(queue_->AcknowledgeResult("r1").ok()) << "the single call still takes it as OK";
}

TEST_F(OutboxTest, AcknowledgedRecordsArePurgedAfterRetention) {
  Finished("r1", "alice");
  ASSERT_TRUE(queue_->AcknowledgeResult("r1").ok());
  clock_.Advance(DefaultOptions().retention - seconds(1));
  EXPECT_EQ(queue_->Maintain()->purged_records, 0);
  clock_.Advance(seconds(1));
  auto report = queue_->Maintain();
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->purged_records, 1);
  EXPECT_EQ(queue_->Show("r1").error().code(), Code::kNotFound);
  EXPECT_EQ(RawSql(db_path(), "SELECT count(*) FROM requests WHERE id = 'r1'"), "0");
}

TEST_F(OutboxTest, UnacknowledgedResultsAreKeptForTheirLongerRetention) {
  Finished("r1", "alice");
  clock_.Advance(DefaultOptions().retention + hours(1));
  EXPECT_EQ(queue_->Maintain()->purged_records, 0);
  EXPECT_EQ(PendingIds(), std::vector<std::string>{"r1"});
  clock_.Advance(DefaultOptions().unacknowledged_retention);
  EXPECT_EQ(queue_->Maintain()->purged_records, 1);
  EXPECT_TRUE(PendingIds().empty());
}

TEST_F(OutboxTest, UnfinishedRequestsAreNeverPurged) {
  ASSERT_TRUE(queue_->Enqueue(MakeReset("r1", "alice", clock_.Now(), hours(24 * 365))).ok());
  clock_.Advance(hours(24 * 100));
  EXPECT_EQ(queue_->Maintain()->purged_records, 0);
  EXPECT_EQ(queue_->Show("r1")->record.state, State::kReceived);
}

TEST_F(OutboxTest, APurgedIdIsRefusedAsAReplay) {
  Request req = MakeReset("r1", "alice", clock_.Now(), hours(24 * 30));
  ASSERT_TRUE(queue_->Enqueue(req).ok());
  ASSERT_TRUE(queue_->Finish("r1", Rejected()).ok());
  ASSERT_TRUE(queue_->AcknowledgeResult("r1").ok());
  clock_.Advance(DefaultOptions().retention);
  ASSERT_EQ(queue_->Maintain()->purged_records, 1);
  Reopen();
  auto again = queue_->Enqueue(req);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code(), Code::kAlreadyExists);
  EXPECT_EQ(queue_->Show("r1").error().code(), Code::kNotFound);
  // The intake's look before it learns a new (id, nonce) pair sees it too.
  auto held = queue_->HoldsRequest("r1");
  ASSERT_TRUE(held.ok());
  EXPECT_TRUE(*held);
}

// A record purged before its request expires (a retention shorter than the request's life)
// leaves its id in the replay memory until the expiry plus the skew, and no longer.
TEST_F(OutboxTest, AnIdPurgedBeforeItsExpiryIsRememberedUntilExpiryPlusSkew) {
  Options o = DefaultOptions();
  o.retention = hours(1);
  queue_.reset();
  auto reopened = OpenQueue(o);
  ASSERT_TRUE(reopened.ok()) << reopened.error().ToString();
  queue_ = std::move(reopened).value();
  Request req = MakeReset("r1", "alice", clock_.Now(), hours(24));
  ASSERT_TRUE(queue_->Enqueue(req).ok());
  EXPECT_EQ(queue_->GetStats()->replay_entries, 0);  // the record remembers its id
  ASSERT_TRUE(queue_->Finish("r1", Rejected()).ok());
  ASSERT_TRUE(queue_->AcknowledgeResult("r1").ok());
  clock_.Advance(hours(1));
  ASSERT_EQ(queue_->Maintain()->purged_records, 1);
  EXPECT_EQ(queue_->GetStats()->replay_entries, 1);
  EXPECT_EQ(queue_->Enqueue(req).error().code(), Code::kAlreadyExists);

  clock_.Advance(hours(23) + o.clock_skew - seconds(1));
  EXPECT_EQ(queue_->Maintain()->forgotten_replay_entries, 0);
  EXPECT_EQ(queue_->Enqueue(req).error().code(), Code::kAlreadyExists);
  clock_.Advance(seconds(1));
  EXPECT_EQ(queue_->Maintain()->forgotten_replay_entries, 1);
  EXPECT_EQ(queue_->GetStats()->replay_entries, 0);
  EXPECT_EQ(queue_->Enqueue(req).error().code(), Code::kFailedPrecondition);  // expired
}

// A record purged after its request expired needs no replay entry: the request can never be
// stored again, because an expired request is refused.
TEST_F(OutboxTest, AnIdPurgedAfterItsExpiryLeavesNoReplayEntryAndIsStillNeverStoredTwice) {
  Request req = MakeReset("r1", "alice", clock_.Now(), hours(1));
  ASSERT_TRUE(queue_->Enqueue(req).ok());
  ASSERT_TRUE(queue_->Finish("r1", Rejected()).ok());
  ASSERT_TRUE(queue_->AcknowledgeResult("r1").ok());
  clock_.Advance(DefaultOptions().retention);
  ASSERT_EQ(queue_->Maintain()->purged_records, 1);
  EXPECT_EQ(queue_->GetStats()->replay_entries, 0);
  auto again = queue_->Enqueue(req);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code(), Code::kFailedPrecondition);
  EXPECT_EQ(queue_->Show("r1").error().code(), Code::kNotFound);
}

TEST_F(OutboxTest, ANonceIsNewOnceAndThenAReplay) {
  auto first = queue_->RememberNonce("n-1", clock_.Now() + minutes(5));
  ASSERT_TRUE(first.ok()) << first.error().ToString();
  EXPECT_TRUE(*first);
  EXPECT_FALSE(*queue_->RememberNonce("n-1", clock_.Now() + minutes(5)));
  EXPECT_TRUE(*queue_->RememberNonce("n-2", clock_.Now() + minutes(5)));
}

TEST_F(OutboxTest, ANonceIsFoundByAnyPrefixOfItAndByNoOther) {
  const std::string high = "pair:\xff\xff/n";  // a prefix ending in 0xFF has no successor byte
  for (const std::string& n : {std::string("pair:a/n-1"), std::string("pair:ab/n-2"), high}) {
    ASSERT_TRUE(*queue_->RememberNonce(n, clock_.Now() + minutes(5)));
  }
  for (const char* prefix : {"pair:a/", "pair:a", "pair:ab/", "pair:", "", "pair:a/n-1"}) {
    auto found = queue_->IsNonceRememberedWithPrefix(prefix);
    ASSERT_TRUE(found.ok()) << found.error().ToString();
    EXPECT_TRUE(*found) << prefix;
  }
  for (const char* prefix : {"pair:b/", "pair:a/n-10", "pair:a/n-2", "pair:ac", "pair;"}) {
    EXPECT_FALSE(*queue_->IsNonceRememberedWithPrefix(prefix)) << prefix;
  }
  EXPECT_TRUE(*queue_->IsNonceRememberedWithPrefix("pair:\xff"));
  EXPECT_TRUE(*queue_->IsNonceRememberedWithPrefix("pair:\xff\xff/"));
  EXPECT_FALSE(*queue_->IsNonceRememberedWithPrefix("pair:\xff\xff\xff"));
}

TEST_F(OutboxTest, ANonceIsStillAReplayAfterARestart) {
  ASSERT_TRUE(*queue_->RememberNonce("n-1", clock_.Now() + minutes(5)));
  Reopen();
  EXPECT_FALSE(*queue_->RememberNonce("n-1", clock_.Now() + minutes(5)));
}

TEST_F(OutboxTest, ANonceIsRememberedThroughTheClockSkew) {
  ASSERT_TRUE(*queue_->RememberNonce("n-1", clock_.Now() + minutes(5)));
  clock_.Advance(minutes(5) + DefaultOptions().clock_skew - seconds(1));
  ASSERT_TRUE(queue_->Maintain().ok());
  EXPECT_FALSE(*queue_->RememberNonce("n-1", clock_.Now() + minutes(5)));
}

TEST_F(OutboxTest, ANonceIsForgottenAfterExpiryPlusSkew) {
  ASSERT_TRUE(*queue_->RememberNonce("n-1", clock_.Now() + minutes(5)));
  clock_.Advance(minutes(5) + DefaultOptions().clock_skew);
  EXPECT_EQ(queue_->Maintain()->forgotten_replay_entries, 1);
  EXPECT_TRUE(*queue_->RememberNonce("n-1", clock_.Now() + minutes(5)));
}

TEST_F(OutboxTest, AnEmptyNonceIsInvalid) {
  EXPECT_EQ(queue_->RememberNonce("", clock_.Now()).error().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace wb::queue::testing
