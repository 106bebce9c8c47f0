#!/usr/bin/env bash
# Refresh requirements/test.lock: the newest releases on PyPI that satisfy pyproject.toml's ranges
# (runtime dependencies and the `test` extra), pinned with their hashes, for Python ≥ 3.11 on any
# platform. Needs uv (`pip install uv`). Only PyPI is asked (--no-config, --index-url): no local
# index or pip configuration of this machine can leak into the lock.
#   ./scripts/lock.sh                          everything to its newest release
#   ./scripts/lock.sh --upgrade-package NAME   (instead of --upgrade) one package, the rest kept
set -euo pipefail
cd "$(dirname "$0")/.."
command="uv pip compile pyproject.toml --extra test --universal --python-version 3.11 --generate-hashes \
--no-config --index-url https://pypi.org/simple --output-file requirements/test.lock"
if [ "$#" -eq 0 ]; then set -- --upgrade; fi
exec $command --quiet --custom-compile-command "./scripts/lock.sh   (pip install uv; it runs: $command --upgrade)" "$@"
