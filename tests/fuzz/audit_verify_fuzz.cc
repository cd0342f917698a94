// audit::Verify on corrupted trails, and the readers behind `wbagent audit query` (ParseRecord,
// Query, FormatRecords, GroupByRequest, FormatRequests). The harness writes a small genuine
// trail once, with the real Writer, a fixed key and a fixed clock; each input then replaces the
// active file (seeds are that file's contents, corpus/audit_verify), and Verify checks it
// against the genuine checkpoint.
//
// Mutated lines almost never carry a valid HMAC, and Verify stops at the first bad one. So
// each input is verified twice: as it is, and with every sealed-looking line re-sealed with
// the key, which takes the fuzzer past the HMAC into the record parser, the canonical-form,
// seq, link and checkpoint checks (what a holder of the key could write).
//
// Properties: Verify returns a report, not an error (every file is readable); the genuine
// trail verifies; a record that parses has a canonical form that parses back to itself.
//
// With WB_FUZZ_WRITE_TRAIL=PATH set, the genuine trail is also copied to PATH: that is how
// the seed corpus/audit_verify/genuine.jsonl was made.
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <vector>

#include "audit/audit.h"
#include "audit/internal/record_json.h"
#include "audit/internal/seal.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

using namespace wb::audit;
using wb::fuzz::Require;

const wb::Secret& Key() {
  static const wb::Secret key(std::string(kKeyBytes, 'k'));
  return key;
}

std::vector<Event> GenuineEvents() {
  Event received{.type = EventType::kRequestReceived,
                 .request_id = "3b241101-e2bb-4255-8caf-4136c566a962",
                 .correlation_id = "c0ffee00-0000-4000-8000-000000000001",
                 .tenant = "tenant-contoso",
                 .operations = {Operation::kReset, Operation::kUnlock},
                 .target = {"alice@contoso.example", ""},
                 .requester = {RequesterKind::kSelf, "alice@contoso.example", {"email_otp"}}};
  Event decision = received;
  decision.type = EventType::kPolicyDecision;
  decision.decision = Decision::kAllow;
  decision.target.dn = "CN=Alice,OU=Staff,DC=contoso,DC=example";
  Event write = decision;
  write.type = EventType::kDirectoryWrite;
  write.directory = "corp";
  write.server = "ldaps://dc1.contoso.example:636";
  write.outcome = "succeeded";
  write.duration = std::chrono::milliseconds(42);
  Event rejected{.type = EventType::kRequestRejected,
                 .outcome = "bad_signature",
                 .detail = "kid \"x\\x1b\" \xc3\xa9 is not a trusted cloud signing key"};
  return {Event{.type = EventType::kAgentStarted, .detail = "0.1.0"}, received, decision, write,
          rejected};
}

struct Trail {
  VerifyOptions options;
  std::string genuine;  // the active file as the Writer left it
};

std::string ReadAll(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

Trail WriteGenuineTrail() {
  const std::filesystem::path dir = wb::fuzz::ScratchDir();
  WriterOptions options{.file = dir / "audit" / "audit.jsonl",
                        .checkpoint_file = CheckpointPath(dir),
                        .agent_id = std::string(wb::fuzz::kAgentId)};
  wb::testing::FakeClock clock(wb::fuzz::VectorClock().Now());
  auto writer = Writer::Open(options, wb::Secret(Key().view()), clock);
  if (!writer.ok()) wb::fuzz::SetupFailed(writer.error().ToString());
  for (const Event& event : GenuineEvents()) {
    if (!(*writer)->Append(event, Durability::kDurable).ok()) wb::fuzz::SetupFailed("Append");
    clock.Advance(std::chrono::milliseconds(1250));
  }
  if (!(*writer)->Close().ok()) wb::fuzz::SetupFailed("Close");
  Trail trail{{options.file, options.checkpoint_file}, ReadAll(options.file)};
  if (const char* copy = std::getenv("WB_FUZZ_WRITE_TRAIL"))
    wb::fuzz::WriteFile(copy, trail.genuine);
  return trail;
}

const Trail& Genuine() {
  static const Trail trail = WriteGenuineTrail();
  return trail;
}

VerifyReport VerifyActiveFile(std::string_view content) {
  wb::fuzz::WriteFile(Genuine().options.file, content);
  auto report = Verify(Genuine().options, Key());
  Require(report.ok(), "Verify returned an error on a readable trail");
  return *report;
}

std::vector<std::string_view> Lines(std::string_view text) {
  std::vector<std::string_view> lines;
  for (std::size_t start = 0; start < text.size();) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

// Canonical form is a fixed point: what the Writer would write for a record reads back as
// the same record.
void CheckRecord(std::string_view line) {
  auto record = ParseRecord(line);
  if (!record.ok()) return;
  const std::string body = internal::RecordBody(*record);
  auto again = ParseRecord(internal::Seal(body, Key()));
  Require(again.ok(), "the canonical form of a parsed record does not parse");
  Require(internal::RecordBody(*again) == body, "a record changed in its canonical form");
}

// Every line that looks sealed, sealed again with the key; the rest as they are.
std::string Resealed(std::string_view content) {
  std::string out;
  out.reserve(content.size());
  for (std::string_view line : Lines(content)) {
    auto parts = internal::Unseal(line);
    out += parts ? internal::Seal(parts->body, Key()) : std::string(line);
    out += '\n';
  }
  if (!content.empty() && content.back() != '\n') out.pop_back();  // keep a torn tail torn
  return out;
}

void ShowAndExport() {
  auto result = Query(Genuine().options.file, QueryFilter{.user = "*a*"});
  Require(result.ok(), "Query returned an error on a readable trail");
  const std::vector<RequestRow> rows = GroupByRequest(result->records);
  for (Format format : {Format::kTable, Format::kJson, Format::kCsv}) {
    (void)FormatRecords(result->records, format);
    (void)FormatRequests(rows, format);
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  Require(VerifyActiveFile(Genuine().genuine).ok(), "the genuine trail does not verify");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view content = wb::fuzz::AsText(data, size);
  for (std::string_view line : Lines(content)) CheckRecord(line);
  (void)VerifyActiveFile(content);
  const std::string resealed = Resealed(content);
  const VerifyReport report = VerifyActiveFile(resealed);
  ShowAndExport();  // on the resealed file, whose records parse more often
  if (resealed == Genuine().genuine) Require(report.ok(), "the genuine trail does not verify");
  return 0;
}
