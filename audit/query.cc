// Query: read the trail in order and keep the records a filter matches. No verification.
#include "audit/internal/query.h"

#include <algorithm>
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

bool StartsWith(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

}  // namespace

namespace internal {

bool MatchesUser(std::string_view pattern, const Target& target, const std::string& requester) {
  return (!target.requested.empty() && GlobMatches(pattern, target.requested)) ||
         (!target.dn.empty() && GlobMatches(pattern, target.dn)) ||
         (!requester.empty() && GlobMatches(pattern, requester));
}

Result<std::uint64_t> ForEachRecord(const std::filesystem::path& file,
                                    const std::function<void(Record&&, std::string&&)>& visit) {
  auto files = ListTrail(file);
  if (!files.ok()) return files.error();
  std::uint64_t skipped = 0;
  for (const TrailFile& f : *files) {
    auto reader = LineReader::Open(f.path);
    if (!reader.ok()) return reader.error();
    Line line;
    for (;;) {
      auto more = reader->Next(line);
      if (!more.ok()) return more.error();
      if (!*more) break;
      auto record = line.complete && !line.too_long ? ParseRecord(line.text)
                                                    : Result<Record>(InvalidArgument("torn"));
      if (!record.ok()) {
        ++skipped;
        continue;
      }
      visit(std::move(*record), std::move(line.text));
    }
  }
  return skipped;
}

bool RequestPrefix::See(const std::string& id) {
  if (prefix_.empty()) return true;
  if (id.empty() || !StartsWith(id, prefix_)) return false;
  if (id == prefix_) whole_id_seen_ = true;
  if (ids_.size() < kKeep && std::find(ids_.begin(), ids_.end(), id) == ids_.end()) {
    ids_.push_back(id);
  }
  return true;
}

Result<std::string> RequestPrefix::Resolve() const {
  if (prefix_.empty() || whole_id_seen_) return prefix_;
  if (prefix_.size() < kMinRequestPrefix) {
    std::string message = "\"";
    message.append(prefix_)
        .append("\" is no request id, and a prefix needs ")
        .append(std::to_string(kMinRequestPrefix))
        .append(" characters or more");
    return InvalidArgument(message);
  }
  if (ids_.size() <= 1) return ids_.empty() ? prefix_ : ids_.front();
  std::string message = "more than one request starts with \"";
  message.append(prefix_).append("\": ");
  for (std::size_t i = 0; i < ids_.size() && i + 1 < kKeep; ++i) {
    if (i > 0) message += ", ";
    message += ids_[i];
  }
  if (ids_.size() == kKeep) message += ", ...";
  message += "; give more characters";
  return InvalidArgument(message);
}

}  // namespace internal

bool Matches(const Record& record, const QueryFilter& filter) {
  const Event& e = record.event;
  if (filter.since && record.time < *filter.since) return false;
  if (filter.until && record.time >= *filter.until) return false;
  if (!filter.request_id.empty() && !StartsWith(e.request_id, filter.request_id)) return false;
  if (!filter.outcome.empty() && e.outcome != filter.outcome) return false;
  if (filter.event && e.type != *filter.event) return false;
  if (filter.decision && e.decision != *filter.decision) return false;
  if (!filter.user.empty() && !internal::MatchesUser(filter.user, e.target, e.requester.id)) {
    return false;
  }
  return true;
}

Result<QueryResult> Query(const std::filesystem::path& file, const QueryFilter& filter) {
  QueryResult result;
  internal::RequestPrefix prefix(filter.request_id);
  auto skipped = internal::ForEachRecord(file, [&](Record&& record, std::string&& line) {
    // Every id with the prefix counts for its resolution, whatever the other filters say.
    if (!filter.request_id.empty() && !prefix.See(record.event.request_id)) return;
    if (Matches(record, filter)) result.records.push_back({std::move(record), std::move(line)});
  });
  if (!skipped.ok()) return skipped.error();
  result.skipped_lines = *skipped;
  if (filter.request_id.empty()) return result;
  auto id = prefix.Resolve();
  if (!id.ok()) return id.error();
  std::erase_if(result.records,
                [&](const StoredRecord& s) { return s.record.event.request_id != *id; });
  return result;
}

}  // namespace wb::audit
