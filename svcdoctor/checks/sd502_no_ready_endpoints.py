"""SD502 — Endpoints exist, but none is ready.

What it detects:
    A Service whose endpoints are all not ready (``conditions.ready: false`` or
    ``notReadyAddresses``).

Why it matters:
    kube-proxy routes only to ready endpoints: with none ready the Service refuses every connection.

    kube-proxy sends traffic only to ready endpoints, so the Service behaves exactly as if it had
    none. The reason is on the Pods: not running (SD401), failing readiness probes (SD402) or unmet
    readiness gates (SD403) — which rank above this. Services with ``publishNotReadyAddresses`` are
    exempt. When the not-ready endpoints are terminating but still serving, kube-proxy uses them as
    a last resort (ProxyTerminatingEndpoints), so that case is a warning: the Service works until
    those Pods exit.

How to fix:
    Make the Pods ready: see their readiness probe, readiness gates and container state.

Example:
    The scenario fixtures/scenarios/crashloop-backend: The orders Pods crash at start (exit code 1)
    and sit in CrashLoopBackOff; no endpoint is ready.

    $ svcdoctor check orders -n shop --snapshot fixtures/scenarios/crashloop-backend/snapshot.yaml
"""

from __future__ import annotations

from collections.abc import Iterator

from svcdoctor import k8s
from svcdoctor.checks.interface import Check, CheckDoc, Context
from svcdoctor.findings import Evidence, Finding, Severity, Skip


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
    evidence = [Evidence(e.source, "endpoints[].conditions", {"ready": e.ready, "serving": e.serving,
                                                              "terminating": e.terminating},
                         f"endpoint {e.address}" + (f" ({e.target})" if e.target else "") + " is not ready")
                for e in endpoints[:10]]
    pods = sorted({str(e.target) for e in endpoints if e.target})
    message = (f"Service {namespace}/{name} has {len(endpoints)} endpoint(s) and none is ready"
               + (f" ({', '.join(pods[:5])}{', …' if len(pods) > 5 else ''})" if pods else ""))
    draining = [e for e in endpoints if e.terminating and e.serving]
    severity = Severity.ERROR
    if draining:
        # kube-proxy (ProxyTerminatingEndpoints, GA in 1.28) falls back to endpoints that are terminating but
        # still serving when no ready endpoint is left, so traffic flows until those Pods exit.
        severity = Severity.WARNING
        message += (f"; {len(draining)} of them are terminating but still serving, and kube-proxy sends traffic "
                    "there until they exit — then the Service has nothing.")
    else:
        message += ", so no traffic is sent to any of them."
    yield CHECK.finding(
        message,
        severity=severity,
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
    explains=frozenset({"SD207", "SD208", "SD211", "SD701", "SD702", "SD802", "SD803", "SD805", "SD903", "SD904"}),
    doc=CheckDoc.parse(__doc__),
    run=run,
    needs=("services", "endpointslices"),
    runtime=True,
)
