"""Watch streams for ``svcdoctor snapshot serve``: the events a real API server sends when objects change.

``snapshot serve FILE`` follows FILE (:class:`FileFollower`): when it is replaced or rewritten, the
served objects are compared with the new ones and each difference becomes an event —
``ADDED``, ``MODIFIED`` (content changed) or ``DELETED`` — with a new ``resourceVersion``, as
the real server would send them. Once :func:`hub_of` made a server's hub, a request with
``watch=true`` (:func:`stream`) gets, as newline-delimited JSON over a chunked answer:

* with ``resourceVersion`` empty or ``0``: ``ADDED`` for every current object, then the changes;
* with a ``resourceVersion`` still in the kept history: the changes after it;
* with one older than the history (:meth:`WatchHub.compact` forgets it): one ``ERROR`` event with
  a ``410 Gone`` Status (``Expired``), so the client must list again;
* ``BOOKMARK`` events while idle when ``allowWatchBookmarks=true``;
* the end of the stream after ``timeoutSeconds``, or at once when :meth:`WatchHub.drop_connections`
  is called (the tests' dropped connection).

Every watch stream holds one of the server's connections for as long as it is open.
"""

from __future__ import annotations

import copy
import io
import json
import os
import sys
import threading
import time
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

from svcdoctor import k8s
from svcdoctor.kinds import BY_KIND, RESOURCES, Resource
from svcdoctor.selectors import SelectorError, parse
from svcdoctor.serve.apiserver import (
    SnapshotAPIServer,
    WatchRequest,
    _field_matches,
    _parse_field_selector,
    status_object,
)

Obj = dict[str, Any]

#: How many change events the server keeps for watches that resume from a resourceVersion.
HISTORY = 10_000
#: Seconds between BOOKMARK events on an idle stream.
BOOKMARK_SECONDS = 1.0


@dataclass(frozen=True)
class Event:
    resource_version: int
    type: str
    plural: str
    namespace: str
    obj: Obj


class WatchHub:
    """The change history of one server and the condition its watch streams wait on."""

    def __init__(self, server: SnapshotAPIServer, history: int = HISTORY) -> None:
        self.server = server
        self.history_size = history
        self.events: list[Event] = []
        #: Watches asking for a resourceVersion below this get 410 Gone.
        self.oldest = server._resource_version
        self.changed = threading.Condition(server._lock)
        self.generation = 0
        self.open_streams = 0

    def reload(self, objects: Iterable[Mapping[str, Any]]) -> int:
        """Serve ``objects`` instead of the current ones; returns how many events that made."""
        wanted: dict[str, dict[tuple[str, str], Obj]] = {r.plural: {} for r in RESOURCES}
        for obj in objects:
            resource = BY_KIND.get(str(obj.get("kind") or ""))
            if resource is None or resource.kind == "Secret" or obj.get("apiVersion") == "svcdoctor.dev/v1":
                continue
            stored = copy.deepcopy(dict(obj))
            if not isinstance(stored.setdefault("metadata", {}), dict):
                continue
            wanted[resource.plural][(k8s.namespace(stored) if resource.namespaced else "", k8s.name(stored))] = stored
        made = 0
        with self.changed:
            server = self.server
            for resource in RESOURCES:
                current = server._objects[resource.plural]
                new = wanted[resource.plural]
                for key in sorted(set(current) | set(new)):
                    before, after = current.get(key), new.get(key)
                    if after is None and before is not None:
                        del current[key]
                        self._record("DELETED", resource, key[0], before)
                    elif after is not None and (before is None or _content(before) != _content(after)):
                        current[key] = after
                        self._record("MODIFIED" if before is not None else "ADDED", resource, key[0], after)
                    else:
                        continue
                    made += 1
            if made:
                self.changed.notify_all()
        return made

    def _record(self, kind: str, resource: Resource, namespace: str, obj: Obj) -> None:
        self.server._resource_version += 1
        version = self.server._resource_version
        obj = copy.deepcopy(obj)
        obj["metadata"]["resourceVersion"] = str(version)
        if kind != "DELETED":
            self.server._objects[resource.plural][(namespace, k8s.name(obj))]["metadata"]["resourceVersion"] = \
                str(version)
        obj.setdefault("kind", resource.kind)
        obj.setdefault("apiVersion", resource.api_version)
        self.events.append(Event(version, kind, resource.plural, namespace, obj))
        if len(self.events) > self.history_size:
            dropped = self.events[: len(self.events) - self.history_size]
            del self.events[: len(dropped)]
            self.oldest = dropped[-1].resource_version

    def compact(self) -> None:
        """Forget the history, as etcd compaction does after other writes: a watch resuming from any
        resourceVersion served so far gets 410 Gone."""
        with self.changed:
            self.events.clear()
            self.server._resource_version += 1
            self.oldest = self.server._resource_version
            self.changed.notify_all()

    def drop_connections(self) -> None:
        """End every open watch stream at once, without a final chunk (a dropped connection)."""
        with self.changed:
            self.generation += 1
            self.changed.notify_all()


def _content(obj: Mapping[str, Any]) -> Obj:
    compared = dict(obj)
    metadata = dict(k8s.as_map(compared.get("metadata")))
    metadata.pop("resourceVersion", None)
    compared["metadata"] = metadata
    return compared


_HUBS: weakref.WeakKeyDictionary[SnapshotAPIServer, WatchHub] = weakref.WeakKeyDictionary()
_HUBS_LOCK = threading.Lock()


def hub_of(server: SnapshotAPIServer) -> WatchHub:
    """The server's hub, made on first use; from then on the server answers watch requests."""
    with _HUBS_LOCK:
        hub = _HUBS.get(server)
        if hub is None:
            hub = _HUBS[server] = WatchHub(server)
            server.watch_streams = lambda handler, request: stream(handler, server, request)
        return hub


def stream(handler: BaseHTTPRequestHandler, server: SnapshotAPIServer, request: WatchRequest) -> int:
    """Answer one watch request on ``handler``'s connection; returns the HTTP status sent."""
    hub = hub_of(server)
    resource, query = request.resource, request.query
    try:
        selector = parse(query.get("labelSelector", ""))
        fields = _parse_field_selector(query.get("fieldSelector", ""), resource.kind)
        since_text = query.get("resourceVersion", "")
        since = int(since_text) if since_text not in ("", "0") else None
        timeout = float(query.get("timeoutSeconds") or 1800)
    except (SelectorError, ValueError) as error:
        body = json.dumps(status_object(400, "BadRequest", str(error))).encode()
        handler.send_response(400)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)
        return 400
    bookmarks = query.get("allowWatchBookmarks") in ("1", "true")

    def wanted(event: Event) -> bool:
        return (event.plural == resource.plural and (not request.namespace or event.namespace == request.namespace)
                and selector.matches(k8s.labels(event.obj))
                and all(_field_matches(event.obj, requirement) for requirement in fields))

    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Transfer-Encoding", "chunked")
    handler.send_header("Cache-Control", "no-cache, private")
    handler.end_headers()

    def send(event_type: str, obj: Obj) -> None:
        data = json.dumps({"type": event_type, "object": obj}, separators=(",", ":")).encode() + b"\n"
        handler.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        handler.wfile.flush()

    deadline = time.monotonic() + timeout
    pending: list[tuple[str, Obj]] = []
    with hub.changed:
        hub.open_streams += 1
        generation = hub.generation
        if since is None:
            position = len(hub.events)
            for (namespace, _), obj in sorted(server._objects[resource.plural].items()):
                if (not request.namespace or namespace == request.namespace) and selector.matches(k8s.labels(obj)):
                    added = copy.deepcopy(obj)
                    added.setdefault("kind", resource.kind)
                    added.setdefault("apiVersion", resource.api_version)
                    pending.append(("ADDED", added))
        elif since < hub.oldest:
            position = -1
        else:
            position = next((i for i, e in enumerate(hub.events) if e.resource_version > since), len(hub.events))
    try:
        if position < 0:
            send("ERROR", status_object(410, "Expired", f"too old resource version: {since} ({hub.oldest})"))
            _end(handler)
            return 200
        last_sent = time.monotonic()
        while True:
            for event_type, obj in pending:
                send(event_type, obj)
                last_sent = time.monotonic()
            pending = []
            with hub.changed:
                if hub.generation != generation:
                    handler.close_connection = True
                    handler.connection.shutdown(2)  # no final chunk: the client sees the connection drop
                    handler.wfile = io.BytesIO()  # the handler's own final flush must not hit the closed socket
                    return 200
                if position > len(hub.events):  # compacted meanwhile
                    position = len(hub.events)
                new = hub.events[position:]
                position = len(hub.events)
                version = server._resource_version
                if not new:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    hub.changed.wait(min(remaining, BOOKMARK_SECONDS))
            pending = [(event.type, event.obj) for event in new if wanted(event)]
            if not pending and bookmarks and time.monotonic() - last_sent >= BOOKMARK_SECONDS:
                send("BOOKMARK", {"kind": resource.kind, "apiVersion": resource.api_version,
                                  "metadata": {"resourceVersion": str(version)}})
                last_sent = time.monotonic()
        _end(handler)
        return 200
    except (BrokenPipeError, ConnectionResetError, OSError):
        handler.close_connection = True
        return 200
    finally:
        with hub.changed:
            hub.open_streams -= 1


def _end(handler: BaseHTTPRequestHandler) -> None:
    handler.wfile.write(b"0\r\n\r\n")
    handler.wfile.flush()


class FileFollower:
    """Reloads the served objects when FILE changes (polled: works for a rename and an in-place write)."""

    def __init__(self, path: str, server: SnapshotAPIServer, interval: float = 0.25) -> None:
        self.path = path
        self.server = server
        self.interval = interval
        self.reloads = 0
        self._stop = threading.Event()
        self._seen = self._stamp()
        self._thread = threading.Thread(target=self._run, name="snapshot-follow", daemon=True)

    def _stamp(self) -> tuple[int, int, int] | None:
        try:
            status = os.stat(self.path)
        except OSError:
            return None
        return (status.st_ino, status.st_mtime_ns, status.st_size)

    def start(self) -> FileFollower:
        hub_of(self.server)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        from svcdoctor.errors import SvcdoctorError
        from svcdoctor.sources.files import load_objects

        while not self._stop.wait(self.interval):
            stamp = self._stamp()
            if stamp is None or stamp == self._seen:
                continue
            self._seen = stamp
            try:
                objects = load_objects(self.path)
            except SvcdoctorError as error:  # a half-written file: keep serving the last good one
                sys.stderr.write(f"svcdoctor: {self.path} not reloaded: {error}\n")
                continue
            made = hub_of(self.server).reload(objects)
            self.reloads += 1
            sys.stderr.write(f"svcdoctor: reloaded {self.path}: {made} change(s)\n")
            sys.stderr.flush()
