"""SD211 — Topology-aware routing leaves a zone without endpoints or hints.

What it detects:
    A Service that asks for topology-aware routing (annotation
    ``service.kubernetes.io/topology-mode: Auto``, the legacy
    ``service.kubernetes.io/topology-aware-hints``, or ``spec.trafficDistribution``) where ready
    endpoints carry no zone hints, or where a zone that has Ready nodes is named by no hint.

Why it matters:
    Topology-aware routing only keeps traffic in its zone when every ready endpoint carries a hint
    and every zone is hinted; otherwise kube-proxy silently routes across zones.

    kube-proxy then routes those nodes' traffic to endpoints in every zone — the safeguard
    documented for topology-aware routing — so traffic still flows, but not the way the Service asks
    (cross-zone latency and cost), and the EndpointSlice controller's events say why (too few
    endpoints, nodes without a zone label…). It is a note, not a fault; it also says when
    ``internalTrafficPolicy: Local`` makes kube-proxy ignore the hints.

How to fix:
    Spread ready endpoints across every zone with clients and label all nodes with their zone, or
    drop the topology setting.

Example:
    The scenario fixtures/scenarios/topology-zone-without-endpoints: trafficDistribution PreferClose
    with no endpoint in zone-c (a note: kube-proxy falls back).

    $ cd fixtures/scenarios/topology-zone-without-endpoints
    $ svcdoctor check search -n shop --snapshot snapshot.yaml
"""

from __future__ import annotations

from collections.abc import Iterator

from svcdoctor import derived, k8s
from svcdoctor.checks.interface import Check, CheckDoc, Context
from svcdoctor.endpoints import service_endpoints
from svcdoctor.findings import Evidence, Finding, Severity, Skip
from svcdoctor.ports import names_list

MODE_ANNOTATION = "service.kubernetes.io/topology-mode"
LEGACY_ANNOTATION = "service.kubernetes.io/topology-aware-hints"
ZONE_LABEL = "topology.kubernetes.io/zone"
DISTRIBUTIONS = ("PreferClose", "PreferSameZone", "PreferSameNode")


def _requested(service: k8s.Obj) -> tuple[str, object] | None:
    """The field that asks for topology-aware routing, and its value (None when it is not asked for)."""
    annotations = k8s.object_annotations(service)
    # The EndpointSlice controller reads the legacy annotation first: when present, it alone decides.
    key = LEGACY_ANNOTATION if LEGACY_ANNOTATION in annotations else MODE_ANNOTATION
    value = annotations.get(key)
    if value in ("Auto", "auto"):
        return f"metadata.annotations[{key!r}]", value
    distribution = k8s.spec(service).get("trafficDistribution")
    if distribution in DISTRIBUTIONS:
        return "spec.trafficDistribution", distribution
    return None


def run(context: Context) -> Iterator[Finding]:
    service = context.require_service()
    if k8s.service_type(service) == "ExternalName":
        raise Skip("an ExternalName Service has no endpoints to route")
    requested = _requested(service)
    if requested is None:
        raise Skip("topology-aware routing is not requested")
    field, value = requested
    snapshot = context.snapshot
    namespace, name = context.target.namespace, context.target.name
    request = Evidence(context.service_ref, field, value)
    next_commands = [f"kubectl get endpointslices -n {namespace} -l kubernetes.io/service-name={name} -o yaml",
                     f"kubectl get nodes -L {ZONE_LABEL}",
                     f"kubectl get events -n {namespace} --field-selector involvedObject.name={name}"]
    if k8s.spec(service).get("internalTrafficPolicy") == "Local":
        yield CHECK.finding(
            f"Service {namespace}/{name} asks for topology-aware routing ({field}: {value}) and also has "
            "internalTrafficPolicy: Local; kube-proxy then ignores the zone hints and uses only node-local "
            "endpoints.",
            severity=Severity.INFO, evidence=[request, Evidence(context.service_ref, "spec.internalTrafficPolicy",
                                                                "Local")],
            next=next_commands, fix="Use one of the two: zone hints or internalTrafficPolicy: Local.",
            subject=context.service_ref, subject_field=field, key="local",
        )
        return
    context.require_recorded("Node")
    ready = [e for e in service_endpoints(snapshot, namespace, name) if e.ready]
    if not ready:
        return  # no ready endpoints at all is SD501/SD502's finding
    zones: dict[str, list[str]] = {}
    unzoned = []
    for node in derived.ready_nodes(snapshot):
        zone = str(k8s.labels(node).get(ZONE_LABEL) or "")
        if zone:
            zones.setdefault(zone, []).append(k8s.name(node))
        else:
            unzoned.append(k8s.name(node))
    events = [e for e in snapshot.events_for("Service", namespace, name)
              if "Topology" in str(e.get("reason") or "") or "hint" in str(e.get("message") or "").lower()]
    event_evidence = [Evidence(k8s.ref(e), "reason", e.get("reason"), str(e.get("message") or ""))
                      for e in events[-2:]]
    without_hints = [e for e in ready if not e.hint_zones]
    if without_hints:
        share = "none of the" if len(without_hints) == len(ready) else f"{len(without_hints)} of {len(ready)}"
        why = ""
        if unzoned:
            why = f" Nodes without a {ZONE_LABEL} label ({names_list(unzoned)}) make the controller drop all hints."
        elif len(ready) < len(zones):
            why = f" There are fewer ready endpoints ({len(ready)}) than zones ({len(zones)}), so none are assigned."
        yield CHECK.finding(
            f"Service {namespace}/{name} asks for topology-aware routing ({field}: {value}), but {share} ready "
            f"endpoints carry zone hints, so kube-proxy ignores hints and routes across all zones.{why}",
            severity=Severity.INFO,
            evidence=[request, *(Evidence(e.source, "endpoints[].hints", None, f"{e.address}: no zone hint")
                                 for e in without_hints[:3]), *event_evidence],
            next=next_commands,
            fix="Give every zone enough ready endpoints (at least one per zone, better three), label every node "
                f"with {ZONE_LABEL}, or drop the annotation if zone-local routing is not needed.",
            subject=context.service_ref, subject_field=field, key="no-hints",
        )
        return
    hinted = {zone for e in ready for zone in e.hint_zones}
    uncovered = sorted(zone for zone in zones if zone not in hinted)
    if not uncovered:
        return
    endpoint_zones = sorted({e.zone for e in ready if e.zone})
    parts = [f"{zone} ({len(zones[zone])} node{'s' if len(zones[zone]) != 1 else ''}: "
             f"{names_list(zones[zone], 3)})" for zone in uncovered]
    yield CHECK.finding(
        f"Service {namespace}/{name} asks for topology-aware routing ({field}: {value}), but no ready endpoint is "
        f"hinted for zone {', '.join(parts)}; kube-proxy on those nodes falls back to endpoints in all zones, so "
        f"their traffic crosses zones. Ready endpoints are in {names_list(endpoint_zones) or 'unknown zones'}.",
        severity=Severity.INFO,
        evidence=[request, *(Evidence(k8s.ObjectRef("Node", "", zones[zone][0]), f"metadata.labels[{ZONE_LABEL!r}]",
                                      zone, "no endpoint is hinted for this zone") for zone in uncovered[:5]),
                  Evidence(None, "hinted zones", sorted(hinted)), *event_evidence],
        next=next_commands,
        fix="Run ready endpoints in every zone that has clients (e.g. a topologySpreadConstraint on "
            f"{ZONE_LABEL}), or accept cross-zone traffic for those zones.",
        subject=context.service_ref, subject_field=field, key="uncovered",
    )


CHECK = Check(
    id="SD211",
    name="topology-zone-uncovered",
    step=2,
    doc=CheckDoc.parse(__doc__),
    run=run,
    needs=("services", "endpointslices"),
    runtime=True,
    impact="degraded",
    confidence="likely",
)
