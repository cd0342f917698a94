// `wbagent breached import|check`: the offline breached-password list (breached/breached.h,
// docs/policy.md "Breached passwords").

#include <termios.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "agent/commands.h"
#include "agent/password_input.h"
#include "breached/breached.h"
#include "common/secret.h"
#include "common/secure_memory.h"

namespace wb::agent {
namespace {

int ImportCommand(const BreachedVerbs& verbs) {
  breached::ImportOptions options;
  if (verbs.kind != "auto") options.kind = breached::ParseHashKind(verbs.kind);
  options.progress_every = verbs.progress_every;
  if (verbs.index_bits != 0) options.index_bits = verbs.index_bits;
  options.progress = [](std::uint64_t lines, std::uint64_t bytes) {
    std::fprintf(stderr, "breached import: %llu lines, %llu MB read\n",
                 static_cast<unsigned long long>(lines),
                 static_cast<unsigned long long>(bytes / 1000000));
  };
  const auto start = std::chrono::steady_clock::now();
  Result<breached::ImportSummary> summary = breached::Import(verbs.src, verbs.dest, options);
  if (!summary.ok()) {
    std::fprintf(stderr, "breached import failed: %s\n", summary.error().ToString().c_str());
    return kExitFailure;
  }
  const std::chrono::duration<double> seconds = std::chrono::steady_clock::now() - start;
  std::printf(
      "imported %llu %s entries: %llu bytes of text into %llu bytes (%s, 2^%u index "
      "buckets) in %.1f s\n",
      static_cast<unsigned long long>(summary->entries),
      std::string(breached::HashKindName(summary->kind)).c_str(),
      static_cast<unsigned long long>(summary->input_bytes),
      static_cast<unsigned long long>(summary->output_bytes), verbs.dest.c_str(),
      summary->index_bits, seconds.count());
  return kExitOk;
}

int CheckCommand(const BreachedVerbs& verbs) {
  if (!verbs.check->remaining().empty()) {
    // Not echoed: the unexpected argument may be the password itself.
    std::fputs(
        "wbagent breached check: unexpected arguments; the password is read from standard "
        "input, never from the command line\n",
        stderr);
    return kExitUsage;
  }
  Result<breached::List> list = breached::List::Open(verbs.file);
  if (!list.ok()) {
    std::fprintf(stderr, "wbagent breached check: %s\n", list.error().ToString().c_str());
    return kExitUsage;
  }
  Result<Secret> password = ReadPasswordFromStdin();
  if (!password.ok()) {
    std::fprintf(stderr, "wbagent breached check: %s\n", password.error().ToString().c_str());
    return kExitUsage;
  }
  Result<std::uint64_t> count = list->Count(*password);
  password->Wipe();
  if (!count.ok()) {
    std::fprintf(stderr, "wbagent breached check: %s\n", count.error().ToString().c_str());
    return kExitUsage;
  }
  if (*count == 0) {
    std::puts("not found");
    return kExitOk;
  }
  std::printf("found %llu times\n", static_cast<unsigned long long>(*count));
  return *count >= verbs.min_count ? kExitFailure : kExitOk;
}

}  // namespace

void AddBreachedVerbs(CLI::App& app, BreachedVerbs& verbs) {
  CLI::App* breached =
      app.add_subcommand("breached", "Import or query the offline breached-password list");
  breached->require_subcommand(1);
  verbs.import = breached->add_subcommand(
      "import",
      "Convert Have I Been Pwned's Pwned Passwords text (SHA-1 or NTLM) into the "
      "binary list the agent reads; DEST is replaced atomically");
  verbs.import->add_option("src", verbs.src, "The text: a file, or - for standard input")
      ->required();
  verbs.import->add_option("dest", verbs.dest, "The binary list to write")->required();
  verbs.import->add_option("--kind", verbs.kind, "auto (from the first line), sha1 or ntlm")
      ->check(CLI::IsMember({"auto", "sha1", "ntlm"}))
      ->capture_default_str();
  verbs.import
      ->add_option("--progress-every", verbs.progress_every,
                   "Report progress on stderr every this many lines")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  verbs.import
      ->add_option("--index-bits", verbs.index_bits,
                   "Index buckets as a power of 2, 8 to 24 (default: about 64 entries per bucket "
                   "from the size of SRC; 20 for standard input)")
      ->check(CLI::Range(breached::kMinIndexBits, breached::kMaxIndexBits));
  verbs.check = breached->add_subcommand(
      "check",
      "Is the password on standard input in the list? Exit 1 when found at least "
      "--min-count times, 0 when not");
  verbs.check->add_option("--file", verbs.file, "The binary list (breached import's DEST)")
      ->required();
  verbs.check->add_option("--min-count", verbs.min_count, "Found fewer times than this: exit 0")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  // Extra arguments are refused by CheckCommand, which, unlike CLI11, does not echo them.
  verbs.check->allow_extras();
}

std::optional<int> BreachedCommand(const BreachedVerbs& verbs) {
  if (verbs.import != nullptr && verbs.import->parsed()) return ImportCommand(verbs);
  if (verbs.check != nullptr && verbs.check->parsed()) return CheckCommand(verbs);
  return std::nullopt;
}

}  // namespace wb::agent
