"""``reach`` and step 6 through the real ``kubernetes`` client against the snapshot API server.

The upstream model (namespaces x, y, z) is served over the Kubernetes REST shape; svcdoctor reads it
live, so these tests prove the live source reads what the evaluator needs: policies of every
namespace involved (the client's egress too), Pods, and Namespace labels.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from svcdoctor.serve.apiserver import ServerOptions, SnapshotAPIServer
from tests.conftest import require_shared, run_cli
from tests.netpol.oracle_model import model_objects, parse_truth_table
from tests.netpol.test_oracle_cases import CASES

CASE = CASES / "09-egress-client-side-deny.yaml"


@pytest.fixture
def case() -> dict:
    require_shared(f"oracles/netpol/cases/{CASE.name}")
    return dict(yaml.safe_load(CASE.read_text()))


@pytest.fixture
def server(case: dict) -> Iterator[SnapshotAPIServer]:
    with SnapshotAPIServer(model_objects(case["served_ports"], case["policies"])) as api:
        yield api


def test_reach_reads_the_cluster_live(server: SnapshotAPIServer, case: dict, tmp_path: Path) -> None:
    config = server.write_kubeconfig(str(tmp_path / "kubeconfig"), namespace="x")
    result = run_cli("reach", "-n", "x", "-n", "y", "-n", "z", "--each-pod", "--port", "80/TCP",
                     "--kubeconfig", config, "-o", "json")
    assert result.exit_code == 0, result.stderr
    document = result.json()
    sources = [m["id"] for m in document["sources"]]
    destinations = [m["id"] for m in document["destinations"]]
    rows = document["ports"][0]["matrix"]
    expected = parse_truth_table(case["probes"][0]["expected"])
    for (source, destination), cell in expected.items():
        if source != destination:
            assert rows[sources.index(source)][destinations.index(destination)] == cell, (source, destination)


def test_check_from_another_namespace_reads_the_clients_egress_policies(server: SnapshotAPIServer,
                                                                        tmp_path: Path) -> None:
    config = server.write_kubeconfig(str(tmp_path / "kubeconfig"), namespace="y")
    # x/a may send only to y/a: its own egress policy (in namespace x) denies y/b, whose ingress admits x/a.
    result = run_cli("check", "s-y-b", "-n", "y", "--from", "x/a", "--kubeconfig", config, "-o", "json")
    assert result.exit_code == 1, result.stderr
    ids = [f["id"] for f in result.json()["findings"]]
    assert "SD602" in ids and "SD601" not in ids
    allowed = run_cli("check", "s-y-a", "-n", "y", "--from", "x/a", "--kubeconfig", config, "-o", "json")
    findings = allowed.json()["findings"]
    assert not [f for f in findings if f["id"] in ("SD601", "SD602")]
    # Its egress admits only y/a: no Pod of kube-system, so no DNS Pod either — decided from the rule's
    # peers although the cluster has no kube-dns Pods to look at; and DNS is what it meets first.
    assert [f["id"] for f in findings if f["id"].startswith("SD60")] == ["SD603"]
    assert findings[0]["id"] == "SD603" and findings[0]["severity"] == "error"


def test_forbidden_policies_make_reach_fail_not_guess(case: dict, tmp_path: Path) -> None:
    objects = model_objects(case["served_ports"], case["policies"])
    with SnapshotAPIServer(objects, options=ServerOptions(forbid={"networkpolicies"})) as api:
        config = api.write_kubeconfig(str(tmp_path / "kubeconfig"), namespace="x")
        result = run_cli("reach", "-n", "x", "--kubeconfig", config)
    assert result.exit_code == 3, result.stderr
    assert "networkpolicies" in result.stderr
