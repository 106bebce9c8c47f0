"""Following the API: one list, then the watch stream, per resource — with the real ``kubernetes`` client.

Each :class:`Follower` lists its resource (the list's ``resourceVersion``), then follows
``kubernetes.watch.Watch().stream`` from it with bookmarks. A stream that ends (its
``timeoutSeconds``, or a dropped connection) is resumed from the last resourceVersion seen; ``410
Gone`` (the history was compacted) means list again; any other error is retried after a growing
back-off. Every change goes to one queue as a :class:`Change`; a list sends the whole new state, so
the consumer can drop what vanished while nothing was watched.

A follower may follow one named object (``fieldSelector=metadata.name=NAME``: what RBAC's
``resourceNames`` allows to list and watch), as for the ConfigMaps of kube-system. A custom
resource whose CRD is not installed answers 404 at every version the table knows: that is "none
exist" (an empty list), not an error, and the list is tried again every few minutes in case the CRD
arrives. What no check reads and clusters write at length (``managedFields``, the last-applied
annotation) is dropped from each object as it arrives.
"""

from __future__ import annotations

import queue
import random
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from svcdoctor import k8s
from svcdoctor.kinds import Resource
from svcdoctor.minimal import drop_unread_metadata

Obj = dict[str, Any]
#: Seconds a watch request asks the server to keep the stream open before it is resumed.
WATCH_SECONDS = 300
BACKOFF_START = 0.5
BACKOFF_MAX = 30.0
#: What a list answers when the CRD of its custom resource is not installed.
NOT_INSTALLED = "not installed"
#: Seconds between lists of a custom resource whose CRD was not installed.
NOT_INSTALLED_RETRY = 300.0


@dataclass(frozen=True)
class Change:
    """One watch event (``ADDED``/``MODIFIED``/``DELETED``), or a fresh list (``LISTED``, every object)."""

    resource: Resource
    namespace: str
    type: str
    obj: Obj | None = None
    listed: tuple[Obj, ...] = ()
    #: For a list that failed for good (403, 404): why, so the diagnosis says the kind was not read.
    refused: str = ""
    #: The one object the follower follows ("" for every object of the kind): a LISTED replaces only it.
    name: str = ""


class Follower:
    """List-then-watch of one resource in one namespace ("" for all), or of one named object, in a daemon thread."""

    def __init__(self, api_client: Any, resource: Resource, namespace: str, changes: queue.Queue[Change],
                 on_error: Callable[[str, BaseException], None], on_relist: Callable[[str], None],
                 name: str = "", on_health: Callable[[Follower], None] | None = None) -> None:
        self.api_client = api_client
        self.resource = resource
        self.namespace = namespace if resource.namespaced else ""
        self.name = name
        self.changes = changes
        self.on_error = on_error
        self.on_relist = on_relist
        #: Told each time :attr:`failures` goes up, or back to 0.
        self.on_health = on_health
        self.lists = 0
        #: Lists or watches that failed in a row (0 once the API answers again); the last one's error.
        self.failures = 0
        self.last_error = ""
        #: The version the server serves (a CRD may serve only an older one), found by the list.
        self.version = resource.version
        self._stop = threading.Event()
        self._watch: Any = None
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"watch-{resource.plural}")

    def start(self) -> Follower:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._watch is not None:
            self._watch.stop()

    def _path(self) -> str:
        return self.resource.path(self.namespace, version=self.version)

    def _selection(self) -> list[tuple[str, str]]:
        return [("fieldSelector", f"metadata.name={self.name}")] if self.name else []

    def _change(self, type: str, obj: Obj | None = None, listed: tuple[Obj, ...] = (), refused: str = "") -> Change:
        return Change(self.resource, self.namespace, type, obj, listed, refused, self.name)

    def _failed(self, error: BaseException) -> None:
        self.failures += 1
        self.last_error = f"{type(error).__name__}: {error}".strip()
        self.on_error(self.resource.plural, error)
        if self.on_health is not None:
            self.on_health(self)

    def _answered(self) -> None:
        """The API answered this follower (a list, a watch event, a 410): its failures in a row end."""
        if self.failures:
            self.failures = 0
            if self.on_health is not None:
                self.on_health(self)

    def _run(self) -> None:
        from kubernetes.client.exceptions import ApiException

        backoff = BACKOFF_START
        version = ""
        while not self._stop.is_set():
            try:
                if not version:
                    version = self._list()
                    if version == NOT_INSTALLED:
                        version = ""
                        self._stop.wait(NOT_INSTALLED_RETRY)
                        continue
                    if not version:
                        return  # refused for good: said once in a Change
                version = self._follow(version)
                backoff = BACKOFF_START
            except ApiException as error:
                if error.status == 410:
                    self._answered()
                    version = ""  # the history we resumed from is gone: list again
                    continue
                self._failed(error)
                self._stop.wait(backoff * (1 + random.random() / 4))
                backoff = min(backoff * 2, BACKOFF_MAX)
            except Exception as error:  # connection refused, reset, malformed answer: retried
                self._failed(error)
                self._stop.wait(backoff * (1 + random.random() / 4))
                backoff = min(backoff * 2, BACKOFF_MAX)

    def _list(self) -> str:
        import json

        from kubernetes.client.exceptions import ApiException

        items: list[Obj] = []
        token = ""
        versions = [self.resource.version, *self.resource.older_versions]
        while True:
            query: list[tuple[str, str]] = [("limit", "500"), *self._selection()]
            if token:
                query.append(("continue", token))
            try:
                response = self.api_client.call_api(self._path(), "GET", query_params=query,
                                                    header_params={"Accept": "application/json"},
                                                    auth_settings=["BearerToken"], _preload_content=False,
                                                    _request_timeout=60)
            except ApiException as error:
                if error.status == 404 and self.resource.custom and not token:
                    position = versions.index(self.version) + 1 if self.version in versions else len(versions)
                    if position < len(versions):
                        self.version = versions[position]  # an older cluster serves an older version of the CRD
                        continue
                    self.version = self.resource.version
                    self._answered()
                    self.changes.put(self._change("LISTED"))  # the CRD is not installed: none exist
                    return NOT_INSTALLED
                if error.status in (403, 404):
                    self._answered()
                    why = "forbidden: " if error.status == 403 else ""
                    self.changes.put(self._change("LISTED", refused=f"{why}the API server answered {error.status} "
                                                                    f"to list {self.resource.plural}"))
                    return ""
                raise
            body = k8s.as_map(json.loads(response.data))
            for item in k8s.as_list(body.get("items")):
                if isinstance(item, dict):
                    item.setdefault("kind", self.resource.kind)
                    item.setdefault("apiVersion", self.resource.api_version)
                    items.append(drop_unread_metadata(item))
            metadata = k8s.as_map(body.get("metadata"))
            token = str(metadata.get("continue") or "")
            if not token:
                break
        self._answered()
        if self.lists:
            self.on_relist(self.resource.plural)
        self.lists += 1
        self.changes.put(self._change("LISTED", listed=tuple(items)))
        return str(metadata.get("resourceVersion") or "0")

    def _follow(self, version: str) -> str:
        """Follow the stream from ``version`` until it ends; returns the last resourceVersion seen."""
        from kubernetes import watch

        def request(**kwargs: Any) -> Any:
            """Open one watch request on the resource's path."""
            query = [("watch", "true"), ("allowWatchBookmarks", "true"), *self._selection(),
                     ("resourceVersion", str(kwargs.get("resource_version") or version)),
                     ("timeoutSeconds", str(kwargs.get("timeout_seconds") or WATCH_SECONDS))]
            return self.api_client.call_api(self._path(), "GET", query_params=query,
                                            header_params={"Accept": "application/json"},
                                            auth_settings=["BearerToken"], _preload_content=False,
                                            _request_timeout=(10, WATCH_SECONDS + 30))

        self._watch = watch.Watch()
        # ``request`` declares no return type, so the client hands back the objects as dicts (and
        # still turns an ERROR event into ApiException, which deserialize=False would not).
        for event in self._watch.stream(request, resource_version=version, timeout_seconds=WATCH_SECONDS):
            obj = event.get("object")
            if not isinstance(obj, dict):
                continue
            self._answered()
            version = str(k8s.meta(obj).get("resourceVersion") or version)
            if event.get("type") == "BOOKMARK":
                continue
            obj.setdefault("kind", self.resource.kind)
            obj.setdefault("apiVersion", self.resource.api_version)
            self.changes.put(self._change(str(event.get("type")), drop_unread_metadata(obj)))
            if self._stop.is_set():
                break
        return version


def key_of(obj: Mapping[str, Any]) -> tuple[str, str, str]:
    return (str(obj.get("kind") or ""), k8s.namespace(obj), k8s.name(obj))
