#!/usr/bin/env bash
# The one command that sets up a fresh machine and runs svcdoctor's whole test suite:
#   ./scripts/test.sh            (extra arguments go to pytest)
# As root it installs the system packages the data-plane, DNS and live tests need. Python packages
# come from the committed lock, so every machine tests the same releases; ruff and mypy must be
# clean before pytest runs. scripts/test-latest.sh runs the same suite against the newest releases.
set -euo pipefail
cd "$(dirname "$0")/.."

# The system packages, as command:package pairs (a package is installed when its command is missing).
SYSTEM_PACKAGES=(
  iptables-restore:iptables
  nft:nftables
  dnsmasq:dnsmasq-base
  ip:iproute2
  ipvsadm:ipvsadm
  chromium:chromium
  chromedriver:chromium-driver
  promtool:prometheus
)

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  missing=()
  for pair in "${SYSTEM_PACKAGES[@]}"; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "installing system packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
fi

if [ "${SVCDOCTOR_SKIP_INSTALL:-}" != 1 ]; then  # set by scripts/test-latest.sh, which installs its own
  python3 -m pip install -q --disable-pip-version-check -r requirements/test.lock
  python3 -m pip install -q --disable-pip-version-check --no-deps -e .
fi

python3 -m ruff check .
python3 -m mypy   # the files are listed in pyproject.toml, [tool.mypy]
# pytest's own exit code, so "no tests collected" (5) fails as well as a failing test (1).
exec python3 -m pytest "$@"
