"""The cluster every Gateway API conformance case runs in, and each case's objects on top of it.

Expands the short notation of ``gateway_api.yaml`` into API objects as a conforming
implementation leaves them: the base the upstream suite installs (three namespaces, the Gateways
``same-namespace``, ``all-namespaces`` and ``backend-namespaces``, the echo backends with their
Deployments, Pods and EndpointSlices), the case's Gateways, ReferenceGrants and routes and —
when asked — the status the implementation writes: each route's ``status.parents`` with Accepted
and ResolvedRefs as the Go test requires, and each listener's ``attachedRoutes``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from svcdoctor.gateway import ROUTE_KINDS
from svcdoctor.testing.cluster import ClusterBuilder, Obj

CASES_FILE = Path(__file__).with_name("gateway_api.yaml")
GROUP = "gateway.networking.k8s.io"
CONTROLLER = "example.net/gateway-controller"
#: v1.6.1's manifests write every route kind at v1 (TLS/TCP/UDPRoute reached v1 there).
ROUTE_VERSION = f"{GROUP}/v1"

#: The echo backends of the upstream base: (namespace, Service, [(service port, target port)]).
BACKENDS: tuple[tuple[str, str, tuple[tuple[int, int], ...]], ...] = (
    ("infra", "infra-backend-v1", ((8080, 3000), (8081, 3001), (8082, 3000))),
    ("infra", "infra-backend-v2", ((8080, 3000),)),
    ("infra", "infra-backend-v3", ((8080, 3000),)),
    ("infra", "grpc-infra-backend-v1", ((8080, 3000),)),
    ("infra", "grpc-infra-backend-v2", ((8080, 3000),)),
    ("infra", "grpc-infra-backend-v3", ((8080, 3000),)),
    ("infra", "tls-backend", ((443, 8443),)),
    ("infra", "tls-backend-2", ((443, 8443),)),
    ("infra", "tcp-backend", ((3000, 3000), (8443, 8443))),
    ("app", "tls-backend", ((443, 8443),)),
    ("app", "app-backend-v1", ((8080, 3000),)),
    ("app", "app-backend-v2", ((8080, 3000),)),
    ("web", "web-backend", ((8080, 3000),)),
)
#: The base's UDP backend (CoreDNS answering on 53), selected by ``app: udp``.
UDP_BACKEND = ("infra", "coredns", "udp", 53)
BASE_GATEWAYS: dict[str, list[dict[str, Any]]] = {
    "infra/same-namespace": [{"name": "http", "port": 80, "protocol": "HTTP", "from": "Same"}],
    "infra/all-namespaces": [{"name": "http", "port": 80, "protocol": "HTTP", "from": "All"}],
    "infra/backend-namespaces": [{"name": "http", "port": 80, "protocol": "HTTP",
                                  "selector": {"gateway-conformance": "backend"}}],
}


@dataclass(frozen=True)
class Case:
    """One upstream test (or one state of it), as recorded in ``gateway_api.yaml``."""

    test: str
    variant: str
    file: str
    asserts: str
    data: Mapping[str, Any]

    @property
    def id(self) -> str:
        return self.test + (f"[{self.variant}]" if self.variant else "")


@dataclass(frozen=True)
class Catalog:
    upstream: Mapping[str, str]
    namespaces: Mapping[str, str]
    cases: tuple[Case, ...]

    def full(self, short: str) -> str:
        """``infra/name`` → ``gateway-conformance-infra/name`` (a namespace alone too)."""
        namespace, _, name = short.partition("/")
        namespace = self.namespaces.get(namespace, namespace)
        return f"{namespace}/{name}" if name else namespace

    def object_name(self, key: str) -> str:
        """``HTTPRoute infra/x`` → ``HTTPRoute gateway-conformance-infra/x``."""
        kind, _, where = key.partition(" ")
        return f"{kind} {self.full(where)}"


def load() -> Catalog:
    document = yaml.safe_load(CASES_FILE.read_text())
    cases = tuple(Case(str(item["test"]), str(item.get("variant") or ""), str(item["file"]), str(item["asserts"]),
                       item) for item in document["cases"])
    return Catalog(document["upstream"], document["namespaces"], cases)


def _listener(catalog: Catalog, item: Mapping[str, Any]) -> Obj:
    listener: Obj = {"name": item["name"], "port": item["port"], "protocol": item["protocol"]}
    if "hostname" in item:
        listener["hostname"] = item["hostname"]
    allowed: Obj = {}
    if "selector" in item:
        labels = {key: catalog.full(value) if key == "kubernetes.io/metadata.name" else value
                  for key, value in item["selector"].items()}
        allowed["namespaces"] = {"from": "Selector", "selector": {"matchLabels": labels}}
    elif "from" in item:
        allowed["namespaces"] = {"from": item["from"]}
    if "kinds" in item:
        allowed["kinds"] = [{"kind": kind} for kind in item["kinds"]]
    if allowed:
        listener["allowedRoutes"] = allowed
    if "mode" in item:
        tls: Obj = {"mode": item["mode"]}
        if "certificate" in item:
            tls["certificateRefs"] = [{"group": "", "kind": "Secret", "name": item["certificate"]}]
        listener["tls"] = tls
    return listener


def _with_namespace(catalog: Catalog, reference: Mapping[str, Any]) -> Obj:
    written = dict(reference)
    if "namespace" in written:
        written["namespace"] = catalog.full(str(written["namespace"]))
    return written


def route_rules(catalog: Catalog, route: Mapping[str, Any]) -> list[list[Obj]]:
    rules = route.get("rules") or [route.get("backends") or []]
    return [[_with_namespace(catalog, backend) for backend in rule] for rule in rules]


def _parent_key(catalog: Catalog, route_namespace: str, parent: Mapping[str, Any]) -> str:
    return f"{catalog.full(str(parent.get('namespace') or route_namespace))}/{parent['name']}"


def _condition(kind: str, expected: bool | str, good_reason: str) -> Obj:
    ok = expected is True or isinstance(expected, list)
    return {"type": kind, "status": "True" if ok else "False", "reason": good_reason if ok else str(expected),
            "message": "" if ok else f"{kind}: {expected}", "observedGeneration": 1,
            "lastTransitionTime": "2026-11-20T09:58:00Z"}


def _conditions(route: Mapping[str, Any], parent: str) -> list[Obj]:
    """The conditions the test asserts for one parent (one it does not assert is not written)."""
    conditions = []
    if parent in (route.get("accepted") or {}):
        conditions.append(_condition("Accepted", route["accepted"][parent], "Accepted"))
    if route.get("resolved") is not None:
        conditions.append(_condition("ResolvedRefs", route["resolved"], "ResolvedRefs"))
    return conditions


def route_status(catalog: Catalog, route_namespace: str, route: Mapping[str, Any]) -> Obj:
    """``status.parents`` as a conforming controller writes it for what the case asserts."""
    parents = []
    for parent in route["parents"]:
        key = _parent_key(catalog, route_namespace, parent)
        reference: Obj = {"group": GROUP, "kind": "Gateway", "namespace": key.split("/")[0], "name": parent["name"]}
        reference.update({field: parent[field] for field in ("sectionName", "port") if field in parent})
        parents.append({"parentRef": reference, "controllerName": CONTROLLER,
            "conditions": _conditions(route, _short(catalog, key))})
    return {"parents": parents}


def _short(catalog: Catalog, full: str) -> str:
    namespace, _, name = full.partition("/")
    for short, long in catalog.namespaces.items():
        if long == namespace:
            return f"{short}/{name}"
    return full


def build(catalog: Catalog, case: Case, *, with_status: bool) -> list[Obj]:
    """The base cluster with the case's objects; with the implementation's status when ``with_status``."""
    builder = ClusterBuilder()
    # As `svcdoctor record` writes it: every Gateway API kind was listed, so an absent grant is absent.
    builder.add({"apiVersion": "svcdoctor.dev/v1", "kind": "SnapshotInfo", "recorded": [
        {"kind": kind} for kind in ("GatewayClass", "Gateway", *ROUTE_KINDS, "ReferenceGrant")]})
    builder.node("conformance-control-plane", "172.18.0.2")
    builder.node("conformance-worker", "172.18.0.3")
    for short, labels in (("infra", {"gateway-conformance": "infra"}), ("app", {"gateway-conformance": "backend"}),
                          ("web", {"gateway-conformance": "backend"})):
        builder.namespace(catalog.full(short), labels)
    extra = [(item["namespace"], item["name"], tuple(tuple(pair) for pair in item["ports"]), item.get("protocol"))
             for item in case.data.get("services") or []]
    for short, name, ports, protocol in [(*backend, "TCP") for backend in BACKENDS] + extra:
        namespace = catalog.full(short)
        container_ports = [{"containerPort": target, "protocol": protocol or "TCP"}
                           for target in sorted({target for _port, target in ports})]
        builder.deployment(namespace, name, {"app": name}, [builder.container(
            name, "registry.k8s.io/gateway-api/echo-basic:v1.5.1", container_ports)], replicas=1)
        builder.service(namespace, name, {"app": name}, [
            {"port": port, "targetPort": target, "protocol": protocol or "TCP"} for port, target in ports])
    short, name, app, port = UDP_BACKEND
    builder.deployment(catalog.full(short), name, {"app": app}, [builder.container(
        "coredns", "registry.k8s.io/coredns/coredns:v1.12.0", [{"containerPort": port, "protocol": "UDP"}])],
        replicas=1)
    builder.service(catalog.full(short), name, {"app": app}, [{"name": "udp-dns", "port": port, "protocol": "UDP"}],
                    labels={"app": app})
    builder.resource(f"{GROUP}/v1", "GatewayClass", None, "conformance", {"controllerName": CONTROLLER},
                     status={"conditions": [{"type": "Accepted", "status": "True", "reason": "Accepted"}]}
                     if with_status else None)
    gateways = {**BASE_GATEWAYS, **(case.data.get("gateways") or {})}
    for key, listeners in gateways.items():
        namespace, name = catalog.full(key).split("/")
        status = None
        if with_status:
            counts = attached_counts(catalog, case, key)
            kinds = (case.data.get("kinds") or {}).get(key, {})
            status = {"conditions": [{"type": "Accepted", "status": "True", "reason": "Accepted"},
                                     {"type": "Programmed", "status": "True", "reason": "Programmed"}],
                      "listeners": [{"name": item["name"], "attachedRoutes": counts.get(item["name"], 0),
                                     "supportedKinds": [{"group": GROUP, "kind": kind}
                                                        for kind in kinds.get(item["name"], [])],
                                     "conditions": [{"type": "Accepted", "status": "True", "reason": "Accepted"}]}
                                    for item in listeners]}
        builder.resource(f"{GROUP}/v1", "Gateway", namespace, name, {
            "gatewayClassName": "conformance", "listeners": [_listener(catalog, item) for item in listeners]},
            status=status)
    for grant in case.data.get("grants") or []:
        builder.resource(f"{GROUP}/v1beta1", "ReferenceGrant", catalog.full(grant["namespace"]), grant["name"], {
            "from": [_with_namespace(catalog, item) for item in grant["from"]], "to": grant["to"]})
    for key, route in (case.data.get("routes") or {}).items():
        kind, _, where = key.partition(" ")
        namespace, name = catalog.full(where).split("/")
        spec: Obj = {"parentRefs": [_with_namespace(catalog, parent) for parent in route["parents"]]}
        if "hostnames" in route:
            spec["hostnames"] = list(route["hostnames"])
        spec["rules"] = [{"backendRefs": rule} for rule in route_rules(catalog, route)]
        builder.resource(ROUTE_VERSION, kind, namespace, name, spec,
                         status=route_status(catalog, namespace, route) if with_status else None)
    return builder.build()


def attached_counts(catalog: Catalog, case: Case, gateway_key: str) -> dict[str, int]:
    """attachedRoutes per listener of one Gateway, from the listeners each route is expected on."""
    counts: dict[str, int] = {}
    for route in (case.data.get("routes") or {}).values():
        attached = (route.get("accepted") or {}).get(gateway_key)
        for listener in dict.fromkeys(attached if isinstance(attached, list) else []):
            counts[listener] = counts.get(listener, 0) + 1
    return counts
