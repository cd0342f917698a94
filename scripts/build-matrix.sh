#!/usr/bin/env bash
# Builds the project with every standard CMake build type (Debug, Release, RelWithDebInfo and
# None, the type Debian's tooling uses) under GCC and Clang, with warnings as errors. Clang
# builds also check the thread-safety annotations (-Wthread-safety). It configures and builds;
# it runs no tests (scripts/test.sh does).
#
#   scripts/build-matrix.sh                   all eight builds, in build-matrix/COMPILER-TYPE
#   scripts/build-matrix.sh clang:Release     only the ones named (COMPILER:TYPE ...)
#   scripts/build-matrix.sh --product ...     the product only (wbagent, wbcloud and the
#                                             libraries; no tests or benchmarks): what a
#                                             packager builds, and what CI builds this way
#
# Uses ccache when it is installed. Exits non-zero if any build fails, after trying them all.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
jobs=$(nproc)
scope=()
if [ "${1:-}" = "--product" ]; then
  scope=(-DWB_BUILD_TESTS=OFF -DWB_BUILD_BENCH=OFF)
  shift
fi
combos=("$@")
if [ "${#combos[@]}" -eq 0 ]; then
  for c in gcc clang; do
    for t in Debug Release RelWithDebInfo None; do combos+=("$c:$t"); done
  done
fi

launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  # Relative paths, and the build folder left out of the hash: another checkout still hits.
  export CCACHE_BASEDIR="$root" CCACHE_NOHASHDIR=1
fi

failed=()
for combo in "${combos[@]}"; do
  compiler=${combo%%:*}
  type=${combo#*:}
  case "$compiler" in
    gcc) cxx=g++ ;;
    clang) cxx=clang++ ;;
    *) echo "build-matrix: unknown compiler '$compiler' (gcc or clang)" >&2; exit 2 ;;
  esac
  dir="$root/build-matrix/$compiler-$type"
  echo "build-matrix: $compiler $type in $dir"
  start=$SECONDS
  if cmake -S "$root" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE="$type" -DCMAKE_CXX_COMPILER="$cxx" \
       -DWB_WERROR=ON "${scope[@]}" "${launcher[@]}" >/dev/null &&
     cmake --build "$dir" -j "$jobs" >"$dir.log" 2>&1; then
    echo "build-matrix: $compiler $type built in $((SECONDS - start)) s"
  else
    echo "build-matrix: $compiler $type FAILED; the first errors (all in $dir.log):" >&2
    grep -m 20 -E 'error|FAILED' "$dir.log" >&2 || tail -n 20 "$dir.log" >&2
    failed+=("$combo")
  fi
done

if [ "${#failed[@]}" -gt 0 ]; then
  echo "build-matrix: failed: ${failed[*]}" >&2
  exit 1
fi
echo "build-matrix: ${#combos[@]} builds OK"
