"""Benchmark: admin-tier and Cilium policies — 1,000 of them over 10,000 Pods in 100 namespaces.

The cluster of ``netpol_bench.py`` (100 namespaces × 10 Deployments × 10 Pods, its 1,000
NetworkPolicies) plus 1,000 policies of the kinds SD606/SD607 read: 400 AdminNetworkPolicies
(priorities 0–399: tenant isolation by namespace label, Pass for same-team traffic, Deny of
named ports, networks), 100 ClusterNetworkPolicies (v1alpha2, half Admin and half Baseline tier),
400 CiliumNetworkPolicies (4 per namespace: tier allow-lists with ``k8s:io.kubernetes.pod.namespace``
peers, entities, CIDR sets, a deny rule) and 100 CiliumClusterwideNetworkPolicies.

Measures on a Snapshot already in memory: the step-6 checks of one ``check --from`` (SD601–SD607,
a fresh Snapshot so nothing is cached) — target under 0.5 s — and the whole diagnosis.

Run: python benchmarks/policy_tiers_bench.py [--namespaces 100]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from svcdoctor.snapshot import build_snapshot  # noqa: E402

TARGET = 0.5
TEAMS = ("payments", "search", "checkout", "catalog", "identity")


def _netpol_bench() -> Any:
    spec = importlib.util.spec_from_file_location("netpol_bench", ROOT / "benchmarks" / "netpol_bench.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _resource(api_version: str, kind: str, name: str, spec: dict[str, Any], namespace: str = "") -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if namespace:
        metadata["namespace"] = namespace
    return {"apiVersion": api_version, "kind": kind, "metadata": metadata, "spec": spec}


def admin_policies(count: int) -> list[dict[str, Any]]:
    policies = []
    for index in range(count):
        team = TEAMS[index % len(TEAMS)]
        ports = [{"portNumber": {"protocol": "TCP", "port": 5432}}, {"namedPort": "metrics"},
                 {"portRange": {"protocol": "TCP", "start": 6000 + index, "end": 6100 + index}}]
        policies.append(_resource("policy.networking.k8s.io/v1alpha1", "AdminNetworkPolicy", f"anp-{index:03d}", {
            "priority": index % 1000,
            "subject": ({"namespaces": {"matchLabels": {"team": team}}} if index % 2 else
                        {"pods": {"namespaceSelector": {"matchLabels": {"env": "prod"}},
                                  "podSelector": {"matchLabels": {"tier": "db"}}}}),
            "ingress": [
                {"name": "same-team", "action": "Pass", "from": [{"namespaces": {"matchLabels": {"team": team}}}]},
                {"name": "no-db-from-others", "action": "Deny", "from": [{"pods": {
                    "namespaceSelector": {"matchExpressions": [{"key": "team", "operator": "NotIn",
                                                                "values": [team]}]},
                    "podSelector": {"matchLabels": {"tier": "web"}}}}], "ports": ports[: 1 + index % 3]},
            ],
            "egress": [{"name": "no-office", "action": "Deny", "to": [{"networks": ["203.0.113.0/24"]}]}],
        }))
    return policies


def cluster_network_policies(count: int) -> list[dict[str, Any]]:
    policies = []
    for index in range(count):
        tier = "Admin" if index % 2 else "Baseline"
        policies.append(_resource("policy.networking.k8s.io/v1alpha2", "ClusterNetworkPolicy", f"cnp-{index:03d}", {
            "tier": tier, "priority": 500 + index,
            "subject": {"namespaces": {"matchLabels": {"team": TEAMS[index % len(TEAMS)]}}},
            "ingress": [{"name": "scrape", "action": "Accept" if tier == "Baseline" else "Pass",
                         "from": [{"namespaces": {"matchLabels": {"kubernetes.io/metadata.name": "ns-000"}}}],
                         "protocols": [{"destinationNamedPort": "metrics"}]},
                        {"name": "quarantine", "action": "Deny", "from": [{"pods": {
                            "namespaceSelector": {}, "podSelector": {"matchLabels": {"quarantine": "true"}}}}],
                         "protocols": [{"tcp": {"destinationPort": {"range": {"start": 1, "end": 65535}}}}]}],
        }))
    return policies


def cilium_policies(namespaces: int, per_namespace: int, clusterwide: int) -> list[dict[str, Any]]:
    policies = []
    tiers = ("web", "api", "worker", "cache", "db")
    for index in range(namespaces):
        namespace = f"ns-{index:03d}"
        neighbour = f"ns-{(index + 1) % namespaces:03d}"
        for number in range(per_namespace):
            tier, caller = tiers[number % len(tiers)], tiers[(number + len(tiers) - 1) % len(tiers)]
            policies.append(_resource("cilium.io/v2", "CiliumNetworkPolicy", f"{tier}-allow", {
                "endpointSelector": {"matchLabels": {"tier": tier}},
                "ingress": [
                    {"fromEndpoints": [{"matchLabels": {"tier": caller}},
                                       {"matchLabels": {"k8s:io.kubernetes.pod.namespace": neighbour,
                                                        "tier": caller}}],
                     "toPorts": [{"ports": [{"port": "8080", "protocol": "TCP"}, {"port": "metrics"}]}]},
                    {"fromEntities": ["host", "remote-node"]},
                    {"fromCIDRSet": [{"cidr": "198.51.100.0/24", "except": ["198.51.100.128/25"]}],
                     "toPorts": [{"ports": [{"port": "443", "protocol": "TCP"}]}]},
                ],
                "ingressDeny": [{"fromEndpoints": [{"matchLabels": {"quarantine": "true"}}]}],
            }, namespace))
    for index in range(clusterwide):
        policies.append(_resource("cilium.io/v2", "CiliumClusterwideNetworkPolicy", f"ccnp-{index:03d}", {
            "endpointSelector": {"matchLabels": {"k8s:io.kubernetes.pod.namespace": f"ns-{index:03d}"}},
            "egress": [{"toEndpoints": [{}]}, {"toEntities": ["world"]}],
            "enableDefaultDeny": {"egress": False},
        }))
    return policies


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--namespaces", type=int, default=100)
    args = parser.parse_args(argv)
    from svcdoctor.checks.interface import Context, Options
    from svcdoctor.checks.registry import CHECKS
    from svcdoctor.engine import diagnose_service, run_checks
    from svcdoctor.findings import Client, Target

    scale = args.namespaces / 100
    netpol_bench = _netpol_bench()
    _timed = netpol_bench._timed
    objects = netpol_bench.generate(args.namespaces)
    extra = (admin_policies(int(400 * scale)) + cluster_network_policies(int(100 * scale))
             + cilium_policies(args.namespaces, 4, int(100 * scale)))
    objects += extra
    snapshot = build_snapshot(objects)
    kinds: dict[str, int] = {}
    for obj in extra:
        kinds[obj["kind"]] = kinds.get(obj["kind"], 0) + 1
    print(f"cluster: {args.namespaces} namespaces, {len(snapshot.pods)} Pods, {len(snapshot.network_policies)} "
          f"NetworkPolicies, {len(extra)} admin-tier and Cilium policies ("
          + ", ".join(f"{count} {kind}" for kind, count in sorted(kinds.items()))
          + f"); load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    target_namespace = f"ns-{args.namespaces // 2:03d}"
    client_namespace = f"ns-{(args.namespaces // 2 + 1) % args.namespaces:03d}"
    client_pod = next(p for p in snapshot.pods_in(client_namespace) if p["metadata"]["labels"]["tier"] == "web")
    client = Client("pod", client_namespace, client_pod["metadata"]["name"], client_pod["status"]["podIP"])
    step6 = [c for c in CHECKS if c.step == 6]
    context = Context(build_snapshot(objects), Target(target_namespace, "app-1"), client, Options())
    _, step6_wall, step6_cpu = _timed(lambda: run_checks(context, step6))
    print(f"step 6 (SD601-SD607) for app-1 -n {target_namespace} --from {client}: {step6_wall:.3f} s wall, "
          f"{step6_cpu:.3f} s CPU (target < {TARGET} s)")
    report, check_wall, check_cpu = _timed(lambda: diagnose_service(
        snapshot, target_namespace, "app-1", client=client, options=Options()))
    print(f"whole check: {check_wall:.3f} s wall, {check_cpu:.3f} s CPU; verdict {report.verdict}, findings: "
          + (", ".join(f.id for f in report.findings) or "none"))
    return 0 if step6_cpu < TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
