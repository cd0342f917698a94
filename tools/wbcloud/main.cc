// wbcloud: the reference cloud endpoint (tests, demos, benchmarks, and a model for vendors).
// The protocol verbs (serve, token, submit, status) arrive with the channel; see
// docs/protocol.md once it exists. Until then this binary only reports its version.
#include <CLI/CLI.hpp>
#include <string>

#include "common/version.h"

int main(int argc, char** argv) {
  CLI::App app{"wbcloud: reference cloud endpoint for wbagent", "wbcloud"};
  app.set_version_flag("--version", std::string("wbcloud ") + wb::kVersion);
  CLI11_PARSE(app, argc, argv);
  return 0;
}
