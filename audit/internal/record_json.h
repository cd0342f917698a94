#pragma once
// The canonical JSON of a record (docs/audit.md, "Record schema"): fixed key order, compact,
// UTF-8 (not \u-escaped except control characters), empty fields left out.

#include <string>

#include "audit/audit.h"

namespace wb::audit::internal {

// The record without its "hmac" member: the bytes the HMAC covers. Uses record.prev; applies
// the length limits of Event.
std::string RecordBody(const Record& record);

// Whole milliseconds, as stored.
WallTime TruncateToMillis(WallTime time);

}  // namespace wb::audit::internal
