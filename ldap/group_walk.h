#pragma once
// Nested group membership found by following memberOf upward (internal to ldap/). OpenLDAP's
// memberOf overlay stores only direct memberships: a user in group B, which is a member of
// group A, has memberOf B, and B has memberOf A.
//
// The walk is breadth first from the account's own groups (level 1). Each group is read at
// most once, so a cycle between groups ends. It stops as soon as every wanted group is found;
// otherwise it reads at most `max_reads` groups and follows at most `max_depth` levels, and
// needing more is kInternalError naming the limit: an answer it could not finish is never a
// silent "not a member".

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "ldap/directory.h"
#include "ldap/dn.h"

namespace wb::ldap {

// The memberOf values of one group; an empty list when the group has none (or is gone).
using ReadParentGroups = std::function<Result<std::vector<std::string>, Outcome>(const Dn& group)>;

struct GroupWalkLimits {
  int max_depth = Directory::kMaxGroupDepth;
  int max_reads = Directory::kMaxGroupsRead;
};

// Indices into `wanted`, ascending, of the groups reached from `direct` (the account's own
// memberOf values). A value that is not a DN is kInternalError; so is an error of
// `read_parents`, passed on unchanged.
Result<std::vector<std::size_t>, Outcome> FindNestedGroups(const std::vector<std::string>& direct,
                                                           const std::vector<Dn>& wanted,
                                                           const ReadParentGroups& read_parents,
                                                           GroupWalkLimits limits = {});

}  // namespace wb::ldap
