#!/usr/bin/env bash
# Measures a password reset through the whole product (wbcloud submit --wait -> channel ->
# envelope checks -> durable queue -> directory -> audit -> result -> ack) against a throwaway
# slapd, and the same number of raw LDAP Password Modify operations (ldappasswd) against the
# same slapd in the same run, and reports the ratio. Machines here are shared and noisy:
# compare ratios, not absolute times.
#
#   bench/roundtrip.sh [N]        N resets (default 50), one at a time
# Needs a build in build/ (scripts/test.sh or scripts/demo.sh make one), or WB_BUILD_DIR.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
n=${1:-50}
build="${WB_BUILD_DIR:-$root/build}"
cmake --build "$build" --target wbagent wbcloud wb-test-dirserver >/dev/null
work=$(mktemp -d /tmp/wbbench.XXXXXX)
pids=()
cleanup() {
  trap '' INT TERM  # a second signal must not cut the cleanup short
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill -TERM "${pids[i]}" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
wait_for() { for _ in $(seq 600); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done; return 1; }

mkdir -p "$work/directory"
"$build/tests/support/wb-test-dirserver" slapd --out "$work/directory" >"$work/dir.log" 2>&1 &
pids+=($!)
wait_for test -e "$work/directory/ready"
# shellcheck source=/dev/null
source "$work/directory/directory.env"
"$build/tools/wbcloud/wbcloud" serve --state "$work/cloud" --listen 127.0.0.1:0 \
  >"$work/cloud.log" 2>&1 &
pids+=($!)
wait_for test -S "$work/cloud/admin.sock" -a -s "$work/cloud/agent-url"
cat >"$work/wbagent.toml" <<TOML
[agent]
id = "bench-agent"
state_dir = "$work/state"
[cloud]
url = "$(cat "$work/cloud/agent-url")"
ca_file = "$work/cloud/ca.pem"
$(cat "$work/directory/directory.toml")
[log]
level = "warn"
format = "json"
TOML
"$build/agent/wbagent" register --config "$work/wbagent.toml" \
  --token "$("$build/tools/wbcloud/wbcloud" token create --state "$work/cloud")" >/dev/null
"$build/agent/wbagent" run --config "$work/wbagent.toml" >"$work/agent.log" 2>&1 &
pids+=($!)
wait_for test -e "$work/state/status.json"
sleep 1

now_ms() { date +%s%3N; }

# Baseline: the directory operation alone, as the service account, with TLS, one process each.
bind_password_file=$(sed -n 's/^bind_password_file = "\(.*\)"/\1/p' "$work/directory/directory.toml")
bind_dn=$(sed -n 's/^bind_dn = "\(.*\)"/\1/p' "$work/directory/directory.toml")
start=$(now_ms)
for i in $(seq "$n"); do
  LDAPTLS_CACERT="$WB_CA_FILE" ldappasswd -x -H "$WB_LDAPS_URL" -D "$bind_dn" -y "$bind_password_file" \
    -s "Baseline-Pass-$i-x" "$(printf "$WB_USER_DN_FMT" alice)" >/dev/null
done
baseline=$(( $(now_ms) - start ))

# The product: the same number of resets, each waited for end to end.
start=$(now_ms)
for i in $(seq "$n"); do
  printf 'Product-Pass-%s-x' "$i" | "$build/tools/wbcloud/wbcloud" submit --state "$work/cloud" \
    --kind uid --user bob --op reset --password-file - --wait --timeout 60 >/dev/null 2>&1
done
product=$(( $(now_ms) - start ))

awk -v n="$n" -v b="$baseline" -v p="$product" 'BEGIN {
  printf "resets: %d, one at a time (slapd with olcDbNoSync: TRUE)\n", n
  printf "baseline  ldappasswd (new process, TLS, bind, exop):  %7.1f ms per reset\n", b / n
  printf "wbagent   wbcloud submit --wait, full round trip:     %7.1f ms per reset\n", p / n
  printf "ratio     wbagent / baseline:                         %7.2f\n", p / b
}'
# Inside the agent, from its audit trail: the directory write alone, and the whole stay of a
# request from request_received (after the envelope checks and the durable enqueue) to
# result_sent. The rest of the round trip is wbcloud's own persistence and the submit client.
"$build/agent/wbagent" audit query --events --config "$work/wbagent.toml" --format json | awk '
  function ms(t) { split(substr(t, 12, 12), h, ":"); return (h[1] * 3600 + h[2] * 60 + h[3]) * 1000 }
  {
    match($0, /"time":"[^"]*"/); t = ms(substr($0, RSTART + 8, RLENGTH - 9))
    match($0, /"event":"[^"]*"/); e = substr($0, RSTART + 9, RLENGTH - 10)
    if (!match($0, /"request_id":"[^"]*"/)) next
    id = substr($0, RSTART + 14, RLENGTH - 15)
    if (e == "request_received") start[id] = t
    if (e == "result_sent" && (id in start)) stay[++n] = t - start[id]
    if (e == "directory_write" && match($0, /"duration_ms":[0-9]+/)) w[++m] = substr($0, RSTART + 14, RLENGTH - 14)
  }
  function report(name, a, k,   i, j, x) {
    for (i = 2; i <= k; i++) { x = a[i]; for (j = i - 1; j >= 1 && a[j] > x; j--) a[j + 1] = a[j]; a[j + 1] = x }
    if (k) printf "  %-44s median %4d ms, p90 %4d ms, max %4d ms (n=%d)\n", name, a[int((k + 1) / 2)], a[int(k * 0.9 + 0.5)], a[k], k
  }
  END {
    print "inside the agent, from its audit trail:"
    report("directory write", w, m)
    report("request_received -> result_sent", stay, n)
  }'
