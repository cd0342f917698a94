#pragma once
// Internal to config/: the schema walker. A TableReader reads one TOML table for one section
// loader. Every key the loader asks for becomes "known"; ReportUnknownKeys() then reports the
// rest, so a misspelt key is an error rather than a silently ignored setting. Type errors and
// missing required keys are reported here, in one wording, for every section.
//
// Section loaders read every key through it. Only LoadConfig and the table-level helpers
// (OpenTable, the [[directory]] array) look at toml11 values directly, and nothing in config/
// calls a toml11 accessor that throws.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <toml.hpp>
#include <vector>

#include "config/internal/diagnostics.h"

namespace wb::config::internal {

// The position of a value in the file.
Location LocationOf(const toml::value& value);

// "a string", "an integer", ...: for "expected X, found Y".
std::string_view TypeName(toml::value_t type);

// A value read from the file with where it was and its dotted key, so later checks can
// report against it.
template <typename T>
struct Field {
  T value;
  Location at;
  std::string key;
};

enum class Presence { kOptional, kRequired };

// One allowed spelling of an enum-valued key.
template <typename E>
struct EnumName {
  std::string_view name;
  E value;
};

class TableReader {
 public:
  // `table` must be a table and must outlive the reader. `path` is its dotted key ("" for
  // the root of the file).
  TableReader(const toml::value& table, std::string path, Diagnostics& diag);

  // Dotted key of a child: "cloud" + "url" -> "cloud.url".
  std::string KeyPath(std::string_view key) const;

  // The table header (or line 1 for the root): where a missing key is reported.
  Location where() const { return LocationOf(table_); }
  const std::string& path() const { return path_; }
  Diagnostics& diag() { return diag_; }

  // Marks `key` known and returns its value, or nullptr when absent. A missing required key
  // is reported at the table header.
  const toml::value* Get(std::string_view key, Presence presence);

  // Typed reads. Each returns nullopt when the key is absent or its value is wrong; a wrong
  // value has then been reported.
  std::optional<Field<std::string>> GetString(std::string_view key, Presence presence);
  std::optional<Field<bool>> GetBool(std::string_view key, Presence presence);
  std::optional<Field<std::int64_t>> GetInteger(std::string_view key, Presence presence,
                                                std::int64_t min, std::int64_t max,
                                                std::string_view unit = "");
  // An array whose elements are all strings. An empty array is reported unless allow_empty.
  std::optional<std::vector<Field<std::string>>> GetStringArray(std::string_view key,
                                                                Presence presence,
                                                                bool allow_empty);
  template <typename E, std::size_t N>
  std::optional<Field<E>> GetEnum(std::string_view key, const std::array<EnumName<E>, N>& names,
                                  Presence presence);

  // Whether the table holds a key other than `key`: TOML makes [a] by itself when a file has
  // only [a.b], so a table with nothing but that sub-table was not written as one.
  bool HasKeysBesides(std::string_view key) const;

  // Reports every key of the table that no Get* call asked for.
  void ReportUnknownKeys();

 private:
  // The position of `key` itself on its line; toml11 keeps only the value's position.
  Location KeyLocation(std::string_view key, const toml::value& value) const;
  bool CheckType(std::string_view key, const toml::value& value, toml::value_t want);

  const toml::value& table_;
  std::string path_;
  Diagnostics& diag_;
  std::set<std::string, std::less<>> known_;
};

template <typename E, std::size_t N>
std::optional<E> FindEnum(const std::array<EnumName<E>, N>& names, std::string_view text) {
  for (const EnumName<E>& n : names) {
    if (n.name == text) return n.value;
  }
  return std::nullopt;
}

// What to add to a wrong enum value's error: "; values are case-sensitive; did you mean
// "ad"?" when `found` differs from a value only in case, "; did you mean "log_only"?" when it
// is a likely typo of one, else nothing.
std::string EnumHint(std::string_view found, std::span<const std::string> values);

// "must be one of "a", "b"; found "c"" and EnumHint's hint.
template <typename E, std::size_t N>
std::string BadEnumProblem(const std::array<EnumName<E>, N>& names, std::string_view found) {
  std::string problem = "must be one of ";
  std::vector<std::string> values;
  for (std::size_t i = 0; i < N; ++i) {
    if (i > 0) problem += ", ";
    problem.append("\"").append(names[i].name).append("\"");
    values.emplace_back(names[i].name);
  }
  problem += "; found ";
  problem += Quote(found);
  problem += EnumHint(found, values);
  return problem;
}

template <typename E, std::size_t N>
std::optional<Field<E>> TableReader::GetEnum(std::string_view key,
                                             const std::array<EnumName<E>, N>& names,
                                             Presence presence) {
  std::optional<Field<std::string>> text = GetString(key, presence);
  if (!text) return std::nullopt;
  if (std::optional<E> value = FindEnum(names, text->value)) {
    return Field<E>{*value, text->at, text->key};
  }
  diag_.Add(text->at, text->key, BadEnumProblem(names, text->value));
  return std::nullopt;
}

}  // namespace wb::config::internal
