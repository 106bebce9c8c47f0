"""SD901 — A Pod refuses connections on the targetPort.

What it detects:
    A probe to a ready endpoint's Pod IP and targetPort was answered with a TCP reset (or ICMP port
    unreachable): the Pod is reachable, but nothing accepts on that address and port.

Why it matters:
    The Service forwards to that Pod and port; if nothing accepts there, clients get 'connection
    refused'.

    The Service forwards there, so clients get "connection refused" from that Pod. The usual
    reasons: the process listens on 127.0.0.1 (localhost only) instead of 0.0.0.0, listens on
    another port than the targetPort (SD201), or has not started listening yet.

How to fix:
    Make the application listen on 0.0.0.0 (all addresses) on the targetPort, or point targetPort at
    the port it really listens on.

Example:
    The scenario fixtures/scenarios/pod-listens-on-localhost: Every api Pod refuses on its Pod IP
    (the app binds 127.0.0.1); recorded probes from a frontend Pod.

    $ cd fixtures/scenarios/pod-listens-on-localhost
    $ svcdoctor check api -n shop --snapshot snapshot.yaml
"""

from __future__ import annotations

from collections.abc import Iterator

from svcdoctor import k8s
from svcdoctor.checks.interface import Check, CheckDoc, Context
from svcdoctor.findings import Evidence, Finding
from svcdoctor.k8s import ObjectRef
from svcdoctor.probe.analysis import POD, object_name, probe_evidence, service_probes_or_skip


def run(context: Context) -> Iterator[Finding]:
    context.require_service()
    probes = service_probes_or_skip(context.snapshot, context.target.namespace, context.target.name)
    pod_probes = [p for p in probes if p.target == POD]
    if not pod_probes:
        return
    working = [p for p in pod_probes if p.result == "open"]
    for probe in pod_probes:
        if probe.result != "refused":
            continue
        _, namespace, name = object_name(probe.target_object) if probe.target_object else ("Pod", "", "")
        ref = ObjectRef("Pod", namespace, name) if name else None
        pod = context.snapshot.pod(namespace, name) if name else None
        declared = [port for _, port in k8s.container_ports(pod)] if pod is not None else []
        numbers = [int(p.get("containerPort") or 0) for p in declared]
        if probe.port in numbers:
            why = (f"the container declares port {probe.port}, yet nothing accepts on {probe.ip}:{probe.port}: "
                   "the process most likely listens on 127.0.0.1 only, or has not started listening")
        else:
            why = (f"no container declares port {probe.port} (declared: {numbers or 'none'}): the process "
                   "listens on another port, or on 127.0.0.1 only")
        label = f"{namespace}/{name}" if name else probe.ip
        impact = "degraded" if working else "unreachable"
        evidence = [Evidence(ref, "status.podIP", probe.ip), Evidence(ref, "probe", probe_evidence(probe))]
        if pod is not None:
            evidence.append(Evidence(ref, "spec.containers[*].ports", declared or None))
        commands = []
        if name:
            commands = [f"kubectl exec -n {namespace} {name} -- sh -c 'ss -ltn || netstat -ltn'",
                        f"kubectl port-forward -n {namespace} pod/{name} 18080:{probe.port}  "
                        "# works while the Pod IP refuses → the app listens on 127.0.0.1 only",
                        f"kubectl logs -n {namespace} {name} --tail=50"]
        yield CHECK.finding(
            f"Pod {label} refuses TCP {probe.port}, the Service's targetPort: {why}.",
            evidence=evidence, next=commands, subject=ref or context.service_ref, impact=impact,
            severity="error" if impact == "unreachable" else "warning",
            key=f"{label}:{probe.port}",
        )


CHECK = Check(
    id="SD901",
    name="pod-refuses",
    step=9,
    doc=CheckDoc.parse(__doc__),
    run=run,
    runtime=True,
)
