"""The command line: ``svcdoctor`` and the kubectl plugin ``kubectl-svcdoctor``.

Only argument handling lives here; the core (sources → Snapshot → engine → Report → renderers)
knows nothing of it. Heavy modules (the ``kubernetes`` client, scapy) are imported inside the
commands that need them, so ``svcdoctor --help`` stays fast.

Every error ends as one line on stderr and a documented exit code: 0 ok, 1 findings at or above
``--fail-on``, 2 bad usage or bad input, 3 the cluster could not be read, 70 an internal error (a
bug in svcdoctor; ``--debug`` prints its traceback).
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import typer

from svcdoctor import __version__
from svcdoctor.errors import EXIT_INTERNAL, EXIT_OK, EXIT_USAGE, InputError, SvcdoctorError, internal_error_message

if TYPE_CHECKING:
    from svcdoctor.checks.interface import Check
    from svcdoctor.report import Report

app = typer.Typer(
    name="svcdoctor",
    help="Why can't I reach my Service? A ranked diagnosis: root cause first, the evidence, the next command.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

FAIL_ON = ("error", "warning", "info", "never")
_SOURCE_WORDS = {"live": "cluster", "snapshot": "snapshot", "manifests": "manifests"}
#: 128 + SIGPIPE, as a shell reports a writer whose reader went away (e.g. `| head`).
EXIT_BROKEN_PIPE = 141

NamespaceOption = Annotated[str | None, typer.Option("--namespace", "-n", help="Namespace of the Service.")]
SnapshotOption = Annotated[
    str | None,
    typer.Option("--snapshot", "-f", help="A recorded snapshot: a file, a directory or '-' for stdin (offline)."),
]
OutputOption = Annotated[
    str, typer.Option("--output", "-o", help="text | json | yaml | markdown | sarif | junit | github")
]
FailOnOption = Annotated[
    str, typer.Option("--fail-on", help="Exit 1 when a finding is at or above: error | warning | info | never.")
]
ClusterDomainOption = Annotated[
    str | None, typer.Option("--cluster-domain", help="The cluster DNS domain (default: cluster.local).")
]


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"svcdoctor {__version__}")
        raise typer.Exit(0)


@dataclass
class Session:
    """One run's state shared by the root options and the commands (click's ``ctx.obj``)."""

    #: ``--debug``: print the traceback of an internal error.
    debug: bool = False
    #: The checks to run; None: the registry. Tests hand in extra ones through :func:`run`.
    checks: Sequence[Check] | None = None


@app.callback()
def _root(
    click_context: typer.Context,
    version: Annotated[
        bool, typer.Option("--version", callback=_version_callback, is_eager=True, help="Print the version.")
    ] = False,
    debug: Annotated[
        bool, typer.Option("--debug", envvar="SVCDOCTOR_DEBUG", help="Print the traceback of an internal error.")
    ] = False,
) -> None:
    """Why can't I reach my Service?"""
    click_context.ensure_object(Session).debug = debug


def _session(click_context: typer.Context) -> Session:
    return click_context.ensure_object(Session)


def _report_crashes(reports: Sequence[Report], session: Session) -> None:
    """One line per crashed check (naming a Service it crashed on); with --debug, the first traceback."""
    by_check: dict[str, list[tuple[Report, Any]]] = {}
    for report in reports:
        for crash in report.internal_errors:
            by_check.setdefault(crash.check, []).append((report, crash))
    for check_id, crashes in by_check.items():
        report, crash = crashes[0]
        more = f" (and {len(crashes) - 1} more Service{'s' if len(crashes) > 2 else ''})" if len(crashes) > 1 else ""
        if session.debug:
            sys.stderr.write(crash.traceback)
        _error(internal_error_message(f"check {check_id} crashed on Service {report.target}{more}: {crash.error}"))


# -- helpers ---------------------------------------------------------------------------------


def _color_wanted() -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return sys.stdout.isatty()


def _check_choice(value: str, choices: tuple[str, ...], flag: str) -> str:
    if value not in choices:
        raise InputError(f"{flag}: {value!r} is not one of {', '.join(choices)}")
    return value


def _check_output(output: str) -> str:
    from svcdoctor.render import FORMATS

    return _check_choice(output, tuple(FORMATS), "--output")


def _split_pod(value: str, default_namespace: str, option: str = "--from", what: str = "POD") -> tuple[str, str]:
    if "/" in value:
        namespace, _, name = value.partition("/")
        if not namespace or not name or "/" in name:
            raise InputError(f"{option} {value!r}: expected NAMESPACE/{what} or {what}")
        return namespace, name
    return default_namespace, value


def _split_ids(values: list[str] | None) -> tuple[str, ...]:
    ids: list[str] = []
    for value in values or []:
        ids += [part.strip().upper() for part in value.split(",") if part.strip()]
    return tuple(ids)


def _emit(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def _render_options(invocation: Any = None, fail_on: str = "error") -> Any:
    from svcdoctor.render import RenderOptions

    return RenderOptions(color=_color_wanted(), width=_width(),
                         show_suppressed=bool(getattr(invocation, "show_suppressed", False)),
                         verbose=bool(getattr(invocation, "verbose", False)), extra={"fail_on": fail_on})


def _width() -> int:
    """The terminal's width on a terminal (or $COLUMNS); 100 when writing to a file or pipe."""
    import shutil

    if sys.stdout.isatty() or os.environ.get("COLUMNS"):
        return max(60, min(shutil.get_terminal_size((100, 24)).columns, 160))
    return 100


# Flags shared by `check` and `scan`.
ManifestsOption = Annotated[
    str | None,
    typer.Option("--manifests", help="Plain manifests (a file, a directory, or '-'): a static check before deploy."),
]
KubeconfigOption = Annotated[str | None, typer.Option("--kubeconfig", help="Path to the kubeconfig file.")]
ContextOption = Annotated[str | None, typer.Option("--context", help="The kubeconfig context to use.")]
TimeoutOption = Annotated[
    str, typer.Option("--request-timeout", help="Time limit for each API request, e.g. 10s, 500ms, 1m.")
]
VerboseOption = Annotated[
    bool, typer.Option("--verbose", "-v", help="Print each API request and its time to stderr.")
]
NodeDumpOption = Annotated[
    list[str] | None,
    typer.Option("--node-dump", help="A NodeDump file (svcdoctor collect node) to add; repeatable."),
]
ProbeOption = Annotated[
    bool, typer.Option("--probe", help="Send probes (TCP/UDP, DNS queries) to addresses from the cluster's objects.")
]
ProbeTimeoutOption = Annotated[float, typer.Option("--probe-timeout", help="Seconds to wait for each probe.")]
MaxProbesOption = Annotated[int, typer.Option("--max-probes", help="At most this many probes.")]
ProbeFileAddressesOption = Annotated[
    str | None, typer.Option("--probe-file-addresses", help="With --snapshot FILE --probe: FILE again, to confirm "
                                                            "that the addresses it names may be probed.")
]
DnsServerOption = Annotated[
    str | None, typer.Option("--dns-server", help="Ask this resolver instead of the kube-dns Service.")
]
IgnoreOption = Annotated[
    list[str] | None, typer.Option("--ignore", help="Check IDs to suppress, e.g. SD212,SD207; repeatable.")
]
BaselineOption = Annotated[
    str | None, typer.Option("--baseline", help="Fail only on findings that are not in this baseline file.")
]
WriteBaselineOption = Annotated[
    str | None, typer.Option("--write-baseline", help="Write the current findings as a baseline file.")
]
ShowSuppressedOption = Annotated[
    bool, typer.Option("--show-suppressed", help="List suppressed findings too.")
]


def _invocation(**flags: Any) -> Any:
    from svcdoctor.app import Invocation

    flags["node_dumps"] = tuple(flags.get("node_dumps") or ())
    flags["ignore"] = _split_ids(flags.get("ignore"))
    return Invocation(**flags)


# -- commands --------------------------------------------------------------------------------


@app.command()
def check(
    click_context: typer.Context,
    name: Annotated[str, typer.Argument(help="The Service's name.")],
    namespace: NamespaceOption = None,
    snapshot: SnapshotOption = None,
    manifests: ManifestsOption = None,
    from_pod: Annotated[
        str | None, typer.Option("--from", help="The client Pod, NAMESPACE/POD (or POD in -n).")
    ] = None,
    from_ip: Annotated[str | None, typer.Option("--from-ip", help="A client address outside the cluster.")] = None,
    from_node: Annotated[str | None, typer.Option("--from-node", help="A host-network client on this node.")] = None,
    from_gateway: Annotated[str | None, typer.Option(
        "--from-gateway", help="A Gateway API Gateway, NAMESPACE/NAME: its data-plane Pod is the client.")] = None,
    output: OutputOption = "text",
    fail_on: FailOnOption = "error",
    cluster_domain: ClusterDomainOption = None,
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
    request_timeout: TimeoutOption = "10s",
    verbose: VerboseOption = False,
    node_dump: NodeDumpOption = None,
    probe: ProbeOption = False,
    probe_timeout: ProbeTimeoutOption = 2.0,
    max_probes: MaxProbesOption = 64,
    probe_file_addresses: ProbeFileAddressesOption = None,
    dns_server: DnsServerOption = None,
    ignore: IgnoreOption = None,
    baseline: BaselineOption = None,
    write_baseline: WriteBaselineOption = None,
    show_suppressed: ShowSuppressedOption = False,
) -> int:
    """Diagnose one Service: walk the debugging steps and rank what is wrong."""
    from svcdoctor import app as application
    from svcdoctor import k8s
    from svcdoctor.config import configured
    from svcdoctor.engine import diagnose_service
    from svcdoctor.findings import Client
    from svcdoctor.render import render
    from svcdoctor.report import exit_code
    from svcdoctor.sources.interface import Request

    output, fail_on, ignore, cluster_domain, config = configured(output, fail_on, ignore, cluster_domain)
    _check_output(output)
    _check_choice(fail_on, FAIL_ON, "--fail-on")
    if sum(x is not None for x in (from_pod, from_ip, from_node, from_gateway)) > 1:
        raise InputError("give at most one of --from, --from-ip, --from-node and --from-gateway")
    invocation = _invocation(
        snapshot=snapshot, manifests=manifests, kubeconfig=kubeconfig, context=context,
        request_timeout=request_timeout, verbose=verbose, namespace=namespace, cluster_domain=cluster_domain,
        node_dumps=node_dump, probe=probe, probe_timeout=probe_timeout, max_probes=max_probes,
        probe_file_addresses=probe_file_addresses, dns_server=dns_server, ignore=ignore, baseline=baseline,
        write_baseline=write_baseline,
        show_suppressed=show_suppressed, config=config,
    )
    source = application.open_source(invocation)
    target_namespace = application.resolve_namespace(invocation, source)
    client = None
    client_pod = ""
    if from_pod is not None:
        pod_namespace, pod_name = _split_pod(from_pod, target_namespace)
        client = Client("pod", pod_namespace, pod_name)
        client_pod = f"{pod_namespace}/{pod_name}"
    elif from_ip is not None:
        import ipaddress

        try:
            ipaddress.ip_address(from_ip)
        except ValueError:
            raise InputError(f"--from-ip {from_ip!r} is not an IP address") from None
        client = Client("ip", ip=from_ip)
    elif from_node is not None:
        client = Client("node", name=from_node)
    gateway_ref = (_split_pod(from_gateway, target_namespace, "--from-gateway", "NAME")
                   if from_gateway is not None else None)
    request = Request(namespace=target_namespace, service=name, client_pod=client_pod,
                      extra={"gateway": "/".join(gateway_ref)} if gateway_ref else {})
    loaded, source_description = application.load(invocation, request, source)
    if gateway_ref is not None:
        client = _gateway_client(loaded, *gateway_ref, where=_SOURCE_WORDS.get(source.kind, source.kind))
    if client is not None and client.kind == "pod":
        pod = loaded.pod(client.namespace, client.name)
        if pod is None and loaded.static:  # manifests: a workload's name stands for its template's Pod
            from svcdoctor.sources.manifests import stand_in_for

            pod = stand_in_for(loaded, client.namespace, client.name)
            client = Client("pod", client.namespace, k8s.name(pod)) if pod is not None else client
        if pod is None:
            where = _SOURCE_WORDS.get(source.kind, source.kind)
            raise InputError(f"--from: Pod {client_pod} is not in the {where}")
        client = Client("pod", client.namespace, client.name, k8s.pod_ip(pod))
    if client is not None and client.kind == "node" and loaded.node(client.name) is None and loaded.nodes:
        where = _SOURCE_WORDS.get(source.kind, source.kind)
        raise InputError(f"--from-node: Node {client.name} is not in the {where}")
    loaded = application.gather_live_evidence(invocation, loaded, target_namespace, name, client)
    session = _session(click_context)
    report = diagnose_service(loaded, target_namespace, name, client=client, checks=session.checks,
                              options=application.options_for(invocation), source=source_description)
    report = application.finish([report], invocation, loaded)[0]
    _emit(render(report, output, _render_options(invocation, fail_on)))
    _report_crashes([report], session)
    return exit_code([report], fail_on)


def _gateway_client(snapshot: Any, namespace: str, name: str, where: str) -> Any:
    """``--from-gateway``: the Gateway's data-plane Pod (ready first) as the client, or a clear refusal."""
    from svcdoctor import k8s
    from svcdoctor.findings import Client
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


@app.command()
def scan(
    click_context: typer.Context,
    namespace: NamespaceOption = None,
    all_namespaces: Annotated[bool, typer.Option("--all-namespaces", "-A", help="Every namespace.")] = False,
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
    ignore: IgnoreOption = None,
    baseline: BaselineOption = None,
    write_baseline: WriteBaselineOption = None,
    show_suppressed: ShowSuppressedOption = False,
) -> int:
    """Diagnose every Service of a namespace (or of all): a summary table, worst first."""
    from svcdoctor import app as application
    from svcdoctor.config import configured
    from svcdoctor.engine import scan as scan_services
    from svcdoctor.render import render_scan
    from svcdoctor.report import exit_code
    from svcdoctor.sources.interface import Request

    output, fail_on, ignore, cluster_domain, config = configured(output, fail_on, ignore, cluster_domain)
    _check_output(output)
    _check_choice(fail_on, FAIL_ON, "--fail-on")
    invocation = _invocation(
        snapshot=snapshot, manifests=manifests, kubeconfig=kubeconfig, context=context,
        request_timeout=request_timeout, verbose=verbose, namespace=namespace, cluster_domain=cluster_domain,
        node_dumps=node_dump, ignore=ignore, baseline=baseline, write_baseline=write_baseline,
        show_suppressed=show_suppressed, config=config,
    )
    if namespace is None and not all_namespaces and snapshot is not None:
        raise InputError("give -n NAMESPACE or -A (--all-namespaces)")
    # Manifests name their own namespaces: without -n, scan every Service they hold.
    all_namespaces = all_namespaces or (manifests is not None and namespace is None)
    source = application.open_source(invocation)
    scan_namespace = "" if all_namespaces else application.resolve_namespace(invocation, source)
    request = Request(namespace=scan_namespace, all_namespaces=all_namespaces)
    loaded, source_description = application.load(invocation, request, source)
    session = _session(click_context)
    reports = scan_services(loaded, None if all_namespaces else [scan_namespace], checks=session.checks,
                            options=application.options_for(invocation), source=source_description)
    reports = application.finish(reports, invocation, loaded)
    _emit(render_scan(reports, output, _render_options(invocation, fail_on)))
    _report_crashes(reports, session)
    return exit_code(reports, fail_on)


@app.command()
def explain(check_id: Annotated[str, typer.Argument(help="A check ID such as SD301.")]) -> int:
    """What a check means, why it matters, and how to fix it."""
    from svcdoctor import docs

    _emit(docs.explain(check_id))
    return EXIT_OK


@app.command("checks")
def list_checks(
    output: Annotated[str, typer.Option("--output", "-o", help="text | markdown | json")] = "text",
) -> int:
    """The check catalog."""
    from svcdoctor import docs

    _check_choice(output, ("text", "markdown", "json"), "--output")
    _emit(docs.catalog(output))
    return EXIT_OK


@app.command()
def demo(
    click_context: typer.Context,
    output: OutputOption = "text",
    fail_on: FailOnOption = "never",
) -> int:
    """Diagnose the example Service of the snapshot bundled with svcdoctor (offline)."""
    from importlib.resources import files

    path = files("svcdoctor").joinpath("data/demo-snapshot.yaml")
    return check(click_context, name="backend", namespace="shop", snapshot=str(path), manifests=None,
                 from_pod="shop/frontend-ddcj28l7m-jsshd", from_ip=None, from_node=None, output=output,
                 fail_on=fail_on, cluster_domain=None, kubeconfig=None, context=None, request_timeout="10s",
                 verbose=False, node_dump=None, probe=False, probe_timeout=2.0, max_probes=64,
                 probe_file_addresses=None, dns_server=None,
                 ignore=None, baseline=None, write_baseline=None, show_suppressed=False)


from svcdoctor.dataplane.command import collect_app  # noqa: E402  (registered after the commands above)

app.add_typer(collect_app, name="collect")

from svcdoctor.reach import reach as _reach  # noqa: E402  (the command lives in its own module)

app.command("reach")(_reach)

from svcdoctor import live_cli  # noqa: E402 - registers record and snapshot serve on app

live_cli.register(app)


# -- entry points ----------------------------------------------------------------------------


def main(argv: list[str] | None = None, prog_name: str = "svcdoctor") -> None:
    """Run the CLI and exit with a documented code; a traceback only with ``--debug``."""
    sys.exit(run(argv, prog_name))


def run(argv: list[str] | None = None, prog_name: str = "svcdoctor", *, checks: Sequence[Check] | None = None) -> int:
    """Run the CLI and return its exit code (for tests and ``main``).

    ``checks`` replaces the registry's checks (tests add one that crashes, for instance).
    """
    import importlib

    session = Session(checks=checks)
    click_exceptions: Any
    try:  # typer >= 0.25 carries its own copy of click
        click_exceptions = importlib.import_module("typer._click.exceptions")
    except ImportError:  # pragma: no cover
        click_exceptions = importlib.import_module("click.exceptions")

    try:
        result = app(args=argv, prog_name=prog_name, standalone_mode=False, obj=session)
    except SvcdoctorError as error:
        _error(str(error))
        return error.exit_code
    except click_exceptions.NoArgsIsHelpError:
        return EXIT_USAGE  # the help has been printed
    except click_exceptions.UsageError as error:
        _error(error.format_message().replace("\n", " "))
        return EXIT_USAGE
    except typer.Abort:
        _error("aborted")
        return 130
    except click_exceptions.ClickException as error:
        _error(error.format_message())
        return EXIT_USAGE
    except KeyboardInterrupt:
        _error("interrupted")
        return 130
    except BrokenPipeError:
        return EXIT_BROKEN_PIPE
    except SystemExit as error:
        # rich turns a closed stdout into SystemExit(1); 1 means "findings" to a CI gate, so say
        # what the shell would for a reader that went away instead.
        return EXIT_BROKEN_PIPE if error.code == 1 else int(error.code or 0)
    except RecursionError:
        _error("input nested too deeply")
        return EXIT_USAGE
    except Exception as error:
        if session.debug:
            traceback.print_exc(file=sys.stderr)
        _error(internal_error_message(f"{type(error).__name__}: {error}"))
        return EXIT_INTERNAL
    return result if isinstance(result, int) else EXIT_OK


def _error(message: str) -> None:
    first_line = " ".join(message.split()) if message else "error"
    sys.stderr.write(f"svcdoctor: error: {first_line}\n")


def kubectl_main() -> None:
    """The ``kubectl-svcdoctor`` entry point: ``kubectl svcdoctor …``."""
    main(prog_name="kubectl svcdoctor")


from svcdoctor.dns.command import dns_records  # noqa: E402  (its own module; registered here)

app.command("dns")(dns_records)
