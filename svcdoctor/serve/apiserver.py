"""A read-only Kubernetes API server that serves a snapshot over the real REST shape.

It lets real clients — the official ``kubernetes`` Python client inside svcdoctor, ``kubectl``,
k9s — read a recorded snapshot as if it were a cluster: ``/version``, legacy discovery (``/api``,
``/apis``, ``/api/v1``, ``/apis/<group>/<version>`` with verbs, scope, short names and kinds),
list and get for every kind in :mod:`svcdoctor.kinds` (namespaced and cluster-wide),
``labelSelector`` (the real selector grammar), ``fieldSelector`` (the fields the real server
supports for each kind), ``limit``/``continue`` paging and a ``resourceVersion`` on every list.
Errors are ``Status`` objects as the real server writes them (404, 403, 401, 405, 400).

It can forbid resources (403 like RBAC), require a bearer token (401), answer slowly (injected
latency), serve TLS, and it logs every request (verb, path, query). Anything but GET is refused
with 405: nothing here can change. ``svcdoctor snapshot serve FILE`` runs it for users; the tests
run it (with helpers from :mod:`svcdoctor.testing`) to drive the real ``kubernetes`` client.

Hardened for users (docs/security.md): only a ``Host`` of 127.0.0.1, localhost or [::1] is answered
(421 otherwise: DNS rebinding), ``snapshot serve`` requires a bearer token made per run, a body
over MAX_BODY_BYTES gets 413 and too many or too long headers 431, every socket operation must
finish within REQUEST_TIMEOUT, at most MAX_CONNECTIONS connections are served at once by a bounded
pool (one more gets 503 at once), and the log keeps the last LOG_LIMIT requests. A connection holds
its pool slot for as long as it lasts, so a long-lived watch stream (served inside the handler,
writing events as they come) counts toward MAX_CONNECTIONS like any request; a watch handler
that waits longer than REQUEST_TIMEOUT between writes should send a bookmark or widen its own
socket timeout, not the class default. Stopping the server ends every open connection at once.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import copy
import json
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from svcdoctor import k8s
from svcdoctor.kinds import BY_KIND, RESOURCES, Resource
from svcdoctor.selectors import SelectorError, parse
from svcdoctor.serve.tables import table_version, to_table

Obj = dict[str, Any]

#: Fields the real API server accepts in a fieldSelector, by kind (metadata.* for every kind).
FIELD_LABELS: dict[str, tuple[str, ...]] = {
    "Event": ("involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
              "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath",
              "reason", "reportingComponent", "source", "type"),
    "Pod": ("spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
            "spec.hostNetwork", "status.phase", "status.podIP", "status.podIPs", "status.nominatedNodeName"),
    "Node": ("spec.unschedulable",),
    "Namespace": ("status.phase",),
    "Service": ("spec.clusterIP", "spec.type"),
    "ReplicaSet": ("status.replicas",),
    "ReplicationController": ("status.replicas",),
    "Job": ("status.successful",),
}


#: Host headers the server answers (with or without the server's port): anything else is a name
#: that resolves here by accident or by design (DNS rebinding), and gets 421.
ALLOWED_HOSTS = ("127.0.0.1", "localhost", "[::1]", "::1")
#: Connections served at once; one more is answered 503 at once. A long-lived watch stream holds
#: its slot for as long as it lasts, so it counts toward this bound like any request.
MAX_CONNECTIONS = 64
#: Seconds a connection may take to send one request (and idle between two of them).
REQUEST_TIMEOUT = 10.0
#: Largest request body accepted (GET needs none); a larger Content-Length gets 413.
MAX_BODY_BYTES = 64 * 1024
#: Requests the log keeps (the oldest are dropped).
LOG_LIMIT = 10_000


@dataclass(frozen=True)
class LoggedRequest:
    """One request the server answered."""

    verb: str
    path: str
    query: Mapping[str, str]
    status: int
    seconds: float


@dataclass
class ServerOptions:
    """How the server behaves; tests change these between requests."""

    #: Resources answered with 403: a plural (``networkpolicies``) or ``NAMESPACE/plural``.
    forbid: set[str] = field(default_factory=set)
    #: Seconds to wait before every answer.
    latency: float = 0.0
    #: When set, requests must present it (else 401): as ``Authorization: Bearer <token>``, or as the
    #: first segment of the path (``/<token>/api/...``) — kubectl never sends a bearer token over plain
    #: HTTP, so the kubeconfig this server writes puts the token in its server URL instead.
    token: str | None = None
    #: The user 403 messages name.
    user: str = "system:serviceaccount:svcdoctor:svcdoctor"
    #: The version ``/version`` reports.
    git_version: str = "v1.32.0"
    #: API groups of custom resources whose CRDs are "not installed": not served (404, absent from discovery).
    missing_groups: set[str] = field(default_factory=set)
    #: The versions a custom resource's CRD serves, by plural (``{"tcproutes": ("v1",)}``); else the one
    #: svcdoctor asks for first.
    served_versions: dict[str, tuple[str, ...]] = field(default_factory=dict)


class WatchRequest(dict[str, Any]):
    """What :meth:`SnapshotAPIServer.answer` gives for ``watch=true``: the handler streams it (serve.watch)."""

    def __init__(self, resource: Resource, namespace: str, query: Mapping[str, str]) -> None:
        super().__init__()
        self.resource = resource
        self.namespace = namespace
        self.query = dict(query)


class SnapshotAPIServer:
    """Serves ``objects`` read-only on ``host:port`` (port 0: a free one). Use as a context manager."""

    def __init__(self, objects: Iterable[Mapping[str, Any]], *, host: str = "127.0.0.1", port: int = 0,
                 options: ServerOptions | None = None, tls: tuple[str, str] | None = None) -> None:
        self.options = options or ServerOptions()
        self.log: collections.deque[LoggedRequest] = collections.deque(maxlen=LOG_LIMIT)
        #: Called with each logged request after it was answered (tests use it to change state).
        self.hooks: list[Callable[[LoggedRequest], None]] = []
        self.hook_errors: list[Exception] = []
        self._lock = threading.Lock()
        self._objects: dict[str, dict[tuple[str, str], Obj]] = {r.plural: {} for r in RESOURCES}
        self._resource_version = 1
        #: The recording's capturedAt: the moment ages in tables are measured from (else the wall clock).
        self._captured_at: datetime | None = None
        for obj in objects:
            self._add(obj)
        handler = type("Handler", (_Handler,), {"api": self})
        self._httpd = _Server((host, port), handler)
        self.scheme = "http"
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(tls[0], tls[1])
            self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)
            self.scheme = "https"
        self._thread: threading.Thread | None = None
        self._serving = False
        #: Answers ``watch=true`` on the handler's connection (None: 405); set by svcdoctor.serve.watch.
        self.watch_streams: Callable[[BaseHTTPRequestHandler, WatchRequest], int] | None = None

    # -- state ------------------------------------------------------------------------------------

    def _add(self, obj: Mapping[str, Any]) -> None:
        if obj.get("apiVersion") == "svcdoctor.dev/v1":
            if obj.get("kind") == "SnapshotInfo":
                self._replay_info(obj)
            return
        resource = BY_KIND.get(str(obj.get("kind") or ""))
        if resource is None or resource.kind == "Secret":
            return
        stored = copy.deepcopy(dict(obj))
        metadata = stored.setdefault("metadata", {})
        if not isinstance(metadata, dict):
            return
        self._resource_version += 1
        metadata.setdefault("resourceVersion", str(self._resource_version))
        key = (k8s.namespace(stored) if resource.namespaced else "", k8s.name(stored))
        self._objects[resource.plural][key] = stored

    def _replay_info(self, info: Mapping[str, Any]) -> None:
        """Serve what the recording saw: its server version, and 403 for the reads it was refused."""
        import re

        self._captured_at = k8s.parse_time(info.get("capturedAt"))
        if info.get("serverVersion"):
            self.options.git_version = str(info["serverVersion"])
        for item in k8s.as_list(info.get("unavailable")):
            item = k8s.as_map(item)
            if not item.get("resource") or "forbidden" not in str(item.get("reason") or ""):
                continue
            namespace = str(item.get("namespace") or "")
            self.options.forbid.add(f"{namespace}/{item['resource']}" if namespace else str(item["resource"]))
            user = re.search(r'User "([^"]+)"', str(item.get("reason")))
            if user:
                self.options.user = user.group(1)

    def delete(self, kind: str, namespace: str, name: str) -> None:
        """Remove an object (tests: an object that vanishes between two reads)."""
        resource = BY_KIND[kind]
        with self._lock:
            self._objects[resource.plural].pop((namespace if resource.namespaced else "", name), None)
            self._resource_version += 1

    def requests(self) -> list[LoggedRequest]:
        with self._lock:
            return list(self.log)

    def clear_log(self) -> None:
        with self._lock:
            self.log.clear()

    # -- lifecycle --------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def authorized_url(self, token: str | None = None) -> str:
        """The URL that carries the token in its path (what kubectl can use over plain HTTP)."""
        token = token or self.options.token
        return f"{self.url}/{token}" if token and self.scheme == "http" else self.url

    def start(self) -> SnapshotAPIServer:
        # A short poll interval: stop() waits for the serving loop to notice, up to this long.
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="snapshot-apiserver", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._serving = True
        self._httpd.serve_forever()

    def stop(self) -> None:
        if self._thread is not None or self._serving:  # shutdown() waits forever for a loop never started
            self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> SnapshotAPIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def kubeconfig(self, *, namespace: str = "default", context: str = "snapshot", token: str | None = None,
                   ca_file: str | None = None) -> Obj:
        """A kubeconfig whose current context points at this server."""
        token = token or self.options.token
        cluster: Obj = {"server": self.authorized_url(token)}
        if ca_file:
            cluster["certificate-authority"] = ca_file
        user: Obj = {"token": token} if token else {}
        return {
            "apiVersion": "v1", "kind": "Config", "preferences": {},
            "clusters": [{"name": context, "cluster": cluster}],
            "users": [{"name": context, "user": user}],
            "contexts": [{"name": context, "context": {"cluster": context, "user": context, "namespace": namespace}}],
            "current-context": context,
        }

    def write_kubeconfig(self, path: str, **options: Any) -> str:
        import yaml

        from svcdoctor.atomic import write_text

        write_text(path, yaml.safe_dump(self.kubeconfig(**options)))
        return path

    # -- answering --------------------------------------------------------------------------------

    def answer(self, verb: str, raw_path: str, headers: Mapping[str, str]) -> tuple[int, Obj]:
        """The status and JSON body for one request."""
        split = urlsplit(raw_path)
        query = {key: values[-1] for key, values in parse_qs(split.query, keep_blank_values=True).items()}
        path = split.path.rstrip("/") or "/"
        if verb != "GET":
            return 405, status_object(405, "MethodNotAllowed", f"the server does not allow this method on the "
                                      f"requested resource ({verb} {path}): it serves a read-only snapshot")
        scheme, _, presented = headers.get("authorization", "").partition(" ")
        if self.options.token is not None and (scheme.lower() != "bearer" or presented != self.options.token):
            return 401, status_object(401, "Unauthorized", "Unauthorized")
        if path == "/version":
            return 200, self._version()
        if path == "/api":
            return 200, {"kind": "APIVersions", "versions": ["v1"],
                         "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0",
                                                         "serverAddress": f"127.0.0.1:{self.port}"}]}
        if path == "/apis":
            return 200, self._group_list()
        parts = [unquote(part) for part in path.strip("/").split("/")]
        if parts[0] == "api" and len(parts) >= 2:
            group, version, rest = "", parts[1], parts[2:]
        elif parts[0] == "apis" and len(parts) >= 3:
            group, version, rest = parts[1], parts[2], parts[3:]
        elif parts[0] == "apis" and len(parts) == 2:
            return self._group(parts[1])
        else:
            return 404, status_object(404, "NotFound", "the server could not find the requested resource")
        served = [r for r in RESOURCES if r.group == group and version in self._versions(r)
                  and group not in self.options.missing_groups]
        if not served:
            return 404, status_object(404, "NotFound", "the server could not find the requested resource")
        if not rest:
            return 200, self._resource_list(group, version, served)
        namespace = ""
        if len(rest) >= 3 and rest[0] == "namespaces":
            namespace, rest = rest[1], rest[2:]
        by_plural = {r.plural: r for r in served}
        resource = by_plural.get(rest[0])
        if resource is None or len(rest) > 2 or (namespace and not resource.namespaced):
            return 404, status_object(404, "NotFound", "the server could not find the requested resource")
        name = rest[1] if len(rest) == 2 else ""
        verb_name = "get" if name else "list"
        watching = query.get("watch") in ("1", "true")
        if watching and (self.watch_streams is None or name):
            return 405, status_object(405, "MethodNotAllowed", "watch is not served by a snapshot")
        if self._forbidden(resource, namespace):
            return 403, _forbidden(resource, namespace, name, "watch" if watching else verb_name, self.options.user)
        if watching:
            return 200, WatchRequest(resource, namespace, query)
        status, body = self._get(resource, namespace, name) if name else self._list(resource, namespace, query)
        table_form = table_version(headers.get("accept", ""))
        if status != 200 or table_form is None:
            return status, body
        # kubectl asks for a Table and prints its columns (READY, STATUS, IP, …).
        objects = [body] if name else body["items"]
        now = self._captured_at or datetime.now(UTC)
        return 200, to_table(resource.kind, resource.api_version, objects, {} if name else body["metadata"],
                             version=table_form, include_object=query.get("includeObject") or "Metadata", now=now)

    def _forbidden(self, resource: Resource, namespace: str) -> bool:
        forbid = self.options.forbid
        return resource.plural in forbid or (bool(namespace) and f"{namespace}/{resource.plural}" in forbid)

    def _version(self) -> Obj:
        version = self.options.git_version.lstrip("v").split("+")[0].split("-")[0]
        major, _, rest = version.partition(".")
        minor = rest.partition(".")[0]
        return {"major": major, "minor": minor, "gitVersion": self.options.git_version, "gitCommit": "snapshot",
                "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.23",
                "compiler": "gc", "platform": "linux/amd64"}

    def _versions(self, resource: Resource) -> tuple[str, ...]:
        return self.options.served_versions.get(resource.plural, (resource.version,))

    def _group_list(self) -> Obj:
        groups: dict[str, list[str]] = {}
        for resource in RESOURCES:
            for version in self._versions(resource):
                if resource.group and version not in groups.setdefault(resource.group, []):
                    groups[resource.group].append(version)
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [_group_body(g, v) for g, v in groups.items()]}

    def _group(self, group: str) -> tuple[int, Obj]:
        versions = sorted({version for r in RESOURCES if r.group == group for version in self._versions(r)})
        if not versions:
            return 404, status_object(404, "NotFound", "the server could not find the requested resource")
        return 200, {"kind": "APIGroup", "apiVersion": "v1", **_group_body(group, versions)}

    @staticmethod
    def _resource_list(group: str, version: str, served: list[Resource]) -> Obj:
        resources = []
        for resource in served:
            entry: Obj = {"name": resource.plural, "singularName": resource.singular, "namespaced": resource.namespaced,
                          "kind": resource.kind, "verbs": ["get", "list", "watch"]}
            if resource.short_names:
                entry["shortNames"] = list(resource.short_names)
            resources.append(entry)
        return {"kind": "APIResourceList", "apiVersion": "v1",
                "groupVersion": f"{group}/{version}" if group else version, "resources": resources}

    def _get(self, resource: Resource, namespace: str, name: str) -> tuple[int, Obj]:
        with self._lock:
            obj = self._objects[resource.plural].get((namespace, name))
            obj = copy.deepcopy(obj) if obj is not None else None
        if obj is None:
            return 404, status_object(404, "NotFound", f'{resource.qualified} "{name}" not found',
                                      details={"name": name, "group": resource.group, "kind": resource.plural})
        obj.setdefault("kind", resource.kind)
        obj.setdefault("apiVersion", resource.api_version)
        return 200, obj

    def _list(self, resource: Resource, namespace: str, query: Mapping[str, str]) -> tuple[int, Obj]:
        try:
            selector = parse(query.get("labelSelector", ""))
        except SelectorError as error:
            return 400, status_object(400, "BadRequest", f"unable to parse requirement: {error}")
        try:
            field_requirements = _parse_field_selector(query.get("fieldSelector", ""), resource.kind)
        except ValueError as error:
            return 400, status_object(400, "BadRequest", str(error))
        offset = 0
        token = query.get("continue", "")
        if token:
            try:
                offset = int(json.loads(base64.urlsafe_b64decode(token.encode()))["offset"])
            except (ValueError, KeyError, TypeError):
                return 400, status_object(400, "BadRequest", "continue key is not valid")
        try:
            limit = int(query.get("limit") or 0)
        except ValueError:
            return 400, status_object(400, "BadRequest", "limit must be an integer")
        with self._lock:
            resource_version = str(self._resource_version)
            stored = [obj for (obj_namespace, _), obj in sorted(self._objects[resource.plural].items())
                      if not namespace or obj_namespace == namespace]
        matched = [obj for obj in stored if selector.matches(k8s.labels(obj))
                   and all(_field_matches(obj, requirement) for requirement in field_requirements)]
        page = matched[offset:offset + limit] if limit > 0 else matched[offset:]
        metadata: Obj = {"resourceVersion": resource_version}
        if limit > 0 and offset + limit < len(matched):
            next_token = json.dumps({"offset": offset + limit, "rv": resource_version})
            metadata["continue"] = base64.urlsafe_b64encode(next_token.encode()).decode()
            metadata["remainingItemCount"] = len(matched) - offset - limit
        items = []
        for obj in page:
            item = copy.deepcopy(obj)
            # The real server leaves kind and apiVersion off the items of a list.
            item.pop("kind", None)
            item.pop("apiVersion", None)
            items.append(item)
        return 200, {"kind": f"{resource.kind}List", "apiVersion": resource.api_version, "metadata": metadata,
                     "items": items}

    def record(self, entry: LoggedRequest) -> None:
        with self._lock:
            self.log.append(entry)
        for hook in list(self.hooks):
            try:
                hook(entry)
            except Exception as error:  # a broken test hook must show, not kill the connection
                self.hook_errors.append(error)


def _group_body(group: str, versions: list[str]) -> Obj:
    return {"name": group,
            "versions": [{"groupVersion": f"{group}/{v}", "version": v} for v in versions],
            "preferredVersion": {"groupVersion": f"{group}/{versions[0]}", "version": versions[0]}}


def status_object(code: int, reason: str, message: str, details: Obj | None = None) -> Obj:
    """A ``Status`` object as the API server writes it for a failed request."""
    body: Obj = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
                 "reason": reason, "code": code}
    if details:
        body["details"] = details
    return body


def _forbidden(resource: Resource, namespace: str, name: str, verb: str, user: str) -> Obj:
    where = f' in the namespace "{namespace}"' if namespace else " at the cluster scope"
    subject = f'{resource.qualified} "{name}"' if name else resource.qualified
    message = (f'{subject} is forbidden: User "{user}" cannot {verb} resource "{resource.plural}" in API group '
               f'"{resource.group}"{where}')
    details: Obj = {"group": resource.group, "kind": resource.plural}
    if name:
        details["name"] = name
    return status_object(403, "Forbidden", message, details)


def _parse_field_selector(text: str, kind: str) -> list[tuple[str, str, str]]:
    requirements = []
    allowed = ("metadata.name", "metadata.namespace", *FIELD_LABELS.get(kind, ()))
    for term in (t.strip() for t in text.split(",")):
        if not term:
            continue
        for operator in ("!=", "==", "="):
            if operator in term:
                key, _, value = term.partition(operator)
                break
        else:
            raise ValueError(f"invalid selector: '{text}'; can't understand '{term}'")
        key = key.strip()
        if key not in allowed:
            raise ValueError(f'field label "{key}" not supported for {kind}')
        requirements.append((key, "!=" if operator == "!=" else "=", value.strip()))
    return requirements


def _field_value(obj: Obj, path: str) -> str:
    value: Any = obj
    if path == "source":
        path = "source.component"
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _field_matches(obj: Obj, requirement: tuple[str, str, str]) -> bool:
    key, operator, wanted = requirement
    have = _field_value(obj, key)
    return have != wanted if operator == "!=" else have == wanted


class _Server(HTTPServer):
    """A bounded pool of MAX_CONNECTIONS threads; a connection beyond them is answered 503 at once."""

    # The default backlog of 5 drops the SYNs of a client opening 20 connections at once, and
    # each dropped SYN costs a one-second retransmission.
    request_queue_size = 128
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(address, handler)
        self._pool = ThreadPoolExecutor(max_workers=MAX_CONNECTIONS, thread_name_prefix="snapshot-apiserver")
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        self._open: set[Any] = set()
        self._open_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            _refuse_busy(request)
            self.shutdown_request(request)
            return
        self._pool.submit(self._serve_one, request, client_address)

    def _serve_one(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            with self._open_lock:
                self._open.discard(request)
            self.shutdown_request(request)
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        return  # a client that vanished or sent garbage is not the server's error to print

    def server_close(self) -> None:
        super().server_close()
        # Idle keep-alive connections (and streams) end now, not at their timeout: stopping is prompt.
        with self._open_lock:
            for connection in list(self._open):
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
        self._pool.shutdown(wait=False, cancel_futures=True)


def _refuse_busy(connection: Any) -> None:
    body = json.dumps(status_object(503, "ServiceUnavailable", "too many connections; try again")).encode()
    head = (f"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: {len(body)}"
            "\r\nConnection: close\r\nRetry-After: 1\r\n\r\n").encode()
    with contextlib.suppress(OSError):
        connection.settimeout(1.0)
        connection.sendall(head + body)


def host_allowed(host: str, port: int) -> bool:
    """Whether a Host header names this server on the loopback interface (DNS rebinding defence)."""
    host = host.strip().lower()
    name, _, given_port = host.rpartition(":") if host.count(":") == 1 or (host.startswith("[") and "]:" in host) \
        else (host, "", "")
    if given_port and given_port != str(port):
        return False
    return name in ALLOWED_HOSTS


class _Handler(BaseHTTPRequestHandler):
    api: SnapshotAPIServer
    protocol_version = "HTTP/1.1"
    # One buffered write per answer and no Nagle: otherwise headers and body go out in two
    # segments and delayed ACKs add ~40 ms to every request.
    wbufsize = -1
    disable_nagle_algorithm = True
    server_version = "svcdoctor-snapshot-apiserver"
    #: Every socket operation of a connection must finish within this (slowloris, idle keep-alive).
    timeout = REQUEST_TIMEOUT

    def log_message(self, format: str, *args: Any) -> None:
        return  # the server keeps its own log

    def _serve(self) -> None:
        started = time.monotonic()
        verb = self.command
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        headers = {key.lower(): value for key, value in self.headers.items()}
        token = self.api.options.token
        if token and (self.path == f"/{token}" or self.path.startswith((f"/{token}/", f"/{token}?"))):
            # The token came as the path's first segment: answer the rest as if it came as a header, and
            # keep it out of the request log.
            rest = self.path[len(token) + 1:]
            self.path = rest if rest.startswith("/") else "/" + rest
            headers["authorization"] = f"Bearer {token}"
        if not host_allowed(headers.get("host", ""), self.api.port):
            self.close_connection = True
            status, body = 421, status_object(421, "MisdirectedRequest", "this server answers only to 127.0.0.1, "
                                              "localhost and [::1]")
        elif length < 0 or length > MAX_BODY_BYTES:
            self.close_connection = True  # the body is not read: the connection cannot be reused
            status, body = 413, status_object(413, "RequestEntityTooLarge", "request body too large")
        else:
            if length:
                self.rfile.read(length)
            if self.api.options.latency:
                time.sleep(self.api.options.latency)
            try:
                status, body = self.api.answer(verb, self.path, headers)
            except Exception as error:  # a bug here must answer 500, not kill the connection
                status, body = 500, status_object(500, "InternalError", f"{type(error).__name__}: {error}")
        if isinstance(body, WatchRequest) and self.api.watch_streams is not None:
            status = self.api.watch_streams(self, body)
            self.api.record(LoggedRequest(verb, urlsplit(self.path).path, dict(body.query), status,
                                          time.monotonic() - started))
            return
        data = json.dumps(body, separators=(",", ":")).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-cache, private")
            self.end_headers()
            if verb != "HEAD":
                self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        split = urlsplit(self.path)
        query = {key: values[-1] for key, values in parse_qs(split.query, keep_blank_values=True).items()}
        self.api.record(LoggedRequest(verb, split.path, query, status, time.monotonic() - started))

    do_GET = _serve
    do_HEAD = _serve
    do_POST = _serve
    do_PUT = _serve
    do_PATCH = _serve
    do_DELETE = _serve
    do_OPTIONS = _serve
