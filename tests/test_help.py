"""``--help`` as a new user reads it, and the installed console scripts as a shell runs them."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, require, run_cli

DEMO = str(ROOT / "svcdoctor" / "data" / "demo-snapshot.yaml")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _commands() -> Iterator[tuple[str, ...]]:
    """Every command and group of the app, as the words that name it."""
    from typer.main import get_command

    from svcdoctor.cli.root import app

    def walk(command: Any, words: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
        yield words
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            yield from walk(sub, (*words, name))

    yield from walk(get_command(app), ())


COMMANDS = list(_commands())


@pytest.mark.parametrize("words", COMMANDS, ids=lambda words: " ".join(words) or "svcdoctor")
def test_help_names_values_not_python_types(words: tuple[str, ...], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    result = run_cli(*words, "--help")
    assert result.exit_code == 0, result.stderr
    text = result.stdout
    assert not re.search(r"<(str|bool|int|float|list\[[a-z]+\])>", text), text
    usage = next(line for line in text.splitlines() if "Usage:" in line)
    assert "{" not in usage and "[[" not in usage, usage
    assert [line for line in text.splitlines() if line != line.rstrip()] == [], "lines padded with spaces"


def test_usage_lines_and_value_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "120")
    check = run_cli("check", "--help").stdout
    assert "Usage: svcdoctor check [OPTIONS] NAME\n" in check
    assert re.search(r"--snapshot +-f +FILE +A recorded snapshot", check)
    assert re.search(r"--verbose +-v +Every finding in full", check)  # a switch takes no value
    assert "Usage: svcdoctor diff [OPTIONS] BEFORE AFTER [NAME]\n" in run_cli("diff", "--help").stdout
    assert "Usage: svcdoctor explain [OPTIONS] CHECK\n" in run_cli("explain", "--help").stdout
    scan = run_cli("scan", "--help").stdout
    assert "The namespace to scan" in scan and "Namespace of the Service" not in scan


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_help_on_a_terminal_keeps_its_colours_without_padding(monkeypatch: pytest.MonkeyPatch) -> None:
    from svcdoctor.cli import run

    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.delenv("NO_COLOR", raising=False)
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stdout", terminal)
    assert run(["check", "--help"]) == 0
    text = terminal.getvalue()
    assert ANSI.search(text), "no colour on a terminal"
    plain = ANSI.sub("", text)
    assert "Usage: svcdoctor check [OPTIONS] NAME" in plain
    assert [line for line in plain.splitlines() if line != line.rstrip()] == []


@pytest.mark.parametrize("script", ["svcdoctor", "kubectl-svcdoctor"])
def test_the_installed_script_takes_kubectl_flags_before_the_subcommand(script: str) -> None:
    """Not through the test helper: the console script a shell runs, as kubectl users type it."""
    path = Path(sys.executable).parent / script
    require(path.exists(), f"{path} is not installed (pip install -e .)")
    result = subprocess.run([str(path), "-n", "shop", "-o", "json", "check", "backend", "--snapshot", DEMO],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "-o" in result.stderr  # not a global flag
    result = subprocess.run([str(path), "-n", "shop", "check", "backend", "--snapshot", DEMO, "-o", "json"],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 1, result.stderr  # the demo's Service is unreachable
    report = json.loads(result.stdout)
    assert report["target"] == {"namespace": "shop", "name": "backend"}
    assert report["rootCause"] == "SD301"


def test_from_help_names_a_service_among_the_client_types() -> None:
    """`--from svc/NAME` picks a ready Pod of the Service; the help says so beside deploy/NAME."""
    assert "svc/web" in " ".join(run_cli("check", "--help").stdout.split())
