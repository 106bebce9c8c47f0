"""What the NetworkPolicy evaluator takes and returns: small frozen dataclasses, nothing else.

The evaluator (:mod:`svcdoctor.netpol.evaluator`) is a pure function of a Snapshot and these
values. A :class:`Verdict` says whether one connection (a source, a destination Pod, a port) is
allowed, and carries the whole explanation: for each direction the policies that select the Pod
doing the isolating, for each of their rules whether its peers and its ports admit the other side
(and which selector or port did not), the nearest rule, and the smallest change that would allow
the connection (:class:`Suggestion`, with a YAML snippet).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from svcdoctor.k8s import ObjectRef

INGRESS = "ingress"
EGRESS = "egress"
DIRECTIONS = (INGRESS, EGRESS)
PROTOCOLS = ("TCP", "UDP", "SCTP")


@dataclass(frozen=True)
class ContainerPort:
    """One port a Pod's container declares: what named ports in policies resolve against."""

    name: str
    number: int
    protocol: str = "TCP"


@dataclass(frozen=True)
class Endpoint:
    """One end of a connection: a Pod, an address outside the cluster, or a node (host network)."""

    #: ``pod`` | ``ip`` | ``node``.
    kind: str
    namespace: str = ""
    name: str = ""
    #: The addresses policies' ``ipBlock`` rules compare (a Pod's IPs, the node's InternalIP).
    ips: tuple[str, ...] = ()
    labels: tuple[tuple[str, str], ...] = ()
    ports: tuple[ContainerPort, ...] = ()
    #: The node a Pod runs on (or the node itself, for a node endpoint).
    node: str = ""
    host_network: bool = False
    #: How a report names it when not by namespace/name (a stand-in Pod: its workload's template).
    shown: str = field(default="", compare=False)

    @property
    def label_map(self) -> dict[str, str]:
        return dict(self.labels)

    @property
    def ref(self) -> ObjectRef | None:
        if self.kind == "pod":
            return ObjectRef("Pod", self.namespace, self.name)
        if self.kind == "node":
            return ObjectRef("Node", "", self.name)
        return None

    def __str__(self) -> str:
        if self.kind == "pod":
            return self.shown or f"{self.namespace}/{self.name}"
        if self.kind == "node":
            return f"node/{self.name}" + (f" ({self.ips[0]})" if self.ips else "")
        return self.ips[0] if self.ips else "?"


@dataclass(frozen=True)
class Traffic:
    """The port a connection arrives at on the destination Pod (after the Service's DNAT)."""

    port: int
    protocol: str = "TCP"

    def __str__(self) -> str:
        return f"{self.port}/{self.protocol}"


@dataclass(frozen=True)
class PeerResult:
    """How one ``from`` / ``to`` peer of a rule compares with the other side of the connection."""

    index: int
    matched: bool
    #: The peer in words, e.g. ``namespaceSelector team=web AND podSelector app=frontend``.
    description: str
    #: Why it matched or not, one phrase per selector.
    reasons: tuple[str, ...] = ()
    #: How many selector terms would have to change for it to match (0 when it matches).
    distance: int = 0


@dataclass(frozen=True)
class PortResult:
    """How one entry of a rule's ``ports`` compares with the connection's port."""

    index: int
    matched: bool
    description: str
    reason: str = ""


@dataclass(frozen=True)
class RuleResult:
    """One ingress or egress rule of a policy, judged against the connection."""

    index: int
    admits: bool
    peers_match: bool
    ports_match: bool
    #: Empty when the rule has no ``from``/``to``: every peer.
    peers: tuple[PeerResult, ...] = ()
    #: Empty when the rule has no ``ports``: every port.
    ports: tuple[PortResult, ...] = ()
    #: One line: why the rule admits the connection or not.
    summary: str = ""
    #: How far the rule is from admitting it (0 = admits): selector terms off plus one for the port.
    distance: int = 0


@dataclass(frozen=True)
class PolicyResult:
    """One policy that selects the isolated Pod, judged in one direction."""

    policy: ObjectRef
    direction: str
    admits: bool
    rules: tuple[RuleResult, ...] = ()
    #: A note about the policy as a whole (e.g. "has no ingress rules: it only isolates").
    note: str = ""

    @property
    def nearest_rule(self) -> RuleResult | None:
        candidates = [rule for rule in self.rules if not rule.admits]
        return min(candidates, key=lambda rule: (rule.distance, rule.index)) if candidates else None


@dataclass(frozen=True)
class Suggestion:
    """The smallest change found that would allow the connection."""

    policy: ObjectRef
    direction: str
    #: Plain words: "add port 8080/TCP to ingress rule 1 of …".
    change: str
    #: A YAML snippet to paste (the changed rule, or the rule to append).
    yaml: str
    #: Another way, in words (e.g. "or label the client app=frontend"), "" when none.
    alternative: str = ""


@dataclass(frozen=True)
class DirectionResult:
    """One direction of one connection: the destination's ingress or the source's egress."""

    direction: str
    #: The Pod whose policies decide this direction (destination for ingress, source for egress).
    subject: Endpoint
    #: The other side.
    remote: Endpoint
    traffic: Traffic
    allowed: bool
    #: Whether any policy of this direction selects ``subject`` (otherwise it is open).
    isolated: bool
    policies: tuple[PolicyResult, ...] = ()
    #: One line in plain words.
    reason: str = ""
    suggestion: Suggestion | None = None

    @property
    def nearest(self) -> tuple[PolicyResult, RuleResult | None] | None:
        """The policy (and rule) closest to allowing the connection."""
        best: tuple[int, int, PolicyResult, RuleResult | None] | None = None
        for order, policy in enumerate(self.policies):
            rule = policy.nearest_rule
            distance = rule.distance if rule is not None else 1000
            if best is None or (distance, order) < (best[0], best[1]):
                best = (distance, order, policy, rule)
        return (best[2], best[3]) if best else None

    def explain(self) -> list[str]:
        """The explanation as lines a person reads top to bottom."""
        lines = [self.reason]
        for policy in self.policies:
            head = f"policy {policy.policy.namespace}/{policy.policy.name}: " + (
                "admits" if policy.admits else "does not admit")
            if policy.note:
                head += f" ({policy.note})"
            lines.append(head)
            for rule in policy.rules:
                lines.append(f"  {self.direction} rule {rule.index + 1}: {rule.summary}")
        if self.suggestion is not None:
            lines.append(f"smallest change: {self.suggestion.change}")
            if self.suggestion.alternative:
                lines.append(f"  or: {self.suggestion.alternative}")
        return lines

    def summary(self) -> str:
        """Two sentences: the verdict's reason, and the rule nearest to allowing the connection."""
        text = (self.reason[:1].upper() + self.reason[1:]) + "."
        nearest = self.nearest
        if not self.allowed and nearest is not None:
            policy, rule = nearest
            name = f"{policy.policy.namespace}/{policy.policy.name}"
            if rule is None:
                text += f" {name} has no {self.direction} rule at all: it only isolates."
            else:
                text += (f" Nearest to allowing it: {self.direction} rule {rule.index + 1} of {name}, "
                         f"which {rule.summary}.")
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "direction": self.direction, "subject": str(self.subject), "remote": str(self.remote),
            "traffic": str(self.traffic), "allowed": self.allowed, "isolated": self.isolated,
            "reason": self.reason,
            "policies": [{
                "policy": f"{p.policy.namespace}/{p.policy.name}", "admits": p.admits, "note": p.note,
                "rules": [{"index": r.index, "admits": r.admits, "summary": r.summary} for r in p.rules],
            } for p in self.policies],
            "suggestion": None if self.suggestion is None else {
                "policy": f"{self.suggestion.policy.namespace}/{self.suggestion.policy.name}",
                "change": self.suggestion.change, "yaml": self.suggestion.yaml,
                "alternative": self.suggestion.alternative,
            },
        }


@dataclass(frozen=True)
class Verdict:
    """Whether ``source`` may open a connection to ``destination`` on ``traffic``: both directions."""

    source: Endpoint
    destination: Endpoint
    traffic: Traffic
    ingress: DirectionResult
    #: None when the source is not a Pod (no egress policy can apply to it).
    egress: DirectionResult | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def allowed(self) -> bool:
        return self.ingress.allowed and (self.egress is None or self.egress.allowed)
