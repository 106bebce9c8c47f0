"""The ``svcdoctor.dev/ignore`` annotation: its name and the parser of its entries.

``SD207, SD212: reason`` entries, one per line or separated by ``;``. A reason is free text: a ``;``
or a line break in it starts a new entry only when ``SDnnn[, SDnnn]:`` follows. The parser is told which
check IDs exist (the registry knows them), so it sits below both the SD002 check that reports a
bad entry and the suppression step that honours the good ones.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

ANNOTATION = "svcdoctor.dev/ignore"
CHECK_ID = re.compile(r"^SD\d{3}$")
#: Where an entry ends: a ``;`` or line break followed by ``SDnnn[, SDnnn]:`` (any digits, so that a
#: mistyped ID is still reported rather than read as part of the reason before it).
_ENTRY_BREAK = re.compile(r"[;\n](?=\s*SD\d+(?:\s*,\s*SD\d+)*\s*:)", re.IGNORECASE)


@dataclass(frozen=True)
class AnnotationProblem:
    """One entry of an ignore annotation that could not be honoured."""

    entry: str
    problem: str


def parse_annotation(value: Any, check_ids: Collection[str]) -> tuple[dict[str, str], list[AnnotationProblem]]:
    """``SD207, SD212: reason`` entries (one per line or ``;``) → {ID: reason}, and the problems.

    A reason may hold ``;`` and line breaks: only ``SDnnn[, SDnnn]:`` after one starts a new entry.

    ``check_ids`` are the IDs of the registered checks; an entry naming another ID is a problem.
    """
    reasons: dict[str, str] = {}
    problems: list[AnnotationProblem] = []
    if not isinstance(value, str):
        return reasons, [AnnotationProblem(str(value), "the annotation value must be text")]
    for raw in _ENTRY_BREAK.split(value):
        entry = raw.strip()
        if not entry:
            continue
        ids_text, colon, reason = entry.partition(":")
        reason = reason.strip()
        ids = [part.upper() for part in re.split(r"[,\s]+", ids_text.strip()) if part]
        if not ids:
            problems.append(AnnotationProblem(entry, "names no check ID before the colon"))
            continue
        bad = [check_id for check_id in ids if not CHECK_ID.match(check_id) or check_id not in check_ids]
        if bad:
            problems.append(AnnotationProblem(entry, f"{', '.join(bad)} is not a svcdoctor check ID "
                                                     "(svcdoctor checks lists them)"))
            continue
        if not colon or not reason:
            problems.append(AnnotationProblem(entry, "gives no reason: write 'ID: why it is fine'"))
            continue
        for check_id in ids:
            reasons[check_id] = reason
    return reasons, problems
