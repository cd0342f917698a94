#pragma once
// The policy summary the agent sends the cloud after every welcome and whenever it changes
// (protocol::PolicySummary; docs/protocol.md, "policy_summary"), so that the user's reset page
// can show the rules before the user types (internal to agent/).
//
// Built from the config's directories (names, UPN suffixes), the policy's password tables
// (Policy::PasswordSummaryFor, self-service and admin) and each directory's default password
// policy as read (Router::DefaultPolicies). A pure function: the reads happen before, on the
// daemon's background directory check, never on the channel's thread.

#include <string>
#include <utility>
#include <vector>

#include "config/config.h"
#include "ldap/directory.h"
#include "policy/policy.h"
#include "protocol/protocol.h"

namespace wb::agent {

using DefaultPolicies =
    std::vector<std::pair<std::string, Result<ldap::PasswordPolicy, ldap::Outcome>>>;

// One entry per configured directory, in config order. A directory whose policy could not be
// read has no `directory` part (the next refresh tries again). Values beyond the protocol's
// bounds are clamped to them, so that the message always parses.
protocol::PolicySummary BuildPolicySummary(const std::vector<config::DirectoryConfig>& directories,
                                           const policy::Policy& rules,
                                           const DefaultPolicies& defaults);

}  // namespace wb::agent
