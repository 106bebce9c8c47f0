"""Run one check, or the whole diagnosis, over objects made with ClusterBuilder."""

from __future__ import annotations

from svcdoctor.checks.interface import Check, Context, Options
from svcdoctor.engine import diagnose_service
from svcdoctor.findings import Finding, Severity, Target
from svcdoctor.report import Report
from svcdoctor.snapshot import build_snapshot
from svcdoctor.testing.cluster import ClusterBuilder


def context_of(builder: ClusterBuilder, namespace: str, name: str, options: Options | None = None,
               reconcile: bool = True) -> Context:
    snapshot = build_snapshot(builder.build(reconcile=reconcile))
    return Context(snapshot, Target(namespace, name), None, options or Options())


def findings(check: Check, builder: ClusterBuilder, namespace: str, name: str,
             options: Options | None = None) -> list[Finding]:
    return list(check.run(context_of(builder, namespace, name, options)))


def report(builder: ClusterBuilder, namespace: str, name: str, options: Options | None = None) -> Report:
    return diagnose_service(build_snapshot(builder.build()), namespace, name, options=options)


def ranked(result: Report) -> list[str]:
    """The ranked IDs at warning level or above (info findings, e.g. SD605's summary, are left out)."""
    return [f.id for f in result.findings if f.severity is not Severity.INFO]


def new_cluster(namespace: str = "prod") -> ClusterBuilder:
    builder = ClusterBuilder()
    builder.snapshot_info()
    builder.namespace(namespace)
    builder.node("node-a", "172.18.0.2", zone="zone-a")
    builder.node("node-b", "172.18.0.3", zone="zone-b")
    return builder


HTTP = [{"name": "http", "containerPort": 8080}]
PORTS = [{"name": "http", "port": 80, "targetPort": "http"}]
