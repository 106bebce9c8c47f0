"""CiliumNetworkPolicy / CiliumClusterwideNetworkPolicy at L3/L4, and their merge with NetworkPolicy.

The Star Wars demo of ../shared/realworld-dev/netpol/cilium-starwars reproduces its documented
outcomes; the rest pins one rule of Cilium's policy language each.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from svcdoctor.netpol.evaluator import ip_endpoint, node_endpoint, pod_endpoint
from svcdoctor.netpol.interface import EGRESS, INGRESS, Traffic
from svcdoctor.netpol.tiers import PolicyStack
from svcdoctor.snapshot import build_snapshot
from svcdoctor.testing.cluster import ClusterBuilder

STARWARS = Path(__file__).resolve().parents[2] / ".." / "shared" / "realworld-dev" / "netpol" / "cilium-starwars"
EXPECTATIONS = STARWARS.parent / "expectations.yaml"


def starwars(with_policy: bool) -> list[dict[str, Any]]:
    """http-sw-app.yaml as the controllers make it: the Deployment's Pods, the two bare Pods, the Service."""
    builder = ClusterBuilder()
    builder.node("kind-worker", "172.18.0.2")
    builder.namespace("default")
    documents = [d for d in yaml.safe_load_all((STARWARS / "http-sw-app.yaml").read_text()) if d]
    for document in documents:
        metadata = document["metadata"]
        if document["kind"] == "Deployment":
            template = document["spec"]["template"]
            builder.deployment("default", metadata["name"], metadata.get("labels", {}), template["spec"]["containers"],
                               replicas=document["spec"]["replicas"], template_labels=template["metadata"]["labels"])
        elif document["kind"] == "Pod":
            builder.pod("default", metadata["name"], metadata["labels"], document["spec"]["containers"])
        elif document["kind"] == "Service":
            builder.service("default", metadata["name"], document["spec"]["selector"], document["spec"]["ports"],
                            labels=metadata.get("labels"))
    objects = builder.build()
    if with_policy:
        policy = yaml.safe_load((STARWARS / "sw_l3_l4_policy.yaml").read_text())
        policy["metadata"]["namespace"] = "default"  # kubectl create puts it in the current namespace
        objects.append(policy)
    return objects


def starwars_cases() -> list[tuple[int, str, bool]]:
    entry = next(e for e in yaml.safe_load(EXPECTATIONS.read_text())["cases"] if e["id"] == "cilium-starwars")
    return [(step["step"], check["client"]["labels"]["class"], check["allowed"])
            for step in entry["steps"] for check in step["checks"]]


@pytest.mark.parametrize(("step", "client", "allowed"), starwars_cases())
def test_starwars_documented_outcomes(step: int, client: str, allowed: bool) -> None:
    snapshot = build_snapshot(starwars(with_policy=step >= 2))
    stack = PolicyStack(snapshot)
    source = pod_endpoint(snapshot.pod("default", client) or {})
    backends = [p for p in snapshot.pods if p["metadata"]["labels"].get("class") == "deathstar"]
    assert len(backends) == 2
    for backend in backends:
        assert stack.allowed(source, pod_endpoint(backend), Traffic(80)) is allowed


def world(*policies: dict[str, Any], network_policies: tuple[dict[str, Any], ...] = ()) -> PolicyStack:
    builder = ClusterBuilder()
    builder.node("node-a", "172.18.0.2")
    builder.node("node-b", "172.18.0.3")
    builder.namespace("shop", {"team": "shop"})
    builder.namespace("other", {"team": "other"})
    web = builder.container("web", "nginx:1.27", [{"name": "http", "containerPort": 8080}])
    builder.pod("shop", "server", {"app": "server"}, [web], node="node-a")
    builder.pod("shop", "client", {"app": "client"}, [web], node="node-b")
    builder.pod("other", "client", {"app": "client"}, [web], node="node-b")
    builder.pod("other", "host-agent", {"app": "agent"}, [web], node="node-a", host_network=True, ip="172.18.0.2")
    for index, spec in enumerate(policies):
        if spec.pop("clusterwide", False):
            builder.resource("cilium.io/v2", "CiliumClusterwideNetworkPolicy", None, f"ccnp-{index}", spec)
        else:
            builder.resource("cilium.io/v2", "CiliumNetworkPolicy", "shop", f"cnp-{index}", spec)
    for index, spec in enumerate(network_policies):
        builder.network_policy("shop", f"np-{index}", spec)
    return PolicyStack(build_snapshot(builder.build()))


def reach(stack: PolicyStack, source: str, port: int = 8080, protocol: str = "TCP") -> bool:
    snapshot = stack.snapshot
    server = pod_endpoint(snapshot.pod("shop", "server") or {})
    if "/" in source:
        endpoint = pod_endpoint(snapshot.pod(*source.split("/")) or {})
    elif source.startswith("node:"):
        endpoint = node_endpoint(snapshot, source[5:])
    else:
        endpoint = ip_endpoint(source)
    return stack.allowed(endpoint, server, Traffic(port, protocol))


SERVER = {"matchLabels": {"app": "server"}}


def test_fromendpoints_without_namespace_means_the_policys_own() -> None:
    stack = world({"endpointSelector": SERVER, "ingress": [{"fromEndpoints": [{"matchLabels": {"app": "client"}}]}]})
    assert reach(stack, "shop/client")
    assert not reach(stack, "other/client")


def test_namespace_label_selects_other_namespaces() -> None:
    stack = world({"endpointSelector": SERVER, "ingress": [{"fromEndpoints": [
        {"matchLabels": {"k8s:io.kubernetes.pod.namespace": "other", "app": "client"}}]}]})
    assert reach(stack, "other/client") and not reach(stack, "shop/client")
    by_label = {"endpointSelector": SERVER, "ingress": [{"fromEndpoints": [
        {"matchLabels": {"io.cilium.k8s.namespace.labels.team": "other"}}]}]}
    clusterwide = world({**by_label, "clusterwide": True})
    assert reach(clusterwide, "other/client") and not reach(clusterwide, "shop/client")
    # Only io.kubernetes.pod.namespace lifts a namespaced policy's own-namespace restriction.
    assert not reach(world(by_label), "other/client")


def test_empty_rule_is_default_deny_and_toports_alone_admits_every_peer() -> None:
    assert not reach(world({"endpointSelector": SERVER, "ingress": [{}]}), "shop/client")
    ports_only = world({"endpointSelector": SERVER, "ingress": [{"toPorts": [{"ports": [{"port": "8080"}]}]}]})
    assert reach(ports_only, "other/client") and reach(ports_only, "203.0.113.7")
    assert not reach(ports_only, "other/client", port=9090)


def test_enable_default_deny_false_does_not_isolate() -> None:
    stack = world({"endpointSelector": SERVER, "enableDefaultDeny": {"ingress": False},
                   "ingress": [{"fromEndpoints": [{"matchLabels": {"app": "nobody"}}]}]})
    assert reach(stack, "shop/client")


def test_deny_wins_over_allow_and_over_network_policy() -> None:
    stack = world({"endpointSelector": SERVER, "ingressDeny": [{"fromEndpoints": [{"matchLabels": {"app": "client"}}],
                                                               "toPorts": [{"ports": [{"port": "8080",
                                                                                       "protocol": "TCP"}]}]}]},
                  network_policies=({"podSelector": {}, "ingress": [{}]},))
    assert not reach(stack, "shop/client")
    assert reach(stack, "shop/client", port=9090)


def test_network_policy_and_cilium_allow_sets_are_merged() -> None:
    stack = world({"endpointSelector": SERVER, "ingress": [{"fromEndpoints": [{"matchLabels": {"app": "client"}}]}]},
                  network_policies=({"podSelector": {"matchLabels": {"app": "server"}},
                                     "ingress": [{"from": [{"ipBlock": {"cidr": "203.0.113.0/24"}}]}]},))
    assert reach(stack, "shop/client")
    assert reach(stack, "203.0.113.7")
    assert not reach(stack, "other/client")


def test_entities_and_cidrs() -> None:
    world_only = world({"endpointSelector": SERVER, "ingress": [{"fromEntities": ["world"]}]})
    assert reach(world_only, "203.0.113.7") and not reach(world_only, "shop/client")
    cluster = world({"endpointSelector": SERVER, "ingress": [{"fromEntities": ["cluster"]}]})
    assert reach(cluster, "other/client") and not reach(cluster, "203.0.113.7")
    remote = world({"endpointSelector": SERVER, "ingress": [{"fromEntities": ["remote-node"]}]})
    assert reach(remote, "node:node-b") and not reach(remote, "shop/client")
    cidr = world({"endpointSelector": SERVER, "ingress": [{"fromCIDRSet": [
        {"cidr": "0.0.0.0/0", "except": ["203.0.113.0/24"]}]}]})
    assert reach(cidr, "198.51.100.1") and not reach(cidr, "203.0.113.7")
    assert not reach(cidr, "shop/client"), "CIDR rules do not match Pods"


def test_clusterwide_policy_spans_namespaces_and_named_ports_resolve() -> None:
    stack = world({"clusterwide": True, "endpointSelector": SERVER, "ingress": [{
        "fromEndpoints": [{"matchLabels": {"app": "client"}}], "toPorts": [{"ports": [{"port": "http"}]}]}]})
    assert reach(stack, "other/client") and reach(stack, "shop/client")
    assert not reach(stack, "other/client", port=9090)


def test_l7_rules_are_said_not_evaluated() -> None:
    stack = world({"endpointSelector": SERVER, "ingress": [{"fromEndpoints": [{}], "toPorts": [{
        "ports": [{"port": "8080", "protocol": "TCP"}], "rules": {"http": [{"method": "GET", "path": "/public"}]}}]}]})
    snapshot = stack.snapshot
    decision = stack.decide(INGRESS, pod_endpoint(snapshot.pod("shop", "server") or {}),
                            pod_endpoint(snapshot.pod("shop", "client") or {}), Traffic(8080))
    assert decision.allowed and decision.cilium is not None
    assert any("L7 rules (http) are not evaluated" in note for note in decision.cilium.notes)


def test_egress_default_deny() -> None:
    stack = world({"endpointSelector": {"matchLabels": {"app": "client"}},
                   "egress": [{"toEndpoints": [{"matchLabels": {"app": "nobody"}}]}]})
    snapshot = stack.snapshot
    decision = stack.decide(EGRESS, pod_endpoint(snapshot.pod("shop", "client") or {}),
                            pod_endpoint(snapshot.pod("shop", "server") or {}), Traffic(8080))
    assert not decision.allowed and decision.cilium is not None and decision.cilium.enforced


@pytest.mark.parametrize(("client", "verdict", "ranked"), [("xwing", "unreachable", "SD607"),
                                                           ("tiefighter", "ok", None)])
def test_starwars_manifests_as_published(client: str, verdict: str, ranked: str | None) -> None:
    """The demo's own files, checked before they are applied (manifests mode reads the CRD)."""
    from tests.conftest import run_cli

    report = run_cli("check", "deathstar", "--manifests", str(STARWARS), "--from", f"default/{client}",
                     "-o", "json").json()
    assert report["verdict"] == verdict
    errors = [f["id"] for f in report["findings"] if f["severity"] in ("error", "warning")]
    assert errors == ([ranked] if ranked else [])


@pytest.mark.parametrize("l7", [True, False])
def test_an_allow_resting_on_l7_rules_leaves_step_6_partial(tmp_path: Path, l7: bool) -> None:
    """The tiefighter is admitted at L4 by rule1; with HTTP rules on it, what they admit is not evaluated."""
    from tests.conftest import ROOT, run_cli

    scenario = ROOT / "fixtures" / "scenarios" / "healthy-cilium-starwars-tiefighter" / "snapshot.yaml"
    document = yaml.safe_load(scenario.read_text())
    if l7:
        policy = next(item for item in document["items"] if item["kind"] == "CiliumNetworkPolicy")
        policy["spec"]["ingress"][0]["toPorts"][0]["rules"] = {
            "http": [{"method": "POST", "path": "/v1/request-landing"}]}
    path = tmp_path / "snapshot.yaml"
    path.write_text(yaml.safe_dump(document))
    args = ("check", "deathstar", "-n", "default", "--from", "default/tiefighter", "--snapshot", str(path))
    report = run_cli(*args, "-o", "json").json()
    step = next(step for step in report["steps"] if step["step"] == 6)
    l7_missing = [item for item in step["missing"] if "L7" in item["what"]]
    notes = [f for f in report["findings"] if f["id"] == "SD607"]
    text = run_cli(*args, "-v").stdout
    if not l7:
        assert not l7_missing and not notes and "L7" not in text
        return
    assert step["status"] == "partial" and report["verdict"] == "ok"
    assert l7_missing == [{"what": "Cilium L7 rules not evaluated: ingress rule 1 of CiliumNetworkPolicy default/rule1 "
                                   "(http)", "how": "send the request itself, or hubble observe --type l7 "
                                   "--to-namespace default", "checks": ["SD607"]}]
    assert [f["severity"] for f in notes] == ["info"] and "L7 rules are not evaluated" in notes[0]["message"]
    assert notes[0]["evidence"][0]["field"] == "spec.ingress[0].toPorts"
    assert "L7 rules" in text


def test_reach_includes_cilium_and_admin_tiers() -> None:
    """reach decides with every tier: the xwing row is denied by Cilium, the tenant-b row by the Admin tier."""
    from tests.conftest import ROOT, run_cli

    scenarios = ROOT / "fixtures" / "scenarios"
    starwars = run_cli("reach", "-n", "default", "--port", "80", "--snapshot",
                       str(scenarios / "cilium-starwars-xwing-denied" / "snapshot.yaml"), "-o", "json").json()
    denied = [(d["from"], d["to"]) for table in starwars["ports"] for d in table["denied"]]
    assert denied == [("default/xwing", "default/deathstar")]
    tenants = run_cli("reach", "-n", "tenant-a", "-n", "tenant-b", "--snapshot",
                      str(scenarios / "admin-policy-denies-other-tenant" / "snapshot.yaml"))
    assert "admin tiers" in tenants.stdout
    rows = {line.split()[0]: line.split()[1:] for line in tenants.stdout.splitlines() if line.startswith("tenant-")}
    assert rows["tenant-b/frontend"][0] == "X" and rows["tenant-a/api"][1] == "."
