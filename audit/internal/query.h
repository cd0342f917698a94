#pragma once
// What Query and QueryRequests share: reading the trail's records in order, the user match,
// and resolving a request-id prefix after one pass.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "audit/audit.h"

namespace wb::audit::internal {

// Calls `visit` with each complete record of the trail (rotated files first) and its line as
// stored. Returns how many lines were not records (torn, malformed, too long).
Result<std::uint64_t> ForEachRecord(const std::filesystem::path& file,
                                    const std::function<void(Record&&, std::string&&)>& visit);

// QueryFilter::user against a target and a requester id.
bool MatchesUser(std::string_view pattern, const Target& target, const std::string& requester);

// Collects the request ids that start with a prefix (QueryFilter::request_id) during a pass,
// then says which one the prefix means.
class RequestPrefix {
 public:
  explicit RequestPrefix(std::string prefix) : prefix_(std::move(prefix)) {}
  // Whether `id` starts with the prefix (always, for an empty prefix); remembers it.
  bool See(const std::string& id);
  // The id meant: the prefix itself when it is a whole id seen, the one id seen that starts
  // with it, or the prefix when none did (so nothing matches). Empty for an empty prefix.
  // kInvalidArgument: several ids start with it, or it is shorter than kMinRequestPrefix and
  // no whole id.
  Result<std::string> Resolve() const;

 private:
  static constexpr std::size_t kKeep = 4;  // enough to name three and say "more"
  std::string prefix_;
  bool whole_id_seen_ = false;
  std::vector<std::string> ids_;  // distinct, at most kKeep
};

}  // namespace wb::audit::internal
