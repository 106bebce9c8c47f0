"""SD701 — The Service's name does not resolve.

What it detects:
    A DNS answer (asked by ``--probe`` or recorded as ``DNSAnswer``) for a name that means this
    Service — ``web``, ``web.shop``, ``web.shop.svc.<zone>`` — came back NXDOMAIN, SERVFAIL,
    REFUSED, timed out, or empty. An answer asked of the DNS Service's ClusterIP from a place that is
    no Pod or Node (a laptop) is another network's — a ClusterIP exists only inside the cluster —,
    and one from a resolver that answered ``kubernetes.default`` with an address other than Service
    default/kubernetes's is not this cluster's DNS: neither is counted, here or by SD702, and step 7
    says so.

Why it matters:
    A client that cannot resolve the name never sends a packet, however healthy the Service is.

    Clients connect by name; with no address they never send a packet, whatever the Service and its
    Pods look like. It is usually a symptom: of DNS egress denied by NetworkPolicy (SD603), cluster
    DNS down (SD703), a short name used from another namespace (SD704), or a client whose dnsPolicy
    does not use cluster DNS (SD705).

How to fix:
    Use <service>.<namespace> (or the full name) from other namespaces, make sure cluster DNS is up
    and reachable (port 53 UDP and TCP allowed), and give the client a ClusterFirst dnsPolicy.

Example:
    The scenario fixtures/scenarios/dns-record-missing: CoreDNS answers NXDOMAIN for a healthy
    Service (recorded DNS answers); kubernetes.default resolves, so DNS itself is up.

    $ cd fixtures/scenarios/dns-record-missing
    $ svcdoctor check checkout -n shop --from shop/frontend-ddcj28l7m-jsshd --snapshot snapshot.yaml
"""

from __future__ import annotations

from collections.abc import Iterator

from svcdoctor import k8s
from svcdoctor.checks.interface import Check, CheckDoc, Context
from svcdoctor.dns.domain import cluster_domain
from svcdoctor.dns.evidence import answers_about, cnames, control_answers, failed
from svcdoctor.dns.records import service_fqdn
from svcdoctor.findings import Evidence, Finding, NotChecked
from svcdoctor.probe.analysis import INSIDE_HOW, asked_from_outside, foreign_resolver, visibility

#: How to give step 7 its evidence.
DNS_HOW = "run with --probe, or record DNSAnswer objects in the snapshot"


def for_client(context: Context, items: list) -> list:
    """Answers asked by the given client (or by nobody in particular) when there are such; never one that is
    not this cluster's DNS speaking — asked of a ClusterIP from outside the cluster, or given by a resolver
    that answers kubernetes.default with another address (step 7 says so instead)."""
    zone = cluster_domain(context.snapshot, context.options.cluster_domain).domain
    doubts = {id(item): asked_from_outside(context.snapshot, item.answer)
              or foreign_resolver(context.snapshot, item.answer, zone) for item in items}
    doubted = [item for item in items if doubts[id(item)]]
    if doubted:
        context.note_unverified(f"the name by the answer to {doubted[0].answer.name!r}: {doubts[id(doubted[0])]}",
                                INSIDE_HOW)
        items = [item for item in items if not doubts[id(item)]]
    if context.client is None:
        return items
    own = [item for item in items if item.answer.source in ("", str(context.client))]
    return own or items


def run(context: Context) -> Iterator[Finding]:
    service = context.require_service()
    snapshot = context.snapshot
    if not snapshot.dns_answers:
        raise NotChecked("no DNS answers", DNS_HOW)
    namespace, name = context.target.namespace, context.target.name
    domain = cluster_domain(snapshot, context.options.cluster_domain)
    about = for_client(context, list(answers_about(snapshot, namespace, name, domain.domain)))
    if not about:
        raise NotChecked(f"no DNS answer about {name}.{namespace}", DNS_HOW)
    blind = visibility(snapshot).blind
    failures: dict[tuple[str, str], list] = {}
    for item in about:
        if not failed(item.answer):
            continue
        if blind and item.answer.rcode == "TIMEOUT":
            continue  # SD905: nothing in the cluster answered from there; not this Service's fault
        failures.setdefault((item.answer.source, item.relation), []).append(item)
    fqdn = service_fqdn(namespace, name, domain.domain)
    control_ok = any(not failed(answer) for answer in control_answers(snapshot, domain.domain))
    headless = k8s.is_headless(service)
    for (source, relation), items in failures.items():
        first = items[0]
        where = f" from {source}" if source else ""
        servers = sorted({item.answer.server for item in items if item.answer.server})
        outcomes = ", ".join(f"{item.answer.name!r}: "
                             f"{'no addresses' if item.answer.rcode == 'NOERROR' else item.answer.rcode}"
                             for item in items)
        message = (f"The Service's name does not resolve{where}"
                   f"{' (asked ' + ', '.join(servers) + ')' if servers else ''}: {outcomes}.")
        caused_by = None
        rcodes = {item.answer.rcode for item in items}
        if relation == "short-elsewhere":
            message += (f" From namespace {first.from_namespace} the short name means "
                        f"{first.answer.name}.{first.from_namespace}.svc.{domain.domain}, not {fqdn.rstrip('.')}.")
            caused_by = "SD704"
        elif "TIMEOUT" in rcodes:
            message += " The DNS server did not answer at all."
        elif "REFUSED" in rcodes:
            message += (" The DNS server refused (or an ICMP port-unreachable came back: nothing listens behind "
                        "the DNS Service, or a REJECT rule).")
        elif headless:
            message += " A headless Service's name has addresses only while it has ready endpoints."
        elif "NXDOMAIN" in rcodes and control_ok:
            message += (" Cluster DNS itself answers (kubernetes.default resolves), yet has no record for this "
                        "Service: look at the CoreDNS logs (its kubernetes plugin may have stopped syncing) and at "
                        "stub domains or rewrite rules in the Corefile.")
        targets = [target for item in items for target in cnames(item.answer)]
        if targets:
            message += f" It is a CNAME to {targets[-1]}, which has no address."
        evidence = [Evidence(None, "DNSAnswer", {"name": item.answer.name, "type": item.answer.type,
                                                 "rcode": item.answer.rcode, "from": item.answer.source,
                                                 "server": item.answer.server})
                    for item in items[:6]]
        evidence.append(Evidence(None, "cluster domain", domain.domain, domain.origin))
        client_exec = ""
        if source and "/" in source and not source.startswith("node/"):
            pod_namespace, _, pod_name = source.partition("/")
            client_exec = f"kubectl exec -n {pod_namespace} {pod_name} -- nslookup {first.answer.name}"
        yield CHECK.finding(
            message,
            evidence=evidence,
            next=[c for c in (client_exec, f"kubectl run dnscheck -n {namespace} --rm -it --restart=Never "
                              f"--image=busybox:1.36 -- nslookup {fqdn.rstrip('.')}",
                              "kubectl get endpointslices -n kube-system -l kubernetes.io/service-name=kube-dns",
                              "kubectl logs -n kube-system -l k8s-app=kube-dns --tail=50")
                  if c],
            subject=context.service_ref,
            caused_by=caused_by,
            key=f"{source}|{relation}",
        )


CHECK = Check(
    id="SD701",
    name="name-does-not-resolve",
    step=7,
    doc=CheckDoc.parse(__doc__),
    run=run,
    needs=("services",),
    runtime=True,
)
