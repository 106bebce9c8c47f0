"""The live source: read what one diagnosis needs from a cluster's API, few requests, in parallel.

It uses the official ``kubernetes`` client for everything a kubeconfig can hold (certificates,
tokens, exec plugins, proxies) but never its generated model classes: every response is read as
raw JSON (``_preload_content=False``), which is what the rest of svcdoctor works on and is many
times faster for large lists.

What is read for ``check NAME`` (docs/live.md has the full list): round one needs nothing — the
namespace's Services, NetworkPolicies, Ingresses and workloads, the Service's EndpointSlices
(``labelSelector=kubernetes.io/service-name=NAME``) and Endpoints, Events of the Service and of
Pods (``fieldSelector``), Namespaces, Nodes, and in kube-system the DNS Service, its slices, the
CoreDNS, kube-proxy, NodeLocal DNSCache and Cilium Pods, DaemonSets and seven ConfigMaps by name (and
flannel's in kube-flannel); round two needs the Service —
the Pods its selector selects, server-side, and the Pods its NetworkPolicies admit; round three
runs only when the selector matched nothing (near misses) or endpoints point at Pods no longer
selected. ``scan`` reads each resource once, in one round.

Only GET, never Secrets. A 403 on one read becomes an :class:`~svcdoctor.snapshot.Unavailable`
(the checks that need it turn ``unknown``); 401, TLS failures, refused connections and timeouts
end the run with a :class:`~svcdoctor.errors.ClusterError` (exit 3) within ``--request-timeout``.
"""

from __future__ import annotations

import functools
import json
import queue
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from svcdoctor import __version__, k8s
from svcdoctor.errors import ClusterError, InputError
from svcdoctor.kinds import BY_KIND, GATEWAY_KINDS, POLICY_KINDS, RESOURCES, Resource
from svcdoctor.progress import NO_PROGRESS, Progress, count
from svcdoctor.snapshot import Recorded, Snapshot, Unavailable, build_snapshot
from svcdoctor.sources.files import collector_paused, input_limit
from svcdoctor.sources.interface import Request, Source
from svcdoctor.sources.live_config import first_line as _first_line
from svcdoctor.validation import object_problems, ref_text

Obj = dict[str, Any]

#: Items per page of a list (``limit``); the rest follows with ``continue``.
PAGE_SIZE = 500
#: Requests in flight at once.
WORKERS = 32
#: Largest body of one answer (one page of at most PAGE_SIZE objects is a few MiB).
MAX_RESPONSE_BYTES = 64 * 1024 * 1024
#: Extra time the watchdog allows a request beyond its timeout before giving up on it.
GRACE_SECONDS = 0.3
SYSTEM_NAMESPACE = "kube-system"
#: The cluster DNS Service under its usual names (kubeadm, CoreDNS chart, RKE2).
DNS_SERVICE_NAMES = ("kube-dns", "coredns", "rke2-coredns-rke2-coredns")
#: CoreDNS, kube-proxy, NodeLocal DNSCache and Cilium agent Pods, as the usual installers label them.
SYSTEM_POD_SELECTORS = ("k8s-app in (kube-dns,kube-proxy,node-local-dns,cilium)", "component=kube-proxy",
                        "app=kube-proxy")
#: ConfigMaps a check reads: the Corefile (cluster domain, stub zones), the kubelet's cluster
#: domain, and the settings that show a kube-proxy replacement.
SYSTEM_CONFIG_MAPS = ("coredns", "rke2-coredns-rke2-coredns", "coredns-coredns", "kubelet-config", "cilium-config",
                      "antrea-config", "kube-flannel-cfg")
#: flannel's CNI configuration in its own namespace (current manifests; older ones use kube-system):
#: SD807 reads the bridge's hairpinMode there. A cluster without flannel answers 404, which is fine.
FLANNEL_CONFIG_MAP = ("kube-flannel", "kube-flannel-cfg")
#: At most this many extra reads for the Pods a NetworkPolicy peer names (SD605 counts them).
MAX_PEER_READS = 8
#: Endpoints of Pods the selector no longer selects are read one by one up to this many.
MAX_ENDPOINT_POD_READS = 20
IN_CLUSTER_NAMESPACE_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
KIND_ORDER = {resource.kind: position for position, resource in enumerate(RESOURCES)}

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str | float | int) -> float | None:
    """Seconds from kubectl's ``--request-timeout`` forms (``10s``, ``500ms``, ``1m30s``, ``5``).

    ``0`` means no timeout (None), as in kubectl. Raises :class:`InputError` for anything else.
    """
    if isinstance(text, int | float):
        seconds = float(text)
    else:
        value = text.strip()
        if re.fullmatch(r"\d+(\.\d+)?", value):
            seconds = float(value)
        else:
            position, seconds = 0, 0.0
            for match in _DURATION_PART.finditer(value):
                if match.start() != position:
                    break
                seconds += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
                position = match.end()
            if not value or position != len(value):
                raise InputError(f"--request-timeout {text!r}: expected a duration such as 10s, 500ms, 1m or 5")
    if seconds < 0:
        raise InputError(f"--request-timeout {text!r} is negative")
    return seconds or None


@dataclass(frozen=True)
class Read:
    """One GET: a list (no ``name``) or one object."""

    resource: Resource
    namespace: str = ""
    name: str = ""
    label_selector: str = ""
    field_selector: str = ""

    @property
    def verb(self) -> str:
        return "get" if self.name else "list"

    def describe(self) -> str:
        where = f" in {self.namespace}" if self.namespace else ""
        what = f"{self.resource.singular} {self.name}" if self.name else self.resource.plural
        return f"reading {what}{where}"


@dataclass
class LiveRead:
    """What one live read produced: the objects, the reads that failed, and where it came from."""

    objects: list[Obj]
    unavailable: list[Unavailable]
    captured_at: datetime
    context: str
    server: str
    server_version: str
    requests: int = 0
    seconds: float = 0.0
    rounds: int = 0
    #: The cluster DNS domain when a ConfigMap that was read states it ("" otherwise).
    cluster_domain: str = ""
    #: The kinds that were listed (or got by name), and in which namespaces.
    recorded: list[Recorded] = field(default_factory=list)

    def info_object(self) -> Obj:
        """The ``svcdoctor.dev/v1`` SnapshotInfo that a recorded snapshot carries."""
        info: Obj = {"apiVersion": "svcdoctor.dev/v1", "kind": "SnapshotInfo",
                     "capturedAt": self.captured_at.strftime("%Y-%m-%dT%H:%M:%SZ"), "context": self.context,
                     "serverVersion": self.server_version, "svcdoctorVersion": __version__}
        if self.cluster_domain:
            info["clusterDomain"] = self.cluster_domain
        info["recorded"] = [{"kind": item.kind, **({"namespaces": list(item.namespaces)} if item.namespaces else {})}
                            for item in self.recorded]
        if self.unavailable:
            info["unavailable"] = [{"resource": item.resource, "namespace": item.namespace, "verb": item.verb,
                                    "reason": item.reason,
                                    **({"invalidObject": item.invalid_object} if item.invalid_object else {})}
                                   for item in self.unavailable]
        return info

    def snapshot(self) -> Snapshot:
        with collector_paused():
            return build_snapshot([self.info_object(), *self.objects])


@dataclass
class _Outcome:
    objects: list[Obj] = field(default_factory=list)
    unavailable: Unavailable | None = None


class LiveSource(Source):
    """Reads a Snapshot from the cluster a kubeconfig (or the in-cluster service account) names."""

    kind = "live"

    def __init__(self, kubeconfig: str | None = None, context: str | None = None,
                 request_timeout: str | float = "10s", verbose: bool = False,
                 progress: Progress = NO_PROGRESS) -> None:
        self.kubeconfig = kubeconfig
        self.context = context
        self.timeout = parse_duration(request_timeout)
        self.verbose = verbose
        #: Told what is read (requests in flight, kinds and objects read); ``--verbose`` lines are its notes.
        self.progress = progress
        self._api_client: Any = None
        self._context_name = ""
        self._namespace = "default"
        self._server = ""
        self._lock = threading.Lock()
        self._requests = 0
        #: (kind, namespace) of every read that succeeded: what ``SnapshotInfo.recorded`` says was listed.
        self._listed: set[tuple[str, str]] = set()
        self._inflight: dict[int, tuple[float, str]] = {}
        #: Objects received so far (for the progress line).
        self._received = 0
        #: Bytes still allowed from the API server in this run (the same limit as for files).
        self._budget = input_limit()

    # -- configuration ----------------------------------------------------------------------------

    def _configure(self) -> None:
        if self._api_client is not None:
            return
        import ssl

        from kubernetes import client

        from svcdoctor.sources.live_config import load_configuration, say_tls_verification_off

        loaded = load_configuration(self.kubeconfig, self.context, IN_CLUSTER_NAMESPACE_FILE)
        configuration = loaded.configuration
        self._context_name, self._namespace = loaded.context_name, loaded.namespace
        import logging

        import urllib3

        # urllib3 logs each retry as a warning, which would reach stderr as extra lines.
        logging.getLogger("urllib3").setLevel(logging.ERROR)
        # urllib3 retries a failed connect by default, a timed-out one too: each retry is another
        # --request-timeout. None at all: a refused or silent server is the run's answer (exit 3).
        configuration.retries = urllib3.Retry(total=0, connect=0, read=0, redirect=0, status=0, other=0,
                                              backoff_factor=0, raise_on_status=False)
        configuration.connection_pool_maxsize = WORKERS
        self._server = str(configuration.host)
        api_client = client.ApiClient(configuration)
        try:
            _share_tls_context(api_client, configuration)
        except (ssl.SSLError, OSError) as error:
            raise InputError(f"cannot use the TLS settings of context {self._context_name!r} (its certificate "
                             f"authority or client certificate): {_first_line(str(error))}") from None
        say_tls_verification_off(configuration, self._context_name)
        self._api_client = api_client

    def api_client(self) -> Any:
        """The configured ``kubernetes.client.ApiClient`` (``svcdoctor watch`` follows watch streams with it)."""
        self._configure()
        return self._api_client

    def default_namespace(self) -> str:
        """The namespace of the kubeconfig context (or of the in-cluster service account)."""
        self._configure()
        return self._namespace

    def describe(self) -> dict[str, Any]:
        self._configure()
        return {"kind": self.kind, "context": self._context_name, "server": self._server}

    # -- reading ----------------------------------------------------------------------------------

    def list_pods(self, namespace: str) -> list[Obj]:
        """The Pods of ``namespace`` (to find the one ``--from`` names); a refused list is a clear error."""
        return self.list_objects("Pod", namespace)

    def list_objects(self, kind: str, namespace: str) -> list[Obj]:
        """The ``kind`` objects of ``namespace``, to find the client ``--from`` names; a refused list is a
        clear error."""
        self._configure()
        outcome = self._round([Read(BY_KIND[kind], namespace)])[1][0]
        if outcome.unavailable is not None:
            raise InputError(f"--from: could not list {kind}s in {namespace} to find the client: "
                             f"{outcome.unavailable.reason}; name the Pod itself")
        return list(outcome.objects)

    def namespace_exists(self, namespace: str) -> bool:
        """Whether a namespace of that name exists (a refused read counts as no)."""
        self._configure()
        return bool(self._round([Read(BY_KIND["Namespace"], "", namespace)])[1][0].objects)

    def load(self, request: Request) -> Snapshot:
        return self.read(request).snapshot()

    def read(self, request: Request) -> LiveRead:
        """Read what ``request`` needs: one Service (``request.service``) or a whole scan."""
        request.validate()
        self._configure()
        started = time.monotonic()
        captured_at = _now()
        if request.service:
            objects, unavailable, version, rounds = self._read_for_service(request)
        else:
            objects, unavailable, version, rounds = self._read_for_scan(request)
        elapsed = time.monotonic() - started
        if self.verbose:
            self.progress.note(f"svcdoctor: {self._requests} API requests in {elapsed:.2f}s ({rounds} rounds)")
        objects, invalid = _readable(_sorted_unique(objects))
        unavailable += invalid
        # One entry per resource, namespace and verb (six ConfigMaps forbidden are one finding).
        unavailable = list({(u.resource, u.namespace, u.verb): u for u in unavailable}.values())
        return LiveRead(objects=objects, unavailable=unavailable, captured_at=captured_at,
                        context=self._context_name, server=self._server, server_version=version,
                        requests=self._requests, seconds=elapsed, rounds=rounds,
                        cluster_domain=_recorded_cluster_domain(objects), recorded=_recorded(self._listed))

    def _kube_system_reads(self, lists: bool = True) -> list[Read]:
        """Cluster DNS, kube-proxy (or what replaces it) and the ConfigMaps the checks read by name."""
        reads = [Read(BY_KIND["ConfigMap"], SYSTEM_NAMESPACE, name) for name in SYSTEM_CONFIG_MAPS]
        reads.append(Read(BY_KIND["ConfigMap"], *FLANNEL_CONFIG_MAP))
        if lists:
            pods = BY_KIND["Pod"]
            services = ",".join((*DNS_SERVICE_NAMES, "kube-dns-upstream"))
            reads += [
                Read(BY_KIND["Service"], SYSTEM_NAMESPACE),
                Read(BY_KIND["EndpointSlice"], SYSTEM_NAMESPACE,
                     label_selector=f"kubernetes.io/service-name in ({services})"),
                Read(BY_KIND["DaemonSet"], SYSTEM_NAMESPACE),
                *(Read(pods, SYSTEM_NAMESPACE, label_selector=selector) for selector in SYSTEM_POD_SELECTORS),
            ]
        return reads

    def _read_for_service(self, request: Request) -> tuple[list[Obj], list[Unavailable], str, int]:
        namespace, name = request.namespace, request.service
        kinds = BY_KIND
        first = [
            Read(kinds["Service"], namespace),
            Read(kinds["EndpointSlice"], namespace, label_selector=f"kubernetes.io/service-name={name}"),
            Read(kinds["Endpoints"], namespace, name),
            Read(kinds["NetworkPolicy"], namespace),
            Read(kinds["Ingress"], namespace),
            Read(kinds["Event"], namespace, field_selector=f"involvedObject.kind=Service,involvedObject.name={name}"),
            Read(kinds["Event"], namespace, field_selector="involvedObject.kind=Pod"),
            Read(kinds["Deployment"], namespace),
            Read(kinds["ReplicaSet"], namespace),
            Read(kinds["StatefulSet"], namespace),
            Read(kinds["DaemonSet"], namespace),
            Read(kinds["Namespace"]),
            Read(kinds["Node"]),
            *self._kube_system_reads(),
            # Cluster-wide: admin-tier and clusterwide Cilium policies, and every Gateway API route
            # (a route in any namespace may name this Service); grants live beside the Service.
            *(Read(kinds[kind]) for kind in (*POLICY_KINDS, *GATEWAY_KINDS)),
            Read(kinds["CiliumNetworkPolicy"], namespace),
            Read(kinds["ReferenceGrant"], namespace),
        ]
        gateway_name = str(request.extra.get("gateway") or "").partition("/")[2]
        if gateway_name:
            # --from-gateway: the Gateway's data-plane Pods, by the labels implementations set
            # (Envoy Gateway runs them in its own namespace, so cluster-wide).
            from svcdoctor.gateway import DATA_PLANE_LABELS

            first += [Read(kinds["Pod"], "", label_selector=f"{key}={gateway_name}") for key, _ in DATA_PLANE_LABELS]
        client_namespace, _, client_name = request.client_pod.partition("/")
        if client_name:
            first.append(Read(kinds["Pod"], client_namespace, client_name))
            if client_namespace != namespace:
                first.append(Read(kinds["NetworkPolicy"], client_namespace))
                first.append(Read(kinds["CiliumNetworkPolicy"], client_namespace))
        first = list(dict.fromkeys(first))  # a Service in kube-system asks some things twice
        version, outcomes = self._round(first, with_version=True)
        by_read = dict(zip(first, outcomes, strict=True))
        services_read = by_read[first[0]]
        service = next((s for s in services_read.objects if k8s.name(s) == name), None)
        selector = _selector_string(service)
        # Round two: what the Service decides.
        second: list[Read] = []
        if service is None and services_read.unavailable is None:
            second.append(Read(kinds["Service"], "", field_selector=f"metadata.name={name}"))
        if service is not None and not selector and k8s.spec(service).get("type") != "ExternalName":
            # Hand-made endpoints: a slice that lacks the service-name label is the usual mistake.
            second.append(Read(kinds["EndpointSlice"], namespace))
        selected_read = Read(kinds["Pod"], namespace, label_selector=selector) if selector else None
        if selected_read is not None:
            second.append(selected_read)
            namespaces = by_read[Read(kinds["Namespace"])].objects
            second += _peer_reads(by_read[first[3]].objects, namespaces, selected_read)
        rounds = 1
        later: dict[Read, _Outcome] = {}
        if second:
            rounds += 1
            later.update(zip(second, self._round(second)[1], strict=True))
        # Round three, rarely: near misses when nothing is selected, endpoints of unselected Pods.
        selected = later[selected_read].objects if selected_read is not None else []
        third: list[Read] = []
        if selected_read is not None and not selected and later[selected_read].unavailable is None:
            third += [Read(kinds["Pod"], namespace), Read(kinds["Pod"], "", label_selector=selector)]
        else:
            known = {k8s.name(pod) for outcome in later.values() for pod in outcome.objects}
            third += _endpoint_pod_reads(by_read[first[1]].objects, namespace, known | {client_name})
        if third:
            rounds += 1
            later.update(zip(third, self._round(third)[1], strict=True))
        unavailable = [o.unavailable for o in (*outcomes, *later.values()) if o.unavailable]
        # Keep the Events of the Service, of the Pods it selects and of the client, not of every Pod.
        pod_names = {k8s.name(pod) for pod in selected} | {client_name}
        objects: list[Obj] = []
        for read, outcome in by_read.items():
            if read.resource.kind == "Event" and "involvedObject.kind=Pod" in read.field_selector:
                objects += [e for e in outcome.objects
                            if str(k8s.as_map(e.get("involvedObject")).get("name") or "") in pod_names]
            else:
                objects += outcome.objects
        for outcome in later.values():
            objects += outcome.objects
        return objects, unavailable, version, rounds

    def _read_for_scan(self, request: Request) -> tuple[list[Obj], list[Unavailable], str, int]:
        namespace = "" if request.all_namespaces else request.namespace
        reads = [Read(BY_KIND[kind], namespace) for kind in (
            "Service", "Pod", "EndpointSlice", "Endpoints", "NetworkPolicy", "Ingress", "Event", "Deployment",
            "ReplicaSet", "StatefulSet", "DaemonSet", "CiliumNetworkPolicy", "ReferenceGrant")]
        reads += [Read(BY_KIND[kind]) for kind in (*POLICY_KINDS, *GATEWAY_KINDS)]
        reads += [Read(BY_KIND["Namespace"]), Read(BY_KIND["Node"])]
        reads += self._kube_system_reads(lists=namespace not in ("", SYSTEM_NAMESPACE))
        reads = list(dict.fromkeys(reads))
        version, outcomes = self._round(reads, with_version=True)
        objects = [obj for outcome in outcomes for obj in outcome.objects]
        return objects, [o.unavailable for o in outcomes if o.unavailable], version, 1

    # -- one round of parallel requests -----------------------------------------------------------

    def _round(self, reads: Sequence[Read], with_version: bool = False) -> tuple[str, list[_Outcome]]:
        """Run ``reads`` concurrently; return the server version (when asked) and one outcome per read."""
        tasks: list[Callable[[], Any]] = [functools.partial(self._perform, read) for read in reads]
        if with_version:
            tasks.append(self._server_version)
        results = self._parallel(tasks)
        version = str(results.pop()) if with_version else ""
        return version, results

    def _parallel(self, tasks: Sequence[Callable[[], Any]]) -> list[Any]:
        # Daemon threads, not a ThreadPoolExecutor: a request stuck past its timeout must not keep
        # the process alive (the executor joins its threads at exit).
        pending: queue.Queue[int] = queue.Queue()
        for index in range(len(tasks)):
            pending.put(index)
        done: queue.Queue[tuple[int, Any, BaseException | None]] = queue.Queue()
        # Set once the round has failed: the run ends with that error, so no queued read may start
        # (against a silent server each would be one more connection, and one more timeout).
        failed = threading.Event()

        def work() -> None:
            while not failed.is_set():
                try:
                    index = pending.get_nowait()
                except queue.Empty:
                    return
                try:
                    done.put((index, tasks[index](), None))
                except BaseException as error:  # handed to the main thread, which raises it
                    failed.set()
                    done.put((index, None, error))

        for _ in range(min(WORKERS, len(tasks))):
            threading.Thread(target=work, daemon=True, name="svcdoctor-read").start()
        results: list[Any] = [None] * len(tasks)
        remaining = len(tasks)
        try:
            while remaining:
                self._show_progress()
                try:
                    index, value, error = done.get(timeout=0.05)
                except queue.Empty:
                    self._check_overdue()
                    continue
                if error is not None:
                    raise error
                results[index] = value
                remaining -= 1
        except BaseException:
            failed.set()
            raise
        return results

    def _show_progress(self) -> None:
        with self._lock:
            in_flight, requests, received = len(self._inflight), self._requests, self._received
            kinds = len({kind for kind, _ in self._listed})
        self.progress.show(f"reading {self._context_name or 'the cluster'}: {count(in_flight, 'request')} in "
                           f"flight, {requests} sent, {count(kinds, 'kind')} read, {count(received, 'object')}")

    def _check_overdue(self) -> None:
        if self.timeout is None:
            return
        now = time.monotonic()
        with self._lock:
            overdue = [(start, path) for start, path in self._inflight.values()
                       if now - start > self.timeout + GRACE_SECONDS]
        if overdue:
            raise ClusterError(f"{self._server} did not answer within {self.timeout:g}s "
                               f"(GET {overdue[0][1]}); raise --request-timeout or check the connection")

    def _server_version(self) -> str:
        from kubernetes.client.exceptions import ApiException

        try:
            body = self._get_json("/version", [])
        except ApiException as error:
            if error.status == 401:
                raise self._cluster_error(error, "/version") from None
            return ""  # some clusters restrict /version; the snapshot only loses a label
        return str(k8s.as_map(body).get("gitVersion") or "")

    def _perform(self, read: Read) -> _Outcome:
        from kubernetes.client.exceptions import ApiException

        versions = (read.resource.version, *read.resource.older_versions)
        for position, version in enumerate(versions):
            path = read.resource.path(read.namespace, read.name, version)
            try:
                if read.name:
                    outcome = _Outcome(objects=[self._stamp(self._get_json(path, []), read.resource)])
                else:
                    outcome = _Outcome(objects=self._list(read, path))
                self._listed.add((read.resource.kind, read.namespace))
                return outcome
            except ApiException as error:
                if int(error.status or 0) == 404 and position + 1 < len(versions):
                    continue  # an older cluster serves an older version of the CRD
                return self._failed(read, path, error)
        return _Outcome()

    def _failed(self, read: Read, path: str, error: Any) -> _Outcome:
        """A failed GET as an outcome: absent, unavailable, or (401) the end of the run."""
        status = int(error.status or 0)
        if status == 404:
            if read.name or read.resource.custom:
                # Absent, or a CustomResourceDefinition not installed: none exist, not an error.
                self._listed.add((read.resource.kind, read.namespace))
                return _Outcome()
            return _Outcome(unavailable=Unavailable(read.resource.plural, read.namespace,
                                                    "not served by this API server (404)", read.verb))
        if status != 401:
            message = _status_message(error)
            if status == 403:
                reason = "forbidden: " + (message.split(" is forbidden: ", 1)[-1] if message else "RBAC")
            else:
                reason = f"the API server answered {status}: {message or error.reason}"
            return _Outcome(unavailable=Unavailable(read.resource.plural, read.namespace, reason, read.verb))
        raise self._cluster_error(error, path) from None

    def _list(self, read: Read, path: str) -> list[Obj]:
        items: list[Obj] = []
        token = ""
        while True:
            query: list[tuple[str, str]] = [("limit", str(PAGE_SIZE))]
            if read.label_selector:
                query.append(("labelSelector", read.label_selector))
            if read.field_selector:
                query.append(("fieldSelector", read.field_selector))
            if token:
                query.append(("continue", token))
            body = k8s.as_map(self._get_json(path, query))
            for item in k8s.as_list(body.get("items")):
                if isinstance(item, dict):
                    items.append(self._stamp(item, read.resource))
            with self._lock:
                self._received += len(k8s.as_list(body.get("items")))
            token = str(k8s.as_map(body.get("metadata")).get("continue") or "")
            if not token:
                return items

    @staticmethod
    def _stamp(obj: Any, resource: Resource) -> Obj:
        # The API server leaves kind and apiVersion off list items; the Snapshot sorts by kind.
        if not isinstance(obj, dict):
            return {"kind": resource.kind, "apiVersion": resource.api_version, "metadata": {}}
        obj.setdefault("kind", resource.kind)
        obj.setdefault("apiVersion", resource.api_version)
        return obj

    def _get_json(self, path: str, query: list[tuple[str, str]]) -> Any:
        import urllib3
        from kubernetes.client.exceptions import ApiException

        thread = threading.get_ident()
        shown = path + ("?" + "&".join(f"{k}={v}" for k, v in query) if query else "")
        started = time.monotonic()
        with self._lock:
            self._requests += 1
            self._inflight[thread] = (started, shown)
        status = 0
        try:
            response = self._api_client.call_api(
                path, "GET", query_params=query, header_params={"Accept": "application/json"},
                auth_settings=["BearerToken"], _preload_content=False, _request_timeout=self.timeout)
            status = int(response.status)
            data = self._bounded_body(response, path)
        except ApiException as error:
            status = int(error.status or 0)
            if status == 0:
                raise self._cluster_error(error, path) from None
            raise
        except (urllib3.exceptions.HTTPError, OSError) as error:
            raise self._cluster_error(error, path) from None
        finally:
            with self._lock:
                self._inflight.pop(thread, None)
            if self.verbose:
                elapsed = (time.monotonic() - started) * 1000
                self.progress.note(f"GET {shown} {status or 'failed'} {elapsed:.0f}ms")
        try:
            return json.loads(data)
        except ValueError:
            raise ClusterError(f"{self._server} answered GET {path} with something that is not JSON") from None

    def _bounded_body(self, response: Any, path: str) -> bytes:
        """The body of one answer, refusing one larger than MAX_RESPONSE_BYTES or the run's input limit."""
        with self._lock:
            limit = min(MAX_RESPONSE_BYTES, self._budget)
        try:
            data = bytes(response.read(limit + 1))
        finally:
            response.release_conn()
        if len(data) > limit:
            response.close()
            raise ClusterError(f"{self._server} answered GET {path} with more than {limit / 1024 / 1024:.3g} MiB"
                               + (" (one page of a list)" if limit == MAX_RESPONSE_BYTES else
                                  " beyond the run's input limit (SVCDOCTOR_MAX_INPUT_MB)")
                               + ": refusing to read more")
        with self._lock:
            self._budget -= len(data)
        return data

    def _cluster_error(self, error: BaseException, path: str) -> ClusterError:
        import urllib3
        from kubernetes.client.exceptions import ApiException

        server = self._server
        if isinstance(error, ApiException):
            status = int(error.status or 0)
            if status == 401:
                return ClusterError(f"{server} rejected the credentials of context {self._context_name!r} "
                                    "(401 Unauthorized): log in again or fix the kubeconfig user")
            if status == 0:
                text = _first_line(str(error.reason or ""))
                if "SSL" in text or "CERTIFICATE" in text.upper():
                    return ClusterError(f"TLS error talking to {server}: {_ssl_reason(text)}")
                return ClusterError(f"cannot read the cluster at {server}: {text}")
            return ClusterError(f"{server} answered GET {path} with {status} {error.reason}: "
                                f"{_status_message(error)}")
        reason: BaseException = error
        if isinstance(error, urllib3.exceptions.MaxRetryError) and error.reason is not None:
            reason = error.reason
        if isinstance(reason, urllib3.exceptions.SSLError):
            return ClusterError(f"TLS error talking to {server}: {_ssl_reason(str(reason))}")
        # NameResolutionError and NewConnectionError derive from ConnectTimeoutError: test them first.
        if isinstance(reason, urllib3.exceptions.NameResolutionError):
            return ClusterError(f"cannot resolve the API server's name in {server} (context {self._context_name!r})")
        if isinstance(reason, urllib3.exceptions.NewConnectionError) and "timed out" not in str(reason):
            cause = "connection refused" if "refused" in str(reason).lower() else _first_line(str(reason))
            return ClusterError(f"cannot connect to {server}: {cause} (context {self._context_name!r})")
        if isinstance(reason, urllib3.exceptions.ConnectTimeoutError | urllib3.exceptions.ReadTimeoutError
                      | TimeoutError):
            return ClusterError(f"{server} did not answer within {self.timeout:g}s (GET {path}); "
                                "raise --request-timeout or check the connection")
        return ClusterError(f"cannot read the cluster at {server}: {type(reason).__name__}: "
                            f"{_first_line(str(reason))}")

def _share_tls_context(api_client: Any, configuration: Any) -> None:
    """Build the TLS context once for every connection of the pool.

    urllib3 otherwise loads the CA bundle (or the whole system store) and the client key anew for
    each connection, holding the GIL: with twenty connections opened at once that costs seconds
    on a busy machine — more than a whole diagnosis.
    """
    import ssl

    if not str(configuration.host).startswith("https:"):
        return
    keywords = api_client.rest_client.pool_manager.connection_pool_kw
    if configuration.verify_ssl:
        context = ssl.create_default_context(cafile=configuration.ssl_ca_cert or None)
        if configuration.assert_hostname is False:
            context.check_hostname = False
    else:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if configuration.cert_file:
        context.load_cert_chain(configuration.cert_file, configuration.key_file)
    for key in ("ca_certs", "cert_file", "key_file"):
        keywords.pop(key, None)
    keywords["ssl_context"] = context


def _peer_reads(policies: Sequence[Obj], namespaces: Sequence[Obj], selected: Read) -> list[Read]:
    """Pods the namespace's NetworkPolicies admit as ingress peers, so their counts are right."""
    from svcdoctor.selectors import SelectorError, from_label_selector

    pods = BY_KIND["Pod"]
    reads: list[Read] = []
    for policy in policies:
        for rule in k8s.as_list(k8s.spec(policy).get("ingress")):
            for peer in k8s.as_list(k8s.as_map(rule).get("from")):
                peer = k8s.as_map(peer)
                if "ipBlock" in peer:
                    continue
                try:
                    pod_selector = from_label_selector(peer.get("podSelector") or {})
                    namespace_selector = (from_label_selector(peer["namespaceSelector"])
                                          if peer.get("namespaceSelector") is not None else None)
                except SelectorError:
                    continue  # an invalid peer matches nothing; the checks say so
                if namespace_selector is None:
                    targets = [k8s.namespace(policy)]
                elif pod_selector.is_everything:
                    targets = [k8s.name(ns) for ns in namespaces
                               if namespace_selector.matches({"kubernetes.io/metadata.name": k8s.name(ns),
                                                              **k8s.labels(ns)})]
                else:
                    targets = [""]
                for target in targets:
                    read = Read(pods, target, label_selector="" if pod_selector.is_everything else str(pod_selector))
                    if read != selected and read not in reads:
                        reads.append(read)
    return reads[:MAX_PEER_READS]


def _endpoint_pod_reads(endpoint_slices: Sequence[Obj], namespace: str, known: set[str]) -> list[Read]:
    """The Pods endpoints point at that the reads so far did not return (stale endpoints)."""
    names = []
    for endpoint_slice in endpoint_slices:
        for endpoint in k8s.as_list(endpoint_slice.get("endpoints")):
            target = k8s.as_map(k8s.as_map(endpoint).get("targetRef"))
            pod_name = str(target.get("name") or "")
            if target.get("kind") == "Pod" and pod_name and pod_name not in known and \
                    str(target.get("namespace") or namespace) == namespace and pod_name not in names:
                names.append(pod_name)
    if len(names) > MAX_ENDPOINT_POD_READS:
        return [Read(BY_KIND["Pod"], namespace)]
    return [Read(BY_KIND["Pod"], namespace, pod_name) for pod_name in names]


def _now() -> datetime:
    """The moment a live read is taken at (ages are measured from it); tests may pin it."""
    return datetime.now(UTC).replace(microsecond=0)


def _recorded_cluster_domain(objects: Sequence[Obj]) -> str:
    from svcdoctor.dns.domain import cluster_domain

    config_maps = Snapshot([obj for obj in objects if obj.get("kind") == "ConfigMap"])
    found = cluster_domain(config_maps)
    return found.domain if found.object is not None else ""


def _selector_string(service: Mapping[str, Any] | None) -> str:
    """The Service's selector as a ``labelSelector`` query ("" without one, or for ExternalName)."""
    if service is None or k8s.spec(service).get("type") == "ExternalName":
        return ""
    selector = k8s.as_map(k8s.spec(service).get("selector"))
    return ",".join(f"{key}={value}" for key, value in sorted(selector.items()))


def _sorted_unique(objects: Iterable[Obj]) -> list[Obj]:
    """Objects without duplicates (two reads may return one object), in a stable order."""
    unique: dict[tuple[str, str, str], Obj] = {}
    for obj in objects:
        unique[(str(obj.get("kind") or ""), k8s.namespace(obj), k8s.name(obj))] = obj
    return [unique[key] for key in sorted(unique, key=lambda k: (KIND_ORDER.get(k[0], 99), k[1], k[2]))]


def _status_message(error: Any) -> str:
    body = getattr(error, "body", None)
    try:
        return str(k8s.as_map(json.loads(body)).get("message") or "") if body else ""
    except (ValueError, TypeError):
        return _first_line(str(body))


def _ssl_reason(text: str) -> str:
    match = re.search(r"certificate verify failed: ([^(\]'\"]+)", text)
    if match:
        return f"certificate verify failed: {match.group(1).strip()} (check certificate-authority in the kubeconfig)"
    return _first_line(text)[:200]


def _recorded(listed: set[tuple[str, str]]) -> list[Recorded]:
    """One entry per kind: every namespace it was read in, or none when it was read cluster-wide."""
    namespaces: dict[str, set[str]] = {}
    for kind, namespace in listed:
        namespaces.setdefault(kind, set()).add(namespace)
    return [Recorded(kind, () if "" in spaces else tuple(sorted(spaces)))
            for kind, spaces in sorted(namespaces.items())]


def _readable(objects: list[Obj]) -> tuple[list[Obj], list[Unavailable]]:
    """The objects svcdoctor can read, and one :class:`Unavailable` for each it cannot.

    One odd object must not stop a live run: it is left out, reported (SD001 names object and field),
    and the checks that read its kind are unknown.
    """
    kept: list[Obj] = []
    invalid: list[Unavailable] = []
    for obj in objects:
        problems = object_problems(obj, require_namespace=True)
        if not problems:
            kept.append(obj)
            continue
        resource = BY_KIND.get(str(obj.get("kind") or ""))
        invalid.append(Unavailable(resource.plural if resource else str(obj.get("kind") or "").lower(),
                                   k8s.namespace(obj), f"{ref_text(obj)}: {problems[0].text()}", "read",
                                   invalid_object=k8s.name(obj)))
    return kept, invalid
