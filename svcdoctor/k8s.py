"""Thin accessors over raw Kubernetes objects (plain dicts as the API serves them).

The Snapshot keeps the JSON the API returned rather than the client's generated model classes,
which are slow to build for large lists; these helpers read the few fields svcdoctor needs and
tolerate what real objects leave out (no status, no podIP, ``null`` lists).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from svcdoctor.kinds import BY_KIND

Obj = Mapping[str, Any]

@dataclass(frozen=True, order=True)
class ObjectRef:
    """Names one object: its kind, namespace ("" for cluster-scoped) and name."""

    kind: str
    namespace: str
    name: str
    #: How a report names it when its name is not one to show: a stand-in Pod is its workload's template.
    shown: str = field(default="", compare=False)

    def __str__(self) -> str:
        if self.shown:
            return self.shown
        return f"{self.kind} {self.namespace}/{self.name}" if self.namespace else f"{self.kind} {self.name}"

    @property
    def resource(self) -> str:
        """The plural resource name kubectl uses (``services``, ``pods``…)."""
        resource = BY_KIND.get(self.kind)
        return resource.plural if resource else self.kind.lower() + "s"

    def kubectl(self, verb: str = "get", extra: str = "") -> str:
        """A kubectl command line about this object, e.g. ``kubectl get service my-svc -n prod -o yaml``."""
        namespace = f" -n {self.namespace}" if self.namespace else ""
        kind = self.kind.lower()
        suffix = f" {extra}" if extra else ""
        return f"kubectl {verb} {kind} {self.name}{namespace}{suffix}"


def meta(obj: Obj) -> Mapping[str, Any]:
    value = obj.get("metadata")
    return value if type(value) is dict or isinstance(value, Mapping) else {}


def name(obj: Obj) -> str:
    return str(meta(obj).get("name") or "")


def namespace(obj: Obj) -> str:
    return str(meta(obj).get("namespace") or "")


def uid(obj: Obj) -> str:
    return str(meta(obj).get("uid") or "")


def labels(obj: Obj) -> Mapping[str, str]:
    value = meta(obj).get("labels")
    return value if type(value) is dict or isinstance(value, Mapping) else {}


def object_annotations(obj: Obj) -> Mapping[str, str]:
    value = meta(obj).get("annotations")
    return value if type(value) is dict or isinstance(value, Mapping) else {}


#: Annotation on a stand-in Pod made from a manifest: the label keys its controller adds whose
#: values exist only after deploy (``pod-template-hash``…), comma-separated.
DEPLOY_TIME_LABELS = "svcdoctor.dev/deploy-time-labels"


#: Annotation on a stand-in Pod made from a manifest: the workload whose template it stands for,
#: e.g. ``Deployment shop/web``.
TEMPLATE_OF = "svcdoctor.dev/template-of"
#: Annotation on a stand-in Pod: how many Pods the workload would run.
REPLICAS = "svcdoctor.dev/replicas"


def template_of(pod: Obj) -> tuple[str, str, str] | None:
    """(kind, namespace, name) of the workload a stand-in Pod was made from; None for a real Pod."""
    kind, _, rest = str(object_annotations(pod).get(TEMPLATE_OF) or "").partition(" ")
    namespace, _, name = rest.partition("/")
    return (kind, namespace, name) if kind and name else None


def deploy_time_labels(pod: Obj) -> frozenset[str]:
    """The keys listed in a stand-in Pod's :data:`DEPLOY_TIME_LABELS` annotation (empty for real Pods)."""
    value = object_annotations(pod).get(DEPLOY_TIME_LABELS)
    return frozenset(key for key in str(value).split(",") if key) if value else frozenset()


def spec(obj: Obj) -> Mapping[str, Any]:
    value = obj.get("spec")
    return value if type(value) is dict or isinstance(value, Mapping) else {}


def status(obj: Obj) -> Mapping[str, Any]:
    value = obj.get("status")
    return value if type(value) is dict or isinstance(value, Mapping) else {}


def ref(obj: Obj) -> ObjectRef:
    return ObjectRef(str(obj.get("kind") or ""), namespace(obj), name(obj), stand_in_text(obj))


def stand_in_text(obj: Obj) -> str:
    """How a report names a stand-in Pod (``Deployment shop/web's Pod template``); "" for any other object.

    The one place stand-ins are named: :class:`ObjectRef`, the policy evaluator's endpoints and the
    ``--from`` client all show this instead of the made-up Pod name.
    """
    value = object_annotations(obj).get(TEMPLATE_OF)
    return f"{value}'s Pod template" if value else ""


def as_list(value: Any) -> list[Any]:
    """``value`` if it is a list, else ``[]`` (the API serves ``null`` for empty lists)."""
    return value if isinstance(value, list) else []


def as_map(value: Any) -> Mapping[str, Any]:
    return value if type(value) is dict or isinstance(value, Mapping) else {}


def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 timestamp as an aware datetime, or None."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip().replace("Z", "+00:00")
    # Go writes up to nine fractional digits; Python takes six.
    if "." in text:
        head, _, rest = text.partition(".")
        digits = "".join(ch for ch in rest if ch.isdigit())
        zone = rest[len(digits):]
        text = f"{head}.{digits[:6]}{zone}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# -- Pods ------------------------------------------------------------------------------------


def pod_ip(pod: Obj) -> str:
    return str(status(pod).get("podIP") or "")


def pod_ips(pod: Obj) -> list[str]:
    ips = [str(item.get("ip")) for item in as_list(status(pod).get("podIPs")) if isinstance(item, Mapping)]
    primary = pod_ip(pod)
    if primary and primary not in ips:
        ips.insert(0, primary)
    return [ip for ip in ips if ip]


def pod_phase(pod: Obj) -> str:
    return str(status(pod).get("phase") or "")


def pod_condition(pod: Obj, kind: str) -> Mapping[str, Any] | None:
    for condition in as_list(status(pod).get("conditions")):
        if isinstance(condition, Mapping) and condition.get("type") == kind:
            return condition
    return None


def pod_is_ready(pod: Obj) -> bool:
    condition = pod_condition(pod, "Ready")
    return bool(condition) and str(condition.get("status")) == "True"  # type: ignore[union-attr]


def pod_is_terminating(pod: Obj) -> bool:
    return bool(meta(pod).get("deletionTimestamp"))


def containers(pod_or_template_spec: Obj) -> list[Mapping[str, Any]]:
    """The containers of a Pod spec (pass ``spec(pod)``)."""
    return [c for c in as_list(pod_or_template_spec.get("containers")) if isinstance(c, Mapping)]


def container_ports(pod: Obj) -> list[tuple[str, Mapping[str, Any]]]:
    """Every declared container port of a Pod, as (container name, port dict)."""
    result = []
    for container in containers(spec(pod)):
        for port in as_list(container.get("ports")):
            if isinstance(port, Mapping):
                result.append((str(container.get("name") or ""), port))
    return result


def port_protocol(port: Mapping[str, Any]) -> str:
    return str(port.get("protocol") or "TCP")


def container_statuses(pod: Obj) -> list[Mapping[str, Any]]:
    statuses = as_list(status(pod).get("containerStatuses"))
    return [s for s in statuses if isinstance(s, Mapping)]


# -- Services --------------------------------------------------------------------------------


def service_type(service: Obj) -> str:
    return str(spec(service).get("type") or "ClusterIP")


def service_ports(service: Obj) -> list[Mapping[str, Any]]:
    return [p for p in as_list(spec(service).get("ports")) if isinstance(p, Mapping)]


def cluster_ip(service: Obj) -> str:
    return str(spec(service).get("clusterIP") or "")


def is_headless(service: Obj) -> bool:
    return cluster_ip(service) == "None"


def target_port(port: Mapping[str, Any]) -> int | str:
    """A Service port's targetPort: an int, a name, or the port itself when unset."""
    value = port.get("targetPort")
    if value is None or value == "" or value == 0:
        number = port.get("port")
        if isinstance(number, int):
            return number
        # A hand-written manifest may hold anything here; 0 means "no usable port".
        return int(str(number)) if str(number).isdigit() else 0
    if isinstance(value, int):
        return value
    text = str(value)
    return int(text) if text.isdigit() else text


def port_label(port: Mapping[str, Any]) -> str:
    """How a person names a Service port: ``http (80/TCP)`` or ``80/TCP``."""
    text = f"{port.get('port')}/{port_protocol(port)}"
    return f"{port['name']} ({text})" if port.get("name") else text


_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def dns1123_subdomain_problem(name: str) -> str:
    """Why ``name`` is not a DNS-1123 subdomain ("" when it is one), as the API server checks it."""
    if len(name) > 253:
        return "it is longer than 253 characters"
    if name != name.lower():
        return "it has upper-case letters (DNS-1123 names are lower case)"
    for label in name.split("."):
        if not label:
            return "it has an empty label (two dots in a row, or a leading dot)"
        if len(label) > 63:
            return f"the label {label[:20]}… is longer than 63 characters"
        if not _DNS1123_LABEL.match(label):
            return (f"the label {label!r} has characters other than a-z, 0-9 and '-', or starts or ends with '-'")
    return ""
