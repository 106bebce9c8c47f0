"""A Service's endpoints, read from EndpointSlices (or legacy Endpoints when there are none).

EndpointSlices are what kube-proxy reads since Kubernetes 1.21; the legacy Endpoints object is
still mirrored and is what ``kubectl get endpoints`` shows. Both shapes become one list of
:class:`Endpoint` so checks need not care which the snapshot holds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from svcdoctor import k8s
from svcdoctor.k8s import Obj, ObjectRef
from svcdoctor.snapshot import Snapshot


@dataclass(frozen=True)
class EndpointPort:
    name: str
    port: int
    protocol: str


@dataclass(frozen=True)
class Endpoint:
    """One backend address of a Service and what the control plane says about it."""

    address: str
    #: Ready to receive traffic (``conditions.ready``; a missing value means ready).
    ready: bool
    serving: bool
    terminating: bool
    #: The Pod (or other object) behind the address, when the slice names one.
    target: ObjectRef | None
    node: str
    zone: str
    hostname: str
    ports: tuple[EndpointPort, ...]
    #: The object it was read from, e.g. ``EndpointSlice prod/web-abc12``.
    source: ObjectRef
    #: Zones named in ``hints.forZones`` (topology-aware routing).
    hint_zones: tuple[str, ...] = ()


def _target(reference: object, namespace: str) -> ObjectRef | None:
    if not isinstance(reference, Mapping) or not reference.get("name"):
        return None
    return ObjectRef(str(reference.get("kind") or "Pod"), str(reference.get("namespace") or namespace),
                     str(reference["name"]))


def _ports(items: object) -> tuple[EndpointPort, ...]:
    ports = []
    for item in k8s.as_list(items):
        if isinstance(item, Mapping):
            try:
                number = int(item.get("port") or 0)
            except (TypeError, ValueError):
                number = 0
            ports.append(EndpointPort(str(item.get("name") or ""), number, str(item.get("protocol") or "TCP")))
    return tuple(ports)


def from_slice(endpoint_slice: Obj) -> list[Endpoint]:
    """The endpoints of one EndpointSlice."""
    namespace = k8s.namespace(endpoint_slice)
    source = ObjectRef("EndpointSlice", namespace, k8s.name(endpoint_slice))
    ports = _ports(endpoint_slice.get("ports"))
    result = []
    for item in k8s.as_list(endpoint_slice.get("endpoints")):
        if not isinstance(item, Mapping):
            continue
        conditions = k8s.as_map(item.get("conditions"))
        ready = conditions.get("ready")
        serving = conditions.get("serving")
        hints = k8s.as_map(item.get("hints"))
        zones = tuple(str(z.get("name")) for z in k8s.as_list(hints.get("forZones")) if isinstance(z, Mapping))
        for address in k8s.as_list(item.get("addresses")):
            result.append(Endpoint(
                address=str(address),
                ready=ready is None or bool(ready),
                serving=bool(serving) if serving is not None else (ready is None or bool(ready)),
                terminating=bool(conditions.get("terminating")),
                target=_target(item.get("targetRef"), namespace),
                node=str(item.get("nodeName") or ""),
                zone=str(item.get("zone") or ""),
                hostname=str(item.get("hostname") or ""),
                ports=ports,
                source=source,
                hint_zones=zones,
            ))
    return result


def from_legacy(endpoints: Obj) -> list[Endpoint]:
    """The endpoints of a legacy ``Endpoints`` object."""
    namespace = k8s.namespace(endpoints)
    source = ObjectRef("Endpoints", namespace, k8s.name(endpoints))
    result = []
    for subset in k8s.as_list(endpoints.get("subsets")):
        if not isinstance(subset, Mapping):
            continue
        ports = _ports(subset.get("ports"))
        for key, ready in (("addresses", True), ("notReadyAddresses", False)):
            for address in k8s.as_list(subset.get(key)):
                if not isinstance(address, Mapping) or not address.get("ip"):
                    continue
                result.append(Endpoint(
                    address=str(address["ip"]), ready=ready, serving=ready, terminating=False,
                    target=_target(address.get("targetRef"), namespace),
                    node=str(address.get("nodeName") or ""), zone="",
                    hostname=str(address.get("hostname") or ""), ports=ports, source=source,
                ))
    return result


def service_endpoints(snapshot: Snapshot, namespace: str, name: str) -> list[Endpoint]:
    """Every endpoint of a Service: from its EndpointSlices, else from its Endpoints object."""
    slices = snapshot.endpoint_slices_for(namespace, name)
    if slices:
        result: list[Endpoint] = []
        for endpoint_slice in slices:
            result.extend(from_slice(endpoint_slice))
        return result
    legacy = snapshot.endpoints_for(namespace, name)
    return from_legacy(legacy) if legacy is not None else []


def has_endpoint_objects(snapshot: Snapshot, namespace: str, name: str) -> bool:
    """Whether the snapshot holds any EndpointSlice or Endpoints object for the Service."""
    return bool(snapshot.endpoint_slices_for(namespace, name)) or snapshot.endpoints_for(namespace, name) is not None
