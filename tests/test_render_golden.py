"""Golden files for every output format, plus what each format promises beyond its bytes.

The reports come from real scenario snapshots run through the engine with a pinned set of
checks, so that checks added later do not move these files; a change to one of the pinned
checks or to a renderer does. ``pytest tests/test_render_golden.py --update`` rewrites them;
review the diff before committing.
"""

from __future__ import annotations

import contextlib
import json
import re
import xml.etree.ElementTree as ElementTree
from functools import cache
from pathlib import Path

import jsonschema
import pytest
import yaml

from svcdoctor import k8s
from svcdoctor.checks.registry import CHECKS
from svcdoctor.engine import diagnose_service, scan
from svcdoctor.findings import Client, Evidence, Finding, Severity, Target
from svcdoctor.render import FORMATS, RenderOptions, render, render_scan
from svcdoctor.report import Report, StepResult
from svcdoctor.sources.snapshot_file import SnapshotFileSource
from tests.conftest import ORACLES, ROOT, require_shared, run_cli

#: The oracles sit beside the repository; a helper's worktree is one level deeper.
SARIF_SCHEMA = ORACLES / "sarif-schema-2.1.0.json"

GOLDEN = Path(__file__).resolve().parent / "golden"
PINNED_CHECKS = ("SD001", "SD101", "SD301", "SD501", "SD502")
RENAMED = "fixtures/scenarios/selector-label-renamed/snapshot.yaml"
DEMO = "svcdoctor/data/demo-snapshot.yaml"
EXTENSIONS = {"text": "txt", "json": "json", "yaml": "yaml", "markdown": "md", "sarif": "sarif.json",
              "github": "github.txt", "junit": "xml", "html": "html"}
#: name → (snapshot, namespace, service, client pod or None).
CASES = {
    "selector-label-renamed": (RENAMED, "shop", "backend", "frontend-ddcj28l7m-jsshd"),
    "healthy-frontend": (DEMO, "shop", "frontend", None),
    "service-name-typo": (DEMO, "shop", "backnd", None),
}
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@cache
def _snapshot(relative: str):  # type: ignore[no-untyped-def]
    # Read as the CLI reads it, from the repository root, so origins carry the relative path.
    with contextlib.chdir(ROOT):
        return SnapshotFileSource(relative).load()


def _checks():  # type: ignore[no-untyped-def]
    checks = [check for check in CHECKS if check.id in PINNED_CHECKS]
    assert {check.id for check in checks} == set(PINNED_CHECKS), "a pinned check left the registry"
    return checks


def case_report(name: str) -> Report:
    path, namespace, service, client_pod = CASES[name]
    snapshot = _snapshot(path)
    client = None
    if client_pod:
        pod = snapshot.pod(namespace, client_pod)
        assert pod is not None
        client = Client("pod", namespace, client_pod, k8s.pod_ip(pod))
    return diagnose_service(snapshot, namespace, service, client=client, checks=_checks(),
                            source={"kind": "snapshot", "path": path})


def scan_reports() -> list[Report]:
    return scan(_snapshot(DEMO), None, checks=_checks(), source={"kind": "snapshot", "path": DEMO})


def _compare(name: str, actual: str, update: bool) -> None:
    golden = GOLDEN / name
    if update or not golden.exists():
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(actual)
        if not update:
            pytest.fail(f"{golden} did not exist; written now — review it and run again")
    assert actual == golden.read_text(), f"{name} changed; run pytest --update and review the diff"


@pytest.mark.parametrize("output", list(FORMATS))
@pytest.mark.parametrize("case", list(CASES))
def test_check_golden(case: str, output: str, update: bool) -> None:
    _compare(f"{case}.{EXTENSIONS[output]}", _page(render(case_report(case), output, RenderOptions())), update)


@pytest.mark.parametrize("output", list(FORMATS))
def test_scan_golden(output: str, update: bool) -> None:
    _compare(f"scan-demo.{EXTENSIONS[output]}", _page(render_scan(scan_reports(), output, RenderOptions())), update)


def _page(rendered: str) -> str:
    """An HTML page without its inline style sheet and script (the same in every page; html.py holds them)."""
    return re.sub(r"<style>.*?</style>|<script>.*?</script>", "", rendered, flags=re.S)


def test_text_narrow_and_coloured_golden(update: bool) -> None:
    report = case_report("selector-label-renamed")
    _compare("selector-label-renamed.width80.txt", render(report, "text", RenderOptions(width=80)), update)
    _compare("selector-label-renamed.color.txt", render(report, "text", RenderOptions(color=True)), update)


# -- text -------------------------------------------------------------------------------------


@pytest.mark.parametrize("width", [80, 100, 140])
def test_text_wrapped_lines_stay_under_their_finding(width: int) -> None:
    report = case_report("selector-label-renamed")
    text = render(report, "text", RenderOptions(width=width, verbose=True))
    lines = text.splitlines()
    # Commands are never folded (they must paste whole): each is on a line of its own, after its label.
    commands = {command for finding in report.findings for command in finding.next}
    assert all(len(line) <= width for line in lines if line.split("  ")[-1].strip() not in commands)
    for command in commands:
        assert any(line.endswith("  " + command) for line in lines), command
    assert all(line == line.rstrip() for line in lines), "trailing padding left in the output"
    start = next(i for i, line in enumerate(lines) if line.startswith("     SD301"))
    # Every line of the finding's block is indented deeper than the step marks, until the next step.
    for line in lines[start + 1:]:
        if re.match(r"^ [✔✖!?–] ", line):
            break
        assert line.startswith("       "), line


def test_text_marks_every_step_and_boxes_the_root_cause() -> None:
    """-v: the verdict boxed, every step marked, each finding in full under its step."""
    report = case_report("selector-label-renamed")
    text = render(report, "text", RenderOptions(verbose=True))
    box_top = next(line for line in text.splitlines() if line.startswith("╭"))
    assert box_top.startswith("╭") and "UNREACHABLE" in box_top and "SD301" in box_top
    for step in report.steps:
        mark = {"pass": "✔", "fail": "✖", "warn": "!", "unknown": "?", "skipped": "–"}[step.status]
        assert re.search(rf"^ {mark} +{step.step} {re.escape(step.title)}", text, re.MULTILINE)


def test_text_colour_only_when_asked() -> None:
    report = case_report("selector-label-renamed")
    assert not ANSI.search(render(report, "text", RenderOptions(color=False)))
    coloured = render(report, "text", RenderOptions(color=True))
    assert ANSI.search(coloured)
    assert ANSI.sub("", coloured) == render(report, "text", RenderOptions(color=False))


def test_cli_colour_follows_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    args = ("check", "backend", "-n", "shop", "--snapshot", str(ROOT / RENAMED))
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert ANSI.search(run_cli(*args).stdout)
    monkeypatch.setenv("NO_COLOR", "1")
    assert not ANSI.search(run_cli(*args).stdout)
    monkeypatch.delenv("FORCE_COLOR")
    monkeypatch.delenv("NO_COLOR")
    assert not ANSI.search(run_cli(*args).stdout), "not a terminal: no colour"


# -- SARIF ------------------------------------------------------------------------------------


@cache
def _sarif_schema() -> dict:
    require_shared("oracles/sarif-schema-2.1.0.json")
    return json.loads(SARIF_SCHEMA.read_text())


def _validate_sarif(document: dict) -> None:
    jsonschema.Draft4Validator(_sarif_schema()).validate(document)
    # What GitHub code scanning needs beyond the schema.
    assert document["version"] == "2.1.0"
    (run,) = document["runs"]
    rules = run["tool"]["driver"]["rules"]
    assert len({rule["id"] for rule in rules}) == len(rules)
    for rule in rules:
        assert re.fullmatch(r"SD\d{3}", rule["id"])
        assert rule["shortDescription"]["text"] and rule["helpUri"].endswith("#" + rule["id"].lower())
        assert rule["defaultConfiguration"]["level"] in ("error", "warning", "note")
        assert "Fix:" in rule["help"]["text"]
    fingerprints = set()
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["level"] in ("error", "warning", "note") and result["message"]["text"]
        (location,) = result["locations"]
        physical = location["physicalLocation"]
        assert physical["artifactLocation"]["uri"] and physical["region"]["startLine"] >= 1
        assert location["logicalLocations"][0]["fullyQualifiedName"]
        fingerprint = result["partialFingerprints"]["svcdoctor/v1"]
        assert fingerprint not in fingerprints, "two results share a fingerprint"
        fingerprints.add(fingerprint)
    assert isinstance(run["invocations"][0]["exitCode"], int)


@pytest.mark.parametrize("case", list(CASES))
def test_sarif_validates(case: str) -> None:
    document = json.loads(render(case_report(case), "sarif", RenderOptions()))
    _validate_sarif(document)
    report = case_report(case)
    assert len(document["runs"][0]["results"]) == len(report.findings)


def test_sarif_scan_is_one_run_and_fingerprints_are_stable() -> None:
    reports = scan_reports()
    document = json.loads(render_scan(reports, "sarif", RenderOptions()))
    _validate_sarif(document)
    assert len(document["runs"][0]["results"]) == sum(len(r.findings) for r in reports)
    # The same finding gets the same fingerprint from `check` as from `scan`, in any order.
    single = json.loads(render(case_report("selector-label-renamed"), "sarif", RenderOptions()))
    by_rule = {r["ruleId"]: r["partialFingerprints"] for r in single["runs"][0]["results"]}
    scanned = {r["ruleId"]: r["partialFingerprints"] for r in document["runs"][0]["results"]
               if r["properties"]["service"] == "shop/backend"}
    assert by_rule == scanned
    reversed_document = json.loads(render_scan(list(reversed(reports)), "sarif", RenderOptions()))
    assert sorted(r["partialFingerprints"]["svcdoctor/v1"] for r in reversed_document["runs"][0]["results"]) == \
        sorted(r["partialFingerprints"]["svcdoctor/v1"] for r in document["runs"][0]["results"])


def test_sarif_points_at_the_object_line() -> None:
    document = json.loads(render(case_report("selector-label-renamed"), "sarif", RenderOptions()))
    lines = (ROOT / RENAMED).read_text().splitlines()
    for result in document["runs"][0]["results"]:
        location = result["locations"][0]
        start = location["physicalLocation"]["region"]["startLine"]
        assert location["physicalLocation"]["artifactLocation"]["uri"] == RENAMED
        block = "\n".join(lines[start - 1:start + 6])
        assert block.startswith("- ") and "kind: Service" in block and "name: backend" in block, block


def test_sarif_exit_code_follows_fail_on() -> None:
    report = case_report("selector-label-renamed")
    errors = json.loads(render(report, "sarif", RenderOptions(fail_on="error")))
    never = json.loads(render(report, "sarif", RenderOptions(fail_on="never")))
    assert errors["runs"][0]["invocations"][0]["exitCode"] == 1
    assert never["runs"][0]["invocations"][0]["exitCode"] == 0


def test_sarif_from_the_cli_validates(tmp_path: Path) -> None:
    result = run_cli("check", "backend", "-n", "shop", "--snapshot", str(ROOT / RENAMED), "-o", "sarif")
    assert result.exit_code == 1 and not result.stderr
    document = json.loads(result.stdout)
    _validate_sarif(document)
    assert document["runs"][0]["invocations"][0]["exitCode"] == result.exit_code
    scanned = run_cli("scan", "-A", "--snapshot", str(ROOT / DEMO), "-o", "sarif", "--fail-on", "never")
    assert scanned.exit_code == 0
    _validate_sarif(json.loads(scanned.stdout))


# -- hostile text in every format -------------------------------------------------------------


def _hostile_report() -> Report:
    text = 'a | pipe, <b>tag</b> & "quote" ]]> `tick` *star* \x00\x07 ctl \x1b[31m esc'
    finding = Finding(id="SD301", name="selector-matches-no-pods", severity=Severity.ERROR, step=3,
                      title="The selector matches no Pod", message=text,
                      evidence=(Evidence(None, "spec.selector", {"k": text}, text),), next=(f"echo '{text}'",),
                      fix=text, subject=Target("ns", "svc").ref, key=text)
    return Report(target=Target("ns", "svc"), verdict="unreachable", findings=(finding,),
                  steps=(StepResult(3, "Does the selector select the Pods?", "fail"),),
                  source={"kind": "snapshot", "path": "x.yaml"})


def test_junit_is_well_formed_and_escaped() -> None:
    xml = render(_hostile_report(), "junit", RenderOptions())
    root = ElementTree.fromstring(xml.encode())
    (suite,) = root.findall("testsuite")
    (case,) = suite.findall("testcase")
    failure = case.find("failure")
    assert failure is not None and "<b>tag</b>" in (failure.text or "") and "]]>" in (failure.text or "")
    assert root.get("failures") == "1"


def test_junit_one_suite_per_service_and_a_case_per_step() -> None:
    reports = scan_reports()
    root = ElementTree.fromstring(render_scan(reports, "junit", RenderOptions()).encode())
    suites = root.findall("testsuite")
    assert len(suites) == len(reports)
    for suite, report in zip(suites, reports, strict=True):
        cases = suite.findall("testcase")
        assert len(cases) == len(report.steps)
        for case, step in zip(cases, report.steps, strict=True):
            failed = case.find("failure") is not None
            skipped = case.find("skipped") is not None
            assert failed == (step.status in ("fail", "warn"))
            assert skipped == (step.status in ("skipped", "unknown"))
    missing = ElementTree.fromstring(render(case_report("service-name-typo"), "junit", RenderOptions()).encode())
    skipped_reasons = [s.get("message") for s in missing.iter("skipped")]
    assert skipped_reasons and all(skipped_reasons)


def test_markdown_table_survives_pipes_and_tags() -> None:
    markdown = render(_hostile_report(), "markdown", RenderOptions())
    table_rows = [line for line in markdown.splitlines() if line.startswith("| 1 |")]
    assert len(table_rows) == 1
    assert "<b>" not in markdown.split("<details>")[0]
    assert len(re.findall(r"(?<!\\)\|", table_rows[0])) == 8  # seven columns


def test_sarif_and_json_carry_hostile_text_intact() -> None:
    report = _hostile_report()
    _validate_sarif(json.loads(render(report, "sarif", RenderOptions())))
    assert json.loads(render(report, "json", RenderOptions()))["findings"][0]["message"] == report.findings[0].message
    assert yaml.safe_load(render(report, "yaml", RenderOptions()))["findings"][0]["message"] == \
        report.findings[0].message
