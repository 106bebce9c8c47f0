"""The step-6 checks through ``svcdoctor check``: unknown when policies could not be read, clients of
every kind, partial denial, and the who-can-reach statement."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from svcdoctor.testing.cluster import ClusterBuilder
from svcdoctor.testing.dnslab import add_cluster_dns
from tests.conftest import run_cli


def shop(policies: list[tuple[str, str, dict[str, Any]]], unavailable: list[dict[str, str]] | None = None,
         canary: bool = False) -> list[dict[str, Any]]:
    b = ClusterBuilder()
    info = b.snapshot_info()
    if unavailable:
        info["unavailable"] = unavailable
    b.namespace("shop")
    b.namespace("web")
    b.node("node-a", "172.18.0.2")
    b.node("node-b", "172.18.0.3", zone="zone-b")
    b.namespace("kube-system")
    add_cluster_dns(b)
    b.kube_proxy()
    http = [{"name": "http", "containerPort": 8080}]
    b.deployment("web", "frontend", {"app": "frontend"}, [b.container("frontend", "example/frontend:1", http)],
                 replicas=1, nodes=["node-b"])
    b.deployment("shop", "backend", {"app": "backend"}, [b.container("backend", "example/backend:2", http)],
                 nodes=["node-a"])
    if canary:
        b.pod("shop", "backend-canary", {"app": "backend", "track": "canary"},
              [b.container("backend", "example/backend:3", http)], node="node-a")
    b.service("shop", "backend", {"app": "backend"}, [{"name": "http", "port": 80, "targetPort": "http"}])
    for namespace, name, spec in policies:
        b.network_policy(namespace, name, spec)
    return b.build()


def check(tmp_path: Path, objects: list[dict[str, Any]], *args: str) -> dict[str, Any]:
    path = tmp_path / "snapshot.yaml"
    path.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": objects}))
    result = run_cli("check", "backend", "-n", "shop", "--snapshot", str(path), *args, "-o", "json")
    report = result.json()
    assert result.exit_code == (4 if report["verdict"] == "unknown" else result.exit_code), result.stderr
    assert result.exit_code in (0, 1, 4), result.stderr
    report["exit_code"] = result.exit_code
    return dict(report)


def frontend(objects: list[dict[str, Any]]) -> str:
    pod = next(o for o in objects if o["kind"] == "Pod" and o["metadata"]["namespace"] == "web")
    return f"web/{pod['metadata']['name']}"


DENY_ALL = ("shop", "deny-all", {"podSelector": {}, "policyTypes": ["Ingress"]})


def step6(report: dict[str, Any]) -> dict[str, Any]:
    return dict(next(s for s in report["steps"] if s["step"] == 6))


def test_unreadable_policies_make_step_6_unknown_never_ok(tmp_path: Path) -> None:
    objects = shop([], unavailable=[{"resource": "networkpolicies", "namespace": "shop",
                                     "reason": "forbidden: User cannot list networkpolicies"}])
    report = check(tmp_path, objects, "--from", frontend(objects))
    assert step6(report)["status"] == "unknown"
    assert report["verdict"] == "unknown"
    assert not [f for f in report["findings"] if f["id"].startswith("SD6")]


def test_unreadable_policies_of_the_client_namespace_make_egress_unknown(tmp_path: Path) -> None:
    objects = shop([], unavailable=[{"resource": "networkpolicies", "namespace": "web", "reason": "forbidden"}])
    report = check(tmp_path, objects, "--from", frontend(objects))
    assert report["verdict"] == "unknown"


def test_denied_client_makes_the_service_unreachable(tmp_path: Path) -> None:
    objects = shop([DENY_ALL])
    report = check(tmp_path, objects, "--from", frontend(objects))
    assert report["verdict"] == "unreachable" and report["exit_code"] == 1
    finding = report["findings"][0]
    assert finding["id"] == "SD601" and finding["object"] == "NetworkPolicy shop/deny-all"
    assert "deny-all has no ingress rule at all: it only isolates" in finding["message"]
    assert "append to spec.ingress" in finding["fix"]
    snippet = yaml.safe_load("\n".join(finding["fix"].splitlines()[2:]))
    assert snippet == [{"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "web"}},
                                  "podSelector": {"matchLabels": {"app": "frontend"}}}],
                        "ports": [{"protocol": "TCP", "port": 8080}]}]


def test_policy_on_some_backends_only_degrades(tmp_path: Path) -> None:
    canary_only = ("shop", "canary-locked", {"podSelector": {"matchLabels": {"track": "canary"}},
                                             "policyTypes": ["Ingress"]})
    objects = shop([canary_only], canary=True)
    report = check(tmp_path, objects, "--from", frontend(objects))
    assert report["verdict"] == "degraded"
    finding = report["findings"][0]
    assert finding["id"] == "SD601" and finding["severity"] == "warning"
    assert "1 of its 3 Pods" in finding["message"]


def test_outside_address_is_judged_by_ip_blocks(tmp_path: Path) -> None:
    office = ("shop", "office", {"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": "203.0.113.0/24"}}]}]})
    objects = shop([office])
    assert check(tmp_path, objects, "--from-ip", "203.0.113.9")["verdict"] == "ok"
    report = check(tmp_path, objects, "--from-ip", "198.51.100.1")
    assert [f["id"] for f in report["findings"]] == ["SD601"]
    assert {s["step"]: s["status"] for s in report["steps"]}[6] == "fail"


def test_host_network_client_same_node_allowed_other_node_denied(tmp_path: Path) -> None:
    objects = shop([DENY_ALL])
    assert check(tmp_path, objects, "--from-node", "node-a")["verdict"] == "ok"
    report = check(tmp_path, objects, "--from-node", "node-b")
    finding = report["findings"][0]
    assert finding["id"] == "SD601" and "host network" in finding["message"]
    assert "172.18.0.3/32" in finding["fix"]


def test_without_a_client_the_report_says_who_can_reach(tmp_path: Path) -> None:
    report = check(tmp_path, shop([]))
    assert not report["findings"] and report["verdict"] == "ok"  # no policy selects the Pods: nothing to say
    # Who can reach it was checked; a given client's ingress and egress were not: partial, never a ✔.
    assert step6(report)["status"] == "partial" and "SD605" in step6(report)["checked"]
    assert "no client" in {item["what"] for item in step6(report)["missing"]}
    peer = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "web"}},
            "podSelector": {"matchLabels": {"app": "frontend"}}}
    allow = ("shop", "allow-web", {"podSelector": {"matchLabels": {"app": "backend"}},
                                   "ingress": [{"from": [peer], "ports": [{"port": "http"}]}]})
    report = check(tmp_path, shop([allow]))
    finding = next(f for f in report["findings"] if f["id"] == "SD605")
    assert ("pods app=frontend in namespaces kubernetes.io/metadata.name=web (1 Pod now) on http/TCP, and nothing else"
            in finding["message"])


def _client_in_shop(objects: list[dict[str, Any]]) -> str:
    pod = next(o for o in objects if o["kind"] == "Pod" and o["metadata"]["namespace"] == "shop")
    return f"shop/{pod['metadata']['name']}"


def test_dns_over_udp_only_degrades(tmp_path: Path) -> None:
    udp_only = ("shop", "egress", {"podSelector": {}, "policyTypes": ["Egress"], "egress": [
        {"to": [{"podSelector": {}}]},
        {"to": [{"namespaceSelector": {}, "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
         "ports": [{"protocol": "UDP", "port": 53}]}]})
    objects = shop([udp_only])
    report = check(tmp_path, objects, "--from", _client_in_shop(objects))
    finding = next(f for f in report["findings"] if f["id"] == "SD603")
    assert finding["severity"] == "warning" and "53/TCP" in finding["message"] and "53/UDP" not in finding["message"]
    assert report["verdict"] == "degraded"


def test_dns_pods_ingress_policy_blocks_the_client(tmp_path: Path) -> None:
    locked = ("kube-system", "coredns-locked", {"podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                                                "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {
                                                    "kubernetes.io/metadata.name": "kube-system"}}}]}]})
    objects = shop([locked])
    report = check(tmp_path, objects, "--from", _client_in_shop(objects))
    finding = next(f for f in report["findings"] if f["id"] == "SD603")
    assert "the ingress policies of the kube-dns Pods in kube-system" in finding["message"]
    assert finding["severity"] == "error" and report["verdict"] == "unreachable"
