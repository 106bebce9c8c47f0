"""SD703 — Cluster DNS itself is unhealthy.

What it detects:
    From API objects alone: the kube-dns Service (kube-system, ``k8s-app=kube-dns``) has no
    endpoints or none ready; CoreDNS/kube-dns Pods are not ready (all: an error; some: a warning);
    CoreDNS Pods exist but no DNS Service fronts them. From DNS answers, when there are some: the
    control question ``kubernetes.default.svc.<zone>`` — a name every cluster has — went unanswered.

Why it matters:
    Every ClusterFirst Pod asks the kube-dns Service; without ready CoreDNS endpoints no name
    resolves.

    Every ClusterFirst Pod asks the kube-dns ClusterIP; without a ready endpoint behind it no name
    resolves, and every Service looks broken by name while working by IP.

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
from svcdoctor.dns.cluster_dns import DNS_NAMESPACE, dns_pods, dns_services, has_dns_objects
from svcdoctor.dns.domain import cluster_domain
from svcdoctor.dns.evidence import control_answers, failed
from svcdoctor.endpoints import service_endpoints
from svcdoctor.findings import Evidence, Finding, NotChecked, Unknown
from svcdoctor.probe.analysis import visibility

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
    blind = visibility(snapshot).blind
    bad = [a for a in controls if failed(a) and not (blind and a.rcode == "TIMEOUT")]
    if bad and len(bad) == len(controls):
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


CHECK = Check(
    id="SD703",
    name="cluster-dns-unhealthy",
    step=7,
    explains=frozenset({"SD701"}),
    doc=CheckDoc.parse(__doc__),
    run=run,
    runtime=True,
)
