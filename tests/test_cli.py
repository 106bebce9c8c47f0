"""CLI contract: exit codes and one-line errors that no other test pins down."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import ROOT, run_cli

DEMO = str(ROOT / "svcdoctor" / "data" / "demo-snapshot.yaml")


def test_demo_runs_offline_and_names_the_root_cause() -> None:
    result = run_cli("demo", "-o", "json")
    assert result.exit_code == 0, result.stderr
    report = result.json()
    assert report["verdict"] == "unreachable"
    assert report["findings"][0]["id"] == "SD301"
    assert "backend-v2" in report["findings"][0]["message"]


def test_fail_on_decides_the_exit_code() -> None:
    args = ("check", "backend", "-n", "shop", "--snapshot", DEMO, "-o", "json")
    assert run_cli(*args).exit_code == 1
    assert run_cli(*args, "--fail-on", "never").exit_code == 0


def test_missing_client_pod_is_a_usage_error_naming_the_snapshot() -> None:
    result = run_cli("check", "backend", "-n", "shop", "--snapshot", DEMO, "--from", "shop/nope")
    assert result.exit_code == 2
    assert result.stderr == "svcdoctor: error: --from: Pod shop/nope is not in the snapshot\n"


def test_a_closed_pipe_is_not_exit_1() -> None:
    process = subprocess.Popen([sys.executable, "-m", "svcdoctor", "scan", "--help"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert process.stdout is not None and process.stderr is not None
    process.stdout.read(10)
    process.stdout.close()
    stderr = process.stderr.read().decode()
    assert process.wait() == 141
    assert "Traceback" not in stderr


def test_explain_and_unknown_id() -> None:
    explained = run_cli("explain", "sd301")
    assert explained.exit_code == 0 and explained.stdout.startswith("SD301 selector-matches-no-pods")
    unknown = run_cli("explain", "SD999")
    assert unknown.exit_code == 2 and unknown.stderr.count("\n") == 1
