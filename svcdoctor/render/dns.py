"""``svcdoctor dns`` output: a Service's records as zone-file lines (``text``) or a JSON document (``json``)."""

from __future__ import annotations

import json

from svcdoctor import __version__
from svcdoctor.dns.domain import DEFAULT_ORIGIN
from svcdoctor.dns.records import ServiceRecords
from svcdoctor.render.interface import RenderOptions
from svcdoctor.terminal import visible

FORMATS = ("text", "json")


def render(records: ServiceRecords, output: str, options: RenderOptions) -> str:
    """The records in ``output`` (one of :data:`FORMATS`), each with its answer when probed: the
    Service's own name first, then per-endpoint names, SRV, and PTR records last."""
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
    if any(record.type == "SRV" for record in records.records):
        lines.append("; SRV: port and target (the spec leaves priority and weight to the server)")
    if not records.records:
        lines.append("; no records: a headless Service without ready endpoints, or an ExternalName without a name")
    for index, record in enumerate(records.records):
        lines.append(record.zone_line() + (f"   ; {records.answers[index]}" if records.answers else ""))
    return visible("\n".join(lines) + "\n")

