#pragma once
// wbagent: the daemon and its admin commands.
//
// main() only calls Main(); Main() parses the command line and dispatches to one command.
// Exit codes (a contract for scripts and systemd):
//   0  success
//   1  the command ran and found a problem (e.g. a failed check, a daemon start failure)
//   2  usage error or invalid configuration
//   65 `wbagent run`: the audit trail failed its checks; not restarted by systemd
//      (commands.h, kExitAuditTrailRefused)

namespace wb::agent {

int Main(int argc, char** argv);

}  // namespace wb::agent
