"""SD301 — the Service's selector matches no Pod.

Detects: a Service with a selector that picks no Pod in its namespace. Why it matters: the
endpoints controller then writes no endpoints, so every connection is refused or times out —
and the cause is almost always a near miss. The finding names those near misses: Pods that carry
all selector labels but one (and how that one differs), label keys or values one typo away, Pods
that would match in another namespace, and workloads whose template matches but that run no Pod.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping, Sequence

from svcdoctor import k8s
from svcdoctor.checks.interface import Check, Context
from svcdoctor.findings import Evidence, Finding, Skip
from svcdoctor.k8s import Obj, ObjectRef
from svcdoctor.selectors import from_service_selector
from svcdoctor.similarity import edit_distance, typo_limit

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "ReplicationController")


def _difference(selector: Mapping[str, str], labels: Mapping[str, str]) -> list[str]:
    """How ``labels`` fails ``selector``: one phrase per differing key."""
    differences = []
    for key, wanted in selector.items():
        if key not in labels:
            near_keys = [k for k in labels if labels[k] == wanted and edit_distance(k, key, typo_limit(key))
                         <= typo_limit(key)]
            if near_keys:
                differences.append(f"label key {near_keys[0]!r}={wanted} where the selector wants {key!r} (a typo?)")
            else:
                differences.append(f"no label {key!r} (the selector wants {key}={wanted})")
        elif str(labels[key]) != str(wanted):
            have = str(labels[key])
            typo = edit_distance(have, str(wanted), typo_limit(str(wanted))) <= typo_limit(str(wanted))
            renamed = not typo and len(str(wanted)) >= 3 and (str(wanted) in have or have in str(wanted))
            note = " (a typo?)" if typo else " (renamed?)" if renamed else ""
            differences.append(f"{key}={have} where the selector wants {key}={wanted}{note}")
    return differences


def _is_similar(difference: str) -> bool:
    return "(a typo?)" in difference or "(renamed?)" in difference


def _group_label(pods: Sequence[Obj], context: Context) -> str:
    workloads = Counter(str(context.snapshot.workload_of(pod) or k8s.ref(pod)) for pod in pods)
    parts = [f"{workload} ({count} Pod{'s' if count != 1 else ''})" if count > 1 else workload
             for workload, count in workloads.most_common(3)]
    return ", ".join(parts)


def _near_misses(context: Context, selector: Mapping[str, str]) -> list[tuple[str, list[str], Sequence[Obj]]]:
    """Groups of Pods in the namespace that miss the selector by one label (or by typos)."""
    scored = []
    # Pods with identical label sets (minus the per-revision hash) are judged once, from the index.
    for label_items, pods in context.snapshot.label_groups(context.target.namespace):
        labels = dict(label_items)
        differences = _difference(selector, labels)
        similar = sum(_is_similar(d) for d in differences)
        # One label off counts when the others match; with a one-label selector every Pod is
        # "one off", so there only a similar key or value (a typo, a renamed value) counts.
        one_off = len(differences) == 1 and (len(selector) > 1 or similar == 1)
        if one_off or (differences and similar == len(differences)):
            scored.append((len(differences), -len(pods), differences, pods))
    if not scored:
        return []
    # Name the workloads only of the groups that can make the top five (ties included).
    scored.sort(key=lambda item: (item[0], item[1]))
    cutoff = scored[min(4, len(scored) - 1)][:2]
    finalists = [(count, size, _group_label(pods, context), differences, pods)
                 for count, size, differences, pods in scored if (count, size) <= cutoff]
    finalists.sort(key=lambda item: (item[0], item[1], item[2]))
    return [(label, differences, pods) for _, _, label, differences, pods in finalists[:5]]


def _matching_templates(context: Context) -> list[tuple[Obj, int]]:
    """Workloads in the namespace whose Pod template the selector matches, with their replicas."""
    result = []
    for kind in WORKLOAD_KINDS:
        for workload in context.snapshot.in_namespace(kind, context.target.namespace):
            if kind == "ReplicaSet" and k8s.meta(workload).get("ownerReferences"):
                continue  # the owning Deployment speaks for it
            template = k8s.as_map(k8s.spec(workload).get("template"))
            if context.selector.matches(k8s.labels(template)):
                replicas = k8s.spec(workload).get("replicas")
                result.append((workload, int(replicas) if isinstance(replicas, int) else 1))
    return result


def _creation_failure(context: Context, workload: Obj) -> str:
    """The controller's own reason for not creating Pods (quota, admission), when it recorded one."""
    candidates = [workload]
    if workload.get("kind") == "Deployment":
        uid = k8s.uid(workload)
        candidates += [rs for rs in context.snapshot.in_namespace("ReplicaSet", k8s.namespace(workload))
                       if any(
                           isinstance(o, Mapping) and o.get("uid") == uid
                           for o in k8s.as_list(k8s.meta(rs).get("ownerReferences")))]
    for candidate in candidates:
        for condition in k8s.as_list(k8s.status(candidate).get("conditions")):
            if (isinstance(condition, Mapping) and condition.get("type") == "ReplicaFailure"
                    and str(condition.get("status")) == "True"):
                return str(condition.get("message") or condition.get("reason") or "")
    events = context.snapshot.events_for(str(workload.get("kind")), k8s.namespace(workload), k8s.name(workload))
    failed = [e for e in events if e.get("reason") in ("FailedCreate", "FailedCreatePodSandBox")]
    return str(failed[-1].get("message") or failed[-1].get("note") or "") if failed else ""


def run(context: Context) -> Iterator[Finding]:
    service = context.require_service()
    if k8s.service_type(service) == "ExternalName":
        raise Skip("an ExternalName Service has no selector to match")
    if not context.has_selector:
        raise Skip("the Service has no selector (SD209 covers manually managed endpoints)")
    if context.selected_pods:
        return
    namespace, name = context.target.namespace, context.target.name
    selector = {str(k): str(v) for k, v in k8s.as_map(k8s.spec(service).get("selector")).items()}
    selector_text = ",".join(f"{k}={v}" for k, v in selector.items())
    evidence = [Evidence(context.service_ref, "spec.selector", selector, "matches no Pod in the namespace")]
    hints: list[str] = []
    fixes: list[str] = []

    for label, differences, pods in _near_misses(context, selector):
        phrase = "; ".join(differences)
        hints.append(f"{label} has {phrase}")
        evidence.append(Evidence(k8s.ref(pods[0]), "metadata.labels", dict(k8s.labels(pods[0])), f"{label}: {phrase}"))
        if not fixes:
            fixes.append(f"Make the selector and the Pod template labels agree ({phrase}).")

    selector_object = from_service_selector(selector)
    for other in context.snapshot.namespace_names():
        if other == namespace:
            continue
        matches = context.snapshot.select_pods(other, selector_object)
        if matches:
            hints.append(f"{len(matches)} Pod(s) in namespace {other} would match ({_group_label(matches, context)})")
            evidence.append(Evidence(ObjectRef("Namespace", "", other), None, len(matches),
                                     "Pods there match the selector; a Service selects only in its own namespace"))
            fixes.append(f"Services select Pods only in their own namespace: create the Service in {other}, "
                         "or run the Pods in " + namespace + ".")
            break

    for workload, replicas in _matching_templates(context):
        if replicas == 0:
            hints.append(f"{k8s.ref(workload)} matches but is scaled to 0 replicas")
            evidence.append(Evidence(k8s.ref(workload), "spec.replicas", 0, "its Pods would match the selector"))
            fixes.append(f"Scale it up: kubectl scale {workload.get('kind', '').lower()} {k8s.name(workload)} "
                         f"-n {namespace} --replicas=1")
        elif not context.snapshot.static:
            failure = _creation_failure(context, workload)
            hints.append(f"{k8s.ref(workload)} matches but none of its Pods exist"
                         + (f": {failure}" if failure else " (check its events)"))
            evidence.append(Evidence(k8s.ref(workload), "spec.template.metadata.labels", None,
                                     "its template matches the selector, yet no Pod was found"
                                     + (f"; the controller reports: {failure}" if failure else "")))
            fixes.append(f"See why the Pods are not created: kubectl describe {workload.get('kind', '').lower()} "
                         f"{k8s.name(workload)} -n {namespace}")
        else:
            # Manifests: a workload template stands in for its Pods, so this branch means a match;
            # it is reached only when the template was not turned into a stand-in Pod.
            pass

    message = f"The selector {selector_text} of Service {namespace}/{name} matches no Pod in namespace {namespace}"
    message += (": " + "; ".join(hints) + ".") if hints else ", and no Pod comes close."
    yield CHECK.finding(
        message,
        evidence=evidence,
        next=[f"kubectl get pods -n {namespace} -l {selector_text} -o wide",
              f"kubectl get pods -n {namespace} --show-labels",
              f"kubectl get service {name} -n {namespace} -o jsonpath='{{.spec.selector}}'"],
        fix=" ".join(dict.fromkeys(fixes)) or CHECK.fix,
        subject=context.service_ref,
        subject_field="spec.selector",
    )


CHECK = Check(
    id="SD301",
    name="selector-matches-no-pods",
    step=3,
    title="The selector matches no Pod",
    why="Without matching Pods the Service gets no endpoints: connections are refused or time out.",
    fix="Make spec.selector equal labels that the Pod template carries (kubectl get pods --show-labels).",
    run=run,
    needs=("services", "pods"),
)
