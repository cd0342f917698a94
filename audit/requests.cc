// The request view: the records of each request joined into one row (audit.h, RequestRow).
#include <algorithm>
#include <string>
#include <unordered_map>

#include "audit/audit.h"
#include "audit/internal/query.h"

namespace wb::audit {
namespace {

bool IsRequestRecord(const Event& e) {
  return !e.request_id.empty() || e.type == EventType::kRequestRejected;
}

void KeepFirst(std::string& kept, const std::string& value) {
  if (kept.empty()) kept = value;
}

void KeepLast(std::string& kept, const std::string& value) {
  if (!value.empty()) kept = value;
}

// What each event type adds beyond the fields every request record carries.
void FoldByType(RequestRow& row, const Event& e) {
  switch (e.type) {
    case EventType::kPolicyDecision:
      row.decision = e.decision;
      row.decisions.push_back(e.decision);
      row.reasons = e.reasons;
      return;
    case EventType::kRequestRejected:
    case EventType::kRequestExpired:  // its reason: the last attempt's error, if one failed
      if (!e.reasons.empty()) row.reasons = e.reasons;
      return;
    case EventType::kDirectoryWrite:
      ++row.writes;
      row.directory = e.directory;
      row.server = e.server;
      row.duration = e.duration;
      return;
    case EventType::kPasswordValidated:  // answered without a write: not one of `writes`
      row.directory = e.directory;
      row.duration = e.duration;
      return;
    case EventType::kResultSent:
      row.result_sent = true;
      return;
    case EventType::kResultAcknowledged:
      row.result_acknowledged = true;
      return;
    default:
      return;  // the shared fields say all
  }
}

void Fold(RequestRow& row, const Record& r) {
  const Event& e = r.event;
  if (row.events.empty()) {
    row.request_id = e.request_id;
    row.first_seq = r.seq;
    row.time = r.time;
  }
  row.last_seq = r.seq;
  row.last_time = r.time;
  row.events.push_back(e.type);
  KeepFirst(row.agent, r.agent);
  KeepFirst(row.tenant, e.tenant);
  KeepFirst(row.correlation_id, e.correlation_id);
  if (row.operations.empty()) row.operations = e.operations;
  KeepFirst(row.target.requested, e.target.requested);
  KeepLast(row.target.dn, e.target.dn);
  if (row.requester == Requester{}) row.requester = e.requester;
  KeepLast(row.outcome, e.outcome);
  KeepLast(row.detail, e.detail);
  FoldByType(row, e);
}

// Rows in the order of their first record. A rejection without a request id is a row alone.
class Grouper {
 public:
  void Add(const Record& record) {
    const std::string& id = record.event.request_id;
    if (id.empty()) {
      Fold(rows_.emplace_back(), record);
      return;
    }
    auto [it, inserted] = index_.try_emplace(id, rows_.size());
    if (inserted) rows_.emplace_back();
    Fold(rows_[it->second], record);
  }
  std::vector<RequestRow> Take() { return std::move(rows_); }

 private:
  std::vector<RequestRow> rows_;
  std::unordered_map<std::string, std::size_t> index_;
};

}  // namespace

std::vector<RequestRow> GroupByRequest(const std::vector<StoredRecord>& records) {
  Grouper grouper;
  for (const StoredRecord& s : records) {
    if (IsRequestRecord(s.record.event)) grouper.Add(s.record);
  }
  return grouper.Take();
}

bool Matches(const RequestRow& row, const QueryFilter& filter) {
  if (filter.since && row.time < *filter.since) return false;
  if (filter.until && row.time >= *filter.until) return false;
  if (!filter.request_id.empty() && row.request_id != filter.request_id) return false;
  if (!filter.outcome.empty() && row.outcome != filter.outcome) return false;
  if (filter.event &&
      std::find(row.events.begin(), row.events.end(), *filter.event) == row.events.end()) {
    return false;
  }
  if (filter.decision && std::find(row.decisions.begin(), row.decisions.end(), *filter.decision) ==
                             row.decisions.end()) {
    return false;
  }
  if (!filter.user.empty() && !internal::MatchesUser(filter.user, row.target, row.requester.id)) {
    return false;
  }
  return true;
}

Result<RequestQueryResult> QueryRequests(const std::filesystem::path& file,
                                         const QueryFilter& filter) {
  Grouper grouper;
  internal::RequestPrefix prefix(filter.request_id);
  auto skipped = internal::ForEachRecord(file, [&](Record&& record, std::string&&) {
    if (IsRequestRecord(record.event) && prefix.See(record.event.request_id)) {
      grouper.Add(record);
    }
  });
  if (!skipped.ok()) return skipped.error();
  auto id = prefix.Resolve();
  if (!id.ok()) return id.error();
  QueryFilter resolved = filter;
  resolved.request_id = *id;
  RequestQueryResult result;
  result.skipped_lines = *skipped;
  for (RequestRow& row : grouper.Take()) {
    if (Matches(row, resolved)) result.rows.push_back(std::move(row));
  }
  return result;
}

}  // namespace wb::audit
