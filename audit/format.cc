// Query output for records (--events): a table for people, JSON lines and CSV for tools.
#include "audit/internal/format.h"

#include <string>
#include <vector>

#include "audit/audit.h"
#include "audit/internal/table.h"

namespace wb::audit {
namespace {

using internal::Column;

std::string DecisionCell(const Event& e) {
  std::string out(Name(e.decision));
  if (e.reasons.empty()) return out;
  const std::string reasons = internal::JoinText(e.reasons, ",");
  if (out.empty()) return reasons;
  out.append(" (").append(reasons).append(")");
  return out;
}

// "self (sms+email)" when users act on their own account, "admin:bob@corp (fido2)" otherwise.
std::string RequesterCell(const Event& e) {
  std::string out = internal::RequesterText(e.requester, e.target);
  if (e.requester.verified_by.empty()) return out;
  out += out.empty() ? "(" : " (";
  out.append(internal::JoinText(e.requester.verified_by, "+")).append(")");
  return out;
}

// The table is for reading in a terminal: seconds, not milliseconds (seq gives the order), and
// request ids cut to 8 characters like short commit ids (--request takes a prefix). JSON and
// CSV have everything.
std::vector<std::string> TableRow(const Record& r) {
  const Event& e = r.event;
  return {internal::TableTime(r.time),
          std::to_string(r.seq),
          std::string(Name(e.type)),
          internal::ShortRequestId(e.request_id),
          internal::JoinOperations(e.operations, "+"),
          e.target.requested.empty() ? e.target.dn : e.target.requested,
          RequesterCell(e),
          DecisionCell(e),
          e.outcome,
          internal::DurationText(e.duration),
          e.detail};
}

std::string Table(const std::vector<StoredRecord>& records) {
  const std::vector<Column> columns = {
      {"TIME (UTC)", 10, true}, {"SEQ"},       {"EVENT"},        {"REQUEST"},
      {"OPERATION", 9},         {"TARGET", 6}, {"REQUESTER", 9}, {"DECISION", 8},
      {"OUTCOME", 7},           {"MS"},        {"DETAIL", 6}};
  std::vector<std::vector<std::string>> rows;
  for (const StoredRecord& s : records) {
    std::vector<std::string> row = TableRow(s.record);
    for (std::string& cell : row) cell = internal::TerminalText(cell);
    rows.push_back(std::move(row));
  }
  std::string out = internal::FormatTable(columns, rows, kTableWidth);
  out += internal::Count(records.size(), "record");
  return out;
}

std::string Csv(const std::vector<StoredRecord>& records) {
  std::string out = internal::CsvLine(
      {"seq",         "time",      "agent",   "event",     "request_id",     "correlation_id",
       "tenant",      "operation", "target",  "target_dn", "requester_kind", "requester",
       "verified_by", "decision",  "reasons", "directory", "server",         "outcome",
       "duration_ms", "detail"});
  for (const StoredRecord& s : records) {
    const Record& r = s.record;
    const Event& e = r.event;
    out += internal::CsvLine({std::to_string(r.seq),
                              FormatTime(r.time),
                              r.agent,
                              std::string(Name(e.type)),
                              e.request_id,
                              e.correlation_id,
                              e.tenant,
                              internal::JoinOperations(e.operations, ";"),
                              e.target.requested,
                              e.target.dn,
                              std::string(Name(e.requester.kind)),
                              e.requester.id,
                              internal::JoinText(e.requester.verified_by, ";"),
                              std::string(Name(e.decision)),
                              internal::JoinText(e.reasons, ";"),
                              e.directory,
                              e.server,
                              e.outcome,
                              internal::DurationText(e.duration),
                              e.detail});
  }
  return out;
}

}  // namespace

std::string FormatRecords(const std::vector<StoredRecord>& records, Format format) {
  switch (format) {
    case Format::kTable:
      return Table(records);
    case Format::kCsv:
      return Csv(records);
    case Format::kJson:
      break;
  }
  std::string out;
  for (const StoredRecord& s : records) out += s.line + "\n";
  return out;
}

}  // namespace wb::audit
