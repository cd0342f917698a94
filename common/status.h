#pragma once
// The one error vocabulary of wbagent.
//
// Every foreign error (an LDAP result, a SQLite rc, ERR_get_error(), errno, a toml11
// exception) is converted to a Status exactly once, at the boundary where it is received.
// Code above that boundary compares Status::code(), never message text.
//
// A Status message is shown to administrators: it must never contain a secret, and text that
// came from a peer must be escaped (see EscapeForLog) before it is put in one.

#include <cassert>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace wb {

enum class Code {
  kOk = 0,
  kInvalidArgument,     // the caller's input is malformed
  kNotFound,            // a named thing does not exist
  kAlreadyExists,       // a thing that must be unique exists already
  kPermissionDenied,    // refused by file modes, ACLs or a directory's access control
  kFailedPrecondition,  // the system is not in a state that allows the call
  kResourceExhausted,   // a bound was reached: queue full, disk full, rate limit
  kUnavailable,         // a peer or server cannot be reached now; retrying may help
  kTimeout,             // an operation did not finish in its allotted time
  kIoError,             // a local read or write failed
  kCorruption,          // stored data is not what was written
  kInternal,            // a bug: an invariant did not hold
};

// The stable lowercase name of a code, e.g. "permission_denied".
std::string_view CodeName(Code code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }

  // "code_name: message", for logs and error output.
  std::string ToString() const;

  // Returns a copy with `context + ": "` prepended to the message; the code is kept.
  Status WithContext(std::string_view context) const;

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

inline Status InvalidArgument(std::string m) { return {Code::kInvalidArgument, std::move(m)}; }
inline Status NotFound(std::string m) { return {Code::kNotFound, std::move(m)}; }
inline Status PermissionDenied(std::string m) { return {Code::kPermissionDenied, std::move(m)}; }
inline Status FailedPrecondition(std::string m) {
  return {Code::kFailedPrecondition, std::move(m)};
}
inline Status Unavailable(std::string m) { return {Code::kUnavailable, std::move(m)}; }
inline Status IoError(std::string m) { return {Code::kIoError, std::move(m)}; }
inline Status Internal(std::string m) { return {Code::kInternal, std::move(m)}; }

// Converts an errno value, once, at the boundary: ENOENT -> kNotFound, EACCES/EPERM ->
// kPermissionDenied, ENOSPC/EDQUOT -> kResourceExhausted, everything else -> kIoError.
Status ErrnoStatus(int err, std::string_view what);

// A value or the error that prevented it. E is Status unless a component needs a richer
// error (the config loader returns every problem it found, not just the first).
template <typename T, typename E = Status>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit
  Result(E error) : v_(std::in_place_index<1>, std::move(error)) {}  // NOLINT: implicit

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  // REQUIRES: ok().
  T& value() & {
    assert(ok());
    return std::get<0>(v_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<0>(v_);
  }
  T&& value() && {
    assert(ok());
    return std::get<0>(std::move(v_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  // REQUIRES: !ok().
  const E& error() const {
    assert(!ok());
    return std::get<1>(v_);
  }

 private:
  std::variant<T, E> v_;
};

}  // namespace wb

// Returns early from the enclosing function when `expr` yields a non-OK Status.
#define WB_RETURN_IF_ERROR(expr)             \
  do {                                       \
    ::wb::Status wb_status_ = (expr);        \
    if (!wb_status_.ok()) return wb_status_; \
  } while (0)
