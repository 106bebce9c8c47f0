"""``snapshot serve`` answers the Table form kubectl asks for, so ``kubectl get`` shows its usual columns.

The real ``kubectl`` reads the server; the columns and cells are compared with what kubectl
prints against a real cluster for the same objects (ages from the snapshot's ``capturedAt``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from svcdoctor.serve.apiserver import SnapshotAPIServer
from svcdoctor.serve.tables import human_duration, table_version
from svcdoctor.sources.files import load_objects
from tests.conftest import ROOT, SCENARIOS, require

DEMO = str(ROOT / "svcdoctor" / "data" / "demo-snapshot.yaml")


@pytest.fixture
def kubectl(tmp_path: Path) -> Iterator[object]:
    require(shutil.which("kubectl") is not None, "kubectl is not on PATH")
    servers: list[SnapshotAPIServer] = []

    def run(snapshot: str, *args: str) -> list[list[str]]:
        server = SnapshotAPIServer(load_objects(snapshot)).start()
        servers.append(server)
        config = server.write_kubeconfig(str(tmp_path / f"kubeconfig-{len(servers)}"), namespace="shop")
        env = {**os.environ, "KUBECONFIG": config, "HOME": str(tmp_path)}
        result = subprocess.run(["kubectl", *args], capture_output=True, text=True, env=env, timeout=60)
        assert result.returncode == 0, result.stderr
        return [_columns(line) for line in result.stdout.splitlines()]

    yield run
    for server in servers:
        server.stop()


def _columns(line: str) -> list[str]:
    """A kubectl table line split at its runs of 3+ spaces (kubectl pads columns with at least 3)."""
    import re

    return [cell for cell in re.split(r"\s{3,}", line.strip()) if cell]


def test_kubectl_get_pods_wide_shows_the_usual_columns(kubectl) -> None:  # type: ignore[no-untyped-def]
    rows = kubectl(DEMO, "get", "pods", "-o", "wide", "-n", "shop")
    assert rows[0] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE", "NOMINATED NODE",
                       "READINESS GATES"]
    by_name = {row[0]: row for row in rows[1:]}
    assert by_name["frontend-ddcj28l7m-jsshd"] == ["frontend-ddcj28l7m-jsshd", "1/1", "Running", "0", "120m",
                                                   "10.244.0.1", "node-a", "<none>", "<none>"]
    pods = {obj["metadata"]["name"] for obj in load_objects(DEMO)
            if obj.get("kind") == "Pod" and obj["metadata"].get("namespace") == "shop"}
    assert set(by_name) == pods and all(row[2] == "Running" for row in by_name.values())


def test_kubectl_get_pods_shows_crash_loops_and_restarts(kubectl) -> None:  # type: ignore[no-untyped-def]
    rows = kubectl(str(SCENARIOS / "crashloop-backend" / "snapshot.yaml"), "get", "pods", "-n", "shop")
    assert rows[0] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    crashing = [row for row in rows[1:] if row[2] == "CrashLoopBackOff"]
    assert crashing and all(row[1] == "0/1" and row[3] == "12 (5m ago)" for row in crashing)


def test_kubectl_get_services_endpoints_policies_nodes(kubectl) -> None:  # type: ignore[no-untyped-def]
    rows = kubectl(DEMO, "get", "svc", "-n", "shop", "-o", "wide")
    assert rows[0] == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE", "SELECTOR"]
    backend = next(row for row in rows if row[0] == "backend")
    assert backend[1] == "ClusterIP" and backend[3] == "<none>" and backend[4] == "80/TCP"
    assert backend[6] == "app=backend"
    slices = kubectl(DEMO, "get", "endpointslices", "-n", "shop")
    assert slices[0] == ["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"]
    assert any(row[1] == "IPv4" and "10.244." in row[3] for row in slices[1:])
    nodes = kubectl(DEMO, "get", "nodes", "-o", "wide")
    assert nodes[0][:6] == ["NAME", "STATUS", "ROLES", "AGE", "VERSION", "INTERNAL-IP"]
    assert {row[0]: row[1] for row in nodes[1:]} == {"node-a": "Ready", "node-b": "Ready"}
    policies = kubectl(str(SCENARIOS / "netpol-cross-namespace-client" / "snapshot.yaml"), "get", "netpol", "-A")
    assert policies[0] == ["NAMESPACE", "NAME", "POD-SELECTOR", "AGE"] and len(policies) > 1


def test_kubectl_get_events_starts_with_last_seen(kubectl) -> None:  # type: ignore[no-untyped-def]
    rows = kubectl(str(SCENARIOS / "crashloop-backend" / "snapshot.yaml"), "get", "events", "-n", "shop")
    assert rows[0] == ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert any(row[3].startswith("pod/") for row in rows[1:])


def test_a_load_balancer_without_an_address_is_pending(kubectl) -> None:  # type: ignore[no-untyped-def]
    rows = kubectl(str(SCENARIOS / "loadbalancer-pending-quota" / "snapshot.yaml"), "get", "svc", "-A")
    assert any(row[2] == "LoadBalancer" and row[4] == "<pending>" for row in rows[1:])


@pytest.mark.parametrize(("seconds", "printed"), [
    (-5, "<invalid>"), (59, "59s"), (119, "119s"), (150, "2m30s"), (300, "5m"), (1800, "30m"),
    (5 * 3600 + 7 * 60, "5h7m"), (20 * 3600, "20h"), (3 * 86400 + 3600, "3d1h"), (400 * 86400, "400d"),
    (3 * 365 * 86400 + 5 * 86400, "3y5d"), (10 * 365 * 86400, "10y"),
])
def test_ages_print_as_kubectl_prints_them(seconds: int, printed: str) -> None:
    assert human_duration(seconds) == printed


def test_the_accept_header_decides() -> None:
    assert table_version("application/json;as=Table;v=v1;g=meta.k8s.io,application/json") == "v1"
    assert table_version("application/json;as=Table;v=v1beta1;g=meta.k8s.io") == "v1beta1"
    assert table_version("application/json") is None
    assert table_version("application/json;as=Table;v=v2;g=meta.k8s.io") is None
