"""SD202 — The named targetPort is missing on (some) selected Pods.

What it detects:
    A Service port whose targetPort is a name that no container port of the same protocol carries on
    some selected Pods.

Why it matters:
    A named targetPort is resolved per Pod; Pods without a container port of that name and protocol
    get no endpoint for the Service port, so traffic to it is refused (none have it) or only partly
    served.

    The endpoint controllers resolve the name per Pod; a Pod without it stays listed in the
    EndpointSlice but without that port (and is left out of the legacy Endpoints for it), so the
    Service port has no backend on that Pod. None of the Pods have it → the port is unreachable;
    some lack it → degraded (typical mid-rollout, when a new revision renamed the port). The finding
    says which Pods and workloads lack it, which port names they do have, and the nearest name (a
    typo?). A name present only under another protocol is SD203's.

How to fix:
    Make spec.ports[].targetPort equal a container port name declared (with the same protocol) in
    every selected Pod template.

Example:
    The scenario fixtures/scenarios/manifests-helm-rendered-targetport-missing: What `helm template
    storefront ./chart -n shop` prints: documents separated by `---`, `# Source:` comments, an empty
    document. The chart's values renamed the container port to `web`, but the Service template still
    targets the named port `http`: no selected Pod has it, so the Pods get no endpoint for it.

    $ cd fixtures/scenarios/manifests-helm-rendered-targetport-missing
    $ svcdoctor check storefront -n shop --manifests manifests/rendered.yaml
"""

from __future__ import annotations

from collections.abc import Iterator

from svcdoctor import k8s, ports
from svcdoctor.checks.interface import Check, CheckDoc, Context
from svcdoctor.findings import Evidence, Finding, Severity
from svcdoctor.k8s import Obj
from svcdoctor.similarity import closest


def run(context: Context) -> Iterator[Finding]:
    service, serving = ports.selected_serving_ports(context)
    namespace, name = context.target.namespace, context.target.name
    pods = [pod for pod, _ in serving]
    declared_by_pod = {id(pod): declared for pod, declared in serving}
    totals: dict[str, int] = {}

    for index, service_port in ports.service_port_items(service):
        target = k8s.target_port(service_port)
        if not isinstance(target, str):
            continue
        protocol = k8s.port_protocol(service_port)
        lacking: list[Obj] = []
        for pod in pods:
            declared = declared_by_pod[id(pod)]
            if any(p.name == target for p in declared):
                continue  # resolves, or exists under another protocol (SD203)
            lacking.append(pod)
        if not lacking:
            continue
        every = len(lacking) == len(pods)
        if not totals:  # how many Pods each workload has, to say "2 of 5"; only when there is a finding
            for owner, members in ports.group_pods(context.snapshot, pods):
                totals[str(owner)] = totals.get(str(owner), 0) + len(members)
        port_text = k8s.port_label(service_port)
        groups = ports.group_pods(context.snapshot, lacking,
                                  key=lambda pod: tuple(p.label() for p in declared_by_pod[id(pod)]))
        evidence = [Evidence(context.service_ref, ports.port_field(index), target,
                             f"a container port name, looked up per Pod among {protocol} ports")]
        parts = []
        near_names: list[str] = []
        for owner, members in groups:
            declared = declared_by_pod[id(members[0])]
            same_protocol_names = [p.name for p in declared if p.name and p.protocol == protocol]
            near = closest(target, same_protocol_names)
            near_names += near
            unique_names = list(dict.fromkeys(same_protocol_names))
            if len(unique_names) == 1:
                have = f"has only the port name {unique_names[0]!r}"
            elif unique_names:
                have = "has the port names " + ", ".join(repr(n) for n in unique_names)
            else:
                have = f"declares {ports.ports_text(declared)}"
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            parts.append(f"{ports.describe_group(owner, members, totals.get(str(owner)))} {have}{hint}")
            evidence.append(Evidence(k8s.ref(members[0]), "spec.containers[*].ports",
                                     [p.label() for p in declared] or None,
                                     f"no {protocol} port named {target!r}"
                                     + (f"; nearest: {near[0]!r}" if near else "")))
        lacking_ids = {id(pod) for pod in lacking}
        having = [pod for pod in pods if id(pod) not in lacking_ids]
        if every:
            consequence = (f"Port {port_text} therefore has no endpoint at all: connections to it are refused or "
                           "time out.")
        else:
            consequence = (f"These Pods stay in the EndpointSlice without that port, so only "
                           f"{len(having)} of {len(pods)} Pods serve {port_text}.")
        message = (f"Service {namespace}/{name} port {port_text} targets the container port named {target!r}, "
                   f"but {'no selected Pod has' if every else 'some selected Pods lack'} it: "
                   + "; ".join(parts) + ". " + consequence)
        if near_names:
            fix = (f"Use the port name the Pods really declare: set spec.ports[{index}].targetPort to "
                   f"{near_names[0]!r}, or rename the container port to {target!r} in the Pod template.")
        else:
            fix = (f"Name the container port {target!r} (protocol {protocol}) in every Pod template the Service "
                   f"selects, or set spec.ports[{index}].targetPort to the port the application listens on.")
        next_commands = [
            f"kubectl get endpointslices -n {namespace} -l kubernetes.io/service-name={name} -o yaml",
            *(ports.container_ports_command(members[0]) for _, members in groups[:3]),
        ]
        yield CHECK.finding(
            message,
            severity=Severity.ERROR if every else Severity.WARNING,
            evidence=evidence,
            next=next_commands,
            fix=fix,
            subject=context.service_ref,
            subject_field=ports.port_field(index),
            key=str(service_port.get("name") or index),
        )


CHECK = Check(
    id="SD202",
    name="named-target-port-missing",
    step=2,
    # A named targetPort no Pod has leaves that port without endpoints (legacy Endpoints drop the Pods).
    explains=frozenset({"SD501", "SD504", "SD805", "SD903", "SD904"}),
    doc=CheckDoc.parse(__doc__),
    run=run,
    needs=("services", "pods"),
)
