"""Every scenario folder under fixtures/scenarios: run its command, compare with expected.json.

``pytest tests/test_scenarios.py --update`` rewrites expected.json from the actual output; review
the diff before committing it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, SCENARIOS, run_cli
from tests.test_report_json import assert_stable_report


def scenario_folders() -> list[Path]:
    return sorted(p for p in SCENARIOS.iterdir() if (p / "scenario.yaml").exists())


def scenario_args(folder: Path) -> list[str]:
    spec = yaml.safe_load((folder / "scenario.yaml").read_text())
    args = [str(a) for a in spec["args"]]
    if "--manifests" not in args and "--snapshot" not in args:
        args += ["--snapshot", str(folder / "snapshot.yaml")]
    for flag in ("--manifests", "--baseline"):  # paths in scenario.yaml are relative to the repo root
        if flag in args and not Path(args[args.index(flag) + 1]).is_absolute():
            args[args.index(flag) + 1] = str(ROOT / args[args.index(flag) + 1])
    return [*args, "-o", "json"]


def actual_outcome(folder: Path) -> dict:
    result = run_cli(*scenario_args(folder))
    assert not result.stderr, result.stderr
    report = result.json()
    assert_stable_report(report, result.exit_code)
    return {
        "verdict": report["verdict"],
        "exit_code": result.exit_code,
        "ranked": [f["id"] for f in report["findings"]],
        "caused_by": {f["id"]: f["caused_by"] for f in report["findings"] if f["caused_by"]},
        "steps": {str(s["step"]): s["status"] for s in report["steps"]},
        **({"suppressed": [f["id"] for f in report["suppressed"]]} if report["suppressed"] else {}),
    }


@pytest.mark.parametrize("folder", scenario_folders(), ids=lambda p: p.name)
def test_scenario(folder: Path, update: bool) -> None:
    outcome = actual_outcome(folder)
    expected_file = folder / "expected.json"
    if update or not expected_file.exists():
        expected_file.write_text(json.dumps(outcome, indent=2) + "\n")
        if not update:
            pytest.fail(f"{expected_file} did not exist; written now — review it and run again")
    expected = json.loads(expected_file.read_text())
    assert outcome == expected
