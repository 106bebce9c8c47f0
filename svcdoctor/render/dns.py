"""``svcdoctor dns`` output: a Service's records as zone-file lines (``text``) or a JSON document (``json``)."""

from __future__ import annotations

import dataclasses
import json

from svcdoctor import __version__
from svcdoctor.dns.domain import DEFAULT_ORIGIN
from svcdoctor.dns.records import Record, ServiceRecords, service_fqdn
from svcdoctor.render.interface import RenderOptions
from svcdoctor.terminal import visible

FORMATS = ("text", "json")


def render(records: ServiceRecords, output: str, options: RenderOptions) -> str:
    """The records in ``output`` (one of :data:`FORMATS`), each with its answer when probed: the
    Service's own name first, then per-endpoint names, SRV, and PTR records last."""
    records = _ordered(records)
    if output == "json":
        answers: list[str | None] = list(records.answers) if records.probed else [None] * len(records.records)
        items = [{"name": r.name, "type": r.type, "data": r.data, "answer": answer}
                 for r, answer in zip(records.records, answers, strict=True)]
        return json.dumps({"schema": "svcdoctor/dns/v1", "svcdoctorVersion": __version__,
                           "service": records.service, "clusterDomain": records.domain,
                           "clusterDomainFrom": records.domain_origin, "server": records.server or None,
                           "records": items}, indent=2) + "\n"
    origin = "the default" if records.domain_origin == DEFAULT_ORIGIN else f"from {records.domain_origin}"
    lines = [f"; {records.service} in {records.domain} ({origin})"]
    if records.server:
        lines.append(f"; answers from {records.server}")
    if not records.records:
        lines.append("; no records: a headless Service without ready endpoints, or an ExternalName without a name")
    for index, record in enumerate(records.records):
        lines.append(record.zone_line() + (f"   ; {records.answers[index]}" if records.answers else ""))
    return visible("\n".join(lines) + "\n")


def _ordered(records: ServiceRecords) -> ServiceRecords:
    """The records in the order a reader looks for them, each answer kept with its record."""
    namespace, _, name = records.service.partition("/")
    own = service_fqdn(namespace, name, records.domain)
    rank = {"SRV": 2, "PTR": 3}

    def key(index: int) -> tuple[int, Record]:
        record = records.records[index]
        return (0 if record.name == own else rank.get(record.type, 1), record)

    order = sorted(range(len(records.records)), key=key)
    return dataclasses.replace(records, records=tuple(records.records[i] for i in order),
                               answers=tuple(records.answers[i] for i in order) if records.answers else ())
