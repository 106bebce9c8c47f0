"""SD905 — The probes could not see the cluster network.

What it detects:
    Every probe to a cluster-internal address — the cluster DNS Service and its Pods among them,
    which exist in every cluster — went unanswered alike (timeout or unreachable). A ClusterIP that
    answered a place that is no Pod or Node counts as unanswered: a ClusterIP exists only inside the
    cluster, so another network (a LAN that uses the same addresses, a VPN) answered it.

Why it matters:
    When even cluster DNS does not answer, the place the probes left from has no route into the
    cluster; blaming the Service would be wrong.

    That says where svcdoctor ran (a laptop, a CI runner, a bastion without routes to Pod and
    Service CIDRs), not what is wrong with the Service; the Pod and ClusterIP probe results are
    therefore not used. Run the probes from inside the cluster instead.

How to fix:
    Run the probes from a node, a debugging Pod, or the in-cluster Job (deploy/job.yaml).

Example:
    The scenario fixtures/scenarios/probes-from-outside-cluster: Probes sent from a laptop outside
    the cluster network - every cluster address timed out alike; nothing is blamed on the Service.

    $ cd fixtures/scenarios/probes-from-outside-cluster
    $ svcdoctor check api -n shop --snapshot snapshot.yaml
"""

from __future__ import annotations

from collections.abc import Iterator

from svcdoctor.checks.interface import Check, CheckDoc, Context
from svcdoctor.findings import Evidence, Finding, Skip
from svcdoctor.probe.analysis import probe_evidence, visibility, where_sent_from


def run(context: Context) -> Iterator[Finding]:
    snapshot = context.snapshot
    if not snapshot.probe_results:
        raise Skip("no probes were sent")
    seen = visibility(snapshot)
    if not seen.blind:
        return
    where = where_sent_from(snapshot, seen.sources)
    namespace, name = context.target.namespace, context.target.name
    yield CHECK.finding(
        f"None of the {len(seen.internal)} probes to cluster addresses (the DNS Service, Pod IPs, the ClusterIP) "
        f"was answered from {where}: that place has no route into the cluster network, so the probes say "
        f"nothing about {namespace}/{name}. Run them from inside the cluster.",
        severity="warning",
        impact="unknown",
        evidence=[Evidence(None, "probe", probe_evidence(p)) for p in seen.internal[:6]],
        next=["kubectl apply -f deploy/rbac.yaml -f deploy/job.yaml  # svcdoctor as a Job inside the cluster",
              "kubectl logs -n svcdoctor job/svcdoctor",
              f"kubectl debug node/<node> -it --image=<svcdoctor image> -- svcdoctor check {name} -n {namespace} "
              "--probe  # from a node's network"],
        fix="Run svcdoctor with --probe from a node, a debugging Pod or the in-cluster Job (docs/dns-and-probes.md).",
        subject=context.service_ref,
    )


CHECK = Check(
    id="SD905",
    name="probes-could-not-see-cluster",
    step=9,
    doc=CheckDoc.parse(__doc__),
    run=run,
    runtime=True,
    impact="unknown",
)
