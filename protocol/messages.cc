// Channel messages: strict parsing and serialisation.
#include <utility>

#include "common/log_escape.h"
#include "protocol/internal.h"

namespace wb::protocol {
namespace {

constexpr StringRule kVersionRule{1, 64, Charset::kPrintable};
constexpr StringRule kTypeRule{1, 32, Charset::kToken};
// The envelope's own checks (size, form) belong to OpenRequest, which rejects with precise
// codes; here it only has to be text.
constexpr StringRule kEnvelopeRule{1, kMaxMessageBytes, Charset::kText};
constexpr StringRule kJwsRule{1, kMaxMessageBytes, Charset::kCompact};
constexpr StringRule kPemRule{1, kMaxMessageBytes, Charset::kPem};

constexpr StringRule kDigestRule{64, 64, Charset::kLowerHex};

// The three members of an audit head, read from `r` (an object of their own, or a message).
void ReadAuditHeadFields(FieldReader& r, AuditHead& head) {
  int64_t seq = 0;
  if (r.Integer("seq", seq, 0, static_cast<int64_t>(kMaxAuditSeq))) {
    head.seq = static_cast<std::uint64_t>(seq);
  }
  r.String("hash", head.hash, kDigestRule);
  r.String("hmac", head.hmac, kDigestRule);
}

void ReadOptionalAuditHead(FieldReader& outer, std::optional<AuditHead>& out) {
  const Json* j = outer.Member("audit_head", false);
  if (j == nullptr) return;
  FieldReader r(*j, "message: audit_head");
  AuditHead head;
  ReadAuditHeadFields(r, head);
  if (Status s = r.Finish(); !s.ok()) {
    outer.Fail(s.message());
    return;
  }
  out = std::move(head);
}

void PutAuditHeadFields(OrderedJson& j, const AuditHead& head) {
  j["seq"] = head.seq;
  j["hash"] = head.hash;
  j["hmac"] = head.hmac;
}

OrderedJson AuditHeadJson(const AuditHead& head) {
  OrderedJson j = OrderedJson::object();
  PutAuditHeadFields(j, head);
  return j;
}

template <typename T>
Result<Message> Done(FieldReader& r, T message) {
  WB_RETURN_IF_ERROR(r.Finish());
  return Message(std::move(message));
}

Result<Message> ParseHello(FieldReader& r) {
  Hello m;
  int64_t credits = 0;
  r.String("agent_id", m.agent_id, kAgentIdRule);
  r.String("version", m.version, kVersionRule);
  if (r.Integer("credits", credits, 0, kMaxCredits)) m.credits = static_cast<int>(credits);
  r.StringArray("unacked_results", m.unacked_results, 0, kMaxUnackedResults, kIdRule);
  return Done(r, std::move(m));
}

Result<Message> ParseWelcome(FieldReader& r) {
  Welcome m;
  r.String("tenant", m.tenant, kTenantRule);
  r.Time("server_time", m.server_time);
  ReadOptionalAuditHead(r, m.audit_head);
  return Done(r, std::move(m));
}

Result<Message> ParseRequest(FieldReader& r) {
  Request m;
  int64_t delivery = 1;
  r.String("envelope", m.envelope, kEnvelopeRule);
  if (r.OptionalInteger("delivery", delivery, 1, kMaxDelivery)) {
    m.delivery = static_cast<int>(delivery);
  }
  return Done(r, std::move(m));
}

Result<Message> ParseAccepted(FieldReader& r) {
  Accepted m;
  r.String("id", m.id, kIdRule);
  return Done(r, std::move(m));
}

Result<Message> ParseRejected(FieldReader& r) {
  Rejected m;
  std::string code;
  r.OptionalString("id", m.id, kIdRule);
  if (r.String("code", code, kCodeRule)) {
    if (auto c = ParseRejectCode(code)) {
      m.code = *c;
    } else {
      r.Fail("message: unknown rejection code \"" + code + "\"");
    }
  }
  r.String("reason", m.reason, kTextRule);
  return Done(r, std::move(m));
}

Result<Message> ParseResult(FieldReader& r) {
  ResultMessage m;
  r.String("id", m.id, kIdRule);
  r.String("outcome", m.outcome, kCodeRule);
  std::string action;
  if (r.OptionalString("user_action", action, kCodeRule) && !action.empty()) {
    if (auto a = ParseUserAction(action)) {
      m.user_action = *a;
    } else {
      r.Fail("message: unknown user_action \"" + action + "\"");
    }
  }
  r.OptionalString("reason", m.reason, kTextRule);
  r.OptionalString("note", m.note, kTextRule);
  r.Time("completed_at", m.completed_at);
  return Done(r, std::move(m));
}

Result<Message> ParseResultAck(FieldReader& r) {
  ResultAck m;
  r.String("id", m.id, kIdRule);
  return Done(r, std::move(m));
}

Result<Message> ParseCredits(FieldReader& r) {
  Credits m;
  int64_t credits = 0;
  if (r.Integer("credits", credits, 0, kMaxCredits)) m.credits = static_cast<int>(credits);
  return Done(r, std::move(m));
}

Result<Message> ParseKeySet(FieldReader& r) {
  KeySet m;
  r.String("jwks_jws", m.jwks_jws, kJwsRule);
  return Done(r, std::move(m));
}

Result<Message> ParseRenew(FieldReader& r) {
  Renew m;
  r.String("csr", m.csr, kPemRule);
  return Done(r, std::move(m));
}

Result<Message> ParseCertificate(FieldReader& r) {
  Certificate m;
  r.String("certificate", m.certificate, kPemRule);
  return Done(r, std::move(m));
}

Result<Message> ParseError(FieldReader& r) {
  ErrorMessage m;
  r.String("code", m.code, kCodeRule);
  r.String("message", m.message, kTextRule);
  return Done(r, std::move(m));
}

Result<Message> ParseAuditHead(FieldReader& r) {
  AuditHeadMessage m;
  ReadAuditHeadFields(r, m.head);
  return Done(r, std::move(m));
}

// --- policy_summary ---

constexpr StringRule kDirectoryNameRule{1, 64, Charset::kPrintable};
constexpr StringRule kSuffixRule{1, 253, Charset::kPrintable};
constexpr StringRule kForbiddenRule{0, kMaxForbiddenBytes, Charset::kText};
constexpr int64_t kMaxMinAgeSeconds = 10LL * 366 * 24 * 3600;

int SmallInt(FieldReader& r, std::string_view key, int max) {
  int64_t n = 0;
  r.Integer(key, n, 0, max);
  return static_cast<int>(n);
}

// Reads the object `key` of `outer` with `read`; absent is a failure when `required`.
template <typename T, typename Read>
bool ReadObject(FieldReader& outer, std::string_view key, bool required, T& out, Read read) {
  const Json* j = outer.Member(key, required);
  if (j == nullptr) return false;
  std::string where = "message: ";
  where += key;
  FieldReader r(*j, where);
  read(r, out);
  if (Status s = r.Finish(); !s.ok()) {
    outer.Fail(s.message());
    return false;
  }
  return true;
}

void ReadPasswordRules(FieldReader& r, PasswordRulesSummary& t) {
  t.min_length = SmallInt(r, "min_length", kMaxSummaryLength);
  t.max_length = SmallInt(r, "max_length", kMaxSummaryLength);
  t.min_classes = SmallInt(r, "min_classes", 5);
  r.String("forbidden_characters", t.forbidden_characters, kForbiddenRule);
  t.max_repeated = SmallInt(r, "max_repeated", kMaxSummaryLength);
  r.Bool("not_same_as_old", t.not_same_as_old);
  r.Bool("no_name_parts", t.no_name_parts);
  r.Bool("banned_words", t.banned_words);
  r.Bool("breached", t.breached);
  r.Bool("enforced", t.enforced);
}

void ReadDirectoryRules(FieldReader& r, DirectoryRulesSummary& d) {
  d.min_length = SmallInt(r, "min_length", kMaxSummaryLength);
  d.max_length = SmallInt(r, "max_length", kMaxSummaryLength);
  r.Bool("complexity", d.complexity);
  d.history_length = SmallInt(r, "history_length", kMaxSummaryHistory);
  int64_t age = 0;
  r.Integer("min_age", age, 0, kMaxMinAgeSeconds);
  d.min_age = std::chrono::seconds(age);
}

void ReadDirectorySummary(FieldReader& r, DirectorySummary& d) {
  r.String("name", d.name, kDirectoryNameRule);
  r.StringArray("upn_suffixes", d.upn_suffixes, 0, kMaxSummarySuffixes, kSuffixRule);
  DirectoryRulesSummary own;
  if (ReadObject(r, "directory", false, own, ReadDirectoryRules)) d.directory = own;
  ReadObject(r, "self", true, d.self, ReadPasswordRules);
  ReadObject(r, "admin", true, d.admin, ReadPasswordRules);
}

Result<Message> ParsePolicySummary(FieldReader& r) {
  PolicySummary m;
  const Json* list = r.Member("directories", true);
  if (list != nullptr) {
    if (!list->is_array() || list->empty() || list->size() > kMaxSummaryDirectories) {
      r.Fail("message: directories must be a list of 1.." + std::to_string(kMaxSummaryDirectories) +
             " objects");
    } else {
      for (const Json& item : *list) {
        FieldReader d(item, "message: directories[]");
        DirectorySummary directory;
        ReadDirectorySummary(d, directory);
        if (Status s = d.Finish(); !s.ok()) {
          r.Fail(s.message());
          break;
        }
        for (const DirectorySummary& seen : m.directories) {
          if (seen.name == directory.name) {
            std::string problem = "message: directories: \"";
            problem.append(EscapeForLog(directory.name, 64)).append("\" twice");
            r.Fail(std::move(problem));
          }
        }
        m.directories.push_back(std::move(directory));
      }
    }
  }
  return Done(r, std::move(m));
}

OrderedJson PasswordRulesJson(const PasswordRulesSummary& t) {
  OrderedJson j;
  j["min_length"] = t.min_length;
  j["max_length"] = t.max_length;
  j["min_classes"] = t.min_classes;
  j["forbidden_characters"] = t.forbidden_characters;
  j["max_repeated"] = t.max_repeated;
  j["not_same_as_old"] = t.not_same_as_old;
  j["no_name_parts"] = t.no_name_parts;
  j["banned_words"] = t.banned_words;
  j["breached"] = t.breached;
  j["enforced"] = t.enforced;
  return j;
}

OrderedJson DirectoryRulesJson(const DirectoryRulesSummary& d) {
  OrderedJson j;
  j["min_length"] = d.min_length;
  j["max_length"] = d.max_length;
  j["complexity"] = d.complexity;
  j["history_length"] = d.history_length;
  j["min_age"] = d.min_age.count();
  return j;
}

using Parser = Result<Message> (*)(FieldReader&);
constexpr std::pair<std::string_view, Parser> kParsers[] = {
    {"hello", ParseHello},
    {"welcome", ParseWelcome},
    {"request", ParseRequest},
    {"accepted", ParseAccepted},
    {"rejected", ParseRejected},
    {"result", ParseResult},
    {"result_ack", ParseResultAck},
    {"credits", ParseCredits},
    {"keyset", ParseKeySet},
    {"renew", ParseRenew},
    {"certificate", ParseCertificate},
    {"error", ParseError},
    {"audit_head", ParseAuditHead},
    {"policy_summary", ParsePolicySummary},
};

OrderedJson Head(std::string_view type) {
  OrderedJson j;
  j["type"] = type;
  j["v"] = kVersion;
  return j;
}

}  // namespace

Result<Message> ParseMessage(std::string_view json) {
  auto parsed = ParseStrictJson(json, kMaxMessageBytes, "message");
  if (!parsed.ok()) return parsed.error();
  const Json& j = *parsed;
  if (j.is_object()) {
    auto v = j.find("v");
    if (v != j.end() && v->is_number_integer() && *v != kVersion) {
      return FailedPrecondition("unsupported protocol version " + EscapeForLog(Dump(*v), 24) +
                                "; version 1 is the only one defined");
    }
  }
  FieldReader r(j, "message");
  std::string type;
  int64_t v = 0;
  r.Integer("v", v, kVersion, kVersion);
  r.String("type", type, kTypeRule);
  if (r.failed()) return r.Finish();
  for (const auto& [name, parse] : kParsers) {
    if (name == type) return parse(r);
  }
  return InvalidArgument("message: unknown type \"" + type + "\"");
}

RejectCode RejectCodeForParseError(const Status& parse_error) {
  return parse_error.code() == Code::kResourceExhausted ? RejectCode::kTooLarge
                                                        : RejectCode::kMalformed;
}

std::string MessageTypeOf(std::string_view json) {
  auto parsed = ParseStrictJson(json, kMaxMessageBytes, "message");
  if (!parsed.ok() || !parsed->is_object()) return "";
  auto t = parsed->find("type");
  if (t == parsed->end() || !t->is_string()) return "";
  const auto& s = t->get_ref<const std::string&>();
  return Matches(s, kTypeRule) ? s : "";
}

std::string Serialize(const Hello& m) {
  OrderedJson j = Head("hello");
  j["agent_id"] = m.agent_id;
  j["version"] = m.version;
  j["credits"] = m.credits;
  j["unacked_results"] = m.unacked_results;
  return Dump(j);
}

std::string Serialize(const Welcome& m) {
  OrderedJson j = Head("welcome");
  j["tenant"] = m.tenant;
  j["server_time"] = ToUnixSeconds(m.server_time);
  if (m.audit_head) j["audit_head"] = AuditHeadJson(*m.audit_head);
  return Dump(j);
}

std::string Serialize(const Request& m) {
  OrderedJson j = Head("request");
  j["envelope"] = m.envelope;
  if (m.delivery > 1) j["delivery"] = m.delivery;
  return Dump(j);
}

std::string Serialize(const Accepted& m) {
  OrderedJson j = Head("accepted");
  j["id"] = m.id;
  return Dump(j);
}

std::string Serialize(const Rejected& m) {
  OrderedJson j = Head("rejected");
  if (!m.id.empty()) j["id"] = m.id;
  j["code"] = RejectCodeName(m.code);
  j["reason"] = m.reason;
  return Dump(j);
}

std::string Serialize(const ResultMessage& m) {
  OrderedJson j = Head("result");
  j["id"] = m.id;
  j["outcome"] = m.outcome;
  j["user_action"] = UserActionName(m.user_action);
  if (!m.reason.empty()) j["reason"] = m.reason;
  if (!m.note.empty()) j["note"] = m.note;
  j["completed_at"] = ToUnixSeconds(m.completed_at);
  return Dump(j);
}

std::string Serialize(const ResultAck& m) {
  OrderedJson j = Head("result_ack");
  j["id"] = m.id;
  return Dump(j);
}

std::string Serialize(const Credits& m) {
  OrderedJson j = Head("credits");
  j["credits"] = m.credits;
  return Dump(j);
}

std::string Serialize(const KeySet& m) {
  OrderedJson j = Head("keyset");
  j["jwks_jws"] = m.jwks_jws;
  return Dump(j);
}

std::string Serialize(const Renew& m) {
  OrderedJson j = Head("renew");
  j["csr"] = m.csr;
  return Dump(j);
}

std::string Serialize(const Certificate& m) {
  OrderedJson j = Head("certificate");
  j["certificate"] = m.certificate;
  return Dump(j);
}

std::string Serialize(const ErrorMessage& m) {
  OrderedJson j = Head("error");
  j["code"] = m.code;
  j["message"] = m.message;
  return Dump(j);
}

std::string Serialize(const AuditHeadMessage& m) {
  OrderedJson j = Head("audit_head");
  PutAuditHeadFields(j, m.head);
  return Dump(j);
}

std::string Serialize(const PolicySummary& m) {
  OrderedJson j = Head("policy_summary");
  OrderedJson list = OrderedJson::array();
  for (const DirectorySummary& d : m.directories) {
    OrderedJson item;
    item["name"] = d.name;
    item["upn_suffixes"] = d.upn_suffixes;
    if (d.directory) item["directory"] = DirectoryRulesJson(*d.directory);
    item["self"] = PasswordRulesJson(d.self);
    item["admin"] = PasswordRulesJson(d.admin);
    list.push_back(std::move(item));
  }
  j["directories"] = std::move(list);
  return Dump(j);
}

std::string Serialize(const Message& m) {
  return std::visit([](const auto& x) { return Serialize(x); }, m);
}

}  // namespace wb::protocol
