#!/usr/bin/env bash
# A full password-reset round trip on this machine, with throwaway servers:
# a directory (OpenLDAP slapd, or with --ad a Samba AD domain controller), the reference cloud
# endpoint wbcloud, and wbagent registered with it. Four requests go through the cloud:
#   1. a self-service reset           2. a reset that also unlocks a locked-out user
#   3. "change password at next logon" 4. a reset the directory's own policy refuses
# Each result is shown, the new password is proven with an LDAP bind, and the audit trail is
# printed and verified. Everything the demo starts is stopped when it ends or is interrupted.
#
#   scripts/demo.sh          against OpenLDAP (no root needed after the install step)
#   scripts/demo.sh --ad     against Samba AD (needs root: the DC runs in a network namespace)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
server=slapd
case "${1:-}" in
  --ad) server=samba ;;
  "") ;;
  *) echo "usage: scripts/demo.sh [--ad]" >&2; exit 2 ;;
esac

bold=$(tput bold 2>/dev/null || true)
normal=$(tput sgr0 2>/dev/null || true)
step() { printf '\n%s==> %s%s\n' "$bold" "$*" "$normal"; }

step "Installing dependencies and building"
"$root/scripts/install-deps.sh"
build="$root/build"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" --target wbagent wbcloud wb-test-dirserver
wbagent="$build/agent/wbagent"
wbcloud="$build/tools/wbcloud/wbcloud"

work=$(mktemp -d /tmp/wbdemo.XXXXXX)
pids=()
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
"$wbagent" register --config "$work/wbagent.toml" --token "$token"

step "Starting wbagent"
"$wbagent" run --config "$work/wbagent.toml" >"$work/agent.log" 2>&1 &
pids+=($!)
wait_for "wbagent to connect" grep -q "connected to the cloud" "$work/agent.log" \
  || { cat "$work/agent.log"; exit 1; }
echo "wbagent is connected"

user_dn() { printf "$WB_USER_DN_FMT" "$1"; }
# A bind as the user, with the password from a file (never on a command line).
bind_as() {
  local user=$1 password=$2
  printf '%s' "$password" >"$work/bind.pw"
  chmod 600 "$work/bind.pw"
  LDAPTLS_CACERT="$WB_CA_FILE" ldapsearch -LLL -x -H "$WB_LDAPS_URL" -D "$(user_dn "$user")" \
    -y "$work/bind.pw" -b "$(user_dn "$user")" -s base dn >/dev/null 2>&1
}
submit() {
  local password=$1
  shift
  printf '%s' "$password" | "$wbcloud" submit --state "$work/cloud" --kind "$WB_USER_KIND" \
    --requester-type self --verified-by sms --password-file - --wait --timeout 60 "$@"
}

step "1. Self-service reset for alice"
submit 'Demo-Reset-Pass-1' --user alice --requester alice --op reset || true
bind_as alice 'Demo-Reset-Pass-1' && echo "proof: alice binds with her new password"

step "2. Reset with unlock for bob, who is locked out"
for _ in 1 2 3 4 5; do bind_as bob 'not-his-password' || true; done
echo "bob has been locked out by five bad passwords"
submit 'Demo-Unlock-Pass-2' --user bob --requester bob --op reset --unlock || true
bind_as bob 'Demo-Unlock-Pass-2' && echo "proof: bob is unlocked and binds with his new password"

step "3. Require carol to change her password at next logon"
"$wbcloud" submit --state "$work/cloud" --kind "$WB_USER_KIND" --user carol \
  --requester helpdesk@example.test --requester-type admin --verified-by fido2 \
  --op require-change --wait --timeout 60 || true

step "4. A reset the directory's password policy refuses (too short)"
submit 'short' --user dave --requester dave --op reset \
  && echo "unexpected: the directory accepted it" \
  || echo "refused by the directory, as it should be; nothing was written"

step "The audit trail (wbagent audit query)"
"$wbagent" audit query --config "$work/wbagent.toml"

step "Verifying the audit trail (wbagent audit verify)"
"$wbagent" audit verify --config "$work/wbagent.toml"

step "Done: stopping everything the demo started"
