#!/usr/bin/env bash
# The one command that sets up a fresh machine and runs svcdoctor's whole test suite:
#   ./scripts/test.sh            (extra arguments go to pytest)
# As root it installs the system packages the data-plane, DNS and live tests need.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  missing=()
  for pair in iptables-restore:iptables nft:nftables dnsmasq:dnsmasq-base ip:iproute2 ipvsadm:ipvsadm; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "installing system packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
fi

python3 -m pip install -q --disable-pip-version-check -e '.[test]'
exec python3 -m pytest "$@"
