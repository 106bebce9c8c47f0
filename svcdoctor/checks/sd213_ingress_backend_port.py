"""SD213 — An Ingress backend names this Service with a port it does not have.

What it detects:
    An Ingress in the Service's namespace whose backend (``spec.rules[].http.paths[].backend`` or
    ``spec.defaultBackend``; networking.k8s.io/v1 ``service.port.number|name`` and the older
    ``serviceName``/``servicePort``) names this Service with a port number that is not one of its
    ``spec.ports[].port`` values, a port name that none of its ports carries, or no port at all.

Why it matters:
    An Ingress backend must name a Service port by its number (spec.ports[].port) or its name;
    otherwise the Ingress controller cannot route the path and answers with an error.

    The Ingress controller finds no Service port to forward to and answers that path with an error
    (typically 503), while the Service itself works. A backend port *number* must equal a Service
    port number — an unnamed Service port does not match a numbered backend just because both names
    are empty — and it is the Service port, not the targetPort, that a backend names.

How to fix:
    Point the Ingress backend at an existing Service port, by number or by name.

Example:
    The scenario fixtures/scenarios/ingress-backend-uses-target-port: The Ingress backend names the
    Pods' port 8080 instead of the Service port 80.

    $ cd fixtures/scenarios/ingress-backend-uses-target-port
    $ svcdoctor check frontend -n shop --snapshot snapshot.yaml
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from svcdoctor import k8s
from svcdoctor.checks.interface import Check, CheckDoc, Context
from svcdoctor.findings import Evidence, Finding, Skip, Unknown
from svcdoctor.k8s import Obj
from svcdoctor.ports import declared_ports
from svcdoctor.similarity import closest
from svcdoctor.snapshot import Snapshot


@dataclass(frozen=True)
class Backend:
    """One Service backend of an Ingress."""

    #: Dotted path of the backend inside the Ingress.
    field: str
    service: str
    number: int | None
    port_name: str | None
    #: Path of the port field (for evidence), or of the backend when it has no port.
    port_field: str

    def port_text(self) -> str:
        if self.number is not None:
            return f"port number {self.number}"
        if self.port_name is not None:
            return f"port name {self.port_name!r}"
        return "no port"


def _backend(field: str, backend: Mapping[str, Any]) -> Backend | None:
    service = backend.get("service")
    if isinstance(service, Mapping) and service.get("name"):
        port = k8s.as_map(service.get("port"))
        number = port.get("number")
        if isinstance(number, int) and not isinstance(number, bool) and number > 0:
            return Backend(field, str(service["name"]), number, None, f"{field}.service.port.number")
        if port.get("name"):
            return Backend(field, str(service["name"]), None, str(port["name"]), f"{field}.service.port.name")
        return Backend(field, str(service["name"]), None, None, f"{field}.service.port")
    if backend.get("serviceName"):
        value = backend.get("servicePort")
        port_field = f"{field}.servicePort"
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return Backend(field, str(backend["serviceName"]), value, None, port_field)
        if isinstance(value, str) and value.isdigit():
            return Backend(field, str(backend["serviceName"]), int(value), None, port_field)
        if isinstance(value, str) and value:
            return Backend(field, str(backend["serviceName"]), None, value, port_field)
        return Backend(field, str(backend["serviceName"]), None, None, port_field)
    return None  # a resource backend, or nothing


def ingress_backends(ingress: Obj) -> Iterator[Backend]:
    """Every Service backend of an Ingress, in either API shape (read leniently, as controllers do)."""
    spec = k8s.spec(ingress)
    for key in ("defaultBackend", "backend"):
        backend = spec.get(key)
        if isinstance(backend, Mapping):
            found = _backend(f"spec.{key}", backend)
            if found:
                yield found
    for rule_index, rule in enumerate(k8s.as_list(spec.get("rules"))):
        paths = k8s.as_list(k8s.as_map(k8s.as_map(rule).get("http")).get("paths"))
        for path_index, path in enumerate(paths):
            backend = k8s.as_map(path).get("backend") if isinstance(path, Mapping) else None
            if isinstance(backend, Mapping):
                found = _backend(f"spec.rules[{rule_index}].http.paths[{path_index}].backend", backend)
                if found:
                    yield found


def _backends_by_service(snapshot: Snapshot) -> Mapping[tuple[str, str], list[tuple[Obj, Backend]]]:
    index: dict[tuple[str, str], list[tuple[Obj, Backend]]] = {}
    for ingress in snapshot.ingresses:
        for backend in ingress_backends(ingress):
            index.setdefault((k8s.namespace(ingress), backend.service), []).append((ingress, backend))
    return index


def _path_text(ingress: Obj, backend: Backend) -> str:
    """``host/path`` of a rule backend, or ``default backend``."""
    if not backend.field.startswith("spec.rules["):
        return "the default backend"
    rule_index = int(backend.field.split("[")[1].split("]")[0])
    path_index = int(backend.field.split("paths[")[1].split("]")[0])
    rule = k8s.as_map(k8s.as_list(k8s.spec(ingress).get("rules"))[rule_index])
    path = k8s.as_map(k8s.as_list(k8s.as_map(rule.get("http")).get("paths"))[path_index])
    return f"{rule.get('host') or '*'}{path.get('path') or '/'}"


def _container_numbers(context: Context, port: Mapping[str, Any]) -> set[int]:
    """The container port numbers a Service port's targetPort stands for on the selected Pods."""
    target = k8s.target_port(port)
    if isinstance(target, int):
        return {target}
    protocol = k8s.port_protocol(port)
    return {declared.number for pod in context.selected_pods for declared in declared_ports(pod)
            if declared.name == target and declared.protocol == protocol}


def _near_miss(context: Context, backend: Backend, service_ports: list[Mapping[str, Any]]) -> tuple[str, str]:
    """Why the port looks like a mix-up, and the value probably meant (("", "") when nothing is close)."""
    if backend.number is not None:
        for port in service_ports:
            if backend.number in _container_numbers(context, port):
                return (f"{backend.number} is the container port behind Service port {k8s.port_label(port)}; "
                        f"a backend names the Service port, {port.get('port')}", str(port.get("port")))
            if port.get("nodePort") == backend.number:
                return (f"{backend.number} is a nodePort; a backend names the Service port, {port.get('port')}",
                        str(port.get("port")))
    if backend.port_name is not None:
        names = [str(p.get("name")) for p in service_ports if p.get("name")]
        near = closest(backend.port_name, names)
        if near:
            return f"did you mean {near[0]!r}?", near[0]
        if not names:
            return "the Service's ports have no names; use port.number instead", ""
    return "", ""


def run(context: Context) -> Iterator[Finding]:
    service = context.require_service()
    snapshot = context.snapshot
    namespace, name = context.target.namespace, context.target.name
    if snapshot.missing("ingresses", namespace):
        raise Unknown(f"could not read Ingresses in {namespace}")
    context.note_unrecorded("Ingress", namespace)
    service_ports = k8s.service_ports(service)
    if k8s.service_type(service) == "ExternalName" and not service_ports:
        raise Skip("an ExternalName Service without ports: the backend port is passed through as is")
    numbers = {p.get("port") for p in service_ports}
    names = {str(p.get("name")) for p in service_ports if p.get("name")}
    available = ", ".join(k8s.port_label(p) for p in service_ports) or "no ports"
    broken_by_ingress: dict[int, tuple[Obj, list[Backend]]] = {}
    for ingress, backend in snapshot.memo("ingress_backends", _backends_by_service).get((namespace, name), []):
        if backend.number is not None and backend.number in numbers:
            continue
        if backend.port_name is not None and backend.port_name in names:
            continue
        broken_by_ingress.setdefault(id(ingress), (ingress, []))[1].append(backend)
    for ingress, broken in broken_by_ingress.values():
        ingress_ref = k8s.ref(ingress)
        parts = []
        evidence = []
        suggestions = []
        for backend in broken:
            near, meant = _near_miss(context, backend, service_ports)
            if meant:
                suggestions.append(f"set {backend.port_field} to {meant}")
            parts.append(f"{_path_text(ingress, backend)} → {name} with {backend.port_text()}"
                         + (f" ({near})" if near else ""))
            value = backend.number if backend.number is not None else backend.port_name
            evidence.append(Evidence(ingress_ref, backend.port_field, value,
                                     near or f"{name} has {available}"))
        evidence.append(Evidence(context.service_ref, "spec.ports", [k8s.port_label(p) for p in service_ports]))
        yield CHECK.finding(
            f"Ingress {namespace}/{k8s.name(ingress)} sends " + "; ".join(parts) + f", but Service {name} has "
            f"{available}. The Ingress controller has no Service port to forward to, so those requests fail "
            "(usually HTTP 503) while the Service itself works.",
            evidence=evidence,
            next=[f"kubectl describe ingress {k8s.name(ingress)} -n {namespace}",
                  f"kubectl get service {name} -n {namespace} -o jsonpath='{{.spec.ports}}'"],
            fix=(f"In Ingress {k8s.name(ingress)}, " + "; ".join(suggestions) + "." if suggestions else
                 f"Make each backend of Ingress {k8s.name(ingress)} name a port of Service {name}: its port number "
                 "(spec.ports[].port, not the targetPort) or its port name."),
            subject=ingress_ref, subject_field=broken[0].port_field, key=k8s.name(ingress),
        )


CHECK = Check(
    id="SD213",
    name="ingress-backend-port-missing",
    step=2,
    doc=CheckDoc.parse(__doc__),
    run=run,
    needs=("services",),
    impact="degraded",
)
