#!/usr/bin/env bash
# The suite against the newest releases of every dependency, ignoring requirements/test.lock:
#   ./scripts/test-latest.sh     (extra arguments go to pytest)
# A separate, non-blocking check: it tells early that a new release (of PyYAML, the kubernetes
# client, ruff, mypy…) changes something, before the lock is refreshed. It builds its own virtual
# environment (SVCDOCTOR_LATEST_VENV, default $TMPDIR/svcdoctor-test-latest, outside the checkout)
# and runs scripts/test.sh in it: the same system packages, ruff, mypy and pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${SVCDOCTOR_LATEST_VENV:-${TMPDIR:-/tmp}/svcdoctor-test-latest}"
python3 -m venv --clear "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade --upgrade-strategy eager -e '.[test]'

normalise() { awk -F'==' '{ name = tolower($1); gsub(/[-_.]+/, "-", name); print name "==" $2 }' | sort; }
echo "releases that differ from requirements/test.lock:"
comm -13 <(grep -E '^[A-Za-z0-9]' requirements/test.lock | cut -d' ' -f1 | normalise) \
         <("$venv/bin/python" -m pip freeze --disable-pip-version-check --exclude-editable | normalise) \
  | sed 's/^/  /'

PATH="$venv/bin:$PATH" SVCDOCTOR_SKIP_INSTALL=1 exec ./scripts/test.sh "$@"
