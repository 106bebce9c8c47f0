"""The pipeline: run the checks in step order, link symptoms to causes, rank, decide the verdict.

This module knows nothing of the CLI or of where the Snapshot came from.
"""

from __future__ import annotations

import dataclasses
import functools
import traceback
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from svcdoctor.checks.interface import CLIENT_HOW, Check, Context, Options
from svcdoctor.findings import STEPS, Client, Finding, NotChecked, Severity, Skip, StepDoesNotApply, Target, Unknown
from svcdoctor.progress import NO_PROGRESS, Progress
from svcdoctor.report import CheckCrash, CheckResult, Missing, Report, StepResult


@dataclass(frozen=True)
class CauseTable:
    """cause ID → the symptom IDs it explains, from every registered check's ``explains``.

    A check may set ``caused_by`` itself; the table only fills in what is still None.
    """

    explains: Mapping[str, frozenset[str]]
    #: Causes whose links hold only when both findings are about the same node.
    same_node_only: frozenset[str]


@functools.cache
def cause_table() -> CauseTable:
    from svcdoctor.checks.registry import CHECKS

    return CauseTable({check.id: check.explains for check in CHECKS if check.explains},
                      frozenset(check.id for check in CHECKS if check.explains_on_same_node_only))


#: Checks whose failure a client meets before the others of its step: a name is resolved before any
#: connection is tried, so blocked DNS is what the user sees first, even when the connection would fail too.
SEEN_FIRST = frozenset({"SD603"})


def run_checks(context: Context, checks: Sequence[Check]) -> tuple[list[Finding], list[CheckResult]]:
    """Run every check in step order.

    A check that raises is recorded (``CheckResult.crash``) and the others still run: the report
    says what the rest found, and ``Report.internal_errors`` keeps the run from passing a gate.
    """
    findings: list[Finding] = []
    results: list[CheckResult] = []
    snapshot = context.snapshot
    for check in sorted(checks, key=lambda c: (c.step, c.id)):
        if check.needs_client and context.client is None:
            results.append(CheckResult(check.id, check.step, "not-checked", "no client: " + CLIENT_HOW,
                                       "no client", CLIENT_HOW))
            continue
        if snapshot.static and check.runtime:
            results.append(CheckResult(check.id, check.step, "skipped", "needs a cluster or a recorded snapshot"))
            continue
        missing = [m for m in (snapshot.missing(r, context.target.namespace) for r in check.needs) if m]
        if missing:
            reason = "; ".join(f"could not {m.verb} {m.resource}: {m.reason}" for m in missing)
            results.append(CheckResult(check.id, check.step, "unknown", reason))
            continue
        context.caveats.clear()
        try:
            produced = list(check.run(context))
        except NotChecked as not_checked:
            results.append(CheckResult(check.id, check.step, "not-checked", not_checked.reason, not_checked.what,
                                       not_checked.how))
            continue
        except StepDoesNotApply as not_applying:
            results.append(CheckResult(check.id, check.step, "skipped", not_applying.reason, step_does_not_apply=True))
            continue
        except Skip as skip:
            results.append(CheckResult(check.id, check.step, "skipped", skip.reason))
            continue
        except Unknown as unknown:
            results.append(CheckResult(check.id, check.step, "unknown", unknown.reason))
            continue
        except Exception as error:  # a bug in one check must not take the rest of the report down
            crash = CheckCrash(check.id, f"{type(error).__name__}: {error}", traceback.format_exc())
            results.append(CheckResult(check.id, check.step, "unknown",
                                       f"internal error in {crash.check}: {crash.error}", crash=crash))
            continue
        findings.extend(produced)
        failing = [f for f in produced if f.severity is not Severity.INFO]
        if failing:
            results.append(CheckResult(check.id, check.step, "fail"))
        elif context.caveats:
            what, how = context.caveats[0]
            results.append(CheckResult(check.id, check.step, "partial", f"{what}: {how}", what, how))
        else:
            results.append(CheckResult(check.id, check.step, "pass"))
    return findings, results


def link_causes(findings: Sequence[Finding], order: dict[str, int]) -> list[Finding]:
    """Fill ``caused_by`` from the :func:`cause_table`: the nearest present cause explains a symptom."""
    causes = cause_table()
    present = [f for f in findings if f.severity is not Severity.INFO]
    linked: list[Finding] = []
    for finding in findings:
        if finding.caused_by is not None or finding.severity is Severity.INFO:
            linked.append(finding)
            continue
        candidates = [
            cause for cause in present
            if cause.id != finding.id and finding.id in causes.explains.get(cause.id, ())
            and cause.step <= finding.step
            and not (cause.id in causes.same_node_only and cause.node and finding.node and cause.node != finding.node)
        ]
        if candidates:
            nearest = max(candidates, key=lambda c: (c.step, -order.get(c.id, 0)))
            finding = dataclasses.replace(finding, caused_by=nearest.id)
        linked.append(finding)
    return linked


def rank(findings: Sequence[Finding], order: dict[str, int]) -> list[Finding]:
    """Root causes first, then their symptoms; within that by severity, then step order.

    Info findings never outrank errors or warnings.
    """
    by_id: dict[str, Finding] = {}
    for finding in findings:
        by_id.setdefault(finding.id, finding)

    def depth(finding: Finding) -> int:
        seen = {finding.id}
        level = 0
        current = finding
        while current.caused_by and current.caused_by in by_id and current.caused_by not in seen:
            seen.add(current.caused_by)
            current = by_id[current.caused_by]
            level += 1
        return level

    # Between equally severe causes, the one that breaks the Service outright outranks one that breaks a
    # side path (an Ingress route, the load balancer), whatever their steps.
    impact_rank = {"unreachable": 0, "degraded": 1, "unknown": 2, "none": 3}
    return sorted(
        findings,
        key=lambda f: (f.severity is Severity.INFO, depth(f), f.severity.rank, impact_rank.get(f.impact, 3), f.step,
                       f.id not in SEEN_FIRST, order.get(f.id, 0), f.key),
    )


def verdict_of(findings: Sequence[Finding], results: Sequence[CheckResult]) -> str:
    """``unreachable`` > ``degraded`` > ``unknown`` > ``ok``; never ``ok`` with evidence missing."""
    impacts = {f.impact for f in findings if f.severity is not Severity.INFO}
    if "unreachable" in impacts:
        return "unreachable"
    if "degraded" in impacts:
        return "degraded"
    if "unknown" in impacts or any(r.status == "unknown" for r in results):
        return "unknown"
    return "ok"


def _missing(checks: Sequence[CheckResult]) -> tuple[Missing, ...]:
    """The evidence the step's checks went without, one entry per kind of evidence."""
    grouped: dict[tuple[str, str], list[str]] = {}
    for result in checks:
        if result.status in ("not-checked", "partial"):
            grouped.setdefault((result.what or result.reason, result.how), []).append(result.id)
    # "no client and no DNS answers" beside "no client" and "no DNS answers" says nothing new: its checks
    # join those entries, so a step's reason names each missing thing once.
    by_what = {what: key for key in grouped for what in [key[0]]}
    for key in list(grouped):
        parts = key[0].split(" and ")
        if len(parts) > 1 and all(part in by_what and by_what[part] != key for part in parts):
            for part in parts:
                grouped[by_what[part]].extend(grouped[key])
            del grouped[key]
    return tuple(Missing(what, how, tuple(dict.fromkeys(ids))) for (what, how), ids in grouped.items())


def step_results(findings: Sequence[Finding], results: Sequence[CheckResult], *,
                 service_missing: bool = False) -> list[StepResult]:
    """Each step's state (DESIGN.md "Step states"); ``pass`` only when every check of it ran on its evidence.

    A finding at warning or above makes the step ``fail`` (DESIGN: there is no separate ``warn`` state).
    """
    steps: list[StepResult] = []
    # No Service and step 1 unknown: it could not be read, which says nothing of whether it exists.
    service_unread = service_missing and any(r.status == "unknown" for r in results if r.step == 1)
    for step, title in STEPS.items():
        checks = tuple(r for r in results if r.step == step)
        if not checks:
            continue
        step_findings = [f for f in findings if f.step == step]
        if step == 0 and not step_findings:
            continue
        checked = tuple(r.id for r in checks if r.status in ("pass", "fail", "partial"))
        missing = _missing(checks)
        reason = ""
        if any(f.severity is not Severity.INFO for f in step_findings):
            status = "fail"
        elif any(r.status == "unknown" for r in checks):
            status = "unknown"
            reason = "; ".join(dict.fromkeys(r.reason for r in checks if r.status == "unknown"))
        elif service_unread and step >= 2:
            # Nothing after step 1 can be decided about a Service that could not be read, whatever ran.
            status, reason, missing = "unknown", "the Service could not be read (step 1)", ()
        elif service_missing and step >= 2:
            # Nothing after step 1 can be about a Service that does not exist, whatever ran.
            status, reason, missing = "skipped", "the Service does not exist (step 1)", ()
        elif any(r.step_does_not_apply for r in checks):
            # What the step asks plays no part in this Service's path: a check that passed is no evidence for it.
            status, missing = "skipped", ()
            reason = "; ".join(dict.fromkeys(r.reason for r in checks if r.step_does_not_apply))
        elif not any(r.status in ("pass", "fail") for r in checks) and not any(r.status == "partial" for r in checks):
            status = "skipped"
            reason = ("not checked: " + "; ".join(str(item) for item in missing) if missing
                      else "; ".join(dict.fromkeys(r.reason for r in checks if r.reason)))
        elif missing:
            status = "partial"
            reason = "not checked: " + "; ".join(str(item) for item in missing)
        else:
            status = "pass"
        steps.append(StepResult(step, title, status, reason, checks, checked, missing))
    return steps


def diagnose(
    context: Context,
    checks: Sequence[Check] | None = None,
    *,
    source: dict[str, object] | None = None,
) -> Report:
    """Run the checks over one Service and return the ranked :class:`Report`."""
    from svcdoctor.checks.registry import BY_ID, CHECKS

    if checks is None:
        checks = CHECKS
    if context.check_ids is None:
        context = dataclasses.replace(context, check_ids=frozenset(BY_ID))
    order = {check.id: index for index, check in enumerate(checks)}
    findings, results = run_checks(context, checks)
    findings = rank(link_causes(findings, order), order)
    notes: list[str] = []
    snapshot = context.snapshot
    origins = {}
    if snapshot.origins:
        for finding in findings:
            refs = [finding.subject] + [item.object for item in finding.evidence]
            for ref in refs:
                if ref is not None and ref in snapshot.origins:
                    origins[ref] = snapshot.origins[ref]
    if context.snapshot.static:
        notes.append("static run over manifests: readiness, endpoints, DNS, node rules and probes were not checked")
    return Report(
        target=context.target,
        verdict=verdict_of(findings, results),
        findings=tuple(findings),
        steps=tuple(step_results(findings, results, service_missing=context.service is None)),
        client=str(context.client) if context.client else None,
        client_state=client_state(context),
        source=dict(source or {}),
        notes=tuple(notes),
        origins=origins,
        internal_errors=tuple(result.crash for result in results if result.crash is not None),
        captured_at=_rfc3339(snapshot.info.captured_at),
    )


def client_state(context: Context) -> str:
    """The client's state on the path: ``pass`` only when its Pod or node was read and is there."""
    client, snapshot = context.client, context.snapshot
    if client is None or client.kind not in ("pod", "node"):
        return "skipped"
    kind, resource, namespace = ("Pod", "pods", client.namespace) if client.kind == "pod" else ("Node", "nodes", "")
    found = snapshot.pod(namespace, client.name) if kind == "Pod" else snapshot.node(client.name)
    if found is not None:
        return "pass"
    if snapshot.missing(resource, namespace) is not None or not snapshot.holds(kind, namespace):
        return "unknown"
    return "fail"


def _rfc3339(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if moment is not None else None


def diagnose_service(
    snapshot: object,
    namespace: str,
    name: str,
    *,
    client: Client | None = None,
    options: Options | None = None,
    checks: Sequence[Check] | None = None,
    source: dict[str, object] | None = None,
) -> Report:
    """Convenience: build the Context for ``namespace/name`` and diagnose it."""
    from svcdoctor.checks.registry import BY_ID
    from svcdoctor.snapshot import Snapshot

    assert isinstance(snapshot, Snapshot)
    context = Context(snapshot, Target(namespace, name), client, options or Options(), frozenset(BY_ID))
    return diagnose(context, checks, source=source)


def scan(
    snapshot: object,
    namespaces: Iterable[str] | None,
    *,
    options: Options | None = None,
    checks: Sequence[Check] | None = None,
    source: dict[str, object] | None = None,
    progress: Progress = NO_PROGRESS,
) -> list[Report]:
    """Diagnose every Service of ``namespaces`` (all when None), worst first; ``progress`` hears n of N."""
    from svcdoctor.snapshot import Snapshot

    assert isinstance(snapshot, Snapshot)
    wanted = set(namespaces) if namespaces is not None else None
    from svcdoctor import k8s

    services = [service for service in snapshot.services if wanted is None or k8s.namespace(service) in wanted]
    reports = []
    for number, service in enumerate(services):
        progress.show(f"diagnosing Services: {number:,} of {len(services):,} done")
        reports.append(diagnose_service(snapshot, k8s.namespace(service), k8s.name(service), options=options,
                                        checks=checks, source=source))
    severity_order = {"unreachable": 0, "degraded": 1, "unknown": 2, "ok": 3}
    reports.sort(key=lambda r: (severity_order[r.verdict], -len(r.findings), r.target.namespace, r.target.name))
    return reports
