"""SD403 — A Pod readiness gate is not satisfied.

What it detects:
    Selected Pods whose ``spec.readinessGates`` name a condition that is missing from
    ``status.conditions`` or not ``True``. Such a Pod stays not ready even when every container is
    ready.

Why it matters:
    A Pod with an unmet readiness gate is never ready, so it never receives Service traffic.

    Readiness gates are set by an outside controller (a cloud load-balancer controller's target
    health, a service mesh); when that controller is missing, misconfigured or slow, the Pods never
    join the Service's ready endpoints and a rollout stalls.

How to fix:
    Make sure the controller that sets the gate's condition runs and can see the Pod (e.g. the AWS
    Load Balancer Controller for target-health.elbv2.k8s.aws/*, GKE NEG for
    cloud.google.com/load-balancer-neg-ready), or remove the readinessGate from the Pod template.

Example:
    The scenario fixtures/scenarios/readiness-gate-not-set: The Pods carry an AWS load-balancer
    readiness gate but no controller sets it; they never become ready.

    $ cd fixtures/scenarios/readiness-gate-not-set
    $ svcdoctor check gateway -n edge --snapshot snapshot.yaml
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from svcdoctor import k8s
from svcdoctor.checks.interface import Check, CheckDoc, Context
from svcdoctor.findings import Evidence, Finding, Severity
from svcdoctor.pod_health import any_ready


def run(context: Context) -> Iterator[Finding]:
    pods = context.require_selected_pods()
    namespace, name = context.target.namespace, context.target.name
    blocked = []
    for pod in pods:
        if k8s.pod_is_terminating(pod) or k8s.pod_phase(pod) in ("Succeeded", "Failed", ""):
            continue
        for gate in k8s.as_list(k8s.spec(pod).get("readinessGates")):
            if not isinstance(gate, Mapping) or not gate.get("conditionType"):
                continue
            condition_type = str(gate["conditionType"])
            condition = k8s.pod_condition(pod, condition_type)
            if condition is None or str(condition.get("status")) != "True":
                blocked.append((pod, condition_type, condition))
    if not blocked:
        return
    severity = Severity.WARNING if any_ready(pods) else Severity.ERROR
    pod_names = sorted({k8s.name(pod) for pod, _, _ in blocked})
    gates = sorted({gate for _, gate, _ in blocked})
    evidence = []
    for pod, gate, condition in blocked[:10]:
        if condition is None:
            evidence.append(Evidence(k8s.ref(pod), "status.conditions", gate,
                                     f"readiness gate {gate}: no such condition (nothing has set it)"))
        else:
            evidence.append(Evidence(k8s.ref(pod), f"status.conditions[{gate}]", dict(condition),
                                     f"readiness gate {gate} is {condition.get('status')}"
                                     + (f": {condition.get('message')}" if condition.get("message") else "")))
    containers_ready = [pod for pod, _, _ in blocked
                        if str((k8s.pod_condition(pod, "ContainersReady") or {}).get("status")) == "True"]
    message = (f"{len(pod_names)} of the {len(pods)} Pods that Service {namespace}/{name} selects wait on "
               f"readiness gate{'s' if len(gates) > 1 else ''} {', '.join(gates)}, which "
               f"{'is' if len(gates) == 1 else 'are'} not True ({', '.join(pod_names[:5])}"
               f"{', …' if len(pod_names) > 5 else ''}).")
    if containers_ready:
        message += " Their containers are ready; only the gate keeps them out of the endpoints."
    message += " The controller that owns the gate (a load-balancer controller, a mesh) sets that condition."
    yield CHECK.finding(
        message,
        severity=severity,
        evidence=evidence,
        next=[f"kubectl get pod {pod_names[0]} -n {namespace} -o jsonpath='{{.spec.readinessGates}}"
              "{\"\\n\"}{.status.conditions}'",
              f"kubectl describe pod {pod_names[0]} -n {namespace}"],
        subject=k8s.ref(blocked[0][0]),
        subject_field="spec.readinessGates",
    )


CHECK = Check(
    id="SD403",
    name="readiness-gate-not-satisfied",
    step=4,
    explains=frozenset({"SD207", "SD208", "SD211", "SD502", "SD503", "SD805", "SD903", "SD904"}),
    doc=CheckDoc.parse(__doc__),
    run=run,
    needs=("services", "pods"),
    runtime=True,
)
