"""SD002 — an ``svcdoctor.dev/ignore`` annotation that cannot be honoured.

Detects: an ignore annotation on the Service whose entry gives no reason, or names something that
is not a svcdoctor check ID. Why it matters: a suppression hides a finding from every later run and
every reviewer; without a written reason nobody can tell later whether it still holds. Such an
entry suppresses nothing, and this warning points at the annotation's line so it gets fixed.
(The same warning is raised by the suppression step for annotations on other objects a finding
is about, such as a Deployment or a NetworkPolicy.)
"""

from __future__ import annotations

from collections.abc import Iterator

from svcdoctor import k8s
from svcdoctor.checks.interface import Check, Context
from svcdoctor.findings import Evidence, Finding
from svcdoctor.k8s import ObjectRef


def problem_finding(holder: ObjectRef, problem: object) -> Finding:
    """The SD002 warning for one bad entry of ``holder``'s ignore annotation."""
    from svcdoctor.suppress import ANNOTATION

    entry = str(getattr(problem, "entry", ""))
    text = str(getattr(problem, "problem", ""))
    return CHECK.finding(
        f"The {ANNOTATION} annotation of {holder} has the entry {entry!r}, which {text}; it suppresses nothing.",
        severity="warning",
        impact="none",
        evidence=[Evidence(holder, f"metadata.annotations.{ANNOTATION}", entry, text)],
        next=[holder.kubectl("get", "-o jsonpath='{.metadata.annotations}'")],
        subject=holder,
        subject_field=f"metadata.annotations.{ANNOTATION}",
        key=entry,
    )


def run(context: Context) -> Iterator[Finding]:
    from svcdoctor.suppress import ANNOTATION, parse_annotation

    service = context.require_service()
    value = k8s.object_annotations(service).get(ANNOTATION)
    if value is None:
        return
    _, problems = parse_annotation(value)
    for problem in problems:
        yield problem_finding(context.service_ref, problem)


CHECK = Check(
    id="SD002",
    name="ignore-annotation-invalid",
    step=0,
    title="An ignore annotation without a reason (or with an unknown check ID)",
    why="A suppression hides a finding from every later run; without a written reason nobody can tell "
        "whether it still holds, so svcdoctor honours only entries of the form 'SD207: why it is fine'.",
    fix="Write each entry as 'SD207: the reason' (several IDs may share one reason: 'SD207, SD212: …').",
    run=run,
    impact="none",
)
