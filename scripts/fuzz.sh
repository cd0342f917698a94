#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz with Clang (ASan + UBSan, in build-fuzz/) and runs
# each one for a while on a working copy of its seed corpus:
#
#   scripts/fuzz.sh                  every target for 300 s (the long mode, for a closing note)
#   scripts/fuzz.sh --short          every target for 15 s (what CI runs)
#   scripts/fuzz.sh --seconds 60     every target for 60 s
#   scripts/fuzz.sh config messages  only these targets (names as in tests/fuzz/corpus/)
#
# CI runs `scripts/fuzz.sh --short` (a step of scripts/test.sh with CI=true): 7 targets x 15 s,
# about 2 minutes end to end when ccache has the objects, plus about 5 minutes of build on 2
# cores when it does not (docs/operations.md, "Fuzzing").
#
# The committed seeds (tests/fuzz/corpus/TARGET) are never written to: each target runs on
# build-fuzz/corpus/TARGET, which keeps what earlier runs found (delete it to start over) and
# takes in the committed seeds at each run. Prints one line per target with its number of
# executions, then the total. Exits non-zero when a target crashes, leaks, times out or runs
# out of memory, after running the others, and prints the reproducer's path and the command
# that replays it. Uses ccache when it is installed.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build="$root/build-fuzz"
jobs=$(nproc)
seconds=300
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --short) seconds=15 ;;
    --seconds) seconds=${2:?--seconds needs a number}; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1 (--short, --seconds N)" >&2; exit 2 ;;
    *) targets+=("$1") ;;
  esac
  shift
done
if [ "${#targets[@]}" -eq 0 ]; then
  targets=(strict_json base64url open_request signed_claims messages config audit_verify)
fi

# The longest input each target is given: what the surface can take, plus a little to reach
# the size checks (16 KiB envelope), but no more than that, so that mutations stay cheap.
max_len() {
  case "$1" in
    open_request) echo 17408 ;;     # kMaxEnvelopeBytes + 1 KiB
    messages) echo 20480 ;;         # a request frame around a 16 KiB envelope
    signed_claims) echo 8192 ;;     # still within 16 KiB once signed or encrypted
    config|audit_verify) echo 16384 ;;
    *) echo 4096 ;;
  esac
}

"$root/scripts/install-deps.sh"

launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  # Relative paths, and the build folder left out of the hash: another checkout still hits.
  export CCACHE_BASEDIR="$root" CCACHE_NOHASHDIR=1
fi

start=$SECONDS
# Debug keeps the assertions (Result::value() on an error); -O1 keeps the fuzzer fast.
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Debug \
  -DCMAKE_CXX_FLAGS=-O1 -DWB_FUZZ=ON -DWB_WERROR=ON -DWB_BUILD_BENCH=OFF "${launcher[@]}" \
  >/dev/null
cmake --build "$build" -j "$jobs" --target wb_fuzz
echo "fuzz.sh: built in $((SECONDS - start)) s"

export ASAN_OPTIONS=detect_leaks=1:strict_string_checks=1
# Leaks inside third-party libraries only, each documented in the file.
export LSAN_OPTIONS="suppressions=$root/tests/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

total=0
failed=()
summary=()
for target in "${targets[@]}"; do
  binary="$build/tests/fuzz/fuzz_$target"
  seeds="$root/tests/fuzz/corpus/$target"
  if [ ! -x "$binary" ] || [ ! -d "$seeds" ]; then
    echo "fuzz.sh: no target '$target' (see tests/fuzz/corpus/)" >&2
    exit 2
  fi
  corpus="$build/corpus/$target"
  artifacts="$build/artifacts/$target"
  log="$build/logs/$target.log"
  mkdir -p "$corpus" "$artifacts" "$(dirname "$log")"
  cp -n "$seeds"/* "$corpus"/ 2>/dev/null || true
  echo "fuzz.sh: $target for $seconds s (log: $log)"
  rc=0
  # -timeout: one input taking 10 s is a hang. The working corpus comes first: new inputs go
  # there; the seeds are read only.
  "$binary" -max_total_time="$seconds" -max_len="$(max_len "$target")" -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$artifacts/" \
    "$corpus" >"$log" 2>&1 || rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  runs=${runs:-0}
  total=$((total + runs))
  if [ "$rc" -eq 0 ]; then
    summary+=("$(printf '%-14s %12d executions  ok' "$target" "$runs")")
  else
    reproducer=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
    summary+=("$(printf '%-14s %12d executions  FAILED (exit %d)' "$target" "$runs" "$rc")")
    failed+=("$target")
    echo "fuzz.sh: $target FAILED; the report:" >&2
    grep -m 1 -A 30 -E '^==[0-9]+==ERROR|runtime error|fuzz property broken|ERROR: libFuzzer' \
      "$log" >&2 || tail -n 30 "$log" >&2
    if [ -n "$reproducer" ]; then
      echo "fuzz.sh: reproducer: $reproducer" >&2
      echo "fuzz.sh: replay it:  $binary $reproducer" >&2
    fi
  fi
done

echo "fuzz.sh: executions per target ($seconds s each):"
printf '  %s\n' "${summary[@]}"
printf '  %-14s %12d executions\n' "total" "$total"
if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzz.sh: failed: ${failed[*]} (logs in $build/logs)" >&2
  exit 1
fi
