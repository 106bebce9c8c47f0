"""The thin application layer between the CLI and the core.

It turns flags into a Snapshot (choosing the source), adds evidence gathered at the edges (node
dumps read from files, DNS answers, probe results), runs the engine, and applies suppressions.
The checks stay pure: everything that touches files, the network or the API happens here or in
the modules this calls, never inside a check.

:func:`check_service` and :func:`scan_services` are the whole pipeline (source → Snapshot →
engine → suppressed Reports) behind ``svcdoctor check`` and ``scan``; anything else that
diagnoses (a server, a watch loop) calls them with an :class:`Invocation` and renders the
Reports it gets back.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from svcdoctor import k8s
from svcdoctor.checks.interface import Check, Options
from svcdoctor.client_names import ClientName, choose_pod, parse_client
from svcdoctor.errors import ClusterError, InputError
from svcdoctor.findings import Client, Finding
from svcdoctor.progress import NO_PROGRESS, Progress
from svcdoctor.report import Report
from svcdoctor.snapshot import Snapshot
from svcdoctor.sources.interface import Request, Source

if TYPE_CHECKING:
    from svcdoctor.dns.records import ServiceRecords
    from svcdoctor.sources.live import LiveSource


@dataclass(frozen=True)
class Invocation:
    """Every flag that shapes where evidence comes from and what the report keeps."""

    snapshot: str | None = None
    manifests: str | None = None
    kubeconfig: str | None = None
    context: str | None = None
    request_timeout: str = "10s"
    verbose: bool = False
    #: ``-n`` as given (None: the context's namespace for a live read, ``default`` otherwise).
    namespace: str | None = None
    cluster_domain: str | None = None
    node_dumps: tuple[str, ...] = ()
    #: ``--cilium-service-list NODE=FILE``: a node's ``cilium-dbg service list`` output, added to its NodeDump.
    cilium_service_lists: tuple[str, ...] = ()
    probe: bool = False
    probe_timeout: float = 2.0
    max_probes: int = 64
    dns_server: str | None = None
    #: With ``--snapshot FILE --probe``: the same FILE again, confirming that its addresses may be probed.
    probe_file_addresses: str | None = None
    ignore: tuple[str, ...] = ()
    baseline: str | None = None
    write_baseline: str | None = None
    show_suppressed: bool = False
    #: ``check --port NAME|NUMBER``: diagnose only this port of a multi-port Service.
    port: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    #: The client (``check`` only, at most one of the three): ``--from`` NAMESPACE/POD or POD (in
    #: the Service's namespace), ``--from-ip`` an address outside the cluster, ``--from-node`` a Node.
    from_pod: str | None = None
    from_ip: str | None = None
    from_node: str | None = None
    #: ``--from-gateway`` NAMESPACE/NAME: the Gateway's data-plane Pod is the client.
    from_gateway: str | None = None
    #: Told what is being read and diagnosed (the CLI's status line on a terminal); not a flag's value.
    progress: Progress = field(default=NO_PROGRESS, compare=False, repr=False)


#: A name the API could hold for a Pod (anything else in --from is a prefix to look up).
_POD_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")
#: How the error messages name each source's contents ("not in the cluster").
_SOURCE_WORDS = {"live": "cluster", "snapshot": "snapshot", "manifests": "manifests"}


def check_service(invocation: Invocation, name: str, *, checks: Sequence[Check] | None = None) -> Report:
    """Diagnose the Service ``name`` (in ``invocation.namespace``) as ``svcdoctor check`` does.

    Opens the source, loads what the Service's checks read, resolves the client, gathers probes
    when asked, runs the engine and applies ``--ignore``, annotations and a baseline. ``checks``
    replaces the registry (None: every registered check). Raises :class:`~svcdoctor.errors.SvcdoctorError`
    for bad flags, bad input (exit 2) or an unreadable cluster (exit 3).
    """
    from svcdoctor.engine import diagnose_service

    flags = (invocation.from_pod, invocation.from_ip, invocation.from_node, invocation.from_gateway)
    if sum(x is not None for x in flags) > 1:
        raise InputError("give at most one of --from, --from-ip, --from-node and --from-gateway")
    source = open_source(invocation)
    namespace = resolve_namespace(invocation, source)
    client = _client(invocation, namespace)
    client_name: ClientName | None = None
    if invocation.from_pod is not None and source.kind == "live":
        # Live reads fetch the client Pod by name: find that name first when --from names a
        # workload; a Pod name that is not found is looked up again below (prefix, near names).
        client_name = parse_client(invocation.from_pod, namespace, _live(source).namespace_exists)
        if not client_name.is_pod or not _POD_NAME.fullmatch(client_name.name):  # a workload, or a prefix
            services = _live(source).list_objects("Service", client_name.namespace) \
                if client_name.kind == "Service" else ()
            pod = choose_pod(client_name, _live(source).list_pods(client_name.namespace), "cluster", services)
            client = Client("pod", client_name.namespace, k8s.name(pod))
        else:
            client = Client("pod", client_name.namespace, client_name.name)
    snapshot, description = load(invocation, _service_request(namespace, name, client), source)
    if invocation.from_pod is not None:
        if client_name is None:
            client_name = parse_client(invocation.from_pod, namespace, lambda ns: _namespace_in(snapshot, ns))
        client = _client_pod(client_name, snapshot, source)
        if source.kind == "live" and snapshot.pod(client.namespace, client.name) is None:
            snapshot, description = load(invocation, _service_request(namespace, name, client), source)
    client = _resolve_client(client, snapshot, source)
    if invocation.from_gateway is not None:
        gateway = split_pod(invocation.from_gateway, namespace, "--from-gateway", "NAME")
        if source.kind == "live":  # the data-plane Pods are read by the labels implementations set
            snapshot, description = load(invocation, Request(namespace=namespace, service=name,
                                                             extra={"gateway": "/".join(gateway)}), source)
        client = _gateway_client(snapshot, *gateway, where=_SOURCE_WORDS.get(source.kind, source.kind))
    port_index = None
    if invocation.port is not None:
        snapshot, port_index = narrowed_to_port(snapshot, namespace, name, invocation.port)
    snapshot = gather_live_evidence(invocation, snapshot, namespace, name, client)
    report = diagnose_service(snapshot, namespace, name, client=client, checks=checks,
                              options=options_for(invocation), source=description)
    if port_index is not None:
        report = _port_fields_restored(report, port_index, invocation.port or "")
    if client_name is not None and client_name.note:
        report = dataclasses.replace(report, notes=(*report.notes, client_name.note))
    return finish([report], invocation, snapshot)[0]


def scan_services(invocation: Invocation, *, all_namespaces: bool = False,
                  checks: Sequence[Check] | None = None) -> list[Report]:
    """Diagnose every Service of ``invocation.namespace`` (or of all) as ``svcdoctor scan`` does, worst first."""
    from svcdoctor.engine import scan

    if invocation.namespace is None and not all_namespaces and invocation.snapshot is not None:
        raise InputError("give -n NAMESPACE or -A (--all-namespaces)")
    # Manifests name their own namespaces: without -n, scan every Service they hold.
    all_namespaces = all_namespaces or (invocation.manifests is not None and invocation.namespace is None)
    source = open_source(invocation)
    namespace = "" if all_namespaces else resolve_namespace(invocation, source)
    snapshot, description = load(invocation, Request(namespace=namespace, all_namespaces=all_namespaces), source)
    if not all_namespaces:
        _refuse_absent_namespace(snapshot, namespace, source)
    reports = scan(snapshot, None if all_namespaces else [namespace], checks=checks,
                   options=options_for(invocation), source=description, progress=invocation.progress)
    return finish(reports, invocation, snapshot)


def service_records(invocation: Invocation, name: str) -> ServiceRecords:
    """The DNS records the Kubernetes DNS specification gives the Service ``name`` (``svcdoctor dns``).

    With ``invocation.probe``, each record is also asked of the cluster DNS (or ``--dns-server``)
    and carries the verdict on what came back.
    """
    from svcdoctor.dns.domain import cluster_domain
    from svcdoctor.dns.records import ServiceRecords, expected_records, reading_order, service_fqdn

    source = open_source(invocation)
    namespace = resolve_namespace(invocation, source)
    snapshot, _ = load(invocation, Request(namespace=namespace, service=name), source)
    service = snapshot.service(namespace, name)
    if service is None:
        refused = snapshot.missing("services", namespace)
        if refused is not None:  # not "no such Service": whether it exists could not be read
            raise ClusterError(f"could not {refused.verb} Services in namespace {namespace}: {refused.reason} "
                               f"(see: {refused.can_i()})")
        raise InputError(f"no Service {namespace}/{name} in the {_SOURCE_WORDS.get(source.kind, source.kind)}")
    domain = cluster_domain(snapshot, invocation.cluster_domain)
    records = ServiceRecords(f"{namespace}/{name}", domain.domain, domain.origin,
                             tuple(reading_order(expected_records(snapshot, service, domain.domain),
                                                 service_fqdn(namespace, name, domain.domain))))
    if not invocation.probe:
        return records
    from svcdoctor.probe.dns_query import compare_records
    from svcdoctor.probe.gather import _check_budget, _dns_server

    if not invocation.dns_server:
        confirm_file_addresses(invocation)
    _check_budget(invocation)
    server = _dns_server(invocation, snapshot)
    if not server:
        raise InputError("--probe: no kube-dns Service in the snapshot; give --dns-server")
    answers = compare_records(records.records, server, invocation.probe_timeout)
    return dataclasses.replace(records, server=server, answers=tuple(answers))


def split_pod(value: str, default_namespace: str, option: str = "--from", what: str = "POD") -> tuple[str, str]:
    """``--from NAMESPACE/POD`` or ``--from POD`` (in ``default_namespace``); likewise ``--from-gateway``."""
    if "/" in value:
        namespace, _, name = value.partition("/")
        if not namespace or not name or "/" in name:
            raise InputError(f"{option} {value!r}: expected NAMESPACE/{what} or {what}")
        return namespace, name
    return default_namespace, value


def _gateway_client(snapshot: Snapshot, namespace: str, name: str, where: str) -> Client:
    """``--from-gateway``: the Gateway's data-plane Pod (ready first) as the client, or a clear refusal."""
    from svcdoctor import k8s
    from svcdoctor.gateway import DATA_PLANE_LABELS, data_plane_pods

    pods = sorted(data_plane_pods(snapshot, namespace, name),
                  key=lambda pod: (not k8s.pod_is_ready(pod), k8s.namespace(pod), k8s.name(pod)))
    if not pods:
        labels = ", ".join(f"{key}={name}" for key, _ in DATA_PLANE_LABELS)
        known = " (the Gateway exists)" if snapshot.get("Gateway", namespace, name) is not None else ""
        raise InputError(f"--from-gateway {namespace}/{name}: no data-plane Pod found in the {where}{known}; looked "
                         f"for the labels {labels}. Give one of its Pods with --from NAMESPACE/POD")
    pod = pods[0]
    return Client("pod", k8s.namespace(pod), k8s.name(pod), k8s.pod_ip(pod))


def narrowed_to_port(snapshot: Snapshot, namespace: str, name: str, wanted: str) -> tuple[Snapshot, int]:
    """The Snapshot with the Service keeping only the port ``wanted`` (its name or number), and its index."""
    service = snapshot.service(namespace, name)
    if service is None:
        return snapshot, 0  # SD101 reports the missing Service
    ports = [k8s.as_map(port) for port in k8s.as_list(k8s.spec(service).get("ports"))]
    matching = [index for index, port in enumerate(ports)
                if str(port.get("name") or "") == wanted or str(port.get("port")) == wanted]
    if not matching:
        have = ", ".join(f"{port.get('name')} ({port.get('port')})" if port.get("name") else str(port.get("port"))
                         for port in ports) or "none"
        raise InputError(f"--port {wanted}: Service {namespace}/{name} has no such port (its ports: {have})")
    index = matching[0]
    narrowed = {**service, "spec": {**k8s.spec(service), "ports": [ports[index]]}}
    objects = [narrowed if obj is service else obj for obj in snapshot.objects()]
    return Snapshot(objects, node_dumps=snapshot.node_dumps, dns_answers=snapshot.dns_answers,
                    probe_results=snapshot.probe_results, info=snapshot.info,
                    unavailable=[u for u in snapshot.unavailable if u not in snapshot.info.unavailable],
                    origins=snapshot.origins, static=snapshot.static, source_path=snapshot.source_path), index


def _port_fields_restored(report: Report, index: int, wanted: str) -> Report:
    """Findings name ``spec.ports[0]`` of the narrowed Service: give back the port's real index (file lines
    depend on it), and say in the notes that only one port was checked."""
    pattern = re.compile(r"^spec\.ports\[0\]")
    service = report.target.ref

    def restored(finding: Finding) -> Finding:
        field_path = finding.subject_field
        if finding.subject == service and field_path:
            field_path = pattern.sub(f"spec.ports[{index}]", field_path)
        evidence = tuple(dataclasses.replace(item, field=pattern.sub(f"spec.ports[{index}]", item.field))
                         if item.object == service and item.field else item for item in finding.evidence)
        return dataclasses.replace(finding, subject_field=field_path, evidence=evidence)

    note = f"--port {wanted}: only this port of the Service was checked"
    return dataclasses.replace(report, findings=tuple(restored(f) for f in report.findings),
                               suppressed=tuple(restored(f) for f in report.suppressed),
                               notes=(*report.notes, note))


def _service_request(namespace: str, name: str, client: Client | None) -> Request:
    client_pod = f"{client.namespace}/{client.name}" if client is not None and client.kind == "pod" else ""
    return Request(namespace=namespace, service=name, client_pod=client_pod)


def _live(source: Source) -> LiveSource:
    from svcdoctor.sources.live import LiveSource

    assert isinstance(source, LiveSource)
    return source


def _refuse_absent_namespace(snapshot: Snapshot, namespace: str, source: Source) -> None:
    """``scan -n NS`` of a namespace the snapshot or the cluster does not have: one line, exit 2 — "no
    Services" would read as a healthy, empty namespace. Left alone when that cannot be known: manifests
    (they need not declare their namespaces) or a live cluster whose Namespace list was refused."""
    from svcdoctor.similarity import closest

    if source.kind == "manifests" or namespace in snapshot.namespace_names() or snapshot.missing("namespaces"):
        return
    near = closest(namespace, snapshot.namespace_names())
    hint = f"; did you mean {', '.join(near)}?" if near else ""
    if source.kind == "live":  # every Namespace was listed, and it is not among them
        raise InputError(f"namespace {namespace} does not exist in the cluster{hint}")
    # A list of an absent namespace succeeds (empty), so a recording's "Services were listed there" proves
    # the namespace only when the recording does not hold every Namespace (which would include it).
    namespaces_listed = any(item.kind == "Namespace" for item in snapshot.info.recorded or ())
    if not namespaces_listed and any(item.kind == "Service" and namespace in item.namespaces
                                     for item in snapshot.info.recorded or ()):
        return
    raise InputError(f"namespace {namespace} is not in the snapshot: no object of it was recorded{hint}")


def _namespace_in(snapshot: Snapshot, namespace: str) -> bool:
    return namespace in snapshot.namespace_names()


def _client_pod(client: ClientName, snapshot: Snapshot, source: Source) -> Client:
    """The Pod ``--from`` names, found among the client namespace's Pods (for a live source, listed)."""
    where = _SOURCE_WORDS.get(source.kind, source.kind)
    if client.is_pod and (snapshot.pod(client.namespace, client.name) is not None
                          or snapshot.missing("pods", client.namespace) is not None):
        # Found, or its read was refused: a refused read says nothing about the Pod (_resolve_client keeps it).
        return Client("pod", client.namespace, client.name)
    if snapshot.static:  # manifests: a workload's name stands for its template's Pod
        from svcdoctor.sources.manifests import stand_in_for

        stand_in = stand_in_for(snapshot, client.namespace, client.name)
        if stand_in is not None:
            return Client("pod", client.namespace, k8s.name(stand_in))
    pods: Sequence[k8s.Obj]
    services: Sequence[k8s.Obj]
    if source.kind == "live":
        pods = _live(source).list_pods(client.namespace)
        services = _live(source).list_objects("Service", client.namespace) if client.kind == "Service" else []
    else:
        pods, services = snapshot.pods_in(client.namespace), snapshot.services_in(client.namespace)
    return Client("pod", client.namespace, k8s.name(choose_pod(client, pods, where, services)))


def _client(invocation: Invocation, namespace: str) -> Client | None:
    """The client the flags name, before the Snapshot is read (a Pod's address is not known yet)."""
    if invocation.from_pod is not None:
        return None  # resolved against the Pods that exist (check_service)
    if invocation.from_ip is not None:
        import ipaddress

        try:
            ipaddress.ip_address(invocation.from_ip)
        except ValueError:
            raise InputError(f"--from-ip {invocation.from_ip!r} is not an IP address") from None
        return Client("ip", ip=invocation.from_ip)
    if invocation.from_node is not None:
        return Client("node", name=invocation.from_node)
    return None


def _resolve_client(client: Client | None, snapshot: Snapshot, source: Source) -> Client | None:
    """The client as the Snapshot knows it: a Pod with its address, checked to exist."""
    where = _SOURCE_WORDS.get(source.kind, source.kind)
    if client is not None and client.kind == "pod":
        from svcdoctor import k8s

        pod = snapshot.pod(client.namespace, client.name)
        if pod is None and snapshot.static:  # manifests: a workload's name stands for its template's Pod
            from svcdoctor.sources.manifests import stand_in_for

            pod = stand_in_for(snapshot, client.namespace, client.name)
            client = Client("pod", client.namespace, k8s.name(pod)) if pod is not None else client
        if pod is None and snapshot.missing("pods", client.namespace) is None:
            raise InputError(f"--from: Pod {client.namespace}/{client.name} is not in the {where}")
        # A refused read says nothing about the Pod: keep the client; the checks that need it are unknown.
        return Client("pod", client.namespace, client.name, k8s.pod_ip(pod) if pod is not None else "")
    if client is not None and client.kind == "node" and snapshot.node(client.name) is None and snapshot.nodes:
        raise InputError(f"--from-node: Node {client.name} is not in the {where}")
    return client


def open_source(invocation: Invocation) -> Source:
    """The source the flags name: ``--snapshot``, ``--manifests``, or the live cluster."""
    if invocation.snapshot is not None and invocation.manifests is not None:
        raise InputError("give either --snapshot or --manifests, not both")
    if invocation.snapshot is not None:
        from svcdoctor.sources.snapshot_file import SnapshotFileSource

        return SnapshotFileSource(invocation.snapshot, invocation.progress)
    if invocation.manifests is not None:
        from svcdoctor.sources.manifests import ManifestsSource

        return ManifestsSource(invocation.manifests, default_namespace=invocation.namespace or "default",
                               progress=invocation.progress)
    from svcdoctor.sources.live import LiveSource

    return LiveSource(
        kubeconfig=invocation.kubeconfig,
        context=invocation.context,
        request_timeout=invocation.request_timeout,
        verbose=invocation.verbose,
        progress=invocation.progress,
    )


def resolve_namespace(invocation: Invocation, source: Source) -> str:
    """``-n`` when given; otherwise the live context's namespace, else ``default``."""
    if invocation.namespace:
        return invocation.namespace
    default = getattr(source, "default_namespace", None)
    return str(default() if callable(default) else default or "default")


def options_for(invocation: Invocation) -> Options:
    return Options(cluster_domain=invocation.cluster_domain or "cluster.local", probe=invocation.probe)


def load(invocation: Invocation, request: Request, source: Source | None = None) -> tuple[Snapshot, dict[str, Any]]:
    """Read the Snapshot from the source, then add evidence files given on the command line."""
    source = source or open_source(invocation)
    snapshot = source.load(request)
    request.validate()
    if invocation.node_dumps:
        from svcdoctor.dataplane.collect import read_node_dump_files

        snapshot = snapshot.with_evidence(node_dumps=read_node_dump_files(invocation.node_dumps))
    if invocation.cilium_service_lists:
        from svcdoctor.dataplane.collect import with_cilium_service_lists

        snapshot = snapshot.with_evidence(node_dumps=with_cilium_service_lists(snapshot.node_dumps,
                                                                               invocation.cilium_service_lists))
    return snapshot, source.describe()


def gather_live_evidence(invocation: Invocation, snapshot: Snapshot, namespace: str, name: str,
                         client: Client | None) -> Snapshot:
    """Probes and DNS queries, only when asked for (``--probe``); never for a static run."""
    if not invocation.probe:
        return snapshot
    if snapshot.static:
        raise InputError("--probe needs a cluster: it cannot probe plain manifests")
    confirm_file_addresses(invocation)
    from svcdoctor.probe.gather import gather

    return gather(snapshot, namespace, name, client, invocation)


def confirm_file_addresses(invocation: Invocation) -> None:
    """``--snapshot FILE --probe`` sends packets where FILE says: the user must name FILE twice.

    A recording may come from anyone; its addresses are still bounded (:mod:`svcdoctor.probe.bounds`),
    but which of the cluster's addresses get packets is the file's choice, so it is confirmed.
    """
    if invocation.snapshot is None:
        return
    confirmed = invocation.probe_file_addresses
    if confirmed is None or not _same_file(confirmed, invocation.snapshot):
        raise InputError(f"--probe sends packets to the addresses {invocation.snapshot} names: if you trust it, "
                         f"add --probe-file-addresses {invocation.snapshot}")


def _same_file(first: str, second: str) -> bool:
    if first == second:
        return True
    try:
        return os.path.samefile(first, second)
    except OSError:
        return False


def finish(reports: Sequence[Report], invocation: Invocation, snapshot: Snapshot) -> list[Report]:
    """Apply ``--ignore``, ignore annotations and a baseline; write a baseline when asked."""
    if not (invocation.ignore or invocation.baseline or invocation.write_baseline or _has_ignore_annotations(snapshot)):
        return list(reports)
    return suppressed(reports, invocation, snapshot)


def suppressed(reports: Sequence[Report], invocation: Invocation, snapshot: Snapshot,
               baseline: set[str] | None = None) -> list[Report]:
    """:func:`finish` without its look over every object for annotations, for a caller that diagnoses
    a few Services of a large Snapshot at a time (``watch``); ``baseline``: the fingerprints of
    ``invocation.baseline``, when the caller read them once."""
    from svcdoctor.suppress import apply

    return apply(list(reports), invocation, snapshot, baseline)


def _has_ignore_annotations(snapshot: Snapshot) -> bool:
    for obj in snapshot.objects():
        annotations = (obj.get("metadata") or {}).get("annotations") or {}
        if "svcdoctor.dev/ignore" in annotations:
            return True
    return False
