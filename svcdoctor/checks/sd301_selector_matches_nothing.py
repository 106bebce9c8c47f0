"""SD301 — The selector matches no Pod.

What it detects:
    A Service with a selector that picks no Pod in its namespace.

Why it matters:
    Without matching Pods the Service gets no endpoints: connections are refused or time out.

    The endpoints controller then writes no endpoints, so every connection is refused or times out —
    and the cause is almost always a near miss. The finding names those near misses: Pods that carry
    all selector labels but one (and how that one differs), label keys or values one typo away, Pods
    that would match in another namespace, and workloads whose template matches but that run no Pod.

    Before deploy (manifests), two kinds of Pods exist only once the input runs, and a selector on
    them is an info finding, not an error: a selector on a label whose value a controller generates
    (``pod-template-hash``, ``controller-revision-hash``, ``controller-uid``), when the template
    matches the rest; and Pods an operator will create from a custom resource in the input, when the
    resource's labels, the labels its spec asks for, or its name under its kind (``prometheus:
    <name>``) explain every label of the selector. Without such a resource it stays an error. Either
    info finding means "could not verify before deploy", so step 3 is ``partial`` (not a pass) and
    names the command that checks it after deploy.

How to fix:
    Make spec.selector equal labels that the Pod template carries (kubectl get pods --show-labels).

Example:
    The scenario fixtures/scenarios/selector-label-renamed: The Pods were relabelled app=backend-v2;
    the Service still selects app=backend.

    $ cd fixtures/scenarios/selector-label-renamed
    $ svcdoctor check backend -n shop --snapshot snapshot.yaml
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping, Sequence

from svcdoctor import k8s
from svcdoctor.checks.interface import Check, CheckDoc, Context
from svcdoctor.findings import Evidence, Finding, Severity, Skip
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


def _deploy_time_matches(context: Context, selector: Mapping[str, str]) -> list[tuple[Obj, list[str]]]:
    """Stand-in Pods that match every selector label but ones whose values their controller sets at deploy."""
    result = []
    for pod in context.snapshot.pods_in(context.target.namespace):
        later = k8s.deploy_time_labels(pod)
        if not later:
            continue
        labels = k8s.labels(pod)
        missing = [key for key, value in selector.items() if str(labels.get(key, "\0")) != value]
        if missing and all(key in later and key not in labels for key in missing):
            result.append((pod, missing))
    return result


def _names_resource(resource: Obj, key: str, value: str) -> bool:
    """Whether a selector label is one an operator would derive from ``resource``.

    Operators label the Pods they create after the resource: with its own labels, with the labels
    its spec asks for (``podMetadata.labels``, ``template.metadata.labels``…), or with its name under
    its kind (``prometheus: <name>``) or under the recommended ``app.kubernetes.io/instance`` key.
    """
    if str(k8s.labels(resource).get(key, "\0")) == value:
        return True
    resource_name, kind = k8s.name(resource), str(resource.get("kind") or "").lower()
    if value == resource_name and (key.rsplit("/", 1)[-1] in (kind, "instance", "name", "cluster")
                                   or key.endswith(f"/{kind}") or key.startswith(f"{kind}.")):
        return True
    if value == kind and key.rsplit("/", 1)[-1] in ("name", "component"):
        return True
    return _spec_labels_have(k8s.spec(resource), key, value, 0)


def _spec_labels_have(value: object, key: str, wanted: str, depth: int) -> bool:
    """Whether a ``labels`` or ``matchLabels`` mapping somewhere in a spec holds ``key: wanted``."""
    if depth > 8:
        return False
    if isinstance(value, Mapping):
        for field_name, child in value.items():
            if field_name in ("labels", "matchLabels", "podLabels") and isinstance(child, Mapping) \
                    and str(child.get(key, "\0")) == wanted:
                return True
            if isinstance(child, (Mapping, list)) and _spec_labels_have(child, key, wanted, depth + 1):
                return True
    elif isinstance(value, list):
        return any(_spec_labels_have(item, key, wanted, depth + 1) for item in value[:50])
    return False


def _creating_resources(context: Context, selector: Mapping[str, str]) -> list[Obj]:
    """Custom resources of the Service's namespace whose operator would likely make Pods the selector picks."""
    return [resource for resource in context.snapshot.custom_resources
            if k8s.namespace(resource) == context.target.namespace
            and all(_names_resource(resource, key, value) for key, value in selector.items())]


def _static_explanations(context: Context, selector: Mapping[str, str]) -> Iterator[Finding]:
    """Before deploy, Pods that will exist but are not in the files: an info finding instead of an error."""
    namespace, name = context.target.namespace, context.target.name
    selector_text = ",".join(f"{k}={v}" for k, v in selector.items())
    after_deploy = (f"after deploy: svcdoctor check {name} -n {namespace} "
                    f"(or kubectl get pods -n {namespace} -l {selector_text} --show-labels)")
    later = _deploy_time_matches(context, selector)
    if later:
        pod, keys = later[0]
        workload = context.snapshot.workload_of(pod) or k8s.ref(pod)
        context.note_unverified(f"whether the selector matches: the value of {', '.join(keys)} is known only "
                                "after deploy", after_deploy)
        yield CHECK.finding(
            f"The selector {selector_text} of Service {namespace}/{name} selects on {', '.join(keys)}, a label "
            f"whose value the controller of {workload} sets only when it runs; its template matches the rest of "
            "the selector. svcdoctor cannot judge that label before deploy.",
            severity=Severity.INFO,
            evidence=[Evidence(context.service_ref, "spec.selector", dict(selector), "compared before deploy"),
                      Evidence(workload, "spec.template.metadata.labels", dict(k8s.labels(pod)),
                               f"{', '.join(keys)} is added by its controller at deploy")],
            next=[f"kubectl get pods -n {namespace} -l {selector_text} --show-labels"],
            fix="Select on labels of the Pod template: values a controller generates change with every rollout.",
            subject=context.service_ref, subject_field="spec.selector", key="deploy-time",
        )
        return
    creators = _creating_resources(context, selector)
    if creators:
        names = ", ".join(f"{c.get('kind')} {namespace}/{k8s.name(c)} ({c.get('apiVersion')})" for c in creators[:3])
        context.note_unverified(f"whether the selector matches: the Pods that {names} will create do not exist "
                                "yet", after_deploy)
        yield CHECK.finding(
            f"No Pod template in the input matches the selector {selector_text} of Service {namespace}/{name}, "
            f"but the custom resource {names} is labelled or named so that its operator will likely create the "
            "Pods it selects. svcdoctor cannot see those Pods before deploy.",
            severity=Severity.INFO,
            evidence=[Evidence(context.service_ref, "spec.selector", dict(selector), "no Pod template matches"),
                      *(Evidence(k8s.ref(c), "metadata.name", k8s.name(c), "its operator likely creates the Pods")
                        for c in creators[:3])],
            next=[f"kubectl get pods -n {namespace} -l {selector_text} --show-labels"],
            fix="None needed if the operator labels its Pods this way; check after deploy with svcdoctor check.",
            subject=context.service_ref, subject_field="spec.selector", key="operator",
        )


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
    if context.snapshot.static:
        explained = list(_static_explanations(context, selector))
        if explained:
            yield from explained
            return
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
        # The labels the Pods really carry first: the selector's own query returns nothing.
        next=[f"kubectl get pods -n {namespace} --show-labels",
              f"kubectl get pods -n {namespace} -l {selector_text} -o wide",
              f"kubectl get service {name} -n {namespace} -o jsonpath='{{.spec.selector}}'"],
        fix=" ".join(dict.fromkeys(fixes)) or CHECK.fix,
        subject=context.service_ref,
        subject_field="spec.selector",
    )


CHECK = Check(
    id="SD301",
    name="selector-matches-no-pods",
    step=3,
    # The findings it explains: every later step's failure for lack of endpoints.
    explains=frozenset({"SD207", "SD208", "SD211", "SD501", "SD502", "SD503", "SD701", "SD702", "SD802", "SD803",
                        "SD805", "SD901", "SD902", "SD903", "SD904"}),
    doc=CheckDoc.parse(__doc__),
    run=run,
    needs=("services", "pods"),
)
