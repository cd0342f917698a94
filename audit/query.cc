// Query: read the trail in order and keep the records a filter matches. No verification.
#include <string>

#include "audit/audit.h"
#include "audit/internal/files.h"

namespace wb::audit {
namespace {

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// '*' matches any run of characters; everything else matches itself, ignoring ASCII case.
bool GlobMatches(std::string_view pattern, std::string_view text) {
  std::size_t p = 0, t = 0, star = std::string_view::npos, resume = 0;
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = t;
    } else if (p < pattern.size() && Lower(pattern[p]) == Lower(text[t])) {
      ++p;
      ++t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

}  // namespace

bool Matches(const Record& record, const QueryFilter& filter) {
  const Event& e = record.event;
  if (filter.since && record.time < *filter.since) return false;
  if (filter.until && record.time >= *filter.until) return false;
  if (!filter.request_id.empty() && e.request_id.rfind(filter.request_id, 0) != 0) return false;
  if (!filter.outcome.empty() && e.outcome != filter.outcome) return false;
  if (!filter.user.empty()) {
    const bool any =
        (!e.target.requested.empty() && GlobMatches(filter.user, e.target.requested)) ||
        (!e.target.dn.empty() && GlobMatches(filter.user, e.target.dn)) ||
        (!e.requester.id.empty() && GlobMatches(filter.user, e.requester.id));
    if (!any) return false;
  }
  return true;
}

Result<QueryResult> Query(const std::filesystem::path& file, const QueryFilter& filter) {
  auto files = internal::ListTrail(file);
  if (!files.ok()) return files.error();
  QueryResult result;
  for (const internal::TrailFile& f : *files) {
    auto reader = internal::LineReader::Open(f.path);
    if (!reader.ok()) return reader.error();
    internal::Line line;
    for (;;) {
      auto more = reader->Next(line);
      if (!more.ok()) return more.error();
      if (!*more) break;
      auto record = line.complete && !line.too_long ? ParseRecord(line.text)
                                                    : Result<Record>(InvalidArgument("torn"));
      if (!record.ok()) {
        ++result.skipped_lines;
        continue;
      }
      if (Matches(*record, filter)) {
        result.records.push_back({std::move(*record), std::move(line.text)});
      }
    }
  }
  return result;
}

}  // namespace wb::audit
