"""SD209 — No selector and no manually managed endpoints.

What it detects:
    A Service (not ExternalName) with no ``spec.selector`` for which no EndpointSlice (labelled
    ``kubernetes.io/service-name``) and no Endpoints object of the same name exists.

Why it matters:
    A Service without a selector gets no endpoints from Kubernetes; without hand-made EndpointSlices
    or Endpoints it has nothing behind it and every connection fails.

    Without a selector Kubernetes creates no endpoints — they must be written by hand or by another
    controller — so the Service has nothing behind it and every connection fails. Usually the
    selector was dropped by mistake, or the hand-made EndpointSlice lacks the
    ``kubernetes.io/service-name`` label (or the Endpoints object has another name); the finding
    names such near misses.

How to fix:
    Add a selector matching the backend Pods, or create an EndpointSlice labelled
    kubernetes.io/service-name=<service> with the backend addresses.

Example:
    The scenario fixtures/scenarios/selectorless-slice-missing-label: A selector-less Service whose
    hand-made EndpointSlice lacks the kubernetes.io/service-name label.

    $ cd fixtures/scenarios/selectorless-slice-missing-label
    $ svcdoctor check legacy-db -n billing --snapshot snapshot.yaml
"""

from __future__ import annotations

from collections.abc import Iterator

from svcdoctor import derived, k8s
from svcdoctor.checks.interface import Check, CheckDoc, Context
from svcdoctor.findings import Evidence, Finding, Skip
from svcdoctor.similarity import closest

SERVICE_NAME_LABEL = "kubernetes.io/service-name"


def run(context: Context) -> Iterator[Finding]:
    service = context.require_service()
    if k8s.service_type(service) == "ExternalName":
        raise Skip("an ExternalName Service needs no endpoints")
    if context.has_selector:
        raise Skip("the Service has a selector; Kubernetes manages its endpoints")
    snapshot = context.snapshot
    namespace, name = context.target.namespace, context.target.name
    if snapshot.endpoint_slices_for(namespace, name) or snapshot.endpoints_for(namespace, name) is not None:
        return  # manually managed endpoints exist; SD501 judges whether they hold addresses
    if not snapshot.static:
        context.require_recorded("EndpointSlice", "Endpoints", namespace=namespace)
    selector_field = k8s.spec(service).get("selector")
    evidence = [Evidence(context.service_ref, "spec.selector", selector_field,
                         "empty" if selector_field is not None else "not set")]
    hints = []
    near_slices: list[str] = []
    slice_names = {}
    for endpoint_slice in derived.endpoint_slices_in(snapshot, namespace):
        slice_names[k8s.name(endpoint_slice)] = endpoint_slice
    for slice_name, endpoint_slice in slice_names.items():
        label = k8s.labels(endpoint_slice).get(SERVICE_NAME_LABEL)
        if (label is None and slice_name.startswith(name)) or (label and closest(name, [str(label)])):
            note = (f"labelled {SERVICE_NAME_LABEL}={label}" if label is not None
                    else f"has no {SERVICE_NAME_LABEL} label")
            hints.append(f"EndpointSlice {slice_name} looks meant for it but {note}")
            near_slices.append(slice_name)
            evidence.append(Evidence(k8s.ref(endpoint_slice), f"metadata.labels[{SERVICE_NAME_LABEL!r}]", label,
                                     f"the label must be {name} for the slice to belong to this Service"))
    legacy_names = [k8s.name(e) for e in derived.endpoints_in(snapshot, namespace)]
    near_legacy = closest(name, legacy_names)
    for near in near_legacy:
        hints.append(f"an Endpoints object is named {near!r}; it must have exactly the Service's name")
        evidence.append(Evidence(k8s.ObjectRef("Endpoints", namespace, near), "metadata.name", near,
                                 f"the Service is {name}"))
    where = "in these manifests" if snapshot.static else "in the cluster"
    message = (f"Service {namespace}/{name} has no selector, so Kubernetes creates no endpoints for it, and no "
               f"EndpointSlice or Endpoints object for it exists {where}, so it has nothing to send traffic to.")
    if hints:
        message += " " + "; ".join(hint[0].upper() + hint[1:] for hint in hints) + "."
    if near_slices or near_legacy:
        fixes = []
        if near_slices:
            fixes.append(f"label EndpointSlice {near_slices[0]} with {SERVICE_NAME_LABEL}={name} (kubectl label "
                         f"endpointslice {near_slices[0]} -n {namespace} {SERVICE_NAME_LABEL}={name} --overwrite)")
        if near_legacy:
            fixes.append(f"name the Endpoints object exactly {name} (it is {near_legacy[0]!r})")
        fix = "Tie the hand-made endpoints to the Service: " + "; ".join(fixes) + "."
    else:
        fix = ("Add a spec.selector that matches the backend Pods' labels, or, for a backend outside the cluster, "
               f"create an EndpointSlice labelled {SERVICE_NAME_LABEL}={name} with its addresses and ports.")
    yield CHECK.finding(
        message, evidence=evidence,
        next=[f"kubectl get service {name} -n {namespace} -o yaml",
              f"kubectl get endpointslices -n {namespace} --show-labels",
              f"kubectl get endpoints {name} -n {namespace}"],
        fix=fix, subject=context.service_ref, subject_field="spec.selector",
    )


CHECK = Check(
    id="SD209",
    name="no-selector-no-endpoints",
    step=2,
    explains=frozenset({"SD501", "SD502", "SD701", "SD702", "SD802", "SD803", "SD805", "SD903", "SD904"}),
    doc=CheckDoc.parse(__doc__),
    run=run,
    needs=("services", "endpointslices"),
)
