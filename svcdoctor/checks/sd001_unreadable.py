"""SD001 — A resource svcdoctor needs could not be read.

What it detects:
    The source could not list a resource (RBAC 403, a failed request), as recorded in the Snapshot.
    One finding lists every refused read, each with the ``kubectl auth can-i`` command that shows it.

Why it matters:
    Without that resource the checks that need it cannot decide; the verdict is at best unknown.

    Every check that needed that resource is ``unknown``, and a report built on half the evidence
    must say so instead of passing as healthy — or, worse, claiming something about the cluster from
    a read that was refused.

How to fix:
    Grant the missing read permission (deploy/rbac.yaml lists exactly what svcdoctor reads).

Example:
    The scenario fixtures/scenarios/networkpolicies-forbidden: The snapshot was recorded without
    permission to list NetworkPolicies in prod. Everything else is healthy, but step 6 cannot be
    decided: SD001 names the missing permission and the verdict is unknown, never ok.

    $ cd fixtures/scenarios/networkpolicies-forbidden
    $ svcdoctor check orders -n prod --from prod/frontend-vsch2dj9d-d4t6m --snapshot snapshot.yaml
"""

from __future__ import annotations

from collections.abc import Iterator

from svcdoctor.checks.interface import Check, CheckDoc, Context
from svcdoctor.findings import Evidence, Finding


def run(context: Context) -> Iterator[Finding]:
    unavailable = list(context.snapshot.unavailable)
    if not unavailable:
        return
    refused = [item for item in unavailable if not item.invalid_object]
    invalid = [item for item in unavailable if item.invalid_object]
    parts = []
    if refused:
        reasons = ", ".join(dict.fromkeys(item.reason.split(":", 1)[0] for item in refused))
        reads = "; ".join(f"{item.verb} {item.resource}" + (f" in {item.namespace}" if item.namespace
                                                             else " cluster-wide") for item in refused)
        parts.append(f"{len(refused)} read{'s' if len(refused) != 1 else ''} failed ({reasons}): {reads}")
    if invalid:
        parts.append(f"{len(invalid)} object{'s' if len(invalid) != 1 else ''} the API served cannot be read: "
                     + "; ".join(item.reason for item in invalid))
    fixes = []
    if refused:
        fixes.append("Grant the missing reads to the identity svcdoctor runs as (deploy/rbac.yaml lists exactly "
                     "what it reads: get/list/watch, never Secrets), or run it with a kubeconfig that has them.")
    if invalid:
        fixes.append("Correct the field named (the API server should not have accepted it: an old object, a "
                     "conversion bug, or a hand-written status?).")
    yield CHECK.finding(
        "svcdoctor could not read everything it needs: " + "; ".join(parts) + ". The checks that need them are "
        "unknown, never passed, and nothing is concluded about the cluster from what could not be read.",
        severity="warning",
        impact="unknown",
        evidence=[Evidence(None, "resource", f"{item.verb} {item.resource}"
                           + (f" -n {item.namespace}" if item.namespace else ""), item.reason)
                  for item in unavailable],
        next=[item.can_i() for item in unavailable],
        fix=" ".join(fixes),
        key="unreadable",
    )


CHECK = Check(
    id="SD001",
    name="evidence-unreadable",
    step=0,
    doc=CheckDoc.parse(__doc__),
    run=run,
)
