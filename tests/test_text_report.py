"""The default text report at 100 columns: the verdict and root cause once in the first lines, the
next command whole on its own line, the path map, one line per step, a summary line last."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.conftest import SCENARIOS, run_cli

#: The four representative single-cause cases of issue 15.
CASES = ("selector-label-renamed", "readiness-probe-failing", "netpol-cross-namespace-client",
         "cluster-ip-rules-missing")


def _args(folder: Path) -> list[str]:
    args = [str(a) for a in yaml.safe_load((folder / "scenario.yaml").read_text())["args"]]
    return [*args, "--snapshot", str(folder / "snapshot.yaml")]


@pytest.mark.parametrize("case", CASES)
def test_a_single_cause_report_fits_30_lines(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    args = _args(SCENARIOS / case)
    root = run_cli(*args, "-o", "json").json()["findings"][0]
    lines = run_cli(*args).stdout.splitlines()
    fix_lines = root["fix"].strip("\n").splitlines()
    allowance = min(10, len(fix_lines)) if len(fix_lines) > 1 else 0  # a suggested YAML fix may add 10 lines
    assert len(lines) <= 30 + allowance, "\n".join(lines)
    assert len(lines) - len(fix_lines) * (len(fix_lines) > 1) <= 30
    headline = next(index for index, line in enumerate(lines) if f"{root['id']} {root['title']}" in line)
    assert headline < 12
    assert f"  {root['next'][0]}" in lines  # whole, on its own line
    assert sum(1 for line in lines if root["message"][:40] in line) == 1  # the root cause once
    steps = [line for line in lines if line[:3].strip() in ("✔", "◐", "✖", "!", "?", "–") and line[3:4].isdigit()]
    assert len(steps) == 9
    verdicts = ("unreachable", "degraded", "likely unreachable", "likely degraded")
    assert lines[-2].startswith(verdicts) or lines[-1].startswith(verdicts)
    assert any(line.startswith("path  client") and "BREAK" in line for line in lines)
    pasteable = {f"  {root['next'][0]}", *(f"  {line}" for line in fix_lines)}
    assert [line for line in lines if len(line) > 100 and line not in pasteable] == []


def test_commands_stay_whole_in_a_narrow_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "40")
    args = _args(SCENARIOS / "netpol-cross-namespace-client")
    root = run_cli(*args, "-o", "json").json()["findings"][0]
    lines = run_cli(*args).stdout.splitlines()
    assert f"  {root['next'][0]}" in lines
    yaml_lines = root["fix"].strip("\n").splitlines()[2:]
    assert all(f"  {line}" in lines for line in yaml_lines)


def test_verbose_shows_every_finding_in_full() -> None:
    args = _args(SCENARIOS / "selector-label-renamed")
    short = run_cli(*args).stdout
    full = run_cli(*args, "-v").stdout
    assert "SD501" in short and "evidence" not in short.split("SD501", 1)[1]
    assert "EndpointSlice" in full.split("SD501", 1)[1] and len(full.splitlines()) > len(short.splitlines())


def test_the_path_map_marks_the_break_where_the_root_cause_is(monkeypatch: pytest.MonkeyPatch) -> None:
    expected = {"selector-label-renamed": "Service", "readiness-probe-failing": "Pods",
                "netpol-cross-namespace-client": "policy", "cluster-ip-rules-missing": "rules"}
    for case, hop in expected.items():
        path = next(line for line in run_cli(*_args(SCENARIOS / case)).stdout.splitlines() if line.startswith("path"))
        assert f"{hop} ✖ BREAK" in path and path.count("BREAK") == 1, path


def test_a_healthy_report_is_short_and_says_what_it_rests_on() -> None:
    lines = run_cli(*_args(SCENARIOS / "healthy-clusterip-deployment")).stdout.splitlines()
    assert len(lines) <= 16 and "BREAK" not in "\n".join(lines)
    assert lines[2].startswith("OK")
    assert lines[-1].startswith("ok") or lines[-2].startswith("ok")


def test_a_box_title_too_wide_is_cut_with_an_ellipsis_and_said_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    """rich cropped the -v box's title at the border, mid-word and without a mark."""
    monkeypatch.setenv("COLUMNS", "70")
    folder = SCENARIOS / "targetport-defaults-to-service-port"
    lines = run_cli("check", "catalog", "-n", "shop", "--snapshot", str(folder / "snapshot.yaml"), "-v").stdout
    top = next(line for line in lines.splitlines() if line.startswith("╭"))
    assert top.endswith("… ─╮"), top
    flat = " ".join(lines.replace("│", " ").split())
    assert "probable cause: SD201 The numeric targetPort is not a port the Pods declare" in flat
