#include "common/status.h"

#include <cerrno>
#include <cstring>
#include <string>

namespace wb {

std::string_view CodeName(Code code) {
  switch (code) {
    case Code::kOk:
      return "ok";
    case Code::kInvalidArgument:
      return "invalid_argument";
    case Code::kNotFound:
      return "not_found";
    case Code::kAlreadyExists:
      return "already_exists";
    case Code::kPermissionDenied:
      return "permission_denied";
    case Code::kFailedPrecondition:
      return "failed_precondition";
    case Code::kResourceExhausted:
      return "resource_exhausted";
    case Code::kUnavailable:
      return "unavailable";
    case Code::kTimeout:
      return "timeout";
    case Code::kIoError:
      return "io_error";
    case Code::kCorruption:
      return "corruption";
    case Code::kInternal:
      return "internal";
  }
  return "internal";
}

std::string Status::ToString() const {
  if (ok()) return "ok";
  std::string out(CodeName(code_));
  out += ": ";
  out += message_;
  return out;
}

Status Status::WithContext(std::string_view context) const {
  if (ok()) return *this;
  std::string m(context);
  m += ": ";
  m += message_;
  return Status(code_, std::move(m));
}

Status ErrnoStatus(int err, std::string_view what) {
  std::string m(what);
  m += ": ";
  m += std::strerror(err);  // NOLINT(concurrency-mt-unsafe): glibc returns static strings
  switch (err) {
    case ENOENT:
      return Status(Code::kNotFound, std::move(m));
    case EACCES:
    case EPERM:
      return Status(Code::kPermissionDenied, std::move(m));
    case ENOSPC:
    case EDQUOT:
      return Status(Code::kResourceExhausted, std::move(m));
    default:
      return Status(Code::kIoError, std::move(m));
  }
}

}  // namespace wb
