"""SD604 — A policy allows the Service port (or a missing port name) where the Pod port counts.

What it detects:
    A rule that admits the client (its peers match) but whose ``ports`` allow the Service's ``port``
    while the Service sends traffic to a different ``targetPort``, or name a container port that
    none of the Pods the policy selects (for egress: none of the Service's Pods) declares.

Why it matters:
    NetworkPolicy judges the connection after the Service's DNAT, at the Pod's targetPort: a rule
    for the Service port, or for a port name no Pod declares, admits nothing.

    NetworkPolicy sees the connection after kube-proxy's DNAT — at the Pod's address and target port
    — so "allow port 80" on a Service 80 → 8080 allows nothing useful, and a misspelt port name
    silently matches nothing. The denial (SD601 / SD602) then follows from this finding.

How to fix:
    Write the Pod's port (the Service's targetPort, or the container port's name) in the policy's
    ports.

Example:
    The scenario fixtures/scenarios/netpol-named-port-missing: backend-ingress (policyTypes
    defaulted to Ingress) allows the named port http-api, which no backend container declares (it is
    named http): the rule allows nothing and the frontend is denied.

    $ cd fixtures/scenarios/netpol-named-port-missing
    $ svcdoctor check backend -n shop --from shop/frontend-ddcj28l7m-jsshd --snapshot snapshot.yaml
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import yaml

from svcdoctor import k8s
from svcdoctor.checks.interface import Check, CheckDoc, Context
from svcdoctor.findings import Evidence, Finding, Severity, Skip
from svcdoctor.netpol.service import backends, client_endpoint, evaluator_of, port_confusions


def run(context: Context) -> Iterator[Finding]:
    context.require_service()
    if not context.has_selector:
        raise Skip("the Service has no selector")
    items = backends(context)
    if not items:
        raise Skip("the Service has no backend Pod to judge")
    client = client_endpoint(context)
    evaluator = evaluator_of(context)
    pod_ports = {k8s.port_label(item.service_port): item.traffic for item in items}
    for confusion in port_confusions(context, client, evaluator):
        policy = next(p for p in evaluator.policies_in(confusion.policy.namespace) if p.ref == confusion.policy)
        rule = policy.rules(confusion.direction)[confusion.rule_index]
        traffic = pod_ports[confusion.service_port]
        changed: dict[str, Any] = dict(rule.raw)
        ports = [dict(k8s.as_map(p)) for p in k8s.as_list(rule.raw.get("ports"))]
        ports[confusion.port_index] = {"protocol": traffic.protocol, "port": traffic.port}
        changed["ports"] = ports
        field = f"spec.{confusion.direction}[{confusion.rule_index}].ports[{confusion.port_index}]"
        snippet = yaml.safe_dump([changed], sort_keys=False).rstrip()
        consequence = (f" This is why {client} is denied on {confusion.service_port}."
                       if confusion.decisive else
                       f" {client} is admitted by another rule, but this one does not do what it says.")
        yield CHECK.finding(
            confusion.message + "." + consequence,
            severity=Severity.ERROR if confusion.decisive else Severity.INFO,
            evidence=[Evidence(confusion.policy, field, dict(k8s.as_map(k8s.as_list(rule.raw.get("ports"))
                                                                    [confusion.port_index])),
                               f"Service {context.target} port {confusion.service_port} reaches the Pods at "
                               f"{traffic}")],
            next=[f"kubectl get networkpolicy {confusion.policy.name} -n {confusion.policy.namespace} -o yaml",
                  f"kubectl get service {context.target.name} -n {context.target.namespace} "
                  "-o jsonpath='{.spec.ports}'"],
            fix=(f"Name the Pod port, {traffic} (the targetPort), in {field} of NetworkPolicy "
                 f"{confusion.policy.namespace}/{confusion.policy.name}:\n"
                 f"# kubectl edit networkpolicy {confusion.policy.name} -n {confusion.policy.namespace}  — "
                 f"spec.{confusion.direction}[{confusion.rule_index}] becomes:\n{snippet}"),
            subject=confusion.policy,
            subject_field=field,
            key=f"{confusion.policy.namespace}/{confusion.policy.name}:{field}:{confusion.service_port}",
        )


CHECK = Check(
    id="SD604",
    name="networkpolicy-port-confusion",
    step=6,
    explains=frozenset({"SD601", "SD602"}),
    doc=CheckDoc.parse(__doc__),
    run=run,
    needs=("networkpolicies", "pods", "namespaces"),
    needs_client=True,
    confidence="likely",
)
