"""SD902 — A Pod does not answer at all (dropped).

What it detects:
    A probe to a ready endpoint's Pod IP and targetPort got no reply within the timeout (dropped) or
    an ICMP host/network unreachable.

Why it matters:
    Dropped packets mean a policy or the pod network stands between the client and the Pod.

    Packets never reach the process or its answer never comes back — a NetworkPolicy (or firewall)
    dropping the traffic, or the CNI failing to route to that Pod's node. Probes that could not see
    the cluster at all are reported by SD905 instead, never as this.

How to fix:
    Allow the traffic in the NetworkPolicies that select the Pod, or repair the CNI on the Pod's
    node.

Example:
    The scenario fixtures/scenarios/pod-traffic-dropped: A default-deny ingress policy drops traffic
    to the api Pods; recorded probes time out while cluster DNS answers.

    $ svcdoctor check api -n shop --snapshot fixtures/scenarios/pod-traffic-dropped/snapshot.yaml
"""

from __future__ import annotations

from collections.abc import Iterator

from svcdoctor import k8s
from svcdoctor.checks.interface import Check, CheckDoc, Context
from svcdoctor.findings import Evidence, Finding
from svcdoctor.k8s import ObjectRef
from svcdoctor.probe.analysis import POD, node_of_source, object_name, probe_evidence, service_probes_or_skip
from svcdoctor.selectors import from_label_selector


def ingress_policies(context: Context, pod: object) -> list[str]:
    """Names of the NetworkPolicies that select the Pod for ingress."""
    if not isinstance(pod, dict):
        return []
    names = []
    for policy in context.snapshot.network_policies_in(k8s.namespace(pod)):
        spec = k8s.spec(policy)
        types = [str(t) for t in k8s.as_list(spec.get("policyTypes"))] or ["Ingress"]
        if "Ingress" not in types:
            continue
        if from_label_selector(k8s.as_map(spec.get("podSelector"))).matches(k8s.labels(pod)):
            names.append(k8s.name(policy))
    return names


def run(context: Context) -> Iterator[Finding]:
    context.require_service()
    probes = service_probes_or_skip(context.snapshot, context.target.namespace, context.target.name)
    pod_probes = [p for p in probes if p.target == POD]
    working = [p for p in pod_probes if p.result in ("open", "refused")]
    for probe in pod_probes:
        if probe.result not in ("timeout", "unreachable"):
            continue
        _, namespace, name = object_name(probe.target_object) if probe.target_object else ("Pod", "", "")
        ref = ObjectRef("Pod", namespace, name) if name else None
        pod = context.snapshot.pod(namespace, name) if name else None
        node = str(k8s.spec(pod).get("nodeName") or "") if pod is not None else ""
        policies = ingress_policies(context, pod)
        if probe.result == "unreachable":
            how = "an ICMP unreachable came back: no route to the Pod (CNI, or a REJECT rule)"
        else:
            how = "no reply in time: the packets are dropped"
        suspects = (f"NetworkPolicy {', '.join(policies)} selects it for ingress" if policies
                    else "no NetworkPolicy in the snapshot selects it, so suspect the CNI on "
                         f"{'node ' + node if node else 'its node'} or a host firewall")
        label = f"{namespace}/{name}" if name else probe.ip
        outside = "/" not in probe.source and not node_of_source(context.snapshot, probe.source)
        if not working and outside:
            suspects += (f"; the probes left from {probe.source or 'an unrecorded place'}, which is no Pod or Node of "
                         "the cluster: if cluster addresses are not routed there, rerun them from inside "
                         "(deploy/job.yaml)")
        impact = "degraded" if working else "unreachable"
        evidence = [Evidence(ref, "probe", probe_evidence(probe))]
        if policies:
            evidence += [Evidence(ObjectRef("NetworkPolicy", namespace, p), "spec.podSelector") for p in policies]
        if node:
            evidence.append(Evidence(ref, "spec.nodeName", node))
        yield CHECK.finding(
            f"Pod {label} does not answer on {probe.ip}:{probe.port}: {how}; {suspects}.",
            evidence=evidence,
            next=[f"kubectl get networkpolicy -n {namespace or context.target.namespace}",
                  *([f"kubectl describe pod {name} -n {namespace}"] if name else []),
                  *([f"kubectl get pods -n kube-system -o wide --field-selector spec.nodeName={node}"]
                    if node else [])],
            subject=ref or context.service_ref, impact=impact,
            severity="error" if impact == "unreachable" else "warning",
            key=f"{label}:{probe.port}", node=node,
        )


CHECK = Check(
    id="SD902",
    name="pod-drops",
    step=9,
    doc=CheckDoc.parse(__doc__),
    run=run,
    runtime=True,
)
