"""Indexes derived from a Snapshot once and shared by every check that needs them.

A ``scan -A`` runs each check once per Service; a check that needs a cluster-wide view (every
nodePort in use, the Ingresses of a namespace) must not rebuild it per Service, or the scan turns
quadratic. :meth:`Snapshot.memo <svcdoctor.snapshot.Snapshot.memo>` builds such a view on first use
and keeps it as long as the Snapshot lives.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import TypeVar

from svcdoctor import k8s
from svcdoctor.k8s import Obj
from svcdoctor.snapshot import Snapshot

T = TypeVar("T")

def _by_namespace(objects: Sequence[Obj]) -> Mapping[str, list[Obj]]:
    result: dict[str, list[Obj]] = defaultdict(list)
    for obj in objects:
        result[k8s.namespace(obj)].append(obj)
    return dict(result)


def stateful_sets_in(snapshot: Snapshot, namespace: str) -> Sequence[Obj]:
    return snapshot.memo("stateful_sets_by_namespace", lambda s: _by_namespace(s.stateful_sets)).get(namespace, [])


def endpoint_slices_in(snapshot: Snapshot, namespace: str) -> Sequence[Obj]:
    return snapshot.memo("slices_by_namespace", lambda s: _by_namespace(s.endpoint_slices)).get(namespace, [])


def endpoints_in(snapshot: Snapshot, namespace: str) -> Sequence[Obj]:
    return snapshot.memo("endpoints_by_namespace", lambda s: _by_namespace(s.endpoints)).get(namespace, [])


def _node_ports(snapshot: Snapshot) -> Mapping[tuple[int, str], list[tuple[Obj, int]]]:
    result: dict[tuple[int, str], list[tuple[Obj, int]]] = defaultdict(list)
    for service in snapshot.services:
        if k8s.service_type(service) not in ("NodePort", "LoadBalancer"):
            continue
        for index, port in enumerate(k8s.service_ports(service)):
            node_port = port.get("nodePort")
            if isinstance(node_port, int) and node_port > 0:
                result[(node_port, k8s.port_protocol(port))].append((service, index))
    return dict(result)


def node_port_users(snapshot: Snapshot, node_port: int, protocol: str) -> Sequence[tuple[Obj, int]]:
    """Every (Service, port index) that claims ``node_port``/``protocol``, cluster-wide."""
    return snapshot.memo("node_ports", _node_ports).get((node_port, protocol), [])


def _node_is_ready(node: Obj) -> bool:
    for condition in k8s.as_list(k8s.status(node).get("conditions")):
        if isinstance(condition, Mapping) and condition.get("type") == "Ready":
            return str(condition.get("status")) == "True"
    return False


def _ready_nodes(snapshot: Snapshot) -> list[Obj]:
    return sorted((node for node in snapshot.nodes if _node_is_ready(node)), key=k8s.name)


def ready_nodes(snapshot: Snapshot) -> Sequence[Obj]:
    """The Nodes whose Ready condition is True, by name."""
    return snapshot.memo("ready_nodes", _ready_nodes)
