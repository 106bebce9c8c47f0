"""SD206 — The ExternalName is not a valid DNS name, is an IP, or does not resolve.

What it detects:
    For ``type: ExternalName``: an empty or malformed ``spec.externalName`` (it must be a lowercase
    DNS-1123 subdomain, a trailing dot allowed); an IP address there (Kubernetes accepts the string
    but cluster DNS answers with a CNAME to a "name" made of digits, which resolves nowhere); a name
    that points at an in-cluster Service the snapshot shows does not exist; and a name that recorded
    DNS answers (``DNSAnswer`` evidence) show does not resolve.

Why it matters:
    An ExternalName Service is only a DNS alias (a CNAME); if the alias is empty, malformed, an IP
    address or a name that does not exist, every lookup of the Service fails.

    An ExternalName Service is only a DNS alias — if the alias is broken, every client lookup of the
    Service name fails. Without a recorded answer, svcdoctor never claims that a valid name fails to
    resolve.

How to fix:
    Set spec.externalName to a DNS name that resolves; for a fixed IP use a selector-less Service
    with an EndpointSlice instead.

Example:
    The scenario fixtures/scenarios/externalname-ip-address: An ExternalName Service holds an IP
    address; cluster DNS answers with a CNAME that resolves nowhere.

    $ cd fixtures/scenarios/externalname-ip-address
    $ svcdoctor check postgres -n billing --snapshot snapshot.yaml
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping

from svcdoctor import k8s
from svcdoctor.checks.interface import Check, CheckDoc, Context
from svcdoctor.findings import Evidence, Finding, Severity, Skip
from svcdoctor.k8s import dns1123_subdomain_problem
from svcdoctor.snapshot import DNSAnswer


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return False
    return True


def _addresses(answer: DNSAnswer) -> list[str]:
    return [str(item) for item in answer.answers if isinstance(item, str)]


def _cnames_to(answer: DNSAnswer, target: str) -> bool:
    return any(isinstance(item, Mapping) and str(item.get("type", "")).upper() == "CNAME"
               and str(item.get("value", "")).rstrip(".").lower() == target.lower() for item in answer.answers)


def run(context: Context) -> Iterator[Finding]:
    service = context.require_service()
    if k8s.service_type(service) != "ExternalName":
        raise Skip("not an ExternalName Service")
    namespace, name = context.target.namespace, context.target.name
    raw = k8s.spec(service).get("externalName")
    external_name = str(raw or "").strip()
    field = "spec.externalName"
    service_fqdn = f"{name}.{namespace}.svc.{context.options.cluster_domain}"
    next_commands = [f"kubectl get service {name} -n {namespace} -o jsonpath='{{.spec.externalName}}'"]
    cleaned = external_name[:-1] if external_name.endswith(".") else external_name
    if not cleaned:
        yield CHECK.finding(
            f"ExternalName Service {namespace}/{name} has no spec.externalName, so cluster DNS has nothing to point "
            f"{service_fqdn} at: every lookup of it fails.",
            evidence=[Evidence(context.service_ref, field, raw, "empty")],
            next=next_commands,
            fix="Set spec.externalName to the DNS name of the external service (e.g. db.example.com), or change "
                "the type if this should be a normal Service.",
            subject=context.service_ref, subject_field=field,
        )
        return
    if _is_ip(cleaned):
        yield CHECK.finding(
            f"ExternalName Service {namespace}/{name} has the IP address {cleaned} as its externalName. Cluster DNS "
            f"answers {service_fqdn} with a CNAME to a name made of digits, which no DNS server resolves.",
            evidence=[Evidence(context.service_ref, field, external_name, "an IP address, not a DNS name")],
            next=[*next_commands, f"nslookup {service_fqdn}   # from a Pod: the CNAME leads nowhere"],
            fix=f"To send traffic to the address {cleaned}, use a Service without a selector plus an EndpointSlice "
                f"with that address (or a DNS name that resolves to it) instead of an ExternalName.",
            subject=context.service_ref, subject_field=field,
        )
        return
    problem = dns1123_subdomain_problem(cleaned)
    if problem:
        yield CHECK.finding(
            f"ExternalName Service {namespace}/{name} has externalName {external_name!r}, which is not a valid DNS "
            f"name: {problem}. The API server rejects it, and cluster DNS could not serve it anyway.",
            evidence=[Evidence(context.service_ref, field, external_name, problem)],
            next=next_commands,
            fix="Set spec.externalName to a valid lower-case DNS name such as db.example.com (no scheme, port or "
                "path).",
            subject=context.service_ref, subject_field=field,
        )
        return

    suffix = f".svc.{context.options.cluster_domain}"
    if cleaned.endswith(suffix):
        parts = cleaned[: -len(suffix)].split(".")
        if len(parts) == 2 and not context.snapshot.missing("services", parts[1]):
            target_name, target_namespace = parts
            if (context.snapshot.service(target_namespace, target_name) is None
                    and target_namespace in context.snapshot.namespace_names()):
                yield CHECK.finding(
                    f"ExternalName Service {namespace}/{name} points at {cleaned}, but there is no Service "
                    f"{target_name} in namespace {target_namespace}: the name does not resolve.",
                    evidence=[Evidence(context.service_ref, field, external_name, "an in-cluster Service name"),
                              Evidence(k8s.ObjectRef("Service", target_namespace, target_name), None, None,
                                       "does not exist")],
                    next=[*next_commands, f"kubectl get services -n {target_namespace}"],
                    fix=f"Point externalName at an existing Service, or create {target_namespace}/{target_name}.",
                    subject=context.service_ref, subject_field=field,
                )
                return

    # Answers for the name itself, and for the Service's own name when they show the CNAME to it (a
    # failing lookup of the Service name without that CNAME may be cluster DNS's fault, not the alias's).
    answers = [a for a in context.snapshot.dns_answers if a.type in ("A", "AAAA", "CNAME")
               and (a.name.rstrip(".").lower() == cleaned.lower()
                    or (a.name.rstrip(".").lower() == service_fqdn and _cnames_to(a, cleaned)))]
    if not answers:
        return  # nothing recorded: never claim a valid name fails
    if any(a.rcode == "NOERROR" and _addresses(a) for a in answers):
        return
    failing = [a for a in answers if a.rcode in ("NXDOMAIN", "NOERROR")]
    evidence = [Evidence(context.service_ref, field, external_name)]
    evidence += [Evidence(None, f"DNSAnswer {a.name} {a.type}", a.rcode,
                          (f"asked from {a.source}" if a.source else "") + (f" via {a.server}" if a.server else ""))
                 for a in answers[:4]]
    next_commands.append(f"kubectl run -it --rm dnscheck --image=busybox:1.36 --restart=Never -- nslookup {cleaned}")
    if failing:
        nxdomain = any(a.rcode == "NXDOMAIN" for a in failing)
        what = "does not exist (NXDOMAIN)" if nxdomain else "has no address records"
        yield CHECK.finding(
            f"ExternalName Service {namespace}/{name} points at {cleaned}, which {what} according to the recorded "
            f"DNS answers: clients looking up {service_fqdn} get no address.",
            evidence=evidence, next=next_commands,
            fix=f"Correct spec.externalName (is {cleaned} spelled right?), or create the DNS record it needs.",
            subject=context.service_ref, subject_field=field,
        )
    else:
        rcodes = ", ".join(sorted({a.rcode for a in answers}))
        yield CHECK.finding(
            f"ExternalName Service {namespace}/{name} points at {cleaned}, and the recorded lookups of it failed "
            f"({rcodes}): the upstream DNS servers could not answer, so clients may get no address.",
            severity=Severity.WARNING, evidence=evidence, next=next_commands, impact="unknown",
            fix="Check that the cluster DNS can reach the upstream resolvers that serve this name (CoreDNS "
                "forward plugin, node /etc/resolv.conf).",
            subject=context.service_ref, subject_field=field,
        )


CHECK = Check(
    id="SD206",
    name="external-name-invalid",
    step=2,
    explains=frozenset({"SD701", "SD702"}),
    doc=CheckDoc.parse(__doc__),
    run=run,
    needs=("services",),
)
