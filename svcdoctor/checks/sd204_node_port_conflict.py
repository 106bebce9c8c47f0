"""SD204 — The nodePort is outside the node-port range, or taken twice.

What it detects:
    A NodePort/LoadBalancer Service port whose ``nodePort`` lies outside the node-port range
    (default 30000–32767, the API server's ``--service-node-port-range``), or a nodePort that
    another port — of this or any other Service — already claims for the same protocol.

Why it matters:
    The API server rejects a nodePort outside --service-node-port-range or one already allocated, so
    the Service is never created (or one of two Services loses the port).

    The API server rejects both (``provided port is not in the valid range`` / ``provided port is
    already allocated``), so in manifests the Service is never created. In a recorded cluster the
    API server accepted the object, so an out-of-range port only says the cluster runs with a wider
    range (a note, and a reminder that firewalls must open it); a duplicate there means two Services
    fight for one node port and only one of them is reachable through it.

How to fix:
    Use a free nodePort inside the node-port range (default 30000-32767), or leave nodePort unset.

Example:
    The scenario fixtures/scenarios/nodeport-outside-default-range: A cluster with a wider node-port
    range exposes nodePort 8080 (a note).

    $ cd fixtures/scenarios/nodeport-outside-default-range
    $ svcdoctor check gateway -n edge --snapshot snapshot.yaml
"""

from __future__ import annotations

from collections.abc import Iterator

from svcdoctor import derived, k8s
from svcdoctor.checks.interface import Check, CheckDoc, Context
from svcdoctor.findings import Evidence, Finding, Severity, Skip


def run(context: Context) -> Iterator[Finding]:
    service = context.require_service()
    if k8s.service_type(service) not in ("NodePort", "LoadBalancer"):
        raise Skip("only NodePort and LoadBalancer Services have node ports")
    namespace, name = context.target.namespace, context.target.name
    static = context.snapshot.static
    low, high = context.options.node_port_range
    for index, port in enumerate(k8s.service_ports(service)):
        value = port.get("nodePort")
        if value is None or value == "" or value == 0:
            continue  # the API server allocates one
        field = f"spec.ports[{index}].nodePort"
        port_text = k8s.port_label(port)
        if isinstance(value, str) and value.isdigit():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            yield CHECK.finding(
                f"Service {namespace}/{name} port {port_text} has nodePort {value!r}, which is not a number: "
                "the API server rejects the Service.",
                evidence=[Evidence(context.service_ref, field, value, "must be an integer")],
                next=[f"kubectl apply --dry-run=server -f <file with Service {name}>"],
                fix=f"Set {field} to a number in {low}-{high}, or remove it and let Kubernetes pick one.",
                subject=context.service_ref, subject_field=field, key=f"{index}-invalid",
            )
            continue
        protocol = k8s.port_protocol(port)
        if not low <= value <= high:
            evidence = [Evidence(context.service_ref, field, value, f"the node-port range is {low}-{high}")]
            if static:
                yield CHECK.finding(
                    f"Service {namespace}/{name} port {port_text} asks for nodePort {value}, outside the node-port "
                    f"range {low}-{high}: the API server rejects the Service ('provided port is not in the valid "
                    "range'), so it is never created.",
                    evidence=evidence,
                    next=[f"kubectl apply --dry-run=server -f <file with Service {name}>"],
                    fix=f"Use a nodePort in {low}-{high}, or remove {field} and let Kubernetes pick a free one.",
                    subject=context.service_ref, subject_field=field, key=f"{index}-range",
                )
            else:
                yield CHECK.finding(
                    f"Service {namespace}/{name} port {port_text} uses nodePort {value}, outside the default "
                    f"node-port range {low}-{high}. The API server accepted it, so this cluster runs with a wider "
                    "--service-node-port-range; node firewalls and cloud security groups must open it too, and it "
                    "may collide with host services on the nodes.",
                    severity=Severity.INFO,
                    evidence=evidence,
                    next=["kubectl get pods -n kube-system -l component=kube-apiserver -o yaml | grep "
                          "service-node-port-range",
                          f"ss -ltnup 'sport = :{value}'   # on a node: does a host service hold the port?"],
                    fix=f"Prefer a nodePort in {low}-{high}, or remove {field} and let Kubernetes pick one.",
                    subject=context.service_ref, subject_field=field, key=f"{index}-range",
                )
        others = [(other, other_index) for other, other_index in derived.node_port_users(context.snapshot, value,
                                                                                          protocol)
                  if not (other is service and other_index == index)]
        if not others:
            continue
        evidence = [Evidence(context.service_ref, field, value, protocol)]
        evidence += [Evidence(k8s.ref(other), f"spec.ports[{other_index}].nodePort", value, protocol)
                     for other, other_index in others]
        who = ", ".join(("this Service's own " if other is service else f"Service {k8s.namespace(other)}/"
                         f"{k8s.name(other)} ") + f"port {k8s.port_label(k8s.service_ports(other)[other_index])}"
                        for other, other_index in others)
        if static:
            message = (f"Service {namespace}/{name} port {port_text} asks for nodePort {value}/{protocol}, which "
                       f"{who} also claims: node ports are cluster-wide, so the API server rejects whichever is "
                       "applied second ('provided port is already allocated').")
            impact = None
        else:
            message = (f"Service {namespace}/{name} port {port_text} uses nodePort {value}/{protocol}, which {who} "
                       "also uses. Node ports are cluster-wide and the API server should never allow this; "
                       "traffic to that port on the nodes reaches only one of them.")
            impact = "degraded"
        yield CHECK.finding(
            message, evidence=evidence,
            next=["kubectl get services -A -o jsonpath='{range .items[*]}{.metadata.namespace}/{.metadata.name}"
                  "{\"\\t\"}{.spec.ports[*].nodePort}{\"\\n\"}{end}' | grep -w " + str(value)],
            fix=f"Give each Service its own nodePort: change or remove {field} (Kubernetes then picks a free one).",
            subject=context.service_ref, subject_field=field, impact=impact, key=f"{index}-duplicate",
        )


CHECK = Check(
    id="SD204",
    name="node-port-conflict",
    step=2,
    explains=frozenset({"SD804", "SD904"}),
    doc=CheckDoc.parse(__doc__),
    run=run,
    needs=("services",),
)
