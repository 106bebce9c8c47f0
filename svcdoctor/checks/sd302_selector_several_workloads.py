"""SD302 — The selector matches Pods of several unrelated workloads.

What it detects:
    A Service whose selector picks the Pods of more than one top-level workload (two Deployments, a
    Deployment and a StatefulSet, a stray hand-made Pod).

Why it matters:
    Traffic is shared among every selected Pod: some requests reach a workload that is not the
    intended backend and fail or return the wrong thing.

    Traffic is spread across all of them, so a share of requests lands on a backend that speaks
    another protocol or serves another app — the classic result of a too-generic selector such as
    ``app: web`` shared by two teams. A Deployment's old and new ReplicaSets during a rollout are
    one workload, not two. Versions of one app are reported as info only, since that is usually
    intended: workloads running the same image (a canary, a blue/green pair), or whose labels differ
    only in a version label (``version: v1`` / ``v2``, ``track``, ``env``) — Istio's bookinfo
    ``reviews-v1/v2/v3``. Workloads with different ``app.kubernetes.io/name`` or
    ``app.kubernetes.io/instance`` values (two Helm releases of one chart) are distinct apps behind
    one selector: a warning, whatever their images.

How to fix:
    Add a label that only the intended workload's Pod template carries (e.g. app.kubernetes.io/name)
    to both the template and spec.selector.

Example:
    The scenario fixtures/scenarios/selector-shared-by-two-apps: Two teams' Deployments both carry
    tier=web; the Service selects tier=web and spreads traffic over both.

    $ cd fixtures/scenarios/selector-shared-by-two-apps
    $ svcdoctor check web -n shop --snapshot snapshot.yaml
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from svcdoctor import k8s, ports
from svcdoctor.checks.interface import Check, CheckDoc, Context
from svcdoctor.findings import Evidence, Finding, Severity
from svcdoctor.k8s import Obj, ObjectRef

BARE_PODS = ObjectRef("Pod", "", "(Pods without a controller)")


def _workload(context: Context, pod: Obj) -> ObjectRef:
    """The top-level owner, with a ReplicaSet folded into the Deployment that owns it."""
    workload = context.snapshot.workload_of(pod)
    if workload is None:
        return ObjectRef("Pod", k8s.namespace(pod), BARE_PODS.name)
    if workload.kind == "ReplicaSet":
        replica_set = context.snapshot.get("ReplicaSet", workload.namespace, workload.name)
        for reference in k8s.as_list(k8s.meta(replica_set or {}).get("ownerReferences")):
            if isinstance(reference, Mapping) and reference.get("kind") == "Deployment":
                return ObjectRef("Deployment", workload.namespace, str(reference.get("name") or ""))
    return workload


def _image_repository(image: str) -> str:
    """``registry/app`` of ``registry/app:1.2@sha256:…`` (the tag and digest dropped)."""
    image = image.split("@", 1)[0]
    slash = image.rfind("/")
    colon = image.rfind(":")
    return image[:colon] if colon > slash else image


def _repositories(pods: Sequence[Obj]) -> frozenset[str]:
    return frozenset(_image_repository(str(c.get("image") or "")) for pod in pods
                     for c in k8s.containers(k8s.spec(pod)))


#: Labels that tell the versions of one app apart (``version: v2``, ``track: canary``): workloads whose
#: labels differ only in these are one app's releases, the traffic-splitting pattern.
VERSION_KEYS = frozenset({
    "version", "app.kubernetes.io/version", "track", "variant", "canary", "env", "environment", "stage",
    "color", "colour", "slot", "helm.sh/chart", "chart",
})
#: Labels that name an app or its release: differing values mean different apps (or Helm releases).
IDENTITY_KEYS = ("app.kubernetes.io/name", "app.kubernetes.io/instance")


def _labels(pod: Obj) -> dict[str, str]:
    """A Pod's labels without the ones its controller generates (they differ between any two workloads)."""
    generated = {"pod-template-hash", "controller-revision-hash", "pod-template-generation",
                 "statefulset.kubernetes.io/pod-name", "apps.kubernetes.io/pod-index",
                 "controller-uid", "batch.kubernetes.io/controller-uid", "job-name", "batch.kubernetes.io/job-name"}
    return {str(k): str(v) for k, v in k8s.labels(pod).items() if k not in generated}


def _relation(groups: Mapping[ObjectRef, Sequence[Obj]], shared_image: bool) -> tuple[str, str]:
    """(``distinct`` | ``versions`` | ``same-image`` | ``unrelated``, the label that says so)."""
    label_sets = [_labels(members[0]) for members in groups.values()]
    for key in IDENTITY_KEYS:
        values = {labels[key] for labels in label_sets if key in labels}
        if len(values) > 1:
            return "distinct", key
    keys = set().union(*label_sets)
    differing = sorted(key for key in keys if len({labels.get(key) for labels in label_sets}) > 1)
    if differing and all(key in VERSION_KEYS for key in differing):
        return "versions", differing[0]
    if shared_image:
        return "same-image", ""
    return "unrelated", ""


def run(context: Context) -> Iterator[Finding]:
    service = context.require_service()
    context.require_selected_pods()
    # Finished Pods (a migration Job's) never get endpoints; only the ones that can serve count.
    pods = [p for p in context.selected_pods if k8s.pod_phase(p) not in ("Succeeded", "Failed")]
    groups: dict[ObjectRef, list[Obj]] = {}
    for pod in pods:
        groups.setdefault(_workload(context, pod), []).append(pod)
    if len(groups) < 2:
        return
    namespace, name = context.target.namespace, context.target.name
    repositories = {workload: _repositories(members) for workload, members in groups.items()}
    shared = frozenset.intersection(*repositories.values())
    related = bool(shared - {""})
    ordered = sorted(groups.items(), key=lambda item: (-len(item[1]), str(item[0])))
    parts = [f"{workload if workload.name != BARE_PODS.name else BARE_PODS.name} ({ports.pods_phrase(members)}, "
             f"image {', '.join(sorted(repositories[workload])) or '?'})"
             for workload, members in ordered]
    evidence = [Evidence(context.service_ref, "spec.selector", dict(k8s.spec(service).get("selector") or {}),
                         f"selects the Pods of {len(groups)} workloads")]
    for workload, members in ordered[:6]:
        evidence.append(Evidence(k8s.ref(members[0]), "metadata.labels", dict(k8s.labels(members[0])),
                                 f"{len(members)} Pod(s) of {workload}"))
    selector_text = ",".join(f"{k}={v}" for k, v in (k8s.spec(service).get("selector") or {}).items())
    relation, label = _relation(groups, related)
    if relation == "distinct":
        values = sorted({_labels(members[0]).get(label, "(none)") for members in groups.values()})
        message = (f"The selector {selector_text} of Service {namespace}/{name} matches the Pods of "
                   f"{len(groups)} workloads of different {label} ({', '.join(values)}): distinct apps or releases "
                   "share one Service, so requests are spread over all of them: " + "; ".join(parts) + ".")
        severity = Severity.WARNING
    elif relation == "versions":
        values = sorted({_labels(members[0]).get(label, "(none)") for members in groups.values()})
        message = (f"The selector {selector_text} of Service {namespace}/{name} spreads traffic over "
                   f"{len(groups)} versions of one app ({label}: {', '.join(values)}): " + "; ".join(parts)
                   + ". That is how canary releases and traffic splitting work; make sure it is meant.")
        severity = Severity.INFO
    elif relation == "same-image":
        message = (f"The selector {selector_text} of Service {namespace}/{name} spreads traffic over "
                   f"{len(groups)} workloads that run the same image ({', '.join(sorted(shared))}): "
                   + "; ".join(parts) + ". That is how canary and blue/green releases work; make sure it is meant.")
        severity = Severity.INFO
    else:
        message = (f"The selector {selector_text} of Service {namespace}/{name} matches the Pods of "
                   f"{len(groups)} unrelated workloads, so requests are spread over all of them: "
                   + "; ".join(parts) + ".")
        severity = Severity.WARNING
    yield CHECK.finding(
        message,
        severity=severity,
        evidence=evidence,
        next=[f"kubectl get pods -n {namespace} -l {selector_text} -L app.kubernetes.io/name "
              "-o custom-columns=NAME:.metadata.name,OWNER:.metadata.ownerReferences[0].name,"
              "IMAGE:.spec.containers[*].image",
              f"kubectl get endpointslices -n {namespace} -l kubernetes.io/service-name={name} -o wide"],
        subject=context.service_ref,
        subject_field="spec.selector",
    )


CHECK = Check(
    id="SD302",
    name="selector-matches-several-workloads",
    step=3,
    doc=CheckDoc.parse(__doc__),
    run=run,
    needs=("services", "pods"),
)
