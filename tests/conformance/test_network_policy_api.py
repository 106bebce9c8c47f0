"""The network-policy-api conformance cases (network_policy_api.yaml), each checked against svcdoctor.

Every case is built on the suite's house-themed cluster in both releases' APIs — v0.1.7's
AdminNetworkPolicy / BaselineAdminNetworkPolicy and v0.2.0's ClusterNetworkPolicy — and replayed
step by step, with the Go test's changes applied as they accumulate. At each step every connection
the Go test makes must be allowed or denied by svcdoctor's tiered evaluation (the PolicyStack that
``reach`` and SD606 use), both ways (the server's ingress and the client's egress). The state after
the last step is also read by ``svcdoctor reach`` itself, live through the test API server with
the real ``kubernetes`` client (v0.2.0's ClusterNetworkPolicies).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from svcdoctor.netpol.evaluator import pod_endpoint
from svcdoctor.netpol.interface import Traffic
from svcdoctor.netpol.matrix import ALLOWED, DENIED
from svcdoctor.netpol.tiers import PolicyStack
from svcdoctor.snapshot import Snapshot, build_snapshot
from tests.conformance.policy_cluster import V1ALPHA1, V1ALPHA2, Case, Connection, PolicyCluster, load
from tests.conftest import run_cli

UPSTREAM, PREFIX, CASES = load()
RELEASES = (V1ALPHA1, V1ALPHA2)


def test_the_catalog_records_releases_commits_and_the_standard_profile() -> None:
    assert UPSTREAM["repository"] == "kubernetes-sigs/network-policy-api" and UPSTREAM["profile"] == "standard"
    assert sorted(UPSTREAM["releases"]) == [V1ALPHA1, V1ALPHA2]
    assert all(len(release["commit"]) == 40 for release in UPSTREAM["releases"].values())
    names = {case.tests[V1ALPHA1] for case in CASES if case.data.get("profile", "standard") == "standard"}
    for tier in ("AdminNetworkPolicy", "BaselineAdminNetworkPolicy"):
        for kind in ("IngressTCP", "IngressUDP", "IngressSCTP", "EgressTCP", "EgressUDP", "EgressSCTP", "Gress",
                     "EgressInlineCIDRPeers"):
            assert tier + kind in names
    assert {"AdminNetworkPolicyPriorityField", "AdminNetworkPolicyIntegration"} <= names
    assert len(names) == 18
    for case in CASES:
        assert case.file.startswith("conformance/tests/") and V1ALPHA1 in case.tests
        assert set(case.tests) == set(RELEASES) or case.data["profile"] == "experimental"


def _pod(snapshot: Snapshot, name: str) -> dict[str, Any]:
    house, _, pod = name.partition("/")
    found = snapshot.get("Pod", PREFIX + house, pod)
    assert found is not None, name
    return found


def _disagreements(snapshot: Snapshot, connections: list[Connection]) -> list[str]:
    stack = PolicyStack(snapshot)
    wrong = []
    for connection in connections:
        source = pod_endpoint(_pod(snapshot, connection.client))
        destination = pod_endpoint(_pod(snapshot, connection.server))
        ingress, egress = stack.connection(source, destination, Traffic(connection.port, connection.protocol))
        allowed = ingress.allowed and (egress is None or egress.allowed)
        if allowed != connection.allowed:
            wrong.append(f"{connection}: svcdoctor says {'allowed' if allowed else 'denied'} (ingress by "
                         f"{ingress.tier}, egress by {egress.tier if egress else '-'}), the test expects "
                         f"{'allowed' if connection.allowed else 'denied'}")
    return wrong


def _cases() -> list[Any]:
    return [pytest.param(case, release, id=f"{case.tests[release]}") for case in CASES for release in RELEASES
            if release in case.tests]


@pytest.mark.parametrize(("case", "release"), _cases())
def test_every_connection_of_every_step_agrees(case: Case, release: str) -> None:
    cluster = PolicyCluster(case, release, PREFIX)
    wrong = []
    for number, step in enumerate(case.data["steps"], start=1):
        for change in step.get("change") or []:
            cluster.apply(change)
        connections = [Connection.parse(text) for text in step["expect"]]
        wrong += [f"step {number} ({step['does']}): {line}" for line in
                  _disagreements(build_snapshot(cluster.objects()), connections)]
    assert wrong == []


def _final(case: Case, release: str) -> tuple[PolicyCluster, list[Connection]]:
    cluster = PolicyCluster(case, release, PREFIX)
    for step in case.data["steps"]:
        for change in step.get("change") or []:
            cluster.apply(change)
    return cluster, [Connection.parse(text) for text in case.data["steps"][-1]["expect"]]


def _reach(connections: list[Connection], *source: str) -> dict[str, bool]:
    """``svcdoctor reach`` over the Pods and ports of ``connections``: {connection: allowed}."""
    pods = sorted({PREFIX + name for c in connections for name in (c.client, c.server)})
    ports = sorted({f"{c.port}/{c.protocol}" for c in connections})
    arguments = [argument for pod in pods for argument in ("--pod", pod)]
    arguments += [argument for port in ports for argument in ("--port", port)]
    result = run_cli("reach", *source, *arguments, "--each-pod", "-o", "json")
    assert result.exit_code == 0, result.stderr
    matrix = result.json()
    sources = [item["id"] for item in matrix["sources"]]
    destinations = [item["id"] for item in matrix["destinations"]]
    found = {}
    for table in matrix["ports"]:
        for connection in connections:
            if (table["port"], table["protocol"]) != (connection.port, connection.protocol):
                continue
            cell = table["matrix"][sources.index(PREFIX + connection.client)][destinations.index(
                PREFIX + connection.server)]
            assert cell in (ALLOWED, DENIED), (str(connection), cell)
            found[str(connection)] = cell == ALLOWED
    return found


@pytest.mark.parametrize("case", [pytest.param(case, id=case.tests[V1ALPHA2])
                                  for case in CASES if V1ALPHA2 in case.tests])
def test_reach_shows_the_last_step_live_v1alpha2(case: Case, tmp_path: Path) -> None:
    from svcdoctor.serve.apiserver import SnapshotAPIServer

    cluster, connections = _final(case, V1ALPHA2)
    with SnapshotAPIServer(cluster.objects()) as api:
        config = api.write_kubeconfig(str(tmp_path / "kubeconfig"))
        assert _reach(connections, "--kubeconfig", config) == {str(c): c.allowed for c in connections}


def _first_denial(case: Case) -> tuple[int, Connection]:
    """The first step where the Go test expects a connection to fail, and that connection."""
    for number, step in enumerate(case.data["steps"]):
        denied = [c for c in map(Connection.parse, step["expect"]) if not c.allowed]
        if denied:
            return number, denied[0]
    raise AssertionError(f"{case.id} expects no connection to fail")


@pytest.mark.parametrize("case", [pytest.param(case, id=case.tests[V1ALPHA1]) for case in CASES])
def test_check_names_the_admin_policy_that_denies(case: Case, tmp_path: Path) -> None:
    """``check SERVICE --from CLIENT`` on a Service in front of the server: SD606 names the case's policy."""
    import yaml

    number, connection = _first_denial(case)
    house, _, _pod = connection.server.partition("/")
    cluster = PolicyCluster(case, V1ALPHA1, PREFIX)
    cluster.service(house, "conformance", connection.port, connection.protocol)
    for step in case.data["steps"][:number + 1]:
        for change in step.get("change") or []:
            cluster.apply(change)
    path = tmp_path / "snapshot.yaml"
    path.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": cluster.objects()}))
    report = run_cli("check", "conformance", "-n", PREFIX + house, "--from", PREFIX + connection.client,
                     "--snapshot", str(path), "-o", "json").json()
    denials = [f for f in report["findings"] if f["id"] == "SD606"]
    assert denials, (str(connection), [f["id"] for f in report["findings"]])
    assert any(name in denials[0]["message"] for name in case.data["policies"]), denials[0]["message"]
    assert report["verdict"] == "unreachable"
