"""Gateway API routes that send to a Service, and every reason one of them cannot reach it.

Pure functions of a Snapshot (``gateway.networking.k8s.io`` kinds as served: v1, v1beta1,
v1alpha2). What the specification says and this module encodes:

- a ``backendRef`` names a Service when its ``group`` is "" (the default) and its ``kind`` is
  ``Service`` (the default); its ``namespace`` defaults to the route's; ``port`` is required for a
  Service and names a Service port (``spec.ports[].port``), not a targetPort;
- a reference into another namespace needs a ReferenceGrant *in the Service's namespace* whose
  ``from`` has the route's group (``gateway.networking.k8s.io``), kind and namespace and whose ``to``
  has group "", kind ``Service`` and either no name or this Service's name; otherwise the
  implementation sets ``ResolvedRefs=False`` with reason ``RefNotPermitted``; a missing Service gives
  ``BackendNotFound``, a kind it does not support ``InvalidKind``;
- a ``parentRef`` (group ``gateway.networking.k8s.io``, kind ``Gateway`` by default, namespace the
  route's) attaches to the Gateway's listeners that ``sectionName`` / ``port`` pick, when a listener
  allows the route: ``allowedRoutes.namespaces.from`` Same (default), All or Selector, and
  ``allowedRoutes.kinds`` — of which only the kinds the listener's protocol can carry count (a TLS
  listener in Passthrough mode carries TLSRoute only) — by default the kinds of its protocol; and
  when its hostname intersects the route's ``hostnames`` (``*.`` wildcards match one or more
  labels). Otherwise the route is not Accepted: ``NotAllowedByListeners``,
  ``NoMatchingListenerHostname`` or ``NoMatchingParent``;
- what the implementation itself wrote in ``status.parents[].conditions`` is read as it is (a
  status older than the route's generation is said to be stale). ``ResolvedRefs`` is one condition
  for all the route's backendRefs: when another of them cannot be resolved, a False
  ``ResolvedRefs`` is that backend's, not this Service's.

The rules are checked against the upstream conformance tests translated into
``tests/conformance/gateway_api.yaml`` (see docs/gateway.md).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from svcdoctor import k8s
from svcdoctor.k8s import Obj, ObjectRef
from svcdoctor.selectors import SelectorError, from_label_selector
from svcdoctor.snapshot import Snapshot

GROUP = "gateway.networking.k8s.io"
ROUTE_KINDS = ("HTTPRoute", "GRPCRoute", "TLSRoute", "TCPRoute", "UDPRoute")
#: The route kinds a listener of each protocol accepts when ``allowedRoutes.kinds`` is empty.
DEFAULT_KINDS = {"HTTP": ("HTTPRoute", "GRPCRoute"), "HTTPS": ("HTTPRoute", "GRPCRoute"), "TLS": ("TLSRoute",),
                 "TCP": ("TCPRoute",), "UDP": ("UDPRoute",)}
#: What a listener of each protocol can carry when ``allowedRoutes.kinds`` names them (TCPRoute on a
#: TLS listener only when it terminates TLS: passthrough is TLSRoute's alone).
CARRIED_KINDS = {"HTTP": ("HTTPRoute", "GRPCRoute"), "HTTPS": ("HTTPRoute", "GRPCRoute"),
                 "TLS": ("TLSRoute", "TCPRoute"), "TCP": ("TCPRoute",), "UDP": ("UDPRoute",)}
_ROUTE_ATTRIBUTES = {"HTTPRoute": "http_routes", "GRPCRoute": "grpc_routes", "TLSRoute": "tls_routes",
                     "TCPRoute": "tcp_routes", "UDPRoute": "udp_routes"}


@dataclass(frozen=True)
class BackendRef:
    """One ``backendRef`` of a route that names the Service."""

    route: Obj
    rule_index: int
    index: int
    raw: Mapping[str, Any]
    namespace: str
    name: str
    port: int | None

    @property
    def field(self) -> str:
        return f"spec.rules[{self.rule_index}].backendRefs[{self.index}]"

    @property
    def route_ref(self) -> ObjectRef:
        return k8s.ref(self.route)


@dataclass(frozen=True)
class Problem:
    """Why a route cannot send to the Service (or cannot be trusted to)."""

    route: ObjectRef
    #: The field to point at (``spec.rules[0].backendRefs[1].port``, ``spec.parentRefs[0]``…).
    field: str
    #: The condition an implementation reports (``ResolvedRefs``, ``Accepted``) or ``Port``.
    condition: str
    #: ``RefNotPermitted``, ``BackendNotFound``, ``InvalidKind``, ``NotAllowedByListeners``,
    #: ``NoMatchingListenerHostname``, ``NoMatchingParent``, ``NoSuchPort``, ``MissingPort``, or the
    #: reason the implementation wrote.
    reason: str
    message: str
    #: Whether the implementation wrote it in status (True) or svcdoctor derived it from the spec.
    reported: bool = False
    #: The parent Gateway it concerns, "" when none.
    gateway: str = ""
    fix: str = ""


@dataclass(frozen=True)
class Attachment:
    """The listeners of one parent Gateway a route attaches to, per the spec."""

    #: ``NS/NAME`` of the Gateway.
    gateway: str
    listeners: tuple[str, ...]


@dataclass(frozen=True)
class RouteReport:
    """One route that names the Service: its references and what keeps them from working."""

    route: Obj
    refs: tuple[BackendRef, ...]
    problems: tuple[Problem, ...] = ()
    #: Where the route attaches, per the spec.
    attached: tuple[Attachment, ...] = field(default=())

    @property
    def ref(self) -> ObjectRef:
        return k8s.ref(self.route)


def routes(snapshot: Snapshot) -> Iterator[Obj]:
    for kind in ROUTE_KINDS:
        yield from getattr(snapshot, _ROUTE_ATTRIBUTES[kind])


def _port(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def service_refs(route: Obj) -> Iterator[tuple[int, int, Mapping[str, Any]]]:
    for rule_index, rule in enumerate(k8s.as_list(k8s.spec(route).get("rules"))):
        for index, backend in enumerate(k8s.as_list(k8s.as_map(rule).get("backendRefs"))):
            if isinstance(backend, Mapping):
                yield rule_index, index, backend


def _refs_by_service(snapshot: Snapshot) -> dict[tuple[str, str], dict[ObjectRef, list[BackendRef]]]:
    """Every Service backendRef of every route, by the Service it names (built once per Snapshot)."""
    found: dict[tuple[str, str], dict[ObjectRef, list[BackendRef]]] = {}
    for route in routes(snapshot):
        route_namespace = k8s.namespace(route)
        for rule_index, index, backend in service_refs(route):
            if str(backend.get("group") or "") != "" or str(backend.get("kind") or "Service") != "Service":
                continue
            name = str(backend.get("name") or "")
            namespace = str(backend.get("namespace") or route_namespace)
            found.setdefault((namespace, name), {}).setdefault(k8s.ref(route), []).append(BackendRef(
                route, rule_index, index, backend, namespace, name, _port(backend.get("port"))))
    return found


def refs_to(snapshot: Snapshot, namespace: str, name: str) -> dict[ObjectRef, list[BackendRef]]:
    """Every backendRef (of every route kind, in every namespace) that names Service ``namespace/name``.

    The routes are indexed once per Snapshot, so a ``scan`` costs routes + Services, not their product.
    """
    return snapshot.memo("gateway-service-refs", _refs_by_service).get((namespace, name), {})


def grant_permits(snapshot: Snapshot, route: Obj, namespace: str, name: str) -> bool:
    """Whether a ReferenceGrant in ``namespace`` lets ``route`` refer to Service ``name``."""
    kind, route_namespace = str(route.get("kind") or ""), k8s.namespace(route)
    for grant in snapshot.in_namespace("ReferenceGrant", namespace):
        spec = k8s.spec(grant)
        sources = [k8s.as_map(s) for s in k8s.as_list(spec.get("from"))]
        targets = [k8s.as_map(t) for t in k8s.as_list(spec.get("to"))]
        if not any(str(s.get("group") or "") == GROUP and s.get("kind") == kind
                   and s.get("namespace") == route_namespace for s in sources):
            continue
        if any(str(t.get("group") or "") == "" and t.get("kind") == "Service"
               and str(t.get("name") or name) == name for t in targets):
            return True
    return False


def _hostname_matches(pattern: str, host: str) -> bool:
    """Whether a (possibly ``*.``) hostname matches another; wildcards match one or more labels."""
    if pattern.startswith("*."):
        suffix = pattern[1:]
        if host.startswith("*."):
            return host[1:].endswith(suffix)
        return host.endswith(suffix) and len(host) > len(suffix)
    if host.startswith("*."):
        return _hostname_matches(host, pattern)
    return pattern == host


def hostnames_intersect(listener_hostname: str, route_hostnames: list[str]) -> bool:
    if not listener_hostname or not route_hostnames:
        return True
    return any(_hostname_matches(listener_hostname, h) or _hostname_matches(h, listener_hostname)
               for h in route_hostnames)


def _listener_allows_namespace(snapshot: Snapshot, gateway: Obj, listener: Mapping[str, Any],
                               route_namespace: str) -> tuple[bool, str]:
    namespaces = k8s.as_map(k8s.as_map(listener.get("allowedRoutes")).get("namespaces"))
    source = str(namespaces.get("from") or "Same")
    if source == "All":
        return True, ""
    if source == "Same":
        if route_namespace == k8s.namespace(gateway):
            return True, ""
        return False, f"allows routes from its own namespace ({k8s.namespace(gateway)}) only"
    if source == "Selector":
        try:
            selector = from_label_selector(k8s.as_map(namespaces.get("selector")))
        except SelectorError as error:
            return False, f"has an invalid namespace selector ({error})"
        if selector.matches(snapshot.namespace_labels(route_namespace)):
            return True, ""
        return False, f"allows routes from namespaces {selector} only, and {route_namespace} does not match"
    return False, f"allowedRoutes.namespaces.from {source!r} is not one svcdoctor knows"


def supported_kinds(listener: Mapping[str, Any]) -> tuple[str, ...]:
    """The route kinds a listener accepts: ``allowedRoutes.kinds`` its protocol can carry, else its protocol's."""
    protocol = str(listener.get("protocol") or "").upper()
    kinds = [k8s.as_map(k) for k in k8s.as_list(k8s.as_map(listener.get("allowedRoutes")).get("kinds"))]
    if not kinds:
        return DEFAULT_KINDS.get(protocol, ROUTE_KINDS)
    carried = CARRIED_KINDS.get(protocol, ROUTE_KINDS)
    if protocol == "TLS" and str(k8s.as_map(listener.get("tls")).get("mode") or "Terminate") == "Passthrough":
        carried = ("TLSRoute",)
    named = [str(k.get("kind")) for k in kinds if str(k.get("group") or GROUP) == GROUP]
    return tuple(kind for kind in dict.fromkeys(named) if kind in carried)


#: Parent kinds a route may attach through whose listeners svcdoctor does not evaluate (experimental
#: ``ListenerSet``, earlier ``XListenerSet``): such a parent is said "not evaluated", never passed.
LISTENER_SET_KINDS = ("ListenerSet", "XListenerSet")


def unevaluated_parents(route: Obj) -> list[str]:
    """The ``spec.parentRefs`` of ``route`` that are ListenerSets, as ``Kind namespace/name``."""
    found = []
    for raw in k8s.as_list(k8s.spec(route).get("parentRefs")):
        parent = k8s.as_map(raw)
        if str(parent.get("kind") or "") in LISTENER_SET_KINDS:
            found.append(f"{parent.get('kind')} {parent.get('namespace') or k8s.namespace(route)}/{parent.get('name')}")
    return found


def parent_problems(snapshot: Snapshot, route: Obj) -> tuple[list[Problem], list[Attachment]]:
    """Why the route attaches to none of a parent's listeners (per the spec), and where it attaches."""
    problems: list[Problem] = []
    attached: list[Attachment] = []
    ref = k8s.ref(route)
    route_namespace, kind = k8s.namespace(route), str(route.get("kind") or "")
    hostnames = [str(h) for h in k8s.as_list(k8s.spec(route).get("hostnames"))]
    for index, raw in enumerate(k8s.as_list(k8s.spec(route).get("parentRefs"))):
        parent = k8s.as_map(raw)
        if str(parent.get("group") or GROUP) != GROUP or str(parent.get("kind") or "Gateway") != "Gateway":
            continue  # a mesh parent (a Service): not a Gateway svcdoctor can judge
        gateway_namespace = str(parent.get("namespace") or route_namespace)
        gateway_name = str(parent.get("name") or "")
        where = f"{gateway_namespace}/{gateway_name}"
        field_name = f"spec.parentRefs[{index}]"
        gateway = snapshot.get("Gateway", gateway_namespace, gateway_name)
        if gateway is None:
            # Unread (refused, or a snapshot that did not record Gateways) is not "does not exist".
            if snapshot.missing("gateways") is None and snapshot.holds("Gateway", gateway_namespace):
                problems.append(Problem(ref, field_name, "Accepted", "NoMatchingParent",
                                        f"its parent Gateway {where} does not exist", gateway=where,
                                        fix=f"Create Gateway {where} or point spec.parentRefs[{index}] at one that "
                                            "exists."))
            continue
        listeners = [k8s.as_map(item) for item in k8s.as_list(k8s.spec(gateway).get("listeners"))]
        section = str(parent.get("sectionName") or "")
        port = _port(parent.get("port"))
        chosen = [item for item in listeners if (not section or item.get("name") == section)
                  and (port is None or item.get("port") == port)]
        if not chosen:
            wanted = " and ".join(part for part in (f"named {section!r}" if section else "",
                                                    f"on port {port}" if port is not None else "") if part)
            names = ", ".join(f"{item.get('name')} ({item.get('protocol')}/{item.get('port')})" for item in listeners)
            problems.append(Problem(ref, field_name, "Accepted", "NoMatchingParent",
                                    f"Gateway {where} has no listener {wanted} (it has {names or 'none'})",
                                    gateway=where, fix=f"Set spec.parentRefs[{index}] to a listener of {where}: "
                                                       f"{names or 'add one'}."))
            continue
        reasons = []
        allowing = []
        for listener in chosen:
            allowed, reason = _listener_allows_namespace(snapshot, gateway, listener, route_namespace)
            if not allowed:
                reasons.append(f"listener {listener.get('name')} {reason}")
            elif kind not in supported_kinds(listener):
                reasons.append(f"listener {listener.get('name')} ({listener.get('protocol')}) does not allow {kind}")
            else:
                allowing.append(listener)
        if not allowing:
            problems.append(Problem(ref, field_name, "Accepted", "NotAllowedByListeners",
                                    f"no listener of Gateway {where} allows it: " + "; ".join(reasons),
                                    gateway=where, fix=f"Let a listener of Gateway {where} allow routes from "
                                                       f"namespace {route_namespace} (allowedRoutes.namespaces: "
                                                       "from: All, or a Selector that matches it), or move the "
                                                       "route."))
            continue
        matching = [item for item in allowing if hostnames_intersect(str(item.get("hostname") or ""), hostnames)]
        if not matching:
            listed = ", ".join(f"{item.get('name')}: {item.get('hostname')}" for item in allowing)
            problems.append(Problem(ref, "spec.hostnames", "Accepted", "NoMatchingListenerHostname",
                                    f"none of its hostnames ({', '.join(hostnames)}) matches a listener of Gateway "
                                    f"{where} ({listed})", gateway=where,
                                    fix="Make spec.hostnames intersect a listener's hostname (or drop the "
                                        "listener's hostname)."))
            continue
        attached.append(Attachment(where, tuple(str(item.get("name") or "") for item in matching)))
    return problems, attached


def backend_problems(snapshot: Snapshot, reference: BackendRef) -> list[Problem]:
    """Why one backendRef to the Service cannot be resolved (per the spec)."""
    route = reference.route
    ref = reference.route_ref
    problems: list[Problem] = []
    service = snapshot.service(reference.namespace, reference.name)
    permitted = reference.namespace == k8s.namespace(route) or grant_permits(
        snapshot, route, reference.namespace, reference.name)
    # A grant that could not be read is not a grant that is missing: then nothing is said.
    if (not permitted and snapshot.missing("referencegrants", reference.namespace) is None
            and snapshot.holds("ReferenceGrant", reference.namespace)):
        problems.append(Problem(
            ref, reference.field, "ResolvedRefs", "RefNotPermitted",
            f"{reference.field} refers to Service {reference.namespace}/{reference.name} in another namespace, "
            f"and no ReferenceGrant in {reference.namespace} allows {route.get('kind')} from "
            f"{k8s.namespace(route)} to refer to it",
            fix=(f"Create a ReferenceGrant in namespace {reference.namespace}:\n"
                 f"apiVersion: gateway.networking.k8s.io/v1beta1\nkind: ReferenceGrant\nmetadata:\n"
                 f"  name: allow-{k8s.namespace(route)}-{str(route.get('kind')).lower()}s\n"
                 f"  namespace: {reference.namespace}\nspec:\n  from:\n  - group: {GROUP}\n"
                 f"    kind: {route.get('kind')}\n    namespace: {k8s.namespace(route)}\n  to:\n"
                 f"  - group: \"\"\n    kind: Service\n    name: {reference.name}")))
    if not permitted:
        return problems
    if service is None:
        return problems  # SD101 says the Service is missing; the route's BackendNotFound follows from it
    ports = k8s.service_ports(service)
    numbers = [p.get("port") for p in ports]
    available = ", ".join(k8s.port_label(p) for p in ports) or "no ports"
    if reference.port is None:
        problems.append(Problem(ref, reference.field, "Port", "MissingPort",
                                f"{reference.field} names Service {reference.name} without a port, which the "
                                f"specification requires for a Service (it has {available})",
                                fix=f"Set {reference.field}.port to a Service port: {available}."))
    elif reference.port not in numbers:
        targets = [p for p in ports if k8s.target_port(p) == reference.port]
        hint = (f"; {reference.port} is the targetPort of Service port {k8s.port_label(targets[0])} — a backendRef "
                f"names the Service port" if targets else "")
        meant = targets[0].get("port") if targets else (numbers[0] if len(numbers) == 1 else None)
        problems.append(Problem(ref, f"{reference.field}.port", "Port", "NoSuchPort",
                                f"{reference.field} sends to port {reference.port} of Service {reference.name}, "
                                f"which has {available}{hint}",
                                fix=(f"Set {reference.field}.port to {meant}." if meant is not None else
                                     f"Set {reference.field}.port to one of the Service's ports: {available}.")))
    return problems


def status_problems(route: Obj) -> list[Problem]:
    """False Accepted / ResolvedRefs conditions the implementations wrote in ``status.parents``."""
    ref = k8s.ref(route)
    generation = k8s.meta(route).get("generation")
    problems = []
    for index, parent in enumerate(k8s.as_list(k8s.status(route).get("parents"))):
        entry = k8s.as_map(parent)
        parent_ref = k8s.as_map(entry.get("parentRef"))
        where = f"{parent_ref.get('namespace') or k8s.namespace(route)}/{parent_ref.get('name') or '?'}"
        for condition in k8s.as_list(entry.get("conditions")):
            item = k8s.as_map(condition)
            if item.get("type") not in ("Accepted", "ResolvedRefs") or item.get("status") != "False":
                continue
            stale = (isinstance(generation, int) and isinstance(item.get("observedGeneration"), int)
                     and item["observedGeneration"] < generation)
            message = (f"{entry.get('controllerName') or 'the implementation'} reports {item.get('type')}=False "
                       f"({item.get('reason')}) for parent {where}: {item.get('message') or 'no message'}")
            if stale:
                message += (f" — written for generation {item['observedGeneration']}, the route is at {generation}: "
                            "the implementation has not processed the latest change")
            problems.append(Problem(ref, f"status.parents[{index}].conditions", str(item.get("type")),
                                    str(item.get("reason") or ""), message, reported=True, gateway=where))
    return problems


def _another_backend_unresolved(snapshot: Snapshot, route: Obj, namespace: str, name: str) -> bool:
    """Whether a backendRef of ``route`` other than Service ``namespace/name`` cannot be resolved."""
    for _rule_index, _index, backend in service_refs(route):
        names_it = (str(backend.get("group") or "") == "" and str(backend.get("kind") or "Service") == "Service"
                    and str(backend.get("name") or "") == name
                    and str(backend.get("namespace") or k8s.namespace(route)) == namespace)
        if not names_it and unresolved(snapshot, route, backend) is not None:
            return True
    return False


def route_reports(snapshot: Snapshot, namespace: str, name: str) -> list[RouteReport]:
    """Every route that names Service ``namespace/name``, with every problem found."""
    reports = []
    for _ref, references in sorted(refs_to(snapshot, namespace, name).items(), key=lambda item: str(item[0])):
        route = references[0].route
        problems: list[Problem] = []
        for reference in references:
            problems.extend(backend_problems(snapshot, reference))
        parents, attached = parent_problems(snapshot, route)
        problems.extend(parents)
        reported = status_problems(route)
        derived = {(p.condition, p.reason) for p in problems}
        if "ResolvedRefs" not in {condition for condition, _reason in derived} and _another_backend_unresolved(
                snapshot, route, namespace, name):
            reported = [p for p in reported if p.condition != "ResolvedRefs"]
        problems.extend(p for p in reported if (p.condition, p.reason) not in derived)
        reports.append(RouteReport(route, tuple(references), tuple(problems), tuple(attached)))
    return reports


# -- the Gateway's data-plane Pods ----------------------------------------------------------

#: Labels implementations put on a Gateway's data-plane Pods, with what each label's value is.
DATA_PLANE_LABELS: tuple[tuple[str, str], ...] = (
    ("gateway.networking.k8s.io/gateway-name", "name"),              # Istio, NGINX Gateway Fabric, Cilium…
    ("gateway.envoyproxy.io/owning-gateway-name", "name"),           # Envoy Gateway (with …-namespace)
    ("istio.io/gateway-name", "name"),                               # Istio (older)
)
ENVOY_GATEWAY_NAMESPACE_LABEL = "gateway.envoyproxy.io/owning-gateway-namespace"


def data_plane_pods(snapshot: Snapshot, namespace: str, name: str) -> list[Obj]:
    """The Pods that carry Gateway ``namespace/name``'s traffic, found by the labels implementations set.

    Envoy Gateway runs them in its own namespace (``envoy-gateway-system``) labelled with the owning
    Gateway's name and namespace; Istio and NGINX Gateway Fabric in the Gateway's namespace with
    ``gateway.networking.k8s.io/gateway-name``.
    """
    found: dict[tuple[str, str], Obj] = {}
    for key, _what in DATA_PLANE_LABELS:
        for pod in snapshot.pods:
            labels = k8s.labels(pod)
            if labels.get(key) != name:
                continue
            owner_namespace = labels.get(ENVOY_GATEWAY_NAMESPACE_LABEL)
            if owner_namespace is not None:
                if owner_namespace != namespace:
                    continue
            elif k8s.namespace(pod) != namespace:
                continue
            found[(k8s.namespace(pod), k8s.name(pod))] = pod
    return list(found.values())


# -- what an implementation would report -----------------------------------------------------


def unresolved(snapshot: Snapshot, route: Obj, backend: Mapping[str, Any]) -> tuple[str, str] | None:
    """Why one backendRef cannot be resolved, per the specification: (reason, message), or None.

    ``InvalidKind`` (not a core Service), ``RefNotPermitted`` (another namespace, no
    ReferenceGrant), ``BackendNotFound`` (no such Service).
    """
    group, kind = str(backend.get("group") or ""), str(backend.get("kind") or "Service")
    name = str(backend.get("name") or "")
    namespace = str(backend.get("namespace") or k8s.namespace(route))
    if group != "" or kind != "Service":
        return "InvalidKind", f"backendRef {name}: {group or 'core'}/{kind} is not a supported kind"
    if namespace != k8s.namespace(route) and not grant_permits(snapshot, route, namespace, name):
        return "RefNotPermitted", f"backendRef {namespace}/{name}: no ReferenceGrant permits it"
    if snapshot.service(namespace, name) is None:
        return "BackendNotFound", f"backendRef {namespace}/{name}: no such Service"
    return None


def resolved_refs(snapshot: Snapshot, route: Obj) -> tuple[bool, str, str]:
    """The ``ResolvedRefs`` condition the specification asks for: (status, reason, message).

    Every backendRef of every rule, in order; the first that cannot be resolved decides.
    """
    for _rule_index, _index, backend in service_refs(route):
        problem = unresolved(snapshot, route, backend)
        if problem is not None:
            return False, *problem
    return True, "ResolvedRefs", ""


def accepted(snapshot: Snapshot, route: Obj, gateway_namespace: str, gateway_name: str) -> tuple[bool, str]:
    """The ``Accepted`` condition for one parent Gateway, per the specification: (status, reason)."""
    only = dict(route)
    spec = dict(k8s.spec(route))
    spec["parentRefs"] = [p for p in k8s.as_list(spec.get("parentRefs"))
                          if str(k8s.as_map(p).get("namespace") or k8s.namespace(route)) == gateway_namespace
                          and k8s.as_map(p).get("name") == gateway_name]
    only["spec"] = spec
    problems, attached = parent_problems(snapshot, only)
    if problems:
        return False, problems[0].reason
    return bool(attached), "Accepted" if attached else "NoMatchingParent"
