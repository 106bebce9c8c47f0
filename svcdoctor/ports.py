"""How a Service port meets the Pods behind it: declared container ports and targetPort resolution.

The endpoint controllers resolve a Service port per Pod, the way ``podutil.FindPort`` does: a
numeric targetPort is used as it is (declared or not — ``containerPort`` is informational); a
named targetPort is looked up among the Pod's container ports of the *same protocol*, and a Pod
without it gets no endpoint for that port. The checks of step 2 share these helpers, and group
Pods by the workload that made them so that a 50-replica Deployment is one line, not fifty.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from svcdoctor import k8s
from svcdoctor.findings import Skip
from svcdoctor.k8s import Obj, ObjectRef
from svcdoctor.snapshot import Snapshot


@dataclass(frozen=True)
class DeclaredPort:
    """One ``containers[].ports[]`` entry of a Pod."""

    container: str
    name: str
    number: int
    protocol: str
    #: Where it sits in the Pod, e.g. ``spec.containers[0].ports[1]``.
    field: str

    def label(self) -> str:
        """``http (8080/TCP)`` or ``8080/TCP``."""
        text = f"{self.number}/{self.protocol}"
        return f"{self.name} ({text})" if self.name else text


def _serving_containers(pod: Obj) -> list[tuple[str, Mapping[str, Any]]]:
    """(field prefix, container) of the containers that serve traffic: the regular ones and sidecars
    (init containers with ``restartPolicy: Always``), as the EndpointSlice controller resolves names."""
    spec = k8s.spec(pod)
    result = [(f"spec.containers[{index}]", c) for index, c in enumerate(k8s.containers(spec))]
    for index, container in enumerate(k8s.as_list(spec.get("initContainers"))):
        if isinstance(container, Mapping) and container.get("restartPolicy") == "Always":
            result.append((f"spec.initContainers[{index}]", container))
    return result


def declared_ports(pod: Obj) -> list[DeclaredPort]:
    """Every container port a Pod declares on containers that serve traffic (sidecars included)."""
    result = []
    for prefix, container in _serving_containers(pod):
        for port_index, port in enumerate(k8s.as_list(container.get("ports"))):
            if not isinstance(port, Mapping):
                continue
            try:
                number = int(port.get("containerPort") or 0)
            except (TypeError, ValueError):
                number = 0
            result.append(DeclaredPort(
                container=str(container.get("name") or ""), name=str(port.get("name") or ""), number=number,
                protocol=k8s.port_protocol(port),
                field=f"{prefix}.ports[{port_index}]",
            ))
    return result


def is_terminal(pod: Obj) -> bool:
    """Succeeded or Failed: the endpoint controllers leave such Pods out."""
    return k8s.pod_phase(pod) in ("Succeeded", "Failed")


def serving_ports(snapshot: Snapshot, pods: Iterable[Obj]) -> list[tuple[Obj, list[DeclaredPort]]]:
    """The non-terminal Pods among ``pods`` with their declared ports.

    Worked out once per Pod of ``snapshot``: SD201, SD202 and SD203 all read them, for every Service.
    """
    cache: dict[int, tuple[bool, list[DeclaredPort]]] = snapshot.memo("serving_ports", lambda _: {})
    result = []
    for pod in pods:
        entry = cache.get(id(pod))
        if entry is None:
            entry = cache[id(pod)] = (is_terminal(pod), declared_ports(pod))
        if not entry[0]:
            result.append((pod, entry[1]))
    return result


def selected_serving_ports(context: Any) -> tuple[Obj, list[tuple[Obj, list[DeclaredPort]]]]:
    """The Service and its selected, serving Pods with their declared ports, for the port checks.

    Raises :class:`~svcdoctor.findings.Skip` when there are no Pods to compare with.
    """
    service = context.require_service()
    serving = serving_ports(context.snapshot, context.require_selected_pods())
    if not serving:
        raise Skip("the selector selects no Pod (SD301)")
    return service, serving


def port_field(index: int, key: str = "targetPort") -> str:
    return f"spec.ports[{index}].{key}"


def group_pods(snapshot: Snapshot, pods: Iterable[Obj],
               key: Callable[[Obj], Hashable] | None = None) -> list[tuple[ObjectRef, list[Obj]]]:
    """Pods grouped by their workload (or the Pod itself when it has none), and by ``key``.

    The same workload can appear twice when ``key`` splits its Pods (two ReplicaSet revisions).
    """
    groups: dict[tuple[ObjectRef, Hashable], list[Obj]] = {}
    for pod in pods:
        owner = snapshot.workload_of(pod) or k8s.ref(pod)
        groups.setdefault((owner, key(pod) if key else None), []).append(pod)
    return sorted(((owner, members) for (owner, _), members in groups.items()), key=lambda item: str(item[0]))


def describe_group(owner: ObjectRef, pods: Sequence[Obj], total_of_owner: int | None = None) -> str:
    """``Deployment shop/web (2 of 3 Pods)``, ``Pod shop/debug``."""
    if owner.kind == "Pod":
        return str(owner)
    return f"{owner} ({pods_phrase(pods, total_of_owner)})"


def pods_phrase(pods: Sequence[Obj], total_of_owner: int | None = None) -> str:
    """``2 of 3 Pods``, ``3 Pods`` — or, for stand-ins made from manifests, ``its Pod template, replicas: 2``."""
    if pods and k8s.template_of(pods[0]) is not None:
        # Manifests: the Pods are stand-ins made from the template; how many there will be is replicas.
        replicas = k8s.object_annotations(pods[0]).get(k8s.REPLICAS)
        return "its Pod template" + (f", replicas: {replicas}" if replicas else "")
    count = len(pods)
    if total_of_owner is not None and total_of_owner != count:
        return f"{count} of {total_of_owner} Pods"
    return f"{count} Pod{'s' if count != 1 else ''}"


def names_list(items: Iterable[str], most: int = 6) -> str:
    """``a, b, c`` — or ``a, b, … (+4 more)`` beyond ``most`` items."""
    values = list(dict.fromkeys(items))
    if len(values) <= most:
        return ", ".join(values)
    return ", ".join(values[:most]) + f", … (+{len(values) - most} more)"


def ports_text(ports: Iterable[DeclaredPort]) -> str:
    labels = [port.label() for port in ports]
    return ", ".join(dict.fromkeys(labels)) if labels else "no ports"


def pod_names(pods: Iterable[Obj], most: int = 4) -> str:
    return names_list((k8s.name(pod) for pod in pods), most)


def service_port_items(service: Obj) -> list[tuple[int, Mapping[str, Any]]]:
    """The Service's ports with their index in ``spec.ports``."""
    return list(enumerate(k8s.service_ports(service)))


def selector_text(service: Obj) -> str:
    """The Service's selector as ``kubectl -l`` takes it: ``app=web,tier=api``."""
    selector = k8s.as_map(k8s.spec(service).get("selector"))
    return ",".join(f"{key}={value}" for key, value in selector.items())


def container_ports_command(pod: Obj) -> str:
    """A kubectl command that prints each container's declared ports (of the workload's template for a
    stand-in Pod made from manifests: that Pod does not exist)."""
    from svcdoctor.kinds import TEMPLATE_PATHS

    made_from = k8s.template_of(pod)
    if made_from is not None and made_from[0] in TEMPLATE_PATHS:
        kind, namespace, name = made_from
        containers = "." + ".".join(TEMPLATE_PATHS[kind]) + ".spec.containers[*]"
        return (f"kubectl get {kind.lower()} {name} -n {namespace} -o jsonpath="
                "'{range " + containers + "}{.name}{\": \"}{.ports}{\"\\n\"}{end}'")
    return (f"kubectl get pod {k8s.name(pod)} -n {k8s.namespace(pod)} -o jsonpath="
            "'{range .spec.containers[*]}{.name}{\": \"}{.ports}{\"\\n\"}{end}'")
