"""SD502 — endpoints exist, but none is ready.

Detects: a Service whose endpoints are all not ready (``conditions.ready: false`` or
``notReadyAddresses``). Why it matters: kube-proxy sends traffic only to ready endpoints, so the
Service behaves exactly as if it had none. The reason is on the Pods: not running (SD401),
failing readiness probes (SD402) or unmet readiness gates (SD403) — which rank above this.
Services with ``publishNotReadyAddresses`` are exempt.
"""

from __future__ import annotations

from collections.abc import Iterator

from svcdoctor import k8s
from svcdoctor.checks.interface import Check, Context, Evidence, Finding, Skip


def run(context: Context) -> Iterator[Finding]:
    service = context.require_service()
    if k8s.service_type(service) == "ExternalName":
        raise Skip("an ExternalName Service has no endpoints")
    namespace, name = context.target.namespace, context.target.name
    endpoints = context.service_endpoints
    if not endpoints or any(e.ready for e in endpoints):
        return
    if k8s.spec(service).get("publishNotReadyAddresses"):
        return
    evidence = [Evidence(e.target or e.source, "conditions.ready", False, f"endpoint {e.address} is not ready")
                for e in endpoints[:10]]
    pods = sorted({str(e.target) for e in endpoints if e.target})
    yield CHECK.finding(
        f"Service {namespace}/{name} has {len(endpoints)} endpoint(s) and none is ready, so no traffic is "
        "sent to any of them" + (f" ({', '.join(pods[:5])})." if pods else "."),
        evidence=evidence,
        next=[f"kubectl get endpointslices -n {namespace} -l kubernetes.io/service-name={name} -o yaml",
              f"kubectl get pods -n {namespace} -o wide"]
             + [f"kubectl describe pod {p.split('/', 1)[-1]} -n {namespace}" for p in pods[:2]],
        subject=context.service_ref,
    )


CHECK = Check(
    id="SD502",
    name="no-ready-endpoints",
    step=5,
    title="Endpoints exist, but none is ready",
    why="kube-proxy routes only to ready endpoints: with none ready the Service refuses every connection.",
    fix="Make the Pods ready: see their readiness probe, readiness gates and container state.",
    run=run,
    needs=("services", "endpointslices"),
    runtime=True,
)
