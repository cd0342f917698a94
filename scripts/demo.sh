#!/usr/bin/env bash
# A full password-reset round trip on this machine, with throwaway servers:
# a directory (OpenLDAP slapd, or with --ad a Samba AD domain controller), the reference cloud
# endpoint wbcloud, and wbagent registered with it. Four requests go through the cloud:
#   1. a self-service reset           2. a reset that also unlocks a locked-out user
#   3. "change password at next logon" 4. a reset the directory's own policy refuses
# Each result is checked against the directory itself (the proofs below), then `wbagent status`
# and `wbagent audit query` show what an operator and an auditor see, and the trail is
# verified. The demo exits 1 when any proof does not hold. Everything it starts is stopped
# when it ends or is interrupted.
#
#   scripts/demo.sh [-j N]        against OpenLDAP (no root needed after the install step)
#   scripts/demo.sh --ad [-j N]   against Samba AD (needs root: the DC runs in a network namespace)
#
# -j N is passed to `cmake --build`. Environment:
#   WB_DEMO_BUILD_DIR=DIR  use the binaries already built in DIR: install and build nothing
#                          (what demo_test does, so that it does not build a second tree)
#   WB_DEMO_BREAK=PROOF    check PROOF against a wrong expected value, to see the demo fail:
#                          outcome, new-password, old-password, locked, unlocked, must-change,
#                          policy-code, unchanged, audit (demo_broken_proof_test uses it)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
server=slapd
jobs=()
usage() { echo "usage: scripts/demo.sh [--ad] [-j N]" >&2; exit 2; }
while (($#)); do
  case "$1" in
    --ad) server=samba ;;
    -j) (($# >= 2)) || usage; jobs=(-j "$2"); shift ;;
    -j*) jobs=(-j "${1#-j}") ;;
    *) usage ;;
  esac
  shift
done
breaking=${WB_DEMO_BREAK:-}

bold=$(tput bold 2>/dev/null || true)
normal=$(tput sgr0 2>/dev/null || true)
step() { printf '\n%s==> %s%s\n' "$bold" "$*" "$normal"; }

if [[ -n ${WB_DEMO_BUILD_DIR:-} ]]; then
  build=$(cd "$WB_DEMO_BUILD_DIR" && pwd)
  step "Using the binaries built in $build"
else
  step "Installing dependencies and building"
  "$root/scripts/install-deps.sh"
  build="$root/build"
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$build" "${jobs[@]}" --target wbagent wbcloud wb-test-dirserver
fi
wbagent="$build/agent/wbagent"
wbcloud="$build/tools/wbcloud/wbcloud"

work=$(mktemp -d /tmp/wbdemo.XXXXXX)
pids=()
failed=()
cleanup() {
  local status=$?
  trap '' INT TERM  # a second Ctrl-C must not cut the cleanup short
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill -TERM "${pids[i]}" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Polls (no busy loop: 0.1 s apart) until the command succeeds or 60 s pass.
wait_for() {
  local what=$1
  shift
  for _ in $(seq 600); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  echo "demo: timed out waiting for $what" >&2
  return 1
}

# prove NAME TEXT COMMAND...: the proof holds when COMMAND succeeds. A proof that does not hold
# is reported at once and fails the demo at the end.
prove() {
  local name=$1 text=$2
  shift 2
  if "$@"; then
    echo "proof ($name): $text"
  else
    echo "PROOF FAILED ($name): $text does not hold" >&2
    failed+=("$name")
  fi
}
# The expected value for proof NAME: `right`, or with WB_DEMO_BREAK=NAME a wrong one.
expected() {
  local name=$1 right=$2
  if [[ $breaking == "$name" ]]; then printf '%s-deliberately-wrong' "$right"; else printf '%s' "$right"; fi
}

step "Starting a throwaway directory ($server)"
mkdir -p "$work/directory"
"$build/tests/support/wb-test-dirserver" "$server" --out "$work/directory" \
  >"$work/directory.log" 2>&1 &
pids+=($!)
wait_for "the directory" test -e "$work/directory/ready" || { cat "$work/directory.log"; exit 1; }
# shellcheck source=/dev/null
source "$work/directory/directory.env"
echo "$WB_DIR_KIND directory at $WB_LDAPS_URL"

step "Starting the reference cloud endpoint (wbcloud)"
"$wbcloud" serve --state "$work/cloud" --listen 127.0.0.1:0 >"$work/cloud.log" 2>&1 &
pids+=($!)
wait_for "wbcloud" test -S "$work/cloud/admin.sock" -a -s "$work/cloud/agent-url" || { cat "$work/cloud.log"; exit 1; }
echo "cloud at $(cat "$work/cloud/agent-url")"

step "Configuring and registering wbagent with a one-time token"
cat >"$work/wbagent.toml" <<TOML
[agent]
id = "demo-agent"
state_dir = "$work/agent-state"

[cloud]
url = "$(cat "$work/cloud/agent-url")"
ca_file = "$work/cloud/ca.pem"

$(cat "$work/directory/directory.toml")

[log]
format = "text"
TOML
"$wbagent" check-config --config "$work/wbagent.toml"
token=$("$wbcloud" token create --state "$work/cloud")
"$wbagent" register --config "$work/wbagent.toml" --token-file - <<<"$token"

step "Doctor first: a read-only preflight of the agent, the cloud and the directory (wbagent doctor)"
"$wbagent" doctor --config "$work/wbagent.toml" || echo "(wbagent doctor found a problem: the lines with ✗ say what to do)"

step "Starting wbagent"
"$wbagent" run --config "$work/wbagent.toml" >"$work/agent.log" 2>&1 &
pids+=($!)
wait_for "wbagent to connect" grep -q "connected to the cloud" "$work/agent.log" \
  || { cat "$work/agent.log"; exit 1; }
echo "wbagent is connected"

# shellcheck disable=SC2059  # the format is the DN pattern the directory server wrote
user_dn() { printf "$WB_USER_DN_FMT" "$1"; }
initial_password() { local v="WB_INITIAL_PASSWORD_$1"; printf '%s' "${!v}"; }
# A bind as the user, with the password from a file (never on a command line).
bind_as() {
  local user=$1 password=$2
  printf '%s' "$password" >"$work/bind.pw"
  chmod 600 "$work/bind.pw"
  LDAPTLS_CACERT="$WB_CA_FILE" ldapsearch -LLL -x -H "$WB_LDAPS_URL" -D "$(user_dn "$user")" \
    -y "$work/bind.pw" -b "$(user_dn "$user")" -s base dn >/dev/null 2>&1
}
cannot_bind_as() { ! bind_as "$@"; }
# The values of one attribute of a user, read as the directory's administrator.
attribute() {
  local user=$1 name=$2
  LDAPTLS_CACERT="$WB_CA_FILE" ldapsearch -LLL -o ldif-wrap=no -x -H "$WB_LDAPS_URL" \
    -D "$WB_ADMIN_DN" -y "$work/directory/admin.password" -b "$(user_dn "$user")" -s base \
    "$name" | sed -n "s/^$name: //p"
}
# Locked: the lockout attribute is present and not 0 (AD keeps lockoutTime: 0 once unlocked).
is_locked() {
  local value
  value=$(attribute "$1" "$WB_LOCKOUT_ATTR")
  [[ -n $value && $value != 0 ]]
}
is_unlocked() {
  [[ $breaking == unlocked ]] && return 1  # the wrong expectation: still locked
  ! is_locked "$1"
}
is_locked_expecting() {
  [[ $breaking == locked ]] && return 1  # the wrong expectation: not locked
  is_locked "$1"
}
has_value() { [[ $(attribute "$1" "$2") == "$3" ]]; }
# For the text of a proof: the attribute's value, or "none".
shown() {
  local value
  value=$(attribute "$1" "$2" || true)
  printf '%s: %s' "$2" "${value:-none}"
}
# The outcome of the last submit, from wbcloud's JSON.
outcome() { sed -n 's/.*"outcome": *"\([^"]*\)".*/\1/p' "$work/submit.out" | head -n 1; }
submit() {
  local password=$1
  shift
  printf '%s' "$password" | "$wbcloud" submit --state "$work/cloud" --kind "$WB_USER_KIND" \
    --requester-type self --verified-by sms --password-file - --wait --timeout 60 "$@" \
    | tee "$work/submit.out" || true
}

step "1. Self-service reset for alice"
new_alice='Demo-Reset-Pass-1'
submit "$new_alice" --user alice --requester alice --op reset
prove outcome "the cloud reports alice's reset as succeeded" test "$(outcome)" = "$(expected outcome succeeded)"
prove new-password "alice binds with her new password" \
  bind_as alice "$(expected new-password "$new_alice")"
old_alice=$(initial_password alice)
[[ $breaking == old-password ]] && old_alice=$new_alice  # the wrong expectation
prove old-password "alice's old password no longer binds" cannot_bind_as alice "$old_alice"

step "2. Reset with unlock for bob, who is locked out"
for _ in 1 2 3 4 5; do bind_as bob 'not-his-password' || true; done
prove locked "bob is locked out by five bad passwords ($(shown bob "$WB_LOCKOUT_ATTR"))" \
  is_locked_expecting bob
prove locked "while locked, even bob's right password does not bind" \
  cannot_bind_as bob "$(initial_password bob)"
new_bob='Demo-Unlock-Pass-2'
submit "$new_bob" --user bob --requester bob --op reset --unlock
prove outcome "the cloud reports bob's reset and unlock as succeeded" test "$(outcome)" = "$(expected outcome succeeded)"
prove unlocked "bob's lockout is cleared ($(shown bob "$WB_LOCKOUT_ATTR"))" \
  is_unlocked bob
prove new-password "bob binds with his new password" bind_as bob "$(expected new-password "$new_bob")"

step "3. Require carol to change her password at next logon"
"$wbcloud" submit --state "$work/cloud" --kind "$WB_USER_KIND" --user carol \
  --requester helpdesk@example.test --requester-type admin --verified-by fido2 \
  --op require-change --wait --timeout 60 | tee "$work/submit.out" || true
prove outcome "the cloud reports carol's require-change as succeeded" test "$(outcome)" = "$(expected outcome succeeded)"
prove must-change "carol must change her password ($(shown carol "$WB_MUST_CHANGE_ATTR"))" \
  has_value carol "$WB_MUST_CHANGE_ATTR" "$(expected must-change "$WB_MUST_CHANGE_VALUE")"

step "4. A reset the directory's password policy refuses (too short)"
submit 'short' --user dave --requester dave --op reset
prove policy-code "the directory refused it with its policy code $WB_TOO_SHORT_OUTCOME (got $(outcome))" \
  test "$(outcome)" = "$(expected policy-code "$WB_TOO_SHORT_OUTCOME")"
dave_password=$(initial_password dave)
[[ $breaking == unchanged ]] && dave_password='short'  # the wrong expectation
prove unchanged "nothing was written: dave still binds with his old password" \
  bind_as dave "$dave_password"

step "What the operator sees (wbagent status)"
"$wbagent" status --config "$work/wbagent.toml" || true

step "Who reset whose password, when, approved how, with what result (wbagent audit query)"
"$wbagent" audit query --config "$work/wbagent.toml" | tee "$work/audit.out"
# The auditor's answer: each request's line names its target and its outcome.
in_audit() { grep -w -- "$1" "$work/audit.out" | grep -qw -- "$2"; }
for user in alice bob carol; do
  prove audit "the trail shows $user's request and that it succeeded" \
    in_audit "$user" "$(expected audit succeeded)"
done
prove audit "the trail shows dave's request and the directory's refusal" \
  in_audit dave "$(expected audit "$WB_TOO_SHORT_OUTCOME")"

step "Verifying the audit trail (wbagent audit verify)"
prove verify "the trail verifies" "$wbagent" audit verify --config "$work/wbagent.toml"

step "Done: stopping everything the demo started"
if ((${#failed[@]})); then
  echo "demo: FAILED: ${#failed[@]} proof(s) did not hold: ${failed[*]}" >&2
  exit 1
fi
echo "demo: every proof held"
