"""SD704 — Short name used from another namespace.

What it detects:
    A client in namespace B that names the Service of namespace A by its bare name — in a DNS answer
    it asked (``--probe`` or a recorded ``DNSAnswer``), or in its own spec (an environment value, a
    command-line argument such as ``http://backend:8080``).

Why it matters:
    A bare Service name is expanded with the client's own namespace first; from elsewhere it misses.

    The search list of a ClusterFirst Pod starts with ``<its own namespace>.svc.<zone>``, so
    ``backend`` from B means ``backend.B.svc.<zone>``: NXDOMAIN, or worse, a same-named Service of
    B.

How to fix:
    Name the Service as <service>.<namespace> from other namespaces.

Example:
    The scenario fixtures/scenarios/short-name-from-other-namespace: A client in namespace web uses
    the short name backend for a Service in shop; the recorded answer is NXDOMAIN.

    $ cd fixtures/scenarios/short-name-from-other-namespace
    $ svcdoctor check backend -n shop --from web/frontend-65rxg4lmd-k66wd --snapshot snapshot.yaml
"""

from __future__ import annotations

from collections.abc import Iterator

from svcdoctor import k8s
from svcdoctor.checks.interface import Check, CheckDoc, Context
from svcdoctor.dns.client import mentions, namespace_of_source
from svcdoctor.dns.domain import cluster_domain
from svcdoctor.dns.evidence import answers_about
from svcdoctor.findings import Evidence, Finding, NotChecked
from svcdoctor.minimal import masked


def run(context: Context) -> Iterator[Finding]:
    context.require_service()
    snapshot = context.snapshot
    namespace, name = context.target.namespace, context.target.name
    domain = cluster_domain(snapshot, context.options.cluster_domain).domain
    evidence: list[Evidence] = []
    client_namespaces: list[str] = []
    for item in answers_about(snapshot, namespace, name, domain):
        if item.relation != "short-elsewhere":
            continue
        answer = item.answer
        evidence.append(Evidence(None, "DNSAnswer", {"name": answer.name, "rcode": answer.rcode,
                                                     "answers": list(answer.answers), "from": answer.source}))
        client_namespaces.append(namespace_of_source(answer.source))
    pod = context.client_pod
    subject = None
    if pod is not None and k8s.namespace(pod) != namespace:
        for field, value in mentions(pod, name):
            # Masked as a recording masks it: the value may hold credentials around the host.
            evidence.append(Evidence(k8s.ref(pod), field, masked(value, frozenset({name})), f"the short name {name!r}"))
            client_namespaces.append(k8s.namespace(pod))
            subject = k8s.ref(pod)
    if not evidence:
        if context.client is None and not snapshot.dns_answers:
            raise NotChecked("no client and no DNS answers", "give --from NS/POD, or run with --probe")
        return
    others = sorted({ns for ns in client_namespaces if ns})
    local = [snapshot.service(ns, name) for ns in others]
    same_named = [f"{ns}/{name}" for ns, service in zip(others, local, strict=True) if service is not None]
    message = (f"The short name {name!r} is used from namespace {', '.join(others) or 'another namespace'}, but the "
               f"Service lives in {namespace}: there it means {name}.{others[0] if others else '<ns>'}.svc.{domain}")
    message += (f", which is Service {', '.join(same_named)} — the wrong Service." if same_named
                else ", which does not exist.")
    yield CHECK.finding(
        message,
        evidence=evidence,
        next=[f"kubectl get service {name} -A"],
        fix=f"Use {name}.{namespace} (or {name}.{namespace}.svc.{domain}) in the client's configuration.",
        subject=subject or context.service_ref,
    )


CHECK = Check(
    id="SD704",
    name="short-name-from-other-namespace",
    step=7,
    explains=frozenset({"SD701"}),
    doc=CheckDoc.parse(__doc__),
    run=run,
    runtime=True,
    confidence="likely",
)
