#pragma once
// One line of `wbagent doctor`: a read-only check, its result and, when it failed, the one
// thing to do. Checks are produced by the component that knows the thing checked (ldap/ for
// directories, channel/ for the cloud, agent/ for the agent's own files) and printed by agent/.

#include <string>
#include <vector>

namespace wb {

// kSkipped: not run, because a check it depends on failed (`detail` says which); never a pass.
enum class CheckState { kOk, kFail, kSkipped };

inline const char* CheckStateName(CheckState s) {
  switch (s) {
    case CheckState::kOk:
      return "ok";
    case CheckState::kFail:
      return "fail";
    case CheckState::kSkipped:
      return "skipped";
  }
  return "";
}

struct CheckResult {
  std::string id;     // stable, e.g. "directory.corp.url1.tls"
  std::string title;  // what was checked, e.g. "TLS to ldaps://dc1:636"
  CheckState state = CheckState::kOk;
  std::string detail;  // what was found (ok), what is wrong (fail), or why not run (skipped)
  std::string fix;     // kFail only: the one thing to do
};

inline CheckResult CheckOk(std::string id, std::string title, std::string detail) {
  return {std::move(id), std::move(title), CheckState::kOk, std::move(detail), ""};
}
inline CheckResult CheckFail(std::string id, std::string title, std::string detail,
                             std::string fix) {
  return {std::move(id), std::move(title), CheckState::kFail, std::move(detail), std::move(fix)};
}
inline CheckResult CheckSkipped(std::string id, std::string title, std::string why) {
  return {std::move(id), std::move(title), CheckState::kSkipped, std::move(why), ""};
}

}  // namespace wb
