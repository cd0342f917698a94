#pragma once
// Components opened the same way by the daemon and by the commands that preview its
// decisions (`wbagent policy test`), so that a preview cannot drift from what the daemon does.

#include <memory>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "config/config.h"
#include "ldap/directory.h"
#include "policy/policy.h"
#include "queue/queue.h"

namespace wb::agent {

// One ldap::Directory per [[directory]], behind a Router. Reads each bind password; connects
// lazily. Errors: those of ldap::OpenDirectory (an unreadable bind password file).
Result<std::unique_ptr<ldap::Router>> OpenDirectories(const config::Config& config,
                                                      const Clock& clock);

// The requests `queue` holds that the policy admitted within the longest rate-limit window, for
// the limits to count after a restart. Held (still `received`) and denied requests did not count
// before the restart either. Errors: the queue's (kUnavailable, kCorruption...).
Result<std::vector<policy::PastRequest>> RateLimitHistory(const config::Config& config,
                                                          queue::Queue& queue, const Clock& clock);

// Opens the files the policy reads at a start (each banned_words_file's terms, each
// breached_file's header), as the start and a reload do, without the queue or the breaker:
// for check-config and doctor, so that they refuse what the start would. Errors: the file's
// key and FILE:LINE (kInvalidArgument, kCorruption...).
Status CheckPolicyFiles(const config::Config& config, const Clock& clock);

// policy::Policy::Open with `history` and the breaker state kept in <state_dir>/breaker.json
// (closed when the file does not exist). Errors: an unreadable or invalid breaker.json (named
// "breaker state"), an invalid scope DN.
Result<std::unique_ptr<policy::Policy>> OpenPolicy(const config::Config& config,
                                                   const std::vector<policy::PastRequest>& history,
                                                   const Clock& clock);

}  // namespace wb::agent
