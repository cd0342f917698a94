#pragma once
// Cell texts shared by the record view (format.cc) and the request view (format_requests.cc).

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "audit/audit.h"

namespace wb::audit::internal {

// Request ids in tables are cut to this many characters, like short commit ids.
inline constexpr std::size_t kShortRequestId = 8;

std::string JoinText(const std::vector<std::string>& items, std::string_view separator);
std::string JoinOperations(const std::vector<Operation>& operations, std::string_view separator);
// "2026-03-02 09:15:07": a record time to the second, for a table.
std::string TableTime(WallTime time);
std::string ShortRequestId(const std::string& id);
std::string DurationText(const std::optional<std::chrono::milliseconds>& duration);
// "self" when users act on their own account (the requester is the target, ignoring case),
// "self:id" or "admin:id" otherwise; empty for no requester.
std::string RequesterText(const Requester& requester, const Target& target);
// "3 records", "1 request".
std::string Count(std::size_t n, std::string_view noun);

}  // namespace wb::audit::internal
