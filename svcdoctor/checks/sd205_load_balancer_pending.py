"""SD205 — The LoadBalancer has no external address.

What it detects:
    ``type: LoadBalancer`` with no ``status.loadBalancer.ingress`` (``kubectl get svc`` shows
    EXTERNAL-IP ``<pending>``).

Why it matters:
    Without status.loadBalancer.ingress nothing outside the cluster can reach the Service's external
    address: no load-balancer controller (cloud controller manager, MetalLB) assigned one.

    Nothing outside the cluster can use the Service's external address, because none was assigned —
    usually no cloud controller manager or MetalLB runs, a ``loadBalancerClass`` names a controller
    that is not installed, or the cloud refused (quota, subnet, annotation). The ClusterIP and node
    ports still work, so this degrades the external exposure only. Events from the service
    controller (``SyncLoadBalancerFailed`` …) are the evidence of why; the age is measured from the
    snapshot's time, never the wall clock.

How to fix:
    Run a load-balancer implementation (cloud controller manager, MetalLB) and fix the errors in the
    Service's events, or expose the Service another way.

Example:
    The scenario fixtures/scenarios/loadbalancer-pending-quota: A LoadBalancer has been pending for
    two days; the cloud refuses for lack of address quota.

    $ cd fixtures/scenarios/loadbalancer-pending-quota
    $ svcdoctor check storefront -n web --snapshot snapshot.yaml
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import timedelta

from svcdoctor import k8s
from svcdoctor.checks.interface import Check, CheckDoc, Context
from svcdoctor.findings import Evidence, Finding, Severity, Skip

#: A fresh LoadBalancer normally gets its address within a few minutes.
PROVISIONING_GRACE = timedelta(minutes=5)

FAILURE_REASONS = ("SyncLoadBalancerFailed", "CreatingLoadBalancerFailed", "UpdateLoadBalancerFailed",
                   "LoadBalancerUpdateFailed", "DeletingLoadBalancerFailed", "AllocationFailed",
                   "IPAllocationFailed")


def _age_text(age: timedelta) -> str:
    minutes = int(age.total_seconds() // 60)
    if minutes < 120:
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    hours = minutes // 60
    if hours < 48:
        return f"{hours} hours"
    return f"{hours // 24} days"


def run(context: Context) -> Iterator[Finding]:
    service = context.require_service()
    if k8s.service_type(service) != "LoadBalancer":
        raise Skip("not a LoadBalancer Service")
    ingress = [item for item in k8s.as_list(k8s.as_map(k8s.status(service).get("loadBalancer")).get("ingress"))
               if isinstance(item, Mapping) and (item.get("ip") or item.get("hostname"))]
    if ingress:
        return
    namespace, name = context.target.namespace, context.target.name
    snapshot = context.snapshot
    evidence = [Evidence(context.service_ref, "status.loadBalancer.ingress", None, "no external address assigned")]
    created = k8s.parse_time(k8s.meta(service).get("creationTimestamp"))
    age = snapshot.now - created if created is not None else None
    events = sorted(snapshot.events_for("Service", namespace, name),
                    key=lambda e: str(e.get("lastTimestamp") or e.get("eventTime") or ""))
    about_load_balancer = [e for e in events if e.get("reason") in FAILURE_REASONS
                           or "load balancer" in str(e.get("message") or "").lower()
                           or "loadbalancer" in str(e.get("reason") or "").lower()]
    failures = [e for e in about_load_balancer
                if e.get("reason") in FAILURE_REASONS or str(e.get("type")) == "Warning"]
    for event in (failures or about_load_balancer)[-3:]:
        count = event.get("count") or k8s.as_map(event.get("series")).get("count")
        evidence.append(Evidence(k8s.ref(event), "reason", event.get("reason"),
                                 str(event.get("message") or "") + (f" (×{count})" if count else "")))
    load_balancer_class = k8s.spec(service).get("loadBalancerClass")
    if load_balancer_class:
        evidence.append(Evidence(context.service_ref, "spec.loadBalancerClass", load_balancer_class,
                                 "only the controller that implements this class assigns an address"))
    reasons = []
    if failures:
        last = failures[-1]
        reasons.append(f"the last error says: {last.get('reason')}: {str(last.get('message') or '').strip()}")
    elif load_balancer_class:
        reasons.append(f"it asks for loadBalancerClass {load_balancer_class!r}, and no controller of that class "
                       "has answered")
    else:
        reasons.append("no event shows a load-balancer controller working on it — usually no cloud controller "
                       "manager or MetalLB (or similar) runs in this cluster")
    age_text = f" for {_age_text(age)}" if age is not None and age >= timedelta(0) else ""
    ports_text = ", ".join(f"{p.get('nodePort')}" for p in k8s.service_ports(service) if p.get("nodePort"))
    message = (f"LoadBalancer Service {namespace}/{name} has had no external address{age_text} "
               f"(EXTERNAL-IP <pending>): {'; '.join(reasons)}. Clients outside the cluster cannot use it; "
               "the ClusterIP" + (f" and the node ports ({ports_text})" if ports_text else "") + " still work.")
    next_commands = [f"kubectl describe service {name} -n {namespace}",
                     f"kubectl get events -n {namespace} --field-selector involvedObject.name={name}",
                     "kubectl get pods -A | grep -Ei 'cloud-controller|metallb|load-?balancer'"]
    fix = ("Install or repair the load-balancer implementation for this cluster (the cloud controller manager, "
           "or MetalLB / kube-vip with an address pool on bare metal), fix what its events report, "
           "or use type NodePort / an Ingress instead.")
    young = age is not None and age < PROVISIONING_GRACE and not failures
    yield CHECK.finding(
        message if not young else
        f"LoadBalancer Service {namespace}/{name} was created {_age_text(age or timedelta(0))} before the snapshot "
        "and has no external address yet; it is most likely still being provisioned.",
        severity=Severity.INFO if young else Severity.WARNING,
        evidence=evidence, next=next_commands, fix=fix,
        subject=context.service_ref, subject_field="status.loadBalancer",
    )


CHECK = Check(
    id="SD205",
    name="load-balancer-pending",
    step=2,
    explains=frozenset({"SD904"}),
    doc=CheckDoc.parse(__doc__),
    run=run,
    needs=("services",),
    runtime=True,
    impact="degraded",
)
