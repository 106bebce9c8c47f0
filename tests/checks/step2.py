"""Shared helpers for the step-2 check tests: a small cluster, a diagnosis, finding look-ups."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from svcdoctor.checks.interface import Options
from svcdoctor.engine import diagnose_service
from svcdoctor.findings import Client, Finding
from svcdoctor.report import Report
from svcdoctor.snapshot import DNSAnswer, Snapshot, build_snapshot
from svcdoctor.testing.cluster import ClusterBuilder

HTTP = [{"name": "http", "containerPort": 8080}]


def cluster(nodes: int = 2) -> ClusterBuilder:
    """A builder with a snapshot time, a namespace ``shop`` and ``nodes`` Ready nodes in zones a, b, c…"""
    builder = ClusterBuilder()
    builder.snapshot_info()
    builder.namespace("shop")
    for index in range(nodes):
        letter = "abcdefgh"[index]
        builder.node(f"node-{letter}", f"172.18.0.{index + 2}", zone=f"zone-{letter}")
    return builder


def snapshot(builder: ClusterBuilder, *, static: bool = False, dns: Iterable[DNSAnswer] = (),
             objects: Sequence[dict[str, Any]] | None = None) -> Snapshot:
    items = builder.build() if objects is None else objects
    built = build_snapshot(items, static=static)
    return built.with_evidence(dns_answers=dns) if dns else built


def diagnose(snap: Snapshot, name: str, namespace: str = "shop", client: Client | None = None,
             options: Options | None = None) -> Report:
    return diagnose_service(snap, namespace, name, client=client, options=options)


def found(report: Report, check_id: str) -> list[Finding]:
    return [f for f in report.findings if f.id == check_id]


def only(report: Report, check_id: str) -> Finding:
    findings = found(report, check_id)
    assert len(findings) == 1, [(f.id, f.message) for f in report.findings]
    return findings[0]


def status(report: Report, check_id: str) -> str:
    for step in report.steps:
        for result in step.checks:
            if result.id == check_id:
                return result.status
    raise AssertionError(f"{check_id} did not run")


def evidence_values(finding: Finding) -> list[Any]:
    return [item.value for item in finding.evidence]
