"""Probe results and DNS answers as the ``svcdoctor.dev/v1`` objects a snapshot file stores.

``record --probe`` writes these next to the API objects; :func:`svcdoctor.snapshot.read_evidence`
reads them back, so a replay gives the same report.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from svcdoctor.snapshot import EVIDENCE_GROUP, DNSAnswer, ProbeResult


def dns_answer_object(answer: DNSAnswer) -> dict[str, Any]:
    obj: dict[str, Any] = {"apiVersion": EVIDENCE_GROUP, "kind": "DNSAnswer",
                           "query": {"name": answer.name, "type": answer.type}}
    if answer.source:
        obj["from"] = answer.source
    if answer.server:
        obj["server"] = answer.server
    obj["rcode"] = answer.rcode
    obj["answers"] = [dict(item) if isinstance(item, dict) else item for item in answer.answers]
    return obj


def probe_result_object(probe: ProbeResult) -> dict[str, Any]:
    target: dict[str, Any] = {"ip": probe.ip, "port": probe.port, "protocol": probe.protocol}
    if probe.target:
        target["kind"] = probe.target
    if probe.target_object:
        target["object"] = probe.target_object
    obj: dict[str, Any] = {"apiVersion": EVIDENCE_GROUP, "kind": "ProbeResult"}
    if probe.source:
        obj["from"] = probe.source
    obj["to"] = target
    obj["result"] = probe.result
    if probe.seconds is not None:
        obj["seconds"] = round(probe.seconds, 3)
    return obj


def evidence_objects(dns_answers: Iterable[DNSAnswer], probe_results: Iterable[ProbeResult]) -> list[dict[str, Any]]:
    """Every answer and probe as a storable object, DNS answers first."""
    return [*(dns_answer_object(a) for a in dns_answers), *(probe_result_object(p) for p in probe_results)]
