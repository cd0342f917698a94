// WriteHold: LMDB's writer lock held from the test process (see slapd_server.h). LMDB allows
// several processes on one environment; its writer lock is a robust process-shared mutex, so
// slapd's writers wait for it, and a test that dies releases it.
#include <lmdb.h>

#include <condition_variable>
#include <mutex>
#include <thread>

#include "tests/support/slapd_server.h"

namespace wb::testing {

struct WriteHold::State {
  std::mutex mu;
  std::condition_variable cv;
  bool holding = false;
  bool release = false;
  Status result = Status::Ok();
  std::thread thread;
};

namespace {

Status LmdbError(const char* what, int rc) {
  return Internal(std::string("lmdb ") + what + ": " + mdb_strerror(rc));
}

}  // namespace

Result<std::unique_ptr<WriteHold>> WriteHold::Start(const std::filesystem::path& db_dir) {
  std::unique_ptr<WriteHold> hold(new WriteHold());
  hold->state_ = std::make_unique<State>();
  State& s = *hold->state_;
  s.thread = std::thread([&s, db_dir] { HoldOnThisThread(db_dir, s); });
  std::unique_lock lock(s.mu);
  s.cv.wait(lock, [&] { return s.holding || !s.result.ok(); });
  if (!s.result.ok()) {
    Status error = s.result;
    lock.unlock();
    hold->Release();
    return error;
  }
  return hold;
}

WriteHold::~WriteHold() { Release(); }

void WriteHold::Release() {
  if (!state_) return;
  {
    std::lock_guard lock(state_->mu);
    state_->release = true;
  }
  state_->cv.notify_all();
  if (state_->thread.joinable()) state_->thread.join();
}

void WriteHold::HoldOnThisThread(const std::filesystem::path& db_dir, State& s) {
  MDB_env* env = nullptr;
  MDB_txn* txn = nullptr;
  auto fail = [&](Status error) {
    std::lock_guard lock(s.mu);
    s.result = std::move(error);
    s.cv.notify_all();
  };
  int rc = mdb_env_create(&env);
  if (rc != 0) return fail(LmdbError("env_create", rc));
  mdb_env_set_maxdbs(env, 128);  // slapd's named databases
  rc = mdb_env_open(env, db_dir.c_str(), 0, 0600);
  if (rc == 0) rc = mdb_txn_begin(env, nullptr, 0, &txn);
  if (rc != 0) {
    mdb_env_close(env);
    return fail(LmdbError("hold writer lock", rc));
  }
  {
    std::unique_lock lock(s.mu);
    s.holding = true;
    s.cv.notify_all();
    s.cv.wait(lock, [&] { return s.release; });
  }
  mdb_txn_abort(txn);
  mdb_env_close(env);
}

}  // namespace wb::testing
