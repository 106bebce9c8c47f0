"""SD001 — A resource svcdoctor needs could not be read.

What it detects:
    The source could not list a resource (RBAC 403, a failed request), as recorded in the Snapshot.

Why it matters:
    Without that resource the checks that need it cannot decide; the verdict is at best unknown.

    Every check that needed that resource is ``unknown``, and a report built on half the evidence
    must say so instead of passing as healthy.

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
    for item in context.snapshot.unavailable:
        scope = f" in namespace {item.namespace}" if item.namespace else " cluster-wide"
        yield CHECK.finding(
            f"svcdoctor could not {item.verb} {item.resource}{scope}: {item.reason}. "
            "The checks that need them are marked unknown.",
            severity="warning",
            impact="unknown",
            evidence=[Evidence(None, "resource", item.resource, item.reason)],
            next=[item.can_i()],
            fix=f"Grant {item.verb} on {item.resource} to the identity svcdoctor runs as (see deploy/rbac.yaml), "
                "or run it with a kubeconfig that has it.",
            key=f"{item.resource}/{item.namespace}",
        )


CHECK = Check(
    id="SD001",
    name="evidence-unreadable",
    step=0,
    doc=CheckDoc.parse(__doc__),
    run=run,
)
