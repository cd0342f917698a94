#!/usr/bin/env bash
# demo_test and demo_broken_proof_test_*: scripts/demo.sh against slapd, with the binaries of
# this build (WB_DEMO_BUILD_DIR: nothing is installed or built again).
#
#   demo_test.sh BUILD_DIR           every proof must hold and the demo exit 0
#   demo_test.sh BUILD_DIR PROOF     with WB_DEMO_BREAK=PROOF the demo checks that proof against
#                                    a wrong expected value: it must exit 1 and name that proof,
#                                    and only it, as failed
#
# Only the slapd path is run here; `scripts/demo.sh --ad` (Samba, root) is not part of CTest.
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=$1
proof=${2:-}
out=$(WB_DEMO_BUILD_DIR="$build" WB_DEMO_BREAK="$proof" "$root/scripts/demo.sh" 2>&1)
status=$?
printf '%s\n' "$out"

fail() { echo "demo_test: $*" >&2; exit 1; }
if [[ -z $proof ]]; then
  ((status == 0)) || fail "the demo exited $status"
  grep -q '^demo: every proof held$' <<<"$out" || fail "the demo did not say that every proof held"
  grep -q 'PROOF FAILED' <<<"$out" && fail "a proof failed but the demo exited 0"
  exit 0
fi
((status == 1)) || fail "with proof '$proof' broken the demo exited $status, not 1"
grep -q "^PROOF FAILED ($proof): " <<<"$out" || fail "the demo did not name the broken proof '$proof'"
summary=$(grep '^demo: FAILED: ' <<<"$out") || fail "the demo printed no summary of failed proofs"
others=$(tr ' ' '\n' <<<"${summary##*did not hold: }" | grep -vx -- "$proof" || true)
[[ -z $others ]] || fail "breaking '$proof' also failed: $others"
exit 0
