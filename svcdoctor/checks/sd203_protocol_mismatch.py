"""SD203 — The Service port's protocol differs from the container port's.

What it detects:
    A Service port (say UDP 53) whose targetPort the selected Pods declare only under another
    protocol (TCP 53).

Why it matters:
    Ports are resolved per protocol: a UDP Service port does not reach a port the Pod declares as
    TCP, and a named targetPort of the wrong protocol leaves the Pods without an endpoint for it.

    Names and numbers are resolved per protocol. A *named* targetPort is looked up among container
    ports of the Service port's protocol only, so a Pod that has the name only as TCP gets no
    endpoint for a UDP Service port — the port is unreachable when no Pod has it, degraded when some
    lack it. A *numeric* targetPort is forwarded regardless, but to a protocol the application most
    likely does not speak: connections are refused or answers never come (SD901 follows) — an error
    when every selected Pod declares the port so (the Service is likely unreachable), a warning when
    some do.

How to fix:
    Declare the container port with the Service port's protocol, or change the Service port's
    protocol.

Example:
    The scenario fixtures/scenarios/udp-service-tcp-container-port: A UDP Service port targets the
    port name syslog, which the Pods declare as TCP.

    $ cd fixtures/scenarios/udp-service-tcp-container-port
    $ svcdoctor check syslog -n logging --snapshot snapshot.yaml
"""

from __future__ import annotations

from collections.abc import Iterator

from svcdoctor import k8s, ports
from svcdoctor.checks.interface import Check, CheckDoc, Context
from svcdoctor.findings import Evidence, Finding, Severity
from svcdoctor.k8s import Obj


def run(context: Context) -> Iterator[Finding]:
    service, serving = ports.selected_serving_ports(context)
    namespace, name = context.target.namespace, context.target.name
    pods = [pod for pod, _ in serving]
    declared_by_pod = {id(pod): declared for pod, declared in serving}

    for index, service_port in ports.service_port_items(service):
        target = k8s.target_port(service_port)
        protocol = k8s.port_protocol(service_port)
        named = isinstance(target, str)
        mismatched: list[Obj] = []
        for pod in pods:
            declared = declared_by_pod[id(pod)]
            matches = [p for p in declared if (p.name == target if named else p.number == target)]
            if matches and not any(p.protocol == protocol for p in matches):
                mismatched.append(pod)
        if not mismatched:
            continue
        port_text = k8s.port_label(service_port)
        groups = ports.group_pods(context.snapshot, mismatched,
                                  key=lambda pod: tuple(p.label() for p in declared_by_pod[id(pod)]))
        evidence = [Evidence(context.service_ref, f"spec.ports[{index}].protocol", protocol,
                             f"targetPort {target!r}")]
        parts = []
        other_protocols: list[str] = []
        for owner, members in groups:
            matches = [p for p in declared_by_pod[id(members[0])]
                       if (p.name == target if named else p.number == target)]
            other_protocols += [p.protocol for p in matches]
            parts.append(f"{ports.describe_group(owner, members)} declares "
                         + ", ".join(p.label() for p in matches))
            evidence.append(Evidence(k8s.ref(members[0]), matches[0].field,
                                     {"name": matches[0].name or None, "containerPort": matches[0].number,
                                      "protocol": matches[0].protocol},
                                     f"{matches[0].protocol}, where the Service port is {protocol}"))
        every = len(mismatched) == len(pods)
        other = "/".join(dict.fromkeys(other_protocols))
        if named:
            severity = Severity.ERROR if every else Severity.WARNING
            consequence = ("A named targetPort is looked up among ports of the same protocol, so "
                           + ("no Pod gets an endpoint for this port: it is unreachable."
                              if every else "those Pods get no endpoint for this port."))
            impact = None
        else:
            # Unreachable (every Pod) is an error however sure; the finding says ``likely``.
            severity = Severity.ERROR if every else Severity.WARNING
            consequence = (f"kube-proxy forwards {protocol} to port {target} anyway, but the application most "
                           f"likely listens on {other} only, so {protocol} traffic is refused or never answered.")
            # Inferred from declarations (the finding is ``likely``): what it would do if true.
            impact = "unreachable" if every else "degraded"
        what = f"the container port named {target!r}" if named else f"port {target}"
        message = (f"Service {namespace}/{name} port {port_text} is {protocol}, but {what} it targets is declared "
                   f"as {other} only: " + "; ".join(parts) + ". " + consequence)
        fix = (f"Make the protocols agree: if the application serves {protocol}, declare the container port with "
               f"protocol: {protocol} (a port may be declared once per protocol); if it serves {other}, set "
               f"spec.ports[{index}].protocol to {other}. A Service may list the same port twice, once per protocol.")
        yield CHECK.finding(
            message, severity=severity, evidence=evidence,
            next=[f"kubectl get service {name} -n {namespace} -o jsonpath='{{.spec.ports}}'",
                  *(ports.container_ports_command(members[0]) for _, members in groups[:3]),
                  f"kubectl get endpointslices -n {namespace} -l kubernetes.io/service-name={name} -o yaml"],
            fix=fix, subject=context.service_ref, subject_field=f"spec.ports[{index}].protocol", impact=impact,
            key=str(service_port.get("name") or index),
        )


CHECK = Check(
    id="SD203",
    name="protocol-mismatch",
    step=2,
    explains=frozenset({"SD504", "SD901"}),
    doc=CheckDoc.parse(__doc__),
    run=run,
    needs=("services", "pods"),
    confidence="likely",
)
