"""The types the API server would refuse, checked the same way for every source.

A recorded snapshot and plain manifests are refused on the first problem, in one line naming the
object and the field (exit 2); a live read cannot refuse the cluster, so it leaves the object out
and reports it (SD001), and the checks that needed that kind of object are unknown. One set of
rules for all three, so that ``spec: null``, a port of 2**70 or NaN, annotations that are not a
mapping, a string selector or ``ports: "80"`` never reach a check.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from svcdoctor import k8s
from svcdoctor.kinds import RESOURCES, TEMPLATE_PATHS

#: Kinds that live outside namespaces: they never take the ``-n`` namespace and need none.
CLUSTER_SCOPED = frozenset({resource.kind for resource in RESOURCES if not resource.namespaced} | {
    "PersistentVolume", "ClusterRole", "ClusterRoleBinding", "StorageClass",
    "CustomResourceDefinition", "PriorityClass", "IngressClass", "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding",
    "APIService", "CSIDriver", "CSINode", "RuntimeClass", "GatewayClass", "ClusterIssuer", "VolumeAttachment",
    "PodSecurityPolicy", "ComponentStatus", "CertificateSigningRequest", "FlowSchema",
    "PriorityLevelConfiguration", "ClusterNetworkPolicy", "AdminNetworkPolicy", "BaselineAdminNetworkPolicy",
    "CiliumClusterwideNetworkPolicy",
})
#: Where a workload kind keeps its Pod template.
TEMPLATES = TEMPLATE_PATHS
#: Kinds whose ``spec`` must be a mapping when it is there.
WITH_SPEC = frozenset({"Service", "Pod", "NetworkPolicy", "Ingress", "Node", "Namespace", *TEMPLATES})
PROTOCOLS = ("TCP", "UDP", "SCTP")
_PORT_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")


@dataclass(frozen=True)
class Problem:
    """One field of one object that the API server would refuse."""

    #: Dotted field path, e.g. ``spec.ports[0].port``.
    field: str
    value: Any
    #: What is wrong, completing "FIELD VALUE …", e.g. "is not a port number".
    problem: str

    def text(self) -> str:
        """``spec.ports[0].port 1180591620717411303424 is outside 1-65535``."""
        if self.value is None:
            return f"{self.field} {self.problem}"
        return f"{self.field} {shown(self.value)} {self.problem}"


def shown(value: Any) -> str:
    """A value as it would be written, short."""
    if isinstance(value, float) and value != value:
        return "NaN"
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:59] + "…"


def valid_port_name(name: str) -> bool:
    """IANA_SVC_NAME as the API server checks it: ≤ 15 characters, a letter, no ``--``."""
    return (len(name) <= 15 and bool(_PORT_NAME.match(name)) and "--" not in name
            and any(c.isalpha() for c in name))


def object_problems(obj: Mapping[str, Any], *, require_namespace: bool) -> list[Problem]:
    """Every problem of ``obj`` (an API object, not an evidence kind); [] when it is valid.

    ``require_namespace``: a recorded object of a namespaced kind must name its namespace (manifests
    take the ``-n`` namespace instead, as ``kubectl apply`` does).
    """
    return list(_object(obj, require_namespace))


def ref_text(obj: Mapping[str, Any]) -> str:
    """``Service shop/web`` (``Node node-a`` for cluster-scoped kinds)."""
    namespace = k8s.namespace(obj)
    return f"{obj.get('kind')} {namespace + '/' if namespace else ''}{k8s.name(obj)}"


def _object(obj: Mapping[str, Any], require_namespace: bool) -> Iterator[Problem]:
    kind = str(obj.get("kind") or "")
    metadata = obj.get("metadata")
    if isinstance(metadata, Mapping):
        namespace = metadata.get("namespace")
        if namespace is not None and not isinstance(namespace, str):
            yield Problem("metadata.namespace", namespace, "is not a name")
        elif require_namespace and kind not in CLUSTER_SCOPED and not namespace:
            yield Problem("metadata.namespace", None, "is missing (a recorded object names its namespace)")
        for key in ("labels", "annotations"):
            yield from _string_map(metadata.get(key), f"metadata.{key}")
    if kind in WITH_SPEC and "spec" in obj and not isinstance(obj.get("spec"), Mapping):
        yield Problem("spec", obj.get("spec"), "is null, not a mapping" if obj.get("spec") is None
                      else "is not a mapping")
        return
    spec = k8s.as_map(obj.get("spec"))
    if kind == "Service":
        yield from _service(spec)
    elif kind == "Pod":
        yield from _pod_spec(spec, "spec")
        status = obj.get("status")
        if status is not None and not isinstance(status, Mapping):
            yield Problem("status", status, "is not a mapping")
    elif kind in TEMPLATES:
        yield from _label_selector(spec.get("selector"), "spec.selector")
        template: Any = obj
        path: list[str] = []
        for step in TEMPLATES[kind]:
            template = template.get(step) if isinstance(template, Mapping) else None
            path.append(step)
            if template is not None and not isinstance(template, Mapping):
                yield Problem(".".join(path), template, "is not a mapping")
                return
        if isinstance(template, Mapping):
            template_spec = template.get("spec")
            if template_spec is not None and not isinstance(template_spec, Mapping):
                yield Problem(".".join(path) + ".spec", template_spec, "is not a mapping")
            else:
                yield from _pod_spec(k8s.as_map(template_spec), ".".join(path) + ".spec")
            yield from _string_map(k8s.as_map(template.get("metadata")).get("labels"),
                                   ".".join(path) + ".metadata.labels")
    elif kind == "NetworkPolicy":
        yield from _network_policy(spec)
    elif kind == "EndpointSlice":
        yield from _ports(obj.get("ports"), "ports", "port", required=False, allow_zero=True)
        yield from _list_of_mappings(obj.get("endpoints"), "endpoints")
    elif kind == "Endpoints":
        for index, subset in enumerate(_list_of_mappings_items(obj.get("subsets"), "subsets")):
            if isinstance(subset, Problem):
                yield subset
                continue
            yield from _ports(subset.get("ports"), f"subsets[{index}].ports", "port", required=True)


def _string_map(value: Any, field: str) -> Iterator[Problem]:
    if value is None:
        return
    if not isinstance(value, Mapping):
        yield Problem(field, value, "is not a mapping of strings")
        return
    for key, item in value.items():
        if not isinstance(key, str) or not isinstance(item, str):
            yield Problem(f"{field}.{key}", item, "is not a string (quote it)")
            return


def _service(spec: Mapping[str, Any]) -> Iterator[Problem]:
    yield from _string_map(spec.get("selector"), "spec.selector")
    for index, port in enumerate(_list_of_mappings_items(spec.get("ports"), "spec.ports", "a list of ports")):
        where = f"spec.ports[{index}]"
        if isinstance(port, Problem):
            yield port
            continue
        yield from _port_number(port.get("port"), f"{where}.port", required=True)
        if port.get("nodePort") is not None:
            yield from _port_number(port.get("nodePort"), f"{where}.nodePort", allow_zero=True)
        target = port.get("targetPort")
        if isinstance(target, str) and not target.isdigit():
            if not valid_port_name(target):
                yield Problem(f"{where}.targetPort", target, "is neither a port number nor a valid port name")
        elif target is not None:
            yield from _port_number(int(target) if isinstance(target, str) else target, f"{where}.targetPort",
                                    allow_zero=True)
        yield from _protocol(port.get("protocol"), f"{where}.protocol")


def _pod_spec(spec: Mapping[str, Any], prefix: str) -> Iterator[Problem]:
    for group in ("containers", "initContainers"):
        for c_index, container in enumerate(_list_of_mappings_items(spec.get(group), f"{prefix}.{group}")):
            if isinstance(container, Problem):
                yield container
                continue
            ports = _list_of_mappings_items(container.get("ports"), f"{prefix}.{group}[{c_index}].ports",
                                            "a list of ports")
            for p_index, port in enumerate(ports):
                where = f"{prefix}.{group}[{c_index}].ports[{p_index}]"
                if isinstance(port, Problem):
                    yield port
                    continue
                yield from _port_number(port.get("containerPort"), f"{where}.containerPort", required=True)
                name = port.get("name")
                if name is not None and not (isinstance(name, str) and valid_port_name(name)):
                    yield Problem(f"{where}.name", name, "is not a valid port name")
                yield from _protocol(port.get("protocol"), f"{where}.protocol")


def _label_selector(value: Any, field: str) -> Iterator[Problem]:
    if value is None:
        return
    if not isinstance(value, Mapping):
        yield Problem(field, value, "is not a label selector (matchLabels / matchExpressions)")
        return
    yield from _string_map(value.get("matchLabels"), f"{field}.matchLabels")
    expressions = value.get("matchExpressions")
    if expressions is not None and not (isinstance(expressions, list)
                                        and all(isinstance(item, Mapping) for item in expressions)):
        yield Problem(f"{field}.matchExpressions", expressions, "is not a list of expressions")


def _network_policy(spec: Mapping[str, Any]) -> Iterator[Problem]:
    yield from _label_selector(spec.get("podSelector"), "spec.podSelector")
    for direction, peers in (("ingress", "from"), ("egress", "to")):
        for index, rule in enumerate(_list_of_mappings_items(spec.get(direction), f"spec.{direction}")):
            if isinstance(rule, Problem):
                yield rule
                continue
            where = f"spec.{direction}[{index}]"
            for p_index, peer in enumerate(_list_of_mappings_items(rule.get(peers), f"{where}.{peers}")):
                if isinstance(peer, Problem):
                    yield peer
                    continue
                for key in ("podSelector", "namespaceSelector"):
                    yield from _label_selector(peer.get(key), f"{where}.{peers}[{p_index}].{key}")
            for p_index, port in enumerate(_list_of_mappings_items(rule.get("ports"), f"{where}.ports")):
                if isinstance(port, Problem):
                    yield port
                    continue
                value = port.get("port")
                if isinstance(value, str) and not value.isdigit():
                    if not valid_port_name(value):
                        yield Problem(f"{where}.ports[{p_index}].port", value, "is neither a port number nor a "
                                      "valid port name")
                elif value is not None:
                    yield from _port_number(int(value) if isinstance(value, str) else value,
                                            f"{where}.ports[{p_index}].port")
                if port.get("endPort") is not None:
                    yield from _port_number(port.get("endPort"), f"{where}.ports[{p_index}].endPort")
                yield from _protocol(port.get("protocol"), f"{where}.ports[{p_index}].protocol")


def _list_of_mappings_items(value: Any, field: str, noun: str = "a list") -> Iterator[Mapping[str, Any] | Problem]:
    """Each mapping of the list ``value`` (none when it is absent), or the :class:`Problem` in its place."""
    if value is None:
        return
    if not isinstance(value, list):
        yield Problem(field, value, f"is not {noun}")
        return
    for index, item in enumerate(value):
        yield item if isinstance(item, Mapping) else Problem(f"{field}[{index}]", item, "is not a mapping")


def _list_of_mappings(value: Any, field: str) -> Iterator[Problem]:
    for item in _list_of_mappings_items(value, field):
        if isinstance(item, Problem):
            yield item


def _ports(value: Any, field: str, key: str, *, required: bool, allow_zero: bool = False) -> Iterator[Problem]:
    for index, port in enumerate(_list_of_mappings_items(value, field)):
        if isinstance(port, Problem):
            yield port
            continue
        if port.get(key) is not None or required:
            yield from _port_number(port.get(key), f"{field}[{index}].{key}", required=required,
                                    allow_zero=allow_zero)


def _port_number(value: Any, field: str, *, required: bool = False, allow_zero: bool = False) -> Iterator[Problem]:
    if value is None:
        if required:
            yield Problem(field, None, "is missing")
        return
    if isinstance(value, bool) or not isinstance(value, int):
        yield Problem(field, value, "is not a port number")
    elif not (0 if allow_zero else 1) <= value <= 65535:
        yield Problem(field, value, f"is outside {0 if allow_zero else 1}-65535")


def _protocol(value: Any, field: str) -> Iterator[Problem]:
    if value is not None and value not in PROTOCOLS:
        yield Problem(field, value, f"is not one of {', '.join(PROTOCOLS)}")
