#pragma once
// Shared helpers for the queue tests: a fixture with a fake clock and a fresh state directory,
// request builders, and raw access to the database files.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "common/secret.h"
#include "queue/queue.h"
#include "tests/support/fake_clock.h"
#include "tests/support/process.h"

namespace wb::queue {
// Test output shows state names.
inline void PrintTo(State s, std::ostream* os) { *os << StateName(s); }
}  // namespace wb::queue

namespace wb::queue::testing {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

// The password of a test request; distinctive, so a byte scan finds any copy of it.
std::string PasswordFor(std::string_view id);

// A reset (with a new password) for `account`, expiring `ttl` after `now`.
Request MakeReset(std::string id, std::string account, WallTime now, seconds ttl = hours(1));
// A change (old -> new password).
Request MakeChange(std::string id, std::string account, WallTime now, seconds ttl = hours(1));

// An outcome for Finish / Retry.
// The status of a call that returns a value (Finish returns the finished record).
template <typename T>
Status StatusOf(const Result<T>& result) {
  return result.ok() ? Status::Ok() : result.error();
}

Outcome Succeeded();
Outcome Rejected(std::string code = "policy_too_short");
Outcome Transient(std::string code = "directory_unavailable");

// The bytes of `text` as UTF-16LE (ASCII input only).
std::string Utf16Le(std::string_view text);
// Whether `needle` occurs in the file's bytes. A missing file contains nothing.
bool FileContains(const std::filesystem::path& path, std::string_view needle);

// Runs `sql` against the queue database through a separate SQLite connection (a test's way to
// tamper with or inspect what is stored). Returns the first column of the first row, if any.
std::string RawSql(const std::filesystem::path& db, const std::string& sql);

class QueueTest : public ::testing::Test {
 protected:
  std::filesystem::path state_dir() const { return dir_.path() / "state"; }
  std::filesystem::path db_path() const { return state_dir() / "queue.db"; }

  // Defaults for tests: no jitter surprises, no $CREDENTIALS_DIRECTORY from the environment.
  Options DefaultOptions();
  Result<std::unique_ptr<Queue>> OpenQueue(const Options& options);
  // Opens with DefaultOptions into queue_; fails the test on error.
  void Open();
  void Reopen();

  // Enqueue + MarkReady; fails the test on error.
  void AddReady(std::string id, std::string account);
  // Take that must yield work.
  Work MustTake();

  wb::testing::FakeClock clock_;
  wb::testing::TempDir dir_{"wbqueue"};
  std::atomic<double> jitter_{0.0};
  std::unique_ptr<Queue> queue_;
};

}  // namespace wb::queue::testing
