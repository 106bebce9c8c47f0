"""SD501 — The Service has no endpoints.

What it detects:
    No address in any EndpointSlice (or legacy Endpoints) of the Service.

Why it matters:
    With no endpoints kube-proxy rejects connections to the ClusterIP; clients see 'connection
    refused'.

    kube-proxy then installs a reject rule, so clients of the ClusterIP get "connection refused" at
    once (and DNS for a headless Service returns nothing). It is almost always a symptom: of a
    selector that matches nothing (SD301) or of a selector-less Service without manual endpoints
    (SD209); those rank first and this finding names them in ``caused_by``.

How to fix:
    Fix what keeps Pods out of the endpoints: the selector (SD301), missing manual endpoints
    (SD209), or Pods that do not exist.

Example:
    The scenario fixtures/scenarios/pods-pending-unschedulable: Every backend Pod is Pending: no
    node has the CPU they request.

    $ cd fixtures/scenarios/pods-pending-unschedulable
    $ svcdoctor check search -n catalog --snapshot snapshot.yaml
"""

from __future__ import annotations

from collections.abc import Iterator

from svcdoctor import k8s
from svcdoctor.checks.interface import Check, CheckDoc, Context
from svcdoctor.endpoints import has_endpoint_objects
from svcdoctor.findings import Evidence, Finding, Skip


def run(context: Context) -> Iterator[Finding]:
    service = context.require_service()
    if k8s.service_type(service) == "ExternalName":
        raise Skip("an ExternalName Service has no endpoints")
    snapshot = context.snapshot
    namespace, name = context.target.namespace, context.target.name
    context.require_recorded("EndpointSlice", "Endpoints", namespace=namespace)
    endpoints = context.service_endpoints
    if endpoints:
        return
    evidence = []
    if has_endpoint_objects(snapshot, namespace, name):
        for endpoint_slice in snapshot.endpoint_slices_for(namespace, name):
            evidence.append(Evidence(k8s.ref(endpoint_slice), "endpoints", endpoint_slice.get("endpoints"),
                                     "the EndpointSlice lists no address"))
        legacy = snapshot.endpoints_for(namespace, name)
        if legacy is not None:
            evidence.append(Evidence(k8s.ref(legacy), "subsets", legacy.get("subsets"), "no addresses"))
    else:
        evidence.append(Evidence(context.service_ref, None, None, "no EndpointSlice or Endpoints object exists"))
    yield CHECK.finding(
        f"Service {namespace}/{name} has no endpoints: kube-proxy rejects connections to it "
        "and there is nothing to send traffic to.",
        evidence=evidence,
        next=[f"kubectl get endpointslices -n {namespace} -l kubernetes.io/service-name={name} -o wide",
              f"kubectl describe service {name} -n {namespace}"],
        subject=context.service_ref,
    )


CHECK = Check(
    id="SD501",
    name="no-endpoints",
    step=5,
    explains=frozenset({"SD207", "SD208", "SD211", "SD701", "SD702", "SD802", "SD803", "SD805", "SD903", "SD904"}),
    doc=CheckDoc.parse(__doc__),
    run=run,
    needs=("services", "endpointslices"),
    runtime=True,
)
