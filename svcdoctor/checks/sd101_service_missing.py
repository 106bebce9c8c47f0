"""SD101 — The Service does not exist.

What it detects:
    No Service of that name in that namespace.

Why it matters:
    Nothing can reach a Service that is not there; the cause is usually a typo or the wrong
    namespace.

    It is the first step of the Debug Services walk, and the usual reasons are a typo or the wrong
    namespace — so the finding lists the nearest names (edit distance) in the namespace, the same
    name in other namespaces, and which Ingresses or StatefulSets refer to the missing name.

How to fix:
    Create the Service, or correct the name or namespace the client uses.

Example:
    The scenario fixtures/scenarios/service-name-typo: The client asks for payments-api in prod;
    prod has payment-api (one letter off) and the name payments-api exists only in staging. SD101
    names both near misses.

    $ cd fixtures/scenarios/service-name-typo
    $ svcdoctor check payments-api -n prod --snapshot snapshot.yaml
"""

from __future__ import annotations

from collections.abc import Iterator

from svcdoctor import k8s
from svcdoctor.checks.interface import Check, CheckDoc, Context
from svcdoctor.findings import Evidence, Finding
from svcdoctor.k8s import ObjectRef
from svcdoctor.similarity import closest


def _referrers(context: Context) -> list[Evidence]:
    """Ingress backends and StatefulSets that name the missing Service."""
    namespace, name = context.target.namespace, context.target.name
    result = []
    for ingress in context.snapshot.ingresses:
        if k8s.namespace(ingress) != namespace:
            continue
        for field_path, backend_name in _ingress_backend_names(ingress):
            if backend_name == name:
                result.append(Evidence(k8s.ref(ingress), field_path, name, "an Ingress backend names this Service"))
    for stateful_set in context.snapshot.stateful_sets:
        if k8s.namespace(stateful_set) == namespace and k8s.spec(stateful_set).get("serviceName") == name:
            result.append(Evidence(k8s.ref(stateful_set), "spec.serviceName", name,
                                   "a StatefulSet names this as its governing Service"))
    return result


def _ingress_backend_names(ingress: k8s.Obj) -> Iterator[tuple[str, str]]:
    spec = k8s.spec(ingress)
    for key in ("defaultBackend", "backend"):
        backend = k8s.as_map(spec.get(key))
        backend_name = k8s.as_map(backend.get("service")).get("name") or backend.get("serviceName")
        if backend_name:
            yield f"spec.{key}", str(backend_name)
    for rule_index, rule in enumerate(k8s.as_list(spec.get("rules"))):
        paths = k8s.as_list(k8s.as_map(k8s.as_map(rule).get("http")).get("paths"))
        for path_index, path in enumerate(paths):
            backend = k8s.as_map(k8s.as_map(path).get("backend"))
            backend_name = k8s.as_map(backend.get("service")).get("name") or backend.get("serviceName")
            if backend_name:
                yield f"spec.rules[{rule_index}].http.paths[{path_index}].backend", str(backend_name)


def run(context: Context) -> Iterator[Finding]:
    if context.service is not None:
        return
    namespace, name = context.target.namespace, context.target.name
    snapshot = context.snapshot
    if snapshot.missing("services", namespace):
        return  # SD001 says why; an unreadable list proves nothing about existence.
    local_names = [k8s.name(s) for s in snapshot.services_in(namespace)]
    # In a redacted recording every name is a pseudonym: a near miss would be a coincidence.
    near = [] if snapshot.info.redacted else closest(name, local_names)
    elsewhere = sorted(k8s.namespace(s) for s in snapshot.services if k8s.name(s) == name
                       and k8s.namespace(s) != namespace)
    evidence = [Evidence(ObjectRef("Service", namespace, n), None, None, "a Service with a similar name")
                for n in near]
    evidence += [Evidence(ObjectRef("Service", other, name), None, None, "the same name in another namespace")
                 for other in elsewhere]
    evidence += _referrers(context)
    hints = []
    if near:
        hints.append("Did you mean " + " or ".join(repr(n) for n in near) + "?")
    if elsewhere:
        hints.append(f"A Service named {name!r} exists in namespace {', '.join(elsewhere)}.")
    if snapshot.info.redacted:
        hints.append("This recording is redacted: its names are pseudonyms. Check the Service by the pseudonym "
                     "`record --redact` or `svcdoctor redact` printed (or look it up in the --redact-map file).")
    if not hints:
        hints.append(f"Namespace {namespace} has {len(local_names)} Service(s), none with a similar name."
                     if local_names else f"Namespace {namespace} has no Services at all.")
    next_commands = [f"kubectl get services -n {namespace}",
                     f"kubectl get services -A --field-selector metadata.name={name}"]
    fix = f"Create the Service {name} in namespace {namespace}, or correct the name or namespace the client uses."
    if near:
        fix = f"Use the existing Service {near[0]!r} (or rename it), or create {name!r} in {namespace}."
    elif elsewhere:
        fix = (f"Address it as {name}.{elsewhere[0]} (or {name}.{elsewhere[0]}.svc), or create it in {namespace}.")
    yield CHECK.finding(
        f"There is no Service {name!r} in namespace {namespace}. " + " ".join(hints),
        evidence=evidence,
        next=next_commands,
        fix=fix,
        subject=context.service_ref,
    )


CHECK = Check(
    id="SD101",
    name="service-missing",
    step=1,
    doc=CheckDoc.parse(__doc__),
    run=run,
    needs=("services",),
)
