"""A second, deliberately naive NetworkPolicy evaluator, written straight from the API documentation.

No compilation, no indexes, no caches: every call re-reads the raw objects. The property tests
check that :class:`svcdoctor.netpol.evaluator.Evaluator` (compiled, indexed, cached) agrees with it.
"""

from __future__ import annotations

import ipaddress
from typing import Any

Obj = dict[str, Any]


def selector_matches(selector: Any, labels: dict[str, str]) -> bool:
    if selector is None:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values") or []
        if operator == "In" and (key not in labels or labels[key] not in values):
            return False
        if operator == "NotIn" and key in labels and labels[key] in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


def policy_types(spec: Obj) -> set[str]:
    if spec.get("policyTypes"):
        return {t.lower() for t in spec["policyTypes"]}
    return {"ingress"} | ({"egress"} if spec.get("egress") else set())


def namespace_labels(objects: list[Obj], namespace: str) -> dict[str, str]:
    for obj in objects:
        if obj["kind"] == "Namespace" and obj["metadata"]["name"] == namespace:
            return {**obj["metadata"].get("labels", {}), "kubernetes.io/metadata.name": namespace}
    return {"kubernetes.io/metadata.name": namespace}


def remote_ip(remote: Obj | str) -> str:
    return remote if isinstance(remote, str) else remote["status"]["podIP"]


def peer_matches(objects: list[Obj], peer: Obj, remote: Obj | str, policy_namespace: str) -> bool:
    if "ipBlock" in peer:
        address = ipaddress.ip_address(remote_ip(remote))
        block = peer["ipBlock"]
        if address not in ipaddress.ip_network(block["cidr"]):
            return False
        return not any(address in ipaddress.ip_network(e) for e in block.get("except") or [])
    if isinstance(remote, str):
        return False
    remote_namespace = remote["metadata"]["namespace"]
    if "namespaceSelector" in peer:
        if not selector_matches(peer["namespaceSelector"], namespace_labels(objects, remote_namespace)):
            return False
    elif remote_namespace != policy_namespace:
        return False
    if "podSelector" in peer:
        return selector_matches(peer["podSelector"], remote["metadata"].get("labels") or {})
    return True


def port_matches(entry: Obj, port: int, protocol: str, destination: Obj | str) -> bool:
    if entry.get("protocol", "TCP") != protocol:
        return False
    if "port" not in entry:
        return True
    wanted = entry["port"]
    if isinstance(wanted, str):
        if isinstance(destination, str):
            return False
        return any(p.get("name") == wanted and p.get("protocol", "TCP") == protocol and p["containerPort"] == port
                   for c in destination["spec"]["containers"] for p in c.get("ports") or [])
    if "endPort" in entry:
        return wanted <= port <= entry["endPort"]
    return bool(wanted == port)


def direction_allows(objects: list[Obj], direction: str, subject: Obj, remote: Obj | str, port: int,
                     protocol: str) -> bool:
    namespace = subject["metadata"]["namespace"]
    labels = subject["metadata"].get("labels") or {}
    selecting = [p for p in objects if p["kind"] == "NetworkPolicy" and p["metadata"]["namespace"] == namespace
                 and direction in policy_types(p["spec"]) and selector_matches(p["spec"]["podSelector"], labels)]
    if not selecting:
        return True
    side = "from" if direction == "ingress" else "to"
    destination = subject if direction == "ingress" else remote
    for policy in selecting:
        for rule in policy["spec"].get(direction) or []:
            if rule.get("ports") and not any(port_matches(e, port, protocol, destination) for e in rule["ports"]):
                continue
            if rule.get(side) and not any(peer_matches(objects, p, remote, namespace) for p in rule[side]):
                continue
            return True
    return False


def allowed(objects: list[Obj], source: Obj | str, destination: Obj, port: int, protocol: str) -> bool:
    if not isinstance(source, str) and not direction_allows(objects, "egress", source, destination, port, protocol):
        return False
    return direction_allows(objects, "ingress", destination, source, port, protocol)
