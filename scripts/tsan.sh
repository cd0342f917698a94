#!/usr/bin/env bash
# Builds the test suite under ThreadSanitizer (GCC, RelWithDebInfo at -O1, in build-tsan/) and
# runs it with CTest. Any data race, lock-order inversion or other TSan report fails the test
# that shows it (halt_on_error); the report is in ctest's output.
#
#   scripts/tsan.sh                 build, then every test
#   scripts/tsan.sh -LE samba       extra arguments go to ctest (here: all but the Samba tests)
#   scripts/tsan.sh -R Queue        only the tests matching Queue
#
# Slow: the build took about 30 minutes on 2 cores without ccache (shared with another build),
# and TSan makes the code 5-15x slower; the tests against a real slapd or Samba DC need root, as
# with scripts/test.sh. Not part of scripts/test.sh or CI. On a loaded machine the queue's
# CrashTest.KilledAtRandomMomentsLosesNothingAndAppliesNothingTwice can fail under TSan because
# too little work gets done between its random kills (it says so), which is not a race; and
# SecureMemoryTest.SecretBytesAreLockedInMemoryWhenTheLimitAllows and
# SecureMemoryTest.ACachedPageThatCouldNotBeLockedIsLockedWhenReusedOnceTheLimitAllows are
# skipped, because mlock does nothing under TSan.
#
# Suppressions are for races inside third-party libraries only, each documented in
# tests/tsan.supp. Uses ccache when it is installed.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build="$root/build-tsan"
jobs=$(nproc)

"$root/scripts/install-deps.sh"

launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  # Relative paths, and the build folder left out of the hash: another checkout still hits.
  export CCACHE_BASEDIR="$root" CCACHE_NOHASHDIR=1
fi

start=$SECONDS
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWB_TSAN=ON \
  -DWB_WERROR=ON "${launcher[@]}" >/dev/null
nice cmake --build "$build" -j "$jobs"
echo "tsan.sh: built in $((SECONDS - start)) s"

# halt_on_error: the first report ends the process, so the test fails and shows it.
# second_deadlock_stack: a lock-order inversion shows where both locks were taken.
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$root/tests/tsan.supp"
start=$SECONDS
rc=0
ctest --test-dir "$build" --output-on-failure -j "$jobs" "$@" || rc=$?
echo "tsan.sh: ran the tests in $((SECONDS - start)) s"
exit "$rc"
