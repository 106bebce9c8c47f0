"""The whole policy stack of one direction of a connection, tier by tier, as the APIs define it.

1. Admin tier (AdminNetworkPolicy, ClusterNetworkPolicy ``tier: Admin``): by ascending priority,
   the first matching rule decides — Allow/Accept and Deny are final, Pass goes on to 2.
2. The NetworkPolicy tier: Kubernetes NetworkPolicy and, on Cilium, CiliumNetworkPolicy and
   CiliumClusterwideNetworkPolicy, which Cilium merges with NetworkPolicy into one set of rules per
   endpoint (a deny rule wins over every allow; once any of them selects the Pod in a direction,
   only what some allow rule admits gets through). When anything here selects the Pod, its
   decision is final.
3. Baseline tier (BaselineAdminNetworkPolicy, ClusterNetworkPolicy ``tier: Baseline``): the first
   matching Allow/Accept or Deny rule decides.
4. Nothing decided: allowed (the Kubernetes default).

A connection needs both the destination's ingress and the source's egress (Pods only) to allow it.

Checked against the network-policy-api conformance tests (v0.1.7 and v0.2.0) translated into
``tests/conformance/network_policy_api.yaml`` (see docs/policy-tiers.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from svcdoctor.netpol.admin import ADMIN, ALLOW, BASELINE, DENY, AdminEvaluator, TierDecision
from svcdoctor.netpol.cilium import CiliumDecision, CiliumEvaluator
from svcdoctor.netpol.evaluator import Evaluator
from svcdoctor.netpol.interface import EGRESS, INGRESS, Endpoint, Traffic
from svcdoctor.snapshot import Snapshot

#: Which layer decided a direction.
TIER_ADMIN = "admin"
TIER_NETWORK_POLICY = "networkpolicy"
TIER_BASELINE = "baseline"
TIER_DEFAULT = "default"


@dataclass(frozen=True)
class Decision:
    """One direction of one connection through every tier."""

    direction: str
    subject: Endpoint
    remote: Endpoint
    traffic: Traffic
    allowed: bool
    #: :data:`TIER_ADMIN` | :data:`TIER_NETWORK_POLICY` | :data:`TIER_BASELINE` | :data:`TIER_DEFAULT`.
    tier: str
    admin: TierDecision | None = None
    baseline: TierDecision | None = None
    #: Whether a Kubernetes NetworkPolicy selects the subject in this direction.
    network_policy_selects: bool = False
    #: Whether the NetworkPolicies alone admit the connection (True when none selects).
    network_policy_admits: bool = True
    cilium: CiliumDecision | None = None

    @property
    def word(self) -> str:
        return "ingress" if self.direction == INGRESS else "egress"


class PolicyStack:
    """Every policy layer over one Snapshot; each evaluator is built once and cached."""

    def __init__(self, snapshot: Snapshot, network_policies: Evaluator | None = None) -> None:
        self.snapshot = snapshot
        self.network_policies = network_policies or Evaluator(snapshot)
        self.admin = AdminEvaluator(snapshot)
        self.cilium = CiliumEvaluator(snapshot)

    def decide(self, direction: str, subject: Endpoint, remote: Endpoint, traffic: Traffic) -> Decision:
        """``subject`` is the destination for ingress and the source for egress."""
        admin = self.admin.decide(ADMIN, direction, subject, remote, traffic) if self.admin.by_tier[ADMIN] else None
        if admin is not None and admin.action in (ALLOW, DENY):
            return Decision(direction, subject, remote, traffic, admin.action == ALLOW, TIER_ADMIN, admin=admin)
        selects = bool(self.network_policies.selecting(subject, direction))
        admits = self.network_policies.decide(direction, subject, remote, traffic) if selects else True
        cilium = self.cilium.decide(direction, subject, remote, traffic) if not self.cilium.empty else None
        if cilium is not None and (cilium.enforced or cilium.denied_by is not None):
            own_node = self.network_policies.own_node(subject, remote, direction)
            allowed = cilium.denied_by is None and (own_node or cilium.allowed_by is not None
                                                    or (selects and admits))
            return Decision(direction, subject, remote, traffic, allowed, TIER_NETWORK_POLICY, admin=admin,
                            network_policy_selects=selects, network_policy_admits=admits, cilium=cilium)
        if selects:
            return Decision(direction, subject, remote, traffic, admits, TIER_NETWORK_POLICY, admin=admin,
                            network_policy_selects=True, network_policy_admits=admits, cilium=cilium)
        baseline = (self.admin.decide(BASELINE, direction, subject, remote, traffic)
                    if self.admin.by_tier[BASELINE] else None)
        if baseline is not None and baseline.action in (ALLOW, DENY):
            return Decision(direction, subject, remote, traffic, baseline.action == ALLOW, TIER_BASELINE,
                            admin=admin, baseline=baseline, cilium=cilium)
        return Decision(direction, subject, remote, traffic, True, TIER_DEFAULT, admin=admin, baseline=baseline,
                        cilium=cilium)

    def connection(self, source: Endpoint, destination: Endpoint, traffic: Traffic) -> tuple[Decision, Decision | None]:
        """The destination's ingress and (for a Pod source) the source's egress."""
        ingress = self.decide(INGRESS, destination, source, traffic)
        egress = self.decide(EGRESS, source, destination, traffic) if source.kind == "pod" else None
        return ingress, egress

    def allowed(self, source: Endpoint, destination: Endpoint, traffic: Traffic) -> bool:
        ingress, egress = self.connection(source, destination, traffic)
        return ingress.allowed and (egress is None or egress.allowed)
