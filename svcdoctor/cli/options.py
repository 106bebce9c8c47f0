"""The flags the commands share, each declared once, and the parsing of their values.

A flag whose meaning is the same everywhere is an ``Annotated`` alias (``KubeconfigOption``). A
flag whose wording depends on the command (``-n`` names the Service's namespace for ``check``,
the namespaces to include for ``reach``) is a function taking that command's help text, so its
names (``--namespace``, ``-n``) are still written in one place.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from svcdoctor.errors import InputError

FAIL_ON = ("error", "warning", "info", "never")


# -- values checked where their flag is declared (typer callbacks) ------------------------------


def cluster_domain_value(value: str | None) -> str | None:
    """``--cluster-domain`` as a DNS name (one trailing dot dropped), checked whether or not it will be used."""
    if value is None:
        return None
    from svcdoctor.k8s import dns1123_subdomain_problem

    domain = value[:-1] if value.endswith(".") else value
    problem = dns1123_subdomain_problem(domain) if domain else "it is empty"
    if problem:
        raise InputError(f"--cluster-domain {value!r} is not a DNS name: {problem}")
    return domain


def probe_timeout_value(value: float) -> float:
    from svcdoctor.probe.bounds import checked_probe_timeout

    return checked_probe_timeout(value)


def max_probes_value(value: int) -> int:
    from svcdoctor.probe.bounds import checked_max_probes

    return checked_max_probes(value)



# -- where the evidence comes from --------------------------------------------------------------


def namespace_option(help: str = "Namespace of the Service.") -> Any:
    return typer.Option("--namespace", "-n", help=help, metavar="NAMESPACE")


def all_namespaces_option() -> Any:
    return typer.Option("--all-namespaces", "-A", help="Every namespace.")


def snapshot_option(help: str = "A recorded snapshot: a file, a directory or '-' for stdin (offline).") -> Any:
    return typer.Option("--snapshot", "-f", help=help, metavar="FILE")


def manifests_option(
    help: str = ("Plain manifests (a file, a directory, a kustomization — rendered with kubectl kustomize — "
                 "or '-'): a static check before deploy."),
) -> Any:
    return typer.Option("--manifests", help=help, metavar="PATH")


def request_timeout_option(help: str = "Time limit for each API request, e.g. 10s, 500ms, 1m.") -> Any:
    return typer.Option("--request-timeout", help=help, metavar="DURATION")


def verbose_option(
    help: str = "Every finding in full (evidence, next commands, fix), and each API request and its time on stderr.",
) -> Any:
    return typer.Option("--verbose", "-v", help=help)


def node_dump_option(help: str = "A NodeDump file (svcdoctor collect node) to add; repeatable.") -> Any:
    return typer.Option("--node-dump", help=help, metavar="FILE")


def cilium_service_list_option(
    help: str = "NODE=FILE: what `cilium-dbg service list` printed on that node's Cilium agent; repeatable.",
) -> Any:
    return typer.Option("--cilium-service-list", help=help, metavar="NODE=FILE")


def cluster_domain_option(help: str = "The cluster DNS domain (default: cluster.local).") -> Any:
    return typer.Option("--cluster-domain", help=help, callback=cluster_domain_value, metavar="DOMAIN")


def from_pod_option(
    help: str = "The client: POD, NAMESPACE/POD, TYPE/NAME (deploy/web or svc/web: a ready Pod of it) or "
    "NAMESPACE/TYPE/NAME; a unique Pod-name prefix works.",
) -> Any:
    return typer.Option("--from", help=help, metavar="POD")


def from_ip_option(help: str = "A client address outside the cluster.") -> Any:
    return typer.Option("--from-ip", help=help, metavar="IP")


def from_gateway_option(help: str = "A Gateway API Gateway, NAMESPACE/NAME: its data-plane Pod is the client.") -> Any:
    return typer.Option("--from-gateway", help=help, metavar="NAMESPACE/NAME")


NamespaceOption = Annotated[str | None, namespace_option()]
AllNamespacesOption = Annotated[bool, all_namespaces_option()]
SnapshotOption = Annotated[str | None, snapshot_option()]
ManifestsOption = Annotated[str | None, manifests_option()]
KubeconfigOption = Annotated[str | None, typer.Option("--kubeconfig", help="Path to the kubeconfig file.",
                                                      metavar="FILE")]
ContextOption = Annotated[str | None, typer.Option("--context", help="The kubeconfig context to use.", metavar="NAME")]
TimeoutOption = Annotated[str, request_timeout_option()]
VerboseOption = Annotated[bool, verbose_option()]
NodeDumpOption = Annotated[list[str] | None, node_dump_option()]
CiliumServiceListOption = Annotated[list[str] | None, cilium_service_list_option()]
ClusterDomainOption = Annotated[str | None, cluster_domain_option()]


# -- probes (check --probe, record --probe, dns --probe) ----------------------------------------


def probe_option(help: str = "Send probes (TCP/UDP, DNS queries) to addresses from the cluster's objects.") -> Any:
    return typer.Option("--probe", help=help)


def probe_timeout_option(help: str = "Seconds to wait for each probe.") -> Any:
    return typer.Option("--probe-timeout", help=help, callback=probe_timeout_value, metavar="SECONDS")


def dns_server_option(help: str = "Ask this resolver instead of the kube-dns Service.") -> Any:
    return typer.Option("--dns-server", help=help, metavar="IP")


ProbeOption = Annotated[bool, probe_option()]
ProbeTimeoutOption = Annotated[float, probe_timeout_option()]
MaxProbesOption = Annotated[int, typer.Option("--max-probes", help="At most this many probes.",
                                              callback=max_probes_value, metavar="N")]


def probe_file_addresses_option(
    help: str = "With --snapshot FILE --probe: FILE again, to confirm that the addresses it names may be probed.",
) -> Any:
    return typer.Option("--probe-file-addresses", help=help, metavar="FILE")


ProbeFileAddressesOption = Annotated[str | None, probe_file_addresses_option()]
DnsServerOption = Annotated[str | None, dns_server_option()]


# -- what the report keeps and how the run ends (check, scan, demo) -----------------------------


def output_option(help: str = "text | json | yaml | markdown | sarif | junit | github | html") -> Any:
    return typer.Option("--output", "-o", help=help, metavar="FORMAT")


OutputOption = Annotated[str, output_option()]
FailOnOption = Annotated[
    str, typer.Option("--fail-on", metavar="SEVERITY",
                      help="Exit 1 when a finding is at or above: error | warning | info | never.")
]
IgnoreOption = Annotated[
    list[str] | None, typer.Option("--ignore", help="Check IDs to suppress, e.g. SD212,SD207; repeatable.",
                                   metavar="IDS")
]
def baseline_option(help: str = "Fail only on findings that are not in this baseline file.") -> Any:
    return typer.Option("--baseline", help=help, metavar="FILE")


BaselineOption = Annotated[str | None, baseline_option()]
WriteBaselineOption = Annotated[
    str | None, typer.Option("--write-baseline", help="Write the current findings as a baseline file.", metavar="FILE")
]
ShowSuppressedOption = Annotated[bool, typer.Option("--show-suppressed", help="List suppressed findings too.")]
NoProgressOption = Annotated[
    bool, typer.Option("--no-progress", help="No progress line on stderr (shown only on a terminal, once a run "
                                             "takes a second, never when CI is set).")
]
AcceptUnknownOption = Annotated[
    bool, typer.Option("--accept-unknown", help="Exit 0, not 4, when the verdict is unknown (a read was refused, "
                                                "evidence could not be read).")
]


# -- values ---------------------------------------------------------------------------------------


def check_choice(value: str, choices: tuple[str, ...], flag: str) -> str:
    if value not in choices:
        raise InputError(f"{flag}: {value!r} is not one of {', '.join(choices)}")
    return value


def split_ids(values: list[str] | None) -> tuple[str, ...]:
    """``--ignore SD212,SD207 --ignore sd301`` as upper-case IDs."""
    ids: list[str] = []
    for value in values or []:
        ids += [part.strip().upper() for part in value.split(",") if part.strip()]
    return tuple(ids)
