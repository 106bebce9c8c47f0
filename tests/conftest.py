"""Shared test helpers: run the CLI in-process, the --update switch for golden files, and
:func:`require` / the ``shared`` marker for tests whose environment or data may be missing."""

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
#: The project's ground truth and real-world corpus live beside the checkout, never inside it: a
#: clone without them still runs every other test (see :func:`require_shared`).
SHARED = ROOT.parent / "shared"
ORACLES = SHARED / "oracles"


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    # tryfirst: before pytest's own skip marks, so an empty parameter list (the data was not there
    # to parametrize from) fails in CI too instead of skipping as "got empty parameter set".
    for marker in item.iter_markers("shared"):
        require_shared(*marker.args)


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



def require_shared(*paths: str) -> None:
    """Skip locally, but fail in CI, when data under ../shared that a test reads is not there."""
    for path in paths:
        require((SHARED / path).exists(), f"needs ../shared/{path}, which is not beside this checkout ({SHARED})")


def shared_yaml(path: str, default: Any) -> Any:
    """The YAML document at ../shared/``path`` for parametrizing at collection, ``default`` without it.

    The tests that use it carry ``@pytest.mark.shared(path)``, which skips or fails them.
    """
    import yaml

    file = SHARED / path
    return yaml.safe_load(file.read_text()) if file.is_file() else default
