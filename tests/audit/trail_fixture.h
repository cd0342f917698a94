#pragma once
// Test support for the audit tests: a trail in a temp dir, written through the public API
// with a fake clock, and helpers that tamper with its files as bytes.

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "audit/audit.h"
#include "tests/support/fake_clock.h"
#include "tests/support/process.h"

namespace wb::audit::testing {

inline Secret TestKey(char fill = 'k') { return Secret(std::string(kKeyBytes, fill)); }

// A request-shaped event; `i` makes each one distinct.
Event SampleEvent(int i, EventType type = EventType::kDirectoryWrite);

std::vector<std::string> ReadLines(const std::filesystem::path& path);
// Rewrites `path` with `lines`, each followed by a newline.
void WriteLines(const std::filesystem::path& path, const std::vector<std::string>& lines);
void AppendBytes(const std::filesystem::path& path, const std::string& bytes);

// A table's lines, without their newlines.
std::vector<std::string> TextLines(const std::string& text);
std::string WithoutSpaces(std::string text);
// The cells of one column of a table, from the header named `name` to the header `next` (or
// the line's end), joined over every line but the header and the count, spaces left out.
std::string ColumnText(const std::string& table, const std::string& name, const std::string& next);

class TrailTest : public ::testing::Test {
 protected:
  std::filesystem::path dir() const { return dir_.path(); }
  std::filesystem::path file() const { return dir_.path() / "audit" / "audit.jsonl"; }
  std::filesystem::path checkpoint() const { return dir_.path() / "state" / "audit.checkpoint"; }
  std::filesystem::path rotated(int index) const;

  WriterOptions Options() const;
  std::unique_ptr<Writer> Open(WriterOptions options);
  std::unique_ptr<Writer> Open() { return Open(Options()); }
  // Opens a writer, appends `n` SampleEvents (durably) and closes it.
  void WriteTrail(int n, WriterOptions options);
  void WriteTrail(int n) { WriteTrail(n, Options()); }

  VerifyReport Verify(bool with_checkpoint = true) const;
  // The report's finding, or a failure when there is none.
  Finding ExpectFinding(Problem problem, bool with_checkpoint = true) const;

  wb::testing::TempDir dir_{"wbaudit"};
  wb::testing::FakeClock clock_;
};

}  // namespace wb::audit::testing
