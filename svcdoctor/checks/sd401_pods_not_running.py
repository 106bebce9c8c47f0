"""SD401 — Selected Pods are not running.

What it detects:
    Pods the Service selects that are not up, and why, in the words ``kubectl describe`` uses:
    Pending and unschedulable (the scheduler's message), CrashLoopBackOff with the last exit reason
    and code, OOMKilled, ImagePullBackOff / ErrImagePull, CreateContainerConfigError (a missing
    Secret or ConfigMap key), init containers that never finish, and Pods that ended (Failed,
    Evicted).

Why it matters:
    A Pod that is not running has no ready endpoint: with none running the Service refuses every
    connection.

    A Pod that is not running has no ready endpoint. When none of the selected Pods runs, the
    Service is unreachable; when some do not, it is degraded.

How to fix:
    Read the Pod's status and events (kubectl describe pod) and fix what keeps it from running.

Example:
    The scenario fixtures/scenarios/image-pull-backoff-during-rollout: A rollout to a mistyped image
    tag: the new Pods cannot pull, the old ones still serve.

    $ cd fixtures/scenarios/image-pull-backoff-during-rollout
    $ svcdoctor check checkout -n shop --snapshot snapshot.yaml
"""

from __future__ import annotations

from collections.abc import Iterator

from svcdoctor import k8s
from svcdoctor.checks.interface import Check, CheckDoc, Context
from svcdoctor.findings import Evidence, Finding, Severity
from svcdoctor.pod_health import PodProblem, any_ready, pod_label, why_not_running

FIXES = {
    "Unschedulable": "Make room or relax the constraints: the scheduler's message names what no node offers "
                     "(CPU, memory, a taint to tolerate, a node selector or affinity no node matches, a volume zone).",
    "CrashLoopBackOff": "Read the previous container's logs (kubectl logs --previous) and fix what makes it exit; "
                        "check its command, configuration and the dependencies it needs at start.",
    "OOMKilled": "The container exceeded its memory limit: raise resources.limits.memory or lower the app's usage.",
    "ImagePullBackOff": "Fix the image reference (name, tag, registry) or give the Pod an imagePullSecret that can "
                        "read it.",
    "CreateContainerConfigError": "Create the Secret or ConfigMap (or the key) that the container's env/envFrom/"
                                  "volumes name, or correct the reference.",
    "CreateContainerError": "Fix the container definition the runtime rejected (see the message).",
    "InitContainers": "Make the init container finish: read its logs (kubectl logs -c NAME) and fix what it waits "
                      "for.",
    "Failed": "The Pod ended and will not serve again; see its reason (evicted for node pressure, a failed Job "
              "Pod) and let its controller replace it.",
    "Succeeded": "The Pod ran to completion (a Job or a bare Pod with restartPolicy other than Always): it never "
                 "serves. Select a long-running workload instead.",
    "Unknown": "The node stopped reporting: check the node (kubectl describe node) and its kubelet.",
    "Pending": "See the Pod's events for what it waits on (volumes, image pulls, the scheduler).",
}


def _describe(problem: PodProblem) -> str:
    return f"{pod_label(problem.pod)} ({problem.detail})"


def run(context: Context) -> Iterator[Finding]:
    pods = context.require_selected_pods()
    snapshot = context.snapshot
    problems: dict[str, list[PodProblem]] = {}
    for pod in pods:
        if k8s.pod_is_terminating(pod):
            continue
        problem = why_not_running(snapshot, pod)
        if problem is not None:
            problems.setdefault(problem.category, []).append(problem)
    if not problems:
        return
    namespace, name = context.target.namespace, context.target.name
    down = sum(len(group) for group in problems.values())
    # Unreachable when no selected Pod is ready at all; otherwise the others still serve.
    severity = Severity.WARNING if any_ready(pods) else Severity.ERROR
    for category, group in sorted(problems.items(), key=lambda item: (-len(item[1]), item[0])):
        first = group[0]
        # Pods of one workload usually fail alike: one phrase per distinct detail.
        alike: dict[str, list[PodProblem]] = {}
        for problem in group:
            alike.setdefault(problem.detail, []).append(problem)
        phrases = [_describe(members[0]) if len(members) == 1 else
                   f"{len(members)} Pods ({', '.join(k8s.name(m.pod) for m in members[:3])}"
                   f"{', …' if len(members) > 3 else ''}: {detail})" for detail, members in alike.items()]
        message = (f"{len(group)} of the {len(pods)} Pods that Service {namespace}/{name} selects "
                   f"{'is' if len(group) == 1 else 'are'} not running ({category}): "
                   + "; ".join(phrases[:5]) + ("; …" if len(phrases) > 5 else "") + ".")
        if severity is Severity.ERROR:
            message += " No selected Pod is ready, so the Service has no working endpoint."
        elif down < len(pods):
            message += " The other Pods still serve."
        evidence = [Evidence(k8s.ref(p.pod), p.field, p.value, p.detail) for p in group[:10]]
        pod_name = k8s.name(first.pod)
        commands = [f"kubectl describe pod {pod_name} -n {namespace}",
                    f"kubectl get events -n {namespace} --field-selector involvedObject.name={pod_name} "
                    "--sort-by=.lastTimestamp"]
        # The logs first where the fix says to read them: describe shows only the restart count.
        if category in ("CrashLoopBackOff", "OOMKilled"):
            commands.insert(0, f"kubectl logs {pod_name} -n {namespace} -c {first.container} --previous")
        elif category == "InitContainers":
            commands.insert(0, f"kubectl logs {pod_name} -n {namespace} -c {first.container}")
        elif category == "Unschedulable":
            commands.append("kubectl describe nodes | grep -A8 'Allocated resources'")
        title = f"Pods not running: {category}"
        yield CHECK.finding(
            message,
            severity=severity,
            evidence=evidence,
            next=commands,
            fix=FIXES.get(category, CHECK.fix),
            subject=k8s.ref(first.pod),
            subject_field=first.field,
            key=category,
            title=title,
            node=str(k8s.spec(first.pod).get("nodeName") or ""),
        )


CHECK = Check(
    id="SD401",
    name="pods-not-running",
    step=4,
    explains=frozenset({"SD207", "SD208", "SD211", "SD405", "SD501", "SD502", "SD503", "SD805", "SD901", "SD902",
                        "SD903", "SD904"}),
    doc=CheckDoc.parse(__doc__),
    run=run,
    needs=("services", "pods"),
    runtime=True,
)
