"""Naming a client (``--from``) or a Service the way kubectl users type them.

``--from`` takes ``POD``, ``NS/POD``, ``TYPE/NAME`` (kubectl's type names: ``deploy``,
``deployment``, ``sts``, ``ds``, ``job``, ``rs``, ``pod``, ``po``; a ready Pod of it; ``svc``: a ready
Pod that Service selects) in ``-n``'s namespace, and ``NS/TYPE/NAME``. Where ``A/B`` could be both (a
namespace called ``deploy``), an existing namespace wins and :attr:`ClientName.note` says which was
used. A unique Pod-name prefix works; when nothing matches, the nearest names are suggested (Pods, the
workloads that own the namespace's Pods, its Services), typed as ``--from`` takes them.

The Service argument of ``check`` takes ``NAME``, ``svc/NAME``, ``service/NAME``,
``services/NAME`` and ``NAME.NS`` (as the DNS name reads).

Pure: the Pods and namespace names come from the caller.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from svcdoctor import k8s
from svcdoctor.errors import InputError
from svcdoctor.similarity import closest

Obj = Mapping[str, Any]

#: kubectl's type names (singular, plural, short, qualified) → kind.
WORKLOAD_TYPES: dict[str, str] = {
    **dict.fromkeys(("pod", "pods", "po"), "Pod"),
    **dict.fromkeys(("deploy", "deployment", "deployments", "deployment.apps", "deployments.apps"), "Deployment"),
    **dict.fromkeys(("sts", "statefulset", "statefulsets", "statefulset.apps", "statefulsets.apps"), "StatefulSet"),
    **dict.fromkeys(("ds", "daemonset", "daemonsets", "daemonset.apps", "daemonsets.apps"), "DaemonSet"),
    **dict.fromkeys(("rs", "replicaset", "replicasets", "replicaset.apps", "replicasets.apps"), "ReplicaSet"),
    **dict.fromkeys(("job", "jobs", "job.batch", "jobs.batch"), "Job"),
}
SERVICE_TYPES = ("svc", "service", "services")
#: The types ``--from`` takes: the workloads and the Service (a ready Pod it selects).
CLIENT_TYPES: dict[str, str] = {**WORKLOAD_TYPES, **dict.fromkeys(SERVICE_TYPES, "Service")}
#: The short type name each kind is suggested with.
_SHORT_TYPES = {"Deployment": "deploy", "StatefulSet": "sts", "DaemonSet": "ds", "ReplicaSet": "rs",
                "Job": "job", "Service": "svc"}


@dataclass(frozen=True)
class ClientName:
    """What ``--from`` names: a Pod, or a workload (or Service) whose ready Pod is the client."""

    namespace: str
    #: ``Pod``, a workload kind (``Deployment``, ``StatefulSet``, …) or ``Service``.
    kind: str
    name: str
    #: How an ambiguous value was read, for the report ("" when it was not ambiguous).
    note: str = ""

    @property
    def is_pod(self) -> bool:
        return self.kind == "Pod"

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}" if self.is_pod else f"{self.namespace}/{self.kind.lower()}/{self.name}"


_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")
#: A Pod name, or the start of one (``frontend-`` picks the one Pod whose name starts so).
_POD_NAME_OR_PREFIX = re.compile(r"[a-z0-9][-a-z0-9.]{0,252}")


def name_problem(namespace: str, name: str, kind: str = "Pod") -> str:
    """Why ``namespace``/``name`` is no name an object could have ("" when it could be one)."""
    for what, part, pattern in (("namespace", namespace, _DNS_LABEL), (f"{kind} name", name, _DNS_SUBDOMAIN)):
        if not pattern.fullmatch(part):
            return f"{what} {part!r} is not a valid Kubernetes name (lower-case letters, digits and '-')"
    return ""


def parse_client(value: str, default_namespace: str, namespace_exists: Callable[[str], bool]) -> ClientName:
    """``--from``'s value as a :class:`ClientName`; ``namespace_exists`` settles ``A/B`` when A is a type name.

    A namespace or name no object could have (``Web/frontend``) is refused as such, before anything is
    looked up: "not in the snapshot" would send the user looking for a Pod that cannot exist.
    """
    client = _parse_client(value, default_namespace, namespace_exists)
    for what, part, pattern in (("namespace", client.namespace, _DNS_LABEL),
                                (f"{client.kind} name", client.name,
                                 _POD_NAME_OR_PREFIX if client.is_pod else _DNS_SUBDOMAIN)):
        if not pattern.fullmatch(part):
            raise InputError(f"--from {value!r}: {what} {part!r} is not a valid Kubernetes name "
                             "(lower-case letters, digits and '-')")
    return client


def _parse_client(value: str, default_namespace: str, namespace_exists: Callable[[str], bool]) -> ClientName:
    parts = value.split("/")
    if not all(parts) or len(parts) > 3:
        raise InputError(f"--from {value!r}: expected POD, NAMESPACE/POD, TYPE/NAME or NAMESPACE/TYPE/NAME")
    if len(parts) == 1:
        return ClientName(default_namespace, "Pod", parts[0])
    if len(parts) == 3:
        kind = CLIENT_TYPES.get(parts[1].lower())
        if kind is None:
            raise InputError(f"--from {value!r}: {parts[1]!r} is not a type kubectl knows here "
                             f"(deploy, sts, ds, rs, job, svc, pod)")
        return ClientName(parts[0], kind, parts[2])
    first, name = parts
    kind = CLIENT_TYPES.get(first.lower())
    if kind is None:
        return ClientName(first, "Pod", name)
    if namespace_exists(first):
        return ClientName(first, "Pod", name, note=f"--from {value}: read as Pod {name} in namespace {first} "
                          f"(a namespace of that name exists); for the {kind} write "
                          f"{default_namespace}/{first}/{name}")
    return ClientName(default_namespace, kind, name)


def parse_service(value: str, namespace: str | None) -> tuple[str, str | None]:
    """``check``'s Service argument → (name, namespace or None when not given there)."""
    name = value
    if "/" in value:
        kind, _, name = value.partition("/")
        if kind.lower() not in SERVICE_TYPES or not name or "/" in name:
            raise InputError(f"Service {value!r} is not a valid Kubernetes name; expected NAME, svc/NAME or "
                             "NAME.NAMESPACE")
    if "." in name:
        name, _, in_namespace = name.partition(".")
        for suffix in (".svc", ".svc.cluster.local"):
            in_namespace = in_namespace.removesuffix(suffix)
        if not name or not in_namespace or "." in in_namespace:
            raise InputError(f"Service {value!r} is not a valid Kubernetes name; expected NAME, svc/NAME or "
                             "NAME.NAMESPACE")
        if namespace is not None and namespace != in_namespace:
            raise InputError(f"{value!r} names namespace {in_namespace}, but -n says {namespace}")
        return name, in_namespace
    return name, namespace


def choose_pod(client: ClientName, pods: Sequence[Obj], where: str, services: Sequence[Obj] = ()) -> Obj:
    """The Pod ``client`` names among ``pods`` (the client namespace's Pods): exact, a unique prefix,
    for a workload its ready Pod (first by name), for a Service a ready Pod it selects (``services``:
    the namespace's Services). Raises :class:`InputError` with near names."""
    if client.is_pod:
        exact = [pod for pod in pods if k8s.name(pod) == client.name]
        if exact:
            return exact[0]
        prefixed = sorted((pod for pod in pods if k8s.name(pod).startswith(client.name)), key=k8s.name)
        if len(prefixed) == 1:
            return prefixed[0]
        if prefixed:
            names = ", ".join(k8s.name(pod) for pod in prefixed[:5]) + (" …" if len(prefixed) > 5 else "")
            raise InputError(f"--from: {len(prefixed)} Pods in {client.namespace} start with "
                             f"{client.name!r}: {names}")
        raise InputError(f"--from: Pod {client.namespace}/{client.name} is not in the {where}"
                         + _did_you_mean(client.name, pods, services, with_pods=True))
    if client.kind == "Service":
        return _selected_pod(client, pods, where, services)
    owned = [pod for pod in pods if client.name in owner_names(pod, client.kind)]
    if not owned:
        raise InputError(f"--from: no Pod of {client.kind.lower()} {client.name} in {client.namespace} in the "
                         f"{where}" + _did_you_mean(client.name, pods, services, with_pods=False))
    return min(owned, key=lambda pod: (not _ready(pod), k8s.name(pod)))


def _selected_pod(client: ClientName, pods: Sequence[Obj], where: str, services: Sequence[Obj]) -> Obj:
    """A ready Pod (first by name) that the Service ``client`` names selects."""
    from svcdoctor.selectors import from_service_selector

    service = next((item for item in services if k8s.name(item) == client.name), None)
    if service is None:
        near = closest(client.name, [k8s.name(item) for item in services])
        raise InputError(f"--from: Service {client.namespace}/{client.name} is not in the {where}"
                         + (f"; did you mean {', '.join(f'svc/{name}' for name in near)}?" if near else ""))
    selector = k8s.as_map(k8s.spec(service).get("selector"))
    if not selector:
        raise InputError(f"--from: Service {client.namespace}/{client.name} has no selector, so no Pod is its "
                         "client; name a Pod or a workload")
    matcher = from_service_selector(selector)
    selected = [pod for pod in pods if matcher.matches(k8s.labels(pod))]
    if not selected:
        raise InputError(f"--from: Service {client.namespace}/{client.name} selects no Pod in the {where} "
                         f"({', '.join(f'{key}={value}' for key, value in selector.items())})")
    return min(selected, key=lambda pod: (not _ready(pod), k8s.name(pod)))


def _did_you_mean(word: str, pods: Sequence[Obj], services: Sequence[Obj], *, with_pods: bool) -> str:
    """"; did you mean …?" with the names nearest ``word``: Pods (when ``with_pods``), the workloads
    that own them and the Services, each typed as ``--from`` takes it; "" when none is near."""
    typed: dict[str, str] = {}
    for pod in pods:
        for kind in ("Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet"):
            names = owner_names(pod, kind)
            for name in names:
                typed.setdefault(name, f"{_SHORT_TYPES[kind]}/{name}")
            if names and kind == "Deployment":
                break  # its ReplicaSet is the Deployment's, not a name the user meant
    for service in services:
        typed.setdefault(k8s.name(service), f"svc/{k8s.name(service)}")
    if with_pods:
        typed.update((k8s.name(pod), k8s.name(pod)) for pod in pods)
    # The very name, of another type (``sts/web`` for a Deployment web), is the nearest of all.
    near = ([word] if word in typed else []) + closest(word, typed)
    return f"; did you mean {', '.join(typed[name] for name in near)}?" if near else ""


def owner_names(pod: Obj, kind: str) -> list[str]:
    """The names of the ``kind`` workloads that own ``pod`` (a Deployment through its ReplicaSet's name)."""
    owners = [k8s.as_map(owner) for owner in k8s.as_list(k8s.meta(pod).get("ownerReferences"))]
    if kind == "Deployment":
        template_hash = k8s.labels(pod).get("pod-template-hash", "")
        return [str(owner.get("name"))[: -len(template_hash) - 1] for owner in owners
                if owner.get("kind") == "ReplicaSet" and template_hash
                and str(owner.get("name") or "").endswith(f"-{template_hash}")]
    return [str(owner.get("name")) for owner in owners if owner.get("kind") == kind and owner.get("name")]


def _ready(pod: Obj) -> bool:
    conditions = k8s.as_list(k8s.as_map(pod.get("status")).get("conditions"))
    return any(k8s.as_map(c).get("type") == "Ready" and k8s.as_map(c).get("status") == "True" for c in conditions)
