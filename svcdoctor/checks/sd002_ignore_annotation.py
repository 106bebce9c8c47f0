"""SD002 — An ignore annotation without a reason (or with an unknown check ID).

What it detects:
    An ignore annotation on the Service whose entry gives no reason, or names something that is not
    a svcdoctor check ID.

Why it matters:
    A suppression hides a finding from every later run; without a written reason nobody can tell
    whether it still holds, so svcdoctor honours only entries of the form 'SD207: why it is fine'.

    A suppression hides a finding from every later run and every reviewer; without a written reason
    nobody can tell later whether it still holds. Such an entry suppresses nothing, and this warning
    points at the annotation's line so it gets fixed. (The same warning is raised by the suppression
    step for annotations on other objects a finding is about, such as a Deployment or a
    NetworkPolicy.)

How to fix:
    Write each entry as 'SD207: the reason' (several IDs may share one reason: 'SD207, SD212: …').

Example:
    The scenario fixtures/scenarios/manifests-ignore-annotation-without-reason: The same Service as
    manifests-ignore-annotation, but its svcdoctor.dev/ignore annotation names SD301 without a
    reason. A suppression needs a written reason, so nothing is suppressed: SD301 still fires, and
    SD002 (a warning that does not change the verdict) points at the annotation.

    $ cd fixtures/scenarios/manifests-ignore-annotation-without-reason
    $ svcdoctor check billing-ledger -n billing --manifests manifests/ledger.yaml
"""

from __future__ import annotations

from collections.abc import Iterator

from svcdoctor import k8s
from svcdoctor.checks.interface import Check, CheckDoc, Context
from svcdoctor.findings import Evidence, Finding, Skip
from svcdoctor.ignore_annotation import ANNOTATION, parse_annotation
from svcdoctor.k8s import ObjectRef


def problem_finding(holder: ObjectRef, problem: object) -> Finding:
    """The SD002 warning for one bad entry of ``holder``'s ignore annotation."""
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
    service = context.require_service()
    value = k8s.object_annotations(service).get(ANNOTATION)
    if value is None:
        return
    if context.check_ids is None:
        raise Skip("the registered check IDs were not given to the diagnosis")
    _, problems = parse_annotation(value, context.check_ids)
    for problem in problems:
        yield problem_finding(context.service_ref, problem)


CHECK = Check(
    id="SD002",
    name="ignore-annotation-invalid",
    step=0,
    doc=CheckDoc.parse(__doc__),
    run=run,
    impact="none",
)
