"""Every text output follows the width it is given ($COLUMNS, else the terminal, else 100): prose is
folded to it, continuation lines stay indented, and commands and YAML are never folded."""

from __future__ import annotations

import pytest

from svcdoctor.checks.registry import CHECKS
from tests.conftest import ROOT, run_cli

DEMO = str(ROOT / "svcdoctor" / "data" / "demo-snapshot.yaml")
SCENARIOS = ROOT / "fixtures" / "scenarios"
CHECK = ("check", "backend", "-n", "shop", "--snapshot", DEMO)
IGNORED = str(SCENARIOS / "manifests-ignore-annotation" / "manifests" / "ledger.yaml")


def _commands() -> set[str]:
    report = run_cli(*CHECK, "-o", "json").json()
    return {command for finding in report["findings"] for command in finding["next"]}


def _too_wide(text: str, width: int, whole: set[str]) -> list[str]:
    """Lines wider than ``width`` that are not a command printed whole after its label."""
    return [line for line in text.splitlines()
            if len(line) > width and line.split("  ")[-1].strip() not in whole]


@pytest.mark.parametrize("width", [40, 50, 72])
def test_the_report_follows_a_narrow_terminal(width: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", str(width))
    commands = _commands()
    for verbose in ((), ("-v",)):
        text = run_cli(*CHECK, *verbose).stdout
        assert _too_wide(text, width, commands) == [], (verbose, text)
        # -v: every next command whole on a line of its own, however narrow the terminal.
        if verbose:
            for command in commands:
                assert any(line.endswith("  " + command) for line in text.splitlines()), command


def test_a_wide_columns_is_used_as_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    box = next(line for line in run_cli(*CHECK, "-v").stdout.splitlines() if line.startswith("╭"))
    assert len(box) == 200


def test_without_columns_a_pipe_gets_100(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    box = next(line for line in run_cli(*CHECK, "-v").stdout.splitlines() if line.startswith("╭"))
    assert len(box) == 100


@pytest.mark.parametrize("width", [50, 80])
def test_the_check_catalog_follows_the_width(width: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", str(width))
    lines = run_cli("checks").stdout.splitlines()
    assert max(len(line) for line in lines) <= width
    for check in CHECKS:  # every title is there, folded or not
        assert " ".join(check.title.split()) in " ".join(" ".join(lines).split())


@pytest.mark.parametrize("width", [50, 80])
def test_explain_folds_prose_but_not_commands(width: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", str(width))
    for check in CHECKS:
        lines = run_cli("explain", check.id).stdout.splitlines()
        # A single word longer than the width (a long path) stays whole; nothing else is wider.
        wide = [line for line in lines if len(line) > width and not line.lstrip().startswith("$ ")
                and " " in line.strip()]
        assert wide == [], (check.id, wide)
        for paragraph in check.doc.section("Example"):
            for command in (line for line in paragraph.splitlines() if line.startswith("$ ")):
                assert f"  {command}" in lines, command


def test_the_reach_header_follows_the_width_and_explains_split_workloads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    text = run_cli("reach", "-A", "--snapshot", str(SCENARIOS / "netpol-who-can-reach" / "snapshot.yaml")).stdout
    legend = text.split("\n\n")[0].splitlines()
    assert max(len(line) for line in legend) <= 80
    # The kube-proxy Pods run on the host network of two nodes: two rows, each explained.
    assert any(line.startswith("  kube-system/kube-proxy#2: 1 Pod (") for line in legend)
    assert " ".join(" ".join(legend).split()).count("), host network on node node-") == 2
    assert any(line.startswith("  NAME#2") for line in legend)


def test_suppressed_findings_continue_indented(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "60")
    scan = run_cli("scan", "-n", "billing", "--manifests", IGNORED, "--show-suppressed").stdout.splitlines()
    listed = scan[scan.index("1 finding(s) suppressed") + 1:]
    assert len(listed) > 1 and all(line.startswith("     ") for line in listed[1:]), scan
    check = run_cli("check", "billing-ledger", "-n", "billing", "--manifests", IGNORED, "--show-suppressed").stdout
    lines = check.splitlines()
    note = next(index for index, line in enumerate(lines) if line.startswith("note: suppressed SD301"))
    assert lines[note + 1].startswith("      ") and len(lines[note]) <= 60
