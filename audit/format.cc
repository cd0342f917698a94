// Query output: a table for people, JSON lines and CSV for tools.
#include <algorithm>
#include <array>
#include <cctype>
#include <string>
#include <vector>

#include "audit/audit.h"

namespace wb::audit {
namespace {

constexpr std::size_t kMaxCellChars = 40;
constexpr std::size_t kShortRequest = 8;

template <typename T, typename F>
std::string Join(const std::vector<T>& items, std::string_view sep, F&& name) {
  std::string out;
  for (const T& item : items) {
    if (!out.empty()) out += sep;
    out += name(item);
  }
  return out;
}

std::string Identity(const std::string& s) { return s; }
std::string OperationName(Operation op) { return std::string(Name(op)); }

std::string Duration(const Event& e) {
  return e.duration ? std::to_string(e.duration->count()) : std::string();
}

// ---- Table ------------------------------------------------------------------------------

bool IsContinuation(unsigned char c) { return (c & 0xC0) == 0x80; }

std::size_t DisplayWidth(std::string_view text) {
  std::size_t width = 0;
  for (unsigned char c : text) width += IsContinuation(c) ? 0 : 1;
  return width;
}

// Safe for a terminal: C0 and C1 control characters and DEL become '?', so a value from a peer
// cannot move the cursor or change colours. At most kMaxCellChars characters.
std::string TerminalCell(std::string_view text) {
  if (text.empty()) return "-";
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    const bool c1 = c == 0xC2 && i + 1 < text.size() &&
                    static_cast<unsigned char>(text[i + 1]) >= 0x80 &&
                    static_cast<unsigned char>(text[i + 1]) <= 0x9F;
    if (c < 0x20 || c == 0x7F || c1) {
      out += '?';
      if (c1) ++i;
    } else {
      out += static_cast<char>(c);
    }
  }
  if (DisplayWidth(out) <= kMaxCellChars) return out;
  std::size_t chars = 0, cut = 0;
  for (; cut < out.size(); ++cut) {
    if (!IsContinuation(static_cast<unsigned char>(out[cut])) && chars++ == kMaxCellChars - 3) {
      break;
    }
  }
  out.resize(cut);
  return out + "...";
}

bool EqualsIgnoringCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

// "self (sms+email)" when users act on their own account, "admin:bob@corp (fido2)" otherwise.
std::string RequesterCell(const Event& e) {
  std::string out(Name(e.requester.kind));
  if (!e.requester.id.empty() && !EqualsIgnoringCase(e.requester.id, e.target.requested)) {
    out += (out.empty() ? "" : ":") + e.requester.id;
  }
  if (!e.requester.verified_by.empty()) {
    out += (out.empty() ? "(" : " (") + Join(e.requester.verified_by, "+", Identity) + ")";
  }
  return out;
}

std::string DecisionCell(const Event& e) {
  std::string out(Name(e.decision));
  if (e.reasons.empty()) return out;
  const std::string reasons = Join(e.reasons, ",", Identity);
  return out.empty() ? reasons : out + " (" + reasons + ")";
}

// The table is for reading in a terminal: seconds, not milliseconds (seq gives the order), and
// request ids cut to kShortRequest characters like short commit ids (--request takes a prefix).
// JSON and CSV have everything.
std::vector<std::string> TableRow(const Record& r) {
  const Event& e = r.event;
  std::string time = FormatTime(r.time).substr(0, 19);
  time[10] = ' ';
  return {time,
          std::to_string(r.seq),
          std::string(Name(e.type)),
          e.request_id.substr(0, kShortRequest),
          Join(e.operations, "+", OperationName),
          e.target.requested.empty() ? e.target.dn : e.target.requested,
          RequesterCell(e),
          DecisionCell(e),
          e.outcome,
          Duration(e),
          e.detail};
}

std::string Table(const std::vector<StoredRecord>& records) {
  const std::vector<std::string> header = {"TIME (UTC)", "SEQ",    "EVENT",     "REQUEST",
                                           "OPERATION",  "TARGET", "REQUESTER", "DECISION",
                                           "OUTCOME",    "MS",     "DETAIL"};
  std::vector<std::vector<std::string>> rows = {header};
  for (const StoredRecord& s : records) {
    std::vector<std::string> row = TableRow(s.record);
    for (std::string& cell : row) cell = TerminalCell(cell);
    rows.push_back(std::move(row));
  }
  std::vector<std::size_t> widths(header.size(), 0);
  for (const auto& row : rows) {
    for (std::size_t i = 0; i < row.size(); ++i) {
      widths[i] = std::max(widths[i], DisplayWidth(row[i]));
    }
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line.append(widths[i] - DisplayWidth(row[i]) + 2, ' ');
    }
    out += line + "\n";
  }
  out += std::to_string(records.size()) + (records.size() == 1 ? " record\n" : " records\n");
  return out;
}

// ---- CSV --------------------------------------------------------------------------------

// RFC 4180: a field with a comma, quote, CR or LF is quoted and its quotes doubled. A field a
// spreadsheet would run as a formula gets a leading ' (and is quoted).
std::string CsvField(std::string_view text) {
  std::string value;
  const bool formula = !text.empty() && (text[0] == '=' || text[0] == '+' || text[0] == '-' ||
                                         text[0] == '@' || text[0] == '\t' || text[0] == '\r');
  if (formula) value += '\'';
  value += text;
  if (!formula && value.find_first_of(",\"\r\n") == std::string::npos) return value;
  std::string out = "\"";
  for (char c : value) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

std::string Csv(const std::vector<StoredRecord>& records) {
  static constexpr std::array<std::string_view, 20> kColumns = {
      "seq",         "time",      "agent",   "event",     "request_id",     "correlation_id",
      "tenant",      "operation", "target",  "target_dn", "requester_kind", "requester",
      "verified_by", "decision",  "reasons", "directory", "server",         "outcome",
      "duration_ms", "detail"};
  std::string out;
  for (std::size_t i = 0; i < kColumns.size(); ++i) {
    if (i > 0) out += ',';
    out += kColumns[i];
  }
  out += "\r\n";
  for (const StoredRecord& s : records) {
    const Record& r = s.record;
    const Event& e = r.event;
    const std::array<std::string, kColumns.size()> cells = {
        std::to_string(r.seq),
        FormatTime(r.time),
        r.agent,
        std::string(Name(e.type)),
        e.request_id,
        e.correlation_id,
        e.tenant,
        Join(e.operations, ";", OperationName),
        e.target.requested,
        e.target.dn,
        std::string(Name(e.requester.kind)),
        e.requester.id,
        Join(e.requester.verified_by, ";", Identity),
        std::string(Name(e.decision)),
        Join(e.reasons, ";", Identity),
        e.directory,
        e.server,
        e.outcome,
        Duration(e),
        e.detail};
    for (std::size_t i = 0; i < cells.size(); ++i) {
      if (i > 0) out += ',';
      out += CsvField(cells[i]);
    }
    out += "\r\n";
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
