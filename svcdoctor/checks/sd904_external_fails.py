"""SD904 — NodePort / LoadBalancer address fails.

What it detects:
    Probes to ``<node address>:<nodePort>`` or ``<load-balancer address>:<port>`` that were refused,
    dropped or unreachable — compared across nodes and with the Pods' own answers.

Why it matters:
    Outside clients reach the Service only through node ports or the load balancer.

    Outside clients reach the Service only this way. Failing on *some* nodes points at
    ``externalTrafficPolicy: Local`` (nodes without a ready local endpoint drop the traffic by
    design) or at kube-proxy on those nodes; failing everywhere while the Pods answer points at the
    node firewall or the load balancer.

How to fix:
    With externalTrafficPolicy: Local run a ready Pod on every node that receives traffic (or use
    Cluster); otherwise repair kube-proxy or the firewall on the failing nodes.

Example:
    The scenario fixtures/scenarios/nodeport-local-policy-some-nodes: NodePort with
    externalTrafficPolicy Local answers only on node-a, where the Pods run (recorded probes).

    $ cd fixtures/scenarios/nodeport-local-policy-some-nodes
    $ svcdoctor check web -n shop --snapshot snapshot.yaml
"""

from __future__ import annotations

from collections.abc import Iterator

from svcdoctor import k8s
from svcdoctor.checks.interface import Check, CheckDoc, Context
from svcdoctor.endpoints import service_endpoints
from svcdoctor.findings import Evidence, Finding
from svcdoctor.probe.analysis import LOAD_BALANCER, NODE_PORT, POD, probe_evidence, service_probes_or_skip


def via(target_object: str) -> str:
    """``"Service a/b via Node node-a"`` → ``"Node node-a"``."""
    return target_object.split(" via ", 1)[1] if " via " in target_object else ""


def run(context: Context) -> Iterator[Finding]:
    service = context.require_service()
    probes = service_probes_or_skip(context.snapshot, context.target.namespace, context.target.name)
    external = [p for p in probes if p.target in (NODE_PORT, LOAD_BALANCER)]
    if not external:
        return
    pods_answer = any(p.target == POD and p.result == "open" for p in probes)
    local = str(k8s.spec(service).get("externalTrafficPolicy") or "Cluster") == "Local"
    ready_nodes = {e.node for e in service_endpoints(context.snapshot, context.target.namespace,
                                                     context.target.name) if e.ready and e.node}
    by_port: dict[tuple[str, int], list] = {}
    for probe in external:
        by_port.setdefault((probe.target, probe.port), []).append(probe)
    for (kind, port), group in sorted(by_port.items()):
        failing = [p for p in group if p.result != "open"]
        if not failing:
            continue
        places = [via(p.target_object) or p.ip for p in failing]
        every = len(failing) == len(group)
        what = "NodePort" if kind == NODE_PORT else "LoadBalancer address"
        message = (f"{what} {port} fails on {', '.join(places)}"
                   + (" — every address probed" if every else f" ({len(failing)} of {len(group)} addresses)"))
        if local and kind == NODE_PORT:
            without = [place for place in places if place.startswith("Node ")
                       and place.split(" ", 1)[1] not in ready_nodes]
            message += (f". externalTrafficPolicy is Local: nodes without a ready local endpoint drop the traffic"
                        f"{' — ' + ', '.join(without) + ' have none' if without else ''}")
        elif not every:
            message += ". The other nodes answer: suspect kube-proxy or a firewall on the failing ones"
        elif pods_answer:
            message += ". The Pods answer directly: suspect the node firewall, the cloud security groups or the " \
                       "load balancer"
        nodes = [place.split(" ", 1)[1] for place in places if place.startswith("Node ")]
        yield CHECK.finding(
            message + ".",
            severity="error" if every else "warning",
            impact="degraded",
            evidence=[Evidence(context.service_ref, "probe", probe_evidence(p)) for p in failing[:6]]
            + [Evidence(context.service_ref, "spec.externalTrafficPolicy",
                        k8s.spec(service).get("externalTrafficPolicy"))],
            next=[f"kubectl get service {context.target.name} -n {context.target.namespace} -o wide",
                  "kubectl get pods -n kube-system -l k8s-app=kube-proxy -o wide",
                  *[f"iptables-save -t nat | grep -e KUBE-NODEPORTS -e ':{port}'  # on node {n}" for n in nodes[:2]]],
            subject=context.service_ref, subject_field="spec.ports", key=f"{kind}:{port}",
            node=nodes[0] if len(nodes) == 1 else "",
        )


CHECK = Check(
    id="SD904",
    name="external-address-fails",
    step=9,
    doc=CheckDoc.parse(__doc__),
    run=run,
    runtime=True,
    impact="degraded",
)
