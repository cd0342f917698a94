#include "ldap/group_walk.h"

#include <optional>
#include <set>

#include "common/log_escape.h"

namespace wb::ldap {
namespace {

// The walk's state: what was seen, what is still wanted.
class GroupWalk {
 public:
  explicit GroupWalk(const std::vector<Dn>& wanted) : wanted_(wanted), found_(wanted.size()) {}

  bool done() const { return left_ == 0; }

  // Records one memberOf value; a group not seen before is appended to `level`.
  std::optional<Outcome> Visit(const std::string& text, std::vector<Dn>& level) {
    auto dn = Dn::Parse(text);
    if (!dn.ok()) {
      std::string reason = "the directory returned a memberOf value that is not a DN ('";
      reason += EscapeForLog(text);
      reason += "': ";
      reason += dn.error().message();
      reason += ")";
      return MakeOutcome(OutcomeCode::kInternalError, std::move(reason));
    }
    if (!seen_.insert(*dn).second) return std::nullopt;
    for (std::size_t i = 0; i < wanted_.size(); ++i) {
      if (!found_[i] && wanted_[i] == *dn) {
        found_[i] = true;
        --left_;
      }
    }
    level.push_back(std::move(*dn));
    return std::nullopt;
  }

  std::vector<std::size_t> Found() const {
    std::vector<std::size_t> out;
    for (std::size_t i = 0; i < found_.size(); ++i) {
      if (found_[i]) out.push_back(i);
    }
    return out;
  }

 private:
  const std::vector<Dn>& wanted_;
  std::vector<bool> found_;
  std::size_t left_ = wanted_.size();
  std::set<Dn> seen_;
};

Outcome LimitReached(const std::string& what, int limit, const char* constant) {
  std::string reason = "nested group membership could not be decided: ";
  reason += what;
  reason += " (";
  reason += std::to_string(limit);
  reason += ", Directory::";
  reason += constant;
  reason += "); look for an unintended chain of groups above the account";
  return MakeOutcome(OutcomeCode::kInternalError, std::move(reason));
}

}  // namespace

Result<std::vector<std::size_t>, Outcome> FindNestedGroups(const std::vector<std::string>& direct,
                                                           const std::vector<Dn>& wanted,
                                                           const ReadParentGroups& read_parents,
                                                           GroupWalkLimits limits) {
  GroupWalk walk(wanted);
  std::vector<Dn> level;
  for (const auto& text : direct) {
    if (auto bad = walk.Visit(text, level)) return *bad;
  }
  int reads = 0;
  for (int depth = 1; !walk.done() && !level.empty(); ++depth) {
    std::vector<Dn> next;
    for (const Dn& group : level) {
      if (walk.done()) break;
      if (reads == limits.max_reads) {
        return LimitReached("more groups to read than the limit", limits.max_reads,
                            "kMaxGroupsRead");
      }
      ++reads;
      auto parents = read_parents(group);
      if (!parents.ok()) return parents.error();
      for (const auto& text : *parents) {
        if (auto bad = walk.Visit(text, next)) return *bad;
      }
    }
    if (!walk.done() && !next.empty() && depth == limits.max_depth) {
      return LimitReached("groups nested deeper than the limit", limits.max_depth,
                          "kMaxGroupDepth");
    }
    level = std::move(next);
  }
  return walk.Found();
}

}  // namespace wb::ldap
