"""What SD606 (admin tiers) and SD607 (Cilium) share: the policy stack per run, per-port judging, fixes.

Both judge the same connections as SD601/SD602 — the client to each backend Pod on the Pod port
each Service port leads to — through :class:`~svcdoctor.netpol.tiers.PolicyStack`, and report the
layer that decided a denial: the Admin or Baseline tier (SD606), or Cilium's policies merged with
NetworkPolicy (SD607). SD601/SD602 keep the connections that plain NetworkPolicy decides.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import yaml

from svcdoctor.checks.interface import Check, Context
from svcdoctor.findings import Evidence, Finding, Severity, Skip, Unknown
from svcdoctor.netpol.admin import ADMIN, ALLOW, AdminPolicy, RuleVerdict
from svcdoctor.netpol.cilium import CiliumMatch, CiliumPolicyRule
from svcdoctor.netpol.evaluator import identity_labels
from svcdoctor.netpol.interface import INGRESS, Endpoint, Traffic
from svcdoctor.netpol.service import (
    Backend,
    backends,
    by_service_port,
    cilium_engaged,
    client_endpoint,
    one_pod,
    stack_of,
)
from svcdoctor.netpol.tiers import TIER_ADMIN, TIER_BASELINE, TIER_DEFAULT, TIER_NETWORK_POLICY, Decision

ADMIN_RESOURCES = ("adminnetworkpolicies", "baselineadminnetworkpolicies", "clusternetworkpolicies")
CILIUM_RESOURCES = ("ciliumnetworkpolicies", "ciliumclusterwidenetworkpolicies")
#: The kinds Cilium's layer reads: a snapshot that holds none of a kind may only not have recorded it.
CILIUM_KINDS = ("CiliumNetworkPolicy", "CiliumClusterwideNetworkPolicy")


@dataclass(frozen=True)
class Denial:
    backend: Backend
    decision: Decision


def denials(context: Context, wanted: Callable[[Decision], bool], tiers: set[str] | None = None,
            allowed: list[Decision] | None = None) -> Iterator[tuple[str, list[Backend], list[Denial]]]:
    """Per Service port: its backends and the denied directions ``wanted`` picks (either direction).

    ``tiers`` collects the tier that decided each direction of each connection; ``allowed`` the
    directions ``wanted`` picks that were allowed, of the connections no direction denies.
    """
    context.require_service()
    if not context.has_selector:
        raise Skip("the Service has no selector: its endpoints are not Pods svcdoctor can judge")
    pairs = backends(context)
    if not pairs:
        raise Skip("the Service has no backend Pod to judge (steps 3–5 say why)")
    client = client_endpoint(context)
    stack = stack_of(context)
    for label, items in by_service_port(pairs).items():
        found = []
        for item in items:
            ingress, egress = stack.connection(client, item.endpoint, item.traffic)
            if tiers is not None:
                tiers.update(decision.tier for decision in (egress, ingress) if decision is not None)
            for decision in (egress, ingress):
                if decision is not None and not decision.allowed and wanted(decision):
                    found.append(Denial(item, decision))
                    break
            else:
                if allowed is not None:
                    allowed.extend(d for d in (egress, ingress) if d is not None and wanted(d))
        yield label, items, found


def scope_text(items: list[Backend], found: list[Denial]) -> tuple[str, bool]:
    pods = sorted({str(d.backend.endpoint) for d in found})
    all_denied = len(pods) == len({str(i.endpoint) for i in items})
    if not all_denied:
        return f"{len(pods)} of its {len({str(i.endpoint) for i in items})} Pods ({', '.join(pods[:3])})", False
    if len(pods) == 1:
        return one_pod(found[0].backend.endpoint), True
    return f"all {len(pods)} of its Pods", True


def require_readable(context: Context, resources: tuple[str, ...]) -> None:
    for resource in resources:
        missing = context.snapshot.missing(resource)
        if missing is not None and "404" not in missing.reason:
            raise Unknown(f"could not {missing.verb} {resource}: {missing.reason}")


# -- the admin tiers ------------------------------------------------------------------------


def admin_peer(remote: Endpoint) -> dict[str, Any]:
    """An admin-policy peer for exactly ``remote`` (its namespace and app labels, or its address)."""
    if remote.kind != "pod" or remote.host_network:
        ip = remote.ips[0] if remote.ips else "0.0.0.0"
        return {"networks": [f"{ip}/{128 if ':' in ip else 32}"]}
    labels = identity_labels(remote.label_map)
    return {"pods": {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": remote.namespace}},
                     "podSelector": {"matchLabels": labels} if labels else {}}}


def admin_rule(policy: AdminPolicy, direction: str, remote: Endpoint, traffic: Traffic, action: str) -> dict[str, Any]:
    side = "from" if direction == INGRESS else "to"
    name = f"{action.lower()}-{remote.name or 'client'}"[:100]
    rule: dict[str, Any] = {"name": name, "action": action, side: [admin_peer(remote)]}
    if policy.ref.kind == "ClusterNetworkPolicy":
        rule["protocols"] = [{traffic.protocol.lower(): {"destinationPort": {"number": traffic.port}}}]
    else:
        rule["ports"] = [{"portNumber": {"protocol": traffic.protocol, "port": traffic.port}}]
    return rule


def _dump(rule: dict[str, Any]) -> str:
    return yaml.safe_dump([rule], sort_keys=False, default_flow_style=False).rstrip()


def admin_fix(decision: Decision, verdict: RuleVerdict) -> str:
    """The smallest change that lets the connection through this tier, as words and YAML."""
    policy, rule = verdict.policy, verdict.rule
    field_name = "ingress" if decision.direction == INGRESS else "egress"
    remote = decision.remote
    edit = f"kubectl edit {policy.ref.kind.lower()} {policy.ref.name}"
    if policy.tier == ADMIN:
        allow = "Accept" if policy.ref.kind == "ClusterNetworkPolicy" else ALLOW
        yaml_text = _dump(admin_rule(policy, decision.direction, remote, decision.traffic, "Pass"))
        return (f"Smallest change (a cluster administrator's): insert before {field_name} rule {rule.index + 1} of "
                f"{policy.title} a Pass rule for {remote} on {decision.traffic}, so the namespace's "
                f"NetworkPolicies decide ({edit}; spec.{field_name}[{rule.index}] becomes):\n{yaml_text}\n"
                f"Or use action {allow} to admit it whatever the NetworkPolicies say, or narrow the rule's peers.")
    subject = decision.subject
    peer: dict[str, Any]
    if remote.kind == "pod" and not remote.host_network:
        peer = {"podSelector": {"matchLabels": identity_labels(remote.label_map)}}
        if remote.namespace != subject.namespace:
            peer["namespaceSelector"] = {"matchLabels": {"kubernetes.io/metadata.name": remote.namespace}}
    else:
        peer = {"ipBlock": {"cidr": f"{remote.ips[0] if remote.ips else '0.0.0.0'}/32"}}
    labels = identity_labels(subject.label_map)
    side = "from" if decision.direction == INGRESS else "to"
    network_policy = {
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": f"allow-{remote.name or 'client'}", "namespace": subject.namespace},
        "spec": {"podSelector": {"matchLabels": labels}, "policyTypes": [field_name.capitalize()],
                 field_name: [{side: [peer], "ports": [{"protocol": decision.traffic.protocol,
                                                        "port": decision.traffic.port}]}]}}
    return (f"Smallest change: the baseline tier only decides for Pods no NetworkPolicy selects — a NetworkPolicy "
            f"in {subject.namespace} that admits {remote} overrides {policy.title} (a namespace owner's change):\n"
            + yaml.safe_dump(network_policy, sort_keys=False).rstrip()
            + f"\nOr change {field_name} rule {rule.index + 1} of {policy.title} ({edit}).")


def admin_findings(check: Check, context: Context) -> Iterator[Finding]:
    """SD606: one finding per Service port on which an admin or baseline rule denies the client."""
    stack_check_inputs(context, ADMIN_RESOURCES)
    reached: set[str] = set()
    yield from _admin_findings(check, context, denials(context, lambda d: d.tier in (TIER_ADMIN, TIER_BASELINE),
                                                       reached))
    # The Admin tier is asked first for every connection; the Baseline tier only for what neither it nor
    # a NetworkPolicy decided. The kinds of a tier that was asked and that the snapshot does not hold
    # may hold a rule that decides otherwise.
    kinds = ["AdminNetworkPolicy", "ClusterNetworkPolicy"]
    if reached & {TIER_BASELINE, TIER_DEFAULT}:
        kinds.insert(1, "BaselineAdminNetworkPolicy")
    context.note_unrecorded_kinds((kind, "") for kind in kinds)


def _admin_findings(check: Check, context: Context,
                    ports: Iterator[tuple[str, list[Backend], list[Denial]]]) -> Iterator[Finding]:
    namespace, name = context.target.namespace, context.target.name
    for label, items, found in ports:
        if not found:
            continue
        first = found[0].decision
        tier = first.admin if first.tier == TIER_ADMIN else first.baseline
        assert tier is not None and tier.decided_by is not None
        verdict = tier.decided_by
        scope, all_denied = scope_text(items, found)
        what = "ingress to" if first.direction == INGRESS else f"egress of {first.subject} to"
        tier_word = "Admin tier, evaluated before any NetworkPolicy" if first.tier == TIER_ADMIN else (
            "Baseline tier: no NetworkPolicy selects the Pod, so the baseline decides")
        message = (f"{verdict.policy.ref.kind} {verdict.policy.ref.name} denies {context.client} → Service "
                   f"{namespace}/{name} port {label} (at {first.traffic} on the Pods): {what} {scope} is denied by "
                   f"{verdict.rule.label(first.word)} ({tier_word}), which matches: {verdict.reason}.")
        if tier.notes:
            message += " Note: " + "; ".join(tier.notes) + "."
        evidence = [Evidence(v.policy.ref, f"spec.{first.word}[{v.rule.index}]", v.rule.written_action,
                             f"{'matches' if v.matched else 'does not match'}: {v.reason}") for v in tier.considered]
        yield check.finding(
            message,
            severity=Severity.ERROR if all_denied else Severity.WARNING,
            evidence=evidence,
            next=[f"kubectl get {verdict.policy.ref.kind.lower()} {verdict.policy.ref.name} -o yaml",
                  f"kubectl get {verdict.policy.ref.kind.lower()} --sort-by=.spec.priority"],
            fix=admin_fix(first, verdict),
            subject=verdict.policy.ref,
            subject_field=f"spec.{first.word}[{verdict.rule.index}]",
            key=label,
        )


def stack_check_inputs(context: Context, resources: tuple[str, ...]) -> None:
    if context.client is None:
        raise Skip("no client: give --from, --from-ip or --from-node to judge one")
    require_readable(context, resources)


# -- Cilium ---------------------------------------------------------------------------------


def cilium_fix(decision: Decision) -> str:
    cilium = decision.cilium
    assert cilium is not None
    remote = decision.remote
    if cilium.denied_by is not None:
        match = cilium.denied_by
        return (f"Smallest change: the deny rule wins over every allow, so narrow or remove {match.where} "
                f"(kubectl edit {match.policy.ref.kind.lower()} {match.policy.ref.name}"
                f"{' -n ' + match.policy.ref.namespace if match.policy.ref.namespace else ''}).")
    policy = cilium.selecting[0]
    side = "fromEndpoints" if decision.direction == INGRESS else "toEndpoints"
    section = "ingress" if decision.direction == INGRESS else "egress"
    rule: dict[str, Any]
    if remote.kind == "pod" and not remote.host_network:
        labels = {f"k8s:{k}": v for k, v in identity_labels(remote.label_map).items()}
        labels["k8s:io.kubernetes.pod.namespace"] = remote.namespace
        rule = {side: [{"matchLabels": labels}]}
    elif remote.kind == "node" or remote.host_network:
        rule = {("fromEntities" if decision.direction == INGRESS else "toEntities"): ["host", "remote-node"]}
    else:
        rule = {("fromCIDR" if decision.direction == INGRESS else "toCIDR"):
                [f"{remote.ips[0] if remote.ips else '0.0.0.0'}/32"]}
    rule["toPorts"] = [{"ports": [{"port": str(decision.traffic.port), "protocol": decision.traffic.protocol}]}]
    where = f"spec.{section}" if not policy.in_specs else f"specs[{policy.position}].{section}"
    in_namespace = f" -n {policy.ref.namespace}" if policy.ref.namespace else ""
    return (f"Smallest change: append to {where} of {policy.where} (kubectl edit "
            f"{policy.ref.kind.lower()} {policy.ref.name}{in_namespace}):\n{_dump(rule)}")


def cilium_findings(check: Check, context: Context) -> Iterator[Finding]:
    """SD607: one finding per Service port on which Cilium's merged policies deny the client."""
    stack_check_inputs(context, CILIUM_RESOURCES)
    client = context.client
    namespaces = {context.target.namespace} | ({client.namespace} if client and client.kind == "pod" else set())
    context.note_unrecorded_kinds((kind, namespace) for kind in CILIUM_KINDS for namespace in sorted(namespaces))
    if stack_of(context).cilium.empty:
        return
    namespace, name = context.target.namespace, context.target.name
    allowed: list[Decision] = []
    for label, items, found in denials(context, lambda d: d.tier == TIER_NETWORK_POLICY and cilium_engaged(d),
                                       allowed=allowed):
        if not found:
            continue
        first = found[0].decision
        cilium = first.cilium
        assert cilium is not None
        scope, all_denied = scope_text(items, found)
        what = "ingress to" if first.direction == INGRESS else f"egress of {first.subject} to"
        head = (f"Cilium policy denies {context.client} → Service {namespace}/{name} port {label} "
                f"(at {first.traffic} on the Pods): {what} {scope} is denied")
        if cilium.denied_by is not None:
            message = f"{head} by {cilium.denied_by.where}, which matches: {cilium.denied_by.reason} (deny rules win)."
        else:
            names = ", ".join(dict.fromkeys(p.where for p in cilium.selecting))
            extra = " and by NetworkPolicy, whose rules do not admit it either" if first.network_policy_selects else ""
            message = (f"{head}: {first.subject} is in default deny for {first.word} because {names} select"
                       f"{'s' if len(cilium.selecting) == 1 else ''} it{extra}, and no allow rule admits "
                       f"{first.remote} on {first.traffic}.")
            if cilium.misses:
                message += " Nearest: " + "; ".join(f"{m.where}: {m.reason}" for m in cilium.misses[:2]) + "."
        if cilium.notes:
            message += " Note: " + "; ".join(cilium.notes) + "."
        evidence = [Evidence(p.ref, f"{_spec_of(p)}.{first.word}",
                             None, "selects the Pod" + (" (default deny)" if p.default_deny[first.direction] else ""))
                    for p in cilium.selecting]
        subject = (cilium.denied_by.policy.ref if cilium.denied_by is not None else cilium.selecting[0].ref)
        yield check.finding(
            message,
            severity=Severity.ERROR if all_denied else Severity.WARNING,
            evidence=evidence,
            next=[f"kubectl get ciliumnetworkpolicy -n {first.subject.namespace} -o yaml",
                  "kubectl get ciliumclusterwidenetworkpolicy -o yaml",
                  "kubectl -n kube-system exec ds/cilium -- cilium-dbg policy get",
                  "hubble observe --verdict DROPPED --to-namespace " + first.subject.namespace],
            fix=cilium_fix(first),
            subject=subject,
            key=label,
        )
    yield from _l7_not_evaluated(check, context, allowed)


def _spec_of(policy: CiliumPolicyRule) -> str:
    """Where ``policy``'s rules sit in its object: ``spec``, or ``specs[N]`` of a multi-rule policy."""
    return f"specs[{policy.position}]" if policy.in_specs else "spec"


def _l7_not_evaluated(check: Check, context: Context, allowed: list[Decision]) -> Iterator[Finding]:
    """Allowed at L3/L4 by a Cilium rule with L7 rules: what those admit is not evaluated, so step 6 is
    ``partial`` and an info finding names the rules — never a plain pass."""
    admitting: dict[tuple[str, str], CiliumMatch] = {}
    for decision in allowed:
        match = decision.cilium.allowed_by if decision.cilium is not None else None
        if match is not None and match.rule.l7:
            admitting.setdefault((match.where, str(decision.traffic)), match)
    if not admitting:
        return
    matches = list(dict.fromkeys(admitting.values()))
    rules = "; ".join(f"{match.where} ({', '.join(match.rule.l7)})" for match in matches)
    subject = context.target.namespace
    context.note_unverified(f"Cilium L7 rules not evaluated: {rules}",
                            f"send the request itself, or hubble observe --type l7 --to-namespace {subject}")
    traffic = ", ".join(dict.fromkeys(traffic for _where, traffic in admitting))
    yield check.finding(
        f"Cilium admits {context.client} at L3/L4 ({traffic}) by {rules}, whose L7 rules are not evaluated: "
        "requests they do not allow are refused (HTTP 403, or dropped), so this is not known to work.",
        severity=Severity.INFO,
        evidence=[Evidence(match.policy.ref,
                           f"{_spec_of(match.policy)}.{match.rule.section}[{match.rule.index}].toPorts",
                           None, f"L7 rules: {', '.join(match.rule.l7)}") for match in matches],
        next=[f"hubble observe --type l7 --to-namespace {subject}",
              f"kubectl get ciliumnetworkpolicy -n {subject} -o yaml"],
        fix=("Nothing to change if the client's requests are ones these L7 rules allow; otherwise add its "
             "requests (method, path, …) to toPorts[].rules of that rule."),
        subject=matches[0].policy.ref,
        key="l7",
    )

