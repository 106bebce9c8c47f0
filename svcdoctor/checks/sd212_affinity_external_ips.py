"""SD212 — sessionAffinity / externalIPs notes.

What it detects:
    ``sessionAffinity: ClientIP`` (with its timeout) and ``spec.externalIPs``.

Why it matters:
    ClientIP affinity pins clients to one Pod for hours; externalIPs are not managed by Kubernetes
    and are a known traffic-interception risk (CVE-2020-8554).

    Neither breaks a Service, but both surprise people while debugging. ClientIP affinity pins each
    client address to one Pod for ``timeoutSeconds`` (default 10800 s, three hours): load stays
    uneven, a client keeps hitting the one Pod that misbehaves, and every client behind one NAT
    address lands on the same Pod. externalIPs are not managed by Kubernetes — nothing routes those
    addresses to the nodes unless the network is set up for it — and letting users set them is a
    known traffic-interception risk (CVE-2020-8554), which is why many clusters block them with the
    DenyServiceExternalIPs admission plugin.

How to fix:
    Use sessionAffinity only when the application needs it; prefer LoadBalancer Services to
    externalIPs.

Example:
    The scenario fixtures/scenarios/session-affinity-and-external-ips: ClientIP session affinity and
    a hand-set external IP (notes only).

    $ cd fixtures/scenarios/session-affinity-and-external-ips
    $ svcdoctor check portal -n legacy --snapshot snapshot.yaml
"""

from __future__ import annotations

from collections.abc import Iterator

from svcdoctor import k8s
from svcdoctor.checks.interface import Check, CheckDoc, Context
from svcdoctor.findings import Evidence, Finding, Severity, Skip

DEFAULT_AFFINITY_SECONDS = 10800


def _duration(seconds: int) -> str:
    if seconds % 3600 == 0 and seconds >= 3600:
        hours = seconds // 3600
        return f"{hours} hour{'s' if hours != 1 else ''}"
    if seconds % 60 == 0 and seconds >= 60:
        return f"{seconds // 60} minutes"
    return f"{seconds} seconds"


def run(context: Context) -> Iterator[Finding]:
    service = context.require_service()
    if k8s.service_type(service) == "ExternalName":
        raise Skip("an ExternalName Service is a DNS alias")
    namespace, name = context.target.namespace, context.target.name
    spec = k8s.spec(service)
    if spec.get("sessionAffinity") == "ClientIP":
        config = k8s.as_map(k8s.as_map(spec.get("sessionAffinityConfig")).get("clientIP"))
        timeout = config.get("timeoutSeconds")
        seconds = timeout if isinstance(timeout, int) and timeout > 0 else DEFAULT_AFFINITY_SECONDS
        headless = k8s.is_headless(service)
        yield CHECK.finding(
            f"Service {namespace}/{name} has sessionAffinity: ClientIP: each client address sticks to one Pod for "
            f"{_duration(seconds)} after its last connection"
            + ("" if isinstance(timeout, int) else " (the default)")
            + ". A client keeps reaching the same Pod even if that Pod misbehaves, load stays uneven, and all "
            "clients behind one NAT address or proxy share one Pod."
            + (" On a headless Service it has no effect (there is no virtual IP to balance)." if headless else ""),
            severity=Severity.INFO,
            evidence=[Evidence(context.service_ref, "spec.sessionAffinity", "ClientIP"),
                      Evidence(context.service_ref, "spec.sessionAffinityConfig.clientIP.timeoutSeconds",
                               seconds, "" if isinstance(timeout, int) else "default")],
            next=[f"kubectl get service {name} -n {namespace} -o jsonpath='{{.spec.sessionAffinityConfig}}'"],
            fix="Keep ClientIP affinity only if the application needs it; otherwise set sessionAffinity: None, "
                "or shorten sessionAffinityConfig.clientIP.timeoutSeconds.",
            subject=context.service_ref, subject_field="spec.sessionAffinity", key="affinity",
        )
    external_ips = [str(ip) for ip in k8s.as_list(spec.get("externalIPs"))]
    if external_ips:
        yield CHECK.finding(
            f"Service {namespace}/{name} lists externalIPs {', '.join(external_ips)}. Kubernetes does not manage "
            "these addresses: kube-proxy accepts traffic for them on every node, but only if the network routes "
            "them to a node. Whoever may create Services can claim any address this way and intercept traffic "
            "meant for it (CVE-2020-8554), so many clusters forbid externalIPs.",
            severity=Severity.INFO,
            evidence=[Evidence(context.service_ref, "spec.externalIPs", external_ips,
                               "not allocated or routed by Kubernetes")],
            next=[f"ip route get {external_ips[0]}   # from a client: does the address route to a node?",
                  "kubectl get services -A -o jsonpath='{range .items[?(@.spec.externalIPs)]}"
                  "{.metadata.namespace}/{.metadata.name}: {.spec.externalIPs}{\"\\n\"}{end}'"],
            fix="Prefer type LoadBalancer (with a load-balancer implementation) over externalIPs; if you keep them, "
                "route the addresses to the nodes yourself and restrict who may set them (DenyServiceExternalIPs "
                "admission plugin or a policy engine).",
            subject=context.service_ref, subject_field="spec.externalIPs", key="external-ips",
        )


CHECK = Check(
    id="SD212",
    name="affinity-and-external-ips",
    step=2,
    doc=CheckDoc.parse(__doc__),
    run=run,
    needs=("services",),
    impact="none",
)
