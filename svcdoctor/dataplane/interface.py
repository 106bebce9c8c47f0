"""The data model of a node's data plane: parsed rules, packets, and where a packet ends.

Parsers (:mod:`.iptables`, :mod:`.nftables`, :mod:`.ipvs`) turn what a node prints into a
:class:`Ruleset`; the tracer (:mod:`.trace`) follows a :class:`Packet` through it as the kernel
would and answers with a :class:`Trace`. Everything here is immutable and free of I/O.

Rules from iptables and nftables share one small intermediate form: a rule is a tuple of
*matches* (each a tuple whose first item names its kind) and one *action*. The kinds:

matches
    ``("saddr"|"daddr", networks, negated)`` — networks: tuple of ``(version, network, mask)``
    integers; ``("saddr_set"|"daddr_set", set_name, negated)``; ``("proto", name, negated)``;
    ``("sport"|"dport", ranges, negated)`` — ranges: tuple of ``(low, high)``;
    ``("src_type"|"dst_type", "LOCAL", negated)`` (addrtype / fib … type local);
    ``("mark", value, mask, negated)``; ``("ctstate", states, negated)``;
    ``("random", probability)`` (statistic random / nth); ``("recent", name, seconds)``
    (session affinity: true only for a client seen before); ``("iface", "in"|"out", name,
    negated)``; ``("physdev", option, negated)``; ``("unknown", text)`` (read, but not understood:
    the tracer cannot tell whether it matches); ``("unreadable", text)`` (a line the parser could
    not read at all, kept where it stood so that a packet reaching it is known to be undecided).
actions
    ``("jump"|"goto", chain)``; ``("accept",)``; ``("drop",)``; ``("reject", icmp_type)`` (see
    :data:`REJECT_TYPES`);
    ``("return",)``; ``("dnat", ip, port)``; ``("masquerade",)``; ``("mark", op, value, mask)``
    with op ``or``/``xor``/``set``/``and``; ``("vmap", key_fields, map_name_or_None,
    inline_elements)``; ``("numgen", modulus, elements)``; ``("recent_set", name)``;
    ``("none",)`` (counters, comments, logging); ``("unknown", text)``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType, MemberDescriptorType
from typing import Any

Match = tuple[Any, ...]
Action = tuple[Any, ...]

#: Built-in iptables chains → (hook, priority of their table).
IPTABLES_TABLE_PRIORITY = {"raw": -300, "mangle": -150, "nat": -100, "filter": 0, "security": 50}
NAT_SOURCE_PRIORITY = 100

#: The (shared, read-only) index of a chain too short to need one.
NO_INDEX: Mapping[int, tuple[int, ...]] = MappingProxyType({})

#: The verdicts a trace can end with. "" means no rule decided: the packet goes on untouched.
VERDICTS = ("ACCEPT", "DROP", "REJECT", "")

#: What a client's connect() reports for each kind of reject (the kernel's ICMP error mapping;
#: iptables ``--reject-with`` and nft ``reject with …`` names, normalised by the parsers).
REJECT_TYPES: dict[str, str] = {
    "port-unreachable": "connection refused",
    "tcp-reset": "connection refused",
    "host-unreachable": "no route to host",
    "host-prohibited": "no route to host",
    "admin-prohibited": "no route to host",
    "addr-unreachable": "no route to host",
    "net-unreachable": "network is unreachable",
    "net-prohibited": "network is unreachable",
    "no-route": "network is unreachable",
    "prot-unreachable": "protocol not available",
    "policy-fail": "network is unreachable",
    "reject-route": "network is unreachable",
}


def reject_type(text: str) -> str:
    """An iptables ``--reject-with`` value or an nft ``reject with`` code, normalised: ``icmp-host-prohibited``,
    ``icmp6-adm-prohibited``, ``host-prohibited`` → ``host-prohibited`` / ``admin-prohibited``; ``tcp-reset`` /
    ``reset`` → ``tcp-reset``."""
    name = text.strip().lower()
    for prefix in ("icmpv6-", "icmp6-", "icmpx-", "icmp-"):
        if name.startswith(prefix):
            name = name[len(prefix):]
            break
    name = {"reset": "tcp-reset", "adm-prohibited": "admin-prohibited", "proto-unreachable": "prot-unreachable",
            "port-unreach": "port-unreachable", "host-unreach": "host-unreachable",
            "net-unreach": "net-unreachable"}.get(name, name)
    return name


def client_sees(icmp_type: str) -> str:
    """What a client connecting through a reject of ``icmp_type`` is told ("" when not known)."""
    return REJECT_TYPES.get(icmp_type, "")


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule: where it is, what it matches, what it does, and its text as the node printed it."""

    table: str
    chain: str
    matches: tuple[Match, ...]
    action: Action
    text: str
    #: 1-based line in the dump it was read from (0 when unknown).
    line: int = 0
    comment: str = ""

    def evidence(self) -> str:
        """The rule as a person would grep for it in the dump."""
        return self.text


@dataclass(frozen=True, slots=True)
class Chain:
    """A chain of rules; base chains (built-in iptables chains, nft hooked chains) have a hook."""

    table: str
    name: str
    rules: tuple[Rule, ...]
    #: ``prerouting`` | ``input`` | ``forward`` | ``output`` | ``postrouting`` | "" (not a base chain).
    hook: str = ""
    priority: int = 0
    #: ``filter`` | ``nat`` | ``route`` … (what kind of base chain), "" for regular chains.
    type: str = ""
    #: What happens when a base chain ends: ``accept`` or ``drop``.
    policy: str = "accept"
    #: rule indexes by exact destination address (an int), for rules matching one host address.
    by_destination: Mapping[int, tuple[int, ...]] = field(default_factory=lambda: NO_INDEX, repr=False, compare=False)
    #: rule indexes by exact destination port, for rules matching one port (and no one host).
    by_port: Mapping[int, tuple[int, ...]] = field(default_factory=lambda: NO_INDEX, repr=False, compare=False)
    #: indexes of rules that may match any destination (always examined).
    general: tuple[int, ...] = field(default=(), repr=False, compare=False)


def _slot_setters(cls: type, names: tuple[str, ...]) -> tuple[Callable[[object, object], None], ...] | None:
    """The setters of a frozen slotted dataclass's fields ``names`` (all of them, in order), or
    None when ``cls`` is not such a class (then its own constructor is used)."""
    slots = [vars(cls).get(name) for name in names]
    if (tuple(item.name for item in dataclasses.fields(cls)) != names or hasattr(cls, "__post_init__")
            or not all(isinstance(slot, MemberDescriptorType) for slot in slots)):
        return None
    return tuple(slot.__set__ for slot in slots)  # type: ignore[union-attr]


# Parsers make tens of thousands of rules and chains per node dump. A frozen dataclass's
# ``__init__`` sets each field with ``object.__setattr__``, looking the name up on the type every
# time; setting the slots through their descriptors makes the same object in about two thirds of
# the time. Each maker is checked against the class's own constructor when this module loads.
_new_object = object.__new__


def _rule_maker() -> Callable[[str, str, tuple[Match, ...], Action, str, int, str], Rule]:
    setters = _slot_setters(Rule, ("table", "chain", "matches", "action", "text", "line", "comment"))
    if setters is None:
        return Rule
    set_table, set_chain, set_matches, set_action, set_text, set_line, set_comment = setters

    def make(table: str, chain: str, matches: tuple[Match, ...], action: Action, text: str, line: int,
             comment: str) -> Rule:
        rule = _new_object(Rule)
        set_table(rule, table)
        set_chain(rule, chain)
        set_matches(rule, matches)
        set_action(rule, action)
        set_text(rule, text)
        set_line(rule, line)
        set_comment(rule, comment)
        return rule

    sample = ("t", "c", (("proto", "tcp", False),), ("accept",), "tcp accept", 1, "")
    return make if make(*sample) == Rule(*sample) else Rule


def _chain_maker() -> Callable[[str, str, tuple[Rule, ...], str, int, str, str, Mapping[int, tuple[int, ...]],
                                Mapping[int, tuple[int, ...]], tuple[int, ...]], Chain]:
    setters = _slot_setters(Chain, ("table", "name", "rules", "hook", "priority", "type", "policy", "by_destination",
                                    "by_port", "general"))
    if setters is None:
        return Chain
    (set_table, set_name, set_rules, set_hook, set_priority, set_type, set_policy, set_by_destination, set_by_port,
     set_general) = setters

    def make(table: str, name: str, rules: tuple[Rule, ...], hook: str, priority: int, type: str, policy: str,
             by_destination: Mapping[int, tuple[int, ...]], by_port: Mapping[int, tuple[int, ...]],
             general: tuple[int, ...]) -> Chain:
        chain = _new_object(Chain)
        set_table(chain, table)
        set_name(chain, name)
        set_rules(chain, rules)
        set_hook(chain, hook)
        set_priority(chain, priority)
        set_type(chain, type)
        set_policy(chain, policy)
        set_by_destination(chain, by_destination)
        set_by_port(chain, by_port)
        set_general(chain, general)
        return chain

    sample = ("nat", "X", (), "output", -100, "nat", "accept", NO_INDEX, {80: (0,)}, (1,))
    made, expected = make(*sample), Chain(*sample)
    same = made == expected and all(getattr(made, item.name) == getattr(expected, item.name)
                                    for item in dataclasses.fields(Chain))
    return make if same else Chain


#: ``Rule(table, chain, matches, action, text, line, comment)``, quicker (all fields, in order).
new_rule = _rule_maker()
#: ``Chain(table, name, rules, hook, priority, type, policy, by_destination, by_port, general)``,
#: quicker (all fields, in order).
new_chain = _chain_maker()


@dataclass(frozen=True)
class NamedSet:
    """An nftables set or map (or an ipset): typed elements, and the verdict of each for maps."""

    table: str
    name: str
    #: Key field types, e.g. ``("ipv4_addr", "inet_proto", "inet_service")``.
    key_types: tuple[str, ...]
    #: Element key (tuple of normalised values) → verdict action (maps) or None (sets).
    elements: Mapping[tuple[Any, ...], Action | None]
    #: Address ranges/prefixes of an interval set: tuple of ``(version, network, mask)``.
    intervals: tuple[tuple[int, int, int], ...] = ()
    #: Element key → its comment (kube-proxy writes the Service port there).
    comments: Mapping[tuple[Any, ...], str] = field(default_factory=dict)
    #: Dynamic sets (session affinity) hold addresses learnt at run time, not in the dump.
    dynamic: bool = False
    timeout: str = ""
    #: The text of the set's definition, for evidence.
    text: str = ""
    #: Elements of the listing that could not be read (a look-up that finds nothing is then undecided).
    unread: tuple[str, ...] = ()


@dataclass(frozen=True, eq=False)
class Ruleset:
    """Everything parsed from one node's iptables-save / nft list ruleset output."""

    #: ``iptables`` or ``nftables``.
    source: str
    #: (table, chain name) → Chain. Table is ``nat``/``filter``… for iptables, ``ip kube-proxy`` for nft.
    chains: Mapping[tuple[str, str], Chain]
    sets: Mapping[tuple[str, str], NamedSet] = field(default_factory=dict)
    #: IP family of the rules: 4, 6, or 0 for both (nft ``inet``).
    family: int = 4
    #: Lines the parser could not read, with their line numbers (never silently lost).
    problems: tuple[str, ...] = ()
    #: The problems whose place in the rules is not known (outside any chain): every packet traced
    #: through this rule set may have met them. (Lines inside a chain stay there as ``unreadable``
    #: rules; elements of a set, as the set's ``unread``.)
    unplaced: tuple[str, ...] = ()

    def chain(self, table: str, name: str) -> Chain | None:
        return self.chains.get((table, name))

    def base_chains(self, hook: str) -> list[Chain]:
        """The chains attached to a netfilter hook, in the order the kernel runs them."""
        return list(self._base_chains.get(hook, ()))

    @cached_property
    def memo(self) -> dict[str, dict[Any, Any]]:
        """Results the tracer derives once per rule set (the rules never change after parsing)."""
        return {}

    @cached_property
    def _base_chains(self) -> dict[str, tuple[Chain, ...]]:
        by_hook: dict[str, list[Chain]] = {}
        for chain in self.chains.values():
            if chain.hook:
                by_hook.setdefault(chain.hook, []).append(chain)
        return {hook: tuple(sorted(chains, key=lambda chain: chain.priority)) for hook, chains in by_hook.items()}

    @property
    def rule_count(self) -> int:
        return sum(len(chain.rules) for chain in self.chains.values())


@dataclass(frozen=True)
class Packet:
    """The first packet of a new connection, as the node sees it."""

    dst: str
    dport: int
    protocol: str = "tcp"
    #: The client's address; matters for masquerade, externalTrafficPolicy and source ranges.
    src: str = "203.0.113.77"
    sport: int = 40000

    def __str__(self) -> str:
        return f"{self.src} → {self.dst}:{self.dport}/{self.protocol}"


@dataclass(frozen=True)
class Branch:
    """One way the packet can go, and how likely it is."""

    probability: float
    #: ``ACCEPT`` (a rule accepted it), ``DROP``, ``REJECT``, or "" (no rule decided).
    verdict: str
    #: ``(ip, port)`` the packet was DNATed to, or None.
    destination: tuple[str, int] | None
    masquerade: bool
    #: The rules that decided this branch, in the order they were hit.
    rules: tuple[Rule, ...] = ()


@dataclass(frozen=True)
class Trace:
    """Where a packet can end, with probabilities; what was uncertain about it."""

    packet: Packet
    branches: tuple[Branch, ...]
    #: ``prerouting`` (arrived from outside) or ``output`` (sent by the node itself).
    entry: str = "prerouting"
    #: Session affinity seen on the way (``recent`` / nft affinity set / IPVS persistence): seconds.
    affinity_seconds: int | None = None
    #: Matches the tracer could not evaluate and other caveats, in plain words.
    notes: tuple[str, ...] = ()
    #: Lines of the dump the packet reached that could not be read, or read but not evaluated, and
    #: that could change where it ends: the trace is then undecided (never a conclusion).
    undecided: tuple[str, ...] = ()

    @property
    def destinations(self) -> dict[tuple[str, int], float]:
        """DNAT targets that are not dropped afterwards → their total probability."""
        result: dict[tuple[str, int], float] = {}
        for branch in self.branches:
            if branch.destination is not None and branch.verdict not in ("DROP", "REJECT"):
                result[branch.destination] = result.get(branch.destination, 0.0) + branch.probability
        return result

    @property
    def verdicts(self) -> set[str]:
        """Every verdict of a branch without a usable destination (DROP, REJECT, ACCEPT, "")."""
        return {branch.verdict for branch in self.branches
                if branch.destination is None or branch.verdict in ("DROP", "REJECT")}

    @property
    def masquerade(self) -> bool:
        return any(branch.masquerade for branch in self.branches)

    @property
    def decided(self) -> bool:
        return not self.undecided

    def rejects(self) -> list[tuple[float, Rule | None]]:
        """Each rejecting branch's share and the rule that rejected it (its last rule)."""
        return [(branch.probability, branch.rules[-1] if branch.rules else None) for branch in self.branches
                if branch.verdict == "REJECT"]

    def rules(self) -> list[Rule]:
        """Every rule any branch hit, in first-seen order (evidence)."""
        seen: dict[int, Rule] = {}
        for branch in self.branches:
            for rule in branch.rules:
                seen.setdefault(id(rule), rule)
        return list(seen.values())

    def summary(self) -> str:
        """One line: ``10.0.0.1:80 (50%), 10.0.0.2:80 (50%)`` or ``REJECT``."""
        parts = [f"{ip}:{port} ({probability:.0%})" for (ip, port), probability in sorted(self.destinations.items())]
        parts += [verdict or "no rule" for verdict in sorted(self.verdicts)]
        return ", ".join(parts)
