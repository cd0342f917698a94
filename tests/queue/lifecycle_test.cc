// Every transition of a request's life, idempotent re-insert, and each refusal.

#include <gtest/gtest.h>

#include <cctype>
#include <filesystem>
#include <string>
#include <vector>

#include "queue/schema.h"
#include "tests/queue/queue_test_util.h"

namespace wb::queue::testing {
namespace {

class LifecycleTest : public QueueTest {
 protected:
  void SetUp() override { Open(); }

  Record Get(const std::string& id) {
    auto d = queue_->Show(id);
    EXPECT_TRUE(d.ok()) << d.error().ToString();
    return d.ok() ? d->record : Record{};
  }

  std::vector<std::string> Events(const std::string& id) {
    std::vector<std::string> out;
    auto d = queue_->Show(id);
    if (d.ok()) {
      for (const auto& e : d->history) out.push_back(e.event);
    }
    return out;
  }
};

TEST_F(LifecycleTest, EnqueueStoresAReceivedRecordAsGiven) {
  Request req = MakeChange("r1", "alice", clock_.Now());
  auto r = queue_->Enqueue(req);
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_TRUE(r->inserted);
  const Record& rec = r->record;
  EXPECT_EQ(rec.info.id, "r1");
  EXPECT_EQ(rec.info.tenant, "tenant-1");
  EXPECT_EQ(rec.info.correlation_id, "corr-1");
  EXPECT_TRUE(rec.info.operations.change);
  EXPECT_FALSE(rec.info.operations.reset);
  EXPECT_EQ(rec.info.target, "alice@example.test");
  EXPECT_EQ(rec.info.target_kind, "upn");
  EXPECT_EQ(rec.info.account_key, "corp|alice");
  EXPECT_EQ(rec.info.issued_at, clock_.Now());
  EXPECT_EQ(rec.info.expires_at, clock_.Now() + hours(1));
  EXPECT_EQ(rec.info.requester_json, req.info.requester_json);
  EXPECT_EQ(rec.info.delivery, 1);
  EXPECT_EQ(rec.state, State::kReceived);
  EXPECT_EQ(rec.attempts, 0);
  EXPECT_EQ(rec.received_at, clock_.Now());
  EXPECT_TRUE(rec.secret_stored);
  EXPECT_FALSE(rec.outcome.has_value());
  EXPECT_EQ(Events("r1"), std::vector<std::string>{"received"});
}

// A rule that keys by the target's lower-case text, and counts its calls.
Options::AccountKeyRule LowerCaseRule(std::string version, int& calls) {
  return {.version = std::move(version),
          .key_of = [&calls](std::string_view kind, std::string_view target) {
            ++calls;
            std::string key = std::string(kind) + ":" + std::string(target);
            for (char& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            return key;
          }};
}

TEST_F(LifecycleTest, ANewAccountKeyRuleReKeysEveryStoredRequestOnceWhenTheQueueOpens) {
  AddReady("r1", "Alice");  // unfinished, keyed "corp|Alice" by the older build
  AddReady("r2", "ALICE");
  ASSERT_EQ(MustTake().record.info.id, "r1");
  ASSERT_TRUE(queue_->Finish("r1", Succeeded()).ok());  // terminal: a password write on record
  queue_.reset();

  int calls = 0;
  Options o = DefaultOptions();
  o.account_key_rule = LowerCaseRule("2", calls);
  auto q = OpenQueue(o);
  ASSERT_TRUE(q.ok()) << q.error().ToString();
  EXPECT_EQ(calls, 2);
  auto r1 = (*q)->Show("r1");
  auto r2 = (*q)->Show("r2");
  ASSERT_TRUE(r1.ok() && r2.ok());
  EXPECT_EQ(r1->record.info.account_key, "upn:alice@example.test");
  EXPECT_EQ(r2->record.info.account_key, "upn:alice@example.test");
  // The two spellings are now one account: r2 sees r1's write as this agent's own.
  auto own = (*q)->LastPasswordWrite("upn:alice@example.test", "r2");
  ASSERT_TRUE(own.ok()) << own.error().ToString();
  EXPECT_TRUE(own->has_value());
  q->reset();

  // Keyed with version 2 once: the next open reads nothing again.
  q = OpenQueue(o);
  ASSERT_TRUE(q.ok()) << q.error().ToString();
  EXPECT_EQ(calls, 2);
  q->reset();
  // A newer rule keys them again.
  o.account_key_rule = LowerCaseRule("3", calls);
  q = OpenQueue(o);
  ASSERT_TRUE(q.ok()) << q.error().ToString();
  EXPECT_EQ(calls, 4);
  EXPECT_EQ(RawSql(db_path(), "SELECT value FROM meta WHERE name = 'account_key_rule'"), "3");
}

TEST_F(LifecycleTest, ReadOnlyOpensLeaveAccountKeysAsStored) {
  AddReady("r1", "Alice");
  int calls = 0;
  Options o = DefaultOptions();
  o.read_only = true;
  o.account_key_rule = LowerCaseRule("2", calls);
  auto q = OpenQueue(o);
  ASSERT_TRUE(q.ok()) << q.error().ToString();
  EXPECT_EQ(calls, 0);
  EXPECT_EQ((*q)->Show("r1")->record.info.account_key, "corp|Alice");
}

TEST_F(LifecycleTest, MarkReadyMovesReceivedToReady) {
  ASSERT_TRUE(queue_->Enqueue(MakeReset("r1", "alice", clock_.Now())).ok());
  clock_.Advance(seconds(2));
  ASSERT_TRUE(queue_->MarkReady("r1").ok());
  Record rec = Get("r1");
  EXPECT_EQ(rec.state, State::kReady);
  EXPECT_EQ(rec.ready_at, clock_.Now());
  EXPECT_EQ(rec.not_before, clock_.Now());
}

TEST_F(LifecycleTest, TakeMovesReadyToApplyingWithAttemptAndPasswords) {
  ASSERT_TRUE(queue_->Enqueue(MakeChange("r1", "alice", clock_.Now())).ok());
  ASSERT_TRUE(queue_->MarkReady("r1").ok());
  clock_.Advance(seconds(3));
  Work w = MustTake();
  EXPECT_EQ(w.record.info.id, "r1");
  EXPECT_EQ(w.record.state, State::kApplying);
  EXPECT_EQ(w.record.attempts, 1);
  EXPECT_EQ(w.record.attempt_started_at, clock_.Now());
  EXPECT_EQ(w.new_password.view(), PasswordFor("r1"));
  EXPECT_EQ(w.old_password.view(), "Old!r1-Kp2w");
  EXPECT_EQ(Get("r1").state, State::kApplying);
}

TEST_F(LifecycleTest, FinishSucceededFromApplyingStoresTheOutcomeAndErasesTheSecret) {
  AddReady("r1", "alice");
  MustTake();
  clock_.Advance(seconds(1));
  ASSERT_TRUE(queue_->Finish("r1", Succeeded()).ok());
  Record rec = Get("r1");
  EXPECT_EQ(rec.state, State::kSucceeded);
  EXPECT_EQ(rec.finished_at, clock_.Now());
  EXPECT_FALSE(rec.secret_stored);
  ASSERT_TRUE(rec.outcome.has_value());
  EXPECT_EQ(rec.outcome->state, State::kSucceeded);
  EXPECT_EQ(rec.outcome->code, "succeeded");
  EXPECT_EQ(rec.outcome->message, "password reset");
  EXPECT_EQ(rec.outcome->server, "ldaps://dc1.example.test");
  EXPECT_EQ(rec.outcome->duration, milliseconds(42));
  EXPECT_FALSE(rec.outcome->transient);
}

// The result is reported from what Finish returns, so it must be the record as stored.
TEST_F(LifecycleTest, FinishReturnsTheRecordAsItIsNowStored) {
  AddReady("r1", "alice");
  MustTake();
  clock_.Advance(seconds(1));
  auto finished = queue_->Finish("r1", Succeeded());
  ASSERT_TRUE(finished.ok()) << finished.error().ToString();
  const Record stored = Get("r1");
  EXPECT_EQ(finished->info.id, "r1");
  EXPECT_EQ(finished->state, stored.state);
  EXPECT_EQ(finished->finished_at, stored.finished_at);
  EXPECT_EQ(finished->received_at, stored.received_at);
  EXPECT_EQ(finished->attempts, stored.attempts);
  EXPECT_FALSE(finished->secret_stored);
  ASSERT_TRUE(finished->outcome.has_value());
  EXPECT_EQ(finished->outcome->code, stored.outcome->code);
  EXPECT_EQ(finished->outcome->message, stored.outcome->message);
}

TEST_F(LifecycleTest, FinishRejectedFromReceivedIsAPolicyDenial) {
  ASSERT_TRUE(queue_->Enqueue(MakeReset("r1", "alice", clock_.Now())).ok());
  ASSERT_TRUE(queue_->Finish("r1", Rejected("policy_protected_account")).ok());
  Record rec = Get("r1");
  EXPECT_EQ(rec.state, State::kRejected);
  EXPECT_EQ(rec.outcome->code, "policy_protected_account");
  EXPECT_EQ(rec.attempts, 0);
  EXPECT_FALSE(rec.secret_stored);
}

TEST_F(LifecycleTest, FinishFailedFromApplying) {
  AddReady("r1", "alice");
  MustTake();
  Outcome failed{.state = State::kFailed, .code = "user_not_found", .message = "no such user"};
  ASSERT_TRUE(queue_->Finish("r1", failed).ok());
  EXPECT_EQ(Get("r1").state, State::kFailed);
  EXPECT_EQ(Get("r1").outcome->code, "user_not_found");
}

TEST_F(LifecycleTest, FinishFailedFromReady) {
  AddReady("r1", "alice");
  Outcome failed{.state = State::kFailed, .code = "no_directory_for_target"};
  ASSERT_TRUE(queue_->Finish("r1", failed).ok());
  EXPECT_EQ(Get("r1").state, State::kFailed);
}

TEST_F(LifecycleTest, RetryReturnsApplyingToReadyAndRecordsTheError) {
  AddReady("r1", "alice");
  MustTake();
  auto state = queue_->Retry("r1", Transient());
  ASSERT_TRUE(state.ok()) << state.error().ToString();
  EXPECT_EQ(state->state, State::kReady);
  Record rec = Get("r1");
  EXPECT_EQ(rec.state, State::kReady);
  // The returned record is the stored one: the caller needs no second read.
  EXPECT_EQ(state->not_before, rec.not_before);
  EXPECT_EQ(state->last_error_code, rec.last_error_code);
  EXPECT_EQ(rec.last_error_code, "directory_unavailable");
  EXPECT_EQ(rec.last_error_message, "connection refused");
  EXPECT_TRUE(rec.secret_stored);
  EXPECT_GT(rec.not_before, clock_.Now());
}

TEST_F(LifecycleTest, AcknowledgeResultMarksTheTerminalRecord) {
  AddReady("r1", "alice");
  MustTake();
  ASSERT_TRUE(queue_->Finish("r1", Succeeded()).ok());
  clock_.Advance(seconds(5));
  ASSERT_TRUE(queue_->AcknowledgeResult("r1").ok());
  EXPECT_EQ(Get("r1").acknowledged_at, clock_.Now());
  EXPECT_EQ(Get("r1").state, State::kSucceeded);
}

TEST_F(LifecycleTest, HistoryRecordsEveryTransitionInOrder) {
  AddReady("r1", "alice");
  MustTake();
  ASSERT_TRUE(queue_->Retry("r1", Transient()).ok());
  clock_.Advance(minutes(2));
  MustTake();
  ASSERT_TRUE(queue_->Finish("r1", Succeeded()).ok());
  ASSERT_TRUE(queue_->AcknowledgeResult("r1").ok());
  EXPECT_EQ(Events("r1"),
            (std::vector<std::string>{"received", "ready", "applying", "retry_scheduled",
                                      "applying", "succeeded", "result_acknowledged"}));
  auto d = queue_->Show("r1");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->history[3].code, "directory_unavailable");
  EXPECT_EQ(d->history[3].attempts, 1);
  EXPECT_EQ(d->history[4].attempts, 2);
  EXPECT_EQ(d->history[5].state, State::kSucceeded);
}

TEST_F(LifecycleTest, ReinsertOfAKnownIdReturnsTheExistingRecord) {
  auto first = queue_->Enqueue(MakeReset("r1", "alice", clock_.Now()));
  ASSERT_TRUE(first.ok());
  clock_.Advance(seconds(1));
  auto again = queue_->Enqueue(MakeReset("r1", "bob", clock_.Now()));
  ASSERT_TRUE(again.ok()) << again.error().ToString();
  EXPECT_FALSE(again->inserted);
  EXPECT_EQ(again->record.seq, first->record.seq);
  EXPECT_EQ(again->record.info.account_key, "corp|alice");
  EXPECT_EQ(again->record.received_at, first->record.received_at);
  auto all = queue_->List({});
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 1u);
}

TEST_F(LifecycleTest, ReinsertAfterCompletionReturnsTheFinalState) {
  AddReady("r1", "alice");
  MustTake();
  ASSERT_TRUE(queue_->Finish("r1", Succeeded()).ok());
  auto again = queue_->Enqueue(MakeReset("r1", "alice", clock_.Now()));
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->inserted);
  EXPECT_EQ(again->record.state, State::kSucceeded);
  EXPECT_EQ(again->record.outcome->code, "succeeded");
  EXPECT_FALSE(again->record.secret_stored);
}

TEST_F(LifecycleTest, ReinsertAfterRestartReturnsTheExistingRecord) {
  ASSERT_TRUE(queue_->Enqueue(MakeReset("r1", "alice", clock_.Now())).ok());
  Reopen();
  auto again = queue_->Enqueue(MakeReset("r1", "alice", clock_.Now()));
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->inserted);
  EXPECT_EQ(again->record.state, State::kReceived);
}

TEST_F(LifecycleTest, TheDeliveryCountIsStoredAndSurvivesARestart) {
  Request req = MakeReset("r1", "alice", clock_.Now());
  req.info.delivery = 3;
  ASSERT_TRUE(queue_->Enqueue(req).ok());
  Reopen();
  EXPECT_EQ(Get("r1").info.delivery, 3);
}

TEST_F(LifecycleTest, LastPasswordWriteIsTheLatestSucceededResetOrChangeOfTheAccount) {
  EXPECT_EQ(*queue_->LastPasswordWrite("corp|alice", "x"), std::nullopt);
  AddReady("r1", "alice");
  MustTake();
  clock_.Advance(seconds(1));
  ASSERT_TRUE(queue_->Finish("r1", Succeeded()).ok());
  const WallTime first = clock_.Now();
  // Not counted: a failed write, an unlock only, another account, the request itself.
  AddReady("r2", "alice");
  MustTake();
  clock_.Advance(seconds(1));
  ASSERT_TRUE(queue_->Finish("r2", Rejected()).ok());
  Request unlock = MakeReset("r3", "alice", clock_.Now());
  unlock.info.operations = {.unlock = true};
  unlock.new_password = Secret();
  ASSERT_TRUE(queue_->Enqueue(unlock).ok());
  ASSERT_TRUE(queue_->MarkReady("r3").ok());
  MustTake();
  ASSERT_TRUE(queue_->Finish("r3", Succeeded()).ok());
  AddReady("r4", "bob");
  MustTake();
  ASSERT_TRUE(queue_->Finish("r4", Succeeded()).ok());
  EXPECT_EQ(*queue_->LastPasswordWrite("corp|alice", "r5"), first);
  EXPECT_EQ(*queue_->LastPasswordWrite("corp|alice", "r1"), std::nullopt);
  Request change = MakeChange("r5", "alice", clock_.Now());
  ASSERT_TRUE(queue_->Enqueue(change).ok());
  ASSERT_TRUE(queue_->MarkReady("r5").ok());
  MustTake();
  clock_.Advance(seconds(1));
  ASSERT_TRUE(queue_->Finish("r5", Succeeded()).ok());
  EXPECT_EQ(*queue_->LastPasswordWrite("corp|alice", "r6"), clock_.Now());
}

// What version 2 wrote: each request's history in a table of its own, in the order of its
// rows, and the outbox's own index. Made from what this version stored, so that the migration's
// result can be compared with it.
void MoveHistoryIntoItsVersion2Table(const std::filesystem::path& db) {
  RawSql(db,
         "CREATE TABLE history (seq INTEGER PRIMARY KEY, request_id TEXT NOT NULL, "
         "at INTEGER NOT NULL, event TEXT NOT NULL, state INTEGER NOT NULL, "
         "attempts INTEGER NOT NULL, code TEXT NOT NULL DEFAULT '', "
         "message TEXT NOT NULL DEFAULT '')");
  RawSql(db, "CREATE INDEX history_by_request ON history (request_id, seq)");
  RawSql(db,
         "INSERT INTO history (request_id, at, event, state, attempts, code, message) "
         "SELECT r.id, json_extract(e.value, '$[0]'), json_extract(e.value, '$[1]'), "
         "json_extract(e.value, '$[2]'), json_extract(e.value, '$[3]'), "
         "json_extract(e.value, '$[4]'), json_extract(e.value, '$[5]') "
         "FROM requests r, json_each(r.history) e ORDER BY r.seq, e.key");
  RawSql(db, "ALTER TABLE requests DROP COLUMN history");
  RawSql(db, "DROP INDEX requests_terminal");
  RawSql(db,
         "CREATE INDEX requests_outbox ON requests (finished_at) "
         "WHERE state >= 3 AND acked_at IS NULL");
  RawSql(db, "PRAGMA user_version = 2");
}

TEST_F(LifecycleTest, AVersion1DatabaseIsMigratedAndItsRequestsCountOneDelivery) {
  ASSERT_TRUE(queue_->Enqueue(MakeReset("r1", "alice", clock_.Now())).ok());
  queue_.reset();
  MoveHistoryIntoItsVersion2Table(db_path());
  // What version 1 wrote: no delivery column.
  RawSql(db_path(), "DROP INDEX requests_by_account");
  RawSql(db_path(), "ALTER TABLE requests DROP COLUMN delivery");
  RawSql(db_path(), "PRAGMA user_version = 1");
  ASSERT_EQ(RawSql(db_path(),
                   "SELECT count(*) FROM pragma_table_info('requests') "
                   "WHERE name = 'delivery'"),
            "0");
  Open();
  EXPECT_EQ(Get("r1").info.delivery, 1);
  EXPECT_EQ(RawSql(db_path(), "PRAGMA user_version"), std::to_string(CurrentSchemaVersion()));
}

// Version 3 keeps each request's history in its row: a version 2 database keeps every event,
// in order, with its codes and messages, and the requests go on from where they were.
TEST_F(LifecycleTest, AVersion2DatabaseIsMigratedWithEveryHistoryEvent) {
  AddReady("r1", "alice");
  MustTake();
  ASSERT_TRUE(queue_->Retry("r1", Transient()).ok());
  ASSERT_TRUE(queue_->Enqueue(MakeReset("r2", "bob", clock_.Now())).ok());
  ASSERT_TRUE(queue_->Enqueue(MakeReset("r3", "carol", clock_.Now())).ok());
  ASSERT_TRUE(queue_->Finish("r3", Rejected()).ok());  // a result not yet acknowledged
  const std::vector<HistoryEvent> r1_before = queue_->Show("r1")->history;
  const std::vector<HistoryEvent> r2_before = queue_->Show("r2")->history;
  ASSERT_EQ(r1_before.size(), 4u);
  queue_.reset();
  MoveHistoryIntoItsVersion2Table(db_path());
  ASSERT_EQ(RawSql(db_path(), "SELECT count(*) FROM history"), "7");

  Open();
  EXPECT_EQ(RawSql(db_path(), "PRAGMA user_version"), "3");
  EXPECT_EQ(RawSql(db_path(), "SELECT count(*) FROM sqlite_schema WHERE name = 'history'"), "0");
  auto same = [](const std::vector<HistoryEvent>& a, const std::vector<HistoryEvent>& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
      if (a[i].at != b[i].at || a[i].event != b[i].event || a[i].state != b[i].state ||
          a[i].attempts != b[i].attempts || a[i].code != b[i].code ||
          a[i].message != b[i].message) {
        return false;
      }
    }
    return true;
  };
  EXPECT_TRUE(same(queue_->Show("r1")->history, r1_before));
  EXPECT_TRUE(same(queue_->Show("r2")->history, r2_before));
  auto pending = queue_->PendingResults(10);  // through the index that replaced the outbox's
  ASSERT_TRUE(pending.ok());
  ASSERT_EQ(pending->size(), 1u);
  EXPECT_EQ(pending->front().info.id, "r3");
  clock_.Advance(seconds(10));
  EXPECT_EQ(MustTake().record.info.id, "r1");
  ASSERT_TRUE(queue_->Finish("r1", Succeeded()).ok());
  const auto after = queue_->Show("r1")->history;
  ASSERT_EQ(after.size(), 6u);
  EXPECT_EQ(after.back().event, "succeeded");
}

// --- Refusals, each its own test ------------------------------------------------------------

TEST_F(LifecycleTest, EnqueueWithADeliveryCountBelowOneIsInvalid) {
  Request req = MakeReset("r1", "alice", clock_.Now());
  req.info.delivery = 0;
  EXPECT_EQ(queue_->Enqueue(req).error().code(), Code::kInvalidArgument);
}

TEST_F(LifecycleTest, EnqueueWithoutIdIsInvalid) {
  auto r = queue_->Enqueue(MakeReset("", "alice", clock_.Now()));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Code::kInvalidArgument);
}

TEST_F(LifecycleTest, EnqueueWithOverlongIdIsInvalid) {
  auto r = queue_->Enqueue(MakeReset(std::string(129, 'x'), "alice", clock_.Now()));
  EXPECT_EQ(r.error().code(), Code::kInvalidArgument);
}

TEST_F(LifecycleTest, EnqueueWithoutAccountKeyIsInvalid) {
  Request req = MakeReset("r1", "alice", clock_.Now());
  req.info.account_key.clear();
  EXPECT_EQ(queue_->Enqueue(req).error().code(), Code::kInvalidArgument);
}

TEST_F(LifecycleTest, EnqueueWithoutOperationIsInvalid) {
  Request req = MakeReset("r1", "alice", clock_.Now());
  req.info.operations = {};
  EXPECT_EQ(queue_->Enqueue(req).error().code(), Code::kInvalidArgument);
}

TEST_F(LifecycleTest, ResetWithoutPasswordIsInvalid) {
  Request req = MakeReset("r1", "alice", clock_.Now());
  req.new_password = Secret();
  EXPECT_EQ(queue_->Enqueue(req).error().code(), Code::kInvalidArgument);
}

TEST_F(LifecycleTest, ChangeWithoutOldPasswordIsInvalid) {
  Request req = MakeChange("r1", "alice", clock_.Now());
  req.old_password = Secret();
  EXPECT_EQ(queue_->Enqueue(req).error().code(), Code::kInvalidArgument);
}

TEST_F(LifecycleTest, UnlockCarryingAPasswordIsInvalid) {
  Request req = MakeReset("r1", "alice", clock_.Now());
  req.info.operations = {.unlock = true};
  auto r = queue_->Enqueue(req);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Code::kInvalidArgument);
  EXPECT_EQ(r.error().message().find(PasswordFor("r1")), std::string::npos);
}

TEST_F(LifecycleTest, UnlockWithoutPasswordIsAccepted) {
  Request req = MakeReset("r1", "alice", clock_.Now());
  req.info.operations = {.unlock = true};
  req.new_password = Secret();
  auto r = queue_->Enqueue(req);
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_FALSE(r->record.secret_stored);
  ASSERT_TRUE(queue_->MarkReady("r1").ok());
  Work w = MustTake();
  EXPECT_TRUE(w.new_password.empty());
}

TEST_F(LifecycleTest, EnqueueOfAnExpiredRequestIsRefused) {
  auto r = queue_->Enqueue(MakeReset("r1", "alice", clock_.Now() - hours(2)));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Code::kFailedPrecondition);
  EXPECT_TRUE(queue_->List({})->empty());
}

TEST_F(LifecycleTest, EnqueueBeyondMaxPendingIsResourceExhausted) {
  Options o = DefaultOptions();
  o.max_pending = 2;
  queue_.reset();
  auto q = OpenQueue(o);
  ASSERT_TRUE(q.ok());
  queue_ = std::move(q).value();
  ASSERT_TRUE(queue_->Enqueue(MakeReset("r1", "a", clock_.Now())).ok());
  ASSERT_TRUE(queue_->Enqueue(MakeReset("r2", "b", clock_.Now())).ok());
  auto r = queue_->Enqueue(MakeReset("r3", "c", clock_.Now()));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Code::kResourceExhausted);
  EXPECT_NE(r.error().message().find("max_pending"), std::string::npos);
  EXPECT_EQ(queue_->Show("r3").error().code(), Code::kNotFound);
  EXPECT_EQ(queue_->List({})->size(), 2u);
  // A finished request frees its place.
  ASSERT_TRUE(queue_->Finish("r1", Rejected()).ok());
  EXPECT_TRUE(queue_->Enqueue(MakeReset("r3", "c", clock_.Now())).ok());
}

TEST_F(LifecycleTest, MarkReadyOfUnknownIdIsNotFound) {
  EXPECT_EQ(queue_->MarkReady("nope").code(), Code::kNotFound);
}

TEST_F(LifecycleTest, MarkReadyTwiceIsFailedPrecondition) {
  AddReady("r1", "alice");
  EXPECT_EQ(queue_->MarkReady("r1").code(), Code::kFailedPrecondition);
}

TEST_F(LifecycleTest, FinishSucceededWithoutAnAttemptIsRefused) {
  AddReady("r1", "alice");
  EXPECT_EQ(StatusOf(queue_->Finish("r1", Succeeded())).code(), Code::kFailedPrecondition);
  EXPECT_EQ(Get("r1").state, State::kReady);
}

TEST_F(LifecycleTest, FinishAsExpiredIsInvalid) {
  AddReady("r1", "alice");
  MustTake();
  Outcome o = Succeeded();
  o.state = State::kExpired;
  EXPECT_EQ(StatusOf(queue_->Finish("r1", o)).code(), Code::kInvalidArgument);
}

TEST_F(LifecycleTest, FinishWithoutCodeIsInvalid) {
  AddReady("r1", "alice");
  MustTake();
  Outcome o = Succeeded();
  o.code.clear();
  EXPECT_EQ(StatusOf(queue_->Finish("r1", o)).code(), Code::kInvalidArgument);
}

TEST_F(LifecycleTest, FinishOfUnknownIdIsNotFound) {
  EXPECT_EQ(StatusOf(queue_->Finish("nope", Rejected())).code(), Code::kNotFound);
}

TEST_F(LifecycleTest, FinishOfATerminalRequestIsFailedPrecondition) {
  ASSERT_TRUE(queue_->Enqueue(MakeReset("r1", "alice", clock_.Now())).ok());
  ASSERT_TRUE(queue_->Finish("r1", Rejected()).ok());
  EXPECT_EQ(StatusOf(queue_->Finish("r1", Rejected("other"))).code(), Code::kFailedPrecondition);
  EXPECT_EQ(Get("r1").outcome->code, "policy_too_short");
}

TEST_F(LifecycleTest, RetryOfAReadyRequestIsFailedPrecondition) {
  AddReady("r1", "alice");
  EXPECT_EQ(queue_->Retry("r1", Transient()).error().code(), Code::kFailedPrecondition);
}

TEST_F(LifecycleTest, RetryWithoutCodeIsInvalid) {
  AddReady("r1", "alice");
  MustTake();
  Outcome o = Transient();
  o.code.clear();
  EXPECT_EQ(queue_->Retry("r1", o).error().code(), Code::kInvalidArgument);
}

TEST_F(LifecycleTest, AcknowledgeOfAnUnfinishedRequestIsFailedPrecondition) {
  AddReady("r1", "alice");
  EXPECT_EQ(queue_->AcknowledgeResult("r1").code(), Code::kFailedPrecondition);
}

TEST_F(LifecycleTest, AcknowledgeOfUnknownIdIsNotFound) {
  EXPECT_EQ(queue_->AcknowledgeResult("nope").code(), Code::kNotFound);
}

TEST_F(LifecycleTest, AcknowledgeTwiceIsOkAndKeepsTheFirstTime) {
  ASSERT_TRUE(queue_->Enqueue(MakeReset("r1", "alice", clock_.Now())).ok());
  ASSERT_TRUE(queue_->Finish("r1", Rejected()).ok());
  ASSERT_TRUE(queue_->AcknowledgeResult("r1").ok());
  const WallTime first = clock_.Now();
  clock_.Advance(seconds(9));
  ASSERT_TRUE(queue_->AcknowledgeResult("r1").ok());
  EXPECT_EQ(Get("r1").acknowledged_at, first);
  EXPECT_EQ(Events("r1").size(), 3u);
}

TEST_F(LifecycleTest, ErrorMessagesEscapeTheRequestId) {
  auto s = queue_->MarkReady("evil\nid\x1b[31m");
  EXPECT_EQ(s.code(), Code::kNotFound);
  EXPECT_EQ(s.message().find('\n'), std::string::npos);
  EXPECT_EQ(s.message().find('\x1b'), std::string::npos);
}

}  // namespace
}  // namespace wb::queue::testing
