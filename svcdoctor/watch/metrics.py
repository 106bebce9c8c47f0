"""What ``svcdoctor watch`` exports to Prometheus (with ``prometheus_client``), and its HTTP endpoint.

Per Service, kept near one series each:

* ``svcdoctor_service_verdict{namespace,service,verdict}``: one series per verdict value, 1 for
  the current one and 0 for the others (the kube-state-metrics convention);
* ``svcdoctor_service_root_cause{namespace,service,id,severity}`` = 1, only while the Service has
  a root cause at warning or above;
* ``svcdoctor_service_step_state{namespace,service,step,state}`` = 1, only for steps ``fail`` or
  ``unknown`` (:data:`EXPORTED_STEP_STATES`).

A Service's series go when it is deleted; its root-cause and step series go when it recovers. They
are made at each scrape from one tuple per Service (a ``prometheus_client`` custom collector).
The watcher's own health: ``svcdoctor_watch_last_event_timestamp_seconds``,
``svcdoctor_watch_relists_total``, ``svcdoctor_watch_errors_total``,
``svcdoctor_watch_events_total``, ``svcdoctor_watch_services``, ``svcdoctor_watch_up`` (0 while the
API is lost) and the ``svcdoctor_watch_evaluation_duration_seconds`` histogram. ``/healthz`` answers
while the process runs, ``/readyz`` once the first full evaluation is done and while the API is not lost.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from svcdoctor.report import VERDICTS, Report

ServiceKey = tuple[str, str]
#: The step states that get a series. ``partial`` and ``skipped`` are what a healthy Service
#: normally has (a step without a kind it reads, a step not on its path): exporting them gave a
#: healthy Service some 4 step series beside its verdict's, a departure from "near one series per
#: Service"; a ``fail`` or ``unknown`` step is what an alert or a dashboard wants to see.
EXPORTED_STEP_STATES = ("fail", "unknown")


#: What the series of one Service say: its verdict, its root cause (ID, severity) and its steps ``fail`` or ``unknown``.
Series = tuple[str, tuple[str, str] | None, tuple[tuple[str, str], ...]]


class _ServiceSeries(Collector):
    """The per-Service gauges, made from one small tuple per Service at each scrape.

    A ``Gauge`` child per series (a lock and a value object each, some 20 per Service) was tens of
    megabytes for 5,000 Services; a collector yields the same exposition from what the watch keeps.
    """

    def __init__(self) -> None:
        self.series: dict[ServiceKey, Series] = {}
        self.lock = threading.Lock()

    def describe(self) -> list[GaugeMetricFamily]:
        return list(self._families())

    def collect(self) -> list[GaugeMetricFamily]:
        verdicts, causes, steps = self._families()
        with self.lock:
            items = list(self.series.items())
        for key, (verdict, cause, failing) in items:
            for value in VERDICTS:
                verdicts.add_metric((*key, value), 1 if value == verdict else 0)
            if cause is not None:
                causes.add_metric((*key, *cause), 1)
            for step in failing:
                steps.add_metric((*key, *step), 1)
        return [verdicts, causes, steps]

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily]:
        labels = ["namespace", "service"]
        verdict = "The Service's verdict: 1 for the current value, 0 else."
        return (GaugeMetricFamily("svcdoctor_service_verdict", verdict, labels=[*labels, "verdict"]),
                GaugeMetricFamily("svcdoctor_service_root_cause", "1 while the Service has this root cause.",
                                  labels=[*labels, "id", "severity"]),
                GaugeMetricFamily("svcdoctor_service_step_state", "1 for each debugging step that is fail or unknown.",
                                  labels=[*labels, "step", "state"]))


class WatchMetrics:
    """The gauges of every watched Service, and the watcher's own counters, in one registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._services = _ServiceSeries()
        self.registry.register(self._services)
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
        self.up = Gauge("svcdoctor_watch_up", "1 while the API server answers the watch streams; 0 once one has "
                        "failed several times in a row (the verdicts are then from before).", registry=self.registry)
        self.up.set(1)
        self.ready = threading.Event()
        #: Why the API counts as lost ("" while it answers): /readyz answers 503 with it.
        self.lost = ""

    def set_lost(self, reason: str) -> None:
        """The API is lost (``reason``) or, with "", answers again."""
        self.lost = reason
        self.up.set(0 if reason else 1)

    def update(self, report: Report) -> None:
        """Set a Service's series from its report: the ones that no longer hold are gone at the next scrape."""
        key = (report.target.namespace, report.target.name)
        cause = report.root_cause
        root = (cause.id, str(cause.severity)) if cause is not None and cause.severity.at_least("warning") else None
        steps = tuple((str(step.step), step.status) for step in report.steps
                      if step.status in EXPORTED_STEP_STATES)
        with self._services.lock:
            self._services.series[key] = (report.verdict, root, steps)
            self.services.set(len(self._services.series))

    def forget(self, key: ServiceKey) -> None:
        """Remove every series of a deleted Service."""
        with self._services.lock:
            self._services.series.pop(key, None)
            self.services.set(len(self._services.series))

    def known(self) -> set[ServiceKey]:
        with self._services.lock:
            return set(self._services.series)

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
            if not self.metrics.ready.is_set():
                self._answer(503, b"first evaluation not done\n")
            elif lost := self.metrics.lost:
                self._answer(503, f"API lost: {lost}\n".encode())
            else:
                self._answer(200, b"ok\n")
        else:
            self._answer(404, b"not found: /metrics, /healthz, /readyz\n")

    def _answer(self, status: int, body: bytes, content_type: str = "text/plain; charset=utf-8") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
