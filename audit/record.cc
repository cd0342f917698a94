// A record to and from its canonical JSON line (docs/audit.md, "Record schema").
#include <algorithm>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>

#include "audit/audit.h"
#include "audit/internal/crypto.h"
#include "audit/internal/record_json.h"

namespace wb::audit {
namespace {

using Json = nlohmann::ordered_json;

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// Length of the valid UTF-8 sequence at text[i], or 0 when it is not one.
std::size_t Utf8SequenceLength(std::string_view text, std::size_t i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char c = byte(i);
  if (c < 0x80) return 1;
  std::size_t len = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // the allowed range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if (c == 0xE0) lo = 0xA0;  // no overlong forms
    if (c == 0xED) hi = 0x9F;  // no surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
  } else {
    return 0;
  }
  if (i + len > text.size() || byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (std::size_t k = 2; k < len; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
  }
  return len;
}

// Valid UTF-8, each invalid byte replaced by U+FFFD, cut to `max` bytes at a character
// boundary with "..." at the end. Idempotent, so a parsed record re-serialises to itself.
std::string Clean(std::string_view text, std::size_t max) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    const std::size_t len = Utf8SequenceLength(text, i);
    if (len == 0) {
      out += kReplacement;
      ++i;
    } else {
      out.append(text.substr(i, len));
      i += len;
    }
  }
  if (out.size() <= max) return out;
  std::size_t cut = max - 3;
  while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;
  out.resize(cut);
  out += "...";
  return out;
}

// ---- Writing ----------------------------------------------------------------------------
//
// The canonical line is written directly, not through a JSON object: a record is written for
// every step of every request, and `audit verify` writes each one again to compare. The bytes
// are exactly those of nlohmann's compact dump (ensure_ascii off) that wrote the trails before
// this writer, so that those stay canonical: '"' and '\\' escaped, \b \f \n \r \t by name,
// other control characters as \u00xx in lower-case hex, everything else (valid UTF-8, after
// Clean) as it is. tests/audit/record_test.cc holds the two against each other.

void AppendEscaped(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  std::size_t plain = 0;  // start of the run not yet appended
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(text.substr(plain, i - plain));
    plain = i + 1;
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        out += "\\u00";
        out += kHex[c >> 4];
        out += kHex[c & 0xF];
        break;
    }
  }
  out.append(text.substr(plain));
  out += '"';
}

// Whether Clean would return `text` unchanged: valid UTF-8, within `max`.
bool AlreadyClean(std::string_view text, std::size_t max) {
  if (text.size() > max) return false;
  for (std::size_t i = 0; i < text.size();) {
    const std::size_t len = Utf8SequenceLength(text, i);
    if (len == 0) return false;
    i += len;
  }
  return true;
}

// A JSON object being written: members in the order they are put.
class ObjectWriter {
 public:
  explicit ObjectWriter(std::string& out) : out_(out) { out_ += '{'; }
  void Close() { out_ += '}'; }

  // The key, for a value the caller writes next.
  std::string& Key(std::string_view key) {
    if (!first_) out_ += ',';
    first_ = false;
    AppendEscaped(out_, key);
    out_ += ':';
    return out_;
  }
  // Left out when empty; cleaned (Clean) with `max`.
  void String(std::string_view key, std::string_view value, std::size_t max = kMaxFieldBytes) {
    if (value.empty()) return;
    Key(key);
    AppendEscaped(out_, AlreadyClean(value, max) ? value : std::string_view(Clean(value, max)));
  }
  void Name(std::string_view key, std::string_view name) {
    Key(key);
    AppendEscaped(out_, name);
  }
  void Number(std::string_view key, std::uint64_t value) { Key(key) += std::to_string(value); }
  // Left out when empty; the first kMaxListItems items, each cleaned with kMaxListItemBytes.
  // An empty item is left out as an empty field is (a record holding one would not parse), and
  // so is a list of empty items.
  void List(std::string_view key, const std::vector<std::string>& values) {
    std::size_t written = 0;
    for (const std::string& value : values) {
      if (value.empty()) continue;
      if (written == kMaxListItems) break;
      if (written == 0) {
        Key(key) += '[';
      } else {
        out_ += ',';
      }
      AppendEscaped(out_, AlreadyClean(value, kMaxListItemBytes)
                              ? std::string_view(value)
                              : std::string_view(Clean(value, kMaxListItemBytes)));
      ++written;
    }
    if (written > 0) out_ += ']';
  }

 private:
  std::string& out_;
  bool first_ = true;
};

// Whether List would write anything.
bool AnyNonEmpty(const std::vector<std::string>& values) {
  return std::any_of(values.begin(), values.end(), [](const std::string& v) { return !v.empty(); });
}

void WriteEventMembers(ObjectWriter& j, const Event& e) {
  j.String("request_id", e.request_id);
  j.String("correlation_id", e.correlation_id);
  j.String("tenant", e.tenant);
  if (!e.operations.empty()) {
    std::string& out = j.Key("operation");
    out += '[';
    for (std::size_t i = 0; i < e.operations.size() && i < kMaxListItems; ++i) {
      if (i > 0) out += ',';
      AppendEscaped(out, Name(e.operations[i]));
    }
    out += ']';
  }
  if (!e.target.requested.empty() || !e.target.dn.empty()) {
    ObjectWriter target(j.Key("target"));
    target.String("requested", e.target.requested);
    target.String("dn", e.target.dn);
    target.Close();
  }
  // Written only with a member: `{}` would parse, and re-serialise without it.
  if (e.requester.kind != RequesterKind::kNone || !e.requester.id.empty() ||
      AnyNonEmpty(e.requester.verified_by)) {
    ObjectWriter requester(j.Key("requester"));
    if (e.requester.kind != RequesterKind::kNone) requester.Name("kind", Name(e.requester.kind));
    requester.String("id", e.requester.id);
    requester.List("verified_by", e.requester.verified_by);
    requester.Close();
  }
  if (e.decision != Decision::kNone) j.Name("decision", Name(e.decision));
  j.List("reasons", e.reasons);
  j.String("directory", e.directory);
  j.String("server", e.server);
  j.String("outcome", e.outcome);
  if (e.duration) {
    j.Number("duration_ms",
             static_cast<std::uint64_t>(std::max<std::int64_t>(0, e.duration->count())));
  }
  j.String("detail", e.detail, kMaxDetailBytes);
}

// ---- Parsing ----------------------------------------------------------------------------

Status Bad(std::string what) { return Status(Code::kCorruption, std::move(what)); }

// `"key" problem`.
Status BadMember(std::string_view key, std::string_view problem) {
  std::string what = "\"";
  what.append(key).append("\" ").append(problem);
  return Bad(std::move(what));
}

Result<std::string> GetString(const Json& v, std::string_view key) {
  if (!v.is_string() || v.get_ref<const std::string&>().empty()) {
    return BadMember(key, "is not a non-empty string");
  }
  return v.get<std::string>();
}

Result<std::vector<std::string>> GetStringList(const Json& v, std::string_view key) {
  if (!v.is_array() || v.empty()) return BadMember(key, "is not a list");
  std::vector<std::string> out;
  for (const Json& item : v) {
    auto s = GetString(item, key);
    if (!s.ok()) return s.error();
    out.push_back(std::move(*s));
  }
  return out;
}

template <typename E>
Result<E> GetName(const Json& v, std::string_view key, std::initializer_list<E> values) {
  auto s = GetString(v, key);
  if (!s.ok()) return s.error();
  for (E value : values) {
    if (Name(value) == *s) return value;
  }
  return BadMember(key, "has an unknown value");
}

Result<std::uint64_t> GetUnsigned(const Json& v, std::string_view key) {
  if (!v.is_number_unsigned()) {
    return BadMember(key, "is not a non-negative integer");
  }
  return v.get<std::uint64_t>();
}

#define WB_ASSIGN(target, expr)            \
  do {                                     \
    auto wb_r_ = (expr);                   \
    if (!wb_r_.ok()) return wb_r_.error(); \
    target = std::move(*wb_r_);            \
  } while (0)

Status ParseTarget(const Json& v, Target& t) {
  if (!v.is_object()) return Bad("\"target\" is not an object");
  for (const auto& [key, value] : v.items()) {
    if (key == "requested") {
      WB_ASSIGN(t.requested, GetString(value, key));
    } else if (key == "dn") {
      WB_ASSIGN(t.dn, GetString(value, key));
    } else {
      return Bad("unknown key \"target." + key + "\"");
    }
  }
  return Status::Ok();
}

Status ParseRequester(const Json& v, Requester& r) {
  if (!v.is_object()) return Bad("\"requester\" is not an object");
  for (const auto& [key, value] : v.items()) {
    if (key == "kind") {
      WB_ASSIGN(r.kind, GetName(value, key, {RequesterKind::kSelf, RequesterKind::kAdmin}));
    } else if (key == "id") {
      WB_ASSIGN(r.id, GetString(value, key));
    } else if (key == "verified_by") {
      WB_ASSIGN(r.verified_by, GetStringList(value, key));
    } else {
      return Bad("unknown key \"requester." + key + "\"");
    }
  }
  return Status::Ok();
}

Status ParseOperations(const Json& v, std::vector<Operation>& ops) {
  if (!v.is_array() || v.empty()) return Bad("\"operation\" is not a list");
  for (const Json& item : v) {
    Operation op;
    WB_ASSIGN(op, GetName(item, "operation",
                          {Operation::kReset, Operation::kChange, Operation::kUnlock,
                           Operation::kRequireChange, Operation::kClearRequireChange,
                           Operation::kValidate}));
    ops.push_back(op);
  }
  return Status::Ok();
}

Status ParseEventMember(const std::string& key, const Json& value, Event& e) {
  if (key == "operation") return ParseOperations(value, e.operations);
  if (key == "target") return ParseTarget(value, e.target);
  if (key == "requester") return ParseRequester(value, e.requester);
  if (key == "decision") {
    WB_ASSIGN(e.decision,
              GetName(value, key,
                      {Decision::kAllow, Decision::kDeny, Decision::kWouldDeny, Decision::kHold}));
    return Status::Ok();
  }
  if (key == "reasons") {
    WB_ASSIGN(e.reasons, GetStringList(value, key));
    return Status::Ok();
  }
  if (key == "duration_ms") {
    std::uint64_t ms = 0;
    WB_ASSIGN(ms, GetUnsigned(value, key));
    e.duration = std::chrono::milliseconds(ms);
    return Status::Ok();
  }
  std::string* field = key == "request_id"       ? &e.request_id
                       : key == "correlation_id" ? &e.correlation_id
                       : key == "tenant"         ? &e.tenant
                       : key == "directory"      ? &e.directory
                       : key == "server"         ? &e.server
                       : key == "outcome"        ? &e.outcome
                       : key == "detail"         ? &e.detail
                                                 : nullptr;
  if (field == nullptr) return Bad("unknown key \"" + key + "\"");
  WB_ASSIGN(*field, GetString(value, key));
  return Status::Ok();
}

Status ParseMember(const std::string& key, const Json& value, Record& r, bool& has_event) {
  if (key == "v") {
    if (!value.is_number_unsigned() || value.get<std::uint64_t>() != 1) {
      return Bad("\"v\" is not 1 (a newer format?)");
    }
  } else if (key == "seq") {
    WB_ASSIGN(r.seq, GetUnsigned(value, key));
  } else if (key == "time") {
    std::string text;
    WB_ASSIGN(text, GetString(value, key));
    auto time = ParseTime(text);
    if (!time.ok()) return Bad("\"time\" is not a UTC time");
    r.time = *time;
  } else if (key == "agent") {
    WB_ASSIGN(r.agent, GetString(value, key));
  } else if (key == "event") {
    std::string name;
    WB_ASSIGN(name, GetString(value, key));
    std::optional<EventType> type = ParseEventType(name);
    if (!type) return Bad("unknown event type");
    r.event.type = *type;
    has_event = true;
  } else if (key == "prev") {
    WB_ASSIGN(r.prev, GetString(value, key));
  } else if (key == "hmac") {
    WB_ASSIGN(r.hmac, GetString(value, key));
  } else {
    return ParseEventMember(key, value, r.event);
  }
  return Status::Ok();
}

#undef WB_ASSIGN

}  // namespace

Result<Record> ParseRecord(std::string_view line) {
  Json j = Json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Bad("not valid JSON");
  if (!j.is_object()) return Bad("not a JSON object");
  Record r;
  bool has_event = false;
  for (const auto& [key, value] : j.items()) {
    WB_RETURN_IF_ERROR(ParseMember(key, value, r, has_event));
  }
  if (r.seq == 0) return Bad("\"seq\" is missing or 0");
  if (!has_event) return Bad("\"event\" is missing");
  if (!j.contains("v") || !j.contains("time")) return Bad("\"v\" or \"time\" is missing");
  if (r.prev.size() != internal::kHexDigestSize || !internal::IsLowerHex(r.prev)) {
    return Bad("\"prev\" is not a SHA-256 hex digest");
  }
  return r;
}

namespace internal {

std::string RecordBody(const Record& record) {
  std::string out;
  out.reserve(512);
  ObjectWriter j(out);
  j.Number("v", 1);
  j.Number("seq", record.seq);
  j.Name("time", FormatTime(record.time));
  j.String("agent", record.agent);
  j.Name("event", Name(record.event.type));
  WriteEventMembers(j, record.event);
  j.Name("prev", record.prev);
  j.Close();
  return out;
}

}  // namespace internal
}  // namespace wb::audit
