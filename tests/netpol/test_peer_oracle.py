"""The NetworkPolicy ideas of ../shared/oracles/peers/expectations.yaml (popeye fixtures plus a Service).

popeye judges each policy alone ("Deny all policy in effect"); Kubernetes takes the union of the
policies that select a Pod. The entries' ``if_service_added`` blocks say what svcdoctor must report
once a Service (popeye/core/svc/1.yaml: svc1 → default/p1, port 9090) is added; the client is p1.
The fixtures carry Pod IPs, so they are read as a snapshot.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ORACLES, require, run_cli

pytestmark = pytest.mark.shared("oracles/peers/expectations.yaml")

PEERS = ORACLES / "peers"


def entry(entry_id: str) -> dict[str, Any]:
    require((PEERS / "expectations.yaml").is_file(), f"the peers oracle is missing from {PEERS}")
    entries = yaml.safe_load((PEERS / "expectations.yaml").read_text())
    if isinstance(entries, dict):
        entries = entries.get("entries", [])
    return next(e for e in entries if e.get("id") == entry_id)


def run_with_service(item: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    files = [*item["files"], "popeye/core/svc/1.yaml"]
    stream = "\n---\n".join((PEERS / name).read_text() for name in files)
    path = tmp_path / "stream.yaml"
    path.write_text(stream)
    result = run_cli("check", "svc1", "-n", "default", "--snapshot", str(path), "--from", "default/p1", "-o", "json")
    assert result.exit_code in (0, 1), result.stderr
    return dict(result.json())


def test_policies_are_a_union_not_judged_alone(tmp_path: Path) -> None:
    item = entry("pp-np-deny-all")
    report = run_with_service(item, tmp_path)
    fired = {f["id"] for f in report["findings"]}
    for check_id in item["if_service_added"]["expect"]["not_fires"]:
        assert check_id not in fired, report["findings"]
    step = next(s for s in report["steps"] if s["step"] == 6)
    # The NetworkPolicy checks ran on their evidence; only the admin-tier and Cilium kinds, which the
    # fixtures do not hold, are "not recorded".
    assert step["status"] == "partial"
    assert {check for item in step["missing"] for check in item["checks"]} == {"SD606", "SD607"}


def test_ingress_only_on_6379_and_no_dns(tmp_path: Path) -> None:
    item = entry("pp-np-lint")
    report = run_with_service(item, tmp_path)
    fired = {f["id"] for f in report["findings"]}
    assert set(item["if_service_added"]["expect"]["fires"]) <= fired
    assert set(item["if_service_added"]["as_client"]["fires"]) <= fired
    for finding in report["findings"]:
        names = {e.get("name") for e in finding["evidence"]}
        assert "np3" not in names, finding  # np3 selects no Pod
    sd601 = next(f for f in report["findings"] if f["id"] == "SD601")
    assert "6379" in sd601["message"] and "9090" in sd601["message"]


@pytest.mark.parametrize("policy_file, denies_ingress, denies_egress", [
    ("popeye/net/np/deny-all.yaml", True, True),
    # Named allow-all-egress, but policyTypes [Ingress] with no ingress rules: it denies all ingress and
    # its egress rule is ignored.
    ("popeye/net/np/allow-all-ing.yaml", True, False),
])
def test_default_deny_semantics(policy_file: str, denies_ingress: bool, denies_egress: bool) -> None:
    from svcdoctor.netpol.evaluator import Evaluator, pod_endpoint
    from svcdoctor.netpol.interface import EGRESS, INGRESS, Traffic
    from svcdoctor.snapshot import build_snapshot

    require((PEERS / policy_file).is_file(), f"{policy_file} is missing")
    policy = yaml.safe_load((PEERS / policy_file).read_text())
    policy["metadata"].setdefault("namespace", "default")  # namespace unset means default
    pods = [{"apiVersion": "v1", "kind": "Pod", "metadata": {"namespace": "default", "name": name, "labels": {}},
             "spec": {"containers": []}, "status": {"podIP": ip}} for name, ip in (("a", "198.18.0.1"),
                                                                                  ("b", "198.18.0.2"))]
    evaluator = Evaluator(build_snapshot([policy, *pods]))
    a, b = (pod_endpoint(p) for p in pods)
    assert evaluator.decide(INGRESS, a, b, Traffic(80)) is not denies_ingress
    assert evaluator.decide(EGRESS, a, b, Traffic(80)) is not denies_egress
