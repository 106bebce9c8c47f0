"""Suppressions and baselines: what a team has decided not to be told about again.

Three ways to hide a finding, applied in this order after the engine has ranked a report:

1. ``--ignore SD212,SD207`` (or ``ignore:`` in ``.svcdoctor.yaml``): every finding of those checks.
2. The annotation ``svcdoctor.dev/ignore`` on the Service, on the finding's subject object, or on
   a workload that owns that subject (so a Deployment's annotation covers the Pods of its
   template)::

       svcdoctor.dev/ignore: "SD207: traffic enters through the load balancer only"
       svcdoctor.dev/ignore: |
         SD207, SD212: traffic enters through the load balancer only
         SD504: the exporter port is scraped by IP

   One entry per line (or separated by ``;``): check IDs, a colon, and the reason. **The reason is
   required.** An entry without one — or naming no known check — suppresses nothing and is itself
   reported as an SD002 warning pointing at the annotation's line.
3. ``--baseline FILE``: findings whose fingerprint is in the file (``--write-baseline FILE`` writes
   one). A fingerprint is the check ID, the Service, the subject object, its field and the
   finding's key — never a line number or a file's position — so it survives reordered files,
   moved documents and reworded messages.

Suppressed findings move to ``Report.suppressed``: they are counted in every report, listed with
``--show-suppressed``, and no longer count for the verdict or the exit code.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from svcdoctor import engine, k8s
from svcdoctor.checks.registry import BY_ID, CHECKS
from svcdoctor.checks.sd002_ignore_annotation import problem_finding
from svcdoctor.errors import InputError
from svcdoctor.findings import Finding, Target
from svcdoctor.ignore_annotation import ANNOTATION, CHECK_ID, AnnotationProblem, parse_annotation
from svcdoctor.k8s import ObjectRef
from svcdoctor.report import Report
from svcdoctor.snapshot import Snapshot

BASELINE_SCHEMA = "svcdoctor/baseline/v1"


def fingerprint(finding: Finding, target: Target) -> str:
    """A stable identity for a finding: ID, Service, subject, field and key — no lines, no order.

    When the finding has a key (a port's name, a Pod's name), list positions are dropped from the
    field (``spec.ports[1].targetPort`` → ``spec.ports[].targetPort``): adding a port above it
    must not make an accepted finding look new.
    """
    field = finding.subject_field or ""
    if finding.key:
        field = re.sub(r"\[\d+\]", "[]", field)
    parts = (finding.id, f"{target.namespace}/{target.name}", str(finding.subject or ""), field, finding.key)
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:24]


def validate_ids(ids: Iterable[str], flag: str = "--ignore") -> None:
    for check_id in ids:
        if not CHECK_ID.match(check_id):
            raise InputError(f"{flag}: {check_id!r} is not a check ID such as SD207")
        if check_id not in BY_ID:
            raise InputError(f"{flag}: {check_id} is not a svcdoctor check (svcdoctor checks lists them)")


# -- baselines ---------------------------------------------------------------------------------


def read_baseline(path: str) -> set[str]:
    """The fingerprints of a baseline file written by ``--write-baseline``."""
    import yaml

    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        raise InputError("no such baseline file (write one with --write-baseline)", path) from None
    except OSError as error:
        raise InputError(f"cannot read the baseline: {error.strerror or error}", path) from None
    try:
        document = yaml.safe_load(text)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        raise InputError("the baseline is not valid JSON or YAML", path, mark.line + 1 if mark else None) from None
    except yaml.YAMLError:
        raise InputError("the baseline is not valid JSON or YAML", path) from None
    if not isinstance(document, Mapping) or document.get("schema") != BASELINE_SCHEMA:
        raise InputError(f"not a svcdoctor baseline (expected schema {BASELINE_SCHEMA})", path)
    entries = document.get("findings")
    if not isinstance(entries, list):
        raise InputError("the baseline has no 'findings' list", path)
    fingerprints: set[str] = set()
    for position, entry in enumerate(entries, start=1):
        if not isinstance(entry, Mapping) or not isinstance(entry.get("fingerprint"), str):
            raise InputError(f"baseline entry {position} has no fingerprint", path)
        fingerprints.add(entry["fingerprint"])
    return fingerprints


def baseline_document(entries: Sequence[tuple[Finding, Target]]) -> dict[str, Any]:
    """The baseline for these findings, sorted so that the file diffs well."""
    rows = []
    for finding, target in entries:
        rows.append({
            "fingerprint": fingerprint(finding, target),
            "id": finding.id,
            "service": f"{target.namespace}/{target.name}",
            "object": str(finding.subject) if finding.subject else None,
            "field": finding.subject_field,
            "key": finding.key or None,
            "title": finding.title,
        })
    unique = {row["fingerprint"]: row for row in rows}
    ordered = sorted(unique.values(), key=lambda row: (row["service"], row["id"], row["fingerprint"]))
    return {"schema": BASELINE_SCHEMA, "findings": ordered}


def write_baseline(path: str, entries: Sequence[tuple[Finding, Target]]) -> None:
    from svcdoctor.atomic import write_text

    # A baseline is committed next to the manifests: readable like them, written as atomically.
    write_text(path, json.dumps(baseline_document(entries), indent=2) + "\n", mode=0o644)


# -- applying ----------------------------------------------------------------------------------


class _Annotations:
    """Parsed ignore annotations per object, computed once per run."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self._parsed: dict[ObjectRef, tuple[dict[str, str], list[AnnotationProblem]]] = {}

    def of(self, ref: ObjectRef) -> tuple[dict[str, str], list[AnnotationProblem]]:
        if ref not in self._parsed:
            obj = self.snapshot.get(ref.kind, ref.namespace, ref.name)
            value = k8s.object_annotations(obj).get(ANNOTATION) if obj is not None else None
            self._parsed[ref] = parse_annotation(value, BY_ID) if value is not None else ({}, [])
        return self._parsed[ref]

    def owners(self, ref: ObjectRef) -> list[ObjectRef]:
        obj = self.snapshot.get(ref.kind, ref.namespace, ref.name)
        if obj is None:
            return []
        return [k8s.ref(owner) for owner in self.snapshot.owner_chain(obj)]


def _holders(finding: Finding, report: Report, annotations: _Annotations) -> list[ObjectRef]:
    """The objects whose annotation may suppress ``finding``: the Service, the subject and its owners."""
    holders = [report.target.ref]
    if finding.subject is not None and finding.subject not in holders:
        holders.append(finding.subject)
        holders += [owner for owner in annotations.owners(finding.subject) if owner not in holders]
    return holders


def apply(reports: list[Report], invocation: Any, snapshot: Snapshot, baseline: set[str] | None = None) -> list[Report]:
    """Move ignored, annotated and baselined findings to ``Report.suppressed``; write a baseline.

    ``baseline``: the fingerprints of ``invocation.baseline`` already read (else the file is read here).
    """
    ignored = set(getattr(invocation, "ignore", ()) or ())
    validate_ids(ignored)
    baseline_path = getattr(invocation, "baseline", None)
    if baseline is None and baseline_path:
        baseline = read_baseline(baseline_path)
    show = bool(getattr(invocation, "show_suppressed", False))
    annotations = _Annotations(snapshot)
    to_write: list[tuple[Finding, Target]] = []
    result: list[Report] = []
    for report in reports:
        kept: list[Finding] = []
        suppressed: list[Finding] = list(report.suppressed)
        notes: list[str] = []
        problem_findings: list[Finding] = []
        reported_problems: set[ObjectRef] = {report.target.ref}  # the SD002 check covers the Service
        baselined = 0
        for finding in report.findings:
            reason = ""
            if finding.id in ignored:
                reason = "--ignore"
            else:
                for holder in _holders(finding, report, annotations):
                    reasons, problems = annotations.of(holder)
                    if problems and holder not in reported_problems:
                        reported_problems.add(holder)
                        problem_findings += _problem_findings(holder, problems)
                    if finding.id in reasons:
                        reason = f"{ANNOTATION} on {holder}: {reasons[finding.id]}"
                        break
            if not reason:
                to_write.append((finding, report.target))
                if baseline is not None and fingerprint(finding, report.target) in baseline:
                    reason = f"in the baseline {baseline_path}"
                    baselined += 1
            if reason:
                suppressed.append(finding)
                if show:
                    notes.append(f"suppressed {finding.id} ({finding.subject or report.target.ref}): {reason}")
            else:
                kept.append(finding)
        if baselined and not show:
            notes.append(f"{baselined} finding(s) hidden by the baseline {baseline_path}")
        result.append(_rebuilt(report, kept + problem_findings, suppressed, notes, snapshot))
    write_path = getattr(invocation, "write_baseline", None)
    if write_path:
        write_baseline(write_path, to_write)
        import sys

        sys.stderr.write(f"svcdoctor: wrote {len(to_write)} fingerprint(s) to {write_path}\n")
    return result


def _problem_findings(holder: ObjectRef, problems: list[AnnotationProblem]) -> list[Finding]:
    return [problem_finding(holder, problem) for problem in problems]


def _rebuilt(report: Report, findings: list[Finding], suppressed: list[Finding], notes: list[str],
             snapshot: Snapshot) -> Report:
    """The report with its verdict, steps and ranking recomputed over what is left."""
    if len(findings) == len(report.findings) and not notes and len(suppressed) == len(report.suppressed):
        return report
    order = {check.id: index for index, check in enumerate(CHECKS)}
    results = [result for step in report.steps for result in step.checks]
    ranked = engine.rank(findings, order)
    origins = dict(report.origins)
    for finding in ranked:
        if finding.subject is not None and finding.subject in snapshot.origins:
            origins.setdefault(finding.subject, snapshot.origins[finding.subject])
    return dataclasses.replace(
        report,
        findings=tuple(ranked),
        suppressed=tuple(suppressed),
        verdict=engine.verdict_of(ranked, results),
        steps=tuple(engine.step_results(ranked, results)),
        notes=report.notes + tuple(notes),
        origins=origins,
    )
