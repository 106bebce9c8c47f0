"""Internal errors are not bad input: a bug in svcdoctor exits 70 with one line asking for a report.

The failures are real: a registered check is swapped, through ``run(checks=…)``, for a copy whose
code raises (or yields something that is not a Finding), as a bug in a check would.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import pytest

from svcdoctor import __version__
from svcdoctor.checks.interface import Check, Context
from svcdoctor.checks.registry import CHECKS
from svcdoctor.findings import Finding
from tests.conftest import ROOT, SCENARIOS, CliResult, _captured

SNAPSHOT = str(SCENARIOS / "selector-label-renamed" / "snapshot.yaml")
DEMO = str(ROOT / "svcdoctor" / "data" / "demo-snapshot.yaml")
CHECK = ("check", "backend", "-n", "shop", "--snapshot", SNAPSHOT)


def crashing_sd203(context: Context) -> Iterable[Finding]:
    ports = context.snapshot.services[0]["spec"]["ports"]
    return [ports[len(ports)]]  # an off-by-one, as a real bug would be


def not_a_finding(context: Context) -> Iterable[Finding]:
    yield "SD203 forgot to call check.finding()"  # type: ignore[misc]


def registry_with(check_id: str, run: object) -> tuple[Check, ...]:
    return tuple(dataclasses.replace(check, run=run) if check.id == check_id else check for check in CHECKS)


def run_with(checks: tuple[Check, ...], *args: str) -> CliResult:
    from svcdoctor.cli import run

    with _captured(None) as (out, err):
        code = run(list(args), checks=checks)
    return CliResult(code, out.getvalue(), err.getvalue())


def one_error_line(result: CliResult) -> str:
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert line.startswith("svcdoctor: error: internal error: "), line
    assert f"a bug in svcdoctor {__version__}, please report it" in line and "--debug" in line, line
    return line


@pytest.mark.parametrize("fail_on", ["error", "never"])
def test_a_crashing_check_renders_the_rest_and_exits_70(fail_on: str) -> None:
    result = run_with(registry_with("SD203", crashing_sd203), *CHECK, "--fail-on", fail_on)
    assert result.exit_code == 70, (result.exit_code, result.stderr)
    # The rest of the diagnosis is still there: the root cause and the step the crash left unknown.
    assert "root cause: SD301" in result.stdout
    assert "internal error in SD203: IndexError" in result.stdout
    line = one_error_line(result)
    assert "check SD203 crashed on Service shop/backend: IndexError: list index out of range" in line, line
    assert "Traceback" not in result.stderr


def test_a_crashing_check_in_json_names_the_check_and_the_service() -> None:
    result = run_with(registry_with("SD203", crashing_sd203), *CHECK, "-o", "json")
    assert result.exit_code == 70
    document = result.json()
    assert document["target"] == {"namespace": "shop", "name": "backend"}
    assert document["internalErrors"] == [{"check": "SD203", "error": "IndexError: list index out of range"}]
    assert document["verdict"] == "unreachable" and document["findings"][0]["id"] == "SD301"


def test_a_run_without_crashes_has_empty_internal_errors() -> None:
    result = run_with(CHECKS, *CHECK, "-o", "json")
    assert result.exit_code == 1 and result.stderr == ""
    assert result.json()["internalErrors"] == []


def test_scan_with_a_crashing_check_fails_the_gate_after_rendering_every_service() -> None:
    result = run_with(registry_with("SD203", crashing_sd203), "scan", "-A", "--snapshot", DEMO,
                      "-o", "json", "--fail-on", "never")
    assert result.exit_code == 70
    reports = result.json()["reports"]
    assert len(reports) > 1
    crashed = [f"{r['target']['namespace']}/{r['target']['name']}" for r in reports if r.get("internalErrors")]
    assert crashed, reports
    line = one_error_line(result)
    assert f"check SD203 crashed on Service {crashed[0]}" in line, line
    if len(crashed) > 1:
        assert f"(and {len(crashed) - 1} more Service" in line, line


def test_sarif_says_the_run_did_not_succeed() -> None:
    result = run_with(registry_with("SD203", crashing_sd203), *CHECK, "-o", "sarif")
    assert result.exit_code == 70
    invocation = json.loads(result.stdout)["runs"][0]["invocations"][0]
    assert invocation["executionSuccessful"] is False and invocation["exitCode"] == 70
    [notification] = invocation["toolExecutionNotifications"]
    assert notification["descriptor"]["id"] == "SD203" and "shop/backend" in notification["message"]["text"]


def test_debug_prints_the_checks_traceback() -> None:
    result = run_with(registry_with("SD203", crashing_sd203), "--debug", *CHECK)
    assert result.exit_code == 70
    assert "Traceback (most recent call last)" in result.stderr and "in crashing_sd203" in result.stderr
    assert result.stderr.splitlines()[-1].startswith("svcdoctor: error: internal error: check SD203 crashed")


def test_an_unexpected_exception_outside_a_check_is_one_line_and_exit_70() -> None:
    result = run_with(registry_with("SD203", not_a_finding), *CHECK)
    assert result.exit_code == 70
    assert result.stdout == ""
    assert "AttributeError" in one_error_line(result)
    assert "Traceback" not in result.stderr


def test_debug_prints_the_traceback_of_an_unexpected_exception() -> None:
    result = run_with(registry_with("SD203", not_a_finding), "--debug", *CHECK)
    assert result.exit_code == 70
    assert "Traceback (most recent call last)" in result.stderr and "AttributeError" in result.stderr
    assert result.stderr.splitlines()[-1].startswith("svcdoctor: error: internal error: AttributeError")


def test_bad_input_is_still_exit_2_not_70(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("items: [\n")
    result = run_with(CHECKS, "check", "backend", "-n", "shop", "--snapshot", str(broken))
    assert result.exit_code == 2 and "internal error" not in result.stderr


def test_an_unwritable_output_file_is_bad_input(tmp_path: Path) -> None:
    target = str(tmp_path / "no-such-directory" / "node.yaml")
    saved = tmp_path / "iptables.txt"
    # (one rule: collect node refuses to write a dump without any)
    saved.write_text("*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -d 198.18.100.1/32 -j ACCEPT\nCOMMIT\n")
    result = run_with(CHECKS, "collect", "node", "--node-name", "n1", "--iptables-save", str(saved), "-o", target)
    assert result.exit_code == 2, result.stderr
    assert result.stderr.startswith("svcdoctor: error: ") and target in result.stderr
    assert "internal error" not in result.stderr


def test_snapshot_serve_with_an_unwritable_kubeconfig_is_bad_input_and_stops(tmp_path: Path) -> None:
    target = str(tmp_path / "no-such-directory" / "kubeconfig")
    completed = subprocess.run([sys.executable, "-m", "svcdoctor", "snapshot", "serve", SNAPSHOT, "--port", "0",
                                "--write-kubeconfig", target], capture_output=True, text=True, timeout=60,
                               env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT)
    assert completed.returncode == 2, completed.stderr
    assert completed.stderr.startswith("svcdoctor: error: ") and target in completed.stderr


def test_junit_counts_a_crashed_check_as_an_error() -> None:
    from xml.etree import ElementTree

    result = run_with(registry_with("SD203", crashing_sd203), *CHECK, "-o", "junit")
    assert result.exit_code == 70
    root = ElementTree.fromstring(result.stdout.encode())
    assert root.get("errors") == "1"
    [error] = root.iter("error")
    assert error.get("type") == "internal-error" and "IndexError" in (error.get("message") or "")
    healthy = ElementTree.fromstring(run_with(CHECKS, *CHECK, "-o", "junit").stdout.encode())
    assert healthy.get("errors") == "0" and not list(healthy.iter("error"))
