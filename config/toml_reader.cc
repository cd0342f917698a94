#include "config/internal/toml_reader.h"

#include <algorithm>
#include <cctype>
#include <utility>

#include "common/log_escape.h"
#include "common/suggest.h"

namespace wb::config::internal {

Location LocationOf(const toml::value& value) {
  const toml::source_location loc = value.location();
  return Location{static_cast<int>(loc.line()), static_cast<int>(loc.column())};
}

std::string_view TypeName(toml::value_t type) {
  switch (type) {
    case toml::value_t::boolean:
      return "a boolean";
    case toml::value_t::integer:
      return "an integer";
    case toml::value_t::floating:
      return "a float";
    case toml::value_t::string:
      return "a string";
    case toml::value_t::offset_datetime:
    case toml::value_t::local_datetime:
      return "a date-time";
    case toml::value_t::local_date:
      return "a date";
    case toml::value_t::local_time:
      return "a time";
    case toml::value_t::array:
      return "an array";
    case toml::value_t::table:
      return "a table";
    case toml::value_t::empty:
      break;
  }
  return "nothing";
}

TableReader::TableReader(const toml::value& table, std::string path, Diagnostics& diag)
    : table_(table), path_(std::move(path)), diag_(diag) {}

std::string TableReader::KeyPath(std::string_view key) const {
  if (path_.empty()) return std::string(key);
  return path_ + "." + std::string(key);
}

const toml::value* TableReader::Get(std::string_view key, Presence presence) {
  known_.emplace(key);
  const toml::table& table = table_.as_table(std::nothrow);
  auto it = table.find(std::string(key));
  if (it != table.end()) return &it->second;
  if (presence == Presence::kRequired) diag_.Add(where(), KeyPath(key), "missing required key");
  return nullptr;
}

bool TableReader::CheckType(std::string_view key, const toml::value& value, toml::value_t want) {
  if (value.type() == want) return true;
  diag_.Add(
      LocationOf(value), KeyPath(key),
      "expected " + std::string(TypeName(want)) + ", found " + std::string(TypeName(value.type())));
  return false;
}

std::optional<Field<std::string>> TableReader::GetString(std::string_view key, Presence presence) {
  const toml::value* value = Get(key, presence);
  if (value == nullptr || !CheckType(key, *value, toml::value_t::string)) return std::nullopt;
  return Field<std::string>{value->as_string(std::nothrow).str, LocationOf(*value), KeyPath(key)};
}

std::optional<Field<bool>> TableReader::GetBool(std::string_view key, Presence presence) {
  const toml::value* value = Get(key, presence);
  if (value == nullptr || !CheckType(key, *value, toml::value_t::boolean)) return std::nullopt;
  return Field<bool>{value->as_boolean(std::nothrow), LocationOf(*value), KeyPath(key)};
}

std::optional<Field<std::int64_t>> TableReader::GetInteger(std::string_view key, Presence presence,
                                                           std::int64_t min, std::int64_t max,
                                                           std::string_view unit) {
  const toml::value* value = Get(key, presence);
  if (value == nullptr || !CheckType(key, *value, toml::value_t::integer)) return std::nullopt;
  Field<std::int64_t> field{value->as_integer(std::nothrow), LocationOf(*value), KeyPath(key)};
  if (field.value < min || field.value > max) {
    std::string problem = "must be between " + std::to_string(min) + " and " + std::to_string(max);
    if (!unit.empty()) problem.append(" ").append(unit);
    diag_.Add(field.at, field.key, problem + ", found " + std::to_string(field.value));
    return std::nullopt;
  }
  return field;
}

std::optional<std::vector<Field<std::string>>> TableReader::GetStringArray(std::string_view key,
                                                                           Presence presence,
                                                                           bool allow_empty) {
  const toml::value* value = Get(key, presence);
  if (value == nullptr || !CheckType(key, *value, toml::value_t::array)) return std::nullopt;
  const toml::array& array = value->as_array(std::nothrow);
  if (array.empty() && !allow_empty) {
    diag_.Add(LocationOf(*value), KeyPath(key), "must not be empty");
    return std::nullopt;
  }
  std::vector<Field<std::string>> out;
  bool all_strings = true;
  for (std::size_t i = 0; i < array.size(); ++i) {
    std::string element_key = KeyPath(key) + "[" + std::to_string(i) + "]";
    if (!array[i].is_string()) {
      diag_.Add(LocationOf(array[i]), element_key,
                "expected a string, found " + std::string(TypeName(array[i].type())));
      all_strings = false;
      continue;
    }
    out.push_back({array[i].as_string(std::nothrow).str, LocationOf(array[i]), element_key});
  }
  if (!all_strings) return std::nullopt;
  return out;
}

Location TableReader::KeyLocation(std::string_view key, const toml::value& value) const {
  const toml::source_location loc = value.location();
  const std::string& line = loc.line_str();
  Location at = LocationOf(value);
  // The key precedes its value on the same line ("key = value", "t = { key = value }").
  const std::size_t value_index = static_cast<std::size_t>(std::max(at.column - 1, 0));
  if (value_index == 0 || key.empty() || value_index > line.size()) return at;
  const std::size_t pos = line.rfind(key, value_index - 1);
  if (pos != std::string::npos) at.column = static_cast<int>(pos) + 1;
  return at;
}

namespace {

bool IsTableOrArrayOfTables(const toml::value& value) {
  if (value.is_table()) return true;
  if (!value.is_array()) return false;
  const toml::array& array = value.as_array(std::nothrow);
  return !array.empty() && array.front().is_table();
}

// "[audit]" or "[[directory]]": how the table that was meant is written in the file.
std::string TableHeader(const std::string& path, const toml::value& value) {
  return value.is_table() ? "[" + path + "]" : "[[" + path + "]]";
}

}  // namespace

bool TableReader::HasKeysBesides(std::string_view key) const {
  for (const auto& [name, value] : table_.as_table(std::nothrow)) {
    if (name != key) return true;
  }
  return false;
}

void TableReader::ReportUnknownKeys() {
  const std::vector<std::string> candidates(known_.begin(), known_.end());
  for (const auto& [key, value] : table_.as_table(std::nothrow)) {
    if (known_.contains(key)) continue;
    const bool table = IsTableOrArrayOfTables(value);
    std::string problem = table ? "unknown table" : "unknown key";
    if (std::optional<std::string> near = Suggest(key, candidates)) {
      problem += "; did you mean \"";
      problem += table ? TableHeader(KeyPath(*near), value) : *near;
      problem += "\"?";
    }
    // The key is the file's text, and a quoted TOML key may hold any character.
    diag_.Add(KeyLocation(key, value), KeyPath(EscapeForLog(key)), problem);
  }
}

std::string EnumHint(std::string_view found, std::span<const std::string> values) {
  const auto same_but_case = std::find_if(values.begin(), values.end(), [&](const std::string& v) {
    return v.size() == found.size() &&
           std::equal(v.begin(), v.end(), found.begin(), [](char a, char b) {
             return std::tolower(static_cast<unsigned char>(a)) ==
                    std::tolower(static_cast<unsigned char>(b));
           });
  });
  std::string hint;
  if (same_but_case != values.end()) {
    hint = "; values are case-sensitive; did you mean \"" + *same_but_case + "\"?";
  } else if (std::optional<std::string> near = Suggest(found, values)) {
    hint = "; did you mean \"" + *near + "\"?";
  }
  return hint;
}

}  // namespace wb::config::internal
