// Tables that fit a terminal, wrapping long cells instead of cutting them, and CSV.
#include "audit/internal/table.h"

#include <algorithm>
#include <map>
#include <numeric>

namespace wb::audit::internal {
namespace {

constexpr std::size_t kGap = 2;  // spaces between columns

bool IsContinuation(unsigned char c) { return (c & 0xC0) == 0x80; }

// A piece may end after these (a DN's ',', a list's '+', a code's '_', a domain's '.') ...
bool BreaksAfter(char c) {
  return c == ',' || c == ' ' || c == '+' || c == ';' || c == '_' || c == '.' || c == ':';
}
// ... or before an '@', so a mail address keeps its domain whole where it can.
bool BreaksBefore(char c) { return c == '@'; }

// The byte offset just past the first `chars` characters of `text`.
std::size_t ByteOffset(std::string_view text, std::size_t chars) {
  std::size_t seen = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (!IsContinuation(static_cast<unsigned char>(text[i])) && seen++ == chars) return i;
  }
  return text.size();
}

// Where the next piece of at most `width` characters ends.
std::size_t PieceEnd(std::string_view text, std::size_t width) {
  const std::size_t hard = ByteOffset(text, width);
  if (hard == text.size()) return hard;
  for (std::size_t i = hard; i > hard / 2; --i) {
    if (BreaksAfter(text[i - 1]) || BreaksBefore(text[i])) return i;
  }
  return hard;
}

std::size_t TotalWidth(const std::vector<std::size_t>& widths) {
  return std::accumulate(widths.begin(), widths.end(), std::size_t{0}) +
         kGap * (widths.empty() ? 0 : widths.size() - 1);
}

// Each column's cell widths (the header's too), as (width, how many cells) pairs: few distinct
// widths, however many rows.
using WidthCounts = std::vector<std::map<std::size_t, std::size_t>>;

std::size_t LinesAt(std::size_t cell, std::size_t width) { return (cell + width - 1) / width; }

// How many lines narrowing the column from `width` to `width - 1` adds (cells wrap at about
// their width; breaks at separators add a little, alike for every column).
std::size_t LinesAdded(const std::map<std::size_t, std::size_t>& cells, std::size_t width) {
  std::size_t added = 0;
  for (auto it = cells.lower_bound(width); it != cells.end(); ++it) {
    added += it->second * (LinesAt(it->first, width - 1) - LinesAt(it->first, width));
  }
  return added;
}

// Narrows by one the allowed column whose narrowing adds the fewest lines (the widest of
// those), so that a few long cells (a DN) wrap before many short ones do; false when none can
// give.
bool NarrowOne(const std::vector<Column>& columns, const WidthCounts& cells,
               std::vector<std::size_t>& widths, bool last_resort) {
  std::size_t best = columns.size(), best_cost = 0;
  for (std::size_t i = 0; i < columns.size(); ++i) {
    const Column& c = columns[i];
    if (c.min_width == 0 || c.last_resort != last_resort || widths[i] <= c.min_width) continue;
    const std::size_t cost = LinesAdded(cells[i], widths[i]);
    if (best == columns.size() || cost < best_cost ||
        (cost == best_cost && widths[i] > widths[best])) {
      best = i;
      best_cost = cost;
    }
  }
  if (best == columns.size()) return false;
  --widths[best];
  return true;
}

std::vector<std::size_t> ColumnWidths(const std::vector<Column>& columns,
                                      const std::vector<std::vector<std::string>>& rows,
                                      std::size_t max_width) {
  WidthCounts cells(columns.size());
  for (std::size_t i = 0; i < columns.size(); ++i) ++cells[i][DisplayWidth(columns[i].header)];
  for (const auto& row : rows) {
    for (std::size_t i = 0; i < row.size() && i < columns.size(); ++i) {
      ++cells[i][DisplayWidth(row[i])];
    }
  }
  std::vector<std::size_t> widths;
  for (const auto& column : cells) widths.push_back(column.rbegin()->first);
  for (bool last_resort : {false, true}) {
    while (TotalWidth(widths) > max_width && NarrowOne(columns, cells, widths, last_resort)) {
    }
  }
  return widths;
}

// One row, as many lines as its tallest cell needs.
std::string FormatRow(const std::vector<std::string>& cells,
                      const std::vector<std::size_t>& widths) {
  std::vector<std::vector<std::string>> pieces;
  std::size_t lines = 1;
  for (std::size_t i = 0; i < cells.size(); ++i) {
    pieces.push_back(Wrap(cells[i], widths[i]));
    lines = std::max(lines, pieces.back().size());
  }
  std::string out;
  for (std::size_t l = 0; l < lines; ++l) {
    std::string line;
    for (std::size_t i = 0; i < pieces.size(); ++i) {
      const std::string piece = l < pieces[i].size() ? pieces[i][l] : std::string();
      line += piece;
      if (i + 1 < pieces.size()) line.append(widths[i] - DisplayWidth(piece) + kGap, ' ');
    }
    line.erase(line.find_last_not_of(' ') + 1);
    out += line;
    out += '\n';
  }
  return out;
}

}  // namespace

std::size_t DisplayWidth(std::string_view text) {
  std::size_t width = 0;
  for (unsigned char c : text) width += IsContinuation(c) ? 0 : 1;
  return width;
}

std::string TerminalText(std::string_view text) {
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
  return out;
}

std::vector<std::string> Wrap(std::string_view text, std::size_t width) {
  std::vector<std::string> pieces;
  width = std::max<std::size_t>(width, 1);
  while (DisplayWidth(text) > width) {
    const std::size_t end = PieceEnd(text, width);
    std::string_view piece = text.substr(0, end);
    if (piece.size() > 1 && piece.back() == ' ') piece.remove_suffix(1);
    pieces.emplace_back(piece);
    text.remove_prefix(end);
    if (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  }
  pieces.emplace_back(text);
  return pieces;
}

std::string FormatTable(const std::vector<Column>& columns,
                        const std::vector<std::vector<std::string>>& rows, std::size_t max_width) {
  const std::vector<std::size_t> widths = ColumnWidths(columns, rows, max_width);
  std::vector<std::string> header;
  for (const Column& c : columns) header.push_back(c.header);
  std::string out = FormatRow(header, widths);
  for (const auto& row : rows) out += FormatRow(row, widths);
  return out;
}

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

std::string CsvLine(const std::vector<std::string>& fields) {
  std::string out;
  for (std::size_t i = 0; i < fields.size(); ++i) {
    if (i > 0) out += ',';
    out += CsvField(fields[i]);
  }
  out += "\r\n";
  return out;
}

}  // namespace wb::audit::internal
