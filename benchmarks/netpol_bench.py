"""Benchmark: NetworkPolicy evaluation at 1,000 policies over 10,000 Pods in 100 namespaces.

Generates a cluster of N namespaces (labels ``team``, ``env``), each with 10 Deployments of
10 replicas (labels ``app``, ``tier``; container ports http 8080/TCP and metrics 9090/TCP), one
Service per Deployment, the kube-dns add-on, and 10 policies per namespace of the shapes real
clusters have: default-deny (ingress and egress), tier-to-tier allowances inside the namespace,
cross-namespace allowances by namespace labels AND Pod labels, a monitoring scrape rule, an
ipBlock with except, egress to DNS and to other namespaces.

Then measures, on a Snapshot already in memory (reading the file is not evaluation):

1. ``check --from``: the whole diagnosis (``engine.diagnose_service``, every registered check) of
   one Service from a client Pod in another namespace — target under 0.5 s;
2. ``reach``: a 100 × 100 pod-group matrix (one Deployment of 10 Pods per namespace, tiers
   rotating; the 8080/TCP port) with a fresh Evaluator, grouping included — target under 10 s.

Wall-clock and CPU seconds are both printed: on a shared machine the CPU time is the figure that
does not depend on what else runs. Exit code 1 when a target is missed.

Run: python benchmarks/netpol_bench.py [--namespaces 100] [--groups 100]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from svcdoctor.netpol import matrix as reach_matrix  # noqa: E402
from svcdoctor.netpol.evaluator import Evaluator  # noqa: E402
from svcdoctor.snapshot import build_snapshot  # noqa: E402

CHECK_TARGET = 0.5
MATRIX_TARGET = 10.0
TEAMS = ("payments", "search", "checkout", "catalog", "identity")
TIERS = ("web", "api", "worker", "cache", "db")


def _pod(namespace: str, name: str, labels: dict[str, str], ip: str, node: str, owner: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"namespace": namespace, "name": name, "labels": labels, "uid": f"uid-{namespace}-{name}",
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": owner,
                                          "uid": f"rs-{namespace}-{owner}", "controller": True}]},
        "spec": {"nodeName": node, "dnsPolicy": "ClusterFirst", "containers": [{
            "name": "main", "image": "example/app:1",
            "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"},
                      {"name": "metrics", "containerPort": 9090, "protocol": "TCP"}]}]},
        "status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
                   "conditions": [{"type": "Ready", "status": "True"}]},
    }


def _policy(namespace: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"namespace": namespace, "name": name}, "spec": spec}


def _policies(namespace: str, index: int) -> list[dict[str, Any]]:
    team = TEAMS[index % len(TEAMS)]
    other_team = TEAMS[(index + 1) % len(TEAMS)]
    dns = {"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                   "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
           "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}
    return [
        _policy(namespace, "default-deny", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}),
        _policy(namespace, "allow-dns", {"podSelector": {}, "policyTypes": ["Egress"], "egress": [dns]}),
        _policy(namespace, "web-from-anywhere", {
            "podSelector": {"matchLabels": {"tier": "web"}},
            "ingress": [{"from": [{"namespaceSelector": {}}], "ports": [{"port": "http"}]}]}),
        _policy(namespace, "api-from-web", {
            "podSelector": {"matchLabels": {"tier": "api"}},
            "ingress": [{"from": [{"podSelector": {"matchLabels": {"tier": "web"}}},
                                  {"namespaceSelector": {"matchLabels": {"team": team}},
                                   "podSelector": {"matchLabels": {"tier": "web"}}}],
                         "ports": [{"protocol": "TCP", "port": 8080}]}]}),
        _policy(namespace, "worker-from-api", {
            "podSelector": {"matchLabels": {"tier": "worker"}},
            "ingress": [{"from": [{"podSelector": {"matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["api", "web"]}]}}],
                         "ports": [{"port": 8000, "endPort": 8100}]}]}),
        _policy(namespace, "cache-from-team", {
            "podSelector": {"matchLabels": {"tier": "cache"}},
            "ingress": [{"from": [{"namespaceSelector": {"matchExpressions": [
                {"key": "team", "operator": "In", "values": [team, other_team]}]}}]}]}),
        _policy(namespace, "db-from-api", {
            "podSelector": {"matchLabels": {"tier": "db"}},
            "ingress": [{"from": [{"podSelector": {"matchLabels": {"tier": "api"}}}],
                         "ports": [{"protocol": "TCP", "port": 5432}]}]}),
        _policy(namespace, "scrape", {
            "podSelector": {},
            "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ns-000"}},
                                   "podSelector": {"matchLabels": {"app": "app-0"}}}],
                         "ports": [{"port": "metrics"}]}]}),
        _policy(namespace, "office", {
            "podSelector": {"matchLabels": {"tier": "web"}},
            "ingress": [{"from": [{"ipBlock": {"cidr": "203.0.113.0/24", "except": ["203.0.113.128/25"]}}]}]}),
        _policy(namespace, "egress-team", {
            "podSelector": {"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["db"]}]},
            "policyTypes": ["Egress"],
            "egress": [{"to": [{"namespaceSelector": {"matchLabels": {"team": team}}}]},
                       {"to": [{"podSelector": {}}]},
                       {"to": [{"namespaceSelector": {}, "podSelector": {"matchLabels": {"tier": "web"}}}],
                        "ports": [{"port": "http"}]}]}),
    ]


def generate(namespaces: int = 100, deployments: int = 10, replicas: int = 10) -> list[dict[str, Any]]:
    """The cluster's objects, as a List's items."""
    objects: list[dict[str, Any]] = [
        {"apiVersion": "svcdoctor.dev/v1", "kind": "SnapshotInfo", "capturedAt": "2026-11-20T10:00:00Z"},
        {"apiVersion": "v1", "kind": "Namespace",
         "metadata": {"name": "kube-system", "labels": {"kubernetes.io/metadata.name": "kube-system"}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"namespace": "kube-system", "name": "kube-dns"},
         "spec": {"clusterIP": "10.96.0.10", "selector": {"k8s-app": "kube-dns"},
                  "ports": [{"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                            {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53}]}},
    ]
    for replica in range(2):
        dns_pod = _pod("kube-system", f"coredns-{replica}", {"k8s-app": "kube-dns"}, f"10.255.0.{replica + 2}",
                       "node-0", "coredns-5d78c9869d")
        dns_pod["spec"]["containers"][0]["ports"] = [{"name": "dns", "containerPort": 53, "protocol": "UDP"},
                                                     {"name": "dns-tcp", "containerPort": 53, "protocol": "TCP"}]
        objects.append(dns_pod)
    address = 0
    for index in range(namespaces):
        namespace = f"ns-{index:03d}"
        objects.append({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace, "labels": {
            "kubernetes.io/metadata.name": namespace, "team": TEAMS[index % len(TEAMS)],
            "env": "prod" if index % 2 else "staging"}}})
        for deployment in range(deployments):
            app = f"app-{deployment}"
            tier = TIERS[deployment % len(TIERS)]
            owner = f"{app}-7d9c{deployment}f5b8"
            for replica in range(replicas):
                address += 1
                ip = f"10.{address // 65536}.{(address // 256) % 256}.{address % 256}"
                labels = {"app": app, "tier": tier, "pod-template-hash": f"7d9c{deployment}f5b8"}
                objects.append(_pod(namespace, f"{owner}-{replica:05d}", labels, ip, f"node-{address % 20}", owner))
            objects.append({"apiVersion": "v1", "kind": "Service", "metadata": {"namespace": namespace, "name": app},
                            "spec": {"clusterIP": f"10.96.{index}.{deployment + 10}", "selector": {"app": app},
                                     "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}})
        objects.extend(_policies(namespace, index))
    return objects


def _timed(function: Any) -> tuple[Any, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = function()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--namespaces", type=int, default=100)
    parser.add_argument("--groups", type=int, default=100)
    args = parser.parse_args(argv)
    from svcdoctor.checks.interface import Options
    from svcdoctor.engine import diagnose_service
    from svcdoctor.findings import Client

    objects, generate_wall, _ = _timed(lambda: generate(args.namespaces))
    snapshot, build_wall, _ = _timed(lambda: build_snapshot(objects))
    pods = len(snapshot.pods)
    policies = len(snapshot.network_policies)
    print(f"cluster: {args.namespaces} namespaces, {pods} Pods, {policies} NetworkPolicies, "
          f"{len(snapshot.services)} Services (generated in {generate_wall:.2f} s, Snapshot built in "
          f"{build_wall:.2f} s; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs)")

    target_namespace = f"ns-{args.namespaces // 2:03d}"
    client_namespace = f"ns-{(args.namespaces // 2 + 1) % args.namespaces:03d}"
    client_pod = next(p for p in snapshot.pods_in(client_namespace) if p["metadata"]["labels"]["tier"] == "web")
    client = Client("pod", client_namespace, client_pod["metadata"]["name"], client_pod["status"]["podIP"])
    report, check_wall, check_cpu = _timed(lambda: diagnose_service(
        snapshot, target_namespace, "app-1", client=client, options=Options()))
    findings = ", ".join(f.id for f in report.findings) or "none"
    print(f"check app-1 -n {target_namespace} --from {client}: {check_wall:.3f} s wall, {check_cpu:.3f} s CPU "
          f"(target < {CHECK_TARGET} s); verdict {report.verdict}, findings: {findings}")

    from svcdoctor.checks.interface import Context
    from svcdoctor.checks.registry import CHECKS
    from svcdoctor.engine import run_checks
    from svcdoctor.findings import Target

    step6 = [c for c in CHECKS if c.step == 6]
    context = Context(build_snapshot(objects), Target(target_namespace, "app-1"), client, Options())
    _, step6_wall, step6_cpu = _timed(lambda: run_checks(context, step6))
    print(f"  of which the step-6 checks alone (fresh Snapshot, fresh Evaluator): {step6_wall:.3f} s wall, "
          f"{step6_cpu:.3f} s CPU")

    def matrix() -> Any:
        evaluator = Evaluator(snapshot)
        chosen: list[Any] = []
        for index in range(args.namespaces):
            # One Deployment per namespace, rotating through the tiers so that every policy shape counts.
            app = f"app-{index % 10}"
            chosen.extend(p for p in snapshot.pods_in(f"ns-{index:03d}") if p["metadata"]["labels"]["app"] == app)
        members = reach_matrix.group_pods(evaluator, chosen)[: args.groups]
        return reach_matrix.build_matrix(evaluator, members, members, [reach_matrix.PortSpec(8080, "TCP")])

    result, matrix_wall, matrix_cpu = _timed(matrix)
    cells = len(result.sources) * len(result.destinations)
    denied = sum(row.count(reach_matrix.DENIED) for row in result.ports[0].cells)
    print(f"reach: {len(result.sources)} x {len(result.destinations)} pod-group matrix ({cells} cells, "
          f"{denied} denied) on 8080/TCP: {matrix_wall:.3f} s wall, {matrix_cpu:.3f} s CPU "
          f"(target < {MATRIX_TARGET} s)")
    missed = check_cpu > CHECK_TARGET or matrix_cpu > MATRIX_TARGET
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
