"""``-o github``: workflow commands with escaping, levels and the offending field's file and line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from svcdoctor.checks.interface import Check, CheckDoc
from svcdoctor.findings import Finding, Severity, Target
from svcdoctor.k8s import ObjectRef
from svcdoctor.render import FORMATS, render
from svcdoctor.render.github import escape_data, escape_property
from svcdoctor.report import Report
from svcdoctor.snapshot import Origin
from tests.conftest import run_cli

SERVICE = ObjectRef("Service", "shop", "web")


def _finding(severity: Severity, message: str = "m", field: str | None = "spec.selector") -> Finding:
    check = Check(id="SD301", name="n", step=3, doc=CheckDoc.brief("Title, with: colon", "w", "f"), run=lambda c: [])
    return check.finding(message, severity=severity, subject=SERVICE, subject_field=field)


def _report(*findings: Finding, origins: dict | None = None) -> Report:
    return Report(target=Target("shop", "web"), verdict="unreachable", findings=findings, steps=(),
                  origins=origins if origins is not None else {
                      SERVICE: Origin("deploy/svc.yaml", 3, {"spec.selector": 9, "spec": 7})})


def test_registered() -> None:
    assert FORMATS["github"] == "svcdoctor.render.github"


def test_escaping() -> None:
    assert escape_data("100% done\r\nnext") == "100%25 done%0D%0Anext"
    assert escape_property("a:b,c%\n") == "a%3Ab%2Cc%25%0A"


def test_levels_file_line_and_escaped_message() -> None:
    text = render(_report(_finding(Severity.ERROR, "bad 50%\nsecond line"), _finding(Severity.WARNING, field=None),
                          _finding(Severity.INFO, field="spec.ports[3]")), "github")
    lines = text.splitlines()
    assert lines[0].startswith("::error file=deploy/svc.yaml,line=9,title=SD301 Title%2C with%3A colon::")
    assert "bad 50%25%0Asecond line" in lines[0]
    assert lines[1].startswith("::warning file=deploy/svc.yaml,line=3,")  # no field: the object's line
    assert lines[2].startswith("::notice file=deploy/svc.yaml,line=7,")  # nearest recorded parent
    for line in lines[:3]:
        assert "\n" not in line and "\r" not in line
        command = line[2:].partition("::")[0]
        assert re.fullmatch(r"(error|warning|notice) (file=[^,]+,line=\d+,)?title=[^,:]+", command), command
    assert lines[-1].startswith("svcdoctor: Service shop/web")


def test_no_position_no_file_property() -> None:
    text = render(_report(_finding(Severity.ERROR), origins={}), "github")
    assert text.startswith("::error title=SD301 Title%2C with%3A colon::")


def test_stdin_positions_go_into_the_message() -> None:
    report = _report(_finding(Severity.ERROR), origins={SERVICE: Origin("<stdin>", 3, {"spec.selector": 9})})
    line = render(report, "github").splitlines()[0]
    assert line.startswith("::error title=") and "(<stdin> line 9)" in line


def test_from_the_cli_points_at_the_selector_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GITHUB_WORKSPACE", str(tmp_path))
    (tmp_path / "k8s").mkdir()
    (tmp_path / "k8s" / "svc.yaml").write_text(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  ports: [{port: 80}]\n  selector:\n"
        "    app: web\n")
    result = run_cli("scan", "--manifests", str(tmp_path / "k8s"), "-o", "github")
    assert result.exit_code == 1
    first = result.stdout.splitlines()[0]
    assert first.startswith("::error file=k8s/svc.yaml,line=7,title=SD301 "), first
    assert result.stdout.splitlines()[-1] == "svcdoctor: 1 Service(s): 1 unreachable; 1 finding(s)"


def test_sarif_regions_come_from_the_same_positions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    monkeypatch.chdir(tmp_path)
    (tmp_path / "svc.yaml").write_text(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  ports: [{port: 80}]\n  selector:\n"
        "    app: web\n")
    result = run_cli("check", "web", "--manifests", "svc.yaml", "-o", "sarif")
    [first, *_] = json.loads(result.stdout)["runs"][0]["results"]
    location = first["locations"][0]["physicalLocation"]
    assert first["ruleId"] == "SD301"
    assert location == {"artifactLocation": {"uri": "svc.yaml"}, "region": {"startLine": 7}}
