#pragma once
// Text output for people and spreadsheets, shared by the record and request views.

#include <string>
#include <string_view>
#include <vector>

namespace wb::audit::internal {

struct Column {
  std::string header;
  // 0: the column is never narrowed (times, ids, counts). Otherwise it may be narrowed to this
  // many characters, its cells wrapped onto continuation lines.
  std::size_t min_width = 0;
  // Narrowed only when the other columns are at their minimum (a time wraps at its space).
  bool last_resort = false;
};

// Characters, not bytes (UTF-8 continuation bytes do not count).
std::size_t DisplayWidth(std::string_view text);

// Safe for a terminal: C0 and C1 control characters and DEL become '?', so a value from a
// peer cannot move the cursor or change colours. "-" for an empty text.
std::string TerminalText(std::string_view text);

// Splits `text` into pieces of at most `width` characters, breaking at the last place in the
// second half of a piece that is after one of , + ; _ . : or a space, or before an @; where
// there is none, at `width`. A space at a break is dropped. Never splits a UTF-8 character.
std::vector<std::string> Wrap(std::string_view text, std::size_t width);

// Left-aligned columns, two spaces apart, at most `max_width` wide where the columns' minimums
// allow: until the table fits, the narrowable column whose narrowing adds the fewest lines
// (the widest of those) gives up a character, and a cell wider than its column continues on
// the next lines. Cells must be TerminalText already.
std::string FormatTable(const std::vector<Column>& columns,
                        const std::vector<std::vector<std::string>>& rows, std::size_t max_width);

// RFC 4180: a field with a comma, quote, CR or LF is quoted and its quotes doubled. A field a
// spreadsheet would run as a formula (= + - @ tab CR first) gets a leading ' (and is quoted).
std::string CsvField(std::string_view text);
// The fields joined by commas, ending in CRLF.
std::string CsvLine(const std::vector<std::string>& fields);

}  // namespace wb::audit::internal
