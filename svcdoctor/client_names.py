"""Naming a client (``--from``) or a Service the way kubectl users type them.

``--from`` takes ``POD``, ``NS/POD``, ``TYPE/NAME`` (kubectl's type names: ``deploy``,
``deployment``, ``sts``, ``ds``, ``job``, ``rs``, ``pod``, ``po``; a ready Pod of it) in ``-n``'s
namespace, and ``NS/TYPE/NAME``. Where ``A/B`` could be both (a namespace called ``deploy``), an
existing namespace wins and :attr:`ClientName.note` says which was used. A unique Pod-name prefix
works; when nothing matches, the nearest names are suggested.

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


@dataclass(frozen=True)
class ClientName:
    """What ``--from`` names: a Pod, or a workload whose ready Pod is the client."""

    namespace: str
    #: ``Pod`` or a workload kind (``Deployment``, ``StatefulSet``, …).
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
        kind = WORKLOAD_TYPES.get(parts[1].lower())
        if kind is None:
            raise InputError(f"--from {value!r}: {parts[1]!r} is not a type kubectl knows here "
                             f"(deploy, sts, ds, rs, job, pod)")
        return ClientName(parts[0], kind, parts[2])
    first, name = parts
    kind = WORKLOAD_TYPES.get(first.lower())
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


def choose_pod(client: ClientName, pods: Sequence[Obj], where: str) -> Obj:
    """The Pod ``client`` names among ``pods`` (the client namespace's Pods): exact, a unique prefix,
    or for a workload its ready Pod (first by name). Raises :class:`InputError` with near names."""
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
        near = closest(client.name, [k8s.name(pod) for pod in pods])
        raise InputError(f"--from: Pod {client.namespace}/{client.name} is not in the {where}"
                         + (f"; did you mean {', '.join(near)}?" if near else ""))
    owned = [pod for pod in pods if client.name in owner_names(pod, client.kind)]
    if not owned:
        workloads = {name for pod in pods for name in owner_names(pod, client.kind)}
        near = closest(client.name, workloads)
        raise InputError(f"--from: no Pod of {client.kind.lower()} {client.name} in {client.namespace} in the "
                         f"{where}" + (f"; did you mean {', '.join(near)}?" if near else ""))
    return min(owned, key=lambda pod: (not _ready(pod), k8s.name(pod)))


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
