#include "protocol/strict_json.h"

#include <algorithm>
#include <chrono>
#include <set>

#include "common/log_escape.h"

namespace wb::protocol {
namespace {

// A SAX pass that refuses duplicate keys and deep nesting before the DOM is built.
class StructureCheck {
 public:
  using number_integer_t = Json::number_integer_t;
  using number_unsigned_t = Json::number_unsigned_t;
  using number_float_t = Json::number_float_t;
  using string_t = Json::string_t;
  using binary_t = Json::binary_t;

  bool null() { return true; }
  bool boolean(bool) { return true; }
  bool number_integer(number_integer_t) { return true; }
  bool number_unsigned(number_unsigned_t) { return true; }
  bool number_float(number_float_t, const string_t&) { return true; }
  bool string(string_t&) { return true; }
  bool binary(binary_t&) { return true; }
  bool start_object(std::size_t) { return Push(true); }
  bool end_object() { return Pop(); }
  bool start_array(std::size_t) { return Push(false); }
  bool end_array() { return Pop(); }
  bool key(string_t& k) {
    if (!frames_.back().is_object) return true;
    if (!frames_.back().keys.insert(k).second) {
      problem_ = "duplicate key \"" + EscapeForLog(k, 64) + "\"";
      return false;
    }
    return true;
  }
  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception&) {
    problem_ = "not valid JSON (at byte " + std::to_string(position) + ")";
    return false;
  }

  const std::string& problem() const { return problem_; }

 private:
  struct Frame {
    bool is_object;
    std::set<std::string> keys;
  };
  bool Push(bool is_object) {
    if (frames_.size() >= static_cast<std::size_t>(kMaxJsonDepth)) {
      problem_ = "nested deeper than " + std::to_string(kMaxJsonDepth);
      return false;
    }
    frames_.push_back(Frame{is_object, {}});
    return true;
  }
  bool Pop() {
    frames_.pop_back();
    return true;
  }

  std::vector<Frame> frames_;
  std::string problem_;
};

bool IsLowerHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

bool IsUuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !IsLowerHex(s[i])) return false;
  }
  return true;
}

bool CharOk(unsigned char c, Charset charset) {
  const bool lower_digit = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
  const bool alnum = lower_digit || (c >= 'A' && c <= 'Z');
  switch (charset) {
    case Charset::kText:
      return c >= 0x20 && c != 0x7f;
    case Charset::kPrintable:
      return c >= 0x20 && c < 0x7f;
    case Charset::kToken:
      return lower_digit || c == '_';
    case Charset::kMethod:
      return lower_digit || c == '_' || c == '.' || c == ':' || c == '-';
    case Charset::kBase64Url:
      return alnum || c == '_' || c == '-';
    case Charset::kCompact:
      return alnum || c == '_' || c == '-' || c == '.';
    case Charset::kPem:
      return (c >= 0x20 && c < 0x7f) || c == '\n' || c == '\r';
    case Charset::kUuid:
      return true;  // checked as a whole
    case Charset::kLowerHex:
      return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
  }
  return false;
}

}  // namespace

Result<Json> ParseStrictJson(std::string_view text, std::size_t max_bytes, std::string_view what) {
  if (text.size() > max_bytes) {
    return Status(Code::kResourceExhausted,
                  std::string(what) + " is " + std::to_string(text.size()) +
                      " bytes; the limit is " + std::to_string(max_bytes));
  }
  StructureCheck check;
  if (!Json::sax_parse(text, &check, Json::input_format_t::json, /*strict=*/true)) {
    return InvalidArgument(std::string(what) + ": " + check.problem());
  }
  Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return InvalidArgument(std::string(what) + ": not valid JSON");
  return j;
}

bool Matches(std::string_view s, const StringRule& rule) {
  if (s.size() < rule.min || s.size() > rule.max) return false;
  if (rule.charset == Charset::kUuid) return IsUuid(s);
  return std::all_of(s.begin(), s.end(),
                     [&](char c) { return CharOk(static_cast<unsigned char>(c), rule.charset); });
}

int64_t ToUnixSeconds(WallTime t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

WallTime FromUnixSeconds(int64_t s) { return WallTime(std::chrono::seconds(s)); }

FieldReader::FieldReader(const Json& object, std::string_view where)
    : object_(object), where_(where) {
  if (!object_.is_object()) Fail(where_ + " must be a JSON object");
}

const Json* FieldReader::Take(std::string_view key, bool required) {
  if (!object_.is_object()) return nullptr;
  taken_.emplace_back(key);
  auto it = object_.find(key);
  if (it == object_.end()) {
    if (required) Fail(where_ + ": missing field \"" + std::string(key) + "\"");
    return nullptr;
  }
  return &*it;
}

bool FieldReader::Check(bool ok, std::string_view key, std::string_view expected) {
  if (!ok) Fail(where_ + ": field \"" + std::string(key) + "\" must be " + std::string(expected));
  return ok;
}

bool FieldReader::String(std::string_view key, std::string& out, const StringRule& rule) {
  const Json* j = Take(key, true);
  if (j == nullptr) return false;
  if (!Check(j->is_string(), key, "a string")) return false;
  const auto& s = j->get_ref<const std::string&>();
  if (!Check(Matches(s, rule), key,
             "a string of " + std::to_string(rule.min) + ".." + std::to_string(rule.max) +
                 " allowed characters")) {
    return false;
  }
  out = s;
  return true;
}

bool FieldReader::OptionalString(std::string_view key, std::string& out, const StringRule& rule) {
  out.clear();
  if (object_.is_object() && object_.find(key) == object_.end()) {
    taken_.emplace_back(key);
    return true;
  }
  return String(key, out, rule);
}

bool FieldReader::Integer(std::string_view key, int64_t& out, int64_t min, int64_t max) {
  const Json* j = Take(key, true);
  if (j == nullptr) return false;
  const std::string expected = "an integer in " + std::to_string(min) + ".." + std::to_string(max);
  if (j->is_number_unsigned()) {
    const uint64_t u = j->get<uint64_t>();
    if (!Check(max >= 0 && u <= static_cast<uint64_t>(max) && static_cast<int64_t>(u) >= min, key,
               expected)) {
      return false;
    }
    out = static_cast<int64_t>(u);
    return true;
  }
  if (!Check(j->is_number_integer(), key, expected)) return false;
  const int64_t v = j->get<int64_t>();
  if (!Check(v >= min && v <= max, key, expected)) return false;
  out = v;
  return true;
}

bool FieldReader::OptionalInteger(std::string_view key, int64_t& out, int64_t min, int64_t max) {
  if (object_.is_object() && object_.find(key) == object_.end()) {
    taken_.emplace_back(key);
    return true;
  }
  return Integer(key, out, min, max);
}

bool FieldReader::Bool(std::string_view key, bool& out) {
  const Json* j = Take(key, true);
  if (j == nullptr) return false;
  if (!Check(j->is_boolean(), key, "true or false")) return false;
  out = j->get<bool>();
  return true;
}

bool FieldReader::Time(std::string_view key, WallTime& out) {
  int64_t s = 0;
  if (!Integer(key, s, 0, kMaxUnixSeconds)) return false;
  out = FromUnixSeconds(s);
  return true;
}

bool FieldReader::OptionalTime(std::string_view key, std::optional<WallTime>& out) {
  out.reset();
  if (object_.is_object() && object_.find(key) == object_.end()) {
    taken_.emplace_back(key);
    return true;
  }
  WallTime t;
  if (!Time(key, t)) return false;
  out = t;
  return true;
}

bool FieldReader::StringArray(std::string_view key, std::vector<std::string>& out,
                              std::size_t min_items, std::size_t max_items,
                              const StringRule& rule) {
  const Json* j = Take(key, true);
  if (j == nullptr) return false;
  const std::string expected = "an array of " + std::to_string(min_items) + ".." +
                               std::to_string(max_items) + " valid strings";
  if (!Check(j->is_array() && j->size() >= min_items && j->size() <= max_items, key, expected)) {
    return false;
  }
  out.clear();
  for (const Json& item : *j) {
    if (!Check(item.is_string() && Matches(item.get_ref<const std::string&>(), rule), key,
               expected)) {
      return false;
    }
    out.push_back(item.get<std::string>());
  }
  return true;
}

const Json* FieldReader::Member(std::string_view key, bool required) { return Take(key, required); }

void FieldReader::Fail(std::string problem) {
  if (problem_.empty()) problem_ = std::move(problem);
}

Status FieldReader::Finish() {
  if (problem_.empty() && object_.is_object()) {
    for (auto it = object_.begin(); it != object_.end(); ++it) {
      if (std::find(taken_.begin(), taken_.end(), it.key()) == taken_.end()) {
        Fail(where_ + ": unknown field \"" + EscapeForLog(it.key(), 64) + "\"");
        break;
      }
    }
  }
  if (problem_.empty()) return Status::Ok();
  return InvalidArgument(problem_);
}

std::string Dump(const Json& j) {
  return j.dump(-1, ' ', /*ensure_ascii=*/false, Json::error_handler_t::replace);
}

std::string Dump(const OrderedJson& j) {
  return j.dump(-1, ' ', /*ensure_ascii=*/false, OrderedJson::error_handler_t::replace);
}

}  // namespace wb::protocol
