"""SD705 — The client's DNS policy cannot resolve cluster names.

What it detects:
    From the client Pod's spec: ``dnsPolicy: Default`` (the node's resolver, which knows no
    ``*.svc.<zone>`` names); ``hostNetwork: true`` with the default ``ClusterFirst`` (the kubelet
    then silently uses the node's resolver — ``ClusterFirstWithHostNet`` is needed); ``dnsPolicy:
    None`` whose ``dnsConfig`` names no cluster DNS server (an error) or no cluster search domains
    (short names fail: a warning).

Why it matters:
    dnsPolicy Default, hostNetwork without ClusterFirstWithHostNet, or a dnsConfig without the
    cluster DNS server: the client never asks cluster DNS.

    Such a client fails by name while every other client works.

How to fix:
    Use dnsPolicy ClusterFirst (ClusterFirstWithHostNet for hostNetwork Pods).

Example:
    The scenario fixtures/scenarios/client-dns-policy-default: The client Pod has dnsPolicy Default
    (the node's resolver); the Service's name gives NXDOMAIN there.

    $ cd fixtures/scenarios/client-dns-policy-default
    $ svcdoctor check backend -n shop --from shop/nightly-report-28551840-x7k2p --snapshot snapshot.yaml
"""

from __future__ import annotations

from collections.abc import Iterator

from svcdoctor import k8s
from svcdoctor.checks.interface import Check, CheckDoc, Context
from svcdoctor.dns.client import cluster_searches, resolver_for_pod
from svcdoctor.dns.cluster_dns import dns_service_ips
from svcdoctor.dns.domain import cluster_domain
from svcdoctor.findings import Evidence, Finding, Skip


def run(context: Context) -> Iterator[Finding]:
    context.require_service()
    pod = context.require_client_pod()
    if pod is None:
        raise Skip("the client is not a Pod (--from NS/POD)")
    snapshot = context.snapshot
    domain = cluster_domain(snapshot, context.options.cluster_domain).domain
    dns_ips = dns_service_ips(snapshot)
    config = resolver_for_pod(pod, dns_ips, domain)
    ref = k8s.ref(pod)
    spec = k8s.spec(pod)
    declared = str(spec.get("dnsPolicy") or "ClusterFirst")
    namespace, name = context.target.namespace, context.target.name
    fqdn = f"{name}.{namespace}.svc.{domain}"
    evidence = [Evidence(ref, "spec.dnsPolicy", declared)]
    if spec.get("hostNetwork"):
        evidence.append(Evidence(ref, "spec.hostNetwork", True))
    if spec.get("dnsConfig"):
        evidence.append(Evidence(ref, "spec.dnsConfig", spec.get("dnsConfig")))
    if config.uses_node_resolver:
        fix = ("Set dnsPolicy: ClusterFirstWithHostNet on this hostNetwork Pod." if spec.get("hostNetwork")
               else "Use dnsPolicy: ClusterFirst (the default) unless the Pod must not see cluster names.")
        yield CHECK.finding(
            f"Client {ref.namespace}/{ref.name} resolves with the node's resolver ({config.explanation}): "
            f"cluster names such as {fqdn} are unknown to it.",
            evidence=evidence,
            next=[f"kubectl exec -n {ref.namespace} {ref.name} -- cat /etc/resolv.conf",
                  f"kubectl get pod {ref.name} -n {ref.namespace} -o jsonpath='{{.spec.dnsPolicy}}'"],
            fix=fix, subject=ref, subject_field="spec.dnsPolicy",
        )
        return
    if declared != "None":
        return
    if dns_ips and not config.uses_cluster_dns:
        yield CHECK.finding(
            f"Client {ref.namespace}/{ref.name} has dnsPolicy None and its dnsConfig names "
            f"{', '.join(config.nameservers) or 'no nameserver'}, not the cluster DNS ({', '.join(dns_ips)}): "
            "cluster names do not resolve.",
            evidence=evidence, subject=ref, subject_field="spec.dnsConfig",
            fix=f"Add the cluster DNS address {dns_ips[0]} to spec.dnsConfig.nameservers, or use ClusterFirst.",
        )
        return
    if not dns_ips and not config.nameservers:
        yield CHECK.finding(
            f"Client {ref.namespace}/{ref.name} has dnsPolicy None and no nameserver in dnsConfig: nothing resolves.",
            evidence=evidence, subject=ref, subject_field="spec.dnsConfig",
        )
        return
    wanted = cluster_searches(ref.namespace, domain)
    if not set(wanted) & set(config.searches):
        yield CHECK.finding(
            f"Client {ref.namespace}/{ref.name} has dnsPolicy None without the cluster search domains "
            f"({' '.join(wanted)}): only fully qualified names such as {fqdn} resolve; {name} and "
            f"{name}.{namespace} do not.",
            severity="warning", evidence=evidence, subject=ref, subject_field="spec.dnsConfig",
            fix=f"Add {' '.join(wanted)} to spec.dnsConfig.searches, or use the full name {fqdn}.",
        )


CHECK = Check(
    id="SD705",
    name="client-dns-policy",
    step=7,
    explains=frozenset({"SD701"}),
    doc=CheckDoc.parse(__doc__),
    run=run,
    needs_client=True,
    runtime=True,
    confidence="likely",
)
