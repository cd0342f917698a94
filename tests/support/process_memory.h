// Searching a live process's writable memory (/proc/PID/mem) for bytes, as a core dump or an
// attacker who can read the process would: for the tests that prove no password outlives its
// request in memory.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace wb::testing {

// One place `needle` was found: the mapping's line in /proc/PID/maps and the address.
struct MemoryHit {
  std::string mapping;
  std::uintptr_t address = 0;
};

// Every occurrence of `needle` in the writable private mappings of `pid` (heap, anonymous
// memory, thread stacks, the writable data of the binary and its libraries), skipping the
// bytes [ignore, ignore + needle.size()) (the caller's own copy of the needle, when it searches
// itself). Mappings larger than 1 GiB (a sanitizer's shadow) are skipped. Reading another
// process needs the right to ptrace it (CAP_SYS_PTRACE for a non-dumpable one such as
// wbagent); a heap that could not be read is an error, not "nothing found".
Result<std::vector<MemoryHit>> FindInProcessMemory(pid_t pid, std::string_view needle,
                                                   const void* ignore = nullptr);

// The needle's UTF-16LE form (each byte of ASCII text followed by a zero byte), as AD's
// unicodePwd carries a password.
std::string Utf16LeOfAscii(std::string_view text);

}  // namespace wb::testing
