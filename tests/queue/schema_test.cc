#include "queue/schema.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "queue/record_io.h"
#include "tests/support/process.h"

namespace wb::queue {
namespace {

class SchemaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = Db::Open(dir_.path() / "s.db", SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    ASSERT_TRUE(db.ok());
    db_ = std::make_unique<Db>(std::move(db).value());
  }
  bool HasTable(const char* name) {
    return *db_->QueryInt(std::string("SELECT count(*) FROM sqlite_schema WHERE name = '") + name +
                          "'") == 1;
  }

  wb::testing::TempDir dir_{"wbschema"};
  std::unique_ptr<Db> db_;
};

constexpr Migration kTwoSteps[] = {{1, "CREATE TABLE a (x)"}, {2, "CREATE TABLE b (y)"}};

TEST_F(SchemaTest, AFreshDatabaseGetsTheCurrentSchema) {
  ASSERT_TRUE(Migrate(*db_, Migrations()).ok());
  EXPECT_EQ(*SchemaVersion(*db_), CurrentSchemaVersion());
  EXPECT_TRUE(HasTable("requests"));
  EXPECT_FALSE(HasTable("history"));  // in each request's row since version 3
  EXPECT_TRUE(HasTable("replay"));
  EXPECT_TRUE(HasTable("meta"));
}

TEST_F(SchemaTest, MigratingTwiceChangesNothing) {
  ASSERT_TRUE(Migrate(*db_, Migrations()).ok());
  ASSERT_TRUE(Migrate(*db_, Migrations()).ok());
  EXPECT_EQ(*SchemaVersion(*db_), CurrentSchemaVersion());
}

TEST_F(SchemaTest, OnlyTheMissingStepsRunInOrder) {
  ASSERT_TRUE(Migrate(*db_, std::span(kTwoSteps, 1)).ok());
  EXPECT_EQ(*SchemaVersion(*db_), 1);
  ASSERT_TRUE(Migrate(*db_, kTwoSteps).ok());  // step 1 again would fail: table a exists
  EXPECT_EQ(*SchemaVersion(*db_), 2);
  EXPECT_TRUE(HasTable("b"));
}

TEST_F(SchemaTest, AFailingStepLeavesThePreviousVersion) {
  constexpr Migration kBroken[] = {{1, "CREATE TABLE a (x)"},
                                   {2, "CREATE TABLE c (z); THIS IS NOT SQL"}};
  Status s = Migrate(*db_, kBroken);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("migration 2"), std::string::npos);
  EXPECT_EQ(*SchemaVersion(*db_), 1);
  EXPECT_FALSE(HasTable("c"));
}

TEST_F(SchemaTest, ANewerDatabaseIsRefused) {
  ASSERT_TRUE(db_->Exec("PRAGMA user_version = 7").ok());
  Status s = Migrate(*db_, kTwoSteps);
  EXPECT_EQ(s.code(), Code::kFailedPrecondition);
  EXPECT_NE(s.message().find("version 7"), std::string::npos);
  EXPECT_NE(s.message().find("(2)"), std::string::npos);
  EXPECT_EQ(*SchemaVersion(*db_), 7);
}

TEST_F(SchemaTest, TheSchemaRefusesASecretOnATerminalRequest) {
  ASSERT_TRUE(Migrate(*db_, Migrations()).ok());
  Status s = db_->Exec(
      "INSERT INTO requests (id, tenant, correlation_id, operations, target, target_kind, "
      "account_key, requester, issued_at, expires_at, state, received_at, not_before, secret) "
      "VALUES ('x', '', '', 1, '', '', 'k', '', 0, 1, 3, 0, 0, X'00')");
  EXPECT_EQ(s.code(), Code::kInternal);  // SQLITE_CONSTRAINT_CHECK: a bug, not a duplicate
  EXPECT_NE(s.message().find("CHECK constraint"), std::string::npos);
}

// Version 3 moves each request's history from its own table into the request's row: every
// event, in the order it happened (not the order of its rows), and an empty array for a
// request without events.
TEST_F(SchemaTest, VersionThreeMovesEachHistoryIntoItsRowInOrder) {
  ASSERT_TRUE(Migrate(*db_, Migrations().first(2)).ok());
  for (const std::string id : {"a", "b", "quiet"}) {
    ASSERT_TRUE(db_->Exec("INSERT INTO requests (id, tenant, correlation_id, operations, target, "
                          "target_kind, account_key, requester, issued_at, expires_at, state, "
                          "received_at, not_before) VALUES ('" +
                          id + "', '', '', 1, '', '', 'k', '', 0, 1, 3, 0, 0)")
                    .ok());
  }
  // Rows inserted in another order than their seq (the order of the events); the message holds
  // what JSON must escape.
  ASSERT_TRUE(db_->Exec("INSERT INTO history (seq, request_id, at, event, state, attempts, code, "
                        "message) VALUES "
                        "(30, 'a', 300, 'succeeded', 3, 1, '', ''), "
                        "(10, 'a', 100, 'received', 0, 0, '', ''), "
                        "(15, 'b', 150, 'received', 0, 0, '', ''), "
                        "(20, 'a', 200, 'retry_scheduled', 1, 1, 'busy', 'said \"no\"\n')")
                  .ok());

  ASSERT_TRUE(Migrate(*db_, Migrations()).ok());
  EXPECT_EQ(*SchemaVersion(*db_), 3);
  EXPECT_FALSE(HasTable("history"));
  auto history_of = [&](const char* id) {
    auto stmt = db_->Prepare("SELECT history FROM requests WHERE id = ?1");
    stmt->Bind(1, id);
    EXPECT_TRUE(*stmt->Step());
    return stmt->Text(0);
  };
  EXPECT_EQ(history_of("a"),
            "[[100,\"received\",0,0,\"\",\"\"],"
            "[200,\"retry_scheduled\",1,1,\"busy\",\"said \\\"no\\\"\\n\"],"
            "[300,\"succeeded\",3,1,\"\",\"\"]]");
  EXPECT_EQ(history_of("b"), "[[150,\"received\",0,0,\"\",\"\"]]");
  EXPECT_EQ(history_of("quiet"), "[]");
}

// The minutely purge finds the records past retention through an index: what it costs does
// not grow with the records a week's retention keeps (it visited each of them before).
TEST_F(SchemaTest, ThePurgeFindsItsRecordsThroughAnIndexNotByVisitingEveryRecord) {
  ASSERT_TRUE(Migrate(*db_, Migrations()).ok());
  for (const char* condition : {kAckedAtOrBefore, kUnackedFinishedAtOrBefore}) {
    auto plan =
        db_->Prepare(std::string("EXPLAIN QUERY PLAN DELETE FROM requests WHERE ") + condition);
    ASSERT_TRUE(plan.ok());
    std::string steps;
    while (*plan->Step()) steps += plan->Text(3) + "\n";
    EXPECT_NE(steps.find("USING INDEX requests_terminal (acked_at"), std::string::npos)
        << condition << ":\n"
        << steps;
  }
}

TEST(SqliteVersionTest, AnSqliteOlderThanTheSchemaNeedsIsRefusedByName) {
  EXPECT_TRUE(CheckSqliteVersion(sqlite3_libversion_number()).ok());
  EXPECT_TRUE(CheckSqliteVersion(3033000).ok());
  Status old = CheckSqliteVersion(3032003);
  EXPECT_EQ(old.code(), Code::kFailedPrecondition);
  EXPECT_NE(old.message().find("3.33.0"), std::string::npos) << old.message();
  EXPECT_NE(old.message().find("3.32.3"), std::string::npos) << old.message();
}

// Db::Open's check that temp_store = MEMORY is honoured: the option list decides it, since the
// pragma reads back 2 even in a library that ignores it.
TEST(SqliteTest, TemporaryStorageInFilesIsRefusedAndThisSystemsLibraryKeepsItInMemory) {
  for (const char* kept : {"TEMP_STORE=1", "TEMP_STORE=2", "TEMP_STORE=3"}) {
    const std::vector<std::string> options{"COMPILER=gcc", kept, "THREADSAFE=1"};
    EXPECT_TRUE(CheckTempStore(options).ok()) << kept;
  }
  const std::vector<std::string> in_files{"COMPILER=gcc", "TEMP_STORE=0"};
  EXPECT_EQ(CheckTempStore(in_files).code(), Code::kFailedPrecondition);
  EXPECT_EQ(CheckTempStore({}).code(), Code::kFailedPrecondition);  // no list: cannot tell
  std::vector<std::string> here;
  for (int i = 0; const char* option = sqlite3_compileoption_get(i); ++i) here.push_back(option);
  EXPECT_TRUE(CheckTempStore(here).ok());
}

TEST(SqliteStatusTest, EachResultCodeMapsOnce) {
  EXPECT_TRUE(SqliteStatus(SQLITE_OK, nullptr, "x").ok());
  EXPECT_TRUE(SqliteStatus(SQLITE_DONE, nullptr, "x").ok());
  EXPECT_EQ(SqliteStatus(SQLITE_FULL, nullptr, "x").code(), Code::kResourceExhausted);
  EXPECT_EQ(SqliteStatus(SQLITE_BUSY, nullptr, "x").code(), Code::kUnavailable);
  EXPECT_EQ(SqliteStatus(SQLITE_BUSY_SNAPSHOT, nullptr, "x").code(), Code::kUnavailable);
  EXPECT_EQ(SqliteStatus(SQLITE_LOCKED, nullptr, "x").code(), Code::kUnavailable);
  EXPECT_EQ(SqliteStatus(SQLITE_CORRUPT, nullptr, "x").code(), Code::kCorruption);
  EXPECT_EQ(SqliteStatus(SQLITE_NOTADB, nullptr, "x").code(), Code::kCorruption);
  EXPECT_EQ(SqliteStatus(SQLITE_IOERR_WRITE, nullptr, "x").code(), Code::kIoError);
  EXPECT_EQ(SqliteStatus(SQLITE_CANTOPEN, nullptr, "x").code(), Code::kIoError);
  EXPECT_EQ(SqliteStatus(SQLITE_READONLY, nullptr, "x").code(), Code::kPermissionDenied);
  EXPECT_EQ(SqliteStatus(SQLITE_CONSTRAINT_UNIQUE, nullptr, "x").code(), Code::kAlreadyExists);
  EXPECT_EQ(SqliteStatus(SQLITE_CONSTRAINT_NOTNULL, nullptr, "x").code(), Code::kInternal);
  EXPECT_EQ(SqliteStatus(SQLITE_MISUSE, nullptr, "x").code(), Code::kInternal);
  EXPECT_NE(SqliteStatus(SQLITE_FULL, nullptr, "storing").message().find("storing"),
            std::string::npos);
}

}  // namespace
}  // namespace wb::queue
