"""The JSON report's stable shape: every key in every report, the root cause, the version, the exit code.

:func:`assert_stable_report` runs on every scenario's report (tests/test_scenarios.py calls it), so
a key that comes and goes with the input fails there.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from svcdoctor import __version__
from tests.conftest import ROOT, run_cli

REPORT_KEYS = ["schema", "svcdoctorVersion", "target", "client", "source", "capturedAt", "verdict",
               "verdictConfidence", "rootCause", "findings", "suppressed", "steps", "notes", "internalErrors",
               "exitCode"]
FINDING_KEYS = {"id", "name", "severity", "step", "title", "message", "evidence", "next", "fix", "caused_by",
                "impact", "object", "location"}
DEMO = str(ROOT / "svcdoctor" / "data" / "demo-snapshot.yaml")


def assert_stable_report(report: dict[str, Any], exit_code: int) -> None:
    """Every key present (in this order), the root cause and exit code consistent with the rest."""
    assert [key for key in REPORT_KEYS if key in report] == REPORT_KEYS, set(REPORT_KEYS) - set(report)
    assert report["svcdoctorVersion"] == __version__
    assert report["rootCause"] == (report["findings"][0]["id"] if report["findings"] else None)
    assert report["exitCode"] == exit_code
    for finding in report["findings"] + report["suppressed"]:
        assert set(finding) >= FINDING_KEYS, FINDING_KEYS - set(finding)
    assert isinstance(report["notes"], list) and isinstance(report["internalErrors"], list)


def test_a_healthy_report_has_every_key_with_empty_values() -> None:
    result = run_cli("check", "frontend", "-n", "shop", "--snapshot", DEMO, "-o", "json")
    report = result.json()
    assert_stable_report(report, result.exit_code)
    assert report["rootCause"] is None and report["findings"] == [] and report["suppressed"] == []
    assert report["notes"] == [] and report["internalErrors"] == [] and report["exitCode"] == 0


def test_the_root_cause_is_the_first_finding_and_capturedAt_comes_from_the_snapshot() -> None:
    result = run_cli("check", "backend", "-n", "shop", "--snapshot", DEMO, "-o", "json",
                     "--from", "shop/frontend-ddcj28l7m-jsshd")
    report = result.json()
    assert_stable_report(report, result.exit_code)
    assert report["rootCause"] == "SD301" and result.exit_code == 1
    captured = re.search(r"capturedAt: '?([0-9TZ:-]+)", Path(DEMO).read_text())
    assert captured is not None and report["capturedAt"] == captured.group(1)


def test_the_exit_code_in_the_document_follows_fail_on() -> None:
    result = run_cli("check", "backend", "-n", "shop", "--snapshot", DEMO, "-o", "json", "--fail-on", "never")
    assert result.exit_code == 0 and result.json()["exitCode"] == 0 and result.json()["rootCause"] == "SD301"


def test_a_finding_without_a_known_file_has_a_null_location() -> None:
    report = run_cli("check", "backend", "-n", "shop", "--snapshot", DEMO, "-o", "json").json()
    assert all("location" in finding for finding in report["findings"])


def test_the_scan_document_carries_the_version_and_the_exit_code() -> None:
    result = run_cli("scan", "-A", "--snapshot", DEMO, "-o", "json")
    document = result.json()
    assert document["svcdoctorVersion"] == __version__ and document["exitCode"] == result.exit_code
    for report in document["reports"]:
        assert [key for key in REPORT_KEYS[:-1] if key in report] == REPORT_KEYS[:-1]


def test_yaml_carries_the_same_document() -> None:
    json_report = run_cli("check", "backend", "-n", "shop", "--snapshot", DEMO, "-o", "json").json()
    yaml_report = yaml.safe_load(run_cli("check", "backend", "-n", "shop", "--snapshot", DEMO, "-o", "yaml").stdout)
    assert yaml_report == json_report


def test_dns_json_names_its_schema_and_keeps_the_answer_key_when_not_probed() -> None:
    result = run_cli("dns", "frontend", "-n", "shop", "--snapshot", DEMO, "-o", "json")
    document = result.json()
    assert result.exit_code == 0 and document["schema"] == "svcdoctor/dns/v1"
    assert document["svcdoctorVersion"] == __version__
    assert document["records"] and all(record["answer"] is None for record in document["records"])


SCENARIOS = ROOT / "fixtures" / "scenarios"


def _scenario_report(name: str) -> tuple[dict[str, Any], int, str]:
    import yaml

    folder = SCENARIOS / name
    args = [str(a) for a in yaml.safe_load((folder / "scenario.yaml").read_text())["args"]]
    json_result = run_cli(*args, "--snapshot", str(folder / "snapshot.yaml"), "-o", "json")
    text = run_cli(*args, "--snapshot", str(folder / "snapshot.yaml")).stdout
    return json_result.json(), json_result.exit_code, text


def test_the_verdict_says_how_sure_it_is_in_text_and_json_alike() -> None:
    """A verdict resting on declarations alone is likely (LIKELY in the headline); one a finding observed is
    certain, even when its probable cause is likely; ok and unknown have no confidence."""
    likely, likely_code, likely_text = _scenario_report("targetport-defaults-to-service-port")
    assert (likely["verdict"], likely["verdictConfidence"]) == ("unreachable", "likely")
    assert "LIKELY UNREACHABLE" in likely_text.splitlines()[2]
    certain, _, certain_text = _scenario_report("selector-label-renamed")
    assert (certain["verdict"], certain["verdictConfidence"]) == ("unreachable", "certain")
    assert "LIKELY" not in certain_text
    healthy, _, _ = _scenario_report("healthy-clusterip-deployment")
    assert healthy["verdictConfidence"] is None
    blind, _, _ = _scenario_report("probes-from-outside-cluster")
    assert (blind["verdict"], blind["verdictConfidence"]) == ("unknown", None)
    assert likely_code == likely["exitCode"] == 1


def test_an_unreachable_verdict_never_passes_the_default_gate() -> None:
    """Text, JSON and exit code agree on every scenario: a Service reported unreachable — likely or
    certain — exits 1 under the default --fail-on error, because what makes it unreachable is an error."""
    import yaml

    disagreements = []
    for folder in sorted(path for path in SCENARIOS.iterdir() if (path / "snapshot.yaml").exists()):
        args = [str(a) for a in yaml.safe_load((folder / "scenario.yaml").read_text())["args"]]
        result = run_cli(*args, "--snapshot", str(folder / "snapshot.yaml"), "-o", "json")
        report = result.json()
        deciding = [f for f in report["findings"] if f["impact"] == "unreachable" and f["severity"] != "info"]
        if report["verdict"] == "unreachable" and (result.exit_code != 1 or
                                                    any(f["severity"] != "error" for f in deciding)):
            disagreements.append((folder.name, result.exit_code, [(f["id"], f["severity"]) for f in deciding]))
    assert not disagreements


def test_no_check_can_make_a_service_unreachable_below_error() -> None:
    """The invariant above, by construction: a check that tried would crash (a bug: exit 70), not pass a gate."""
    import pytest

    from svcdoctor.checks.registry import BY_ID

    with pytest.raises(ValueError, match="is an error"):
        BY_ID["SD203"].finding("udp to a tcp port", severity="warning", impact="unreachable")
    assert BY_ID["SD203"].finding("udp to a tcp port", severity="warning").impact == "degraded"
