"""The thin application layer between the CLI and the core.

It turns flags into a Snapshot (choosing the source), adds evidence gathered at the edges (node
dumps read from files, DNS answers, probe results), runs the engine, and applies suppressions.
The checks stay pure: everything that touches files, the network or the API happens here or in
the modules this calls, never inside a check.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from svcdoctor.checks.interface import Options
from svcdoctor.errors import InputError
from svcdoctor.findings import Client
from svcdoctor.report import Report
from svcdoctor.snapshot import Snapshot
from svcdoctor.sources.interface import Request, Source


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
    config: dict[str, Any] = field(default_factory=dict)


def open_source(invocation: Invocation) -> Source:
    """The source the flags name: ``--snapshot``, ``--manifests``, or the live cluster."""
    if invocation.snapshot is not None and invocation.manifests is not None:
        raise InputError("give either --snapshot or --manifests, not both")
    if invocation.snapshot is not None:
        from svcdoctor.sources.snapshot_file import SnapshotFileSource

        return SnapshotFileSource(invocation.snapshot)
    if invocation.manifests is not None:
        from svcdoctor.sources.manifests import ManifestsSource

        return ManifestsSource(invocation.manifests, default_namespace=invocation.namespace or "default")
    from svcdoctor.sources.live import LiveSource

    return LiveSource(
        kubeconfig=invocation.kubeconfig,
        context=invocation.context,
        request_timeout=invocation.request_timeout,
        verbose=invocation.verbose,
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
    if invocation.node_dumps:
        from svcdoctor.dataplane.collect import read_node_dump_files

        snapshot = snapshot.with_evidence(node_dumps=read_node_dump_files(invocation.node_dumps))
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
    from svcdoctor.suppress import apply

    return apply(list(reports), invocation, snapshot)


def _has_ignore_annotations(snapshot: Snapshot) -> bool:
    for obj in snapshot.objects():
        annotations = (obj.get("metadata") or {}).get("annotations") or {}
        if "svcdoctor.dev/ignore" in annotations:
            return True
    return False
