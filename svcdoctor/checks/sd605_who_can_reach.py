"""SD605 — Who NetworkPolicy lets reach the Service.

What it detects:
    Detects nothing wrong: it states, at a glance, which clients the ingress policies of the
    Service's Pods admit — "pods app=frontend in namespace prod on 8080/TCP, and nothing else". When
    no policy selects its Pods it says nothing (everyone may connect; step 6 simply passes).

Why it matters:
    Without a client, the list of sources the policies admit lets a reader spot at a glance whether
    their client is on it.

    Without ``--from`` svcdoctor cannot judge a particular client, but the user can see immediately
    whether theirs is on the list. It is an info finding, so it never changes the verdict; with a
    client, SD601–SD604 judge it instead.

How to fix:
    Nothing to fix; run with --from NS/POD or --from-ip IP to judge one client.

Example:
    The scenario fixtures/scenarios/netpol-who-can-reach: Without --from, step 6 states who may
    reach the backend: Pods app=frontend in namespace shop on 8080/TCP, and nothing else (an info
    finding; the verdict stays ok).

    $ cd fixtures/scenarios/netpol-who-can-reach
    $ svcdoctor check backend -n shop --snapshot snapshot.yaml
"""

from __future__ import annotations

from collections.abc import Iterator

from svcdoctor import k8s
from svcdoctor.checks.interface import Check, CheckDoc, Context
from svcdoctor.findings import Evidence, Finding, Severity, Skip
from svcdoctor.netpol.evaluator import pod_endpoint
from svcdoctor.netpol.interface import INGRESS
from svcdoctor.netpol.model import CompiledPeer, CompiledPolicy, CompiledRule
from svcdoctor.netpol.service import evaluator_of, live_pods
from svcdoctor.selectors import EVERYTHING
from svcdoctor.snapshot import Snapshot


def describe_peer(peer: CompiledPeer, policy_namespace: str, snapshot: Snapshot) -> str:
    """A peer in words, with how many Pods it matches now."""
    if peer.problem:
        return f"nothing (an invalid peer: {peer.problem})"
    if peer.cidr is not None:
        text = f"addresses in {peer.cidr}"
        if peer.excepts:
            text += " except " + ", ".join(str(e) for e in peer.excepts)
        return text
    if peer.namespace_selector is None:
        namespaces = [policy_namespace]
        where = f"in namespace {policy_namespace}"
    else:
        namespaces = snapshot.namespaces_matching(peer.namespace_selector)
        where = ("in every namespace" if peer.namespace_selector.is_everything
                 else f"in namespaces {peer.namespace_selector}")
    who = ("every Pod" if peer.pod_selector is None or peer.pod_selector.is_everything
           else f"pods {peer.pod_selector}")
    count = sum(len(snapshot.select_pods(ns, peer.pod_selector or EVERYTHING)) for ns in namespaces)
    if snapshot.static:  # manifests: the Pods are stand-ins made from workload templates, not running Pods
        return f"{who} {where} ({count} Pod{'s' if count != 1 else ''} made from the input's templates)"
    return f"{who} {where} ({count} Pod{'s' if count != 1 else ''} now)"


def describe_rule(rule: CompiledRule, policy: CompiledPolicy, snapshot: Snapshot) -> str:
    peers = ("everyone (every Pod and every address)" if rule.peers is None
             else " or ".join(describe_peer(p, policy.namespace, snapshot) for p in rule.peers))
    ports = "on every port" if rule.ports is None else "on " + ", ".join(p.describe() for p in rule.ports)
    return f"{peers} {ports}"


def run(context: Context) -> Iterator[Finding]:
    if context.client is not None:
        raise Skip("a client was given: SD601–SD604 judge it")
    context.require_service()
    if not context.has_selector:
        raise Skip("the Service has no selector")
    pods = live_pods(context.selected_pods)
    if not pods:
        raise Skip("the Service has no Pods to describe")
    evaluator = evaluator_of(context)
    groups: dict[tuple[str, ...], list[str]] = {}
    policies_by_name: dict[str, CompiledPolicy] = {}
    for pod in pods:
        policies = evaluator.selecting(pod_endpoint(pod), INGRESS)
        for policy in policies:
            policies_by_name[policy.ref.name] = policy
        groups.setdefault(tuple(p.ref.name for p in policies), []).append(k8s.name(pod))
    if set(groups) == {()}:
        return  # no policy selects its Pods: everyone may reach them, and step 6 passes without a word
    parts = []
    evidence = []
    for names, members in groups.items():
        scope = "its Pods" if len(groups) == 1 else f"Pods {', '.join(members[:3])}{'…' if len(members) > 3 else ''}"
        if not names:
            parts.append(f"{scope}: everyone — no NetworkPolicy selects them for ingress")
            continue
        rules = [describe_rule(rule, policies_by_name[name], context.snapshot)
                 for name in names for rule in policies_by_name[name].ingress]
        allowed = "; ".join(dict.fromkeys(rules)) + ", and nothing else" if rules else "nobody (no ingress rule)"
        parts.append(f"{scope} (isolated by {', '.join(names)}): {allowed}")
        for name in names:
            policy = policies_by_name[name]
            evidence.append(Evidence(policy.ref, "spec.ingress",
                                     None, f"{len(policy.ingress)} ingress rule(s)"))
    message = (f"Who can reach Service {context.target} through NetworkPolicy — " + " | ".join(parts) +
               ". (The Pods' own node is always allowed; give --from or --from-ip to judge one client.)")
    yield CHECK.finding(
        message,
        severity=Severity.INFO,
        evidence=evidence,
        next=[f"kubectl get networkpolicy -n {context.target.namespace}",
              f"svcdoctor reach -n {context.target.namespace}"],
        fix="",
        subject=context.service_ref,
        key="who-can-reach",
    )


CHECK = Check(
    id="SD605",
    name="who-can-reach",
    step=6,
    doc=CheckDoc.parse(__doc__),
    run=run,
    needs=("networkpolicies", "pods", "namespaces"),
)
