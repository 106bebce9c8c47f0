"""SD702 — The name resolves to the wrong address.

What it detects:
    A DNS answer for this Service's name whose addresses are not what the Kubernetes DNS
    specification gives it: the ClusterIP for a normal Service; exactly the ready endpoint addresses
    (every address with ``publishNotReadyAddresses``) for a headless one; a CNAME to
    ``externalName`` for an ExternalName Service.

Why it matters:
    A wrong answer sends the client to an old address, another Service or an unready Pod.

    The client then talks to an old address, another Service, or a Pod that is not ready or gone —
    failures that look random. Typical causes: a stale record (a DNS cache, a stub zone or ``hosts``
    entry that overrides the cluster zone), a short name that means a same-named Service in the
    client's own namespace.

How to fix:
    Use the fully qualified name <service>.<namespace>.svc.<zone>; remove overriding hosts entries,
    stub zones or stale caches; for a headless Service make the right Pods ready.

Example:
    The scenario fixtures/scenarios/dns-headless-stale-address: The headless Service's name answers
    an old Pod address (recorded DNS answer); the ready Pod pg-1 is missing from it.

    $ cd fixtures/scenarios/dns-headless-stale-address
    $ svcdoctor check pg -n data --snapshot snapshot.yaml
"""

from __future__ import annotations

from collections.abc import Iterator

from svcdoctor import k8s
from svcdoctor.checks.interface import Check, CheckDoc, Context
from svcdoctor.checks.sd701_name_does_not_resolve import DNS_HOW, for_client
from svcdoctor.dns.domain import cluster_domain
from svcdoctor.dns.evidence import addresses, answers_about, cnames, failed, whose_address
from svcdoctor.dns.records import absolute, expected_addresses, expected_records, records_named, service_fqdn
from svcdoctor.findings import Evidence, Finding, NotChecked
from svcdoctor.k8s import Obj


def run(context: Context) -> Iterator[Finding]:
    service = context.require_service()
    snapshot = context.snapshot
    if not snapshot.dns_answers:
        raise NotChecked("no DNS answers", DNS_HOW)
    namespace, name = context.target.namespace, context.target.name
    domain = cluster_domain(snapshot, context.options.cluster_domain)
    about = [item for item in for_client(context, list(answers_about(snapshot, namespace, name, domain.domain)))
             if not failed(item.answer)]
    srv_findings = list(srv_problems(context, service, domain.domain, domain.origin))
    if not about and not srv_findings:
        raise NotChecked(f"no DNS answer with data about {name}.{namespace}", DNS_HOW)
    yield from srv_findings
    fqdn = service_fqdn(namespace, name, domain.domain)
    external = k8s.service_type(service) == "ExternalName"
    headless = k8s.is_headless(service)
    seen: set[tuple[str, str, frozenset[str]]] = set()
    for item in about:
        answer = item.answer
        got = addresses(answer)
        if external:
            wanted_name = absolute(str(k8s.spec(service).get("externalName") or ""))
            got_names = [absolute(value) for value in cnames(answer)]
            if wanted_name in got_names:
                continue
            problem = (f"is not a CNAME to {wanted_name.rstrip('.')} (spec.externalName); it answered "
                       f"{', '.join(got_names) or ', '.join(sorted(got)) or 'nothing usable'}")
            wanted: set[str] = set()
        else:
            if answer.type not in ("A", "AAAA"):
                continue
            wanted = expected_addresses(snapshot, service, answer.type)
            if got == wanted:
                continue
            missing, extra = sorted(wanted - got), sorted(got - wanted)
            parts = []
            if extra:
                owners = [f"{ip} ({whose_address(snapshot, ip) or 'unknown to the cluster'})" for ip in extra]
                parts.append("answered " + ", ".join(owners))
            if missing:
                what = "ready endpoint address(es)" if headless else "the ClusterIP"
                parts.append(f"left out {what} {', '.join(missing)}")
            problem = "; ".join(parts)
        key = (answer.name, answer.source, frozenset(got))
        if key in seen:
            continue
        seen.add(key)
        where = f" from {answer.source}" if answer.source else ""
        server = f" by {answer.server}" if answer.server else ""
        expectation = ("the ready endpoints' addresses" if headless else
                       "a CNAME to spec.externalName" if external else "the ClusterIP")
        message = (f"{answer.name!r}{where} resolves{server} to the wrong thing: it {problem}. "
                   f"{fqdn.rstrip('.')} should give {expectation}: {', '.join(sorted(wanted)) or '(none)'}.")
        caused_by = None
        if item.relation == "short-elsewhere":
            message += (f" From namespace {item.from_namespace} the short name {answer.name!r} means a Service "
                        f"of that namespace, not {namespace}/{name}.")
            caused_by = "SD704"
        elif headless:
            message += " A cache or a stale zone can keep old Pod addresses after they change."
        evidence = [
            Evidence(None, "DNSAnswer", {"name": answer.name, "type": answer.type, "rcode": answer.rcode,
                                         "answers": list(answer.answers), "from": answer.source,
                                         "server": answer.server}),
            Evidence(context.service_ref, "spec.clusterIP", k8s.cluster_ip(service) or None,
                     f"expected {', '.join(sorted(wanted)) or 'no address'}"),
            Evidence(None, "cluster domain", domain.domain, domain.origin),
        ]
        partly = headless and bool(got & wanted)
        if partly:
            message += " Some of its addresses are right, so some connections work and others fail."
        yield CHECK.finding(
            message,
            severity="warning" if partly else "error",
            evidence=evidence,
            next=[f"kubectl get service {name} -n {namespace} -o wide",
                  f"kubectl get endpointslices -n {namespace} -l kubernetes.io/service-name={name} -o wide",
                  f"dig +search {answer.name}" if answer.server == "" else f"dig @{answer.server} {fqdn}",
                  "kubectl get configmap coredns -n kube-system -o yaml"],
            subject=context.service_ref,
            caused_by=caused_by,
            key=f"{answer.name}|{answer.source}|{answer.type}",
        )


def srv_problems(context: Context, service: Obj, zone: str, origin: str) -> Iterator[Finding]:
    """SRV answers for the Service's named ports that differ from the records the spec gives."""
    expected = [r for r in expected_records(context.snapshot, service, zone) if r.type == "SRV"]
    owners = {r.name for r in expected}
    for answer in context.snapshot.dns_answers:
        owner = absolute(answer.name)
        if answer.type != "SRV" or owner not in owners or answer.rcode != "NOERROR" or not answer.answers:
            continue
        wanted = {r.data for r in records_named(expected, owner, "SRV")}
        got = {f"{value.split()[0]} {absolute(value.split()[1])}" for item in answer.answers
               if isinstance(item, dict) and item.get("type") == "SRV"
               for value in [str(item.get("value", ""))] if len(value.split()) == 2}
        if got == wanted:
            continue
        yield CHECK.finding(
            f"SRV {owner} answered {', '.join(sorted(got)) or 'nothing usable'}; the spec gives "
            f"{', '.join(sorted(wanted))} (port number and target): clients that discover the port by SRV go "
            "elsewhere.",
            severity="warning",
            evidence=[Evidence(None, "DNSAnswer", {"name": answer.name, "type": "SRV", "answers": list(answer.answers),
                                                   "server": answer.server}),
                      Evidence(None, "cluster domain", zone, origin)],
            next=[f"dig SRV {owner}" + (f" @{answer.server}" if answer.server else "")],
            subject=context.service_ref, key=f"srv|{owner}",
        )


CHECK = Check(
    id="SD702",
    name="name-resolves-wrong",
    step=7,
    doc=CheckDoc.parse(__doc__),
    run=run,
    needs=("services", "endpointslices"),
    runtime=True,
)
