"""The upstream NetworkPolicy e2e model (namespaces x, y, z; Pods a, b, c) as a snapshot.

Built the way ``test/e2e/network/netpol/model.go`` builds it: each Pod labelled ``pod: <name>``,
one container per served (port, protocol) with the container port named ``serve-<port>-<proto>``,
and one ClusterIP Service ``s-<ns>-<pod>`` per Pod whose ports target those container ports.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from svcdoctor.testing.cluster import ClusterBuilder

NAMESPACES = ("x", "y", "z")
PODS = ("a", "b", "c")
AGNHOST = "registry.k8s.io/e2e-test-images/agnhost:2.53"


def model_objects(served_ports: Sequence[Mapping[str, Any]], policies: Sequence[Mapping[str, Any]]) -> list[dict]:
    builder = ClusterBuilder()
    builder.snapshot_info()
    builder.node("node-a", "172.18.0.2")
    builder.node("node-b", "172.18.0.3", zone="zone-b")
    for namespace in NAMESPACES:
        builder.namespace(namespace)
    for namespace in NAMESPACES:
        for pod in PODS:
            containers = []
            service_ports = []
            for served in served_ports:
                port, protocol = int(served["port"]), str(served.get("protocol", "TCP"))
                name = f"serve-{port}-{protocol.lower()}"
                containers.append(builder.container(f"cont-{port}-{protocol.lower()}", AGNHOST,
                                                    [{"name": name, "containerPort": port, "protocol": protocol}]))
                service_ports.append({"name": f"service-port-{protocol.lower()}-{port}", "port": port,
                                      "targetPort": port, "protocol": protocol})
            builder.pod(namespace, pod, {"pod": pod}, containers)
            builder.service(namespace, f"s-{namespace}-{pod}", {"pod": pod}, service_ports)
    for policy in policies:
        metadata = policy["metadata"]
        builder.network_policy(metadata["namespace"], metadata["name"], policy["spec"])
    return builder.build()


def parse_truth_table(text: str) -> dict[tuple[str, str], str]:
    """Upstream's PrettyPrint table → (from, to) → '.' or 'X'."""
    lines = [line.split() for line in text.strip().splitlines()]
    header = lines[0][1:]
    cells = {}
    for row in lines[1:]:
        for destination, cell in zip(header, row[1:], strict=True):
            cells[(row[0], destination)] = cell
    return cells
