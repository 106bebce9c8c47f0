"""SD703 — Cluster DNS itself is unhealthy.

What it detects:
    From API objects alone: the kube-dns Service (kube-system, ``k8s-app=kube-dns``) has no
    endpoints or none ready; CoreDNS/kube-dns Pods are not ready (all: an error; some: a warning);
    CoreDNS Pods exist but no DNS Service fronts them. From DNS answers, when there are some: the
    control question ``kubernetes.default.svc.<zone>`` — a name every cluster has — went unanswered.

    With NodeLocal DNSCache (the ``node-local-dns`` DaemonSet) a Pod's resolver is the cache on its
    own node (169.254.20.10 by default): for the client's node it checks that a cache Pod runs
    there and is ready (its upstream, the ``kube-dns-upstream`` Service, is checked like kube-dns).

Why it matters:
    Every ClusterFirst Pod asks the kube-dns Service; without ready CoreDNS endpoints no name
    resolves.

    Every ClusterFirst Pod asks the kube-dns ClusterIP; without a ready endpoint behind it no name
    resolves, and every Service looks broken by name while working by IP.

    A control answer counts only when it can be the cluster DNS speaking: not one from a resolver
    that is none of the cluster DNS addresses, not one asked of a ClusterIP from outside the cluster
    (another network answers there), and not one beside an answer of the same resolver that gave a
    cluster name this cluster's address. Such an answer blames nothing; step 7 says it was not
    checked by it.

How to fix:
    Make the CoreDNS Pods ready (events, logs, Corefile) so the kube-dns Service has ready
    endpoints.

Example:
    The scenario fixtures/scenarios/coredns-crashlooping: Both CoreDNS Pods crash-loop, kube-dns has
    no ready endpoint; the Service's name is refused (recorded answer).

    $ cd fixtures/scenarios/coredns-crashlooping
    $ svcdoctor check backend -n shop --snapshot snapshot.yaml
"""

from __future__ import annotations

from collections.abc import Iterator

from svcdoctor import k8s
from svcdoctor.checks.interface import Check, CheckDoc, Context
from svcdoctor.dataplane.checking import client_node, pod_problem
from svcdoctor.dns.cluster_dns import DNS_NAMESPACE, dns_pods, dns_services, has_dns_objects
from svcdoctor.dns.domain import cluster_domain
from svcdoctor.dns.evidence import control_answers, failed
from svcdoctor.dns.nodelocal import UPSTREAM_SERVICE, local_address, node_local_daemon_set, node_local_pods
from svcdoctor.endpoints import service_endpoints
from svcdoctor.findings import Evidence, Finding, NotChecked, Unknown
from svcdoctor.probe.analysis import INSIDE_HOW, answer_doubt, visibility

NEXT = [
    "kubectl get pods -n kube-system -l k8s-app=kube-dns -o wide",
    "kubectl get endpointslices -n kube-system -l kubernetes.io/service-name=kube-dns",
    "kubectl logs -n kube-system -l k8s-app=kube-dns --tail=50",
]


def run(context: Context) -> Iterator[Finding]:
    snapshot = context.snapshot
    domain = cluster_domain(snapshot, context.options.cluster_domain).domain
    controls = control_answers(snapshot, domain)
    if not has_dns_objects(snapshot) and not controls:
        for resource in ("services", "pods"):
            missing = snapshot.missing(resource, DNS_NAMESPACE)
            if missing is not None:
                raise Unknown(f"could not {missing.verb} {resource} in kube-system: {missing.reason}")
        raise NotChecked("no cluster DNS objects in the snapshot (the kube-system kube-dns Service and its Pods)",
                         "record kube-system too: svcdoctor record, or kubectl get svc,pods,endpointslices "
                         "-n kube-system -o yaml")
    services = dns_services(snapshot)
    pods = dns_pods(snapshot)
    for service in services:
        ref = k8s.ref(service)
        endpoints = service_endpoints(snapshot, DNS_NAMESPACE, k8s.name(service))
        ready = [e for e in endpoints if e.ready]
        if ready:
            continue
        if not endpoints and snapshot.missing("endpointslices", DNS_NAMESPACE):
            raise Unknown("could not read the kube-dns EndpointSlices")
        state = "no endpoints" if not endpoints else f"{len(endpoints)} endpoint(s), none ready"
        yield CHECK.finding(
            f"The cluster DNS Service {ref.namespace}/{ref.name} ({k8s.cluster_ip(service)}) has {state}: "
            "no name in the cluster resolves for ClusterFirst Pods.",
            evidence=[Evidence(ref, "spec.clusterIP", k8s.cluster_ip(service)),
                      *[Evidence(k8s.ref(pod), "status.conditions[Ready]", k8s.pod_is_ready(pod),
                                 k8s.pod_phase(pod)) for pod in pods[:5]]],
            next=NEXT,
            fix="Bring CoreDNS back: look at its Pods' events and logs (crash loop, a broken Corefile, "
                "no schedulable node), and at what keeps them out of the kube-dns endpoints.",
            subject=ref,
            key=f"endpoints|{ref.name}",
        )
        return
    if pods:
        not_ready = [pod for pod in pods if not k8s.pod_is_ready(pod)]
        if not_ready:
            every = len(not_ready) == len(pods)
            yield CHECK.finding(
                f"{len(not_ready)} of {len(pods)} cluster DNS Pod(s) are not ready"
                + (": nothing answers DNS." if every else ": lookups that land on them fail or are slow."),
                severity="error" if every else "warning",
                evidence=[Evidence(k8s.ref(pod), "status.phase", k8s.pod_phase(pod), "not ready")
                          for pod in not_ready[:5]],
                next=NEXT,
                subject=k8s.ref(not_ready[0]),
                key="pods",
            )
            if every:
                return
    if pods and not services:
        refused = snapshot.missing("services", DNS_NAMESPACE)
        if refused is not None:
            # A refused read says nothing about the cluster: the Service may well be there.
            raise Unknown(f"could not {refused.verb} services in kube-system: {refused.reason}")
        yield CHECK.finding(
            "CoreDNS Pods run in kube-system but no kube-dns Service fronts them: the address in every "
            "Pod's resolv.conf leads nowhere.",
            evidence=[Evidence(k8s.ref(pods[0]), "metadata.labels", dict(k8s.labels(pods[0])))],
            next=["kubectl get services -n kube-system -l k8s-app=kube-dns"],
            fix="Restore the kube-dns Service with the ClusterIP the kubelets use (--cluster-dns).",
            subject=k8s.ref(pods[0]),
            key="service",
        )
        return
    yield from _node_local(context)
    blind = visibility(snapshot).blind
    doubts = {id(answer): answer_doubt(snapshot, answer) for answer in controls}
    trusted = [a for a in controls if not doubts[id(a)]]
    doubted = [a for a in controls if doubts[id(a)] and failed(a)]
    if doubted and not trusted:
        # Not evidence about cluster DNS: say so (the step is partial), and blame nothing on it.
        context.note_unverified(f"cluster DNS by the answer to {doubted[0].name!r}: {doubts[id(doubted[0])]}",
                                INSIDE_HOW)
    bad = [a for a in trusted if failed(a) and not (blind and a.rcode == "TIMEOUT")]
    if bad and len(bad) == len(trusted):
        answer = bad[0]
        yield CHECK.finding(
            f"Cluster DNS{' at ' + answer.server if answer.server else ''} did not answer {answer.name!r}, a "
            f"name every cluster has ({answer.rcode}): DNS itself is failing, not only this Service's name.",
            evidence=[Evidence(None, "DNSAnswer", {"name": a.name, "rcode": a.rcode, "server": a.server,
                                                   "from": a.source}) for a in bad[:3]],
            next=NEXT,
            subject=k8s.ref(services[0]) if services else None,
            key="control",
        )


def _node_local(context: Context) -> Iterator[Finding]:
    """The NodeLocal DNSCache on the client's node, and the cache's upstream."""
    snapshot = context.snapshot
    daemon_set = node_local_daemon_set(snapshot)
    caches = node_local_pods(snapshot)
    if daemon_set is None and not caches:
        return
    address = local_address(snapshot)
    node = client_node(context)
    pod = context.client_pod
    if not node or (pod is not None and str(k8s.spec(pod).get("dnsPolicy") or "ClusterFirst") in ("Default", "None")):
        return
    here = [cache for cache in caches if k8s.spec(cache).get("nodeName") == node]
    if any(k8s.pod_is_ready(cache) for cache in here):
        return
    if not caches and snapshot.missing("pods", DNS_NAMESPACE) is not None:
        raise Unknown("could not read the node-local-dns Pods in kube-system")
    state = (f"its cache Pod {k8s.name(here[0])} is not ready ({pod_problem(here[0]) or 'not ready'})" if here
             else "no node-local-dns Pod runs there")
    ref = k8s.ref(here[0]) if here else (k8s.ref(daemon_set) if daemon_set is not None else None)
    yield CHECK.finding(
        f"The client's lookups go to the NodeLocal DNSCache on its node {node} ({address}), and {state}: names do "
        "not resolve for Pods on that node, while other nodes work.",
        evidence=[Evidence(ref, "status.phase" if here else None,
                           k8s.pod_phase(here[0]) if here else f"node {node}", "the cache on the client's node")],
        next=[f"kubectl get pods -n {DNS_NAMESPACE} -l k8s-app=node-local-dns -o wide --field-selector "
              f"spec.nodeName={node}",
              f"kubectl logs -n {DNS_NAMESPACE} -l k8s-app=node-local-dns --tail=50"],
        fix=f"Get the node-local-dns Pod on {node} running and ready (its events and logs; it needs the "
            f"{UPSTREAM_SERVICE} Service and its ConfigMap).",
        subject=ref, key=f"node-local|{node}",
    )


CHECK = Check(
    id="SD703",
    name="cluster-dns-unhealthy",
    step=7,
    explains=frozenset({"SD701"}),
    doc=CheckDoc.parse(__doc__),
    run=run,
    runtime=True,
)
