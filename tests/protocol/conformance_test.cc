// Protocol conformance: the real `wbagent run` against a scripted cloud that sends exact
// frames (tests/protocol/scripted_peer.h), one row per agent-side rule of docs/protocol.md.
//
// Each row names its section and says what the peer sends, what the agent must answer (the
// frames and the close status, written as a transcript such as
// "error(bad_message) close(1003)") and what must or must not be in the directory and the
// queue afterwards. A transcript lists each frame the agent sent as type(code/outcome, id),
// where "id" is the id of the row's own request ("id2", "id3" for its later ones) and "no id"
// an absent one; it ends with the close status, or "open" when the connection stayed open and
// still answered a probe (an expired envelope, which must be rejected and writes nothing).
//
// One slapd serves the whole suite. The agent process is reused while its connection stays
// open and restarted after a row that ended the connection, so that its reconnect backoff
// never slows the suite down.

#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <cctype>
#include <deque>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "common/clock.h"
#include "protocol/base64url.h"
#include "protocol/protocol.h"
#include "tests/protocol/agent_under_test.h"
#include "tests/protocol/protocol_test_util.h"
#include "tests/protocol/scripted_peer.h"
#include "tests/support/hmac.h"
#include "tests/support/ldap_test_client.h"
#include "tests/support/server_gate.h"
#include "tests/support/slapd_server.h"

namespace wb::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using Ordered = nlohmann::ordered_json;

constexpr char kAgentId[] = "conf-agent";
constexpr char kTenant[] = "tenant-conf";
constexpr int kHeartbeatSeconds = 1;
constexpr int kCredits = 2;                  // queue.max_in_flight of the agent under test
constexpr milliseconds kAnswerWait{1500};    // the agent answers a frame within milliseconds
constexpr milliseconds kConnectWait{15000};  // process start, TLS, upgrade, hello

std::int64_t NowSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// ---- The suite's servers -------------------------------------------------------------------

struct Suite {
  TempDir dir{"wbconform"};
  std::unique_ptr<SlapdServer> slapd;
  std::optional<TestCa> ca;
  std::unique_ptr<ScriptedPeer> peer;
  std::unique_ptr<AgentUnderTest> agent;
  Status slapd_status;  // a directory that cannot start: skipped outside CI, failed in CI
  Status setup_status;  // anything else that failed: always a failure
  std::shared_ptr<PeerConnection> conn;  // the open, welcomed connection, if any
  int users = 0;
  // What the background filter took out of the stream, by type, in order.
  std::mutex background_mu;
  std::vector<json> heads;      // audit_head
  std::vector<json> summaries;  // policy_summary
};
Suite* suite = nullptr;

bool IsLowerHex64(const json& v) {
  if (!v.is_string() || v.get_ref<const std::string&>().size() != 64) return false;
  const std::string& text = v.get_ref<const std::string&>();
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// §4 audit_head: exactly seq (0..2^53-1), hash and hmac (64 lowercase hex).
bool IsDocumentedAuditHead(const json& head) {
  return head.is_object() && head.size() == 3 && head.contains("seq") &&
         head["seq"].is_number_unsigned() &&
         head["seq"].get<std::uint64_t>() <= (std::uint64_t{1} << 53) - 1 &&
         IsLowerHex64(head.value("hash", json())) && IsLowerHex64(head.value("hmac", json()));
}

bool IsBool(const json& o, const char* key) { return o.contains(key) && o[key].is_boolean(); }
bool IsCount(const json& o, const char* key) {
  return o.contains(key) && o[key].is_number_unsigned();
}

// §4 policy_summary: one table of the agent's own rules, exactly the documented fields.
bool IsDocumentedRules(const json& t) {
  return t.is_object() && t.size() == 10 && IsCount(t, "min_length") && IsCount(t, "max_length") &&
         IsCount(t, "min_classes") && t.value("min_classes", 6u) <= 5u &&
         t.contains("forbidden_characters") && t["forbidden_characters"].is_string() &&
         IsCount(t, "max_repeated") && IsBool(t, "not_same_as_old") && IsBool(t, "no_name_parts") &&
         IsBool(t, "banned_words") && IsBool(t, "breached") && IsBool(t, "enforced");
}

// §4 policy_summary: 1..64 directories, each with name, upn_suffixes, self and admin, and
// optionally the directory's own policy (five fields).
bool IsDocumentedPolicySummary(const json& m) {
  if (!m.is_object() || m.size() != 3 || !m.contains("directories")) return false;
  const json& list = m["directories"];
  if (!list.is_array() || list.empty() || list.size() > 64) return false;
  for (const json& d : list) {
    if (!d.is_object() || !d.contains("name") || !d["name"].is_string() ||
        !d.contains("upn_suffixes") || !d["upn_suffixes"].is_array() ||
        !IsDocumentedRules(d.value("self", json())) ||
        !IsDocumentedRules(d.value("admin", json()))) {
      return false;
    }
    const bool has_own = d.contains("directory");
    if (d.size() != (has_own ? 5u : 4u)) return false;
    if (has_own) {
      const json& o = d["directory"];
      if (!o.is_object() || o.size() != 5 || !IsCount(o, "min_length") ||
          !IsCount(o, "max_length") || !IsBool(o, "complexity") || !IsCount(o, "history_length") ||
          !IsCount(o, "min_age")) {
        return false;
      }
    }
  }
  return true;
}

Status SetUpSuite(Suite& s) {
  auto ca = TestCa::Create(s.dir.path() / "peer-ca", "conformance-peer-ca");
  if (!ca.ok()) return ca.error();
  s.ca = std::move(*ca);
  auto peer = ScriptedPeer::Start(*s.ca);
  if (!peer.ok()) return peer.error();
  s.peer = std::move(*peer);
  // §4: the agent sends `audit_head` and `policy_summary` on its own schedule; a well-formed
  // one is not an answer. A malformed one stays in the stream, where the row that meets it
  // fails.
  s.peer->SetBackgroundFilter([&s](std::string_view text) {
    const json m = json::parse(text, nullptr, false);
    if (!m.is_object() || m.value("v", 0) != 1) return false;
    const std::string type = m.value("type", "");
    if (type == "policy_summary" && IsDocumentedPolicySummary(m)) {
      std::lock_guard lock(s.background_mu);
      s.summaries.push_back(m);
      return true;
    }
    if (type != "audit_head") return false;
    json head = m;
    head.erase("type");
    head.erase("v");
    if (!IsDocumentedAuditHead(head)) return false;
    std::lock_guard lock(s.background_mu);
    s.heads.push_back(m);
    return true;
  });
  auto agent = AgentUnderTest::Create({.dir = s.dir.path() / "agent",
                                       .agent_id = kAgentId,
                                       .tenant = kTenant,
                                       .peer_port = s.peer->port(),
                                       .peer_ca = &*s.ca,
                                       .slapd = s.slapd.get(),
                                       .heartbeat_seconds = kHeartbeatSeconds,
                                       .max_in_flight = kCredits});
  if (!agent.ok()) return agent.error();
  s.agent = std::move(*agent);
  return Status::Ok();
}

// ---- Frames ---------------------------------------------------------------------------------

std::string RequestFrame(const std::string& envelope) {
  return R"({"type":"request","v":1,"envelope":")" + envelope + R"("})";
}
std::string WelcomeFrame(const std::string& tenant = kTenant) {
  return R"({"type":"welcome","v":1,"tenant":")" + tenant + R"(","server_time":)" +
         std::to_string(NowSeconds()) + "}";
}
std::string ResultAckFrame(const std::string& id) {
  return R"({"type":"result_ack","v":1,"id":")" + id + R"("})";
}

struct Out {
  bool binary = false;
  std::string bytes;
  bool raw = false;  // bytes below the WebSocket layer: a hand-made frame
};
Out Text(std::string s) { return {false, std::move(s)}; }
Out Binary(std::string s) { return {true, std::move(s)}; }
using Frames = std::vector<Out>;

// ---- What the agent answered, as a transcript ------------------------------------------------

std::string IdText(const json& m, const std::vector<std::string>& ids) {
  if (!m.contains("id")) return "no id";
  const std::string id = m["id"].is_string() ? m["id"].get<std::string>() : m["id"].dump();
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] == id) return i == 0 ? "id" : "id" + std::to_string(i + 1);
  }
  return "id=" + id;
}

std::string Describe(const PeerFrame& f, const std::vector<std::string>& ids) {
  if (f.kind == PeerFrame::Kind::kClose) return "close(" + std::to_string(f.close_code) + ")";
  if (f.kind == PeerFrame::Kind::kBinary) return "binary";
  const json m = json::parse(f.payload, nullptr, false);
  if (!m.is_object() || !m.contains("type") || !m["type"].is_string()) {
    return "text(" + f.payload.substr(0, 40) + ")";
  }
  const std::string type = m["type"];
  std::vector<std::string> parts;
  if (m.contains("code") && m["code"].is_string()) parts.push_back(m["code"]);
  if (m.contains("outcome") && m["outcome"].is_string()) parts.push_back(m["outcome"]);
  if (type == "accepted" || type == "rejected" || type == "result") parts.push_back(IdText(m, ids));
  std::string out = type + "(";
  for (std::size_t i = 0; i < parts.size(); ++i) out += (i ? "," : "") + parts[i];
  return out + ")";
}

std::string Join(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : " ") + p;
  return out;
}

// A transcript with its `result` frames moved behind the other frames (keeping their own
// order): a result comes when the directory write is done, so its place among the
// synchronous answers is not part of the rules.
std::string Canonical(const std::string& transcript) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (std::size_t end; (end = transcript.find(") ", start)) != std::string::npos;
       start = end + 2) {
    parts.push_back(transcript.substr(start, end + 1 - start));
  }
  parts.push_back(transcript.substr(start));
  std::stable_partition(parts.begin(), parts.end() - 1,
                        [](const std::string& p) { return p.rfind("result(", 0) != 0; });
  return Join(parts);
}

std::size_t CountFrames(std::string_view transcript) {
  std::size_t n = 0;
  for (std::size_t at = 0; (at = transcript.find(')', at)) != std::string::npos; ++at) ++n;
  return n;
}

// ---- Requests the peer builds -------------------------------------------------------------

struct User {
  std::string uid;
  std::string password;    // the password it has before the row
  std::string changed_at;  // pwdChangedTime before the row
};

struct Built {
  std::string jti;
  std::string nonce;
  std::string envelope;
  User user;
  std::string new_password;
};

protocol::RequestClaims ResetClaims(const std::string& uid) {
  const WallTime now = SystemClock().Now();
  return {.id = protocol::NewRequestId(),
          .tenant = kTenant,
          .audience = kAgentId,
          .issued_at = now,
          .expires_at = now + 10min,
          .nonce = protocol::NewNonce(),
          .operations = {protocol::Operation::kReset},
          .target = {protocol::TargetKind::kUid, uid},
          .requester = {protocol::RequesterType::kAdmin, "helpdesk@conformance", {}},
          .correlation_id = "conformance"};
}

// Claims as JSON text the row may still change: an unlock of a user nobody has, so that a
// row that builds claims by hand never needs a secret.
Ordered UnlockClaims(const std::string& jti) {
  const std::int64_t now = NowSeconds();
  return Ordered{
      {"jti", jti},
      {"tenant", kTenant},
      {"aud", kAgentId},
      {"iat", now},
      {"exp", now + 600},
      {"nonce", protocol::NewNonce()},
      {"op", Ordered::array({"unlock"})},
      {"target", {{"kind", "uid"}, {"value", "nobody-conformance"}}},
      {"requester", {{"type", "admin"}, {"id", "helpdesk"}, {"verified_by", Ordered::array()}}},
      {"correlation_id", "conformance"}};
}

// One row's run: the requests it built, to check their effects afterwards.
class Ctx {
 public:
  // A fresh user and a valid reset of its password, signed with the pinned key.
  const Built& Reset(const std::function<void(protocol::RequestClaims&)>& change = {}) {
    return Seal(NewUser(), change, suite->agent->encryption_jwk());
  }
  // The same, with the secret encrypted to `jwk` instead of the agent's key.
  const Built& ResetFor(const protocol::Jwk& jwk) { return Seal(NewUser(), {}, jwk); }
  // A second request with the same jti (`same_jti`) or the same nonce as `first`.
  const Built& Reuse(const Built& first, bool same_jti) {
    return Seal(
        first.user,
        [&](protocol::RequestClaims& c) {
          (same_jti ? c.id : c.nonce) = same_jti ? first.jti : first.nonce;
        },
        suite->agent->encryption_jwk());
  }
  // A JWS over exactly `payload`, under the request header, signed with the pinned key
  // (`key` and `kid` override it). The payload's jti, if any, is the row's id.
  std::string Signed(const std::string& payload, const protocol::EcPrivateKey* key = nullptr,
                     const std::string& header = "") {
    const std::string h =
        header.empty() ? protocol::fixtures::RequestHeader(suite->agent->signing_kid()) : header;
    return protocol::fixtures::SignRaw(h, payload, key ? *key : suite->agent->signing_key());
  }
  std::string NewId() {
    ids.push_back(protocol::NewRequestId());
    return ids.back();
  }
  // An envelope that fails a cheap check (expired) and is never written: the probe that shows
  // the connection still works.
  std::string ExpiredEnvelope() {
    protocol::RequestClaims c = ResetClaims("nobody-conformance");
    c.operations = {protocol::Operation::kUnlock};
    c.issued_at -= 1h;
    c.expires_at = c.issued_at + 10min;
    auto sealed =
        protocol::SealRequest(c, nullptr, suite->agent->signing_key(), suite->agent->signing_kid(),
                              suite->agent->encryption_jwk());
    return sealed.ok() ? *sealed : "";
  }

  std::vector<std::string> ids;  // the row's request ids, in the order built
  std::deque<Built> built;       // stable references: rows hold one while building the next

 private:
  User NewUser() {
    const int n = ++suite->users;
    User u{.uid = "conf" + std::to_string(n),
           .password = "Initial-Conf-" + std::to_string(n) + "-pw!"};
    EXPECT_TRUE(suite->slapd->CreateUser(u.uid, u.password).ok());
    auto changed = suite->slapd->ReadAttribute(SlapdServer::user_dn(u.uid), "pwdChangedTime");
    if (changed.ok() && !changed->empty()) u.changed_at = changed->front();
    return u;
  }

  const Built& Seal(User user, const std::function<void(protocol::RequestClaims&)>& change,
                    const protocol::Jwk& to) {
    protocol::RequestClaims c = ResetClaims(user.uid);
    if (change) change(c);
    const std::string new_password = "Reset-" + c.id.substr(0, 8) + "-Conf!";
    const protocol::Passwords pw{Secret(new_password), Secret("")};
    auto sealed =
        protocol::SealRequest(c, &pw, suite->agent->signing_key(), suite->agent->signing_kid(), to);
    EXPECT_TRUE(sealed.ok()) << (sealed.ok() ? "" : sealed.error().ToString());
    if (std::find(ids.begin(), ids.end(), c.id) == ids.end()) ids.push_back(c.id);
    built.push_back({c.id, c.nonce, sealed.ok() ? *sealed : "", std::move(user), new_password});
    return built.back();
  }
};

// ---- Sessions -------------------------------------------------------------------------------

struct Greeting {
  std::shared_ptr<PeerConnection> conn;
  json hello;
  std::vector<std::string> resent;  // result ids the agent sent right after welcome
  std::string error;                // empty when the handshake went as the spec says
};

// Acknowledges every `result` in `frames`, so it is not re-sent at the next connection.
void AckResults(PeerConnection& conn, const std::vector<PeerFrame>& frames) {
  for (const PeerFrame& f : frames) {
    const json m = json::parse(f.payload, nullptr, false);
    if (m.is_object() && m.value("type", "") == "result" && m.contains("id")) {
      (void)conn.SendText(ResultAckFrame(m["id"].get<std::string>()));
    }
  }
}

// Reads hello (the first frame), without answering it.
Greeting ReadHello(std::shared_ptr<PeerConnection> conn) {
  Greeting g{.conn = std::move(conn)};
  std::optional<PeerFrame> first = g.conn->ReadFrame(kConnectWait);
  if (!first || first->kind != PeerFrame::Kind::kText) {
    g.error = "no hello from the agent";
    return g;
  }
  g.hello = json::parse(first->payload, nullptr, false);
  if (!g.hello.is_object() || g.hello.value("type", "") != "hello") {
    g.error = "the first frame is not hello: " + first->payload.substr(0, 200);
  }
  return g;
}

// Answers hello with welcome and takes (and acknowledges) the results the agent re-sends for
// hello.unacked_results.
void Welcome(Greeting& g) {
  (void)g.conn->SendText(WelcomeFrame());
  std::vector<std::string> pending = g.hello.value("unacked_results", std::vector<std::string>{});
  while (!pending.empty()) {
    std::optional<PeerFrame> f = g.conn->ReadFrame(5s);
    if (!f || f->kind != PeerFrame::Kind::kText) {
      g.error = "unacknowledged results were not re-sent after welcome";
      return;
    }
    const json m = json::parse(f->payload, nullptr, false);
    if (!m.is_object() || m.value("type", "") != "result") continue;
    const std::string id = m.value("id", "");
    g.resent.push_back(id);
    (void)g.conn->SendText(ResultAckFrame(id));
    std::erase(pending, id);
  }
}

Greeting Greet(std::shared_ptr<PeerConnection> conn) {
  Greeting g = ReadHello(std::move(conn));
  if (g.error.empty()) Welcome(g);
  return g;
}

// Restarts the agent process: a fresh backoff and a fresh connection.
Status RestartAgent() {
  suite->conn.reset();
  suite->agent->Stop();
  while (suite->peer->Accept(0ms)) {
  }  // connections made before the restart
  return suite->agent->Start();
}

// A new connection from a freshly started agent, hello read, welcome not yet sent. A
// connection of the stopped process that was still queued ends without hello: skipped.
Result<Greeting> FreshHello() {
  WB_RETURN_IF_ERROR(RestartAgent());
  const auto deadline = std::chrono::steady_clock::now() + kConnectWait;
  std::string last = "the agent did not connect";
  while (std::chrono::steady_clock::now() < deadline) {
    auto conn = suite->peer->Accept(
        std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now()));
    if (!conn) break;
    Greeting g = ReadHello(conn);
    if (g.error.empty()) return g;
    last = g.error;
  }
  return Unavailable(last + "; the agent's log:\n" + suite->agent->Log());
}

// The suite's open, welcomed connection (a new one when the last row ended it).
Result<std::shared_ptr<PeerConnection>> OpenSession() {
  if (suite->conn) return suite->conn;
  auto fresh = FreshHello();
  if (!fresh.ok()) return fresh.error();
  Welcome(*fresh);
  if (!fresh->error.empty()) return Unavailable(fresh->error);
  suite->conn = fresh->conn;
  return suite->conn;
}

// ---- Effects --------------------------------------------------------------------------------

enum class Effect { kNone, kNotApplied, kApplied };

std::string ChangedAt(const std::string& uid) {
  auto v = suite->slapd->ReadAttribute(SlapdServer::user_dn(uid), "pwdChangedTime");
  return v.ok() && !v->empty() ? v->front() : "";
}

Status Bind(const User& u, const std::string& password) {
  return TryUserBind(suite->slapd->ldaps_url(), suite->slapd->ca_file(),
                     SlapdServer::user_dn(u.uid), password);
}

// Nothing was accepted, queued or written for `b`.
void ExpectNotApplied(const Built& b) {
  const json record = suite->agent->QueueRecord(b.jti);
  EXPECT_TRUE(record.is_null()) << "the agent queued request " << b.jti << ": " << record.dump();
  if (!record.is_null()) {  // let a wrongly queued request land, to report what it did
    (void)WaitUntil([&] { return Bind(b.user, b.new_password); }, 3s);
  }
  EXPECT_TRUE(Bind(b.user, b.user.password).ok())
      << "the password of " << b.user.uid << " was changed";
  EXPECT_EQ(ChangedAt(b.user.uid), b.user.changed_at) << b.user.uid << ": pwdChangedTime moved";
}

void ExpectApplied(const Built& b) {
  EXPECT_FALSE(suite->agent->QueueRecord(b.jti).is_null()) << "not in the queue: " << b.jti;
  EXPECT_TRUE(WaitUntil([&] { return Bind(b.user, b.new_password); }, 5s).ok())
      << b.user.uid << " cannot log on with the new password";
}

// ---- Rows -----------------------------------------------------------------------------------

struct Row {
  const char* name;     // the gtest name
  const char* section;  // docs/protocol.md section and rule
  // Frame rows: what the peer sends, the transcript the agent must produce, the effect on
  // every request the row built. `before_welcome` sends them in place of welcome.
  std::function<Frames(Ctx&)> send;
  const char* expect = "";
  Effect effect = Effect::kNone;
  bool before_welcome = false;
  // Scripted rows, for rules that are about time or several connections.
  std::function<void()> script;
};

void PrintTo(const Row& row, std::ostream* os) { *os << row.section << ": " << row.name; }

// Sends an envelope that fails a cheap check and writes nothing; true when the agent answers
// it as it must: the connection is established and works.
bool Probe(PeerConnection& conn, Ctx& ctx) {
  (void)conn.SendText(RequestFrame(ctx.ExpiredEnvelope()));
  std::optional<PeerFrame> probe = conn.ReadFrame(kAnswerWait);
  return probe && Describe(*probe, {}).rfind("rejected(expired", 0) == 0;
}

// Reads what the agent answers to a row, up to its close or, for an open connection, up to
// the expected number of frames plus a short quiet period, and then probes the connection.
std::string Answer(PeerConnection& conn, Ctx& ctx, std::string_view expect) {
  std::vector<PeerFrame> frames;
  std::vector<std::string> parts;
  const bool closes = expect.find("close(") != std::string_view::npos;
  std::optional<int> close;
  if (closes) {
    close = conn.ExpectClose(kAnswerWait, &frames);
  } else {
    const std::size_t want = CountFrames(expect);
    while (frames.size() < want) {
      std::optional<PeerFrame> f = conn.ReadFrame(kAnswerWait + 3s);
      if (!f) break;
      if (f->kind == PeerFrame::Kind::kClose) {
        close = f->close_code;
        break;
      }
      frames.push_back(std::move(*f));
    }
    if (!close) close = conn.ExpectClose(300ms, &frames);
  }
  AckResults(conn, frames);
  for (const PeerFrame& f : frames) parts.push_back(Describe(f, ctx.ids));
  if (close) {
    parts.push_back("close(" + std::to_string(*close) + ")");
    suite->conn.reset();
    return Join(parts);
  }
  if (closes) {  // the agent should have closed; do not reuse a connection in doubt
    parts.push_back("open");
    suite->conn.reset();
    return Join(parts);
  }
  const bool answered = Probe(conn, ctx);
  parts.push_back(answered ? "open" : "unresponsive");
  if (!answered) suite->conn.reset();
  return Join(parts);
}

void RunFrameRow(const Row& row) {
  Ctx ctx;
  std::shared_ptr<PeerConnection> conn;
  if (row.before_welcome) {
    auto fresh = FreshHello();
    ASSERT_TRUE(fresh.ok()) << fresh.error().ToString();
    conn = fresh->conn;
  } else {
    auto open = OpenSession();
    ASSERT_TRUE(open.ok()) << open.error().ToString();
    conn = *open;
  }
  for (const Out& out : row.send(ctx)) {
    const Status sent = out.raw      ? conn->SendRawBytes(out.bytes)
                        : out.binary ? conn->SendBinary(out.bytes)
                                     : conn->SendText(out.bytes);
    ASSERT_TRUE(sent.ok()) << sent.ToString();
  }
  const std::string got = Answer(*conn, ctx, row.expect);
  if (row.before_welcome) suite->conn.reset();  // never welcomed: not reusable
  EXPECT_EQ(Canonical(got), Canonical(row.expect)) << row.section << "\nthe agent: " << got;
  for (const Built& b : ctx.built) {
    if (row.effect == Effect::kNotApplied) ExpectNotApplied(b);
    if (row.effect == Effect::kApplied) ExpectApplied(b);
  }
}

// Frame helpers for the table.
Frames One(std::string text) { return {Text(std::move(text))}; }

std::string WithDuplicateTenant(Ordered claims) {
  const std::string text = claims.dump();
  return "{\"tenant\":\"other-tenant\"," + text.substr(1);
}

// A key set signed by `key` under `kid` (trusted or not) announcing only a fresh key.
std::string KeySetFrame(const std::string& tenant, std::int64_t iat,
                        const protocol::EcPrivateKey& key, const std::string& kid) {
  auto next = protocol::EcPrivateKey::Generate();
  EXPECT_TRUE(next.ok());
  auto jws = protocol::SignKeySet(protocol::Jwks{{next->PublicJwk("sig", "ES256")}}, tenant,
                                  WallTime(std::chrono::seconds(iat)), key, kid);
  EXPECT_TRUE(jws.ok());
  return R"({"type":"keyset","v":1,"jwks_jws":")" + (jws.ok() ? *jws : "") + R"("})";
}

// ---- Scripted rows --------------------------------------------------------------------------

// §3: hello comes first, with exactly the documented fields, and nothing else before welcome.
void HelloFirstWithDocumentedFields() {
  auto fresh = FreshHello();
  ASSERT_TRUE(fresh.ok()) << fresh.error().ToString();
  const json& h = fresh->hello;
  std::vector<std::string> keys;
  for (const auto& [k, v] : h.items()) keys.push_back(k);
  std::sort(keys.begin(), keys.end());
  EXPECT_EQ(keys, (std::vector<std::string>{"agent_id", "credits", "type", "unacked_results", "v",
                                            "version"}));
  EXPECT_EQ(h.value("v", 0), 1);
  EXPECT_EQ(h.value("agent_id", ""), kAgentId);
  ASSERT_TRUE(h["credits"].is_number_integer());
  EXPECT_EQ(h["credits"].get<int>(), kCredits);
  ASSERT_TRUE(h["version"].is_string());
  const std::string version = h["version"];
  EXPECT_TRUE(!version.empty() && version.size() <= 64);
  EXPECT_TRUE(h["unacked_results"].is_array());
  EXPECT_EQ(fresh->conn->offered_subprotocols(), "wbagent.v1");
  std::optional<PeerFrame> early = fresh->conn->ReadFrame(700ms);
  EXPECT_FALSE(early) << "the agent sent something before welcome: " << early->payload;
  EXPECT_EQ(fresh->conn->background_frames(), 0)
      << "an audit_head before welcome: " << fresh->conn->last_background_frame();
  Welcome(*fresh);
  ASSERT_TRUE(fresh->error.empty()) << fresh->error;
  suite->conn = fresh->conn;
}

// §3/§7: after welcome the agent re-sends every result the cloud did not acknowledge.
void ResendsUnacknowledgedResultsAfterWelcome() {
  auto open = OpenSession();
  ASSERT_TRUE(open.ok()) << open.error().ToString();
  Ctx ctx;
  const Built& b = ctx.Reset();
  ASSERT_TRUE((*open)->SendText(RequestFrame(b.envelope)).ok());
  std::vector<std::string> got;
  for (int i = 0; i < 2; ++i) {
    std::optional<PeerFrame> f = (*open)->ReadFrame(5s);
    if (f) got.push_back(Describe(*f, ctx.ids));
  }
  ASSERT_EQ(Join(got), "accepted(id) result(succeeded,id)");
  ASSERT_TRUE((*open)->Close(1000).ok());  // no result_ack
  suite->conn.reset();
  auto fresh = FreshHello();
  ASSERT_TRUE(fresh.ok()) << fresh.error().ToString();
  const auto unacked = fresh->hello.value("unacked_results", std::vector<std::string>{});
  EXPECT_NE(std::find(unacked.begin(), unacked.end(), b.jti), unacked.end()) << fresh->hello.dump();
  Welcome(*fresh);  // reads and acknowledges every re-sent result
  EXPECT_TRUE(fresh->error.empty()) << fresh->error;
  EXPECT_NE(std::find(fresh->resent.begin(), fresh->resent.end(), b.jti), fresh->resent.end())
      << "the result was not re-sent after welcome";
  suite->conn = fresh->conn;
}

// §7: accepted only after the durable commit: at `accepted` the queue already knows it.
void AcceptedOnlyAfterDurableCommit() {
  auto open = OpenSession();
  ASSERT_TRUE(open.ok()) << open.error().ToString();
  Ctx ctx;
  const Built& b = ctx.Reset();
  ASSERT_TRUE((*open)->SendText(RequestFrame(b.envelope)).ok());
  std::optional<PeerFrame> f = (*open)->ReadFrame(5s);
  ASSERT_TRUE(f);
  ASSERT_EQ(Describe(*f, ctx.ids), "accepted(id)");
  EXPECT_FALSE(suite->agent->QueueRecord(b.jti).is_null()) << "accepted, but not in the queue";
  EXPECT_EQ(Answer(**open, ctx, "result(succeeded,id) open"), "result(succeeded,id) open");
  ExpectApplied(b);
}

// §7: the same envelope again, pending and final, is answered and never applied twice.
void RedeliveryIsNeverAppliedTwice() {
  auto open = OpenSession();
  ASSERT_TRUE(open.ok()) << open.error().ToString();
  Ctx ctx;
  const Built& b = ctx.Reset();
  ASSERT_TRUE((*open)->SendText(RequestFrame(b.envelope)).ok());
  ASSERT_TRUE((*open)->SendText(RequestFrame(b.envelope)).ok());  // while pending
  std::vector<PeerFrame> frames;
  while (frames.size() < 3) {
    std::optional<PeerFrame> f = (*open)->ReadFrame(5s);
    if (!f || f->kind != PeerFrame::Kind::kText) break;
    frames.push_back(std::move(*f));
  }
  std::vector<std::string> got;
  for (const auto& f : frames) got.push_back(Describe(f, ctx.ids));
  // Either answer to the redelivery is right: accepted while pending, or the result.
  EXPECT_TRUE(Join(got) == "accepted(id) accepted(id) result(succeeded,id)" ||
              Join(got) == "accepted(id) result(succeeded,id) result(succeeded,id)")
      << Join(got);
  AckResults(**open, frames);
  ExpectApplied(b);
  const std::string changed = ChangedAt(b.user.uid);
  ASSERT_TRUE((*open)->SendText(RequestFrame(b.envelope)).ok());  // after the result
  std::optional<PeerFrame> again = (*open)->ReadFrame(5s);
  ASSERT_TRUE(again);
  const std::string answer = Describe(*again, ctx.ids);
  EXPECT_TRUE(answer == "result(succeeded,id)" || answer == "accepted(id)") << answer;
  AckResults(**open, {*again});
  EXPECT_EQ(ChangedAt(b.user.uid), changed) << "written a second time";
  auto history = suite->slapd->ReadAttribute(SlapdServer::user_dn(b.user.uid), "pwdHistory");
  ASSERT_TRUE(history.ok());
  EXPECT_EQ(history->size(), 1u) << "the password was set more than once";
}

// §8 (R9): a request beyond the announced credits is refused queue_full, not applied, and the
// agent then reports protocol_violation and closes 1008. Writes are held in slapd so that the
// first requests stay in flight (no result) while the last one arrives.
void RequestBeyondCreditsIsRefused() {
  auto open = OpenSession();
  ASSERT_TRUE(open.ok()) << open.error().ToString();
  Ctx ctx;
  for (int i = 0; i <= kCredits; ++i) ctx.Reset();  // users first: creating one is a write
  auto hold = suite->slapd->HoldWrites();
  ASSERT_TRUE(hold.ok()) << hold.error().ToString();
  for (const Built& b : ctx.built) {
    ASSERT_TRUE((*open)->SendText(RequestFrame(b.envelope)).ok());
  }
  std::string expect;
  for (int i = 0; i < kCredits; ++i) {
    expect += "accepted(" + std::string(i == 0 ? "id" : "id" + std::to_string(i + 1)) + ") ";
  }
  expect += "rejected(queue_full,id" + std::to_string(kCredits + 1) +
            ") error(protocol_violation) close(1008)";
  std::vector<PeerFrame> frames;
  const std::optional<int> close = (*open)->ExpectClose(3s, &frames);
  (*hold)->Release();
  std::vector<std::string> parts;
  for (const auto& f : frames) parts.push_back(Describe(f, ctx.ids));
  parts.push_back(close ? "close(" + std::to_string(*close) + ")" : "open");
  AckResults(**open, frames);
  suite->conn.reset();
  EXPECT_EQ(Join(parts), expect);
  ExpectNotApplied(ctx.built.back());
}

// The claims (JWS payload) of an envelope, as signed.
std::string PayloadOf(const std::string& envelope) {
  const std::size_t first = envelope.find('.');
  const std::size_t second = envelope.find('.', first + 1);
  return protocol::Base64UrlDecode(envelope.substr(first + 1, second - first - 1)).value_or("");
}

// Sends `frame` `count` times. The agent ends the connection once the flood limit is crossed,
// which may be while the later frames are still being written: a send that fails after
// `at_least` frames went out meets that close, and is no failure of the test.
::testing::AssertionResult SendFlood(PeerConnection& c, const std::string& frame, int count,
                                     int at_least) {
  for (int i = 0; i < count; ++i) {
    const Status sent = c.SendText(frame);
    if (sent.ok()) continue;
    if (i >= at_least) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "frame " << i + 1 << ": " << sent.ToString();
  }
  return ::testing::AssertionSuccess();
}

// §6 and §15: a flood of forged envelopes is answered one by one and then cut off: more than
// 32 invalid envelopes within a minute end the connection with 1008 (no error). Audit
// (audit.md): the forgeries all name a real request's id, yet none is filed under it; the
// first 20 are recorded one by one and the rest as one summary, counted exactly.
void FloodOfForgedEnvelopesEndsTheConnection() {
  // A fresh process: the limits count per connection and the audit summary per minute.
  ASSERT_TRUE(RestartAgent().ok());
  const std::size_t summaries_before =
      suite->agent->AuditQuery({"--outcome", "rejections_summarized"}).size();
  auto open = OpenSession();
  ASSERT_TRUE(open.ok()) << open.error().ToString();
  Ctx ctx;
  const Built& real = ctx.Reset();  // never sent: the forgeries claim its id
  auto forger = protocol::EcPrivateKey::Generate();
  ASSERT_TRUE(forger.ok());
  const std::string forged = ctx.Signed(PayloadOf(real.envelope), &*forger);
  constexpr int kSent = 40;
  constexpr int kAnswered = 33;  // the 33rd crosses the limit of 32
  ASSERT_TRUE(SendFlood(**open, RequestFrame(forged), kSent, kAnswered));
  std::vector<PeerFrame> frames;
  const std::optional<int> close = (*open)->ExpectClose(10s, &frames);
  suite->conn.reset();
  EXPECT_EQ(close.value_or(-1), 1008);
  int rejected = 0;
  for (const PeerFrame& f : frames) {
    EXPECT_EQ(Describe(f, ctx.ids), "rejected(bad_signature,id)");
    ++rejected;
  }
  EXPECT_EQ(rejected, kAnswered);
  ExpectNotApplied(real);
  EXPECT_TRUE(suite->agent->AuditQuery({"--request", real.jti}).empty())
      << "a forged frame was filed under the id it claimed";
  std::vector<json> summaries;
  EXPECT_TRUE(WaitUntil(
                  [&] {
                    summaries = suite->agent->AuditQuery({"--outcome", "rejections_summarized"});
                    return summaries.size() > summaries_before ? Status::Ok()
                                                               : NotFound("no summary yet");
                  },
                  5s)
                  .ok());
  ASSERT_EQ(summaries.size(), summaries_before + 1);
  EXPECT_EQ(summaries.back().value("detail", "").rfind("13 more rejections", 0), 0u)
      << summaries.back();
  int one_by_one = 0;
  for (const json& r : suite->agent->AuditQuery({"--outcome", "bad_signature"})) {
    if (r.value("detail", "").find(real.jti + ", not authenticated") == std::string::npos) {
      continue;
    }
    ++one_by_one;
    EXPECT_FALSE(r.contains("request_id")) << r;
  }
  EXPECT_EQ(one_by_one, 20);
}

// §4 and §6: each `error` from the cloud is logged and counts towards the flood limit, so a
// cloud that repeats errors ends its connection (1008, nothing answered) after 33 log lines.
void FloodOfCloudErrorsEndsTheConnection() {
  ASSERT_TRUE(RestartAgent().ok());  // the limit counts per connection
  auto open = OpenSession();
  ASSERT_TRUE(open.ok()) << open.error().ToString();
  const std::string marker = "flood-" + std::to_string(std::random_device{}());  // this run's
  const std::string frame =
      R"({"type":"error","v":1,"code":"internal","message":")" + marker + R"("})";
  constexpr int kSent = 40;
  ASSERT_TRUE(SendFlood(**open, frame, kSent, /*at_least=*/33));
  std::vector<PeerFrame> frames;
  const std::optional<int> close = (*open)->ExpectClose(10s, &frames);
  suite->conn.reset();
  EXPECT_EQ(close.value_or(-1), 1008);
  EXPECT_TRUE(frames.empty()) << "an error from the cloud was answered";
  const std::string log = suite->agent->Log();
  std::size_t logged = 0;
  for (std::size_t at = log.find(marker); at != std::string::npos;
       at = log.find(marker, at + marker.size())) {
    ++logged;
  }
  EXPECT_EQ(logged, 33u) << "each error judged is logged once, and none after the 33rd";
}

// §6 and §13: a refused key set counts towards the same flood limit as an invalid envelope:
// each is answered `error` bad_keyset until the 33rd, then the connection ends with 1008, and
// the keys in use are unchanged (a request signed by them is still applied afterwards).
void FloodOfRefusedKeySetsEndsTheConnection() {
  ASSERT_TRUE(RestartAgent().ok());  // the limit counts per connection
  auto open = OpenSession();
  ASSERT_TRUE(open.ok()) << open.error().ToString();
  auto stranger = protocol::EcPrivateKey::Generate();
  ASSERT_TRUE(stranger.ok());
  const std::string refused = KeySetFrame(kTenant, NowSeconds(), *stranger, "stranger");
  constexpr int kSent = 40;
  constexpr int kAnswered = 33;  // the 33rd crosses the limit of 32
  ASSERT_TRUE(SendFlood(**open, refused, kSent, kAnswered));
  std::vector<PeerFrame> frames;
  const std::optional<int> close = (*open)->ExpectClose(10s, &frames);
  suite->conn.reset();
  EXPECT_EQ(close.value_or(-1), 1008);
  int answered = 0;
  for (const PeerFrame& f : frames) {
    EXPECT_EQ(Describe(f, {}), "error(bad_keyset)");
    ++answered;
  }
  EXPECT_EQ(answered, kAnswered);

  auto again = OpenSession();
  ASSERT_TRUE(again.ok()) << again.error().ToString();
  Ctx ctx;
  const Built& reset = ctx.Reset();
  ASSERT_TRUE((*again)->SendText(RequestFrame(reset.envelope)).ok());
  std::vector<PeerFrame> answers;
  while (answers.size() < 2) {
    std::optional<PeerFrame> f = (*again)->ReadFrame(5s);
    ASSERT_TRUE(f) << "no answer to a request signed by the keys in use";
    answers.push_back(std::move(*f));
  }
  EXPECT_EQ(Describe(answers[0], ctx.ids), "accepted(id)");
  EXPECT_EQ(Describe(answers[1], ctx.ids), "result(succeeded,id)");
  AckResults(**again, answers);
  ExpectApplied(reset);
}

// §3 (R10): a welcome for another tenant: close 1008 without an error, then a reconnect.
void WelcomeForAnotherTenant() {
  auto fresh = FreshHello();
  ASSERT_TRUE(fresh.ok()) << fresh.error().ToString();
  ASSERT_TRUE(fresh->conn->SendText(WelcomeFrame("tenant-someone-else")).ok());
  std::vector<PeerFrame> frames;
  const std::optional<int> close = fresh->conn->ExpectClose(kAnswerWait, &frames);
  std::vector<std::string> parts;
  for (const auto& f : frames) parts.push_back(Describe(f, {}));
  parts.push_back(close ? "close(" + std::to_string(*close) + ")" : "open");
  EXPECT_EQ(Join(parts), "close(1008)");
  EXPECT_TRUE(suite->peer->Accept(10s)) << "the agent did not reconnect";
  suite->conn.reset();
}

// The audit key the agent under test made at its first start (hex in <state>/audit.key).
std::string AgentAuditKey() {
  std::string hex = ReadFileOrEmpty(suite->agent->state_dir() / "audit.key");
  while (!hex.empty() && (hex.back() == '\n' || hex.back() == '\r')) hex.pop_back();
  std::string key;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    key.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  return key;
}

// docs/protocol.md §4 audit_head: HMAC-SHA-256 of {"witness":1,"seq":N,"hash":"H"}.
std::string HeadHmac(const std::string& key, std::uint64_t seq, const std::string& hash) {
  return HmacSha256Hex(
      key, R"({"witness":1,"seq":)" + std::to_string(seq) + R"(,"hash":")" + hash + R"("})");
}

std::string WelcomeWithHead(const json& head) {
  return R"({"type":"welcome","v":1,"tenant":")" + std::string(kTenant) + R"(","server_time":)" +
         std::to_string(NowSeconds()) + R"(,"audit_head":)" + head.dump() + "}";
}

// What the agent answers a welcome holding `head`: its frames, then close(N) or open.
std::string AnswerToWelcomeWithHead(Greeting& g, const json& head) {
  EXPECT_TRUE(g.conn->SendText(WelcomeWithHead(head)).ok());
  std::vector<PeerFrame> frames;
  const std::optional<int> close = g.conn->ExpectClose(kAnswerWait, &frames);
  std::vector<std::string> parts;
  for (const auto& f : frames) parts.push_back(Describe(f, {}));
  parts.push_back(close ? "close(" + std::to_string(*close) + ")" : "open");
  return Join(parts);
}

// The agent's own durable head, made as docs/protocol.md §4 says from its checkpoint (the
// record the checkpoint names is on stable storage) and its audit key. The checkpoint is the
// slot with the higher seq (docs/audit.md, "Verify it yourself").
json OwnHead() {
  const std::string text = ReadFileOrEmpty(suite->agent->state_dir() / "audit.checkpoint");
  json newest = json::object();
  EXPECT_EQ(text.size(), 8192u) << "two slots of 4096 bytes";
  if (text.size() != 8192) return json::object();
  for (const std::size_t slot_start : {std::size_t{0}, std::size_t{4096}}) {
    const std::string line = text.substr(slot_start, text.find('\n', slot_start) - slot_start);
    const json slot = json::parse(line, nullptr, false);
    EXPECT_TRUE(slot.is_object()) << text;
    if (!slot.is_object()) return json::object();
    if (slot.value("seq", std::uint64_t{0}) >= newest.value("seq", std::uint64_t{0})) newest = slot;
  }
  const std::uint64_t seq = newest.value("seq", std::uint64_t{0});
  const std::string hash = newest.value("hash", "");
  return {{"seq", seq}, {"hash", hash}, {"hmac", HeadHmac(AgentAuditKey(), seq, hash)}};
}

// §4 welcome.audit_head: a head the agent's trail holds (its own) lets it go on.
void WelcomeWithTheAgentsOwnHeadGoesOn() {
  auto fresh = FreshHello();
  ASSERT_TRUE(fresh.ok()) << fresh.error().ToString();
  EXPECT_EQ(AnswerToWelcomeWithHead(*fresh, OwnHead()), "open");
  Ctx ctx;
  EXPECT_TRUE(Probe(*fresh->conn, ctx)) << "the agent did not take requests after welcome";
  suite->conn = fresh->conn;
}

// §4 welcome.audit_head: a head beyond the agent's trail (records deleted or rolled back),
// properly MAC'd: error witness_mismatch, close 1008, and no request is taken on the next
// connection that brings the same head either.
void WelcomeWithAHeadTheTrailDoesNotHold() {
  auto fresh = FreshHello();
  ASSERT_TRUE(fresh.ok()) << fresh.error().ToString();
  const json own = OwnHead();
  const std::uint64_t seq = own["seq"].get<std::uint64_t>() + 1000;
  const std::string hash(64, 'a');
  const json ahead = {{"seq", seq}, {"hash", hash}, {"hmac", HeadHmac(AgentAuditKey(), seq, hash)}};
  EXPECT_EQ(AnswerToWelcomeWithHead(*fresh, ahead), "error(witness_mismatch) close(1008)");
  std::shared_ptr<PeerConnection> again = suite->peer->Accept(15s);
  ASSERT_TRUE(again) << "the agent did not try again";
  Greeting g = ReadHello(again);
  ASSERT_TRUE(g.error.empty()) << g.error;
  EXPECT_EQ(AnswerToWelcomeWithHead(g, ahead), "error(witness_mismatch) close(1008)");
  const auto refused = suite->agent->AuditQuery({"--outcome", "missing"});
  EXPECT_EQ(refused.size(), 1u) << "one witness_refused record per witnessed head";
  suite->conn.reset();
}

// §4 welcome.audit_head: a head whose HMAC is not the agent's: error witness_mismatch, close.
void WelcomeWithAForgedHead() {
  auto fresh = FreshHello();
  ASSERT_TRUE(fresh.ok()) << fresh.error().ToString();
  json forged = OwnHead();
  forged["hmac"] = std::string(64, 'b');
  EXPECT_EQ(AnswerToWelcomeWithHead(*fresh, forged), "error(witness_mismatch) close(1008)");
  suite->conn.reset();
}

std::size_t Count(const std::vector<json>& frames) {
  std::lock_guard lock(suite->background_mu);
  return frames.size();
}

json Last(const std::vector<json>& frames) {
  std::lock_guard lock(suite->background_mu);
  return frames.empty() ? json() : frames.back();
}

// Reads frames until the background filter has taken more than `seen` of `frames`, or
// `within` passes.
void ReadUntilMoreThan(PeerConnection& conn, const std::vector<json>& frames, std::size_t seen,
                       std::chrono::milliseconds within) {
  const auto deadline = std::chrono::steady_clock::now() + within;
  while (Count(frames) <= seen && std::chrono::steady_clock::now() < deadline) {
    (void)conn.ReadFrame(100ms);
  }
}

// §4 audit_head: right after welcome, and again within seconds once its durable head moves;
// the head is the agent's own (its HMAC verifies under the agent's audit key).
void SendsItsAuditHeadWhenItMoves() {
  auto conn = OpenSession();
  ASSERT_TRUE(conn.ok()) << conn.error().ToString();
  ReadUntilMoreThan(**conn, suite->heads, 0, 5s);
  ASSERT_GT(Count(suite->heads), 0u) << "no audit_head after welcome";
  const json first = Last(suite->heads);
  const std::size_t before = Count(suite->heads);
  Ctx ctx;
  ASSERT_TRUE((*conn)->SendText(RequestFrame(ctx.Reset().envelope)).ok());
  const std::string got = Answer(**conn, ctx, "accepted(id) result(succeeded,id) open");
  EXPECT_EQ(got, "accepted(id) result(succeeded,id) open");
  ReadUntilMoreThan(**conn, suite->heads, before, 15s);
  ASSERT_GT(Count(suite->heads), before) << "no audit_head after the request";
  const json moved = Last(suite->heads);
  EXPECT_GT(moved["seq"].get<std::uint64_t>(), first["seq"].get<std::uint64_t>());
  EXPECT_EQ(moved.value("hmac", ""),
            HeadHmac(AgentAuditKey(), moved["seq"].get<std::uint64_t>(), moved.value("hash", "")));
}

// §4 policy_summary: right after welcome, with the documented fields (the filter takes only
// such a summary out of the stream) and the agent's one directory.
void SendsItsPolicySummaryAfterWelcome() {
  suite->conn.reset();  // a new session: a new welcome
  const std::size_t earlier = Count(suite->summaries);
  auto conn = OpenSession();
  ASSERT_TRUE(conn.ok()) << conn.error().ToString();
  ReadUntilMoreThan(**conn, suite->summaries, earlier, 10s);
  ASSERT_GT(Count(suite->summaries), earlier) << "no documented policy_summary after welcome";
  const json summary = Last(suite->summaries);
  ASSERT_EQ(summary["directories"].size(), 1u) << summary.dump();
  EXPECT_TRUE(summary["directories"][0].contains("directory"))
      << "the agent could not read slapd's policy: " << summary.dump();
}

// The seconds from each of `sessions` normal closes to the agent's next connection, starting
// from a fresh agent's welcomed connection; `in_session` runs on each connection before it is
// closed. Fewer gaps when the agent was not back within `wait`, or a greeting failed (a test
// failure is then recorded). The last connection is left in suite->conn.
std::vector<double> ReconnectGaps(int sessions, milliseconds wait,
                                  const std::function<void(PeerConnection&)>& in_session) {
  std::vector<double> gaps;
  auto fresh = FreshHello();
  if (!fresh.ok()) {
    ADD_FAILURE() << fresh.error().ToString();
    return gaps;
  }
  std::shared_ptr<PeerConnection> conn = fresh->conn;
  Welcome(*fresh);
  if (!fresh->error.empty()) {
    ADD_FAILURE() << fresh->error;
    return gaps;
  }
  for (int i = 0; i < sessions; ++i) {
    in_session(*conn);
    EXPECT_TRUE(conn->Close(1000).ok());
    const auto closed = std::chrono::steady_clock::now();
    conn = suite->peer->Accept(wait);
    if (!conn) break;
    gaps.push_back(std::chrono::duration<double>(conn->accepted_at() - closed).count());
    Greeting g = Greet(conn);
    if (!g.error.empty()) {
      ADD_FAILURE() << g.error;
      break;
    }
  }
  suite->conn = conn;
  return gaps;
}

std::string GapsText(const std::vector<double>& gaps) {
  std::string text;
  for (double g : gaps) text += std::to_string(g) + " s ";
  return text;
}

// The initial delay is 1 s with jitter; a growing backoff reaches 2-4 s by the third gap.
constexpr milliseconds kPromptReconnect{2500};

// §9 (R11): the backoff starts again after a session that reached welcome: a cloud that
// welcomes and then closes normally sees the agent back promptly every time.
void BackoffResetsAfterWelcome() {
  const std::vector<double> gaps = ReconnectGaps(5, kPromptReconnect, [](PeerConnection&) {});
  ASSERT_EQ(gaps.size(), 5u) << "no reconnect within 2.5 s after a normal close; gaps: "
                             << GapsText(gaps);
  EXPECT_LT(gaps.back(), gaps.front() + 1.5) << "gaps: " << GapsText(gaps);
}

// §6 and §9: a session in which an envelope failed its checks does not reset the backoff, so
// a cloud that forges fewer than the flood limit, closes and comes back waits longer each
// time (1 s, 2 s, 4 s, 8 s with jitter), where a clean session would be back within a second.
void BackoffIsNotResetAfterASessionWithFailedChecks() {
  Ctx ctx;
  const Built& real = ctx.Reset();  // never sent: the forgeries claim its id
  auto forger = protocol::EcPrivateKey::Generate();
  ASSERT_TRUE(forger.ok());
  const std::string forged = ctx.Signed(PayloadOf(real.envelope), &*forger);
  const std::vector<double> gaps = ReconnectGaps(4, 15s, [&](PeerConnection& conn) {
    EXPECT_TRUE(conn.SendText(RequestFrame(forged)).ok());
    std::optional<PeerFrame> answer = conn.ReadFrame(5s);
    ASSERT_TRUE(answer) << "no answer to a forged envelope";
    EXPECT_EQ(Describe(*answer, ctx.ids), "rejected(bad_signature,id)");
  });
  ASSERT_EQ(gaps.size(), 4u) << "no reconnect within 15 s; gaps: " << GapsText(gaps);
  // Delays with jitter: [0.5, 1], [1, 2], [2, 4], [4, 8] s; reset each time, all would be ~1 s.
  EXPECT_GE(gaps.back(), 3.5) << "gaps: " << GapsText(gaps);
  EXPECT_GT(gaps.back(), gaps.front() + 2.5) << "gaps: " << GapsText(gaps);
  ExpectNotApplied(real);
}

// §4 and §9: `renewal_refused` answers the agent's own `renew` as documented: it does not keep
// the next connection from resetting the backoff (a cloud refusing renewal while it restarts
// its servers must not slow every reconnection), where a forged envelope would.
void BackoffResetsAfterASessionWhoseOnlyErrorRefusedRenewal() {
  const std::string refused =
      R"({"type":"error","v":1,"code":"renewal_refused","message":"not now"})";
  const std::vector<double> gaps = ReconnectGaps(
      4, kPromptReconnect, [&](PeerConnection& conn) { EXPECT_TRUE(conn.SendText(refused).ok()); });
  ASSERT_EQ(gaps.size(), 4u) << "no reconnect within 2.5 s; gaps: " << GapsText(gaps);
  EXPECT_LT(gaps.back(), gaps.front() + 1.5) << "gaps: " << GapsText(gaps);
}

// §9: the agent pings; a peer that answers no pong is declared dead and the agent reconnects.
void PingsAndDeclaresSilentPeerDead() {
  auto open = OpenSession();
  ASSERT_TRUE(open.ok()) << open.error().ToString();
  std::shared_ptr<PeerConnection> conn = *open;
  const int before = conn->pings();
  EXPECT_FALSE(conn->ReadFrame(milliseconds(2500 * kHeartbeatSeconds)));
  EXPECT_GT(conn->pings(), before) << "no ping within 2.5 heartbeat intervals";
  conn->StopReading();
  const auto muted = std::chrono::steady_clock::now();
  suite->conn.reset();
  std::shared_ptr<PeerConnection> next = suite->peer->Accept(10s);
  ASSERT_TRUE(next) << "the agent did not give up on a peer that answers no pong";
  const double after = std::chrono::duration<double>(next->accepted_at() - muted).count();
  EXPECT_GE(after, 1.0 * kHeartbeatSeconds) << "reconnected before a pong could be missed";
  Greeting g = Greet(next);
  ASSERT_TRUE(g.error.empty()) << g.error;
  suite->conn = next;
}

// §2: an agent whose offered subprotocol is not selected closes without sending hello.
void ClosesWhenSubprotocolNotSelected() {
  suite->peer->SelectSubprotocol(false);
  Status restarted = RestartAgent();
  std::shared_ptr<PeerConnection> conn = suite->peer->Accept(kConnectWait);
  suite->peer->SelectSubprotocol(true);
  ASSERT_TRUE(restarted.ok()) << restarted.ToString();
  ASSERT_TRUE(conn) << "the agent did not connect";
  std::vector<PeerFrame> frames;
  const std::optional<int> close = conn->ExpectClose(3s, &frames);
  EXPECT_TRUE(close.has_value()) << "the agent kept the connection";
  EXPECT_TRUE(frames.empty()) << "the agent sent " << frames.front().payload;
  suite->conn.reset();
}

// §2: orderly shutdown (SIGTERM) closes with 1000, and the process exits 0.
void ShutdownClosesNormally() {
  auto open = OpenSession();
  ASSERT_TRUE(open.ok()) << open.error().ToString();
  Ctx ctx;
  ASSERT_TRUE(Probe(**open, ctx)) << "the session is not established";  // welcome processed
  suite->agent->Signal(SIGTERM);
  std::vector<PeerFrame> frames;
  const std::optional<int> close = (*open)->ExpectClose(10s, &frames);
  suite->conn.reset();
  EXPECT_EQ(close.value_or(-1), 1000);
  auto exit_code = suite->agent->Wait(10s);
  ASSERT_TRUE(exit_code.ok()) << exit_code.error().ToString();
  EXPECT_EQ(*exit_code, 0);
}

// ---- The table ------------------------------------------------------------------------------

std::vector<Row> Rows() {
  return {
      // §2 transport
      {.name = "HelloFirstWithDocumentedFields",
       .section = "§3 hello first, documented fields, nothing before welcome; §2 offers wbagent.v1",
       .script = HelloFirstWithDocumentedFields},
      {.name = "BinaryFrameWithValidRequest",
       .section = "§2 binary frame (R1): a valid request in a binary frame",
       .send = [](Ctx& c) { return Frames{Binary(RequestFrame(c.Reset().envelope))}; },
       .expect = "error(bad_message) close(1003)",
       .effect = Effect::kNotApplied},
      {.name = "BinaryFrameOfGarbage",
       .section = "§2 binary frame (R1): garbage",
       .send = [](Ctx&) { return Frames{Binary(std::string("\x00\xff\x10garbage", 10))}; },
       .expect = "error(bad_message) close(1003)"},
      {.name = "FrameLargerThan64KiB",
       .section = "§2/§10 frame > 65536 bytes (R2)",
       // The header of a 70000-byte text frame and its first bytes only: the header alone says
       // it is too large, and bytes the agent never reads would turn its close into a TCP reset
       // that can overtake the close frame.
       .send =
           [](Ctx&) {
             std::string frame = {'\x81', '\x7f', 0, 0, 0, 0, 0, 0x01, 0x11, 0x70};  // 70000
             frame += R"({"type":"request","v":1,"envelope":")";
             return Frames{{.bytes = frame, .raw = true}};
           },
       .expect = "close(1009)"},
      {.name = "TextFrameNotJson",
       .section = "§2 text frame not one JSON object (R3): not JSON",
       .send = [](Ctx&) { return One("hello, agent"); },
       .expect = "error(bad_message) close(1008)"},
      {.name = "TextFrameJsonArray",
       .section = "§2 text frame not one JSON object (R3): an array holding a valid request",
       .send = [](Ctx& c) { return One("[" + RequestFrame(c.Reset().envelope) + "]"); },
       .expect = "error(bad_message) close(1008)",
       .effect = Effect::kNotApplied},
      {.name = "TextFrameJsonString",
       .section = "§2 text frame not one JSON object (R3): a JSON string",
       .send = [](Ctx&) { return One(R"("request")"); },
       .expect = "error(bad_message) close(1008)"},
      {.name = "ObjectWithoutTypeButAnotherVersion",
       .section = "§2 not one JSON object with a type comes before v (R3/R4)",
       .send = [](Ctx&) { return One(R"({"v":2})"); },
       .expect = "error(bad_message) close(1008)"},
      {.name = "TextFrameTrailingGarbage",
       .section = "§2 text frame not one JSON object (R3): a valid request, then garbage",
       .send = [](Ctx& c) { return One(RequestFrame(c.Reset().envelope) + " x"); },
       .expect = "error(bad_message) close(1008)",
       .effect = Effect::kNotApplied},
      {.name = "TextFrameInvalidUtf8",
       .section = "§2 text frame with invalid UTF-8 (R3): close 1007",
       .send =
           [](Ctx&) {
             return One("{\"type\":\"error\",\"v\":1,\"code\":\"x\",\"message\":\"\xc3\x28\"}");
           },
       .expect = "close(1007)"},
      // §3/§4 versions
      {.name = "ResultAckWithVersion2",
       .section = "§3 v other than 1 (R4): result_ack v 2",
       .send =
           [](Ctx& c) { return One(R"({"type":"result_ack","v":2,"id":")" + c.NewId() + R"("})"); },
       .expect = "error(unsupported_version) close(1002)"},
      {.name = "RequestWithVersion2",
       .section = "§3 v other than 1 (R4): a request with v 2",
       .send =
           [](Ctx& c) {
             return One(R"({"type":"request","v":2,"envelope":")" + c.Reset().envelope + R"("})");
           },
       .expect = "error(unsupported_version) close(1002)",
       .effect = Effect::kNotApplied},
      {.name = "WelcomeWithVersion2",
       .section = "§3 v other than 1 (R4): welcome v 2",
       .send =
           [](Ctx&) {
             return One(R"({"type":"welcome","v":2,"tenant":"tenant-conf","server_time":)" +
                        std::to_string(NowSeconds()) + "}");
           },
       .expect = "error(unsupported_version) close(1002)",
       .before_welcome = true},
      // §4 types the cloud never sends, unknown types
      {.name = "UnknownType",
       .section = "§4 unknown type (R5)",
       .send = [](Ctx&) { return One(R"({"type":"surprise","v":1})"); },
       .expect = "error(bad_message) close(1008)"},
      {.name = "HelloFromTheCloud",
       .section = "§4 a type the cloud never sends (R5): hello",
       .send =
           [](Ctx&) {
             return One(
                 R"({"type":"hello","v":1,"agent_id":"x","version":"1","credits":1,"unacked_results":[]})");
           },
       .expect = "error(bad_message) close(1008)"},
      {.name = "AcceptedFromTheCloud",
       .section = "§4 a type the cloud never sends (R5): accepted",
       .send =
           [](Ctx& c) { return One(R"({"type":"accepted","v":1,"id":")" + c.NewId() + R"("})"); },
       .expect = "error(bad_message) close(1008)"},
      {.name = "RejectedFromTheCloud",
       .section = "§4 a type the cloud never sends (R5): rejected",
       .send =
           [](Ctx&) { return One(R"({"type":"rejected","v":1,"code":"malformed","reason":"x"})"); },
       .expect = "error(bad_message) close(1008)"},
      {.name = "ResultFromTheCloud",
       .section = "§4 a type the cloud never sends (R5): result",
       .send =
           [](Ctx& c) {
             return One(R"({"type":"result","v":1,"id":")" + c.NewId() +
                        R"(","outcome":"succeeded","completed_at":1800000000})");
           },
       .expect = "error(bad_message) close(1008)"},
      {.name = "CreditsFromTheCloud",
       .section = "§4 a type the cloud never sends (R5): credits",
       .send = [](Ctx&) { return One(R"({"type":"credits","v":1,"credits":4})"); },
       .expect = "error(bad_message) close(1008)"},
      {.name = "RenewFromTheCloud",
       .section = "§4 a type the cloud never sends (R5): renew",
       .send = [](Ctx&) { return One(R"({"type":"renew","v":1,"csr":"x"})"); },
       .expect = "error(bad_message) close(1008)"},
      // §4/§6 request schema (R6)
      {.name = "RequestWithoutEnvelope",
       .section = "§4 request fails its schema (R6): no envelope",
       .send = [](Ctx&) { return One(R"({"type":"request","v":1})"); },
       .expect = "rejected(malformed,no id) open"},
      {.name = "RequestWithExtraMember",
       .section = "§4 request fails its schema (R6): an extra member beside a valid envelope",
       .send =
           [](Ctx& c) {
             return One(R"({"type":"request","v":1,"envelope":")" + c.Reset().envelope +
                        R"(","priority":1})");
           },
       .expect = "rejected(malformed,no id) open",
       .effect = Effect::kNotApplied},
      {.name = "RequestEnvelopeNotString",
       .section = "§4 request fails its schema (R6): envelope is a number",
       .send = [](Ctx&) { return One(R"({"type":"request","v":1,"envelope":42})"); },
       .expect = "rejected(malformed,no id) open"},
      {.name = "RequestDeliveryAsString",
       .section = "§4 request fails its schema (R6): delivery is a string",
       .send =
           [](Ctx& c) {
             return One(R"({"type":"request","v":1,"envelope":")" + c.Reset().envelope +
                        R"(","delivery":"2"})");
           },
       .expect = "rejected(malformed,no id) open",
       .effect = Effect::kNotApplied},
      {.name = "EnvelopeTooLarge",
       .section = "§6 #1 envelope > 16384 bytes (R6): too_large",
       .send = [](Ctx&) { return One(RequestFrame(std::string(16385, 'A'))); },
       .expect = "rejected(too_large,no id) open"},
      // §6 envelope checks: rejected with the code, connection open, nothing written (R6)
      {.name = "EnvelopeUnknownKid",
       .section = "§6 #5 unknown kid",
       .send =
           [](Ctx& c) {
             auto other = protocol::EcPrivateKey::Generate();
             Ordered claims = UnlockClaims(c.NewId());
             return One(RequestFrame(c.Signed(claims.dump(), &*other,
                                              protocol::fixtures::RequestHeader("not-pinned"))));
           },
       .expect = "rejected(unknown_kid,id) open"},
      {.name = "EnvelopeBadAlgorithm",
       .section = "§6 #3 alg not ES256",
       .send =
           [](Ctx& c) {
             Ordered claims = UnlockClaims(c.NewId());
             const std::string header = R"({"alg":"ES384","kid":")" + suite->agent->signing_kid() +
                                        R"(","typ":"wbagent-request+jwt"})";
             return One(RequestFrame(c.Signed(claims.dump(), nullptr, header)));
           },
       .expect = "rejected(bad_algorithm,id) open"},
      {.name = "EnvelopeWrongTenant",
       .section = "§6 #8 wrong tenant",
       .send =
           [](Ctx& c) {
             return One(
                 RequestFrame(c.Reset([](auto& cl) { cl.tenant = "tenant-other"; }).envelope));
           },
       .expect = "rejected(wrong_tenant,id) open",
       .effect = Effect::kNotApplied},
      {.name = "EnvelopeWrongAudience",
       .section = "§6 #9 wrong audience",
       .send =
           [](Ctx& c) {
             return One(
                 RequestFrame(c.Reset([](auto& cl) { cl.audience = "agent-other"; }).envelope));
           },
       .expect = "rejected(wrong_audience,id) open",
       .effect = Effect::kNotApplied},
      {.name = "EnvelopeNotYetValid",
       .section = "§6 #10 iat beyond now + skew",
       .send =
           [](Ctx& c) {
             return One(RequestFrame(c.Reset([](auto& cl) {
                                        cl.issued_at += 1h;
                                        cl.expires_at = cl.issued_at + 10min;
                                      }).envelope));
           },
       .expect = "rejected(not_yet_valid,id) open",
       .effect = Effect::kNotApplied},
      {.name = "EnvelopeExpired",
       .section = "§6 #11 expired",
       .send =
           [](Ctx& c) {
             return One(RequestFrame(c.Reset([](auto& cl) {
                                        cl.issued_at -= 1h;
                                        cl.expires_at = cl.issued_at + 10min;
                                      }).envelope));
           },
       .expect = "rejected(expired,id) open",
       .effect = Effect::kNotApplied},
      {.name = "EnvelopeForAnotherAgentKey",
       .section = "§6 #14 JWE for another agent's key",
       .send =
           [](Ctx& c) {
             auto other = protocol::EcPrivateKey::Generate();
             return One(RequestFrame(c.ResetFor(other->PublicJwk("enc", "ECDH-ES")).envelope));
           },
       .expect = "rejected(decrypt_failed,id) open",
       .effect = Effect::kNotApplied},
      // §6/§4 rejected.id (R12)
      {.name = "IdPresentWithDuplicateOtherMember",
       .section = "§4/§6 rejected.id (R12): claims with a duplicate tenant",
       .send =
           [](Ctx& c) {
             return One(RequestFrame(c.Signed(WithDuplicateTenant(UnlockClaims(c.NewId())))));
           },
       .expect = "rejected(malformed,id) open"},
      {.name = "IdPresentWithUnknownMember",
       .section = "§4/§6 rejected.id (R12): claims with an unknown member",
       .send =
           [](Ctx& c) {
             Ordered claims = UnlockClaims(c.NewId());
             claims["priority"] = "high";
             return One(RequestFrame(c.Signed(claims.dump())));
           },
       .expect = "rejected(malformed,id) open"},
      {.name = "IdPresentWithBadSignature",
       .section = "§4/§6 rejected.id (R12): bad signature",
       .send =
           [](Ctx& c) {
             std::string jws = c.Signed(UnlockClaims(c.NewId()).dump());
             const std::size_t mid = jws.rfind('.') + 20;
             jws[mid] = jws[mid] == 'A' ? 'B' : 'A';
             return One(RequestFrame(jws));
           },
       .expect = "rejected(bad_signature,id) open"},
      {.name = "IdAbsentWithUppercaseJti",
       .section = "§4/§6 rejected.id (R12): jti not lowercase",
       .send =
           [](Ctx& c) {
             std::string id = protocol::NewRequestId();
             std::transform(id.begin(), id.end(), id.begin(), ::toupper);
             return One(RequestFrame(c.Signed(UnlockClaims(id).dump())));
           },
       .expect = "rejected(malformed,no id) open"},
      {.name = "IdAbsentWithJtiTwice",
       .section = "§4/§6 rejected.id (R12): jti occurs twice",
       .send =
           [](Ctx& c) {
             const std::string id = c.NewId();
             const std::string text = UnlockClaims(id).dump();
             return One(RequestFrame(c.Signed("{\"jti\":\"" + id + "\"," + text.substr(1))));
           },
       .expect = "rejected(malformed,no id) open"},
      {.name = "IdAbsentWithJtiNotString",
       .section = "§4/§6 rejected.id (R12): jti is a number",
       .send =
           [](Ctx& c) {
             Ordered claims = UnlockClaims("");
             claims["jti"] = 42;
             return One(RequestFrame(c.Signed(claims.dump())));
           },
       .expect = "rejected(malformed,no id) open"},
      {.name = "IdAbsentWithPayloadArray",
       .section = "§4/§6 rejected.id (R12): payload is an array",
       .send =
           [](Ctx& c) {
             return One(RequestFrame(c.Signed("[" + UnlockClaims(c.NewId()).dump() + "]")));
           },
       .expect = "rejected(malformed,no id) open"},
      // §4 other cloud->agent types failing their schema (R7)
      {.name = "ResultAckWithoutId",
       .section = "§4 result_ack fails its schema (R7)",
       .send = [](Ctx&) { return One(R"({"type":"result_ack","v":1})"); },
       .expect = "error(bad_message) close(1008)"},
      {.name = "KeySetNotString",
       .section = "§4 keyset fails its schema (R7)",
       .send = [](Ctx&) { return One(R"({"type":"keyset","v":1,"jwks_jws":5})"); },
       .expect = "error(bad_message) close(1008)"},
      {.name = "CertificateWithoutCertificate",
       .section = "§4 certificate fails its schema (R7)",
       .send = [](Ctx&) { return One(R"({"type":"certificate","v":1})"); },
       .expect = "error(bad_message) close(1008)"},
      {.name = "ErrorWithoutMessage",
       .section = "§4 error fails its schema (R7)",
       .send = [](Ctx&) { return One(R"({"type":"error","v":1,"code":"internal"})"); },
       .expect = "error(bad_message) close(1008)"},
      {.name = "WelcomeWithoutServerTime",
       .section = "§4 welcome fails its schema (R7)",
       .send = [](Ctx&) { return One(R"({"type":"welcome","v":1,"tenant":"tenant-conf"})"); },
       .expect = "error(bad_message) close(1008)"},
      {.name = "SecondWelcome",
       .section = "§4 a valid message at the wrong time (R7): a second welcome",
       .send = [](Ctx&) { return One(WelcomeFrame()); },
       .expect = "error(protocol_violation) close(1008)"},
      {.name = "CertificateNotAskedFor",
       .section = "§4 a valid message at the wrong time (R7): a certificate not asked for",
       .send =
           [](Ctx&) {
             return One(
                 R"({"type":"certificate","v":1,"certificate":"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"})");
           },
       .expect = "error(protocol_violation) close(1008)"},
      // §3/§4 before welcome (R8)
      {.name = "RequestBeforeWelcome",
       .section = "§3/§4 a request before welcome (R8)",
       .send = [](Ctx& c) { return One(RequestFrame(c.Reset().envelope)); },
       .expect = "error(protocol_violation) close(1008)",
       .effect = Effect::kNotApplied,
       .before_welcome = true},
      {.name = "ResultAckBeforeWelcome",
       .section = "§3/§4 another valid message before welcome (R8)",
       .send = [](Ctx& c) { return One(ResultAckFrame(c.NewId())); },
       .expect = "error(protocol_violation) close(1008)",
       .before_welcome = true},
      {.name = "ErrorInsteadOfWelcome",
       .section = "§3/§4 error instead of welcome (R8): the agent closes 1000",
       .send =
           [](Ctx&) {
             return One(
                 R"({"type":"error","v":1,"code":"unknown_agent","message":"not enrolled"})");
           },
       .expect = "close(1000)",
       .before_welcome = true},
      {.name = "WelcomeForAnotherTenant",
       .section = "§3 welcome with another tenant (R10)",
       .script = WelcomeForAnotherTenant},
      // §13 key sets (R13)
      {.name = "KeySetSignedByUntrustedKey",
       .section = "§13 keyset fails a check (R13): signed by an untrusted key",
       .send =
           [](Ctx& c) {
             auto stranger = protocol::EcPrivateKey::Generate();
             return Frames{Text(KeySetFrame(kTenant, NowSeconds(), *stranger, "stranger")),
                           Text(RequestFrame(c.Reset().envelope))};
           },
       .expect = "error(bad_keyset) accepted(id) result(succeeded,id) open",
       .effect = Effect::kApplied},
      {.name = "KeySetForAnotherTenant",
       .section = "§13 keyset fails a check (R13): another tenant",
       .send =
           [](Ctx& c) {
             return Frames{
                 Text(KeySetFrame("tenant-other", NowSeconds(), suite->agent->signing_key(),
                                  suite->agent->signing_kid())),
                 Text(RequestFrame(c.Reset().envelope))};
           },
       .expect = "error(bad_keyset) accepted(id) result(succeeded,id) open",
       .effect = Effect::kApplied},
      {.name = "KeySetFromTheFuture",
       .section = "§13 keyset fails a check (R13): iat beyond now + skew",
       .send =
           [](Ctx& c) {
             return Frames{
                 Text(KeySetFrame(kTenant, NowSeconds() + 3600, suite->agent->signing_key(),
                                  suite->agent->signing_kid())),
                 Text(RequestFrame(c.Reset().envelope))};
           },
       .expect = "error(bad_keyset) accepted(id) result(succeeded,id) open",
       .effect = Effect::kApplied},
      // §7 acknowledgement and redelivery
      {.name = "AcceptedOnlyAfterDurableCommit",
       .section = "§7 accepted only after the durable commit",
       .script = AcceptedOnlyAfterDurableCommit},
      {.name = "RedeliveryIsNeverAppliedTwice",
       .section = "§7 redelivery answered, never applied twice",
       .script = RedeliveryIsNeverAppliedTwice},
      {.name = "JtiReusedByAnotherEnvelope",
       .section = "§7/§6 #18 another envelope reusing a jti: replayed",
       .send =
           [](Ctx& c) {
             const Built& first = c.Reset();
             return Frames{Text(RequestFrame(first.envelope)),
                           Text(RequestFrame(c.Reuse(first, true).envelope))};
           },
       .expect = "accepted(id) rejected(replayed,id) result(succeeded,id) open"},
      {.name = "JtiReusedByAnotherEnvelopeSentAgain",
       .section = "§7/§6 the envelope reusing a jti, sent again: replayed again, never accepted",
       .send =
           [](Ctx& c) {
             const Built& first = c.Reset();
             const std::string reuse = c.Reuse(first, true).envelope;
             return Frames{Text(RequestFrame(first.envelope)), Text(RequestFrame(reuse)),
                           Text(RequestFrame(reuse))};
           },
       .expect =
           "accepted(id) rejected(replayed,id) rejected(replayed,id) result(succeeded,id) open"},
      {.name = "NonceReusedByAnotherEnvelope",
       .section = "§7/§6 #18 another envelope reusing a nonce: replayed",
       .send =
           [](Ctx& c) {
             const Built& first = c.Reset();
             return Frames{Text(RequestFrame(first.envelope)),
                           Text(RequestFrame(c.Reuse(first, false).envelope))};
           },
       .expect = "accepted(id) rejected(replayed,id2) result(succeeded,id) open"},
      {.name = "ResendsUnacknowledgedResultsAfterWelcome",
       .section = "§3/§7 results re-sent after welcome until acknowledged",
       .script = ResendsUnacknowledgedResultsAfterWelcome},
      // §8 flow control (R9)
      {.name = "RequestBeyondCredits",
       .section = "§8 a request beyond the credits (R9)",
       .script = RequestBeyondCreditsIsRefused},
      // §6/§15 a flood of invalid envelopes; audit.md, unauthenticated ids
      {.name = "FloodOfForgedEnvelopesEndsTheConnection",
       .section = "§6/§15 more than 32 invalid envelopes a minute: close 1008; audit summarised",
       .script = FloodOfForgedEnvelopesEndsTheConnection},
      {.name = "FloodOfCloudErrorsEndsTheConnection",
       .section = "§4/§6 more than 32 errors from the cloud a minute: close 1008",
       .script = FloodOfCloudErrorsEndsTheConnection},
      {.name = "FloodOfRefusedKeySetsEndsTheConnection",
       .section = "§6/§13 a refused keyset counts as an invalid envelope: close 1008 after 32",
       .script = FloodOfRefusedKeySetsEndsTheConnection},
      // §9 heartbeats and reconnection
      {.name = "PingsAndDeclaresSilentPeerDead",
       .section = "§9 pings; no pong within two intervals: dead, reconnect",
       .script = PingsAndDeclaresSilentPeerDead},
      {.name = "BackoffResetsAfterWelcome",
       .section = "§9 backoff resets after a session that reached welcome (R11)",
       .script = BackoffResetsAfterWelcome},
      {.name = "BackoffResetsAfterASessionWhoseOnlyErrorRefusedRenewal",
       .section = "§4/§9 renewal_refused does not keep the backoff from resetting",
       .script = BackoffResetsAfterASessionWhoseOnlyErrorRefusedRenewal},
      {.name = "BackoffIsNotResetAfterASessionWithFailedChecks",
       .section = "§6/§9 no backoff reset after a session in which an envelope failed its checks",
       .script = BackoffIsNotResetAfterASessionWithFailedChecks},
      // §4 the audit witness
      {.name = "WelcomeWithTheAgentsOwnHeadGoesOn",
       .section = "§4 welcome.audit_head held by the trail: the agent goes on",
       .script = WelcomeWithTheAgentsOwnHeadGoesOn},
      {.name = "WelcomeWithAHeadTheTrailDoesNotHold",
       .section = "§4 welcome.audit_head beyond the trail: error witness_mismatch, close 1008",
       .script = WelcomeWithAHeadTheTrailDoesNotHold},
      {.name = "WelcomeWithAForgedHead",
       .section =
           "§4 welcome.audit_head not MAC'd by the agent: error witness_mismatch, close 1008",
       .script = WelcomeWithAForgedHead},
      {.name = "SendsItsAuditHeadWhenItMoves",
       .section = "§4 audit_head: sent once the durable head moves",
       .script = SendsItsAuditHeadWhenItMoves},
      {.name = "SendsItsPolicySummaryAfterWelcome",
       .section = "§4 policy_summary: after welcome, with the documented fields",
       .script = SendsItsPolicySummaryAfterWelcome},
      // §2 subprotocol and shutdown
      {.name = "ClosesWhenSubprotocolNotSelected",
       .section = "§2 subprotocol not selected: the agent closes",
       .script = ClosesWhenSubprotocolNotSelected},
      {.name = "ShutdownClosesNormally",
       .section = "§2 orderly shutdown (SIGTERM): close 1000",
       .script = ShutdownClosesNormally},
  };
}

class Conformance : public ::testing::TestWithParam<Row> {
 protected:
  static void SetUpTestSuite() {
    suite = new Suite();
    auto slapd = SlapdServer::Start();
    if (!slapd.ok()) {
      suite->slapd_status = slapd.error();
      return;
    }
    suite->slapd = std::move(*slapd);
    suite->setup_status = SetUpSuite(*suite);
  }
  static void TearDownTestSuite() {
    suite->conn.reset();
    if (suite->agent) suite->agent->Stop();
    delete suite;
    suite = nullptr;
  }
  void SetUp() override {
    WB_REQUIRE_SERVER(suite->slapd_status);
    ASSERT_TRUE(suite->setup_status.ok()) << suite->setup_status.ToString();
  }
};

TEST_P(Conformance, Row) {
  const Row& row = GetParam();
  if (row.script) {
    row.script();
  } else {
    RunFrameRow(row);
  }
  if (HasFailure()) {
    const std::string log = suite->agent->Log();
    ADD_FAILURE() << row.section << "\nlast lines of the agent's log:\n"
                  << log.substr(log.size() > 3000 ? log.size() - 3000 : 0);
  }
}

INSTANTIATE_TEST_SUITE_P(Protocol, Conformance, ::testing::ValuesIn(Rows()),
                         [](const ::testing::TestParamInfo<Row>& row_info) {
                           return std::string(row_info.param.name);
                         });

}  // namespace
}  // namespace wb::testing
