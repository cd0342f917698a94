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

void PutString(Json& j, const char* key, std::string_view value, std::size_t max = kMaxFieldBytes) {
  if (!value.empty()) j[key] = Clean(value, max);
}

void PutList(Json& j, const char* key, const std::vector<std::string>& values) {
  if (values.empty()) return;
  Json list = Json::array();
  for (std::size_t i = 0; i < values.size() && i < kMaxListItems; ++i) {
    list.push_back(Clean(values[i], kMaxListItemBytes));
  }
  j[key] = std::move(list);
}

Json EventMembers(const Event& e) {
  Json j = Json::object();
  PutString(j, "request_id", e.request_id);
  PutString(j, "correlation_id", e.correlation_id);
  PutString(j, "tenant", e.tenant);
  if (!e.operations.empty()) {
    Json ops = Json::array();
    for (std::size_t i = 0; i < e.operations.size() && i < kMaxListItems; ++i) {
      ops.push_back(Name(e.operations[i]));
    }
    j["operation"] = std::move(ops);
  }
  Json target = Json::object();
  PutString(target, "requested", e.target.requested);
  PutString(target, "dn", e.target.dn);
  if (!target.empty()) j["target"] = std::move(target);
  Json requester = Json::object();
  if (e.requester.kind != RequesterKind::kNone) requester["kind"] = Name(e.requester.kind);
  PutString(requester, "id", e.requester.id);
  PutList(requester, "verified_by", e.requester.verified_by);
  if (!requester.empty()) j["requester"] = std::move(requester);
  if (e.decision != Decision::kNone) j["decision"] = Name(e.decision);
  PutList(j, "reasons", e.reasons);
  PutString(j, "directory", e.directory);
  PutString(j, "server", e.server);
  PutString(j, "outcome", e.outcome);
  if (e.duration) {
    j["duration_ms"] = static_cast<std::uint64_t>(std::max<std::int64_t>(0, e.duration->count()));
  }
  PutString(j, "detail", e.detail, kMaxDetailBytes);
  return j;
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
  Json j = Json::object();
  j["v"] = 1;
  j["seq"] = record.seq;
  j["time"] = FormatTime(record.time);
  PutString(j, "agent", record.agent);
  j["event"] = Name(record.event.type);
  Json members = EventMembers(record.event);
  for (auto& [key, value] : members.items()) j[key] = std::move(value);
  j["prev"] = record.prev;
  return j.dump(-1, ' ', /*ensure_ascii=*/false, Json::error_handler_t::replace);
}

}  // namespace internal
}  // namespace wb::audit
