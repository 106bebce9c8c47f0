"""Shared test helpers: run the CLI in-process, the --update switch for golden files."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "fixtures" / "scenarios"
# ../shared/oracles from the main checkout; ../../shared/oracles from a worktree under /work/wt.
ORACLES = next((p for p in (ROOT.parent / "shared" / "oracles", ROOT.parent.parent / "shared" / "oracles")
                if p.exists()), ROOT.parent / "shared" / "oracles")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update", action="store_true", default=False,
                     help="rewrite expected files (scenario expected.json, golden outputs) from actual output")


@pytest.fixture
def update(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update"))


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


@contextmanager
def _captured(stdin: str | bytes | None) -> Iterator[tuple[io.StringIO, io.StringIO]]:
    old = sys.stdin, sys.stdout, sys.stderr
    out, err = io.StringIO(), io.StringIO()
    if stdin is not None:
        data = stdin.encode() if isinstance(stdin, str) else stdin
        sys.stdin = io.TextIOWrapper(io.BytesIO(data))
    sys.stdout, sys.stderr = out, err
    try:
        yield out, err
    finally:
        sys.stdin, sys.stdout, sys.stderr = old


def run_cli(*args: str, stdin: str | bytes | None = None) -> CliResult:
    """Run ``svcdoctor ARGS`` in-process and capture its exit code and output."""
    from svcdoctor.cli import run

    with _captured(stdin) as (out, err):
        code = run(list(args))
    return CliResult(code, out.getvalue(), err.getvalue())


@pytest.fixture
def cli() -> Any:
    return run_cli


def in_ci() -> bool:
    """True in CI (CI=true): tests that cannot run there must fail, not skip."""
    import os

    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require(condition: bool, reason: str) -> None:
    """Skip locally, but fail in CI, when a test's environment is missing (root, netns, kubectl…)."""
    if condition:
        return
    if in_ci():
        pytest.fail(f"CI must run this test, but: {reason}")
    pytest.skip(reason)

