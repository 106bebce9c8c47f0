"""SD402 — Pods run but are not ready (readiness probe failing).

What it detects:
    Pods in phase Running whose containers all run but are not ready (``ContainersReady`` False).
    The finding shows each container's readiness probe (type, port, path, timings) and the last
    ``Unhealthy`` Event — "Readiness probe failed: …", how often and how long ago, read from both
    Event shapes and measured from the snapshot's capture time.

Why it matters:
    Only ready Pods receive Service traffic: a failing readiness probe takes a running Pod out of
    rotation.

    kube-proxy only sends traffic to ready endpoints; a probe that fails (wrong path or port, a
    dependency down, a timeout too tight) takes the Pod out of the Service even though it runs.

How to fix:
    Make the readiness probe match the app (path, port, scheme, timeoutSeconds), or fix what the app
    waits on before it reports ready; test the probe with kubectl port-forward and curl.

Example:
    The scenario fixtures/scenarios/readiness-probe-failing: The Pods run, but their readiness probe
    asks /ready on a port the app does not serve it on; no endpoint is ready.

    $ cd fixtures/scenarios/readiness-probe-failing
    $ svcdoctor check inventory -n shop --snapshot snapshot.yaml
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from svcdoctor import k8s
from svcdoctor.checks.interface import Check, CheckDoc, Context
from svcdoctor.findings import Evidence, Finding, Severity
from svcdoctor.k8s import Obj
from svcdoctor.minimal import masked_probe
from svcdoctor.pod_health import EventSummary, age_text, any_ready, pod_events, probe_text, why_not_running


def _unready_running(pod: Obj) -> list[Mapping[str, Any]]:
    """The container statuses that run but are not ready (empty when the Pod is not that case)."""
    statuses = k8s.container_statuses(pod)
    if not statuses or any("running" not in k8s.as_map(s.get("state")) for s in statuses):
        return []
    return [s for s in statuses if not s.get("ready")]


def run(context: Context) -> Iterator[Finding]:
    pods = context.require_selected_pods()
    snapshot = context.snapshot
    now = snapshot.now
    namespace, name = context.target.namespace, context.target.name
    unready = []
    for pod in pods:
        if k8s.pod_is_terminating(pod) or k8s.pod_phase(pod) != "Running" or k8s.pod_is_ready(pod):
            continue
        if why_not_running(snapshot, pod) is not None:
            continue  # SD401's
        containers = _unready_running(pod)
        if containers:
            unready.append((pod, containers))
    if not unready:
        return
    severity = Severity.WARNING if any_ready(pods) else Severity.ERROR
    evidence: list[Evidence] = []
    commands: list[str] = []
    probe_ports: list[str] = []
    # Pods of one Deployment fail alike: one line per (container, probe, last failure), not per Pod.
    groups: dict[tuple[str, str, str], list[tuple[Obj, EventSummary | None]]] = {}
    for pod, statuses in unready:
        pod_ref = k8s.ref(pod)
        specs = {str(c.get("name")): c for c in k8s.containers(k8s.spec(pod))}
        events = pod_events(snapshot, pod, "Unhealthy")
        readiness_events = [e for e in events if "eadiness probe" in e.message] or [
            e for e in events if "probe" in e.message and "iveness" not in e.message]
        last = readiness_events[0] if readiness_events else None
        for container_status in statuses:
            container = str(container_status.get("name") or "")
            index = next((i for i, c in enumerate(k8s.containers(k8s.spec(pod))) if c.get("name") == container), 0)
            probe = k8s.as_map(specs.get(container, {}).get("readinessProbe"))
            text = probe_text(probe)
            if not probe:
                startup = k8s.as_map(specs.get(container, {}).get("startupProbe"))
                text = (f"no readiness probe; startup probe {probe_text(startup)} not yet passed" if startup
                        and not container_status.get("started") else "no readiness probe, yet not ready")
            key = (container, text, last.message if last else "")
            if key not in groups and len(evidence) < 12:
                if probe:
                    evidence.append(Evidence(pod_ref, f"spec.containers[{index}].readinessProbe", masked_probe(probe),
                                             f"container {container}: {text}"))
                    for kind in ("httpGet", "tcpSocket", "grpc"):
                        if isinstance(probe.get(kind), Mapping):
                            probe_ports.append(str(probe[kind].get("port")))
                else:
                    evidence.append(Evidence(pod_ref, f"status.containerStatuses[{index}].ready", False, text))
            groups.setdefault(key, []).append((pod, last))
        if len(evidence) < 12:
            if last is not None:
                evidence.append(Evidence(last.ref, "message", last.message,
                                         f"{last.count}× {last.reason}, last {age_text(last.last_seen, now)} ago"))
            else:
                condition = k8s.pod_condition(pod, "ContainersReady") or {}
                evidence.append(Evidence(pod_ref, "status.conditions[ContainersReady]", dict(condition),
                                         "no Unhealthy event recorded for this Pod"))
        if len(commands) < 2:
            commands.append(f"kubectl describe pod {k8s.name(pod)} -n {namespace}")
    lines = []
    for (container, text, failure), members in groups.items():
        names = [k8s.name(pod) for pod, _ in members]
        more = ", …" if len(names) > 3 else ""
        who = names[0] if len(names) == 1 else f"{len(names)} Pods ({', '.join(names[:3])}{more})"
        line = f"{who} container {container} ({text})"
        seen = [event for _, event in members if event is not None]
        if failure and seen:
            last_seen = max((e.last_seen for e in seen if e.last_seen), default=None)
            first_seen = min((e.first_seen for e in seen if e.first_seen), default=None)
            line += (f": \"{failure}\" ×{sum(e.count for e in seen)}, last {age_text(last_seen, now)} ago"
                     f" (first {age_text(first_seen, now)} ago)")
        else:
            line += ": no Unhealthy event recorded"
        lines.append(line)
    first_pod = unready[0][0]
    commands.append(f"kubectl get events -n {namespace} --field-selector reason=Unhealthy,"
                    f"involvedObject.name={k8s.name(first_pod)}")
    if probe_ports:
        commands.append(f"kubectl port-forward -n {namespace} pod/{k8s.name(first_pod)} {probe_ports[0]} "
                        "# then request the probe's path yourself")
    message = (f"{len(unready)} of the {len(pods)} Pods that Service {namespace}/{name} selects run but are not "
               "ready, so they get no traffic: " + "; ".join(lines[:5]) + ("; …" if len(lines) > 5 else "") + ".")
    if severity is Severity.ERROR:
        message += " No selected Pod is ready."
    yield CHECK.finding(
        message,
        severity=severity,
        evidence=evidence,
        next=commands,
        subject=k8s.ref(first_pod),
        subject_field="spec.containers[0].readinessProbe",
    )


CHECK = Check(
    id="SD402",
    name="readiness-probe-failing",
    step=4,
    explains=frozenset({"SD207", "SD208", "SD211", "SD502", "SD503", "SD805", "SD903", "SD904"}),
    doc=CheckDoc.parse(__doc__),
    run=run,
    needs=("services", "pods"),
    runtime=True,
)
