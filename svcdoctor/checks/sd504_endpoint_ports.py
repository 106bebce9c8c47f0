"""SD504 — EndpointSlice ports do not carry the Service port.

What it detects:
    A Service port (matched by name, as kube-proxy matches it) that an EndpointSlice holding
    addresses does not list, or lists with a number other than a numeric ``targetPort``.

Why it matters:
    kube-proxy matches Service ports to endpoint ports by name: endpoints without the port get no
    traffic on it.

    kube-proxy joins a Service port to endpoints by port name; addresses in a slice without that
    port get no traffic on it. It is the symptom of a named ``targetPort`` that some Pods do not
    declare (SD202) — the Pods stay listed, in a slice without that port — or of slices that were
    written by hand or by a stale controller.

How to fix:
    Declare the named targetPort on every selected Pod's container (SD202), or fix the hand-written
    EndpointSlices so their port names and numbers match spec.ports.

Example:
    The scenario fixtures/scenarios/manual-endpointslice-port-name-mismatch: A selector-less Service
    for an external database: its hand-written EndpointSlice names the port postgres, the Service
    port is named pg.

    $ cd fixtures/scenarios/manual-endpointslice-port-name-mismatch
    $ svcdoctor check orders-db -n shop --snapshot snapshot.yaml
"""

from __future__ import annotations

from collections.abc import Iterator

from svcdoctor import k8s
from svcdoctor.checks.interface import Check, CheckDoc, Context
from svcdoctor.endpoints import Endpoint, EndpointPort
from svcdoctor.findings import Evidence, Finding, Severity, Skip


def run(context: Context) -> Iterator[Finding]:
    service = context.require_service()
    if k8s.service_type(service) == "ExternalName":
        raise Skip("an ExternalName Service has no endpoints")
    namespace, name = context.target.namespace, context.target.name
    endpoints = context.service_endpoints
    if not endpoints:
        return  # SD501's
    # Legacy Endpoints list an address once per subset (one per port number): join them per address.
    ports_of: dict[str, set[EndpointPort]] = {}
    first_of: dict[str, Endpoint] = {}
    for endpoint in endpoints:
        ports_of.setdefault(endpoint.address, set()).update(endpoint.ports)
        first_of.setdefault(endpoint.address, endpoint)
    ready = {e.address for e in endpoints if e.ready}
    for index, port in enumerate(k8s.service_ports(service)):
        port_name = str(port.get("name") or "")
        protocol = k8s.port_protocol(port)
        target = k8s.target_port(port)
        without: list[Endpoint] = []
        wrong_number: list[tuple[Endpoint, int]] = []
        for address, endpoint in first_of.items():
            matching = [p for p in ports_of[address] if p.name == port_name and p.protocol == protocol]
            if not matching:
                without.append(endpoint)
            elif isinstance(target, int) and context.has_selector and all(p.port != target for p in matching):
                wrong_number.append((endpoint, matching[0].port))
        if not without and not wrong_number:
            continue
        broken = {e.address for e in without} | {e.address for e, _ in wrong_number}
        serving = ready - broken
        severity = Severity.WARNING if serving else Severity.ERROR
        label = k8s.port_label(port)
        evidence = [Evidence(context.service_ref, f"spec.ports[{index}]", dict(port),
                             f"port {label} targets {target}")]
        parts = []
        if without:
            sources = sorted({str(e.source) for e in without})
            pods = sorted({e.target.name for e in without if e.target} or {e.address for e in without})
            parts.append(f"{len(without)} endpoint(s) ({', '.join(pods[:5])}{', …' if len(pods) > 5 else ''}) are "
                         f"listed without a port named {port_name or '(unnamed)'}/{protocol}, so they get no traffic "
                         f"on {label}")
            for source in sources[:4]:
                sample = next(e for e in without if str(e.source) == source)
                ports_there = sorted(f"{p.name or '(unnamed)'}:{p.port}/{p.protocol}" for p in ports_of[sample.address])
                evidence.append(Evidence(sample.source, "ports", ports_there or None,
                                         f"no port {port_name or '(unnamed)'}/{protocol}"))
        if wrong_number:
            numbers = sorted({n for _, n in wrong_number})
            parts.append(f"{len(wrong_number)} endpoint(s) carry port {port_name or '(unnamed)'} as "
                         f"{', '.join(map(str, numbers))} while targetPort is {target}")
            for endpoint, number in wrong_number[:3]:
                evidence.append(Evidence(endpoint.source, "ports", number, f"targetPort is {target}"))
        message = f"Service {namespace}/{name} port {label}: " + "; ".join(parts) + "."
        if not serving:
            message += f" No ready endpoint serves {label}."
        yield CHECK.finding(
            message,
            severity=severity,
            evidence=evidence,
            next=[f"kubectl get endpointslices -n {namespace} -l kubernetes.io/service-name={name} "
                  "-o custom-columns=NAME:.metadata.name,PORTS:.ports[*].name,NUMBERS:.ports[*].port,"
                  "ADDRESSES:.endpoints[*].addresses[0]",
                  f"kubectl get service {name} -n {namespace} -o jsonpath='{{.spec.ports}}'"],
            subject=context.service_ref,
            subject_field=f"spec.ports[{index}]",
            key=port_name or str(port.get("port")),
        )


CHECK = Check(
    id="SD504",
    name="endpoint-ports-mismatch",
    step=5,
    doc=CheckDoc.parse(__doc__),
    run=run,
    needs=("services", "endpointslices"),
    runtime=True,
)
