// Query output for the request view: one row per request (audit.h, RequestRow).
#include <algorithm>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "audit/audit.h"
#include "audit/internal/format.h"
#include "audit/internal/table.h"

namespace wb::audit {
namespace {

using internal::Column;
using Json = nlohmann::ordered_json;

// Why it ended so, beyond the outcome code: the policy's reasons for a (would-be) denial, and
// the rejection's reasons the code does not already say (e.g. id_not_authenticated).
std::string ReasonsText(const RequestRow& row) {
  std::vector<std::string> extra;
  for (const std::string& r : row.reasons) {
    if (r != row.outcome) extra.push_back(r);
  }
  std::string text = internal::JoinText(extra, ",");
  // A denial's outcome says it was denied; a log-only one's would not.
  if (row.decision != Decision::kWouldDeny) return text;
  std::string out(Name(row.decision));
  if (!text.empty()) out.append(": ").append(text);
  return out;
}

// "self" for users acting on their own account, else who acted: the administrator's id.
std::string RequesterCell(const RequestRow& row) {
  if (row.requester.kind == RequesterKind::kAdmin) return row.requester.id;
  return internal::RequesterText(row.requester, row.target);
}

// "succeeded", "protected_account" (a denial ends with its deciding rule's code),
// "succeeded, 3 attempts".
std::string ResultCell(const RequestRow& row) {
  std::string out = row.outcome.empty() ? "(no result yet)" : row.outcome;
  const std::string reasons = ReasonsText(row);
  if (!reasons.empty()) out.append(" (").append(reasons).append(")");
  if (row.writes > 1) out.append(", ").append(std::to_string(row.writes)).append(" attempts");
  return out;
}

std::vector<std::string> TableRow(const RequestRow& row) {
  return {internal::TableTime(row.time),
          internal::ShortRequestId(row.request_id),
          RequesterCell(row),
          internal::JoinOperations(row.operations, "+"),
          row.target.requested.empty() ? row.target.dn : row.target.requested,
          internal::JoinText(row.requester.verified_by, "+"),
          ResultCell(row)};
}

std::string Table(const std::vector<RequestRow>& rows) {
  const std::vector<Column> columns = {
      {"TIME (UTC)", 10, true}, {"REQUEST"},  {"REQUESTER", 9}, {"OPERATION", 9}, {"TARGET", 6},
      {"VERIFIED BY", 11},      {"RESULT", 6}};
  std::vector<std::vector<std::string>> cells;
  for (const RequestRow& row : rows) {
    std::vector<std::string> line = TableRow(row);
    for (std::string& cell : line) cell = internal::TerminalText(cell);
    cells.push_back(std::move(line));
  }
  std::string out = internal::FormatTable(columns, cells, kTableWidth);
  out += internal::Count(rows.size(), "request");
  return out;
}

std::vector<std::string> EventNames(const RequestRow& row) {
  std::vector<std::string> names;
  for (EventType type : row.events) names.emplace_back(Name(type));
  return names;
}

std::vector<std::string> OperationNames(const RequestRow& row) {
  std::vector<std::string> names;
  for (Operation op : row.operations) names.emplace_back(Name(op));
  return names;
}

Json RowJson(const RequestRow& row) {
  return {{"request_id", row.request_id},
          {"time", FormatTime(row.time)},
          {"last_time", FormatTime(row.last_time)},
          {"first_seq", row.first_seq},
          {"last_seq", row.last_seq},
          {"agent", row.agent},
          {"tenant", row.tenant},
          {"correlation_id", row.correlation_id},
          {"operation", OperationNames(row)},
          {"target", {{"requested", row.target.requested}, {"dn", row.target.dn}}},
          {"requester",
           {{"kind", std::string(Name(row.requester.kind))},
            {"id", row.requester.id},
            {"verified_by", row.requester.verified_by}}},
          {"decision", std::string(Name(row.decision))},
          {"reasons", row.reasons},
          {"directory", row.directory},
          {"server", row.server},
          {"outcome", row.outcome},
          {"writes", row.writes},
          {"duration_ms", row.duration ? Json(row.duration->count()) : Json(nullptr)},
          {"result_sent", row.result_sent},
          {"result_acknowledged", row.result_acknowledged},
          {"events", EventNames(row)},
          {"detail", row.detail}};
}

std::string JsonLines(const std::vector<RequestRow>& rows) {
  std::string out;
  for (const RequestRow& row : rows) {
    out += RowJson(row).dump(-1, ' ', false, Json::error_handler_t::replace);
    out += '\n';
  }
  return out;
}

std::string Bool(bool value) { return value ? "true" : "false"; }

std::string Csv(const std::vector<RequestRow>& rows) {
  std::string out = internal::CsvLine({"request_id",
                                       "time",
                                       "last_time",
                                       "first_seq",
                                       "last_seq",
                                       "agent",
                                       "tenant",
                                       "correlation_id",
                                       "operation",
                                       "target",
                                       "target_dn",
                                       "requester_kind",
                                       "requester",
                                       "verified_by",
                                       "decision",
                                       "reasons",
                                       "directory",
                                       "server",
                                       "outcome",
                                       "writes",
                                       "duration_ms",
                                       "result_sent",
                                       "result_acknowledged",
                                       "events",
                                       "detail"});
  for (const RequestRow& row : rows) {
    out += internal::CsvLine({row.request_id,
                              FormatTime(row.time),
                              FormatTime(row.last_time),
                              std::to_string(row.first_seq),
                              std::to_string(row.last_seq),
                              row.agent,
                              row.tenant,
                              row.correlation_id,
                              internal::JoinOperations(row.operations, ";"),
                              row.target.requested,
                              row.target.dn,
                              std::string(Name(row.requester.kind)),
                              row.requester.id,
                              internal::JoinText(row.requester.verified_by, ";"),
                              std::string(Name(row.decision)),
                              internal::JoinText(row.reasons, ";"),
                              row.directory,
                              row.server,
                              row.outcome,
                              std::to_string(row.writes),
                              internal::DurationText(row.duration),
                              Bool(row.result_sent),
                              Bool(row.result_acknowledged),
                              internal::JoinText(EventNames(row), ";"),
                              row.detail});
  }
  return out;
}

}  // namespace

std::string FormatRequests(const std::vector<RequestRow>& rows, Format format) {
  switch (format) {
    case Format::kTable:
      return Table(rows);
    case Format::kCsv:
      return Csv(rows);
    case Format::kJson:
      return JsonLines(rows);
  }
  return JsonLines(rows);
}

}  // namespace wb::audit
