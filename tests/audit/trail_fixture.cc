#include "tests/audit/trail_fixture.h"

#include <fstream>
#include <sstream>

namespace wb::audit::testing {

Event SampleEvent(int i, EventType type) {
  Event e;
  e.type = type;
  e.request_id = "7d444840-9dc0-11d1-b245-5ffdce74fa" + std::to_string(10 + i % 90);
  e.correlation_id = "corr-" + std::to_string(i);
  e.tenant = "contoso";
  e.operations = {Operation::kReset, Operation::kUnlock};
  e.target = {"user" + std::to_string(i) + "@corp.example.com",
              "CN=User " + std::to_string(i) + ",OU=Staff,DC=corp,DC=example,DC=com"};
  e.requester = {
      RequesterKind::kSelf, "user" + std::to_string(i) + "@corp.example.com", {"sms", "email"}};
  e.decision = Decision::kAllow;
  e.directory = "corp";
  e.server = "ldaps://dc1.corp.example.com:636";
  e.outcome = "succeeded";
  e.duration = std::chrono::milliseconds(40 + i);
  return e;
}

std::vector<std::string> ReadLines(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

void WriteLines(const std::filesystem::path& path, const std::vector<std::string>& lines) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  for (const std::string& line : lines) out << line << '\n';
}

void AppendBytes(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::app);
  out << bytes;
}

std::vector<std::string> TextLines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::string WithoutSpaces(std::string text) {
  std::erase(text, ' ');
  return text;
}

// The cells of one column, from the header named `name` to the next column (or the line's end),
// joined over every line, spaces left out (a wrap drops the space it breaks at).
std::string ColumnText(const std::string& table, const std::string& name, const std::string& next) {
  const std::vector<std::string> lines = TextLines(table);
  const std::size_t start = lines.at(0).find(name);
  const std::size_t end = next.empty() ? std::string::npos : lines.at(0).find(next);
  std::string joined;
  for (std::size_t i = 1; i + 1 < lines.size(); ++i) {
    if (lines[i].size() > start) joined += lines[i].substr(start, end - start);
  }
  return WithoutSpaces(joined);
}

std::filesystem::path TrailTest::rotated(int index) const {
  char suffix[16];
  std::snprintf(suffix, sizeof suffix, ".%06d", index);
  return file().string() + suffix;
}

WriterOptions TrailTest::Options() const {
  WriterOptions options;
  options.file = file();
  options.checkpoint_file = checkpoint();
  options.agent_id = "agent-1";
  return options;
}

std::unique_ptr<Writer> TrailTest::Open(WriterOptions options) {
  auto writer = Writer::Open(std::move(options), TestKey(), clock_);
  EXPECT_TRUE(writer.ok()) << writer.error().ToString();
  return writer.ok() ? std::move(*writer) : nullptr;
}

void TrailTest::WriteTrail(int n, WriterOptions options) {
  auto writer = Open(std::move(options));
  ASSERT_NE(writer, nullptr);
  for (int i = 1; i <= n; ++i) {
    auto appended = writer->Append(SampleEvent(i), Durability::kDurable);
    ASSERT_TRUE(appended.ok()) << appended.error().ToString();
    clock_.Advance(std::chrono::milliseconds(1500));
  }
  ASSERT_TRUE(writer->Close().ok());
}

VerifyReport TrailTest::Verify(bool with_checkpoint) const {
  VerifyOptions options{file(), std::nullopt};
  if (with_checkpoint) options.checkpoint_file = checkpoint();
  auto report = audit::Verify(options, TestKey());
  EXPECT_TRUE(report.ok()) << report.error().ToString();
  return report.ok() ? *report : VerifyReport{};
}

Finding TrailTest::ExpectFinding(Problem problem, bool with_checkpoint) const {
  VerifyReport report = Verify(with_checkpoint);
  EXPECT_FALSE(report.ok()) << "verification passed; expected " << Name(problem);
  if (!report.finding) return {};
  EXPECT_EQ(Name(report.finding->problem), Name(problem))
      << report.finding->file << ":" << report.finding->line << ": " << report.finding->message;
  return *report.finding;
}

}  // namespace wb::audit::testing
