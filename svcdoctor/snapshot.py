"""The Snapshot: an immutable, indexed view of what a diagnosis needs.

Every source (a recorded file, the live API, plain manifests) ends in one of these; checks only
query it and never call the API. Objects stay the raw JSON dicts the API serves; the indexes are
built once, in the constructor, so that a check costs time proportional to what it looks at —
never Services × Pods.

Non-API evidence (node data-plane dumps, DNS answers, probe results) rides along as the
``svcdoctor.dev/v1`` kinds of DESIGN.md, read into small frozen dataclasses here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, TypeVar, overload

from svcdoctor import k8s
from svcdoctor.errors import InputError
from svcdoctor.k8s import Obj, ObjectRef
from svcdoctor.kinds import ATTRIBUTES
from svcdoctor.selectors import Selector

T = TypeVar("T")

EVIDENCE_GROUP = "svcdoctor.dev/v1"
EVIDENCE_KINDS = ("NodeDump", "DNSAnswer", "ProbeResult", "SnapshotInfo")

PROBE_RESULTS = ("open", "refused", "timeout", "unreachable")
DNS_RCODES = ("NOERROR", "NXDOMAIN", "SERVFAIL", "TIMEOUT", "REFUSED")
PROXY_MODES = ("iptables", "ipvs", "nftables")


def is_custom_resource(obj: Obj) -> bool:
    """Whether an object belongs to an API group outside Kubernetes' own (``*.k8s.io`` and the unqualified ones)."""
    api_version = str(obj.get("apiVersion") or "")
    group = api_version.rsplit("/", 1)[0] if "/" in api_version else ""
    return "." in group and not group.endswith(".k8s.io") and group != "svcdoctor.dev"


@dataclass(frozen=True)
class DumpText:
    """One text a NodeDump may carry: its key in the document, its NodeDump attribute, what prints it."""

    key: str
    attribute: str
    command: tuple[str, ...]


#: The texts of a NodeDump, in the order ``collect node`` runs their commands and writes them.
DUMP_TEXTS: tuple[DumpText, ...] = (
    DumpText("iptablesSave", "iptables_save", ("iptables-save",)),
    DumpText("ip6tablesSave", "ip6tables_save", ("ip6tables-save",)),
    DumpText("nftRuleset", "nft_ruleset", ("nft", "list", "ruleset")),
    DumpText("ipvsadm", "ipvsadm", ("ipvsadm", "-Ln")),
    # On a node the tool lives in the Cilium agent's container, not on the host: `collect node`
    # runs it only where it is installed; otherwise the text comes from `kubectl exec`.
    DumpText("ciliumServiceList", "cilium_service_list", ("cilium-dbg", "service", "list")),
)


@dataclass(frozen=True)
class NodeDump:
    """What one node's data plane holds, as its own tools print it (the texts of :data:`DUMP_TEXTS`)."""

    node: str
    #: ``iptables``, ``ipvs`` or ``nftables`` (kube-proxy's mode), or "" when not recorded.
    proxy_mode: str
    #: ``iptables-save`` output, all tables ("" when absent).
    iptables_save: str = ""
    #: ``nft list ruleset`` output ("" when absent).
    nft_ruleset: str = ""
    #: ``ipvsadm -Ln`` output ("" when absent).
    ipvsadm: str = ""
    #: ``ip6tables-save`` output, when the node is dual-stack ("" when absent).
    ip6tables_save: str = ""
    #: ``cilium-dbg service list`` output of the node's Cilium agent ("" when absent).
    cilium_service_list: str = ""


@dataclass(frozen=True)
class DNSAnswer:
    """What a resolver answered to one query."""

    name: str
    type: str
    rcode: str
    #: Addresses for A/AAAA; ``{"type": ..., "value": ...}`` mappings for CNAME/SRV/PTR.
    answers: tuple[Any, ...] = ()
    #: ``NS/POD`` (or a node / address) the query was asked from, "" when unknown.
    source: str = ""
    #: The resolver that was asked, "" when unknown.
    server: str = ""


@dataclass(frozen=True)
class ProbeResult:
    """One TCP/UDP probe that was sent, and what came back."""

    ip: str
    port: int
    protocol: str
    #: ``open`` | ``refused`` | ``timeout`` | ``unreachable``.
    result: str
    #: ``NS/POD``, a node, or a description of where the probe was sent from.
    source: str = ""
    #: What the address is: ``pod``, ``clusterIP``, ``nodePort``, ``loadBalancer``… ("" when unknown).
    target: str = ""
    #: The object the address belongs to, e.g. ``Pod prod/web-1`` ("" when unknown).
    target_object: str = ""
    #: Round-trip or waiting time in seconds, when recorded.
    seconds: float | None = None


@dataclass(frozen=True)
class Unavailable:
    """A read the source could not make (RBAC forbade it, the request failed)."""

    #: Plural resource name, e.g. ``networkpolicies``.
    resource: str
    #: The namespace of the read, "" for cluster-wide.
    namespace: str
    #: Why, in plain words ("forbidden: …").
    reason: str
    verb: str = "list"
    #: Set when the read succeeded but served an object svcdoctor cannot read (a field the API server
    #: would refuse): the object's name; ``reason`` names the field.
    invalid_object: str = ""

    def can_i(self) -> str:
        """The ``kubectl auth can-i`` command that shows the missing permission (or, for an object that
        could not be read, the command that shows it)."""
        if self.invalid_object:
            scope = f" -n {self.namespace}" if self.namespace else ""
            return f"kubectl get {self.resource} {self.invalid_object}{scope} -o yaml"
        scope = f" -n {self.namespace}" if self.namespace else " -A" if self.resource != "nodes" else ""
        return f"kubectl auth can-i {self.verb} {self.resource}{scope}"


@dataclass(frozen=True)
class Recorded:
    """A kind that was listed when the snapshot was taken (``SnapshotInfo.recorded``)."""

    kind: str
    #: The namespaces it was listed in; empty: every namespace (or a cluster-scoped kind).
    namespaces: tuple[str, ...] = ()

    def covers(self, namespace: str) -> bool:
        return not self.namespaces or not namespace or namespace in self.namespaces


@dataclass(frozen=True)
class SnapshotInfo:
    """What a snapshot was taken from."""

    captured_at: datetime | None = None
    context: str = ""
    server_version: str = ""
    svcdoctor_version: str = ""
    unavailable: tuple[Unavailable, ...] = ()
    cluster_domain: str = ""
    #: The kinds (and namespaces) that were listed; None when the snapshot does not say.
    recorded: tuple[Recorded, ...] | None = None
    #: Names in it are pseudonyms (``record --redact``, ``svcdoctor redact``).
    redacted: bool = False


@dataclass(frozen=True)
class Origin:
    """Where an object was read from: a file, the line of the object, and lines of its fields."""

    path: str
    line: int | None = None
    #: Dotted field path (``spec.selector``, ``spec.ports[0].targetPort``) → line.
    fields: Mapping[str, int] = field(default_factory=dict)
    #: What the position is, when it is not the object itself, e.g. ``Deployment shop/web's template``.
    note: str = ""

    def line_of(self, field_path: str | None) -> int | None:
        """The line of ``field_path``, of its nearest recorded parent, or of the object."""
        if field_path:
            path = field_path
            while path:
                if path in self.fields:
                    return self.fields[path]
                cut = max(path.rfind("."), path.rfind("["))
                path = path[:cut] if cut > 0 else ""
        return self.line


class _Kind:
    """The objects of one kind (``Snapshot.pods``…), a tuple; one an in-place change made stale is
    rebuilt from the kind's slots on its first read (:meth:`Snapshot.with_changes` with ``reuse``)."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.attribute = name

    @overload
    def __get__(self, instance: None, owner: type) -> _Kind: ...

    @overload
    def __get__(self, instance: Snapshot, owner: type) -> Sequence[Obj]: ...

    def __get__(self, instance: Snapshot | None, owner: type) -> _Kind | Sequence[Obj]:
        if instance is None:
            return self
        objects = tuple(instance._slots[self.attribute].values())
        instance.__dict__[self.attribute] = objects
        return objects


class Snapshot:
    """An immutable, indexed view of cluster objects plus non-API evidence.

    Build it once with every object; afterwards only query it.
    """

    services = _Kind()
    pods = _Kind()
    endpoint_slices = _Kind()
    endpoints = _Kind()
    network_policies = _Kind()
    namespaces = _Kind()
    nodes = _Kind()
    events = _Kind()
    ingresses = _Kind()
    replica_sets = _Kind()
    deployments = _Kind()
    stateful_sets = _Kind()
    daemon_sets = _Kind()
    jobs = _Kind()
    cron_jobs = _Kind()
    replication_controllers = _Kind()
    config_maps = _Kind()
    admin_network_policies = _Kind()
    baseline_admin_network_policies = _Kind()
    cluster_network_policies = _Kind()
    cilium_network_policies = _Kind()
    cilium_clusterwide_network_policies = _Kind()
    gateway_classes = _Kind()
    gateways = _Kind()
    http_routes = _Kind()
    grpc_routes = _Kind()
    tls_routes = _Kind()
    tcp_routes = _Kind()
    udp_routes = _Kind()
    reference_grants = _Kind()

    def __init__(
        self,
        objects: Iterable[Obj] = (),
        *,
        node_dumps: Iterable[NodeDump] = (),
        dns_answers: Iterable[DNSAnswer] = (),
        probe_results: Iterable[ProbeResult] = (),
        info: SnapshotInfo | None = None,
        unavailable: Iterable[Unavailable] = (),
        origins: Mapping[ObjectRef, Origin] | None = None,
        static: bool = False,
        source_path: str = "",
    ) -> None:
        buckets: dict[str, list[Obj]] = {attribute: [] for attribute in ATTRIBUTES.values()}
        custom: list[Obj] = []
        for obj in objects:
            attribute = ATTRIBUTES.get(str(obj.get("kind") or ""))
            if attribute is not None:
                buckets[attribute].append(obj)
            elif is_custom_resource(obj):
                custom.append(obj)
        for attribute, items in buckets.items():
            setattr(self, attribute, tuple(items))
        #: For the kinds an in-place change touched: slot → object, in the tuple's order (replaced objects
        #: keep their slot), and the slot of each object by id(); the object is held, so its id is not reused.
        self._slots: dict[str, dict[int, Obj]] = {}
        self._slot_of: dict[int, int] = {}
        self._next_slot = 0
        #: Objects of API groups Kubernetes does not define (an operator's Prometheus, a Kafka…).
        self.custom_resources: tuple[Obj, ...] = tuple(custom)
        self.node_dumps: tuple[NodeDump, ...] = tuple(node_dumps)
        self.dns_answers: tuple[DNSAnswer, ...] = tuple(dns_answers)
        self.probe_results: tuple[ProbeResult, ...] = tuple(probe_results)
        self.info: SnapshotInfo = info or SnapshotInfo()
        self.unavailable: tuple[Unavailable, ...] = tuple(unavailable) + self.info.unavailable
        self.origins: Mapping[ObjectRef, Origin] = dict(origins or {})
        #: True when built from manifests: workload templates stand in for Pods, no runtime state.
        self.static: bool = static
        #: The file (or "-") the snapshot was read from, "" for a live read.
        self.source_path: str = source_path
        self._build_indexes()

    # -- indexes ------------------------------------------------------------------------------

    def _build_indexes(self) -> None:
        self._views: dict[str, Any] = {}
        # Memos filled on use; the Snapshot never changes, so they never go stale.
        self._workloads: dict[tuple[str, tuple[tuple[str, str, str, bool], ...]], ObjectRef | None] = {}
        self._label_groups: dict[str, tuple[tuple[tuple[tuple[str, str], ...], list[Obj]], ...]] = {}
        # Keyed by id(); the entry holds the Pod itself, so the id cannot be reused meanwhile.
        self._workload_by_pod: dict[int, tuple[Obj, ObjectRef | None]] = {}
        by_name: dict[tuple[str, str, str], Obj] = {}
        by_namespace: dict[tuple[str, str], list[Obj]] = defaultdict(list)
        for attribute in ATTRIBUTES.values():
            for obj in getattr(self, attribute):
                kind, namespace = str(obj.get("kind")), k8s.namespace(obj)
                by_name[(kind, namespace, k8s.name(obj))] = obj
                by_namespace[(kind, namespace)].append(obj)
        self._by_name = by_name
        self._by_namespace = dict(by_namespace)

        self._by_uid: dict[str, Obj] = {}
        for attribute in _BY_UID_ATTRIBUTES:
            for obj in getattr(self, attribute):
                if k8s.uid(obj):
                    self._by_uid[k8s.uid(obj)] = obj

        services_by_namespace: dict[str, list[Obj]] = defaultdict(list)
        for service in self.services:
            services_by_namespace[k8s.namespace(service)].append(service)
        self._services_by_namespace = dict(services_by_namespace)

        pods_by_namespace: dict[str, list[Obj]] = defaultdict(list)
        pods_by_label: dict[str, dict[tuple[str, str], list[Obj]]] = defaultdict(lambda: defaultdict(list))
        pods_by_ip: dict[str, list[Obj]] = defaultdict(list)
        for pod in self.pods:
            namespace = k8s.namespace(pod)
            pods_by_namespace[namespace].append(pod)
            index = pods_by_label[namespace]
            for pair in _label_pairs(pod):
                index[pair].append(pod)
            for ip in k8s.pod_ips(pod):
                pods_by_ip[ip].append(pod)
        self._pods_by_namespace = dict(pods_by_namespace)
        self._pods_by_label = {namespace: dict(index) for namespace, index in pods_by_label.items()}
        self._pods_by_ip = dict(pods_by_ip)

        slices_by_service: dict[tuple[str, str], list[Obj]] = defaultdict(list)
        for endpoint_slice in self.endpoint_slices:
            slice_key = _slice_key(endpoint_slice)
            if slice_key is not None:
                slices_by_service[slice_key].append(endpoint_slice)
        self._slices_by_service = dict(slices_by_service)

        events_by_object: dict[tuple[str, str, str], list[Obj]] = defaultdict(list)
        for event in self.events:
            events_by_object[_event_key(event)].append(event)
        self._events_by_object = dict(events_by_object)

        self._namespace_labels, self._namespaces_by_label = _namespace_indexes(self.namespaces)

        policies_by_namespace: dict[str, list[Obj]] = defaultdict(list)
        for policy in self.network_policies:
            policies_by_namespace[k8s.namespace(policy)].append(policy)
        self._policies_by_namespace = dict(policies_by_namespace)

    # -- look-ups ------------------------------------------------------------------------------

    def get(self, kind: str, namespace: str, name: str) -> Obj | None:
        """One object by kind, namespace ("" when cluster-scoped) and name."""
        return self._by_name.get((kind, namespace, name))

    def service(self, namespace: str, name: str) -> Obj | None:
        return self._by_name.get(("Service", namespace, name))

    def services_in(self, namespace: str) -> Sequence[Obj]:
        return self._services_by_namespace.get(namespace, ())

    def pod(self, namespace: str, name: str) -> Obj | None:
        return self._by_name.get(("Pod", namespace, name))

    def pods_in(self, namespace: str) -> Sequence[Obj]:
        return self._pods_by_namespace.get(namespace, ())

    def pods_with_ip(self, ip: str) -> Sequence[Obj]:
        return self._pods_by_ip.get(ip, ())

    def select_pods(self, namespace: str, selector: Selector) -> list[Obj]:
        """The Pods of ``namespace`` that ``selector`` selects, through the label index."""
        if selector.nothing:
            return []
        pairs = selector.equality_pairs()
        if pairs:
            index = self._pods_by_label.get(namespace, {})
            candidate_lists = [index.get(pair, []) for pair in pairs]
            candidates: Sequence[Obj] = min(candidate_lists, key=len)
        else:
            candidates = self.pods_in(namespace)
        return [pod for pod in candidates if selector.matches(k8s.labels(pod))]

    def pods_with_label(self, namespace: str, key: str, value: str) -> Sequence[Obj]:
        return self._pods_by_label.get(namespace, {}).get((key, value), ())

    def endpoint_slices_for(self, namespace: str, service_name: str) -> Sequence[Obj]:
        """The EndpointSlices labelled ``kubernetes.io/service-name`` for this Service."""
        return self._slices_by_service.get((namespace, service_name), ())

    def endpoints_for(self, namespace: str, service_name: str) -> Obj | None:
        """The legacy Endpoints object of this Service, if the snapshot has one."""
        return self._by_name.get(("Endpoints", namespace, service_name))

    def events_for(self, kind: str, namespace: str, name: str) -> Sequence[Obj]:
        return self._events_by_object.get((kind, namespace, name), ())

    def namespace_names(self) -> list[str]:
        """Every namespace that has a Namespace object or holds an object of the snapshot."""
        return list(self._namespace_names)

    @cached_property
    def _namespace_names(self) -> tuple[str, ...]:
        names = {k8s.name(ns) for ns in self.namespaces}
        names.update(namespace for _, namespace in self._by_namespace)
        names.discard("")
        return tuple(sorted(names))

    def in_namespace(self, kind: str, namespace: str) -> Sequence[Obj]:
        """The objects of ``kind`` (``Deployment``, ``ReplicaSet``…) in ``namespace``, from the index."""
        return self._by_namespace.get((kind, namespace), ())

    def namespace_labels(self, namespace: str) -> Mapping[str, str]:
        """A namespace's labels, with ``kubernetes.io/metadata.name`` as the API server sets it."""
        return self._namespace_labels.get(namespace, {"kubernetes.io/metadata.name": namespace})

    def namespaces_matching(self, selector: Selector) -> list[str]:
        pairs = selector.equality_pairs()
        if pairs:
            candidates = min((self._namespaces_by_label.get(pair, []) for pair in pairs), key=len)
        else:
            candidates = self.namespace_names()
        return [ns for ns in candidates if selector.matches(self.namespace_labels(ns))]

    def network_policies_in(self, namespace: str) -> Sequence[Obj]:
        return self._policies_by_namespace.get(namespace, ())

    def node(self, name: str) -> Obj | None:
        return self._by_name.get(("Node", "", name))

    def owner_chain(self, obj: Obj) -> list[Obj]:
        """The controllers above ``obj``, nearest first (Pod → ReplicaSet → Deployment)."""
        chain: list[Obj] = []
        current = obj
        seen: set[str] = set()
        while True:
            owner = None
            for reference in k8s.as_list(k8s.meta(current).get("ownerReferences")):
                if not isinstance(reference, Mapping):
                    continue
                candidate = self._by_uid.get(str(reference.get("uid") or ""))
                if candidate is None:
                    candidate = self.get(str(reference.get("kind") or ""), k8s.namespace(current),
                                         str(reference.get("name") or ""))
                if candidate is not None and (owner is None or reference.get("controller")):
                    owner = candidate
            if owner is None or k8s.uid(owner) in seen:
                return chain
            seen.add(k8s.uid(owner))
            chain.append(owner)
            current = owner

    def workload_of(self, pod: Obj) -> ObjectRef | None:
        """The top-level controller of a Pod (Deployment, StatefulSet…), from owner references.

        Falls back to the owner reference itself when the owner object is not in the snapshot.
        Remembered per Pod and per owner, since the Pods of one ReplicaSet share the answer.
        """
        known = self._workload_by_pod.get(id(pod))
        if known is not None and known[0] is pod:
            return known[1]
        owners = tuple(
            (str(reference.get("kind") or ""), str(reference.get("name") or ""), str(reference.get("uid") or ""),
             bool(reference.get("controller")))
            for reference in k8s.as_list(k8s.meta(pod).get("ownerReferences")) if isinstance(reference, Mapping))
        if not owners:
            return None
        key = (k8s.namespace(pod), owners)
        if key not in self._workloads:
            self._workloads[key] = self._workload_of(pod)
        self._workload_by_pod[id(pod)] = (pod, self._workloads[key])
        return self._workloads[key]

    def label_groups(self, namespace: str) -> Sequence[tuple[tuple[tuple[str, str], ...], Sequence[Obj]]]:
        """The Pods of ``namespace`` grouped by identical labels (ignoring ``pod-template-hash``).

        Near-miss searches compare a selector with each distinct label set once instead of with
        every Pod; built on first use and kept.
        """
        groups = self._label_groups.get(namespace)
        if groups is None:
            grouped: dict[tuple[tuple[str, str], ...], list[Obj]] = {}
            for pod in self.pods_in(namespace):
                key = tuple(sorted((str(k), str(v)) for k, v in k8s.labels(pod).items() if k != "pod-template-hash"))
                grouped.setdefault(key, []).append(pod)
            groups = self._label_groups[namespace] = tuple(grouped.items())
        return groups

    def _workload_of(self, pod: Obj) -> ObjectRef | None:
        chain = self.owner_chain(pod)
        if chain:
            return k8s.ref(chain[-1])
        for reference in k8s.as_list(k8s.meta(pod).get("ownerReferences")):
            if isinstance(reference, Mapping) and reference.get("controller"):
                kind = str(reference.get("kind") or "")
                owner_name = str(reference.get("name") or "")
                if kind == "ReplicaSet" and "-" in owner_name:
                    # A ReplicaSet's name is "<deployment>-<pod-template-hash>".
                    return ObjectRef("Deployment", k8s.namespace(pod), owner_name.rsplit("-", 1)[0])
                return ObjectRef(kind, k8s.namespace(pod), owner_name)
        return None

    def node_dump(self, node: str) -> NodeDump | None:
        for dump in self.node_dumps:
            if dump.node == node:
                return dump
        return None

    def holds(self, kind: str, namespace: str = "") -> bool:
        """Whether the snapshot speaks for ``kind`` (in ``namespace``): it was listed, so none there means none.

        True when ``SnapshotInfo.recorded`` says the kind was listed there, or when the snapshot holds
        objects of that kind at all. A kind absent from a file that does not say what was listed is
        "not recorded", not "none exist" (DESIGN.md).
        """
        if self._kinds_present.get(kind):
            return True
        return any(item.kind == kind and item.covers(namespace) for item in self.info.recorded or ())

    @cached_property
    def _kinds_present(self) -> dict[str, bool]:
        return {kind: bool(self._slots[attribute]) if attribute in self._slots else bool(getattr(self, attribute))
                for kind, attribute in ATTRIBUTES.items()}

    def missing(self, resource: str, namespace: str = "") -> Unavailable | None:
        """The failed read that hides ``resource`` (in ``namespace``), if there was one."""
        for item in self.unavailable:
            if item.resource == resource and (not item.namespace or not namespace or item.namespace == namespace):
                return item
        return None

    def with_changes(self, changes: Iterable[tuple[Obj | None, Obj | None]], *, info: SnapshotInfo | None = None,
                     unavailable: Iterable[Unavailable] | None = None, reuse: bool = False) -> Snapshot:
        """A new Snapshot with ``changes`` applied, updating the indexes for those objects only.

        ``changes`` are pairs (an object this Snapshot holds, or None; its replacement, or None).
        The result holds the same objects in every index as a Snapshot built from scratch over the
        same objects (a replaced object keeps its place; an added one, or one that moved to another
        index key, comes last there). Evidence and origins are kept.

        Without ``reuse``, nothing of this Snapshot changes: every index touched is copied first,
        which costs time proportional to the index. With ``reuse``, the new Snapshot takes this
        one's indexes over and changes them in place, so a change costs what it touches (its index
        entries), whatever the cluster's size; this Snapshot is emptied (any use of it fails) —
        for an owner that keeps only the latest Snapshot (``svcdoctor watch``).
        """
        own_unavailable = [u for u in self.unavailable if u not in self.info.unavailable]
        new = Snapshot.__new__(Snapshot)
        if reuse:
            new.__dict__ = self.__dict__
            self.__dict__ = {}
            for cached in ("now", "_namespace_names", "_kinds_present"):
                new.__dict__.pop(cached, None)
        else:
            new.__dict__.update({key: value for key, value in self.__dict__.items()
                                 if key not in ("now", "_namespace_names", "_kinds_present")})
            for touched in self._slots:  # the copy gets plain tuples, nothing shared to change later
                setattr(new, touched, getattr(self, touched))
            new._slots, new._slot_of, new._next_slot = {}, {}, 0
        if info is not None:
            new.info = info
        if unavailable is not None or info is not None:
            kept = list(unavailable) if unavailable is not None else own_unavailable
            new.unavailable = tuple(kept) + new.info.unavailable
        new._views, new._workloads, new._label_groups, new._workload_by_pod = {}, {}, {}, {}
        copies: set[int] = set()

        def writable(index: dict[Any, Any]) -> dict[Any, Any]:
            if not reuse and id(index) not in copies:
                index = dict(index)
                copies.add(id(index))
            return index

        def swap(index: dict[Any, Any], old_keys: Sequence[Any], new_keys: Sequence[Any], old: Obj | None,
                 obj: Obj | None) -> dict[Any, Any]:
            """``old`` out of its keys' lists, ``obj`` into its keys' lists (in place where the key stays)."""
            index = writable(index)
            for key in old_keys:
                if obj is not None and key in new_keys:
                    index[key] = [obj if item is old else item for item in index.get(key, ())]
                    continue
                remaining = [item for item in index.get(key, ()) if item is not old]
                if remaining:
                    index[key] = remaining
                else:
                    index.pop(key, None)
            for key in new_keys:
                if old is None or key not in old_keys:
                    index[key] = [*index.get(key, ()), obj]
            return index

        def keys(function: Callable[[Obj], Any], item: Obj | None) -> list[Any]:
            if item is None:
                return []
            key = function(item)
            return [] if key is None else [key]

        namespaces_changed = False
        for old, obj in changes:
            sample = obj if obj is not None else old
            attribute = ATTRIBUTES.get(str(sample.get("kind") or "")) if sample is not None else None
            if sample is None or attribute is None:
                continue
            kind, namespace = str(sample.get("kind")), k8s.namespace(sample)
            if reuse:
                new._replace_in_kind(attribute, old, obj)
            else:
                bucket = getattr(new, attribute)
                if old is not None and obj is not None:
                    setattr(new, attribute, tuple(obj if item is old else item for item in bucket))
                elif old is not None:
                    setattr(new, attribute, tuple(item for item in bucket if item is not old))
                elif obj is not None:
                    setattr(new, attribute, (*bucket, obj))
            by_name = writable(new._by_name)
            name_key = (kind, namespace, k8s.name(sample))
            if old is not None and by_name.get(name_key) is old:
                del by_name[name_key]
            if obj is not None:
                by_name[name_key] = obj
            new._by_name = by_name
            scope = [(kind, namespace)]
            new._by_namespace = swap(new._by_namespace, scope if old else [], scope if obj else [], old, obj)
            if attribute in _BY_UID_ATTRIBUTES:
                by_uid = writable(new._by_uid)
                old_uid = k8s.uid(old) if old is not None else ""
                if old_uid and by_uid.get(old_uid) is old:
                    del by_uid[old_uid]
                if obj is not None and k8s.uid(obj):
                    by_uid[k8s.uid(obj)] = obj
                new._by_uid = by_uid
            own = [namespace]
            if kind == "Service":
                new._services_by_namespace = swap(new._services_by_namespace, own if old else [], own if obj else [],
                                                  old, obj)
            elif kind == "NetworkPolicy":
                new._policies_by_namespace = swap(new._policies_by_namespace, own if old else [], own if obj else [],
                                                  old, obj)
            elif kind == "Pod":
                new._pods_by_namespace = swap(new._pods_by_namespace, own if old else [], own if obj else [], old, obj)
                by_label = writable(new._pods_by_label)
                by_label[namespace] = swap(by_label.get(namespace, {}), _label_pairs(old), _label_pairs(obj), old, obj)
                new._pods_by_label = by_label
                new._pods_by_ip = swap(new._pods_by_ip, k8s.pod_ips(old) if old else [],
                                       k8s.pod_ips(obj) if obj else [], old, obj)
            elif kind == "EndpointSlice":
                new._slices_by_service = swap(new._slices_by_service, keys(_slice_key, old), keys(_slice_key, obj),
                                              old, obj)
            elif kind == "Event":
                new._events_by_object = swap(new._events_by_object, keys(_event_key, old), keys(_event_key, obj),
                                             old, obj)
            elif kind == "Namespace":
                namespaces_changed = True
        if namespaces_changed:
            new._namespace_labels, new._namespaces_by_label = _namespace_indexes(new.namespaces)
        return new

    def _replace_in_kind(self, attribute: str, old: Obj | None, obj: Obj | None) -> None:
        """In place: ``obj`` takes ``old``'s slot among its kind's objects (None: removed, or added last)."""
        slots = self._slots.get(attribute)
        if slots is None:  # first change of this kind: its tuple becomes slots, once
            slots = self._slots[attribute] = {}
            for item in getattr(self, attribute):
                slots[self._next_slot] = item
                self._slot_of[id(item)] = self._next_slot
                self._next_slot += 1
        self.__dict__.pop(attribute, None)
        slot = self._slot_of.pop(id(old), None) if old is not None else None
        if slot is not None and obj is None:
            del slots[slot]
            return
        if obj is None:
            return
        if slot is None:
            slot = self._next_slot
            self._next_slot += 1
        slots[slot] = obj
        self._slot_of[id(obj)] = slot

    def memo(self, key: str, build: Callable[[Snapshot], T]) -> T:
        """``build(self)``, computed once per Snapshot and ``key``: the one cache of views derived from it.

        A ``scan -A`` runs each check once per Service; a cluster-wide view (every nodePort in use,
        the NetworkPolicy evaluator, traced node paths) is built on first use and lives as long as
        the Snapshot, which never changes, so it never goes stale.
        """
        if key not in self._views:
            self._views[key] = build(self)
        result: T = self._views[key]
        return result

    def objects(self) -> list[Obj]:
        """Every API object the snapshot holds (no evidence kinds)."""
        result: list[Obj] = []
        for attribute in ATTRIBUTES.values():
            result.extend(getattr(self, attribute))
        result.extend(self.custom_resources)
        return result

    def with_evidence(
        self,
        *,
        node_dumps: Iterable[NodeDump] = (),
        dns_answers: Iterable[DNSAnswer] = (),
        probe_results: Iterable[ProbeResult] = (),
        unavailable: Iterable[Unavailable] = (),
    ) -> Snapshot:
        """A new Snapshot with more evidence; a node dump replaces one of the same node."""
        added_dumps = list(node_dumps)
        replaced = {dump.node for dump in added_dumps}
        return Snapshot(
            self.objects(),
            node_dumps=[d for d in self.node_dumps if d.node not in replaced] + added_dumps,
            dns_answers=list(self.dns_answers) + list(dns_answers),
            probe_results=list(self.probe_results) + list(probe_results),
            info=self.info,
            unavailable=[u for u in self.unavailable if u not in self.info.unavailable] + list(unavailable),
            origins=self.origins,
            static=self.static,
            source_path=self.source_path,
        )

    def origin(self, ref: ObjectRef) -> Origin | None:
        return self.origins.get(ref)

    @cached_property
    def now(self) -> datetime:
        """The moment ages are measured from: ``capturedAt``, else the newest timestamp inside.

        Never the wall clock, so that a replay gives the same report years later.
        """
        if self.info.captured_at is not None:
            return self.info.captured_at
        newest: datetime | None = None

        def consider(value: Any) -> None:
            nonlocal newest
            moment = k8s.parse_time(value)
            if moment is not None and (newest is None or moment > newest):
                newest = moment

        for attribute in ATTRIBUTES.values():
            for obj in getattr(self, attribute):
                consider(k8s.meta(obj).get("creationTimestamp"))
        for event in self.events:
            consider(event.get("lastTimestamp"))
            consider(event.get("eventTime"))
            consider(k8s.as_map(event.get("series")).get("lastObservedTime"))
        for pod in self.pods:
            for condition in k8s.as_list(k8s.status(pod).get("conditions")):
                if isinstance(condition, Mapping):
                    consider(condition.get("lastTransitionTime"))
            for container_status in k8s.container_statuses(pod):
                for state in (container_status.get("state"), container_status.get("lastState")):
                    for detail in k8s.as_map(state).values():
                        if isinstance(detail, Mapping):
                            consider(detail.get("startedAt"))
                            consider(detail.get("finishedAt"))
        return newest or datetime(1970, 1, 1, tzinfo=UTC)


# -- reading the svcdoctor.dev/v1 kinds ------------------------------------------------------


#: The kinds whose objects owner references name (by uid): workloads, and Pods.
_BY_UID_ATTRIBUTES = ("replica_sets", "deployments", "stateful_sets", "daemon_sets", "jobs", "cron_jobs",
                      "replication_controllers", "pods")


def _label_pairs(obj: Obj | None) -> list[tuple[str, str]]:
    return [(key, str(value)) for key, value in k8s.labels(obj).items()] if obj is not None else []


def _slice_key(endpoint_slice: Obj) -> tuple[str, str] | None:
    """(namespace, Service) of an EndpointSlice, from its ``kubernetes.io/service-name`` label."""
    service_name = k8s.labels(endpoint_slice).get("kubernetes.io/service-name")
    return (k8s.namespace(endpoint_slice), str(service_name)) if service_name else None


def _event_key(event: Obj) -> tuple[str, str, str]:
    """(kind, namespace, name) of the object an Event is about (both Event shapes)."""
    involved = k8s.as_map(event.get("involvedObject") or event.get("regarding"))
    return (str(involved.get("kind") or ""), str(involved.get("namespace") or k8s.namespace(event)),
            str(involved.get("name") or ""))


def _namespace_indexes(namespaces: Iterable[Obj]) -> tuple[dict[str, Mapping[str, str]],
                                                          dict[tuple[str, str], list[str]]]:
    """Each namespace's labels (with ``kubernetes.io/metadata.name``), and the namespaces by label."""
    labels_of: dict[str, Mapping[str, str]] = {}
    by_label: dict[tuple[str, str], list[str]] = defaultdict(list)
    for namespace_obj in namespaces:
        name = k8s.name(namespace_obj)
        namespace_labels = dict(k8s.labels(namespace_obj))
        namespace_labels.setdefault("kubernetes.io/metadata.name", name)
        labels_of[name] = namespace_labels
        for key, value in namespace_labels.items():
            by_label[(key, str(value))].append(name)
    return labels_of, dict(by_label)


def _require(obj: Obj, key: str, what: str) -> Any:
    value = obj.get(key)
    if value is None or value == "":
        raise InputError(f"{what} has no {key!r}")
    return value


def read_evidence(obj: Obj) -> NodeDump | DNSAnswer | ProbeResult | SnapshotInfo:
    """Read one ``svcdoctor.dev/v1`` object; raise :class:`InputError` when it is malformed."""
    kind = str(obj.get("kind") or "")
    if kind == "NodeDump":
        node = k8s.name(obj)
        if not node:
            raise InputError("NodeDump has no metadata.name (the node's name)")
        mode = str(obj.get("proxyMode") or "")
        if mode and mode not in PROXY_MODES:
            raise InputError(f"NodeDump {node}: proxyMode {mode!r} is not one of {', '.join(PROXY_MODES)}")
        texts = {}
        for text in DUMP_TEXTS:
            value = obj.get(text.key) or ""
            if not isinstance(value, str):
                raise InputError(f"NodeDump {node}: {text.key} must be text")
            texts[text.attribute] = value
        return NodeDump(node, mode, **texts)
    if kind == "DNSAnswer":
        query = obj.get("query")
        if not isinstance(query, Mapping):
            raise InputError("DNSAnswer has no 'query' mapping")
        rcode = str(_require(obj, "rcode", "DNSAnswer")).upper()
        if rcode not in DNS_RCODES:
            raise InputError(f"DNSAnswer: rcode {rcode!r} is not one of {', '.join(DNS_RCODES)}")
        answers = obj.get("answers") or []
        if not isinstance(answers, list):
            raise InputError("DNSAnswer: answers must be a list")
        return DNSAnswer(
            name=str(_require(query, "name", "DNSAnswer query")),
            type=str(query.get("type") or "A").upper(),
            rcode=rcode,
            answers=tuple(answers),
            source=str(obj.get("from") or ""),
            server=str(obj.get("server") or ""),
        )
    if kind == "ProbeResult":
        target = obj.get("to")
        if not isinstance(target, Mapping):
            raise InputError("ProbeResult has no 'to' mapping")
        result = str(_require(obj, "result", "ProbeResult"))
        if result not in PROBE_RESULTS:
            raise InputError(f"ProbeResult: result {result!r} is not one of {', '.join(PROBE_RESULTS)}")
        try:
            port = int(_require(target, "port", "ProbeResult 'to'"))
        except (TypeError, ValueError) as error:
            raise InputError("ProbeResult: to.port must be a number") from error
        seconds = obj.get("seconds")
        return ProbeResult(
            ip=str(_require(target, "ip", "ProbeResult 'to'")),
            port=port,
            protocol=str(target.get("protocol") or "TCP").upper(),
            result=result,
            source=str(obj.get("from") or ""),
            target=str(target.get("kind") or ""),
            target_object=str(target.get("object") or ""),
            seconds=float(seconds) if isinstance(seconds, int | float) else None,
        )
    if kind == "SnapshotInfo":
        unavailable = []
        for item in k8s.as_list(obj.get("unavailable")):
            if isinstance(item, Mapping) and item.get("resource"):
                unavailable.append(Unavailable(
                    resource=str(item["resource"]), namespace=str(item.get("namespace") or ""),
                    reason=str(item.get("reason") or "not readable"), verb=str(item.get("verb") or "list"),
                    invalid_object=str(item.get("invalidObject") or ""),
                ))
        recorded: list[Recorded] | None = None
        if obj.get("recorded") is not None:
            recorded = []
            for item in k8s.as_list(obj.get("recorded")):
                if not isinstance(item, Mapping) or not isinstance(item.get("kind"), str):
                    raise InputError("SnapshotInfo: each recorded item needs a kind (e.g. {kind: Pod, namespaces: "
                                     "[shop]})")
                namespaces = item.get("namespaces") or []
                if not isinstance(namespaces, list) or not all(isinstance(n, str) for n in namespaces):
                    raise InputError(f"SnapshotInfo: recorded {item['kind']}: namespaces must be a list of names")
                recorded.append(Recorded(item["kind"], tuple(namespaces)))
        captured = obj.get("capturedAt")
        captured_at = k8s.parse_time(captured)
        if captured and captured_at is None:
            raise InputError(f"SnapshotInfo: capturedAt {captured!r} is not an RFC 3339 time")
        return SnapshotInfo(
            captured_at=captured_at,
            context=str(obj.get("context") or ""),
            server_version=str(obj.get("serverVersion") or ""),
            svcdoctor_version=str(obj.get("svcdoctorVersion") or ""),
            unavailable=tuple(unavailable),
            cluster_domain=str(obj.get("clusterDomain") or ""),
            recorded=tuple(recorded) if recorded is not None else None,
            redacted=obj.get("redacted") is True,
        )
    raise InputError(f"unknown {EVIDENCE_GROUP} kind {kind!r} (known: {', '.join(EVIDENCE_KINDS)})")


def build_snapshot(objects: Iterable[Obj], **options: Any) -> Snapshot:
    """Split API objects from ``svcdoctor.dev/v1`` evidence and build a :class:`Snapshot`."""
    api_objects: list[Obj] = []
    node_dumps: list[NodeDump] = []
    dns_answers: list[DNSAnswer] = []
    probe_results: list[ProbeResult] = []
    info: SnapshotInfo | None = None
    for obj in objects:
        if obj.get("apiVersion") == EVIDENCE_GROUP:
            evidence = read_evidence(obj)
            if isinstance(evidence, NodeDump):
                node_dumps.append(evidence)
            elif isinstance(evidence, DNSAnswer):
                dns_answers.append(evidence)
            elif isinstance(evidence, ProbeResult):
                probe_results.append(evidence)
            else:
                info = evidence
        else:
            api_objects.append(obj)
    return Snapshot(api_objects, node_dumps=node_dumps, dns_answers=dns_answers, probe_results=probe_results,
                    info=info, **options)
