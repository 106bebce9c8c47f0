"""``svcdoctor watch``: follow the cluster and export every Service's verdict to Prometheus."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from svcdoctor.cli.common import session
from svcdoctor.cli.options import (
    AllNamespacesOption,
    ClusterDomainOption,
    ContextOption,
    IgnoreOption,
    KubeconfigOption,
    TimeoutOption,
    baseline_option,
    from_pod_option,
    namespace_option,
    split_ids,
)
from svcdoctor.errors import EXIT_OK, InputError

#: Outside Prometheus' exporter range (9100–9999, all allocated): no common exporter listens here.
DEFAULT_PORT = 10349


def parse_listen(value: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6, ``:PORT`` for loopback)."""
    host, separator, port_text = value.rpartition(":")
    if not separator or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise InputError(f"--listen {value!r}: expected HOST:PORT, e.g. 127.0.0.1:{DEFAULT_PORT}")
    return (host.strip("[]") or "127.0.0.1"), int(port_text)


def watch(
    click_context: typer.Context,
    namespace: Annotated[str | None, namespace_option("The namespace to watch (default: the context's).")] = None,
    all_namespaces: AllNamespacesOption = False,
    listen: Annotated[str, typer.Option(
        "--listen", help="Where /metrics, /healthz and /readyz are served, HOST:PORT (0.0.0.0:PORT for all "
                         "interfaces, as in a Pod).")] = f"127.0.0.1:{DEFAULT_PORT}",
    cluster_domain: ClusterDomainOption = None,
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
    request_timeout: TimeoutOption = "10s",
    ignore: IgnoreOption = None,
    baseline: Annotated[str | None, baseline_option(
        "Suppress the findings in this baseline file (check/scan --write-baseline writes one).")] = None,
    from_pod: Annotated[str | None, from_pod_option(
        "The client every Service is judged for (its NetworkPolicies, egress included), as check --from: POD, "
        "NAMESPACE/POD, TYPE/NAME (deploy/web: a ready Pod of it, found again as it is replaced).")] = None,
) -> int:
    """Follow the cluster (list, then watch) and keep every Service's diagnosis current, as Prometheus metrics.

    Only the Services a change can affect are diagnosed again. Each verdict change is also
    written to stderr as one JSON line. Suppressions work as for scan: --ignore, the
    svcdoctor.dev/ignore annotation, --baseline and .svcdoctor.yaml. With --from, every Service
    is judged for that client, as check --from does. Metrics:
    svcdoctor_service_verdict, _root_cause, _step_state, and the watcher's own health; see
    README "Always on".
    """
    from svcdoctor.app import Invocation
    from svcdoctor.config import configured
    from svcdoctor.sources.live import LiveSource
    from svcdoctor.watch.loop import Watcher, WatchState, checked_suppressions
    from svcdoctor.watch.metrics import MetricsServer, WatchMetrics

    host, port = parse_listen(listen)
    _, _, ignore, cluster_domain, config = configured("text", "never", ignore, cluster_domain)
    invocation = Invocation(kubeconfig=kubeconfig, context=context, request_timeout=request_timeout,
                            cluster_domain=cluster_domain, ignore=split_ids(ignore), baseline=baseline, config=config)
    fingerprints = checked_suppressions(invocation)
    source = LiveSource(kubeconfig=kubeconfig, context=context, request_timeout=request_timeout)
    api_client = source.api_client()
    watched = None if all_namespaces else (namespace or source.default_namespace())
    client = None
    if from_pod is not None:
        from svcdoctor.client_names import parse_client

        client = parse_client(from_pod, watched or source.default_namespace(), source.namespace_exists)
    metrics = WatchMetrics()
    state = WatchState(watched, metrics, invocation=invocation, baseline=fingerprints,
                       checks=session(click_context).checks, client=client)
    try:
        server = MetricsServer(metrics, host, port).start()
    except OSError as error:
        raise InputError(f"--listen {listen}: {error.strerror or error}") from None
    watcher = Watcher(api_client, state).start()
    bound_host, bound_port = server.address
    scope = "every namespace" if watched is None else f"namespace {watched}"
    sys.stderr.write(f"svcdoctor: watching {scope}; metrics at http://{bound_host}:{bound_port}/metrics "
                     "(Ctrl-C stops it)\n")
    sys.stderr.flush()
    try:
        watcher.wait()
    except KeyboardInterrupt:
        pass
    finally:
        watcher.stop()
        server.stop()
    return EXIT_OK
