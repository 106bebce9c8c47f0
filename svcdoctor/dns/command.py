"""``svcdoctor dns SERVICE``: the records the Kubernetes DNS specification gives a Service, and —
with ``--probe`` — what the cluster DNS really answers for each of them.

Registered in :mod:`svcdoctor.cli`; everything it reads comes through the usual sources
(``--snapshot``, or the live cluster).
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Annotated, Any

import typer

from svcdoctor.dns.records import Record
from svcdoctor.terminal import visible


def _compare(records: list[Record], server: str, timeout: float) -> list[str]:
    """Ask ``server`` for every record; for each: ``ok``, ``missing`` or ``wrong: <what came>``."""
    from svcdoctor.probe.dns_query import ask

    queries = sorted({(r.name, r.type) for r in records})

    async def run() -> list[tuple[str, list[Any]]]:
        return list(await asyncio.gather(*(ask(name, kind, server, timeout) for name, kind in queries)))

    answers = dict(zip(queries, asyncio.run(run()), strict=True))
    verdicts = []
    for record in records:
        rcode, data = answers[(record.name, record.type)]
        values = {item if isinstance(item, str) else str(item.get("value")) for item in data
                  if isinstance(item, str) or str(item.get("type")) == record.type}
        wanted = record.data if record.type in ("A", "AAAA") else record.data.lower()
        if wanted in values:
            verdicts.append("ok")
        elif rcode != "NOERROR" or not values:
            verdicts.append(f"missing ({rcode if rcode != 'NOERROR' else 'no data'})")
        else:
            verdicts.append("wrong: " + ", ".join(sorted(values)))
    return verdicts


def dns_records(
    name: Annotated[str, typer.Argument(help="The Service's name.")],
    namespace: Annotated[str | None, typer.Option("--namespace", "-n", help="Namespace of the Service.")] = None,
    snapshot: Annotated[str | None, typer.Option("--snapshot", "-f", help="A recorded snapshot (offline).")] = None,
    kubeconfig: Annotated[str | None, typer.Option("--kubeconfig", help="Path to the kubeconfig file.")] = None,
    context: Annotated[str | None, typer.Option("--context", help="The kubeconfig context to use.")] = None,
    cluster_domain: Annotated[
        str | None, typer.Option("--cluster-domain", help="Used when the snapshot does not tell the domain.")
    ] = None,
    output: Annotated[str, typer.Option("--output", "-o", help="text | json")] = "text",
    probe: Annotated[bool, typer.Option("--probe", help="Ask the cluster DNS for every record and compare.")] = False,
    dns_server: Annotated[str | None, typer.Option("--dns-server", help="Ask this resolver instead.")] = None,
    probe_timeout: Annotated[float, typer.Option("--probe-timeout", help="Seconds to wait per question.")] = 2.0,
    probe_file_addresses: Annotated[
        str | None, typer.Option("--probe-file-addresses", help="With --snapshot FILE --probe (and no "
                                 "--dns-server): FILE again, to confirm its DNS address may be asked.")
    ] = None,
) -> int:
    """The DNS records a Service should have (per the Kubernetes DNS spec); --probe checks each one."""
    from svcdoctor import app as application
    from svcdoctor.dns.domain import cluster_domain as find_domain
    from svcdoctor.dns.records import expected_records
    from svcdoctor.errors import EXIT_FINDINGS, EXIT_OK, InputError
    from svcdoctor.sources.interface import Request

    if output not in ("text", "json"):
        raise InputError(f"--output: {output!r} is not one of text, json")
    invocation = application.Invocation(snapshot=snapshot, kubeconfig=kubeconfig, context=context,
                                        namespace=namespace, cluster_domain=cluster_domain, dns_server=dns_server,
                                        probe_timeout=probe_timeout, probe_file_addresses=probe_file_addresses)
    source = application.open_source(invocation)
    target_namespace = application.resolve_namespace(invocation, source)
    loaded, _ = application.load(invocation, Request(namespace=target_namespace, service=name), source)
    service = loaded.service(target_namespace, name)
    if service is None:
        raise InputError(f"no Service {target_namespace}/{name} in the {source.kind}")
    domain = find_domain(loaded, cluster_domain)
    records = expected_records(loaded, service, domain.domain)
    verdicts: list[str] = []
    server = ""
    if probe:
        from svcdoctor.probe.gather import _check_budget, _dns_server

        if not dns_server:
            application.confirm_file_addresses(invocation)

        _check_budget(invocation)
        server = _dns_server(invocation, loaded)
        if not server:
            raise InputError("--probe: no kube-dns Service in the snapshot; give --dns-server")
        verdicts = _compare(records, server, probe_timeout)
    if output == "json":
        items = [{"name": r.name, "type": r.type, "data": r.data, **({"answer": v} if probe else {})}
                 for r, v in zip(records, verdicts or [""] * len(records), strict=True)]
        sys.stdout.write(json.dumps({"service": f"{target_namespace}/{name}", "clusterDomain": domain.domain,
                                     "clusterDomainFrom": domain.origin, "server": server or None,
                                     "records": items}, indent=2) + "\n")
    else:
        lines = [f"; {target_namespace}/{name} in {domain.domain} (from {domain.origin})"]
        if server:
            lines.append(f"; answers from {server}")
        if not records:
            lines.append("; no records: a headless Service without ready endpoints, or an ExternalName without a name")
        for index, record in enumerate(records):
            lines.append(record.zone_line() + (f"   ; {verdicts[index]}" if verdicts else ""))
        sys.stdout.write(visible("\n".join(lines) + "\n"))
    return EXIT_FINDINGS if any(v != "ok" for v in verdicts) else EXIT_OK
