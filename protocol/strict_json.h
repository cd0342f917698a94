#pragma once
// Internal to wb_protocol: strict JSON input. Every peer document goes through
// ParseStrictJson (size bound, nesting bound, no duplicate keys: two parsers can never read
// one signed document two ways) and then a FieldReader per object (each field's JSON type and
// bounds, and no field that was not asked for).

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/status.h"

namespace wb::protocol {

using Json = nlohmann::json;
// Output keeps members in insertion order ("type" and "v" first), for readers of the wire.
using OrderedJson = nlohmann::ordered_json;

inline constexpr int kMaxJsonDepth = 8;

// One JSON value of at most `max_bytes`, nested at most kMaxJsonDepth deep, with no duplicate
// key in any object. kResourceExhausted when too large, kInvalidArgument otherwise. `what`
// names the document in the error ("message", "claims", ...).
Result<Json> ParseStrictJson(std::string_view text, std::size_t max_bytes, std::string_view what);

// What a string field may hold.
enum class Charset {
  kText,       // any UTF-8 without control characters (C0 and DEL)
  kPrintable,  // printable ASCII 0x20..0x7e
  kToken,      // [a-z0-9_]
  kMethod,     // [a-z0-9_.:-]
  kBase64Url,  // [A-Za-z0-9_-]
  kCompact,    // [A-Za-z0-9_.-]: a JOSE compact serialization
  kPem,        // printable ASCII plus CR and LF
  kUuid,       // 8-4-4-4-12 lowercase hex
  kLowerHex,   // [0-9a-f]
};

struct StringRule {
  std::size_t min = 1;
  std::size_t max = 256;
  Charset charset = Charset::kPrintable;
};

// True when `s` satisfies `rule`.
bool Matches(std::string_view s, const StringRule& rule);

// Times on the wire: integer Unix seconds in [0, kMaxUnixSeconds] (2100-01-01).
inline constexpr int64_t kMaxUnixSeconds = 4'102'444'800;
int64_t ToUnixSeconds(WallTime t);
WallTime FromUnixSeconds(int64_t s);

// Reads the fields of one object. Each reader records the first problem and returns false
// when the field is missing or wrong; Finish() adds "unknown field" for any member no reader
// asked for and returns the first problem as kInvalidArgument.
class FieldReader {
 public:
  // REQUIRES: `object` outlives the reader. When it is not an object, Finish() says so.
  FieldReader(const Json& object, std::string_view where);

  bool String(std::string_view key, std::string& out, const StringRule& rule);
  // Absent -> `out` empty, true.
  bool OptionalString(std::string_view key, std::string& out, const StringRule& rule);
  bool Integer(std::string_view key, int64_t& out, int64_t min, int64_t max);
  // Absent -> `out` unchanged (the caller's default), true.
  bool OptionalInteger(std::string_view key, int64_t& out, int64_t min, int64_t max);
  bool Bool(std::string_view key, bool& out);
  bool Time(std::string_view key, WallTime& out);
  bool OptionalTime(std::string_view key, std::optional<WallTime>& out);
  // An array of strings, each satisfying `rule`, at most `max_items`.
  bool StringArray(std::string_view key, std::vector<std::string>& out, std::size_t min_items,
                   std::size_t max_items, const StringRule& rule);
  // The member itself (an object or array is left to the caller); nullptr when absent.
  const Json* Member(std::string_view key, bool required);
  // Records a problem found by the caller.
  void Fail(std::string problem);
  bool failed() const { return !problem_.empty(); }

  Status Finish();

 private:
  const Json* Take(std::string_view key, bool required);
  bool Check(bool ok, std::string_view key, std::string_view expected);

  const Json& object_;
  std::string where_;
  std::vector<std::string> taken_;
  std::string problem_;
};

// Compact JSON text of `j`; invalid UTF-8 is replaced, never thrown.
std::string Dump(const Json& j);
std::string Dump(const OrderedJson& j);

}  // namespace wb::protocol
