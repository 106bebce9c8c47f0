"""The state ``svcdoctor watch`` keeps, and the loop that feeds it from the followers.

:class:`WatchState` (no threads, no network) holds every followed object, the current Snapshot
and what it keeps of each Service's last Report (:class:`Diagnosis`). :meth:`WatchState.apply`
takes a batch of changes, builds
the next Snapshot, works out the Services the batch can affect
(:func:`~svcdoctor.watch.affected.affected_services`) and diagnoses only those; the metrics and a
JSON log line follow each verdict that changed. :class:`Watcher` runs the followers and feeds
the state, coalescing a burst of events into one batch.
"""

from __future__ import annotations

import json
import queue
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TextIO

from svcdoctor import k8s
from svcdoctor.app import Invocation, suppressed
from svcdoctor.checks.interface import Check
from svcdoctor.client_names import ClientName
from svcdoctor.findings import Client, Finding
from svcdoctor.kinds import BY_KIND, GATEWAY_KINDS, POLICY_KINDS, Resource
from svcdoctor.report import Report
from svcdoctor.snapshot import Recorded, Snapshot, SnapshotInfo, Unavailable
from svcdoctor.watch.affected import SYSTEM_NAMESPACE, ObjectChange, ServiceKey, affected_services
from svcdoctor.watch.follow import Change, Follower, key_of
from svcdoctor.watch.metrics import WatchMetrics

Obj = dict[str, Any]
#: The kinds a diagnosis reads, followed in the watched namespace (or all): what ``scan`` lists.
NAMESPACED_KINDS = ("Service", "Pod", "EndpointSlice", "Endpoints", "NetworkPolicy", "Ingress", "Event",
                    "Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "CiliumNetworkPolicy", "ReferenceGrant")
#: Followed in every namespace whatever is watched: cluster-scoped kinds, the admin-tier and
#: clusterwide Cilium policies, and Gateway API (a route anywhere may send to a watched Service).
CLUSTER_KINDS = ("Namespace", "Node", *POLICY_KINDS, *GATEWAY_KINDS)
#: What cluster DNS and kube-proxy are made of, followed in kube-system when only one namespace is watched.
SYSTEM_KINDS = ("Service", "Pod", "EndpointSlice", "DaemonSet")
#: The kinds that decide, in the client's namespace, what its Pod may send (its egress).
CLIENT_POLICY_KINDS = ("NetworkPolicy", "CiliumNetworkPolicy")
#: Seconds to wait for more events after the first of a burst, so a rollout is one evaluation.
COALESCE_SECONDS = 0.2

#: Lists or watches of one stream failing in a row after which the API counts as lost: with the
#: back-off (0.5 s doubling), some 4 s without an answer. Verdicts are kept, and said stale.
LOST_AFTER_FAILURES = 4

#: What one Follower follows: a resource, a namespace ("" for all) and one object's name ("" for all).
Followed = tuple[Resource, str, str]


def resources_for(namespace: str | None, client_namespace: str | None = None) -> list[Followed]:
    """What to follow for one namespace (None: all namespaces), as the live source reads it for ``scan``;
    with a client (``--from``) in another namespace, also its Pods and policies there."""
    from svcdoctor.sources.live import FLANNEL_CONFIG_MAP, SYSTEM_CONFIG_MAPS

    followed = [(BY_KIND[kind], namespace or "", "") for kind in NAMESPACED_KINDS]
    if namespace is not None and client_namespace not in (None, namespace):
        followed += [(BY_KIND[kind], client_namespace or "", "") for kind in ("Pod", *CLIENT_POLICY_KINDS)]
    followed += [(BY_KIND[kind], "", "") for kind in CLUSTER_KINDS]
    if namespace not in (None, SYSTEM_NAMESPACE):
        followed += [(BY_KIND[kind], SYSTEM_NAMESPACE, "") for kind in SYSTEM_KINDS]
    # By name, as RBAC grants them (resourceNames): the Corefile, the kubelet's and the CNI's settings.
    config_map = BY_KIND["ConfigMap"]
    followed += [(config_map, SYSTEM_NAMESPACE, name) for name in SYSTEM_CONFIG_MAPS]
    followed.append((config_map, *FLANNEL_CONFIG_MAP))
    return followed


def checked_suppressions(invocation: Invocation) -> set[str] | None:
    """``--ignore`` checked and the ``--baseline`` file's fingerprints read, once, before following anything."""
    from svcdoctor.suppress import read_baseline, validate_ids

    validate_ids(invocation.ignore)
    return read_baseline(invocation.baseline) if invocation.baseline else None


@dataclass(frozen=True, slots=True)
class Diagnosis:
    """What the watch keeps of a Service's report once its metrics are set: the verdict, the ranked
    finding IDs and the root cause. Not the whole Report: the results of every check, kept for
    5,000 Services, were a fifth of the process's memory."""

    verdict: str
    #: The IDs of the findings, ranked (root cause first).
    findings: tuple[str, ...]
    root_cause: Finding | None

    @staticmethod
    def of(report: Report) -> Diagnosis:
        return Diagnosis(report.verdict, tuple(finding.id for finding in report.findings), report.root_cause)


@dataclass(frozen=True)
class Evaluation:
    """What one batch cost: the Services diagnosed, and the verdicts that changed."""

    diagnosed: int
    changed: tuple[tuple[ServiceKey, str, str], ...]
    seconds: float


class WatchState:
    """Every followed object, the Snapshot built from them, and each Service's last :class:`Diagnosis`."""

    def __init__(self, namespace: str | None, metrics: WatchMetrics, *, invocation: Invocation | None = None,
                 baseline: set[str] | None = None, checks: Sequence[Check] | None = None,
                 log: TextIO | None = None, client: ClientName | None = None) -> None:
        from svcdoctor.app import options_for

        self.namespace = namespace
        self.metrics = metrics
        #: The flags that shape the reports (--ignore, --baseline, --cluster-domain), as scan takes them.
        self.invocation = invocation or Invocation()
        self.options = options_for(self.invocation)
        self.baseline = baseline if baseline is not None else checked_suppressions(self.invocation)
        self.checks = checks
        self.log = log if log is not None else sys.stderr
        self.objects: dict[tuple[str, str, str], Obj] = {}
        self.refused: dict[tuple[str, str, str], Unavailable] = {}
        #: The kinds (and namespaces, "" for all) listed so far: the Snapshot says they were read.
        self.listed: set[tuple[str, str]] = set()
        self.snapshot = Snapshot()
        self.reports: dict[ServiceKey, Diagnosis] = {}
        self.diagnosed = 0
        self.built = False
        #: ``--from``: the Pod (or workload) whose connections every Service is judged for.
        self.client_name = client
        #: The Pod it names now (None: not found, then Services are judged for clients in general).
        self.client: Client | None = None
        self._client_labels: dict[str, Any] | None = None

    def _apply_change(self, change: Change, pairs: list[ObjectChange]) -> None:
        if change.type == "LISTED":
            scope = (change.resource.plural, change.namespace, change.name)
            if change.refused:
                self.refused[scope] = Unavailable(change.resource.plural, change.namespace, change.refused)
                return
            self.refused.pop(scope, None)
            self.listed.add((change.resource.kind, change.namespace))
            listed = {key_of(obj): obj for obj in change.listed}
            for key in [k for k in self.objects if k[0] == change.resource.kind
                        and (not change.namespace or k[1] == change.namespace)
                        and (not change.name or k[2] == change.name) and k not in listed]:
                pairs.append((self.objects.pop(key), None))
            for key, obj in listed.items():
                before = self.objects.get(key)
                if before != obj:
                    pairs.append((before, obj))
                    self.objects[key] = obj
            return
        if change.obj is None:
            return
        key = key_of(change.obj)
        before = self.objects.get(key)
        if change.type == "DELETED":
            self.objects.pop(key, None)
            pairs.append((before, None))
        else:
            self.objects[key] = change.obj
            pairs.append((before, change.obj))

    def apply(self, changes: Sequence[Change], *, full: bool = False) -> Evaluation:
        """Apply a batch and re-diagnose the Services it can affect (every Service when ``full``)."""
        from svcdoctor.engine import diagnose_service

        started = time.monotonic()
        pairs: list[ObjectChange] = []
        for change in changes:
            self._apply_change(change, pairs)
        before = self.snapshot
        # A live read: ages are measured from when the batch arrived, as a live check measures them
        # from its read; the kinds listed are recorded, so an empty one means "none exist".
        info = SnapshotInfo(captured_at=datetime.now(UTC), recorded=tuple(
            Recorded(kind, (namespace,) if namespace else ()) for kind, namespace in sorted(self.listed)))
        # Asked of the Snapshot before the batch too: a Pod's old labels, a policy's old selection.
        affected = None if full or not self.built else affected_services(before, pairs)
        if self.built:
            # In place (the old Snapshot is used up): the cost of a batch is what it touches.
            self.snapshot = before.with_changes(pairs, info=info, unavailable=self.refused.values(), reuse=True)
        else:
            self.snapshot = Snapshot(self.objects.values(), info=info, unavailable=self.refused.values())
            self.built = True
        if affected is not None:
            later = affected_services(self.snapshot, pairs)
            affected = None if later is None else affected | later
        if self._client_changed(pairs):
            affected = None  # the client's Pod or its namespace's policies: every Service's policy step
        if affected is None:
            affected = {(k8s.namespace(s), k8s.name(s)) for s in self.snapshot.services}
        changed: list[tuple[ServiceKey, str, str]] = []
        source = {"kind": "live", "watch": True}
        diagnosed: list[Report] = []
        for key in sorted(affected):
            if self.namespace is not None and key[0] != self.namespace:
                continue
            previous = self.reports.get(key)
            if self.snapshot.service(*key) is None:
                if previous is not None:
                    del self.reports[key]
                    self.metrics.forget(key)
                    changed.append((key, previous.verdict, "deleted"))
                continue
            diagnosed.append(diagnose_service(self.snapshot, *key, client=self.client, options=self.options,
                                              checks=self.checks, source=source))
        # What scan would report: --ignore, the ignore annotations and the baseline, before any metric.
        for report in suppressed(diagnosed, self.invocation, self.snapshot, self.baseline):
            key = (report.target.namespace, report.target.name)
            previous = self.reports.get(key)
            self.diagnosed += 1
            self.reports[key] = Diagnosis.of(report)
            self.metrics.update(report)
            if previous is None or previous.verdict != report.verdict:
                changed.append((key, previous.verdict if previous else "", report.verdict))
        seconds = time.monotonic() - started
        self.metrics.evaluation.observe(seconds)
        for key, old, new in changed:
            self._log_change(key, old, new)
        return Evaluation(len([k for k in affected if self.namespace is None or k[0] == self.namespace]),
                          tuple(changed), seconds)

    def _client_changed(self, pairs: Sequence[ObjectChange]) -> bool:
        """Find ``--from``'s Pod again; True when it (its address, labels) or a policy of its namespace changed."""
        if self.client_name is None:
            return False
        from svcdoctor.client_names import choose_pod
        from svcdoctor.errors import InputError

        namespace = self.client_name.namespace
        try:
            # By name first: choosing among the namespace's Pods costs their number, at every batch.
            pod = (self.snapshot.pod(namespace, self.client_name.name) if self.client_name.is_pod else None) \
                or choose_pod(self.client_name, self.snapshot.pods_in(namespace), "cluster",
                              self.snapshot.services_in(namespace))
            client = Client("pod", namespace, k8s.name(pod), k8s.pod_ip(pod))
            problem = ""
        except InputError as error:
            client, pod, problem = None, None, str(error)
        labels = dict(k8s.labels(pod)) if pod is not None else None
        changed = (client, labels) != (self.client, self._client_labels)
        if changed:
            line = {"time": datetime.now(UTC).isoformat(timespec="seconds"), "event": "client",
                    "from": str(self.client_name), "pod": f"{namespace}/{client.name}" if client else None}
            if problem:
                line["problem"] = problem + " (until it is, Services are judged for clients in general)"
            self.log.write(json.dumps(line) + "\n")
            self.log.flush()
        self.client, self._client_labels = client, labels
        return changed or any(str((new or old or {}).get("kind")) in CLIENT_POLICY_KINDS
                              and k8s.namespace(new or old or {}) == namespace for old, new in pairs)

    def _log_change(self, key: ServiceKey, old: str, new: str) -> None:
        report = self.reports.get(key)
        cause = report.root_cause if report is not None else None
        line = {"time": datetime.now(UTC).isoformat(timespec="seconds"), "event": "verdict",
                "namespace": key[0], "service": key[1], "from": old or None, "to": new,
                "rootCause": cause.id if cause is not None and cause.severity.at_least("warning") else None}
        if line["rootCause"]:
            line["explain"] = f"svcdoctor explain {line['rootCause']}"
        self.log.write(json.dumps(line) + "\n")
        self.log.flush()


class Watcher:
    """Follows the cluster and keeps :class:`WatchState` current, in daemon threads."""

    def __init__(self, api_client: Any, state: WatchState, *, coalesce: float = COALESCE_SECONDS) -> None:
        self.state = state
        self.metrics = state.metrics
        self.coalesce = coalesce
        self.changes: queue.Queue[Change] = queue.Queue()
        client_namespace = state.client_name.namespace if state.client_name is not None else None
        self.followers = [Follower(api_client, resource, namespace, self.changes, self._error, self._relist, name,
                                   on_health=self._health)
                          for resource, namespace, name in resources_for(state.namespace, client_namespace)]
        # Each follower holds a connection for its stream: with a smaller pool, urllib3 discards
        # connections and warns on stderr, among the JSON lines.
        pool = api_client.rest_client.pool_manager.connection_pool_kw
        pool["maxsize"] = max(int(pool.get("maxsize") or 1), len(self.followers) + 4)
        self.evaluations = 0
        self.last_error = ""
        #: Since when (Unix time) the API counts as lost; None while it answers.
        self.lost_since: float | None = None
        self._health_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="svcdoctor-watch", daemon=True)

    def _error(self, resource: str, error: BaseException) -> None:
        self.metrics.errors.labels(resource).inc()
        self.last_error = f"{resource}: {type(error).__name__}: {error}"

    def _health(self, follower: Follower) -> None:
        """A follower's failures in a row changed: the API is lost while one has failed
        :data:`LOST_AFTER_FAILURES` times in a row, regained once none has; each turn is one JSON line."""
        with self._health_lock:
            failing = [f for f in self.followers if f.failures >= LOST_AFTER_FAILURES]
            now = time.time()
            if failing:
                worst = max(failing, key=lambda f: f.failures)
                where = f"{worst.namespace}/" if worst.namespace else ""
                reason = (f"the API server has not answered for {worst.failures} tries in a row "
                          f"({len(failing)} of {len(self.followers)} streams, e.g. {where}{worst.resource.plural}: "
                          f"{worst.last_error[:300]}); verdicts are from before")
                self.metrics.set_lost(reason)
                if self.lost_since is None:
                    self.lost_since = now
                    self._log({"event": "api", "state": "lost", "reason": reason})
            elif self.lost_since is not None:
                seconds = round(now - self.lost_since, 1)
                self.lost_since = None
                self.metrics.set_lost("")
                self._log({"event": "api", "state": "regained", "lostSeconds": seconds})

    def _log(self, line: dict[str, Any]) -> None:
        self.state.log.write(json.dumps({"time": datetime.now(UTC).isoformat(timespec="seconds"), **line}) + "\n")
        self.state.log.flush()

    def _relist(self, resource: str) -> None:
        self.metrics.relists.labels(resource).inc()

    def start(self) -> Watcher:
        for follower in self.followers:
            follower.start()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for follower in self.followers:
            follower.stop()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until stopped (Ctrl-C) or ``timeout``; True when it stopped."""
        return self._stop.wait(timeout)

    def _take(self, timeout: float) -> list[Change]:
        try:
            batch = [self.changes.get(timeout=timeout)]
        except queue.Empty:
            return []
        deadline = time.monotonic() + self.coalesce
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                batch.append(self.changes.get(timeout=remaining))
            except queue.Empty:
                break
        return batch

    def _count(self, batch: Sequence[Change]) -> None:
        for change in batch:
            if change.type != "LISTED":
                self.metrics.events.labels(change.resource.plural, change.type).inc()
        self.metrics.last_event.set(time.time())

    def _run(self) -> None:
        first: list[Change] = []
        expected = {(f.resource.plural, f.namespace, f.name) for f in self.followers}
        while expected and not self._stop.is_set():
            batch = self._take(0.5)
            first += batch
            expected -= {(c.resource.plural, c.namespace, c.name) for c in batch if c.type == "LISTED"}
        self._run_batch(first, full=True)
        self.metrics.ready.set()
        while not self._stop.is_set():
            batch = self._take(0.5)
            if batch:
                self._run_batch(batch)

    def _run_batch(self, batch: Sequence[Change], full: bool = False) -> None:
        self._count(batch)
        try:
            self.state.apply(batch, full=full)
        except Exception as error:  # one bad batch must not end the watch; it is counted and shown
            self._error("evaluation", error)
            sys.stderr.write(f"svcdoctor watch: evaluation failed: {type(error).__name__}: {error}\n")
        self.evaluations += 1
