"""Steps 2 and 6 say which custom kinds they did not read (issue 16): a hand-made snapshot without
Gateway API routes, admin-tier or Cilium policies is ``partial`` with those kinds in ``missing``,
never a pass and never a finding; a snapshot that says it listed them (``SnapshotInfo.recorded``,
as ``record`` writes it, counting a CRD that is not installed as listed) passes; live, a 404 is
"none exist" and a 403 is unknown.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from svcdoctor.serve.apiserver import ServerOptions, SnapshotAPIServer
from svcdoctor.sources.files import load_objects
from tests.conftest import SCENARIOS, run_cli
from tests.test_live import live

EVIDENCE = "svcdoctor.dev/v1"
ADMIN = "healthy-admin-policy-passes-to-networkpolicy"
ADMIN_ARGS = ["check", "api", "-n", "tenant-a", "--from", "tenant-a/frontend-gp7ws6mx5-mhn4w"]
CILIUM_KINDS = ["CiliumNetworkPolicy", "CiliumClusterwideNetworkPolicy"]


def _objects(scenario: str) -> list[dict[str, Any]]:
    return [dict(obj) for obj in load_objects(str(SCENARIOS / scenario / "snapshot.yaml"))]


def _listing(objects: list[dict[str, Any]], *kinds: str) -> list[dict[str, Any]]:
    """The objects with a SnapshotInfo that says ``kinds`` were listed (as ``record`` writes it)."""
    info = next(o for o in objects if o.get("kind") == "SnapshotInfo")
    return [o for o in objects if o is not info] + [{**info, "recorded": [{"kind": kind} for kind in kinds]}]


def _report(tmp_path: Path, objects: list[dict[str, Any]], *args: str) -> dict[str, Any]:
    path = tmp_path / "snapshot.json"
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}))
    result = run_cli(*args, "--snapshot", str(path), "-o", "json")
    assert result.exit_code in (0, 1, 4), result.stderr
    return result.json()  # type: ignore[no-any-return]


def _step(report: dict[str, Any], number: int) -> dict[str, Any]:
    return next(step for step in report["steps"] if step["step"] == number)


def _missing(step: dict[str, Any], check: str) -> str:
    return " ".join(item["what"] for item in step.get("missing", []) if check in item["checks"])


def _egress_policy_for_the_frontend() -> dict[str, Any]:
    """The frontend's own NetworkPolicy, allowing all its egress: its egress is then decided by it."""
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "frontend-egress", "namespace": "tenant-a"},
            "spec": {"podSelector": {"matchLabels": {"app": "frontend"}}, "policyTypes": ["Egress"],
                     "egress": [{}]}}


def test_admin_and_cilium_kinds_not_in_the_snapshot_leave_step_6_partial(tmp_path: Path) -> None:
    objects = [o for o in _objects(ADMIN) if o.get("kind") != "AdminNetworkPolicy"]
    report = _report(tmp_path, objects, *ADMIN_ARGS)
    step = _step(report, 6)
    assert report["verdict"] == "ok" and not [f for f in report["findings"] if f["id"] in ("SD606", "SD607")]
    assert step["status"] == "partial"
    admin = "no AdminNetworkPolicy, BaselineAdminNetworkPolicy or ClusterNetworkPolicy objects"
    assert admin in _missing(step, "SD606")
    assert "no CiliumNetworkPolicy or CiliumClusterwideNetworkPolicy objects" in _missing(step, "SD607")
    assert "kubectl get adminnetworkpolicies,baselineadminnetworkpolicies,clusternetworkpolicies -A" in json.dumps(step)


def test_a_snapshot_that_listed_every_kind_passes_step_6(tmp_path: Path) -> None:
    objects = _listing(_objects(ADMIN), "NetworkPolicy", "AdminNetworkPolicy", "BaselineAdminNetworkPolicy",
                       "ClusterNetworkPolicy", *CILIUM_KINDS)
    assert _step(_report(tmp_path, objects, *ADMIN_ARGS), 6)["status"] == "pass"


def test_the_baseline_tier_counts_only_when_a_connection_reaches_it(tmp_path: Path) -> None:
    """The frontend's egress is decided by no NetworkPolicy, so it reaches the baseline tier, and an
    unrecorded BaselineAdminNetworkPolicy could deny it; once a NetworkPolicy decides both directions
    (the api's ingress policy, the frontend's egress policy) the baseline is never asked."""
    listed = _listing(_objects(ADMIN), "NetworkPolicy", "AdminNetworkPolicy", "ClusterNetworkPolicy", *CILIUM_KINDS)
    step = _step(_report(tmp_path, listed, *ADMIN_ARGS), 6)
    assert step["status"] == "partial"
    assert _missing(step, "SD606").startswith("no BaselineAdminNetworkPolicy objects in the snapshot")
    decided = [*listed, _egress_policy_for_the_frontend()]
    assert _step(_report(tmp_path, decided, *ADMIN_ARGS), 6)["status"] == "pass"


def test_cilium_policies_are_needed_in_the_client_namespace_too(tmp_path: Path) -> None:
    objects = _objects("healthy-cilium-starwars-tiefighter")
    args = [str(a) for a in yaml.safe_load((SCENARIOS / "healthy-cilium-starwars-tiefighter" / "scenario.yaml")
                                           .read_text())["args"]]
    info = next(o for o in objects if o.get("kind") == "SnapshotInfo")
    recorded = [{"kind": "NetworkPolicy"}, *({"kind": kind} for kind in ("AdminNetworkPolicy", "ClusterNetworkPolicy",
                                                                         "BaselineAdminNetworkPolicy")),
                {"kind": "CiliumClusterwideNetworkPolicy"}]
    without = [o for o in objects if o.get("kind") not in ("SnapshotInfo", "CiliumNetworkPolicy")]
    listed_elsewhere = [*without, {**info, "recorded": [*recorded, {"kind": "CiliumNetworkPolicy",
                                                                    "namespaces": ["kube-system"]}]}]
    step = _step(_report(tmp_path, listed_elsewhere, *args), 6)
    assert "no CiliumNetworkPolicy objects" in _missing(step, "SD607")
    listed_here = [*without, {**info, "recorded": [*recorded, {"kind": "CiliumNetworkPolicy",
                                                               "namespaces": ["default"]}]}]
    assert not _missing(_step(_report(tmp_path, listed_here, *args), 6), "SD607")


def test_routes_a_snapshot_does_not_hold_leave_step_2_partial(tmp_path: Path) -> None:
    objects = _objects("healthy-clusterip-deployment")
    step = _step(_report(tmp_path, objects, "check", "frontend", "-n", "shop"), 2)
    assert step["status"] == "partial"
    assert "no HTTPRoute, GRPCRoute, TLSRoute, TCPRoute or UDPRoute objects" in _missing(step, "SD214")
    listed = _listing(objects, "Ingress", "HTTPRoute", "GRPCRoute", "TLSRoute", "TCPRoute", "UDPRoute")
    assert not _missing(_step(_report(tmp_path, listed, "check", "frontend", "-n", "shop"), 2), "SD214")


def test_an_unrecorded_gateway_or_grant_is_not_a_missing_one(tmp_path: Path) -> None:
    """Only the route recorded: its parent Gateway and the grant beside the Service were not, so neither
    NoMatchingParent nor RefNotPermitted is claimed; step 2 says what was not read."""
    objects = [o for o in _objects("healthy-gateway-route-with-reference-grant")
               if o.get("kind") not in ("Gateway", "GatewayClass", "ReferenceGrant")]
    for route in (o for o in objects if o.get("kind") in ("HTTPRoute", "GRPCRoute")):
        route.pop("status", None)
    report = _report(tmp_path, objects, "check", "cart", "-n", "shop")
    assert not [f for f in report["findings"] if f["id"] == "SD214"], report["findings"]
    step = _step(report, 2)
    assert step["status"] == "partial"
    assert "UDPRoute, Gateway or ReferenceGrant objects" in _missing(step, "SD214")
    listed = _listing(objects, "Gateway", "ReferenceGrant")
    reasons = json.dumps([f for f in _report(tmp_path, listed, "check", "cart", "-n", "shop")["findings"]
                          if f["id"] == "SD214"])
    assert "NoMatchingParent" in reasons and "RefNotPermitted" in reasons


def test_live_a_crd_that_is_not_installed_is_none_and_a_forbidden_one_is_unknown(tmp_path: Path) -> None:
    documents = [o for o in _objects(ADMIN) if o.get("apiVersion") != EVIDENCE]
    config = str(tmp_path / "kubeconfig")
    missing = ServerOptions(missing_groups={"policy.networking.k8s.io", "cilium.io", "gateway.networking.k8s.io"})
    without_admin = [o for o in documents if o.get("kind") != "AdminNetworkPolicy"]
    with SnapshotAPIServer(without_admin, options=missing) as api:
        report = live(api.write_kubeconfig(config, namespace="tenant-a"), *ADMIN_ARGS, "-o", "json").json()
        assert not _missing(_step(report, 6), "SD606") and not _missing(_step(report, 6), "SD607")
        assert not _missing(_step(report, 2), "SD214")
    with SnapshotAPIServer(documents, options=ServerOptions(forbid={"ciliumclusterwidenetworkpolicies"})) as api:
        report = live(api.write_kubeconfig(config, namespace="tenant-a"), *ADMIN_ARGS, "-o", "json").json()
        step = _step(report, 6)
        assert step["status"] == "unknown" and report["verdict"] == "unknown"
        assert "ciliumclusterwidenetworkpolicies" in step["reason"]
