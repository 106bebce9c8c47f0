"""SD405 — Containers restart often.

What it detects:
    Containers whose ``restartCount`` is at or above ``Options.restart_threshold``, with the last
    termination's reason and exit code (OOMKilled, Error, a liveness probe kill) and how long ago it
    ended.

Why it matters:
    Each restart takes the Pod out of the ready endpoints and resets its connections: clients see
    intermittent failures.

    Every restart drops the Pod out of the ready endpoints and cuts open connections, so clients see
    intermittent resets and timeouts even when the Pod looks Running most of the time. Restarts that
    last happened more than an hour before the snapshot are reported as info.

How to fix:
    Read the previous container's logs and the last termination reason; fix crashes, memory limits,
    or a liveness probe that kills a slow but healthy container.

Example:
    The scenario fixtures/scenarios/containers-oomkilled-restarting: The Pods are Running and ready
    now, but their container was OOMKilled 9 times, last 20 minutes ago.

    $ cd fixtures/scenarios/containers-oomkilled-restarting
    $ svcdoctor check thumbnails -n media --snapshot snapshot.yaml
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from svcdoctor import k8s
from svcdoctor.checks.interface import Check, CheckDoc, Context
from svcdoctor.findings import Evidence, Finding, Severity
from svcdoctor.pod_health import last_termination, pod_events, termination_text

RECENT = timedelta(hours=1)


def run(context: Context) -> Iterator[Finding]:
    context.require_selected_pods()
    threshold = context.options.restart_threshold
    now = context.snapshot.now
    namespace, name = context.target.namespace, context.target.name
    restarting = []
    recent = False
    for pod in context.selected_pods:
        for index, container_status in enumerate(k8s.container_statuses(pod)):
            count = container_status.get("restartCount")
            if not isinstance(count, int) or count < threshold:
                continue
            terminated = last_termination(container_status)
            finished = k8s.parse_time(terminated.get("finishedAt"))
            running = "running" in k8s.as_map(container_status.get("state"))
            if finished is None or now - finished <= RECENT or not running:
                recent = True
            restarting.append((pod, index, container_status, terminated))
    if not restarting:
        return
    evidence = []
    lines = []
    for pod, index, container_status, terminated in restarting[:10]:
        container = str(container_status.get("name") or "")
        text = f"{k8s.name(pod)} container {container}: {container_status.get('restartCount')} restarts"
        if terminated:
            text += f", last {termination_text(terminated, now)}"
        killed = [e for e in pod_events(context.snapshot, pod, "Killing", "Unhealthy") if "iveness" in e.message]
        if killed:
            text += f"; liveness probe: \"{killed[0].message}\""
        lines.append(text)
        evidence.append(Evidence(k8s.ref(pod), f"status.containerStatuses[{index}].restartCount",
                                 container_status.get("restartCount"), text))
    reasons = {str(t.get("reason") or "") for _, _, _, t in restarting}
    fix = CHECK.fix
    if "OOMKilled" in reasons:
        fix = "The container is OOMKilled: raise resources.limits.memory or lower the app's memory use. " + CHECK.fix
    first_pod, _, first_status, _ = restarting[0]
    message = (f"{len(restarting)} container(s) of Pods that Service {namespace}/{name} selects restart often "
               f"(threshold {threshold}): " + "; ".join(lines[:5]) + ("; …" if len(lines) > 5 else "") + ".")
    if not recent:
        message += " The last restart was more than an hour before the snapshot."
    yield CHECK.finding(
        message,
        severity=Severity.WARNING if recent else Severity.INFO,
        evidence=evidence,
        next=[f"kubectl logs {k8s.name(first_pod)} -n {namespace} -c {first_status.get('name')} --previous",
              f"kubectl get pod {k8s.name(first_pod)} -n {namespace} -o jsonpath="
              "'{range .status.containerStatuses[*]}{.name}{\" \"}{.restartCount}{\" \"}"
              "{.lastState.terminated.reason}{\"\\n\"}{end}'",
              f"kubectl describe pod {k8s.name(first_pod)} -n {namespace}"],
        fix=fix,
        subject=k8s.ref(first_pod),
        subject_field="status.containerStatuses",
    )


CHECK = Check(
    id="SD405",
    name="containers-restarting",
    step=4,
    doc=CheckDoc.parse(__doc__),
    run=run,
    needs=("services", "pods"),
    runtime=True,
)
