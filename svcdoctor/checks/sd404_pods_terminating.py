"""SD404 — Selected Pods are terminating.

What it detects:
    Pods with ``metadata.deletionTimestamp`` set, with how long they have been terminating and
    whether they are past their grace period (stuck on a finalizer or on a node that no longer
    answers).

Why it matters:
    Terminating Pods leave the ready endpoints: capacity drops, and Pods stuck terminating never
    come back.

    A terminating Pod is taken out of the ready endpoints at once, so capacity drops during a
    rollout or drain; a Pod stuck terminating keeps its name (a StatefulSet cannot replace it) and
    may keep its endpoint listed as serving.

How to fix:
    Usually transient (a rollout, a drain). If it lasts, make sure replacements become ready and
    that no finalizer or unresponsive node holds the Pod.

Example:
    The scenario fixtures/scenarios/pods-terminating-stuck: One of three Pods is stuck terminating
    on a finalizer; the other two serve.

    $ cd fixtures/scenarios/pods-terminating-stuck
    $ svcdoctor check ledger -n finance --snapshot snapshot.yaml
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from svcdoctor import k8s
from svcdoctor.checks.interface import Check, CheckDoc, Context
from svcdoctor.findings import Evidence, Finding
from svcdoctor.pod_health import duration_text


def run(context: Context) -> Iterator[Finding]:
    pods = context.require_selected_pods()
    terminating = [pod for pod in pods if k8s.pod_is_terminating(pod)]
    if not terminating:
        return
    now = context.snapshot.now
    namespace, name = context.target.namespace, context.target.name
    evidence = []
    lines = []
    stuck = []
    for pod in terminating:
        metadata = k8s.meta(pod)
        deadline = k8s.parse_time(metadata.get("deletionTimestamp"))
        grace = metadata.get("deletionGracePeriodSeconds")
        grace_seconds = grace if isinstance(grace, int) else 30
        # The API server sets deletionTimestamp to the moment of deletion plus the grace period.
        since = deadline - timedelta(seconds=grace_seconds) if deadline else None
        text = f"{k8s.name(pod)} terminating for {duration_text((now - since).total_seconds()) if since else '?'}"
        if deadline is not None and now > deadline:
            text += f", {duration_text((now - deadline).total_seconds())} past its {grace_seconds}s grace period"
            finalizers = k8s.as_list(metadata.get("finalizers"))
            if finalizers:
                text += f" (finalizers {', '.join(map(str, finalizers))})"
            stuck.append(pod)
        lines.append(text)
        evidence.append(Evidence(k8s.ref(pod), "metadata.deletionTimestamp", metadata.get("deletionTimestamp"), text))
    remaining = len(pods) - len(terminating)
    message = (f"{len(terminating)} of the {len(pods)} Pods that Service {namespace}/{name} selects "
               f"{'is' if len(terminating) == 1 else 'are'} terminating and out of the ready endpoints: "
               + "; ".join(lines[:5]) + ("; …" if len(lines) > 5 else "") + ".")
    if remaining == 0:
        message += " No other Pod is left to serve."
    fix = CHECK.fix
    if stuck:
        nodes = sorted({str(k8s.spec(p).get("nodeName") or "") for p in stuck} - {""})
        fix = ("Pods past their grace period are stuck: check the node" + (f" ({', '.join(nodes)})" if nodes else "")
               + " and any finalizer; as a last resort kubectl delete pod --grace-period=0 --force.")
    first = k8s.name(terminating[0])
    yield CHECK.finding(
        message,
        severity="warning",
        evidence=evidence,
        next=[f"kubectl get pods -n {namespace} -o wide | grep Terminating",
              f"kubectl describe pod {first} -n {namespace}",
              f"kubectl get pod {first} -n {namespace} -o jsonpath='{{.metadata.finalizers}}'"],
        fix=fix,
        subject=k8s.ref(terminating[0]),
        subject_field="metadata.deletionTimestamp",
    )


CHECK = Check(
    id="SD404",
    name="pods-terminating",
    step=4,
    # Terminating Pods are taken out of the ready endpoints at once.
    explains=frozenset({"SD501", "SD502"}),
    doc=CheckDoc.parse(__doc__),
    run=run,
    needs=("services", "pods"),
    runtime=True,
)
