"""SD214 — A Gateway API route cannot reach this Service.

What it detects:
    Every HTTPRoute, GRPCRoute, TLSRoute, TCPRoute and UDPRoute, in any namespace, whose
    ``backendRefs`` name this Service, and each reason it cannot send to it: the ``port`` is not one
    of the Service's ports (or missing — a Service backendRef needs one); a reference from another
    namespace that no ReferenceGrant in the Service's namespace permits (``RefNotPermitted``); a
    parent Gateway that does not exist or has no listener the ``sectionName``/``port`` names
    (``NoMatchingParent``), whose listeners do not allow the route's namespace or kind
    (``allowedRoutes``; ``NotAllowedByListeners``) or whose listener hostnames do not intersect the
    route's ``hostnames`` (``NoMatchingListenerHostname``); and any ``Accepted`` or
    ``ResolvedRefs`` condition the implementation set to False in ``status.parents`` (with its
    reason, e.g. ``BackendNotFound``, ``InvalidKind``), said to be stale when written for an older
    generation of the route. The spec-derived reasons are what the Gateway API conformance tests
    require implementations to report (gateway-api v1.6.1). A ListenerSet parent is not evaluated
    (its listeners are not read): step 2 is then ``partial`` naming it, and the condition its
    implementation reported for it is still read.

    A snapshot that holds no objects of a route kind, of ``Gateway`` (for a route's parent) or of
    ``ReferenceGrant`` (for a route in another namespace), and does not say it listed them
    (``SnapshotInfo.recorded``), leaves step 2 ``partial`` naming those kinds: a parent or grant
    that was not recorded is not said to be missing. Live, a CRD that is not installed (404) means
    none exist; a refused read (403) makes the step ``unknown``.

Why it matters:
    Traffic that enters through the Gateway never reaches the Service, while the Service itself
    works from inside the cluster.

    The Gateway answers 404 (no route attached) or 500 (a backend it cannot resolve), and route
    status is easy to miss: it is per parent, per condition, written by a controller some time
    later.

How to fix:
    Point the backendRef at a Service port (spec.ports[].port, not the targetPort), create the
    ReferenceGrant in the Service's namespace, or make a listener of the parent Gateway allow the
    route (namespace, kind, hostname, sectionName).

Example:
    The scenario fixtures/scenarios/gateway-route-cross-namespace-no-grant: an HTTPRoute in
    namespace web sends to Service shop/cart without a ReferenceGrant in shop; Envoy Gateway reports
    ResolvedRefs=False, RefNotPermitted.

    $ cd fixtures/scenarios/gateway-route-cross-namespace-no-grant
    $ svcdoctor check cart -n shop --snapshot snapshot.yaml
"""

from __future__ import annotations

from collections.abc import Iterator

from svcdoctor import k8s
from svcdoctor.checks.interface import Check, CheckDoc, Context
from svcdoctor.findings import Evidence, Finding, Unknown
from svcdoctor.gateway import GROUP, ROUTE_KINDS, RouteReport, route_reports, unevaluated_parents

ROUTE_RESOURCES = ("httproutes", "grpcroutes", "tlsroutes", "tcproutes", "udproutes")


def kinds_read(reports: list[RouteReport], namespace: str) -> Iterator[tuple[str, str]]:
    """(kind, namespace) of what judging the routes needs: every route kind, and for the routes that name
    the Service their parent Gateways and, from another namespace, the ReferenceGrants beside the Service."""
    for kind in ROUTE_KINDS:
        yield kind, ""
    for report in reports:
        route_namespace = report.ref.namespace
        for parent in k8s.as_list(k8s.spec(report.route).get("parentRefs")):
            entry = k8s.as_map(parent)
            if str(entry.get("group") or GROUP) == GROUP and str(entry.get("kind") or "Gateway") == "Gateway":
                yield "Gateway", str(entry.get("namespace") or route_namespace)
        if route_namespace != namespace:
            yield "ReferenceGrant", namespace


def run(context: Context) -> Iterator[Finding]:
    context.require_service()
    namespace, name = context.target.namespace, context.target.name
    reports = route_reports(context.snapshot, namespace, name)
    # A route, Gateway or grant the snapshot does not hold may exist all the same: said, never a pass.
    context.note_unrecorded_kinds(kinds_read(reports, namespace))
    listener_sets = [f"{report.ref.kind} {report.ref.namespace}/{report.ref.name} → {parent}"
                     for report in reports for parent in unevaluated_parents(report.route)]
    if listener_sets:
        context.note_unverified(f"not evaluated: ListenerSet parents ({'; '.join(listener_sets)})",
                                "read the route's status.parents, or kubectl get listenerset -A -o yaml")
    if not reports:
        for resource in ROUTE_RESOURCES:
            missing = context.snapshot.missing(resource)
            if missing is not None and "404" not in missing.reason:
                raise Unknown(f"could not {missing.verb} {resource}: {missing.reason}")
        return
    for report in reports:
        if not report.problems:
            continue
        kind, route_namespace, route_name = report.ref.kind, report.ref.namespace, report.ref.name
        reasons = "; ".join(f"{p.message}" + ("" if p.reported else f" ({p.condition}: {p.reason})")
                            for p in report.problems)
        ports = ", ".join(sorted({str(r.port) for r in report.refs if r.port is not None})) or "no port"
        message = (f"{kind} {route_namespace}/{route_name} sends to Service {namespace}/{name} (port {ports}) but "
                   f"cannot reach it: {reasons}. Requests through the Gateway fail (404 with no route attached, "
                   "500 for a backend that does not resolve) while the Service itself works.")
        fixes = list(dict.fromkeys(p.fix for p in report.problems if p.fix))
        first = report.problems[0]
        yield CHECK.finding(
            message,
            evidence=[Evidence(p.route, p.field, p.reason, p.message) for p in report.problems],
            next=[f"kubectl get {kind.lower()} {route_name} -n {route_namespace} -o yaml",
                  f"kubectl describe {kind.lower()} {route_name} -n {route_namespace}",
                  *(f"kubectl get gateway {g.split('/')[1]} -n {g.split('/')[0]} -o yaml"
                    for g in dict.fromkeys(p.gateway for p in report.problems if p.gateway))],
            fix="\n".join(fixes) or CHECK.fix,
            subject=report.ref,
            subject_field=first.field,
            key=f"{kind}/{route_namespace}/{route_name}",
        )


CHECK = Check(
    id="SD214",
    name="gateway-route-cannot-reach",
    step=2,
    doc=CheckDoc.parse(__doc__),
    run=run,
    needs=("services",),
    impact="degraded",
)
