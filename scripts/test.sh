#!/usr/bin/env bash
# The test command: installs what is missing, builds, and runs the whole CTest suite, including
# the tests against a real slapd and a real Samba AD DC (those need root for the network
# namespace; outside CI they are skipped with a reason when they cannot start, in CI they fail).
# With CI=true the suite runs a second time under AddressSanitizer + UndefinedBehaviorSanitizer.
#
#   scripts/test.sh            build in build/, run every test
#   scripts/test.sh -R Slapd   extra arguments go to ctest
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
jobs=$(nproc)

"$root/scripts/install-deps.sh"

build_and_test() {
  local dir=$1
  shift
  # The project's own builds treat warnings as errors (WB_WERROR is off by default for
  # packagers and users).
  cmake -S "$root" -B "$dir" -G Ninja -DWB_WERROR=ON "$@" >/dev/null
  cmake --build "$dir" -j "$jobs"
  ctest --test-dir "$dir" --output-on-failure -j "$jobs" "${ctest_args[@]}"
}

ctest_args=("$@")
build_and_test "$root/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo

if [ "${CI:-}" = "true" ]; then
  echo "test.sh: CI=true, running the suite again under ASan+UBSan"
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
  # Leaks inside third-party libraries only, each documented in the file.
  export LSAN_OPTIONS="suppressions=$root/tests/lsan.supp:print_suppressions=0"
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  build_and_test "$root/build-asan" -DCMAKE_BUILD_TYPE=Debug -DWB_SANITIZE=ON
fi
