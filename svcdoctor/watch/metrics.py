"""What ``svcdoctor watch`` exports to Prometheus (with ``prometheus_client``), and its HTTP endpoint.

Per Service, kept near one series each:

* ``svcdoctor_service_verdict{namespace,service,verdict}``: one series per verdict value, 1 for
  the current one and 0 for the others (the kube-state-metrics convention);
* ``svcdoctor_service_root_cause{namespace,service,id,severity}`` = 1, only while the Service has
  a root cause at warning or above;
* ``svcdoctor_service_step_state{namespace,service,step,state}`` = 1, only for steps not ``pass``.

A Service's series go when it is deleted; its root-cause and step series go when it recovers.
The watcher's own health: ``svcdoctor_watch_last_event_timestamp_seconds``,
``svcdoctor_watch_relists_total``, ``svcdoctor_watch_errors_total``,
``svcdoctor_watch_events_total``, ``svcdoctor_watch_services`` and the
``svcdoctor_watch_evaluation_duration_seconds`` histogram. ``/healthz`` answers while the process
runs, ``/readyz`` once the first full evaluation is done.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from svcdoctor.report import VERDICTS, Report

ServiceKey = tuple[str, str]


class WatchMetrics:
    """The gauges of every watched Service, and the watcher's own counters, in one registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        labels = ("namespace", "service")
        self.verdict = Gauge("svcdoctor_service_verdict", "The Service's verdict: 1 for the current value, 0 else.",
                             (*labels, "verdict"), registry=self.registry)
        self.root_cause = Gauge("svcdoctor_service_root_cause", "1 while the Service has this root cause.",
                                (*labels, "id", "severity"), registry=self.registry)
        self.step_state = Gauge("svcdoctor_service_step_state", "1 for each debugging step that is not pass.",
                                (*labels, "step", "state"), registry=self.registry)
        self.last_event = Gauge("svcdoctor_watch_last_event_timestamp_seconds",
                                "When the last watch event arrived (Unix time).", registry=self.registry)
        self.relists = Counter("svcdoctor_watch_relists", "Full lists after the first (410 Gone, errors).",
                               ("resource",), registry=self.registry)
        self.errors = Counter("svcdoctor_watch_errors", "Failed lists or watches (each is retried with back-off).",
                              ("resource",), registry=self.registry)
        self.events = Counter("svcdoctor_watch_events", "Watch events received.", ("resource", "type"),
                              registry=self.registry)
        self.services = Gauge("svcdoctor_watch_services", "Services being watched.", registry=self.registry)
        self.evaluation = Histogram("svcdoctor_watch_evaluation_duration_seconds",
                                    "Time to apply one batch of changes and re-diagnose the Services it affects.",
                                    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30), registry=self.registry)
        self._series: dict[ServiceKey, tuple[tuple[str, str] | None, tuple[tuple[str, str], ...]]] = {}
        self._lock = threading.Lock()
        self.ready = threading.Event()

    def update(self, report: Report) -> None:
        """Set a Service's series from its report, removing the ones that no longer hold."""
        key = (report.target.namespace, report.target.name)
        cause = report.root_cause
        root = (cause.id, str(cause.severity)) if cause is not None and cause.severity.at_least("warning") else None
        steps = tuple((str(step.step), step.status) for step in report.steps if step.status != "pass")
        with self._lock:
            old_root, old_steps = self._series.get(key, (None, ()))
            for verdict in VERDICTS:
                self.verdict.labels(*key, verdict).set(1 if verdict == report.verdict else 0)
            if old_root is not None and old_root != root:
                self.root_cause.remove(*key, *old_root)
            if root is not None:
                self.root_cause.labels(*key, *root).set(1)
            for step in set(old_steps) - set(steps):
                self.step_state.remove(*key, *step)
            for step in steps:
                self.step_state.labels(*key, *step).set(1)
            self._series[key] = (root, steps)
            self.services.set(len(self._series))

    def forget(self, key: ServiceKey) -> None:
        """Remove every series of a deleted Service."""
        with self._lock:
            known = self._series.pop(key, None)
            if known is None:
                return
            for verdict in VERDICTS:
                self.verdict.remove(*key, verdict)
            if known[0] is not None:
                self.root_cause.remove(*key, *known[0])
            for step in known[1]:
                self.step_state.remove(*key, *step)
            self.services.set(len(self._series))

    def known(self) -> set[ServiceKey]:
        with self._lock:
            return set(self._series)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class MetricsServer:
    """``/metrics``, ``/healthz`` and ``/readyz`` on ``host:port`` (port 0: a free one)."""

    def __init__(self, metrics: WatchMetrics, host: str, port: int) -> None:
        handler = type("Handler", (_Handler,), {"metrics": metrics})
        self._httpd = ThreadingHTTPServer((host, port), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="svcdoctor-metrics", daemon=True)

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._httpd.server_address[:2]
        return str(host), int(port)

    def start(self) -> MetricsServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


class _Handler(BaseHTTPRequestHandler):
    metrics: WatchMetrics

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            self._answer(200, self.metrics.exposition(), CONTENT_TYPE_LATEST)
        elif path == "/healthz":
            self._answer(200, b"ok\n")
        elif path == "/readyz":
            ready = self.metrics.ready.is_set()
            self._answer(200 if ready else 503, b"ok\n" if ready else b"first evaluation not done\n")
        else:
            self._answer(404, b"not found: /metrics, /healthz, /readyz\n")

    def _answer(self, status: int, body: bytes, content_type: str = "text/plain; charset=utf-8") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
