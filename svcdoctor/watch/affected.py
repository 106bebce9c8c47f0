"""Which Services a change can affect: the re-diagnosis of ``svcdoctor watch`` is limited to them.

Pure over one Snapshot and the changed objects; the watch asks it of the Snapshot before a batch
and of the one after, and diagnoses both answers:

* a Service, its EndpointSlices or Endpoints → that Service;
* a Pod (its labels before or after), or an Event about a Pod → the Services selecting it;
* a NetworkPolicy → the Services of its namespace whose Pods its podSelector (before or after) selects;
* a Gateway API route → the Services its backendRefs name (before or after); a Gateway or a
  GatewayClass → every Service a route names;
* a workload, an Ingress, a CiliumNetworkPolicy, a ReferenceGrant (it lives beside the Services it
  opens), an Event about anything else → the Services of its namespace;
* a Namespace, a Node, an admin-tier or clusterwide policy, a followed ConfigMap (CoreDNS' Corefile,
  the kubelet's, kube-proxy's replacement and the CNI's settings), what cluster DNS and kube-proxy
  are made of in kube-system → every Service.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from svcdoctor import gateway, k8s
from svcdoctor.kinds import POLICY_KINDS
from svcdoctor.selectors import Selector, SelectorError, from_label_selector, from_service_selector
from svcdoctor.snapshot import Snapshot

ServiceKey = tuple[str, str]
#: The namespace whose changes (cluster DNS, kube-proxy) can affect every Service.
SYSTEM_NAMESPACE = "kube-system"
#: ``watch`` follows only the ConfigMaps that configure the whole cluster (by name).
EVERYWHERE = ("Namespace", "Node", "ConfigMap", *POLICY_KINDS)
#: The kube-system kinds cluster DNS and kube-proxy are made of.
SYSTEM_KINDS = ("Service", "Pod", "EndpointSlice", "Endpoints", "DaemonSet", "Deployment")


ObjectChange = tuple[Mapping[str, Any] | None, Mapping[str, Any] | None]


def affected_services(snapshot: Snapshot, changes: Iterable[ObjectChange]) -> set[ServiceKey] | None:
    """The Services of ``snapshot`` that ``changes`` (pairs of the object before and after) can affect; None: all."""
    affected: set[ServiceKey] = set()
    for old, new in changes:
        obj = new if new is not None else old
        if obj is None:
            continue
        kind, namespace = str(obj.get("kind") or ""), k8s.namespace(obj)
        if kind in EVERYWHERE or (namespace == SYSTEM_NAMESPACE and kind in SYSTEM_KINDS):
            return None
        if kind == "Service":
            affected.add((namespace, k8s.name(obj)))
        elif kind == "EndpointSlice":
            service = k8s.labels(obj).get("kubernetes.io/service-name")
            if service:
                affected.add((namespace, str(service)))
        elif kind == "Endpoints":
            affected.add((namespace, k8s.name(obj)))
        elif kind == "Pod":
            for pod in (old, new):
                if pod is not None:
                    affected.update(_selecting(snapshot, namespace, k8s.labels(pod)))
        elif kind == "NetworkPolicy":
            affected.update(_policy_targets(snapshot, old, namespace))
            affected.update(_policy_targets(snapshot, new, namespace))
        elif kind in gateway.ROUTE_KINDS:
            affected.update(_route_backends(old))
            affected.update(_route_backends(new))
        elif kind in ("Gateway", "GatewayClass"):
            affected.update(_routed(snapshot))
        elif kind == "Event":
            involved = k8s.as_map(obj.get("involvedObject") or obj.get("regarding"))
            target_namespace = str(involved.get("namespace") or namespace)
            if involved.get("kind") == "Pod":
                pod = snapshot.pod(target_namespace, str(involved.get("name") or ""))
                if pod is not None:
                    affected.update(_selecting(snapshot, target_namespace, k8s.labels(pod)))
            elif involved.get("kind") == "Service":
                affected.add((target_namespace, str(involved.get("name") or "")))
            else:
                affected.update(_all_in(snapshot, target_namespace))
        else:
            affected.update(_all_in(snapshot, namespace))
    return affected


def _route_backends(route: Mapping[str, Any] | None) -> set[ServiceKey]:
    if route is None:
        return set()
    return {(str(backend.get("namespace") or k8s.namespace(route)), str(backend.get("name") or ""))
            for _, _, backend in gateway.service_refs(dict(route))
            if not backend.get("group") and str(backend.get("kind") or "Service") == "Service"}


def _routed(snapshot: Snapshot) -> set[ServiceKey]:
    """Every Service a route of ``snapshot`` names."""
    found: set[ServiceKey] = set()
    for route in gateway.routes(snapshot):
        found.update(_route_backends(route))
    return found


def _all_in(snapshot: Snapshot, namespace: str) -> set[ServiceKey]:
    return {(namespace, k8s.name(service)) for service in snapshot.services_in(namespace)}


def _selecting(snapshot: Snapshot, namespace: str, labels: Mapping[str, Any]) -> set[ServiceKey]:
    """The Services of ``namespace`` whose selector selects ``labels`` (the Services of one namespace, not all)."""
    found = set()
    for service in snapshot.services_in(namespace):
        selector = k8s.as_map(k8s.as_map(service.get("spec")).get("selector"))
        if selector and from_service_selector(selector).matches(labels):
            found.add((namespace, k8s.name(service)))
    return found


def _policy_targets(snapshot: Snapshot, policy: Mapping[str, Any] | None, namespace: str) -> set[ServiceKey]:
    if policy is None:
        return set()
    try:
        selector: Selector = from_label_selector(k8s.as_map(k8s.as_map(policy.get("spec")).get("podSelector")))
    except SelectorError:
        return _all_in(snapshot, namespace)
    found: set[ServiceKey] = set()
    for pod in snapshot.select_pods(namespace, selector):
        found.update(_selecting(snapshot, namespace, k8s.labels(pod)))
    return found
