"""SD503 — The endpoints are stale (gone Pods listed, or ready Pods missing).

What it detects:
    For a Service with a selector: endpoint addresses whose Pod no longer exists, whose Pod now has
    another IP, or whose Pod no longer matches the selector; and ready, running, selected Pods whose
    address is in no endpoint at all. Pods that resolve none of the Service's ports (SD202) and
    terminating Pods are left out, since the controllers treat them so on purpose.

Why it matters:
    kube-proxy programs exactly what the EndpointSlices list: stale addresses blackhole connections
    and missing Pods take no traffic.

    kube-proxy programs exactly what the EndpointSlices say, so stale addresses blackhole a share of
    connections (timeouts), and missing Pods mean lost capacity — or no backend at all. It points at
    a lagging or broken endpoints controller, or at a hand-edited or mirrored object.

How to fix:
    Find out why the endpoints controller is not keeping up (kube-controller-manager health and
    logs, API server load); remove hand-written or mirrored EndpointSlices/Endpoints that carry the
    controller's labels.

Example:
    The scenario fixtures/scenarios/endpoints-stale-deleted-pod: The endpoints still list a deleted
    Pod and miss its ready replacement: the endpoints controller has not caught up.

    $ cd fixtures/scenarios/endpoints-stale-deleted-pod
    $ svcdoctor check profile -n accounts --snapshot snapshot.yaml
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import timedelta
from typing import Any

from svcdoctor import k8s
from svcdoctor.checks.interface import Check, CheckDoc, Context
from svcdoctor.endpoints import Endpoint, has_endpoint_objects
from svcdoctor.findings import Evidence, Finding, Severity, Skip
from svcdoctor.k8s import Obj
from svcdoctor.pod_health import age_text

#: A Pod that turned ready this recently may not be in the EndpointSlices yet: normal propagation.
PROPAGATION = timedelta(seconds=15)


def resolves_port(pod: Obj, service_port: Mapping[str, Any]) -> bool:
    """Whether the endpoints controller finds ``targetPort`` on the Pod (a number always resolves)."""
    target = k8s.target_port(service_port)
    if isinstance(target, int):
        return True
    protocol = k8s.port_protocol(service_port)
    return any(port.get("name") == target and k8s.port_protocol(port) == protocol
               for _, port in k8s.container_ports(pod))


def _stale(context: Context, endpoint: Endpoint) -> str:
    """Why the endpoint is stale ("" when it is not)."""
    snapshot = context.snapshot
    target = endpoint.target
    if target is not None and target.kind == "Pod":
        pod = snapshot.pod(target.namespace, target.name)
        if pod is None:
            return f"Pod {target.namespace}/{target.name} no longer exists"
        ips = k8s.pod_ips(pod)
        if ips and endpoint.address not in ips:
            return f"Pod {target.namespace}/{target.name} now has IP {', '.join(ips)}"
        if target.namespace == context.target.namespace and not context.selector.matches(k8s.labels(pod)):
            return f"Pod {target.namespace}/{target.name} no longer matches the selector"
        return ""
    if target is None:
        pods = [p for p in snapshot.pods_with_ip(endpoint.address)
                if k8s.namespace(p) == context.target.namespace and k8s.pod_phase(p) not in ("Succeeded", "Failed")]
        if not pods:
            return "no Pod has this address"
    return ""


def run(context: Context) -> Iterator[Finding]:
    service = context.require_service()
    if k8s.service_type(service) == "ExternalName" or not context.has_selector:
        raise Skip("only selector Services have controller-managed endpoints")
    snapshot = context.snapshot
    namespace, name = context.target.namespace, context.target.name
    context.require_recorded("EndpointSlice", "Endpoints", namespace=namespace)
    endpoints = context.service_endpoints
    now = snapshot.now
    evidence: list[Evidence] = []
    stale_lines: list[str] = []
    stale_addresses: set[str] = set()
    for endpoint in endpoints:
        reason = _stale(context, endpoint)
        if reason and endpoint.address not in stale_addresses:
            stale_addresses.add(endpoint.address)
            stale_lines.append(f"{endpoint.address} ({reason})")
            evidence.append(Evidence(endpoint.source, "endpoints", endpoint.address, reason))

    listed_pods = {e.target.name for e in endpoints if e.target is not None and e.target.kind == "Pod"}
    listed_addresses = {e.address for e in endpoints}
    ports = k8s.service_ports(service)
    legacy_truncated = (not snapshot.endpoint_slices_for(namespace, name)
                        and k8s.object_annotations(snapshot.endpoints_for(namespace, name) or {}).get(
                            "endpoints.kubernetes.io/over-capacity") == "truncated")
    missing: list[str] = []
    for pod in context.selected_pods:
        if (legacy_truncated or k8s.pod_is_terminating(pod) or not k8s.pod_is_ready(pod)
                or k8s.pod_phase(pod) != "Running" or not k8s.pod_ips(pod)):
            continue
        if k8s.name(pod) in listed_pods or set(k8s.pod_ips(pod)) & listed_addresses:
            continue
        if ports and not any(resolves_port(pod, port) for port in ports):
            continue  # no port resolves: SD202's, and the legacy controller leaves such Pods out
        ready_since = k8s.parse_time((k8s.pod_condition(pod, "Ready") or {}).get("lastTransitionTime"))
        if ready_since is not None and now - ready_since < PROPAGATION:
            continue
        text = f"{k8s.name(pod)} ({k8s.pod_ip(pod)}, ready for {age_text(ready_since, now)})"
        missing.append(text)
        evidence.append(Evidence(k8s.ref(pod), "status.podIP", k8s.pod_ip(pod),
                                 "ready and selected, but in no endpoint of the Service"))
    if not stale_lines and not missing:
        return

    good = [e for e in endpoints if e.ready and e.address not in stale_addresses]
    parts = []
    if stale_lines:
        parts.append(f"{len(stale_lines)} endpoint address(es) point at Pods that are gone or changed: "
                     + "; ".join(stale_lines[:5]) + ("; …" if len(stale_lines) > 5 else ""))
    if missing:
        parts.append(f"{len(missing)} ready selected Pod(s) are missing from the endpoints: "
                     + "; ".join(missing[:5]) + ("; …" if len(missing) > 5 else ""))
    if not good and (stale_lines or missing):
        severity = Severity.ERROR
        tail = " No valid ready endpoint is left: connections fail."
    else:
        severity = Severity.WARNING
        tail = " Part of the traffic goes to addresses that do not answer, or capacity is lost."
    if not has_endpoint_objects(snapshot, namespace, name):
        tail = " No EndpointSlice or Endpoints object exists for the Service at all." + tail
    selector_text = ",".join(f"{k}={v}" for k, v in (k8s.spec(service).get("selector") or {}).items())
    managed_by = sorted({str(k8s.labels(s).get("endpointslice.kubernetes.io/managed-by") or "")
                         for s in snapshot.endpoint_slices_for(namespace, name)} - {""})
    message = f"The endpoints of Service {namespace}/{name} are stale: " + ". ".join(parts) + "." + tail
    if managed_by and any("endpointslice-controller" not in m for m in managed_by):
        message += f" The EndpointSlices are managed by {', '.join(managed_by)}, not the built-in controller."
    yield CHECK.finding(
        message,
        severity=severity,
        evidence=evidence[:12],
        next=[f"kubectl get endpointslices -n {namespace} -l kubernetes.io/service-name={name} -o wide",
              f"kubectl get pods -n {namespace} -l {selector_text} -o wide",
              "kubectl logs -n kube-system -l component=kube-controller-manager --tail=200 | grep -i endpoint"],
        subject=context.service_ref,
    )


CHECK = Check(
    id="SD503",
    name="endpoints-stale",
    step=5,
    # Ready Pods the endpoints controller never wrote down: that is why there are no endpoints.
    explains=frozenset({"SD501"}),
    doc=CheckDoc.parse(__doc__),
    run=run,
    needs=("services", "pods", "endpointslices"),
    runtime=True,
)
