// No password reaches an audit file, in UTF-8 or in UTF-16LE (AD's unicodePwd encoding), when
// events are made the way the agent makes them: from a request that carries the password.
#include <fstream>
#include <iterator>

#include "tests/audit/trail_fixture.h"

namespace wb::audit::testing {
namespace {

constexpr char kNewPassword[] = "Zq7!new-Passw0rd-4-audit";
constexpr char kOldPassword[] = "Yx3?old-Passw0rd-4-audit";

// The shape of a decrypted request as the channel hands it over.
struct TestRequest {
  std::string id = "0b6a3d52-7f61-4c3e-9d4e-1a2b3c4d5e6f";
  std::string correlation_id = "corr-77";
  std::string tenant = "contoso";
  std::vector<Operation> operations = {Operation::kChange};
  std::string target = "alice@corp.example.com";
  RequesterKind requester_kind = RequesterKind::kSelf;
  std::string requester = "alice@corp.example.com";
  std::vector<std::string> verified_by = {"sms", "authenticator_app"};
  Secret new_password{kNewPassword};
  Secret old_password{kOldPassword};
};

// How a component fills an Event from a request: every field the Event has, none it lacks.
Event EventFor(const TestRequest& request, EventType type) {
  Event e;
  e.type = type;
  e.request_id = request.id;
  e.correlation_id = request.correlation_id;
  e.tenant = request.tenant;
  e.operations = request.operations;
  e.target.requested = request.target;
  e.requester = {request.requester_kind, request.requester, request.verified_by};
  return e;
}

std::string Utf16Le(std::string_view ascii) {
  std::string out;
  for (char c : ascii) {
    out += c;
    out += '\0';
  }
  return out;
}

std::string ReadBytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

class NoSecretTest : public TrailTest {};

TEST_F(NoSecretTest, NoPasswordInAnyAuditFileInAnyEncoding) {
  const TestRequest request;
  WriterOptions options = Options();
  options.rotate_size = 1500;  // several files
  auto writer = Open(options);
  for (EventType type :
       {EventType::kRequestReceived, EventType::kPolicyDecision, EventType::kDirectoryWrite,
        EventType::kResultSent, EventType::kResultAcknowledged}) {
    Event e = EventFor(request, type);
    e.target.dn = "CN=Alice,OU=Staff,DC=corp,DC=example,DC=com";
    e.decision = Decision::kAllow;
    e.outcome = type == EventType::kDirectoryWrite ? "policy_too_short" : "";
    e.reasons = {"length_below_minimum"};
    e.directory = "corp";
    e.server = "ldaps://dc1.corp.example.com:636";
    e.duration = std::chrono::milliseconds(12);
    ASSERT_TRUE(writer->Append(e).ok());
  }
  Event rejected = EventFor(request, EventType::kRequestRejected);
  rejected.reasons = {"expired"};
  ASSERT_TRUE(writer->Append(rejected).ok());
  ASSERT_TRUE(writer->Close().ok());
  // A crash-torn line and its recovery go through the same files.
  AppendBytes(file(), "{\"v\":1,\"seq\":7,");
  writer = Open(options);
  ASSERT_TRUE(writer->Close().ok());

  std::size_t scanned = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir())) {
    if (!entry.is_regular_file()) continue;
    const std::string bytes = ReadBytes(entry.path());
    ++scanned;
    for (const char* pw : {kNewPassword, kOldPassword}) {
      EXPECT_EQ(bytes.find(pw), std::string::npos) << entry.path();
      EXPECT_EQ(bytes.find(Utf16Le(pw)), std::string::npos) << entry.path();
      EXPECT_EQ(bytes.find(Utf16Le(std::string("\"") + pw + "\"")), std::string::npos)
          << entry.path();
    }
  }
  EXPECT_GE(scanned, 4u);  // rotated files, the active file, the checkpoint
  EXPECT_TRUE(Verify().ok());
  // The request still holds the passwords: the scan would have found them had they leaked.
  EXPECT_EQ(request.new_password.view(), kNewPassword);
}

}  // namespace
}  // namespace wb::audit::testing
