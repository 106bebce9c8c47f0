"""Why a Pod is not serving: its phase, its containers' states, its conditions and its Events.

Pure functions over raw Pod and Event dicts, shared by the step-4 checks (SD401–SD405) and by
SD503. Ages are measured from ``Snapshot.now`` (the capture time), never from the wall clock, so
that a replayed snapshot gives the same report.

Events come in two shapes: core/v1 (``involvedObject``, ``message``, ``firstTimestamp``,
``lastTimestamp``, ``count``) and events.k8s.io/v1 (``regarding``, ``note``, ``eventTime``,
``series.count``, ``series.lastObservedTime``, ``deprecated*``); a core/v1 Event written by a new
client also carries ``eventTime``/``series``. :func:`read_event` reads all of them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from svcdoctor import k8s
from svcdoctor.k8s import Obj, ObjectRef
from svcdoctor.minimal import MASK, masked
from svcdoctor.snapshot import Snapshot

#: Waiting reasons that mean the container cannot start as configured.
CONFIG_ERRORS = ("CreateContainerConfigError", "CreateContainerError", "InvalidImageName", "RunContainerError")
#: Events that say why a scheduled Pod's containers are not being created.
PENDING_REASONS = ("FailedMount", "FailedAttachVolume", "FailedCreatePodSandBox", "FailedScheduling",
                   "NetworkNotReady")
IMAGE_ERRORS = ("ImagePullBackOff", "ErrImagePull", "ErrImageNeverPull", "RegistryUnavailable")


@dataclass(frozen=True)
class EventSummary:
    """One Event, whichever API shape it came in."""

    reason: str
    message: str
    type: str
    count: int
    first_seen: datetime | None
    last_seen: datetime | None
    ref: ObjectRef


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def read_event(event: Obj) -> EventSummary:
    """An Event of either shape as one :class:`EventSummary`."""
    series = k8s.as_map(event.get("series"))
    count = _int(series.get("count")) or _int(event.get("count")) or _int(event.get("deprecatedCount")) or 1
    first = (k8s.parse_time(event.get("firstTimestamp")) or k8s.parse_time(event.get("deprecatedFirstTimestamp"))
             or k8s.parse_time(event.get("eventTime")))
    last = (k8s.parse_time(series.get("lastObservedTime")) or k8s.parse_time(event.get("lastTimestamp"))
            or k8s.parse_time(event.get("deprecatedLastTimestamp")) or k8s.parse_time(event.get("eventTime"))
            or first)
    message = event.get("message")
    if message is None:
        message = event.get("note")
    return EventSummary(
        reason=str(event.get("reason") or ""), message=str(message or ""), type=str(event.get("type") or ""),
        count=count, first_seen=first, last_seen=last, ref=k8s.ref(event),
    )


def pod_events(snapshot: Snapshot, pod: Obj, *reasons: str) -> list[EventSummary]:
    """The Pod's Events (only those with one of ``reasons`` when given), newest first."""
    events = [read_event(e) for e in snapshot.events_for("Pod", k8s.namespace(pod), k8s.name(pod))]
    if reasons:
        events = [e for e in events if e.reason in reasons]
    return sorted(events, key=lambda e: (e.last_seen is None, -(e.last_seen.timestamp() if e.last_seen else 0)))


def duration_text(seconds: float) -> str:
    """``45s``, ``12m``, ``3h20m``, ``4d`` — how kubectl prints ages."""
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 48:
        rest = minutes % 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    return f"{hours // 24}d"


def age_text(moment: datetime | None, now: datetime) -> str:
    """How long ago ``moment`` was, or ``"?"``."""
    return duration_text((now - moment).total_seconds()) if moment else "?"


def pod_label(pod: Obj) -> str:
    return f"{k8s.namespace(pod)}/{k8s.name(pod)}"


def init_container_statuses(pod: Obj) -> list[Mapping[str, Any]]:
    return [s for s in k8s.as_list(k8s.status(pod).get("initContainerStatuses")) if isinstance(s, Mapping)]


def _state(container_status: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]]:
    """(``running`` | ``waiting`` | ``terminated`` | "", its details)."""
    state = k8s.as_map(container_status.get("state"))
    for name in ("waiting", "terminated", "running"):
        if isinstance(state.get(name), Mapping):
            return name, state[name]
    return "", {}


def last_termination(container_status: Mapping[str, Any]) -> Mapping[str, Any]:
    """``lastState.terminated`` of a container status ({} when none)."""
    return k8s.as_map(k8s.as_map(container_status.get("lastState")).get("terminated"))


def termination_text(terminated: Mapping[str, Any], now: datetime | None = None) -> str:
    """``OOMKilled (exit code 137) 5m ago``."""
    if not terminated:
        return ""
    text = str(terminated.get("reason") or "terminated")
    if terminated.get("exitCode") is not None:
        text += f" (exit code {terminated.get('exitCode')})"
    if terminated.get("signal"):
        text += f" signal {terminated.get('signal')}"
    finished = k8s.parse_time(terminated.get("finishedAt"))
    if now is not None and finished is not None:
        text += f" {age_text(finished, now)} ago"
    return text


@dataclass(frozen=True)
class PodProblem:
    """Why one Pod is not running, in one category a person recognises."""

    pod: Obj
    #: ``Unschedulable``, ``CrashLoopBackOff``, ``ImagePullBackOff``, ``CreateContainerConfigError``,
    #: ``OOMKilled``, ``InitContainers``, ``Pending``, ``Failed``, ``Succeeded``, ``Unknown``.
    category: str
    #: One line about this Pod, e.g. ``container api: CrashLoopBackOff, last exit Error (exit code 1)``.
    detail: str
    #: The field that shows it, e.g. ``status.containerStatuses[0].state.waiting.reason``.
    field: str
    value: Any
    container: str = ""


def _container_problem(pod: Obj, statuses: Sequence[Mapping[str, Any]], prefix: str, now: datetime,
                       init: bool) -> PodProblem | None:
    for index, container_status in enumerate(statuses):
        name = str(container_status.get("name") or "")
        state, details = _state(container_status)
        last = last_termination(container_status)
        where = f"status.{prefix}[{index}]"
        kind = "init container" if init else "container"
        if state == "waiting":
            reason = str(details.get("reason") or "")
            message = str(details.get("message") or "")
            if reason in ("ContainerCreating", "PodInitializing") and not init:
                continue
            if init and reason == "PodInitializing":
                continue
            if reason == "CrashLoopBackOff" or (last and reason in ("", "ContainerCreating")):
                category = "OOMKilled" if last.get("reason") == "OOMKilled" else "CrashLoopBackOff"
                detail = f"{kind} {name}: {reason or 'waiting'}, restarted {container_status.get('restartCount', 0)} " \
                         f"times, last termination {termination_text(last, now) or 'unknown'}"
            elif reason in IMAGE_ERRORS:
                category = "ImagePullBackOff"
                detail = f"{kind} {name}: {reason} for image {container_status.get('image') or '?'}" + \
                         (f": {message}" if message else "")
            elif reason in CONFIG_ERRORS:
                category = reason if reason == "CreateContainerConfigError" else "CreateContainerError"
                detail = f"{kind} {name}: {reason}" + (f": {message}" if message else "")
            else:
                category = reason or "Waiting"
                detail = f"{kind} {name}: waiting ({reason or 'no reason given'})" + (f": {message}" if message else "")
            if init and category not in ("ImagePullBackOff", "CreateContainerConfigError", "CreateContainerError"):
                detail = f"{detail} — the app containers wait for it"
                category = "InitContainers"
            return PodProblem(pod, category, detail, f"{where}.state.waiting", dict(details), name)
        if state == "terminated":
            reason = str(details.get("reason") or "")
            if init and reason == "Completed" and details.get("exitCode") in (0, None):
                continue
            category = "OOMKilled" if reason == "OOMKilled" else "InitContainers" if init else "Terminated"
            detail = f"{kind} {name}: terminated {termination_text(details, now)}"
            return PodProblem(pod, category, detail, f"{where}.state.terminated", dict(details), name)
        if state == "running" and init:
            started = k8s.parse_time(details.get("startedAt"))
            detail = f"init container {name} still running after {age_text(started, now)} — the app containers " \
                     "wait for it to finish"
            return PodProblem(pod, "InitContainers", detail, f"{where}.state.running", dict(details), name)
    return None


def why_not_running(snapshot: Snapshot, pod: Obj) -> PodProblem | None:
    """Why the Pod is not up (phase Running with every container running), or None when it is.

    Terminating Pods are SD404's; a Pod without any recorded status (a hand-written manifest)
    is not judged.
    """
    status = k8s.status(pod)
    phase = k8s.pod_phase(pod)
    now = snapshot.now
    if not phase:
        return None
    if phase in ("Succeeded", "Failed"):
        reason = str(status.get("reason") or phase)
        message = str(status.get("message") or "")
        detail = f"phase {phase}" + (f" ({reason})" if reason != phase else "") + (f": {message}" if message else "")
        return PodProblem(pod, "Failed" if phase == "Failed" else "Succeeded", detail, "status.phase", phase)
    if phase == "Unknown":
        node = str(k8s.spec(pod).get("nodeName") or "?")
        return PodProblem(pod, "Unknown", f"phase Unknown: the kubelet on node {node} stopped reporting",
                          "status.phase", phase)
    scheduled = k8s.pod_condition(pod, "PodScheduled")
    if scheduled is not None and str(scheduled.get("status")) == "False":
        message = str(scheduled.get("message") or "")
        events = pod_events(snapshot, pod, "FailedScheduling")
        if events and events[0].message:
            message = events[0].message
        detail = f"{scheduled.get('reason') or 'not scheduled'}: {message or 'no message'}"
        return PodProblem(pod, "Unschedulable", detail, "status.conditions[PodScheduled]", dict(scheduled))
    problem = _container_problem(pod, init_container_statuses(pod), "initContainerStatuses", now, init=True)
    if problem is not None:
        return problem
    problem = _container_problem(pod, k8s.container_statuses(pod), "containerStatuses", now, init=False)
    if problem is not None:
        return problem
    if phase == "Pending":
        if not k8s.spec(pod).get("nodeName"):
            return PodProblem(pod, "Pending", "Pending: not yet scheduled to a node", "status.phase", phase)
        started = k8s.parse_time(status.get("startTime"))
        detail = f"Pending for {age_text(started, now)}: containers are being created"
        # What the kubelet is stuck on (a volume that will not mount, a sandbox the CNI cannot set up).
        stuck = [e for e in pod_events(snapshot, pod, *PENDING_REASONS) if e.message]
        if stuck:
            detail += f"; {stuck[0].reason}: {stuck[0].message}"
        return PodProblem(pod, "Pending", detail, "status.phase", phase)
    return None


def is_ready(pod: Obj) -> bool:
    """Ready and not being deleted: what puts a Pod's address among the ready endpoints."""
    return k8s.pod_is_ready(pod) and not k8s.pod_is_terminating(pod)


def any_ready(pods: Sequence[Obj]) -> bool:
    return any(is_ready(pod) for pod in pods)


def probe_text(probe: Mapping[str, Any]) -> str:
    """A readiness probe as a person reads it: ``httpGet :8080/healthz``, ``tcpSocket :5432``…"""
    if not probe:
        return ""
    if isinstance(probe.get("httpGet"), Mapping):
        http = probe["httpGet"]
        scheme = str(http.get("scheme") or "HTTP")
        path, query, _ = str(http.get("path") or "/").partition("?")
        text = f"httpGet {scheme} {http.get('host') or ''}:{http.get('port')}{path}" + (f"?{MASK}" if query else "")
    elif isinstance(probe.get("tcpSocket"), Mapping):
        text = f"tcpSocket :{probe['tcpSocket'].get('port')}"
    elif isinstance(probe.get("grpc"), Mapping):
        text = f"grpc :{probe['grpc'].get('port')}"
    elif isinstance(probe.get("exec"), Mapping):
        text = "exec " + " ".join(masked(str(part)) for part in k8s.as_list(probe["exec"].get("command")))
    else:
        text = "probe"
    timings = [f"{key}={probe[key]}" for key in ("initialDelaySeconds", "periodSeconds", "timeoutSeconds",
                                                 "failureThreshold") if probe.get(key) is not None]
    return text + (f" ({', '.join(timings)})" if timings else "")
