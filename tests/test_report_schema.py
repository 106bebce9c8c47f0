"""The JSON report's published schema (svcdoctor/data/report-v2.schema.json) holds for every scenario.

Every scenario's ``-o json`` report, every report inside ``scan -o json`` of the demo, and the JSON
goldens are validated against it; and the schema itself refuses what the contract forbids (a
``partial`` step that does not say what was missing, a ``pass`` that does, a finding without its
confidence, the retired ``warn`` state).
"""

from __future__ import annotations

import copy
import json
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from svcdoctor.report import SCHEMA
from tests.conftest import ROOT, run_cli
from tests.test_scenarios import scenario_args, scenario_folders


def _schema() -> dict[str, Any]:
    return dict(json.loads(files("svcdoctor").joinpath("data/report-v2.schema.json").read_text()))


def _validate(report: dict[str, Any]) -> None:
    jsonschema.Draft202012Validator(_schema()).validate(report)


def test_the_schema_is_a_valid_schema_and_names_the_report_version() -> None:
    jsonschema.Draft202012Validator.check_schema(_schema())
    assert _schema()["$id"] == SCHEMA == _schema()["properties"]["schema"]["const"]


@pytest.mark.parametrize("folder", scenario_folders(), ids=lambda p: p.name)
def test_every_scenario_report_matches_the_schema(folder: Path) -> None:
    result = run_cli(*scenario_args(folder))
    _validate(result.json())


def test_scan_reports_and_json_goldens_match_the_schema() -> None:
    scan = run_cli("scan", "-A", "--snapshot", str(ROOT / "svcdoctor" / "data" / "demo-snapshot.yaml"), "-o", "json")
    document = scan.json()
    assert document["reports"]
    for report in document["reports"]:
        _validate(report)
    goldens = [path for path in (ROOT / "tests" / "golden").glob("*.json") if not path.name.endswith(".sarif.json")]
    for path in goldens:
        loaded = json.loads(path.read_text())
        for report in loaded.get("reports", [loaded]):
            _validate(report)


def _healthy() -> dict[str, Any]:
    return dict(run_cli(*scenario_args(ROOT / "fixtures" / "scenarios" / "cluster-ip-rules-missing")).json())


@pytest.mark.parametrize("breakage", ["partial-without-missing", "pass-with-missing", "no-confidence", "warn",
                                      "v1", "no-root-cause-key", "no-version", "no-location-key", "no-notes"])
def test_the_schema_refuses_what_the_contract_forbids(breakage: str) -> None:
    report = copy.deepcopy(_healthy())
    partial = next(step for step in report["steps"] if step["status"] == "partial")
    passed = next(step for step in report["steps"] if step["status"] == "pass")
    if breakage == "partial-without-missing":
        partial["missing"] = []
    elif breakage == "pass-with-missing":
        passed["missing"] = partial["missing"]
    elif breakage == "no-confidence":
        del report["findings"][0]["confidence"]
    elif breakage == "warn":
        passed["status"] = "warn"
    elif breakage == "no-root-cause-key":
        del report["rootCause"]
    elif breakage == "no-version":
        del report["svcdoctorVersion"]
    elif breakage == "no-location-key":
        del report["findings"][0]["location"]
    elif breakage == "no-notes":
        del report["notes"]
    else:
        report["schema"] = "svcdoctor/report/v1"
    _validate(_healthy())
    with pytest.raises(jsonschema.ValidationError):
        _validate(report)
