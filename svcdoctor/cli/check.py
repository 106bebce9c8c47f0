"""``svcdoctor check``, ``scan`` and ``demo``: diagnose Services and render the ranked report."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any

import typer

from svcdoctor.cli.common import Session, emit, render_options, report_crashes, session
from svcdoctor.cli.options import (
    FAIL_ON,
    AcceptUnknownOption,
    AllNamespacesOption,
    BaselineOption,
    CiliumServiceListOption,
    ClusterDomainOption,
    ContextOption,
    DnsServerOption,
    FailOnOption,
    IgnoreOption,
    KubeconfigOption,
    ManifestsOption,
    MaxProbesOption,
    NamespaceOption,
    NodeDumpOption,
    NoProgressOption,
    OutputOption,
    ProbeFileAddressesOption,
    ProbeOption,
    ProbeTimeoutOption,
    ShowSuppressedOption,
    SnapshotOption,
    TimeoutOption,
    VerboseOption,
    WriteBaselineOption,
    check_choice,
    from_gateway_option,
    from_ip_option,
    from_pod_option,
    namespace_option,
    split_ids,
)

if TYPE_CHECKING:
    from svcdoctor.app import Invocation
    from svcdoctor.report import Report


def check(
    click_context: typer.Context,
    name: Annotated[str, typer.Argument(metavar="NAME", help="The Service: NAME, svc/NAME or NAME.NAMESPACE.")],
    namespace: NamespaceOption = None,
    snapshot: SnapshotOption = None,
    manifests: ManifestsOption = None,
    from_pod: Annotated[str | None, from_pod_option()] = None,
    from_ip: Annotated[str | None, from_ip_option()] = None,
    from_node: Annotated[str | None, typer.Option("--from-node", help="A host-network client on this node.")] = None,
    from_gateway: Annotated[str | None, from_gateway_option()] = None,
    port: Annotated[str | None, typer.Option("--port", help="Only this port of a multi-port Service: its name "
                                             "or number.")] = None,
    output: OutputOption = "text",
    fail_on: FailOnOption = "error",
    cluster_domain: ClusterDomainOption = None,
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
    request_timeout: TimeoutOption = "10s",
    verbose: VerboseOption = False,
    node_dump: NodeDumpOption = None,
    cilium_service_list: CiliumServiceListOption = None,
    probe: ProbeOption = False,
    probe_timeout: ProbeTimeoutOption = 2.0,
    max_probes: MaxProbesOption = 64,
    probe_file_addresses: ProbeFileAddressesOption = None,
    dns_server: DnsServerOption = None,
    ignore: IgnoreOption = None,
    baseline: BaselineOption = None,
    write_baseline: WriteBaselineOption = None,
    show_suppressed: ShowSuppressedOption = False,
    accept_unknown: AcceptUnknownOption = False,
    no_progress: NoProgressOption = False,
) -> int:
    """Diagnose one Service: walk the debugging steps and rank what is wrong."""
    from svcdoctor.app import check_service
    from svcdoctor.cli.progress import progress
    from svcdoctor.client_names import parse_service
    from svcdoctor.render import render

    name, namespace = parse_service(name, namespace)
    output, fail_on, invocation = _invocation(
        output, fail_on, ignore, snapshot=snapshot, manifests=manifests, kubeconfig=kubeconfig, context=context,
        request_timeout=request_timeout, verbose=verbose, namespace=namespace, cluster_domain=cluster_domain,
        node_dumps=tuple(node_dump or ()), cilium_service_lists=tuple(cilium_service_list or ()), probe=probe,
        probe_timeout=probe_timeout, max_probes=max_probes,
        probe_file_addresses=probe_file_addresses, dns_server=dns_server, baseline=baseline,
        write_baseline=write_baseline, show_suppressed=show_suppressed,
        from_pod=from_pod, from_ip=from_ip, from_node=from_node, from_gateway=from_gateway, port=port,
    )
    run = session(click_context)
    with progress(no_progress) as shown:
        report = check_service(dataclasses.replace(invocation, progress=shown), name, checks=run.checks)
        shown.show(f"writing the {output} report")
        text = render(report, output, render_options(fail_on, show_suppressed, accept_unknown=accept_unknown,
                                                     verbose=verbose))
    emit(text)
    return _ending([report], fail_on, run, accept_unknown)


def scan(
    click_context: typer.Context,
    namespace: Annotated[str | None, namespace_option("The namespace to scan (default: the context's).")] = None,
    all_namespaces: AllNamespacesOption = False,
    snapshot: SnapshotOption = None,
    manifests: ManifestsOption = None,
    output: OutputOption = "text",
    fail_on: FailOnOption = "error",
    cluster_domain: ClusterDomainOption = None,
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
    request_timeout: TimeoutOption = "10s",
    verbose: VerboseOption = False,
    node_dump: NodeDumpOption = None,
    cilium_service_list: CiliumServiceListOption = None,
    ignore: IgnoreOption = None,
    baseline: BaselineOption = None,
    write_baseline: WriteBaselineOption = None,
    show_suppressed: ShowSuppressedOption = False,
    accept_unknown: AcceptUnknownOption = False,
    all_services: Annotated[bool, typer.Option("--all", help="List every Service, not only those with findings "
                                               "(text).")] = False,
    no_progress: NoProgressOption = False,
) -> int:
    """Diagnose every Service of a namespace (or of all): a summary table, worst first."""
    from svcdoctor.app import scan_services
    from svcdoctor.cli.progress import progress
    from svcdoctor.progress import count
    from svcdoctor.render import render_scan

    output, fail_on, invocation = _invocation(
        output, fail_on, ignore, snapshot=snapshot, manifests=manifests, kubeconfig=kubeconfig, context=context,
        request_timeout=request_timeout, verbose=verbose, namespace=namespace, cluster_domain=cluster_domain,
        node_dumps=tuple(node_dump or ()), cilium_service_lists=tuple(cilium_service_list or ()), baseline=baseline,
        write_baseline=write_baseline,
        show_suppressed=show_suppressed,
    )
    run = session(click_context)
    with progress(no_progress) as shown:
        reports = scan_services(dataclasses.replace(invocation, progress=shown), all_namespaces=all_namespaces,
                                checks=run.checks)
        shown.show(f"writing the {output} report of {count(len(reports), 'Service')}")
        text = render_scan(reports, output, render_options(fail_on, show_suppressed, accept_unknown=accept_unknown,
                                                           scan_all=all_services))
    emit(text)
    return _ending(reports, fail_on, run, accept_unknown)


def demo(
    click_context: typer.Context,
    output: OutputOption = "text",
    fail_on: FailOnOption = "never",
) -> int:
    """Diagnose the example Service of the snapshot bundled with svcdoctor (offline)."""
    from importlib.resources import files

    path = files("svcdoctor").joinpath("data/demo-snapshot.yaml")
    code = check(click_context, name="backend", namespace="shop", snapshot=str(path), manifests=None,
                 from_pod="shop/frontend-ddcj28l7m-jsshd", from_ip=None, from_node=None, from_gateway=None, port=None,
                 output=output,
                 fail_on=fail_on, cluster_domain=None, kubeconfig=None, context=None, request_timeout="10s",
                 verbose=False, node_dump=None, cilium_service_list=None, probe=False, probe_timeout=2.0, max_probes=64,
                 probe_file_addresses=None, dns_server=None,
                 ignore=None, baseline=None, write_baseline=None, show_suppressed=False, accept_unknown=False,
                 no_progress=False)
    if output == "text" and sys.stderr.isatty():
        sys.stderr.write(f"next, try: svcdoctor check backend -n shop --snapshot {path} -v   (every finding in "
                         f"full) · -o html > report.html · svcdoctor explain SD301 · svcdoctor scan -A --snapshot "
                         f"{path}\n")
    return code


def _invocation(output: str, fail_on: str, ignore: list[str] | None, *, cluster_domain: str | None,
                **flags: Any) -> tuple[str, str, Invocation]:
    """The output, the threshold and the Invocation, with the config file filled in where a flag was not given."""
    from svcdoctor.app import Invocation
    from svcdoctor.config import configured
    from svcdoctor.render import FORMATS

    output, fail_on, ignore, cluster_domain, config = configured(output, fail_on, ignore, cluster_domain)
    check_choice(output, tuple(FORMATS), "--output")
    check_choice(fail_on, FAIL_ON, "--fail-on")
    return output, fail_on, Invocation(cluster_domain=cluster_domain, ignore=split_ids(ignore), config=config, **flags)


def _ending(reports: Sequence[Report], fail_on: str, run: Session, accept_unknown: bool) -> int:
    """After the output: a line per crashed check, and the exit code (4 for an unknown verdict unless accepted)."""
    from svcdoctor.report import exit_code

    report_crashes(reports, run)
    return exit_code(reports, fail_on, accept_unknown)
