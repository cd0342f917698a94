#include "tests/queue/queue_test_util.h"

#include <sqlite3.h>

#include <fstream>
#include <iterator>
#include <utility>

namespace wb::queue::testing {

std::string PasswordFor(std::string_view id) { return "Pw!" + std::string(id) + "-Zq7x"; }

Request MakeReset(std::string id, std::string account, WallTime now, seconds ttl) {
  Request r;
  r.info = RequestInfo{.id = std::move(id),
                       .tenant = "tenant-1",
                       .correlation_id = "corr-1",
                       .operations = {.reset = true, .unlock = true},
                       .target = account + "@example.test",
                       .target_kind = "upn",
                       .account_key = "corp|" + account,
                       .issued_at = now,
                       .expires_at = now + ttl,
                       .requester_json = R"({"by":"self","methods":["sms"]})"};
  r.new_password = Secret(PasswordFor(r.info.id));
  return r;
}

Request MakeChange(std::string id, std::string account, WallTime now, seconds ttl) {
  Request r = MakeReset(std::move(id), std::move(account), now, ttl);
  r.info.operations = {.change = true};
  r.old_password = Secret("Old!" + r.info.id + "-Kp2w");
  return r;
}

Outcome Succeeded() {
  return Outcome{.state = State::kSucceeded,
                 .code = "succeeded",
                 .message = "password reset",
                 .server = "ldaps://dc1.example.test",
                 .duration = milliseconds(42)};
}

Outcome Rejected(std::string code) {
  return Outcome{.state = State::kRejected, .code = std::move(code), .message = "too short"};
}

Outcome Transient(std::string code) {
  return Outcome{.state = State::kFailed,
                 .code = std::move(code),
                 .transient = true,
                 .message = "connection refused",
                 .server = "ldaps://dc1.example.test"};
}

std::string Utf16Le(std::string_view text) {
  std::string out;
  for (char c : text) {
    out += c;
    out += '\0';
  }
  return out;
}

bool FileContains(const std::filesystem::path& path, std::string_view needle) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return bytes.find(needle) != std::string::npos;
}

std::string RawSql(const std::filesystem::path& db, const std::string& sql) {
  sqlite3* raw = nullptr;
  std::string result;
  if (sqlite3_open_v2(db.c_str(), &raw, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK) {
    sqlite3_busy_timeout(raw, 5000);
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(raw, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK) {
      if (sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_type(stmt, 0) != SQLITE_NULL) {
        const void* p = sqlite3_column_blob(stmt, 0);
        result.assign(static_cast<const char*>(p),
                      static_cast<std::size_t>(sqlite3_column_bytes(stmt, 0)));
      }
    } else {
      ADD_FAILURE() << "RawSql: " << sqlite3_errmsg(raw) << " in " << sql;
    }
    sqlite3_finalize(stmt);
  } else {
    ADD_FAILURE() << "RawSql: cannot open " << db;
  }
  sqlite3_close(raw);
  return result;
}

Options QueueTest::DefaultOptions() {
  Options o;
  o.state_dir = state_dir();
  o.backoff_base = seconds(1);
  o.backoff_cap = seconds(60);
  o.random = [this] { return jitter_.load(); };
  o.credentials_directory = std::filesystem::path();  // ignore $CREDENTIALS_DIRECTORY
  return o;
}

Result<std::unique_ptr<Queue>> QueueTest::OpenQueue(const Options& options) {
  return Queue::Open(options, clock_);
}

void QueueTest::Open() {
  auto q = OpenQueue(DefaultOptions());
  ASSERT_TRUE(q.ok()) << q.error().ToString();
  queue_ = std::move(q).value();
}

void QueueTest::Reopen() {
  queue_.reset();
  Open();
}

void QueueTest::AddReady(std::string id, std::string account) {
  auto r = queue_->Enqueue(MakeReset(id, std::move(account), clock_.Now()));
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  Status s = queue_->MarkReady(id);
  ASSERT_TRUE(s.ok()) << s.ToString();
}

Work QueueTest::MustTake() {
  auto w = queue_->Take();
  EXPECT_TRUE(w.ok()) << w.error().ToString();
  if (!w.ok() || !w->has_value()) {
    ADD_FAILURE() << "Take returned no work";
    return Work{};
  }
  return std::move(**w);
}

}  // namespace wb::queue::testing
