#!/usr/bin/env bash
# The agent under load against its ceiling, in one run (issue #18, item 3). Against a
# throwaway directory (slapd, or the Samba DC with --ad) with U users it measures:
#   - the baseline: the agent's exact directory work on raw libldap (build/bench/ldap_baseline,
#     4 persistent LDAPS connections, the agent's pool_size): throughput, p50/p99, and the CPU
#     per request of the LDAP client (its own getrusage) and of the directory (/proc);
#   - the agent, driven by `wbcloud load` (the cloud for the run, pre-sealed resets, nothing on
#     disk per request): a closed loop at the agent's credits, then open loops at each offered
#     rate, with latency from the scheduled send and whether the agent keeps up;
#   - the CPU ms per request of each process (agent, directory, cloud client), from
#     /proc/PID/stat utime+stime before and after each phase (the directory: its whole process
#     tree; the cloud client: wbcloud load's own getrusage over its run, sealing excluded);
#   - the ceiling = cores / (CPU per request of cloud client + directory + LDAP client), and
#     the agent's closed-loop throughput as a ratio of it;
#   - the latency the agent adds: its p50/p99 minus the baseline's;
#   - the agent's RSS and PSS (/proc/PID/smaps_rollup) idle and under load (the largest seen,
#     sampled every 0.5 s during the closed loop);
#   - idle wakeups per second over --idle-seconds (60) while connected to `wbcloud serve`:
#     the growth of voluntary context switches summed over the agent's threads
#     (/proc/PID/task/*/status). Each voluntary switch is a thread going to sleep, and each sleep
#     ends in exactly one wakeup, so this counts wakeups without perf or its privileges.
# It prints a summary, writes JSON (--out, default ./load-slapd.json or ./load-ad.json) and, when
# gnuplot is installed, a PNG beside it: latency p50/p99 against offered load, the agent and
# the baseline. Machines here are shared and noisy: compare the ratios of one run.
#
# --retained R first fills the agent's queue with R finished requests (build/bench/scale_bench
# --fill-queue), as a week's retention leaves it: a real agent's indexes are that large, and
# what a request costs the store grows with them. The default, 0, starts from an empty queue.
#
#   bench/load.sh [--ad] [--requests N] [--users U] [--rates "100 300 1000"] [--retained R]
#                 [--open-seconds S] [--idle-seconds S] [--out FILE.json] [--no-build]
# Needs a build in build/ (or WB_BUILD_DIR).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build="${WB_BUILD_DIR:-$root/build}"
server=slapd
requests=2000
users=500
rates="100 300 1000"
open_seconds=5
idle_seconds=60
retained=0
out=""
do_build=1
usage() {
  echo "usage: bench/load.sh [--ad] [--requests N] [--users U] [--rates \"R1 R2 ...\"]" \
    "[--retained R] [--open-seconds S] [--idle-seconds S] [--out FILE.json] [--no-build]" >&2
  exit 2
}
# Decimal, without leading zeros (bash would read 08 as octal, and JSON would not read it).
positive() { [[ "$2" =~ ^[1-9][0-9]*$ ]] || { echo "bench/load.sh: $1 needs a positive integer, not \"$2\"" >&2; exit 2; }; }
while (($#)); do
  case "$1" in
    --ad) server=samba; shift ;;
    --requests) positive "$1" "${2:-}"; requests=$2; shift 2 ;;
    --users) positive "$1" "${2:-}"; users=$2; shift 2 ;;
    --rates) rates=${2:-}; for r in $rates; do positive "$1" "$r"; done; shift 2 ;;
    --open-seconds) positive "$1" "${2:-}"; open_seconds=$2; shift 2 ;;
    --retained) [[ "${2:-}" =~ ^(0|[1-9][0-9]*)$ ]] || { echo "bench/load.sh: --retained needs a count, not \"${2:-}\"" >&2; exit 2; }; retained=$2; shift 2 ;;
    --idle-seconds) positive "$1" "${2:-}"; idle_seconds=$2; shift 2 ;;
    --out) [[ -n "${2:-}" ]] || usage; out=$2; shift 2 ;;
    --no-build) do_build=0; shift ;;
    *) usage ;;
  esac
done
# The baseline gives each of its 4 connections users of its own.
((users >= 4)) || { echo "bench/load.sh: --users needs at least 4 (the baseline's 4 connections)" >&2; exit 2; }
kind_name=$([[ $server == samba ]] && echo ad || echo slapd)
out=${out:-$PWD/load-$kind_name.json}
png=${out%.json}.png

if ((do_build)); then
  cmake --build "$build" --target wbagent wbcloud wb-test-dirserver ldap_baseline scale_bench >/dev/null
fi
wbcloud="$build/tools/wbcloud/wbcloud"
wbagent="$build/agent/wbagent"
work=$(mktemp -d /tmp/wbload.XXXXXX)
pids=()
cleanup() {
  trap '' INT TERM  # a second signal must not cut the cleanup short
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill -TERM "${pids[i]}" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
trap 'echo "bench/load.sh: failed at line $LINENO" >&2' ERR
wait_for() { for _ in $(seq 1200); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done; return 1; }
fail() { echo "bench/load.sh: $*" >&2; exit 1; }

hz=$(getconf CLK_TCK)
cores=$(nproc)
# CPU ms (utime + stime) of PID and, with "tree", of all its descendants.
cpu_ms() {
  local pid=$1 tree=${2:-}
  # cat, not awk on the files: a process that ends between the glob and the read is skipped.
  { cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk -v root="$pid" -v tree="$tree" -v hz="$hz" '
    {
      # The command name may hold spaces: fields are counted after its closing parenthesis.
      p = $1; line = $0; sub(/^.*\) /, "", line); split(line, f, " ")
      parent[p] = f[2]; ticks[p] = f[12] + f[13]
    }
    END {
      for (p in ticks) {
        q = p
        while (tree == "tree" && q != "" && q != root && q != "0" && q != "1") q = parent[q]
        if (p == root || (tree == "tree" && q == root)) total += ticks[p]
      }
      printf "%.0f\n", total * 1000 / hz
    }'
}
# CPU ms of the agent's threads by what they do: "intake workers channel other". The intake is
# one thread, so its share per request bounds the agent's throughput on its own.
thread_ms() {
  { cat /proc/"$1"/task/[0-9]*/stat 2>/dev/null || true; } | awk -v hz="$hz" '
    {
      name = $0; sub(/^[^(]*\(/, "", name); sub(/\).*$/, "", name)
      line = $0; sub(/^.*\) /, "", line); split(line, f, " ")
      t = f[12] + f[13]
      if (name == "wb-intake") intake += t
      else if (name ~ /^wb-worker-/) workers += t
      else if (name == "wb-channel") channel += t
      else other += t
    }
    END { printf "%.0f %.0f %.0f %.0f\n", intake * 1000 / hz, workers * 1000 / hz, channel * 1000 / hz, other * 1000 / hz }'
}
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
pss_kb() { awk '/^Pss:/ { print $2; exit }' "/proc/$1/smaps_rollup"; }
# Where the RSS is, in kB: "binary libraries anonymous other-files", then the four largest
# libraries as name=kB. Anonymous: mappings of no file ([heap], thread stacks, [anon:...]);
# other files: the queue's -shm, locale data and the like. Shared libraries' pages are shared
# with every process that maps them (PSS counts them once across processes); what the agent
# costs alone is the anonymous part.
rss_parts() {
  local exe
  exe=$(readlink "/proc/$1/exe")
  awk -v exe="$exe" '
    /^[0-9a-f]+-[0-9a-f]+ / { path = (NF >= 6) ? $6 : ""; next }
    /^Rss:/ {
      if (path == exe) bin += $2
      else if (path ~ /\.so/) { lib += $2; n = path; sub(/.*\//, "", n); sub(/\.so.*/, "", n); per[n] += $2 }
      else if (path == "" || path ~ /^\[/) anon += $2
      else files += $2
    }
    END {
      printf "%d %d %d %d", bin, lib, anon, files
      for (k = 0; k < 4; k++) {
        best = ""; for (n in per) if (best == "" || per[n] > per[best]) best = n
        if (best == "") break
        printf " %s=%d", best, per[best]; delete per[best]
      }
      printf "\n"
    }' "/proc/$1/smaps"
}
switches() { cat /proc/"$1"/task/*/status 2>/dev/null | awk '/^voluntary_ctxt_switches:/ { n += $2 } END { print n + 0 }'; }
# A number from a JSON object printed on one line: jnum FILE KEY [INNER_OBJECT].
jnum() {
  local text
  text=$(cat "$1")
  if [[ -n "${3:-}" ]]; then text=$(grep -o "\"$3\":{[^}]*}" <<<"$text" || true); fi
  grep -o "\"$2\":[-0-9.eE+]*" <<<"$text" | head -1 | cut -d: -f2
}
calc() { awk "BEGIN { printf \"%.4f\", $1 }"; }

# The directory, with the bench's users.
mkdir -p "$work/directory"
"$build/tests/support/wb-test-dirserver" "$server" --out "$work/directory" --users "$users" \
  >"$work/dir.log" 2>&1 &
dir_pid=$!
pids+=("$dir_pid")
wait_for test -e "$work/directory/ready" || fail "the directory did not start: $(tail -5 "$work/dir.log")"
# shellcheck source=/dev/null
source "$work/directory/directory.env"
conf() { sed -n "s/^$1 = \"\\(.*\\)\"/\\1/p" "$work/directory/directory.toml"; }
baseline_kind=$([[ $server == samba ]] && echo ad || echo openldap)

# 1. The baseline, and the directory's CPU per request under it.
user_list=$(paste -sd, "$work/directory/users")
dir_before=$(cpu_ms "$dir_pid" tree)
"$build/bench/ldap_baseline" --url "$WB_LDAPS_URL" --ca-file "$WB_CA_FILE" --bind-dn "$(conf bind_dn)" \
  --bind-password-file "$(conf bind_password_file)" --base-dn "$(conf base_dn)" --kind "$baseline_kind" \
  --users "$user_list" --requests "$requests" --json >"$work/baseline.json"
dir_baseline_ms=$(($(cpu_ms "$dir_pid" tree) - dir_before))

# 2. The cloud and the agent; idle measurements while connected to `wbcloud serve`.
"$wbcloud" serve --state "$work/cloud" --listen 127.0.0.1:0 >"$work/cloud.log" 2>&1 &
serve_pid=$!
pids+=("$serve_pid")
wait_for test -S "$work/cloud/admin.sock" -a -s "$work/cloud/agent-url" || fail "wbcloud serve did not start"
cat >"$work/wbagent.toml" <<TOML
[agent]
id = "load-agent"
state_dir = "$work/state"
[cloud]
url = "$(cat "$work/cloud/agent-url")"
ca_file = "$work/cloud/ca.pem"
$(cat "$work/directory/directory.toml")
[log]
level = "warn"
format = "json"
TOML
"$wbagent" register --config "$work/wbagent.toml" \
  --token "$("$wbcloud" token create --state "$work/cloud")" >/dev/null
if ((retained > 0)); then
  "$build/bench/scale_bench" --fill-queue "$work/state" --retained "$retained" >"$work/fill.log" 2>&1 ||
    fail "filling the queue failed: $(tail -5 "$work/fill.log")"
fi
"$wbagent" run --config "$work/wbagent.toml" >"$work/agent.log" 2>&1 &
agent_pid=$!
pids+=("$agent_pid")
connected() { "$wbcloud" status --state "$work/cloud" --json | grep -q '"connected": true'; }
wait_for connected || fail "the agent did not connect: $(tail -5 "$work/agent.log")"
sleep 2  # past the start-up work (policy summary, first status)
idle_rss=$(rss_kb "$agent_pid")
idle_pss=$(pss_kb "$agent_pid")
read -r idle_bin_kb idle_lib_kb idle_anon_kb idle_files_kb idle_top_libs <<<"$(rss_parts "$agent_pid")"
sw_before=$(switches "$agent_pid")
sleep "$idle_seconds"
idle_wakeups=$(calc "($(switches "$agent_pid") - $sw_before) / $idle_seconds")
kill -TERM "$serve_pid"
wait "$serve_pid" || true

# 3. The agent under `wbcloud load`: one run per phase. The agent reconnects to each.
peak_rss=0
peak_pss=0
sample_memory() {  # while PID runs: the agent's largest RSS and PSS, into $work/peak
  local rss pss max_rss=0 max_pss=0
  while kill -0 "$1" 2>/dev/null; do
    rss=$(rss_kb "$agent_pid") pss=$(pss_kb "$agent_pid")
    ((rss > max_rss)) && max_rss=$rss
    ((pss > max_pss)) && max_pss=$pss
    sleep 0.5
  done
  echo "$max_rss $max_pss" >"$work/peak"
}
# run_phase NAME ARGS...: writes $work/NAME.json (wbcloud load's report plus the agent's and
# the directory's CPU over the run).
run_phase() {
  local name=$1
  shift
  local agent_before dir_before2 load_pid code=0 threads_before
  agent_before=$(cpu_ms "$agent_pid")
  threads_before=$(thread_ms "$agent_pid")
  dir_before2=$(cpu_ms "$dir_pid" tree)
  "$wbcloud" load --state "$work/cloud" --users-file "$work/directory/users" --kind "$WB_USER_KIND" \
    --json "$@" >"$work/$name.report" 2>"$work/$name.log" &
  load_pid=$!
  # WB_LOAD_ATTACH="COMMAND": run COMMAND -p AGENT_PID over the closed loop, then stop it with
  # SIGINT: a profile or a syscall count of the agent under load, e.g.
  #   WB_LOAD_ATTACH="perf record -F 999 --call-graph dwarf -o /tmp/agent.perf"
  #   WB_LOAD_ATTACH="perf trace -s -o /tmp/agent.syscalls"
  # It costs the agent CPU: the numbers of such a run are not comparable.
  local perf_pid=""
  if [[ "$name" == closed && -n "${WB_LOAD_ATTACH:-}" ]]; then
    # shellcheck disable=SC2086 # the command is meant to be split into words
    ${WB_LOAD_ATTACH} -p "$agent_pid" >/dev/null 2>&1 &
    perf_pid=$!
  fi
  sample_memory "$load_pid" &
  local sampler=$!
  wait "$load_pid" || code=$?
  wait "$sampler"
  if [[ -n "$perf_pid" ]]; then kill -INT "$perf_pid" && wait "$perf_pid" || true; fi
  [[ -s "$work/$name.report" ]] || fail "wbcloud load ($name) printed nothing: $(tail -5 "$work/$name.log")"
  ((code <= 1)) || fail "wbcloud load ($name) failed: $(tail -5 "$work/$name.log")"
  local agent_ms=$(($(cpu_ms "$agent_pid") - agent_before))
  local threads_after
  threads_after=$(thread_ms "$agent_pid")
  local dir_ms=$(($(cpu_ms "$dir_pid" tree) - dir_before2))
  local answered
  answered=$(jnum "$work/$name.report" answered)
  ((answered > 0)) || answered=1
  local by_thread
  by_thread=$(paste -d' ' <(tr ' ' '\n' <<<"$threads_before") <(tr ' ' '\n' <<<"$threads_after") |
    awk -v n="$answered" 'BEGIN { split("intake workers channel other", k, " ") }
      { v[NR] = ($2 - $1) / n }
      END { for (i = 1; i <= 4; i++) printf "%s\"%s\":%.3f", (i > 1 ? "," : ""), k[i], v[i] }')
  read -r rss pss <"$work/peak"
  ((rss > peak_rss)) && peak_rss=$rss
  ((pss > peak_pss)) && peak_pss=$pss
  printf '{"load":%s,"agent_cpu_ms_per_request":%s,"agent_cpu_ms_per_request_by_thread":{%s},"directory_cpu_ms_per_request":%s}\n' \
    "$(cat "$work/$name.report")" "$(calc "$agent_ms / $answered")" "$by_thread" "$(calc "$dir_ms / $answered")" \
    >"$work/$name.json"
}
run_phase closed --requests "$requests"
open_phases=()
for rate in $rates; do
  run_phase "open-$rate" --rate "$rate" --duration "$open_seconds"
  open_phases+=("open-$rate")
done

# 4. The numbers.
b="$work/baseline.json"
c="$work/closed.json"
b_rate=$(jnum "$b" per_second)
b_p50=$(jnum "$b" p50_ms)
b_p99=$(jnum "$b" p99_ms)
client_ms=$(jnum "$b" cpu_ms_per_request)
dir_ms=$(calc "$dir_baseline_ms / $requests")
cloud_ms=$(jnum "$c" cpu_ms_per_request)
ceiling=$(calc "$cores * 1000 / ($cloud_ms + $dir_ms + $client_ms)")
a_rate=$(jnum "$c" per_second)
a_p50=$(jnum "$c" p50 latency_ms)
a_p99=$(jnum "$c" p99 latency_ms)
open_json=""
for p in "${open_phases[@]}"; do
  open_json+="${open_json:+,}$(cat "$work/$p.json")"
done
cat >"$out" <<JSON
{
  "server": "$kind_name", "cores": $cores, "requests": $requests, "users": $users, "retained": $retained,
  "machine": "$(uname -n)", "date": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
  "baseline": $(cat "$b"),
  "directory_cpu_ms_per_request_baseline": $dir_ms,
  "closed": $(cat "$c"),
  "open": [$open_json],
  "ceiling_per_second": $ceiling,
  "ceiling_inputs_cpu_ms_per_request": {"cloud_client": $cloud_ms, "directory": $dir_ms, "ldap_client": $client_ms},
  "agent_ratio_to_ceiling": $(calc "$a_rate / $ceiling"),
  "agent_ratio_to_baseline": $(calc "$a_rate / $b_rate"),
  "agent_added_latency_ms": {"p50": $(calc "$a_p50 - $b_p50"), "p99": $(calc "$a_p99 - $b_p99")},
  "memory_kb": {"idle_rss": $idle_rss, "idle_pss": $idle_pss, "load_rss": $peak_rss, "load_pss": $peak_pss},
  "idle_rss_kb_by_mapping": {"agent_binary": $idle_bin_kb, "shared_libraries": $idle_lib_kb, "anonymous": $idle_anon_kb, "other_files": $idle_files_kb,
    "largest_libraries": {$(for kv in $idle_top_libs; do printf '%s"%s": %s' "${sep:-}" "${kv%%=*}" "${kv#*=}"; sep=', '; done)}},
  "idle_wakeups_per_second": $idle_wakeups,
  "idle_wakeups_method": "voluntary context switches of all agent threads over $idle_seconds s, connected to wbcloud serve"
}
JSON

printf 'load bench against %s (%d cores, %d users, %s requests, %s finished requests retained; shared machine: compare ratios)\n' \
  "$kind_name" "$cores" "$users" "$requests" "$retained"
printf '  baseline (raw libldap, 4 connections): %8.0f/s  p50 %6.2f ms  p99 %6.2f ms\n' "$b_rate" "$b_p50" "$b_p99"
printf '  agent, closed loop (credits %s):        %8.0f/s  p50 %6.2f ms  p99 %6.2f ms\n' \
  "$(jnum "$c" credits)" "$a_rate" "$a_p50" "$a_p99"
for p in "${open_phases[@]}"; do
  f="$work/$p.json"
  printf '  agent, open loop %5s/s offered:       %8.0f/s  p50 %6.2f ms  p99 %6.2f ms  %s\n' \
    "$(jnum "$f" offered_per_second)" "$(jnum "$f" per_second)" "$(jnum "$f" p50 latency_ms)" \
    "$(jnum "$f" p99 latency_ms)" \
    "$(grep -q '"keeps_up":true' "$f" && echo "keeps up" || echo "falls behind: a backlog grows")"
done
printf '  latency the agent adds (closed loop - baseline): p50 %.2f ms, p99 %.2f ms\n' \
  "$(calc "$a_p50 - $b_p50")" "$(calc "$a_p99 - $b_p99")"
printf '  CPU ms per request: agent %s, directory %s (under the agent) / %s (baseline), cloud client %s, LDAP client %s\n' \
  "$(jnum "$c" agent_cpu_ms_per_request)" "$(jnum "$c" directory_cpu_ms_per_request)" "$dir_ms" "$(calc "$cloud_ms")" "$client_ms"
t=agent_cpu_ms_per_request_by_thread
printf '  agent CPU ms per request by thread: intake %s (one thread: it alone allows %.0f/s), workers %s, channel %s, other %s\n' \
  "$(jnum "$c" intake "$t")" "$(calc "1000 / ($(jnum "$c" intake "$t") + 0.000001)")" "$(jnum "$c" workers "$t")" \
  "$(jnum "$c" channel "$t")" "$(jnum "$c" other "$t")"
printf '  ceiling: %.0f/s (cores / (cloud + directory + LDAP client)); agent at %.3f of it, %.3f of the baseline\n' \
  "$ceiling" "$(calc "$a_rate / $ceiling")" "$(calc "$a_rate / $b_rate")"
printf '  agent memory: idle RSS %.1f MB, PSS %.1f MB; under load RSS %.1f MB, PSS %.1f MB\n' \
  "$(calc "$idle_rss / 1024")" "$(calc "$idle_pss / 1024")" "$(calc "$peak_rss / 1024")" "$(calc "$peak_pss / 1024")"
printf '  idle RSS by mapping: agent binary %.1f MB, shared libraries %.1f MB (largest: %s), anonymous %.1f MB, other files %.1f MB\n' \
  "$(calc "$idle_bin_kb / 1024")" "$(calc "$idle_lib_kb / 1024")" "$(for kv in $idle_top_libs; do printf '%s %.1f, ' "${kv%%=*}" "$(calc "${kv#*=} / 1024")"; done | sed 's/, $//')" \
  "$(calc "$idle_anon_kb / 1024")" "$(calc "$idle_files_kb / 1024")"
printf '  idle wakeups: %s/s over %d s (voluntary context switches, all threads)\n' "$idle_wakeups" "$idle_seconds"
printf '  JSON: %s\n' "$out"

if ! command -v gnuplot >/dev/null; then
  echo "  gnuplot not installed: no PNG"
  exit 0
fi
{
  for p in "${open_phases[@]}"; do
    f="$work/$p.json"
    echo "$(jnum "$f" offered_per_second) $(jnum "$f" p50 latency_ms) $(jnum "$f" p99 latency_ms)"
  done
} >"$work/agent.dat"
gnuplot <<GP
set terminal png size 900,560
set output "$png"
set title "wbagent vs raw libldap ($kind_name): latency against offered load"
set xlabel "offered load (requests/s)"
set ylabel "latency (ms)"
set logscale xy
set key top left
plot "$work/agent.dat" using 1:2 with linespoints title "agent p50 (from scheduled send)", \
     "$work/agent.dat" using 1:3 with linespoints title "agent p99 (from scheduled send)", \
     $b_p50 with lines dashtype 2 title sprintf("baseline p50 (closed loop, %.0f/s)", $b_rate), \
     $b_p99 with lines dashtype 3 title "baseline p99"
GP
printf '  PNG: %s\n' "$png"
