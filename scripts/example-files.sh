#!/usr/bin/env bash
# Creates the placeholder files that config/wbagent.example.toml names, so that
#     wbagent check-config --config config/wbagent.example.toml
# exits 0. Usage: scripts/example-files.sh [DIR]   (DIR defaults to the example's directory,
# config/). The example's relative paths resolve against the directory of the config file,
# so DIR must be the directory that holds the copy of the example you check.
#
# The certificates are throwaway self-signed P-256 certificates: syntactically valid, trusted
# by nothing. The password file and the private key are created mode 0600, as the agent
# requires of secret files. Existing files are kept (and secret ones re-chmodded), so the
# script is safe to re-run. The generated names are in .gitignore.
set -euo pipefail

script_dir=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
dir=${1:-"$script_dir/../config"}
mkdir -p -- "$dir"
dir=$(cd -- "$dir" && pwd)

# Secrets are never group/other-readable, not even for a moment.
umask 077

# make_cert FILE CN [KEYFILE]: a self-signed certificate; its key goes to KEYFILE, or is
# discarded when there is none. A certificate and key are remade together when either is
# missing, so they always match.
make_cert() {
  local file=$1 cn=$2 keyfile=${3:-}
  if [ -e "$dir/$file" ] && { [ -z "$keyfile" ] || [ -e "$dir/$keyfile" ]; }; then return; fi
  local tmpkey
  tmpkey=$(mktemp "$dir/.example-key.XXXXXX")
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -subj "/CN=$cn" -days 3650 -keyout "$tmpkey" -out "$dir/$file" 2>/dev/null
  chmod 0644 "$dir/$file"  # a certificate is public
  echo "created $dir/$file"
  if [ -n "$keyfile" ]; then
    mv -f -- "$tmpkey" "$dir/$keyfile"
    echo "created $dir/$keyfile"
  else
    rm -f -- "$tmpkey"
  fi
}

make_cert cloud-ca.pem "wbagent example cloud CA"
make_cert corp-ca.pem "wbagent example AD CA"
make_cert research-ca.pem "wbagent example OpenLDAP CA"
make_cert research-client.pem "wbagent-hq-01" research-client.key

if [ ! -e "$dir/corp-bind.password" ]; then
  # A random placeholder: the example binds to no real directory.
  openssl rand -base64 24 > "$dir/corp-bind.password"
  echo "created $dir/corp-bind.password"
fi

chmod 0600 -- "$dir/corp-bind.password" "$dir/research-client.key"
