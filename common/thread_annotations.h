#pragma once
// Clang thread-safety annotations (as in LevelDB's port/thread_annotations.h and Abseil's
// Mutex). They document which mutex guards what; clang's -Wthread-safety (on in every clang
// build, cmake/Hardening.cmake) checks them, other compilers ignore them.
//
// libstdc++'s std::mutex carries no annotations, so the analysis cannot see it: guard
// annotated members with wb::Mutex and hold it with wb::MutexLock, below.

#include <chrono>
#include <condition_variable>
#include <mutex>

#if defined(__clang__)
#define WB_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define WB_THREAD_ANNOTATION(x)
#endif

#define WB_CAPABILITY(x) WB_THREAD_ANNOTATION(capability(x))
#define WB_SCOPED_CAPABILITY WB_THREAD_ANNOTATION(scoped_lockable)
#define WB_GUARDED_BY(x) WB_THREAD_ANNOTATION(guarded_by(x))
#define WB_EXCLUSIVE_LOCKS_REQUIRED(...) WB_THREAD_ANNOTATION(exclusive_locks_required(__VA_ARGS__))
#define WB_LOCKS_EXCLUDED(...) WB_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define WB_ACQUIRE(...) WB_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define WB_RELEASE(...) WB_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define WB_ASSERT_CAPABILITY(x) WB_THREAD_ANNOTATION(assert_capability(x))
// For the rare function that takes a mutex and leaves it to another to release, where the
// analysis cannot follow (pthread_atfork's prepare, parent and child handlers). Say why at
// each use.
#define WB_NO_THREAD_SAFETY_ANALYSIS WB_THREAD_ANNOTATION(no_thread_safety_analysis)

namespace wb {

// A std::mutex the analysis can see. Condition variables that wait on it are
// std::condition_variable_any, so that a function the analysis knows holds the mutex can wait
// without a lock object passed in.
class WB_CAPABILITY("mutex") Mutex {
 public:
  void Lock() WB_ACQUIRE() { mu_.lock(); }
  void Unlock() WB_RELEASE() { mu_.unlock(); }
  // Tells the analysis that the caller holds this mutex where it cannot see it taken: in code
  // that a lock holder runs through a std::function (the queue's group commit). It checks
  // nothing at run time.
  void AssertHeld() const WB_ASSERT_CAPABILITY(this) {}

  // Releases the mutex while waiting and holds it again on return: to the analysis it is held
  // throughout, which is what the code around the wait sees.
  void Wait(std::condition_variable_any& cv) WB_EXCLUSIVE_LOCKS_REQUIRED(this) { cv.wait(mu_); }
  template <typename Predicate>
  void Wait(std::condition_variable_any& cv, Predicate ready) WB_EXCLUSIVE_LOCKS_REQUIRED(this) {
    cv.wait(mu_, ready);
  }
  // As Wait, for at most `timeout`; returns ready().
  template <typename Rep, typename Period, typename Predicate>
  bool WaitFor(std::condition_variable_any& cv, std::chrono::duration<Rep, Period> timeout,
               Predicate ready) WB_EXCLUSIVE_LOCKS_REQUIRED(this) {
    return cv.wait_for(mu_, timeout, ready);
  }

 private:
  std::mutex mu_;
};

// Holds a Mutex for its scope, like std::unique_lock.
class WB_SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& mu) WB_ACQUIRE(mu) : mu_(mu) { mu_.Lock(); }
  ~MutexLock() WB_RELEASE() {
    if (held_) mu_.Unlock();
  }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

  // Releases the mutex for a stretch of work that must run unlocked, and takes it back.
  void Unlock() WB_RELEASE() {
    mu_.Unlock();
    held_ = false;
  }
  void Lock() WB_ACQUIRE() {
    mu_.Lock();
    held_ = true;
  }

 private:
  Mutex& mu_;
  bool held_ = true;
};

}  // namespace wb
