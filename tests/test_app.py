"""The application layer's pipeline functions, called as a server would: no CLI, no typer.

``check_service`` and ``scan_services`` must give exactly the reports ``svcdoctor check`` and
``svcdoctor scan`` render, so that anything built on them (a watch loop, an MCP server) agrees
with the command line.
"""

from __future__ import annotations

import dataclasses
import json

import pytest

from svcdoctor.app import Invocation, check_service, scan_services, service_records
from svcdoctor.checks.registry import CHECKS
from svcdoctor.errors import InputError
from svcdoctor.findings import Target
from tests.conftest import ROOT, SCENARIOS, run_cli

SNAPSHOT = str(SCENARIOS / "selector-label-renamed" / "snapshot.yaml")
DEMO = str(ROOT / "svcdoctor" / "data" / "demo-snapshot.yaml")


def as_json(document: object) -> object:
    return json.loads(json.dumps(document, default=str))


def test_check_service_is_what_check_renders() -> None:
    invocation = Invocation(snapshot=DEMO, namespace="shop", from_pod="frontend-ddcj28l7m-jsshd")
    report = check_service(invocation, "backend")
    assert report.target == Target("shop", "backend") and report.client == "shop/frontend-ddcj28l7m-jsshd"
    cli = run_cli("check", "backend", "-n", "shop", "--snapshot", DEMO, "--from", "frontend-ddcj28l7m-jsshd",
                  "-o", "json", "--fail-on", "never")
    rendered = cli.json()
    assert rendered.pop("exitCode") == 0  # the run's exit code: the document adds it to the report
    assert as_json(report.to_dict()) == rendered


def test_scan_services_is_what_scan_renders() -> None:
    reports = scan_services(Invocation(snapshot=DEMO), all_namespaces=True)
    cli = run_cli("scan", "-A", "--snapshot", DEMO, "-o", "json", "--fail-on", "never").json()
    assert [as_json(report.to_dict()) for report in reports] == cli["reports"]
    assert len(reports) > 1


def test_the_pipeline_refuses_bad_flags_with_input_errors() -> None:
    with pytest.raises(InputError, match="at most one of --from, --from-ip, --from-node and --from-gateway"):
        check_service(Invocation(snapshot=SNAPSHOT, namespace="shop", from_pod="a", from_ip="10.0.0.1"), "backend")
    with pytest.raises(InputError, match="not an IP address"):
        check_service(Invocation(snapshot=SNAPSHOT, namespace="shop", from_ip="ten"), "backend")
    with pytest.raises(InputError, match="Pod shop/nobody is not in the snapshot"):
        check_service(Invocation(snapshot=SNAPSHOT, namespace="shop", from_pod="nobody"), "backend")
    with pytest.raises(InputError, match="give -n NAMESPACE or -A"):
        scan_services(Invocation(snapshot=SNAPSHOT))


def test_checks_replace_the_registry() -> None:
    def crashing_run(context: object) -> list[object]:
        raise RuntimeError("boom")

    checks = tuple(dataclasses.replace(c, run=crashing_run) if c.id == "SD301" else c for c in CHECKS)
    report = check_service(Invocation(snapshot=SNAPSHOT, namespace="shop"), "backend", checks=checks)
    assert [(crash.check, crash.error) for crash in report.internal_errors] == [("SD301", "RuntimeError: boom")]
    assert "SD301" not in [finding.id for finding in report.findings]


def test_service_records_is_what_dns_renders() -> None:
    records = service_records(Invocation(snapshot=SNAPSHOT, namespace="shop"), "backend")
    cli = run_cli("dns", "backend", "-n", "shop", "--snapshot", SNAPSHOT, "-o", "json").json()
    assert cli["service"] == records.service == "shop/backend"
    assert [(r["name"], r["type"], r["data"]) for r in cli["records"]] == [
        (r.name, r.type, r.data) for r in records.records]
    assert not records.probed and records.answers == ()
