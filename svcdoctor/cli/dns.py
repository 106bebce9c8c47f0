"""``svcdoctor dns SERVICE``: the records the Kubernetes DNS specification gives a Service, and —
with ``--probe`` — what the cluster DNS really answers for each of them.

Everything it reads comes through the usual sources (``--snapshot``, or the live cluster).
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from svcdoctor.cli.options import (
    ContextOption,
    KubeconfigOption,
    NamespaceOption,
    NoProgressOption,
    TimeoutOption,
    check_choice,
    cluster_domain_option,
    dns_server_option,
    output_option,
    probe_file_addresses_option,
    probe_option,
    probe_timeout_option,
    snapshot_option,
)
from svcdoctor.errors import EXIT_FINDINGS, EXIT_OK


def dns_records(
    name: Annotated[str, typer.Argument(help="The Service's name.")],
    namespace: NamespaceOption = None,
    snapshot: Annotated[str | None, snapshot_option("A recorded snapshot (offline).")] = None,
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
    request_timeout: TimeoutOption = "10s",
    cluster_domain: Annotated[
        str | None, cluster_domain_option("Used when the snapshot does not tell the domain.")
    ] = None,
    output: Annotated[str, output_option("text | json")] = "text",
    probe: Annotated[bool, probe_option("Ask the cluster DNS for every record and compare.")] = False,
    dns_server: Annotated[str | None, dns_server_option("Ask this resolver instead.")] = None,
    probe_timeout: Annotated[float, probe_timeout_option("Seconds to wait per question.")] = 2.0,
    probe_file_addresses: Annotated[str | None, probe_file_addresses_option(
        "With --snapshot FILE --probe (and no --dns-server): FILE again, to confirm its DNS address may be asked."
    )] = None,
    no_progress: NoProgressOption = False,
) -> int:
    """The DNS records a Service should have (per the Kubernetes DNS spec); --probe checks each one."""
    from svcdoctor.app import Invocation, service_records
    from svcdoctor.cli.progress import progress
    from svcdoctor.render.dns import FORMATS, render
    from svcdoctor.render.interface import RenderOptions

    check_choice(output, FORMATS, "--output")
    with progress(no_progress) as shown:
        invocation = Invocation(snapshot=snapshot, kubeconfig=kubeconfig, context=context, namespace=namespace,
                                request_timeout=request_timeout,
                                cluster_domain=cluster_domain, probe=probe, dns_server=dns_server,
                                probe_timeout=probe_timeout, probe_file_addresses=probe_file_addresses,
                                progress=shown)
        records = service_records(invocation, name)
    sys.stdout.write(render(records, output, RenderOptions()))
    return EXIT_FINDINGS if any(answer != "ok" for answer in records.answers) else EXIT_OK
