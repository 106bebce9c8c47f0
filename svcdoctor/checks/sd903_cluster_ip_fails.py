"""SD903 — The ClusterIP fails while the Pods answer directly.

What it detects:
    A probe to the Service's ClusterIP:port was refused, dropped or unreachable, while at least one
    of its Pods accepted a connection on the targetPort.

Why it matters:
    When Pods answer but their Service IP does not, the break is in kube-proxy's rules on the node.

    The application is fine; the break is in the data plane of the node the probe left from —
    kube-proxy has no rules for the ClusterIP (SD802), rules that lead elsewhere (SD803), or is not
    running (SD801).

How to fix:
    Repair kube-proxy on the node the traffic leaves from; compare its rules with the endpoints.

Example:
    The scenario fixtures/scenarios/cluster-ip-no-rules-on-node: From a Pod on node-b the api Pods
    answer but the ClusterIP times out (recorded probes) - kube-proxy on node-b.

    $ cd fixtures/scenarios/cluster-ip-no-rules-on-node
    $ svcdoctor check api -n shop --snapshot snapshot.yaml
"""

from __future__ import annotations

from collections.abc import Iterator

from svcdoctor.checks.interface import Check, CheckDoc, Context
from svcdoctor.findings import Evidence, Finding
from svcdoctor.probe.analysis import CLUSTER_IP, POD, node_of_source, probe_evidence, service_probes_or_skip


def run(context: Context) -> Iterator[Finding]:
    context.require_service()
    snapshot = context.snapshot
    probes = service_probes_or_skip(snapshot, context.target.namespace, context.target.name)
    answering = [p for p in probes if p.target == POD and p.result == "open"]
    if not answering:
        return
    for probe in probes:
        if probe.target != CLUSTER_IP or probe.result == "open":
            continue
        node = node_of_source(snapshot, probe.source)
        where = f"node {node}" if node else (probe.source or "where the probe was sent from")
        outcome = {"refused": "was refused (a REJECT rule: kube-proxy believes it has no endpoints)",
                   "timeout": "got no answer (no DNAT rule: the packet went nowhere)",
                   "unreachable": "was unreachable"}[probe.result]
        yield CHECK.finding(
            f"ClusterIP {probe.ip}:{probe.port} {outcome}, while {len(answering)} Pod(s) accept connections "
            f"directly (e.g. {answering[0].ip}:{answering[0].port}): the Service's data plane on {where} is broken.",
            evidence=[Evidence(context.service_ref, "probe", probe_evidence(probe)),
                      *[Evidence(None, "probe", probe_evidence(p)) for p in answering[:3]]],
            next=[f"iptables-save -t nat | grep -e '{probe.ip}' -e KUBE-SVC  # on {where}",
                  f"nft list ruleset | grep -n '{probe.ip}'  # nftables mode",
                  f"ipvsadm -Ln -t {probe.ip}:{probe.port}  # IPVS mode",
                  "kubectl get pods -n kube-system -l k8s-app=kube-proxy -o wide"
                  + (f" --field-selector spec.nodeName={node}" if node else ""),
                  "kubectl logs -n kube-system -l k8s-app=kube-proxy --tail=50"],
            fix="Repair kube-proxy (or the eBPF data plane) on that node: restart it and read its logs; "
                "svcdoctor check --node-dump shows which rules are missing.",
            subject=context.service_ref, key=f"{probe.ip}:{probe.port}|{probe.source}", node=node,
        )


CHECK = Check(
    id="SD903",
    name="cluster-ip-fails",
    step=9,
    doc=CheckDoc.parse(__doc__),
    run=run,
    runtime=True,
)
