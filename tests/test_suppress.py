"""Suppressions (--ignore, the svcdoctor.dev/ignore annotation), baselines and .svcdoctor.yaml."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from svcdoctor.checks.registry import BY_ID
from svcdoctor.ignore_annotation import parse_annotation
from tests.conftest import run_cli

# A Service whose selector matches no template (SD301), in front of a Deployment labelled otherwise.
BROKEN = """\
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop
{annotations}spec:
  selector:
    app: web
  ports:
    - port: 80
      targetPort: 8080
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  replicas: 2
  selector:
    matchLabels: {{app: web-v2}}
  template:
    metadata:
      labels: {{app: web-v2}}
    spec:
      containers:
        - name: web
          image: nginx:1.27
          ports: [{{containerPort: 8080}}]
"""


def _manifests(folder: Path, annotation: str | None = None, name: str = "all.yaml") -> Path:
    annotations = ""
    if annotation is not None:
        annotations = f"  annotations:\n    svcdoctor.dev/ignore: {json.dumps(annotation)}\n"
    path = folder / name
    path.write_text(BROKEN.format(annotations=annotations))
    return path


@pytest.fixture(autouse=True)
def _no_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Every test runs where no .svcdoctor.yaml can be found above it unless it writes one.
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SVCDOCTOR_CONFIG", raising=False)


def _check(path: Path, *extra: str) -> tuple[int, dict]:
    result = run_cli("check", "web", "-n", "shop", "--manifests", str(path), "-o", "json", *extra)
    assert not result.stderr, result.stderr
    return result.exit_code, result.json()


def test_unsuppressed_baseline(tmp_path: Path) -> None:
    code, report = _check(_manifests(tmp_path))
    assert code == 1 and report["verdict"] == "unreachable"
    assert [f["id"] for f in report["findings"]] == ["SD301"]


def test_ignore_flag_moves_findings_and_recomputes_verdict(tmp_path: Path) -> None:
    code, report = _check(_manifests(tmp_path), "--ignore", "sd301")
    assert code == 0
    assert report["verdict"] == "ok" and report["findings"] == []
    assert [f["id"] for f in report["suppressed"]] == ["SD301"]
    assert {s["step"]: s["status"] for s in report["steps"]}[3] == "pass"


def test_ignore_flag_refuses_unknown_ids(tmp_path: Path) -> None:
    result = run_cli("check", "web", "-n", "shop", "--manifests", str(_manifests(tmp_path)), "--ignore", "SD999")
    assert result.exit_code == 2 and "SD999 is not a svcdoctor check" in result.stderr


def test_annotation_with_reason_suppresses(tmp_path: Path) -> None:
    path = _manifests(tmp_path, "SD301: the Pods come from the operator")
    code, report = _check(path)
    assert code == 0 and report["verdict"] == "ok"
    assert [f["id"] for f in report["suppressed"]] == ["SD301"]
    assert "notes" in report
    text = " ".join(run_cli("check", "web", "-n", "shop", "--manifests", str(path), "--show-suppressed").stdout.split())
    assert "1 finding(s) suppressed" in text
    assert "the Pods come from the operator" in text and "suppressed SD301" in text
    quiet = run_cli("check", "web", "-n", "shop", "--manifests", str(path)).stdout
    assert "1 finding(s) suppressed" in quiet and "suppressed SD301" not in quiet


def test_annotation_without_reason_is_reported_and_suppresses_nothing(tmp_path: Path) -> None:
    code, report = _check(_manifests(tmp_path, "SD301"))
    assert code == 1
    ids = [f["id"] for f in report["findings"]]
    assert ids == ["SD301", "SD002"]
    sd002 = report["findings"][1]
    assert sd002["severity"] == "warning" and sd002["impact"] == "none"
    assert report["verdict"] == "unreachable"  # from SD301; SD002 alone would leave it unchanged
    github = run_cli("check", "web", "-n", "shop", "--manifests", str(tmp_path / "all.yaml"), "-o", "github").stdout
    # The warning points at the annotation's own line.
    assert "line=7,title=SD002" in github


def test_annotation_on_the_subjects_workload(tmp_path: Path) -> None:
    # SD302-like findings name Pods; here a finding whose subject is the stand-in Pod is suppressed
    # through the Deployment's annotation (the owner of the subject).
    from svcdoctor.checks.interface import Check, CheckDoc, Context
    from svcdoctor.engine import diagnose_service
    from svcdoctor.findings import Finding
    from svcdoctor.k8s import ObjectRef
    from svcdoctor.sources.manifests import ManifestsSource
    from svcdoctor.suppress import apply

    text = BROKEN.format(annotations="").replace(
        "  name: web\n  namespace: shop\nspec:\n  replicas",
        "  name: web\n  namespace: shop\n  annotations:\n    svcdoctor.dev/ignore: 'SD301: fine here'\n"
        "spec:\n  replicas")
    path = tmp_path / "owner.yaml"
    path.write_text(text)
    snapshot = ManifestsSource(str(path)).load()

    def run(context: Context) -> list[Finding]:
        return [CHECK.finding("about the Pod", subject=ObjectRef("Pod", "shop", "web-template"))]

    CHECK = Check(id="SD301", name="x", step=3, doc=CheckDoc.brief("t", "w" * 20, "f" * 10), run=run)
    report = diagnose_service(snapshot, "shop", "web", checks=[CHECK])
    assert [f.id for f in report.findings] == ["SD301"]

    from svcdoctor.app import Invocation

    [after] = apply([report], Invocation(show_suppressed=True), snapshot)
    assert after.findings == () and [f.id for f in after.suppressed] == ["SD301"]
    assert any("Deployment shop/web: fine here" in note for note in after.notes)

    # Without a reason on the Deployment: nothing is suppressed and SD002 points at its annotation.
    path.write_text(text.replace("'SD301: fine here'", "'SD301'"))
    snapshot = ManifestsSource(str(path)).load()
    report = diagnose_service(snapshot, "shop", "web", checks=[CHECK])
    [after] = apply([report], Invocation(), snapshot)
    assert [f.id for f in after.findings] == ["SD301", "SD002"] and after.suppressed == ()
    problem = after.findings[1]
    assert problem.subject == ObjectRef("Deployment", "shop", "web") and problem.impact == "none"
    assert after.origin_of(problem) == (str(path), 19)  # the annotation's line
    assert after.verdict == report.verdict


def test_parse_annotation() -> None:
    reasons, problems = parse_annotation("SD101, sd501: reason A\nSD502 : reason B; SD301: C\nSD999: x", BY_ID)
    assert reasons == {"SD101": "reason A", "SD501": "reason A", "SD502": "reason B", "SD301": "C"}
    assert [(p.entry, p.problem.split(" ")[0]) for p in problems] == [("SD999: x", "SD999")]
    assert [(p.entry, p.problem.split(" ")[0]) for p in parse_annotation("SD301", BY_ID)[1]] == [("SD301", "gives")]
    assert [(p.entry, p.problem.split(" ")[0]) for p in parse_annotation(": y", BY_ID)[1]] == [(": y", "names")]
    assert parse_annotation(None, BY_ID)[1] and parse_annotation("", BY_ID)[1] == []


@pytest.mark.parametrize(("value", "reasons"), [
    # A reason is free text: a ";" or a new line starts an entry only when "SDnnn[, SDnnn]:" follows.
    ("SD201: the image listens on 9090; verified by hand", {"SD201": "the image listens on 9090; verified by hand"}),
    ("SD201: listens on 9090;\n  see the runbook: ports", {"SD201": "listens on 9090;\n  see the runbook: ports"}),
    ("SD201: one; SD301, SD302: two\nSD212: three", {"SD201": "one", "SD301": "two", "SD302": "two", "SD212": "three"}),
])
def test_annotation_reasons_may_contain_semicolons(value: str, reasons: dict[str, str]) -> None:
    assert parse_annotation(value, BY_ID) == (reasons, [])


def test_a_semicolon_in_the_reason_does_not_break_the_gate(tmp_path: Path) -> None:
    code, report = _check(_manifests(tmp_path, "SD301: the operator makes the Pods; verified by hand"))
    assert code == 0 and report["verdict"] == "ok" and not report["findings"]
    assert [f["id"] for f in report["suppressed"]] == ["SD301"]


def test_baseline_hides_old_findings_and_catches_new_ones(tmp_path: Path) -> None:
    baseline = tmp_path / ".svcdoctor-baseline.json"  # a dotfile: the directory walk skips it
    old = _manifests(tmp_path)
    result = run_cli("check", "web", "-n", "shop", "--manifests", str(old), "--write-baseline", str(baseline))
    assert result.exit_code == 1  # writing a baseline does not change the gate of this run
    document = json.loads(baseline.read_text())
    assert document["schema"] == "svcdoctor/baseline/v1"
    assert [entry["id"] for entry in document["findings"]] == ["SD301"]
    assert '"line"' not in json.dumps(document)

    code, report = _check(old, "--baseline", str(baseline))
    assert code == 0 and report["findings"] == [] and [f["id"] for f in report["suppressed"]] == ["SD301"]

    # A second, new Service breaks the same way: only it fails.
    new = tmp_path / "more.yaml"
    new.write_text(BROKEN.format(annotations="").replace("name: web\n  namespace: shop\nspec:\n  selector",
                                                         "name: api\n  namespace: shop\nspec:\n  selector"))
    result = run_cli("scan", "-n", "shop", "--manifests", str(tmp_path), "--baseline", str(baseline), "-o", "json")
    assert result.exit_code == 1, result.stderr
    by_name = {r["target"]["name"]: r for r in result.json()["reports"]}
    assert by_name["web"]["findings"] == [] and by_name["web"]["verdict"] == "ok"
    assert [f["id"] for f in by_name["api"]["findings"]] == ["SD301"]


def test_fingerprints_survive_reordering_and_moving_files(tmp_path: Path) -> None:
    first = tmp_path / "first"
    first.mkdir()
    _manifests(first)
    baseline = tmp_path / "baseline.json"
    run_cli("scan", "--manifests", str(first), "--write-baseline", str(baseline))
    # The same objects, documents reversed, padded with comments, split into other files.
    second = tmp_path / "second"
    (second / "nested").mkdir(parents=True)
    service, deployment = BROKEN.format(annotations="").split("---\n")
    (second / "nested" / "z-service.yaml").write_text("# moved\n\n\n" + service)
    (second / "a-deployment.yaml").write_text(deployment)
    result = run_cli("scan", "--manifests", str(second), "--baseline", str(baseline), "-o", "json")
    assert result.exit_code == 0, result.stdout
    rewritten = tmp_path / "again.json"
    run_cli("scan", "--manifests", str(second), "--write-baseline", str(rewritten))
    assert rewritten.read_text() == baseline.read_text()


@pytest.mark.parametrize(("content", "message"), [
    ("{", "not valid JSON or YAML"),
    ('{"schema": "other"}', "not a svcdoctor baseline"),
    ('{"schema": "svcdoctor/baseline/v1", "findings": [{}]}', "entry 1 has no fingerprint"),
])
def test_bad_baseline_is_an_input_error(tmp_path: Path, content: str, message: str) -> None:
    baseline = tmp_path / "b.json"
    baseline.write_text(content)
    manifests = str(_manifests(tmp_path))
    result = run_cli("check", "web", "-n", "shop", "--manifests", manifests, "--baseline", str(baseline))
    assert result.exit_code == 2 and message in result.stderr
    missing = run_cli("check", "web", "-n", "shop", "--manifests", str(_manifests(tmp_path)),
                      "--baseline", str(tmp_path / "none.json"))
    assert missing.exit_code == 2 and "no such baseline file" in missing.stderr


def test_config_file_found_upwards_and_overridden_by_flags(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = "fail-on: never\nignore: SD301\noutput: json\ncluster-domain: corp.local\n"
    (tmp_path / ".svcdoctor.yaml").write_text(settings)
    nested = tmp_path / "deploy" / "prod"
    nested.mkdir(parents=True)
    monkeypatch.chdir(nested)
    path = _manifests(tmp_path)
    result = run_cli("check", "web", "-n", "shop", "--manifests", str(path))
    assert result.exit_code == 0
    report = json.loads(result.stdout)  # output: json from the file
    assert [f["id"] for f in report["suppressed"]] == ["SD301"]
    # Flags win: --output, --fail-on, and --ignore replaces the file's list.
    result = run_cli("check", "web", "-n", "shop", "--manifests", str(path), "-o", "text", "--fail-on", "error",
                     "--ignore", "SD101")
    assert result.exit_code == 1 and result.stdout.startswith("svcdoctor")
    monkeypatch.setenv("SVCDOCTOR_CONFIG", "none")
    assert run_cli("check", "web", "-n", "shop", "--manifests", str(path)).exit_code == 1


@pytest.mark.parametrize(("content", "message"), [
    ("fail_on: warning\n", "unknown setting 'fail_on'"),
    ("output: pdf\n", "output: 'pdf' is not one of"),
    ("ignore: 12\n", "ignore: give check IDs"),
    ("fail-on: [x\n", "invalid YAML"),
])
def test_bad_config_is_an_input_error(tmp_path: Path, content: str, message: str) -> None:
    (tmp_path / ".svcdoctor.yaml").write_text(content)
    result = run_cli("check", "web", "-n", "shop", "--manifests", str(_manifests(tmp_path)))
    assert result.exit_code == 2, result.stderr
    assert message in result.stderr and ".svcdoctor.yaml" in result.stderr


def test_fingerprint_ignores_list_positions_when_the_finding_has_a_key() -> None:
    from svcdoctor.checks.interface import Check, CheckDoc
    from svcdoctor.findings import Target
    from svcdoctor.k8s import ObjectRef
    from svcdoctor.suppress import fingerprint

    check = Check(id="SD202", name="n", step=2, doc=CheckDoc.brief("t", "w", "f"), run=lambda c: [])
    service, target = ObjectRef("Service", "shop", "web"), Target("shop", "web")

    def finding(field: str, key: str):  # type: ignore[no-untyped-def]
        return check.finding("m", subject=service, subject_field=field, key=key)

    assert fingerprint(finding("spec.ports[1].targetPort", "metrics"), target) == \
        fingerprint(finding("spec.ports[2].targetPort", "metrics"), target)
    assert fingerprint(finding("spec.ports[1].targetPort", "metrics"), target) != \
        fingerprint(finding("spec.ports[1].targetPort", "http"), target)
    # Without a key the position is all that tells two findings apart: it stays.
    assert fingerprint(finding("spec.ports[1].targetPort", ""), target) != \
        fingerprint(finding("spec.ports[2].targetPort", ""), target)


def test_scan_counts_and_lists_suppressed_findings(tmp_path: Path) -> None:
    path = _manifests(tmp_path, "SD301: the Pods come from the operator")
    quiet = run_cli("scan", "--manifests", str(path))
    assert quiet.exit_code == 0 and "1 finding(s) suppressed (--show-suppressed lists them)" in quiet.stdout
    shown = " ".join(run_cli("scan", "--manifests", str(path), "--show-suppressed").stdout.split())
    assert "shop/web: suppressed SD301" in shown and "the Pods come from the operator" in shown
