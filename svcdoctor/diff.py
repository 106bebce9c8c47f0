"""What changed between two recordings (a working one and a broken one), ranked by relevance to a
Service's path, with the change in its verdict — ``svcdoctor diff BEFORE AFTER [NAME -n NS]``.

The changes a Service's path depends on, most relevant first: its selector; its ports (and type,
targetPorts, traffic policies); the labels of its Pods; their readiness; its endpoints; the
NetworkPolicies selecting its Pods; cluster DNS; the nodes' proxy rules. Each change is one field
of one object, before and after. A kind one recording did not read (its read was refused, or it
does not say it listed the kind) is "not read" there, never a removal: its objects are not compared,
and that change ranks first. A verdict is worse when it moves right along ok → unknown →
degraded → unreachable (a Service that is gone counts as unreachable).

Pure: two Snapshots and their Reports in, :class:`ServiceDiff` out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from svcdoctor import k8s
from svcdoctor.report import Report
from svcdoctor.selectors import from_label_selector, from_service_selector
from svcdoctor.snapshot import Snapshot

Obj = Mapping[str, Any]

#: How bad a verdict is; a move to a higher number is worse. ``None``: the Service does not exist.
SEVERITY = {"ok": 0, "unknown": 1, "degraded": 2, "unreachable": 3, None: 3}
#: The areas of a Service's path, most relevant first (a change's rank is its area's index).
AREAS = ("selector", "ports", "pod labels", "readiness", "endpoints", "policy", "dns", "node rules")


@dataclass(frozen=True)
class Change:
    """One field of one object that differs between the two recordings."""

    area: str
    #: ``Kind namespace/name``.
    object: str
    field: str
    before: Any
    after: Any
    #: The objects (``Pods in shop``) were not read in one recording: nothing of them could be compared.
    #: ``before``/``after`` are then ``read`` or ``not read`` and ``field`` says why.
    not_read: bool = False

    @property
    def unread_side(self) -> str:
        """``AFTER`` or ``BEFORE``: the recording that did not read the objects of a not-read change."""
        return "AFTER" if self.after == "not read" else "BEFORE"

    @property
    def rank(self) -> int:
        # What a recording did not read comes first: it is why the other changes may be incomplete.
        return -1 if self.not_read else AREAS.index(self.area)

    def to_dict(self) -> dict[str, Any]:
        return {"area": self.area, "object": self.object, "field": self.field, "before": self.before,
                "after": self.after, "notRead": self.not_read}


@dataclass(frozen=True)
class ServiceDiff:
    namespace: str
    name: str
    #: The verdicts, None where the Service does not exist.
    before: str | None
    after: str | None
    root_cause_before: str | None
    root_cause_after: str | None
    #: Most relevant first.
    changes: tuple[Change, ...]

    @property
    def worse(self) -> bool:
        return SEVERITY[self.after] > SEVERITY[self.before]

    @property
    def changed(self) -> bool:
        return self.before != self.after

    @property
    def not_read(self) -> list[Change]:
        """The kinds on its path that one recording did not read."""
        return [change for change in self.changes if change.not_read]

    def to_dict(self) -> dict[str, Any]:
        return {"target": {"namespace": self.namespace, "name": self.name}, "before": self.before,
                "after": self.after, "worse": self.worse, "rootCauseBefore": self.root_cause_before,
                "rootCauseAfter": self.root_cause_after, "changes": [change.to_dict() for change in self.changes]}


def diff_service(before: Snapshot, after: Snapshot, namespace: str, name: str,
                 report_before: Report | None, report_after: Report | None) -> ServiceDiff:
    """The verdicts of ``namespace/name`` in both recordings and the changes on its path, ranked."""
    changes = sorted(path_changes(before, after, namespace, name), key=lambda change: change.rank)
    return ServiceDiff(namespace, name, _verdict(report_before, before, namespace),
                       _verdict(report_after, after, namespace), _root(report_before), _root(report_after),
                       tuple(changes))


def worst_first(diffs: Iterable[ServiceDiff]) -> list[ServiceDiff]:
    """Worse verdicts first (by how bad the new verdict is), then by name."""
    return sorted(diffs, key=lambda d: (not d.worse, -SEVERITY[d.after], d.namespace, d.name))


def _verdict(report: Report | None, snapshot: Snapshot, namespace: str) -> str | None:
    """The verdict, None when the Service does not exist; ``unknown`` when its Services were not read."""
    if report is None:
        return "unknown" if not_read(snapshot, "Service", namespace) else None
    if any(f.id == "SD101" for f in report.findings[:1]):
        return None
    return report.verdict


def _root(report: Report | None) -> str | None:
    return report.root_cause.id if report is not None and report.root_cause is not None else None


#: The kinds a Service's path is read from, with their API resources (as a refused read names them).
RESOURCES = {"Service": "services", "Pod": "pods", "EndpointSlice": "endpointslices",
             "NetworkPolicy": "networkpolicies"}
PLURALS = {"Service": "Services", "Pod": "Pods", "EndpointSlice": "EndpointSlices", "NetworkPolicy": "NetworkPolicies"}


def _objects_in(snapshot: Snapshot, kind: str, namespace: str) -> list[Obj]:
    if kind == "Service":
        return list(snapshot.services_in(namespace))
    if kind == "Pod":
        return list(snapshot.pods_in(namespace))
    listed = snapshot.endpoint_slices if kind == "EndpointSlice" else snapshot.network_policies
    return [obj for obj in listed if k8s.namespace(obj) == namespace]


def not_read(snapshot: Snapshot, kind: str, namespace: str) -> str:
    """Why ``kind`` in ``namespace`` is not in ``snapshot`` as read ("" when it was read): a refused read,
    or a recording that holds none and does not say it listed them (DESIGN.md: "not recorded", not "none
    exist"). Manifests are the whole declared state: what they lack is absent."""
    refused = snapshot.missing(RESOURCES[kind], namespace)
    if refused is not None:
        return f"could not {refused.verb} {refused.resource}: {refused.reason}"
    if not snapshot.static and not snapshot.holds(kind, namespace):
        return "not recorded"
    return ""


def _unread(changes: list[Change], area: str, before: Snapshot, after: Snapshot, kind: str, namespace: str) -> bool:
    """Whether ``kind`` in ``namespace`` was not read in one recording (or both): then its objects cannot be
    compared, and a change says which recording did not read them (when only one did not)."""
    reasons = not_read(before, kind, namespace), not_read(after, kind, namespace)
    if not any(reasons):
        return False
    if all(reasons):
        return True
    read_side = after if reasons[0] else before
    # A recording that does not say it listed a kind it holds none of, beside one that has none there
    # either: nothing was there to compare, and nothing is said.
    if "not recorded" in reasons and not _objects_in(read_side, kind, namespace):
        return True
    before_state, after_state = ("not read" if reason else "read" for reason in reasons)
    changes.append(Change(area, f"{PLURALS[kind]} in {namespace}", reasons[0] or reasons[1], before_state,
                          after_state, not_read=True))
    return True


def path_changes(before: Snapshot, after: Snapshot, namespace: str, name: str) -> list[Change]:
    """Every change on the Service's path between the two snapshots (unranked)."""
    changes: list[Change] = []
    service_before, service_after = before.service(namespace, name), after.service(namespace, name)
    label = f"Service {namespace}/{name}"
    spec_before, spec_after = k8s.as_map(k8s.spec(service_before or {})), k8s.as_map(k8s.spec(service_after or {}))
    if not _unread(changes, "selector", before, after, "Service", namespace):
        if (service_before is None) != (service_after is None):
            changes.append(Change("selector", label, "(the object)", "present" if service_before else "absent",
                                  "present" if service_after else "absent"))
        _field(changes, "selector", label, "spec.selector", spec_before.get("selector"), spec_after.get("selector"))
        for key in sorted(set(spec_before) | set(spec_after)):
            if key not in ("selector", "clusterIP", "clusterIPs"):
                _field(changes, "ports", label, f"spec.{key}", spec_before.get(key), spec_after.get(key))
    pods = _path_pods(before, service_before, namespace) | _path_pods(after, service_after, namespace)
    pods_unread = _unread(changes, "pod labels", before, after, "Pod", namespace)
    if not pods_unread:
        for pod_name in sorted(pods):
            _pod_changes(changes, namespace, pod_name, before.pod(namespace, pod_name),
                         after.pod(namespace, pod_name))
    if not _unread(changes, "endpoints", before, after, "EndpointSlice", namespace):
        _endpoint_changes(changes, before, after, namespace, name)
    # Which policies select the path's Pods needs the Pods of both recordings.
    if not _unread(changes, "policy", before, after, "NetworkPolicy", namespace) and not pods_unread:
        _policy_changes(changes, before, after, namespace, pods)
    _dns_changes(changes, before, after)
    _node_changes(changes, before, after, [str(spec.get("clusterIP") or "") for spec in (spec_before, spec_after)])
    return changes


def _field(changes: list[Change], area: str, label: str, field: str, before: Any, after: Any) -> None:
    if before != after:
        changes.append(Change(area, label, field, before, after))


def _path_pods(snapshot: Snapshot, service: Obj | None, namespace: str) -> set[str]:
    """The Pods the Service selects in this snapshot."""
    selector_map = k8s.as_map(k8s.spec(service or {}).get("selector"))
    if not selector_map:
        return set()
    selector = from_service_selector(selector_map)
    return {k8s.name(pod) for pod in snapshot.pods_in(namespace) if selector.matches(k8s.labels(pod))}


def _pod_changes(changes: list[Change], namespace: str, name: str, before: Obj | None, after: Obj | None) -> None:
    label = f"Pod {namespace}/{name}"
    if before is None or after is None:
        changes.append(Change("pod labels", label, "(the object)", "present" if before else "absent",
                              "present" if after else "absent"))
        return
    labels_before, labels_after = dict(k8s.labels(before)), dict(k8s.labels(after))
    for key in sorted(set(labels_before) | set(labels_after)):
        _field(changes, "pod labels", label, f"metadata.labels.{key}", labels_before.get(key), labels_after.get(key))
    _field(changes, "readiness", label, "status.phase", k8s.pod_phase(before), k8s.pod_phase(after))
    _field(changes, "readiness", label, "Ready", k8s.pod_is_ready(before), k8s.pod_is_ready(after))
    _field(changes, "readiness", label, "metadata.deletionTimestamp", k8s.meta(before).get("deletionTimestamp"),
           k8s.meta(after).get("deletionTimestamp"))
    _field(changes, "readiness", label, "restarts", _restarts(before), _restarts(after))
    _field(changes, "ports", label, "containers[].ports", _container_ports(before), _container_ports(after))


def _restarts(pod: Obj) -> int:
    return sum(int(status.get("restartCount") or 0) for status in k8s.container_statuses(pod))


def _container_ports(pod: Obj) -> list[str]:
    return sorted(f"{name}:{port.get('name') or ''}:{port.get('containerPort')}/{k8s.port_protocol(port)}"
                  for name, port in k8s.container_ports(pod))


def _ready_addresses(snapshot: Snapshot, namespace: str, name: str) -> list[str]:
    addresses = set()
    for endpoint_slice in snapshot.endpoint_slices:
        if k8s.namespace(endpoint_slice) != namespace \
                or k8s.labels(endpoint_slice).get("kubernetes.io/service-name") != name:
            continue
        ports = ",".join(sorted(str(k8s.as_map(p).get("port")) for p in k8s.as_list(endpoint_slice.get("ports"))))
        for endpoint in (k8s.as_map(e) for e in k8s.as_list(endpoint_slice.get("endpoints"))):
            if k8s.as_map(endpoint.get("conditions")).get("ready") is not False:
                addresses |= {f"{address}:{ports}" for address in k8s.as_list(endpoint.get("addresses"))}
    return sorted(addresses)


def _endpoint_changes(changes: list[Change], before: Snapshot, after: Snapshot, namespace: str, name: str) -> None:
    _field(changes, "endpoints", f"EndpointSlices of {namespace}/{name}", "ready addresses",
           _ready_addresses(before, namespace, name), _ready_addresses(after, namespace, name))


def _policy_changes(changes: list[Change], before: Snapshot, after: Snapshot, namespace: str,
                    pods: set[str]) -> None:
    """NetworkPolicies of the namespace that select one of the path's Pods, in either recording."""
    def selecting(snapshot: Snapshot) -> dict[str, Obj]:
        labels = [k8s.labels(pod) for pod in snapshot.pods_in(namespace) if k8s.name(pod) in pods]
        found = {}
        for policy in snapshot.network_policies:
            if k8s.namespace(policy) != namespace:
                continue
            selector = from_label_selector(k8s.as_map(k8s.spec(policy).get("podSelector")))
            if any(selector.matches(pod_labels) for pod_labels in labels):
                found[k8s.name(policy)] = policy
        return found

    policies_before, policies_after = selecting(before), selecting(after)
    for name in sorted(set(policies_before) | set(policies_after)):
        old, new = policies_before.get(name), policies_after.get(name)
        _field(changes, "policy", f"NetworkPolicy {namespace}/{name}", "spec",
               k8s.spec(old) if old else None, k8s.spec(new) if new else None)


def _dns_changes(changes: list[Change], before: Snapshot, after: Snapshot) -> None:
    if not _unread(changes, "dns", before, after, "Service", "kube-system"):
        _dns_service_changes(changes, before, after)
    if _unread(changes, "dns", before, after, "Pod", "kube-system"):
        return
    ready_before = sorted(k8s.name(p) for p in before.pods_in("kube-system")
                          if k8s.labels(p).get("k8s-app") == "kube-dns" and k8s.pod_is_ready(p))
    ready_after = sorted(k8s.name(p) for p in after.pods_in("kube-system")
                         if k8s.labels(p).get("k8s-app") == "kube-dns" and k8s.pod_is_ready(p))
    _field(changes, "dns", "Pods kube-system/k8s-app=kube-dns", "ready", ready_before, ready_after)


def _dns_service_changes(changes: list[Change], before: Snapshot, after: Snapshot) -> None:
    for service in ("kube-dns", "coredns"):
        old, new = before.service("kube-system", service), after.service("kube-system", service)
        if old is not None or new is not None:
            _field(changes, "dns", f"Service kube-system/{service}", "(the object)",
                   "present" if old else "absent", "present" if new else "absent")


def _node_changes(changes: list[Change], before: Snapshot, after: Snapshot, cluster_ips: Sequence[str]) -> None:
    """Per node, the proxy rule lines that mention the Service's ClusterIP, before and after."""
    addresses = [address for address in dict.fromkeys(cluster_ips) if address and address != "None"]

    def lines(snapshot: Snapshot) -> dict[str, list[str]]:
        result = {}
        for dump in snapshot.node_dumps:
            texts = [value for value in vars(dump).values() if isinstance(value, str) and "\n" in value]
            result[dump.node] = sorted(line.strip() for text in texts for line in text.splitlines()
                                       if any(address in line for address in addresses))
        return result

    dumps_before, dumps_after = lines(before), lines(after)
    for node in sorted(set(dumps_before) & set(dumps_after)):
        removed = [line for line in dumps_before[node] if line not in dumps_after[node]]
        added = [line for line in dumps_after[node] if line not in dumps_before[node]]
        if removed or added:
            changes.append(Change("node rules", f"Node {node}", "rules for the ClusterIP",
                                  f"{len(removed)} line(s) gone" if removed else "",
                                  f"{len(added)} line(s) new" if added else ""))
