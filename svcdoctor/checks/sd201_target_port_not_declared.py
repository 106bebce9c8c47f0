"""SD201 — The numeric targetPort is not a port the Pods declare.

What it detects:
    A Service port whose targetPort is a number (or unset, so it defaults to ``port``) that none of
    the container ports of some selected Pods carries.

Why it matters:
    A Service that forwards to a port the application does not listen on gets 'connection refused'
    from every Pod. Declared container ports are informational, so this is a strong hint, not proof.

    ``containerPort`` is informational — kube-proxy forwards to the number whether or not it is
    declared — so this is not proof of a fault. A finding above a note needs evidence that the port
    is wrong: a container that declares a single port, which its readiness probe also checks, while
    the Service targets another — that is where the application listens, and connections will be
    refused (SD901 follows from it); or a declared port that carries the Service port's own name
    under another number. On every selected Pod that is an error (the Service is likely unreachable,
    and the exit code says so, as SD203's does); on some of them a warning. A Pod that declares
    several other ports, or none at all, is only a note (as popeye's POP-1101); since svcdoctor
    could not tell whether the port is served, step 2 is then ``partial`` (not a pass), naming how
    to check it (``--probe``, or a port-forward). A number declared only
    under another protocol is SD203's business.

How to fix:
    Set the Service's targetPort to the port the application listens on (preferably by the container
    port's name), or declare that port in the Pod template.

Example:
    The scenario fixtures/scenarios/targetport-defaults-to-service-port: targetPort left unset
    defaults to 80, while the Pods declare 8080.

    $ cd fixtures/scenarios/targetport-defaults-to-service-port
    $ svcdoctor check catalog -n shop --snapshot snapshot.yaml
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from svcdoctor import k8s, ports
from svcdoctor.checks.interface import Check, CheckDoc, Context
from svcdoctor.findings import Evidence, Finding, Severity
from svcdoctor.k8s import Obj


def _suggestion(service_port: Mapping[str, Any], protocol: str, declared: Sequence[ports.DeclaredPort]) -> str:
    """The container port the Service most likely meant, as a fix sentence ("" when unclear)."""
    same_protocol = [p for p in declared if p.protocol == protocol]
    by_name = [p for p in same_protocol if p.name and p.name == service_port.get("name")]
    candidates = by_name or (same_protocol if len({p.number for p in same_protocol}) == 1 else [])
    if not candidates:
        return ""
    port = candidates[0]
    if port.name:
        return f"set targetPort to {port.number}, or better to the port's name {port.name!r}"
    return f"set targetPort to {port.number}"


def _probed_single_port(pod: Obj, protocol: str, port_name: str = "") -> ports.DeclaredPort | None:
    """The port that shows where the application serves, if the Pod says so.

    Either a container declares one port (of ``protocol``) and its readiness probe checks it, or a
    declared port carries the Service port's own name: a Service sending elsewhere is most likely wrong.
    """
    declared = [p for p in ports.declared_ports(pod) if p.protocol == protocol]
    if port_name:
        named = [p for p in declared if p.name == port_name]
        if named:
            return named[0]
    for container in k8s.containers(k8s.spec(pod)):
        own = [p for p in declared if p.container == str(container.get("name") or "")]
        if len(own) != 1:
            continue
        probe = k8s.as_map(container.get("readinessProbe"))
        for handler in ("httpGet", "tcpSocket", "grpc"):
            probed = k8s.as_map(probe.get(handler)).get("port")
            if probed is not None and probed in (own[0].number, own[0].name, str(own[0].number)):
                return own[0]
    return None


def run(context: Context) -> Iterator[Finding]:
    service, serving = ports.selected_serving_ports(context)
    namespace, name = context.target.namespace, context.target.name
    pods = [pod for pod, _ in serving]
    declared_by_pod = {id(pod): declared for pod, declared in serving}

    for index, service_port in ports.service_port_items(service):
        target = k8s.target_port(service_port)
        if not isinstance(target, int) or target <= 0:
            continue
        protocol = k8s.port_protocol(service_port)
        defaulted = service_port.get("targetPort") in (None, "", 0)
        lacking_with_others: list[Obj] = []
        lacking_without_any: list[Obj] = []
        for pod in pods:
            declared = declared_by_pod[id(pod)]
            if any(p.number == target for p in declared):
                continue  # declared (under another protocol it is SD203's finding)
            (lacking_with_others if declared else lacking_without_any).append(pod)
        if not lacking_with_others and not lacking_without_any:
            continue
        port_text = k8s.port_label(service_port)
        target_text = f"{target}/{protocol}"
        if defaulted:
            why_target = f" (targetPort is not set, so it defaults to the Service port {target})"
        elif target == service_port.get("port"):
            why_target = " (targetPort equals the Service port — was it left to its default?)"
        else:
            why_target = ""
        evidence = [Evidence(context.service_ref, ports.port_field(index),
                             service_port.get("targetPort", target),
                             "defaulted to spec.ports[].port" if defaulted else "")]
        next_commands = [f"kubectl get service {name} -n {namespace} -o jsonpath='{{.spec.ports}}'"]
        port_name = str(service_port.get("name") or "")
        probed = {id(pod): _probed_single_port(pod, protocol, port_name) for pod in lacking_with_others}
        if lacking_with_others:
            strong = any(probed[id(pod)] is not None for pod in lacking_with_others)
            groups = ports.group_pods(context.snapshot, lacking_with_others,
                                      key=lambda pod: tuple(p.label() for p in declared_by_pod[id(pod)]))
            parts = []
            suggestion = ""
            for owner, members in groups:
                declared = declared_by_pod[id(members[0])]
                parts.append(f"{ports.describe_group(owner, members)} declares only {ports.ports_text(declared)}")
                evidence.append(Evidence(k8s.ref(members[0]), "spec.containers[*].ports",
                                         [p.label() for p in declared], f"no container port {target}"))
                suggestion = suggestion or _suggestion(service_port, protocol, declared)
                next_commands.append(ports.container_ports_command(members[0]))
            first = lacking_with_others[0]
            next_commands.append(f"kubectl port-forward -n {namespace} pod/{k8s.name(first)} :{target}   "
                                 "# then connect to the printed local port")
            all_lack = len(lacking_with_others) + len(lacking_without_any) == len(pods)
            scope = "the selected Pods" if all_lack else "some selected Pods"
            example = next((probed[id(pod)] for pod in lacking_with_others if probed[id(pod)] is not None), None)
            if example is not None:
                named = bool(port_name) and example.name == port_name
                evidence.append(Evidence(
                    k8s.ref(lacking_with_others[0]), example.field if named else "spec.containers[*].readinessProbe",
                    example.name or example.number,
                    "the container port of the Service port's name" if named
                    else f"the readiness probe checks {example.label()}, the only declared port"))
                suggestion = _suggestion(service_port, protocol, [example])
            message = (f"Service port {port_text} of {namespace}/{name} sends traffic to port {target_text}"
                       f"{why_target}, but {scope} declare other ports: " + "; ".join(parts) + ". ")
            if strong and example is not None:
                message += ((f"The container port named {port_name!r} is {example.number}" if named else
                             f"The readiness probe checks {example.label()}, the one port declared")
                            + ": that is where the application listens, so connections to the Service will most "
                              "likely be refused.")
            else:
                message += ("Declaring container ports is optional and the application may serve this one too; "
                            "check that it does.")
            fix = (f"Point spec.ports[{index}].targetPort of Service {name} at the port the application listens "
                   "on" + (f": {suggestion}" if suggestion else "") + "; or, if the application really listens "
                   f"on {target}, declare containerPort {target} in the Pod template.")
            if not strong:
                context.note_unverified(f"whether the Pods listen on port {target_text}: they declare other ports",
                                        _probe_how(context))
            # Unreachable (every selected Pod) is an error however sure, as SD203's is: a report headed
            # LIKELY UNREACHABLE must not pass a --fail-on error gate; how sure it is, `confidence` says.
            severity = (Severity.ERROR if all_lack else Severity.WARNING) if strong else Severity.INFO
            yield CHECK.finding(message, severity=severity, evidence=evidence,
                                next=next_commands, fix=fix, subject=context.service_ref,
                                subject_field=ports.port_field(index),
                                impact=("unreachable" if all_lack else "degraded") if strong else None,
                                key=str(service_port.get("name") or index))
        else:
            groups = ports.group_pods(context.snapshot, lacking_without_any)
            evidence += [Evidence(k8s.ref(members[0]), "spec.containers[*].ports", None, "no ports declared")
                         for _, members in groups]
            who = "; ".join(ports.describe_group(owner, members) for owner, members in groups)
            message = (f"Service port {port_text} of {namespace}/{name} sends traffic to port {target_text}"
                       f"{why_target}; the selected Pods declare no container ports at all ({who}), so svcdoctor "
                       "cannot tell whether anything listens there. Kubernetes forwards to the port either way.")
            context.note_unverified(f"whether the Pods listen on port {target_text}: they declare no container ports",
                                    _probe_how(context))
            yield CHECK.finding(
                message, severity=Severity.INFO, evidence=evidence,
                next=[*next_commands, ports.container_ports_command(lacking_without_any[0])],
                fix=f"Declare containerPort {target} (with a name) in the Pod template, so that the Service can "
                    "refer to it by name and tools can check it.",
                subject=context.service_ref, subject_field=ports.port_field(index),
                key=str(service_port.get("name") or index),
            )


def _probe_how(context: Context) -> str:
    namespace, name = context.target.namespace, context.target.name
    return (f"connect to it: svcdoctor check {name} -n {namespace} --probe (from inside the cluster's network), "
            f"or kubectl port-forward -n {namespace} service/{name} :<port> and connect to the printed local port")


CHECK = Check(
    id="SD201",
    name="target-port-not-declared",
    step=2,
    explains=frozenset({"SD901"}),
    doc=CheckDoc.parse(__doc__),
    run=run,
    needs=("services", "pods"),
    confidence="likely",
)
