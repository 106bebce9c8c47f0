"""Follow a packet through parsed rules the way the kernel does.

A new connection's first packet enters at ``prerouting`` (from another host or a Pod) or at
``output`` (sent by the node itself). At each netfilter hook every base chain runs in priority
order (iptables' built-in chains, nftables' hooked chains); NAT chains stop at the first
translation. After the pre-routing hooks the routing decision picks ``input`` (the new
destination is one of the node's addresses) or ``forward``; ``postrouting`` comes last, where
kube-proxy's masquerade rule looks at the mark its ``KUBE-MARK-MASQ`` / ``mark-for-masquerade``
chain set.

Nothing is looked up by chain name except the fixed names of kube-proxy's hook chains, used
only when a dump lacks the built-in jumps into them (kube-proxy's own restore input). Random
splits (``statistic``, ``numgen``) branch with their probabilities; session affinity
(``recent --rcheck``, nft affinity sets) is evaluated for a client seen for the first time and
reported.

What the tracer cannot evaluate is never guessed. A rule whose other matches hold but one of which
it cannot evaluate (an interface other than ``lo``, an ipset, a module it does not know) is
*undecided*: the packet is traced as if it did not match, then once more as if it did, and when
the two end differently the trace is undecided and quotes the rule. A line that could not be read
at all (kept in its chain as an ``unreadable`` rule), a jump to a chain or a look-up in a set the
dump lacks, a set whose elements were not all read, or an action the tracer does not model, met
by the packet, make the trace undecided at once; so do lines of a rule set that could not be
placed in any chain (``Ruleset.unplaced``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache
from operator import itemgetter
from typing import Any, Final, Literal

from svcdoctor.dataplane import addresses
from svcdoctor.dataplane.interface import Action, Branch, Chain, NamedSet, Packet, Rule, Ruleset, Trace

_MAX_DEPTH = 64

#: How kube-proxy hooks its iptables chains in (used only when a dump lacks those jumps).
_KUBE_PROXY_HOOKS: dict[str, dict[str, tuple[str, ...]]] = {
    "nat": {"prerouting": ("KUBE-SERVICES",), "output": ("KUBE-SERVICES",), "postrouting": ("KUBE-POSTROUTING",)},
    "filter": {"input": ("KUBE-PROXY-FIREWALL", "KUBE-NODEPORTS", "KUBE-EXTERNAL-SERVICES"),
               "forward": ("KUBE-PROXY-FIREWALL", "KUBE-FORWARD", "KUBE-SERVICES", "KUBE-EXTERNAL-SERVICES"),
               "output": ("KUBE-PROXY-FIREWALL", "KUBE-SERVICES")},
}


#: A packet on its way, as a plain tuple (the tracer makes tens per packet; a tuple is the
#: cheapest immutable record): ``(src, dst, dport, sport, proto, mark, dnat, masquerade, rules)``
#: — addresses as ``(version, integer)``, ``dnat`` the ``(ip, port)`` it was translated to or
#: None, ``rules`` the rules hit so far (evidence). Branches share a state until one changes it.
_State = tuple[tuple[int, int], tuple[int, int], int, int, str, int, "tuple[str, int] | None", bool,
               "tuple[Rule, ...]"]
_SRC: Final = 0
_DST: Final = 1
_DPORT: Final = 2
_SPORT: Final = 3
_PROTO: Final = 4
_MARK: Final = 5
_DNAT: Final = 6
_MASQUERADE: Final = 7
_RULES: Final = 8


class _Context:
    """One trace's notes and affinity, and the memos of the rule set being run."""

    __slots__ = ("affinity", "current", "entry", "forced", "guard_counts", "local", "notes", "outcomes", "purity",
                 "rulesets", "undecided", "visits")

    def __init__(self, rulesets: Sequence[Ruleset], local: frozenset[tuple[int, int]],
                 forced: frozenset[int] = frozenset()) -> None:
        self.rulesets = rulesets
        self.local = local
        self.notes: dict[str, None] = {}
        #: Rules met that the tracer could not decide: identity → (rule, whether tracing it as
        #: matching says what it would have done).
        self.undecided: dict[int, tuple[Rule, bool]] = {}
        #: Identities of undecided rules to trace as matching (the second look, see :func:`trace`).
        self.forced = forced
        #: Where the packet entered: ``prerouting`` or ``output``.
        self.entry = "prerouting"
        self.affinity: int | None = None
        self.current: Ruleset | None = None
        #: The current rule set's purity cache (see :func:`_purity`), kept at hand for every chain run.
        self.purity: dict[int, tuple[Guard, ...] | Literal[False]] = {}
        #: How often each chain of the current rule set ran (purity is worked out once it recurs).
        self.visits: dict[int, int] = {}
        #: How many packets missed and met each chain's guards (see :func:`_guarded`).
        self.guard_counts: dict[int, list[int]] = {}
        #: The current rule set's memo of pure chains' outcomes (see :func:`_run_pure`).
        self.outcomes: dict[tuple[int, int, bool], list[Any]] = {}

    def enter(self, ruleset: Ruleset) -> None:
        """Make ``ruleset`` the one whose chains are run (and keep its memos at hand)."""
        if ruleset is not self.current:
            self.current = ruleset
            self.purity = _purity(ruleset)
            memo = ruleset.memo
            self.visits = memo.setdefault("visits", {})
            self.outcomes = memo.setdefault("outcomes", {})
            self.guard_counts = memo.setdefault("guard_counts", {})

    def is_local(self, value: tuple[int, int]) -> bool:
        if value in self.local:
            return True
        # Loopback: 127.0.0.0/8 and ::1.
        version, number = value
        return number >> 24 == 127 if version == 4 else version == 6 and number == 1

    def note(self, text: str) -> None:
        self.notes[text] = None

    def undecide(self, rule: Rule, flippable: bool) -> None:
        """``rule`` was met and could not be evaluated (``flippable``: its action is known, so
        tracing it as matching says what it would have done)."""
        known = self.undecided.get(id(rule))
        if known is None or (known[1] and not flippable):
            self.undecided[id(rule)] = (rule, flippable)


Outcome = tuple[float, _State, str]


def trace(rulesets: Ruleset | Sequence[Ruleset], packet: Packet, local_addresses: Iterable[str] = ()) -> Trace:
    """Where ``packet`` ends on a node whose rules are ``rulesets``.

    ``local_addresses`` are the node's own addresses (for ``addrtype LOCAL`` / ``fib … type
    local`` and the routing decision); loopback is always local.
    """
    if isinstance(rulesets, Ruleset):
        rulesets = [rulesets]
    local = frozenset(addresses.address(text) for text in local_addresses)
    first, context = _trace(rulesets, packet, local, frozenset())
    undecided: list[str] = []
    family = addresses.address(packet.dst)[0]
    for ruleset in rulesets:
        if ruleset.unplaced and (ruleset.source != "iptables" or ruleset.family in (0, family)):
            undecided.extend(f"{ruleset.source}: {text} (a line outside any chain: every packet may meet it)"
                             for text in ruleset.unplaced)
    flippable = [rule for rule, can_flip in context.undecided.values() if can_flip]
    undecided.extend(_quote(rule) for rule, can_flip in context.undecided.values() if not can_flip)
    if len(flippable) > _MAX_FLIPS:
        undecided.extend(_quote(rule) for rule in flippable)
    else:
        outcome = _outcome(first)
        for rule in flippable:
            # The same packet once more, this rule taken as matching: if it ends elsewhere, what
            # the tracer could not evaluate decides where the packet goes.
            second, _ = _trace(rulesets, packet, local, frozenset({id(rule)}))
            if _outcome(second) != outcome:
                undecided.append(_quote(rule))
    if not undecided:
        return first
    return Trace(first.packet, first.branches, first.entry, first.affinity_seconds, first.notes, tuple(undecided))


#: Undecided rules met by one packet beyond which it is not traced once more per rule.
_MAX_FLIPS = 24


def _quote(rule: Rule) -> str:
    where = f"line {rule.line}: " if rule.line else ""
    return f"{where}{rule.text}"


def _outcome(result: Trace) -> dict[tuple[object, ...], float]:
    """Where a trace ends: its destinations, and its rejects and drops with the rule that made each
    (a diagnosis names that rule), not masquerading."""
    ends: dict[tuple[object, ...], float] = {}
    for branch in result.branches:
        blocked = branch.verdict if branch.verdict in ("DROP", "REJECT") else ""
        key = (branch.destination if not blocked else None, blocked,
               id(branch.rules[-1]) if blocked and branch.rules else None)
        ends[key] = round(ends.get(key, 0.0) + branch.probability, 9)
    return ends


def _trace(rulesets: Sequence[Ruleset], packet: Packet, local: frozenset[tuple[int, int]],
           forced: frozenset[int]) -> tuple[Trace, _Context]:
    context = _Context(rulesets, local, forced)
    src = addresses.address(packet.src)
    state: _State = (src, addresses.address(packet.dst), packet.dport, packet.sport, packet.protocol.lower(), 0, None,
                     False, ())
    family = state[_DST][0]
    entry = "output" if context.is_local(src) else "prerouting"
    context.entry = entry
    alive: list[Outcome] = [(1.0, state, "")]
    finished: list[Outcome] = []

    def run_hook(hook: str) -> None:
        nonlocal alive
        for ruleset, chain in _hook_chains(context, hook, family):
            context.enter(ruleset)
            next_alive: list[Outcome] = []
            for probability, branch_state, verdict in alive:
                if chain.type == "nat" and branch_state[_DNAT] is not None and hook in ("prerouting", "output"):
                    next_alive.append((probability, branch_state, verdict))
                    continue
                if chain.type == "nat" and branch_state[_MASQUERADE] and hook == "postrouting":
                    next_alive.append((probability, branch_state, verdict))
                    continue
                for result_probability, result_state, result in _run_chain(context, chain, branch_state,
                                                                           probability, 0):
                    if result in ("drop", "reject"):
                        finished.append((result_probability, result_state, result.upper()))
                    elif result == "accept":
                        next_alive.append((result_probability, result_state, "ACCEPT"))
                    else:
                        next_alive.append((result_probability, result_state, verdict))
            alive = next_alive

    run_hook(entry)
    by_route: dict[str, list[Outcome]] = {"input": [], "forward": []}
    for outcome in alive:
        by_route["input" if context.is_local(outcome[1][_DST]) else "forward"].append(outcome)
    survivors: list[Outcome] = []
    for hook, group in by_route.items():
        if not group:
            continue
        alive = group
        if entry == "output":
            run_hook("postrouting")
            if hook == "input":
                run_hook("input")
        else:
            run_hook(hook)
            if hook == "forward":
                run_hook("postrouting")
        survivors.extend(alive)
    branches = [Branch(probability, verdict, outcome_state[_DNAT], outcome_state[_MASQUERADE], outcome_state[_RULES])
                for probability, outcome_state, verdict in finished + survivors if probability > 0]
    return Trace(packet, tuple(_merge(branches)), entry=entry, affinity_seconds=context.affinity,
                 notes=tuple(context.notes)), context


def _merge(branches: list[Branch]) -> list[Branch]:
    """Join branches that end the same way (same verdict, destination and masquerade)."""
    merged: dict[tuple[object, ...], Branch] = {}
    for branch in branches:
        key = (branch.verdict, branch.destination, branch.masquerade)
        if key in merged:
            previous = merged[key]
            known = {id(rule) for rule in previous.rules}
            rules = previous.rules + tuple(rule for rule in branch.rules if id(rule) not in known)
            merged[key] = Branch(previous.probability + branch.probability, branch.verdict, branch.destination,
                                 branch.masquerade, rules)
        else:
            merged[key] = branch
    return list(merged.values())


def _hook_chains(context: _Context, hook: str, family: int) -> list[tuple[Ruleset, Chain]]:
    plan, notes = _hook_plan(tuple(context.rulesets), hook, family)
    for note in notes:
        context.note(note)
    return plan


@lru_cache(maxsize=256)
def _hook_plan(rulesets: tuple[Ruleset, ...], hook: str, family: int,
               ) -> tuple[list[tuple[Ruleset, Chain]], tuple[str, ...]]:
    """The base chains a hook runs (computed once per rule set; rule sets are immutable)."""
    notes: list[str] = []
    found: list[tuple[int, int, Ruleset, Chain]] = []
    for ruleset in rulesets:
        if ruleset.source == "iptables" and ruleset.family not in (0, family):
            continue
        hooked = _hooked_tables(ruleset)
        for chain in ruleset.base_chains(hook):
            if ruleset.source == "nftables" and not _table_family_matches(chain.table, family):
                continue
            if chain.table not in hooked:
                continue
            found.append((chain.priority, len(found), ruleset, chain))
        if ruleset.source != "iptables":
            continue
        for table in _KUBE_PROXY_HOOKS:
            if table in hooked or not any(key[0] == table for key in ruleset.chains):
                continue
            base = ruleset.chain(table, hook.upper())
            if base is None or base.hook != hook:
                base = Chain(table, hook.upper(), (), hook=hook, priority=_priority(table, hook),
                             type="nat" if table == "nat" else "filter")
            synthetic = _synthetic_hook(ruleset, base, hook)
            if synthetic is None:
                if base.rules:
                    found.append((base.priority, len(found), ruleset, base))
                continue
            notes.append(f"the {table} table has no jumps from its built-in chains into kube-proxy's chains "
                         "(kube-proxy's restore input, not a node's dump): traced as kube-proxy hooks them in")
            found.append((synthetic.priority, len(found), ruleset, synthetic))
    found.sort(key=lambda item: (item[0], item[1]))
    return [(ruleset, chain) for _, _, ruleset, chain in found], tuple(notes)


def _hooked_tables(ruleset: Ruleset) -> set[str]:
    """Tables whose built-in chains are used as they are (all but kube-proxy's unhooked ones)."""
    tables = {table for table, _ in ruleset.chains}
    if ruleset.source != "iptables":
        return tables
    return {table for table in tables if table not in _KUBE_PROXY_HOOKS or _has_kube_hooks(ruleset, table)}


def _priority(table: str, hook: str) -> int:
    if table == "nat":
        return 100 if hook in ("postrouting", "input") else -100
    return 0


def _table_family_matches(table: str, family: int) -> bool:
    kind = table.split(" ", 1)[0]
    return kind == "inet" or (kind == "ip" and family == 4) or (kind == "ip6" and family == 6)


def _has_kube_hooks(ruleset: Ruleset, table: str) -> bool:
    for (chain_table, _), chain in ruleset.chains.items():
        if chain_table != table or not chain.hook:
            continue
        for rule in chain.rules:
            if rule.action[0] in ("jump", "goto") and str(rule.action[1]).startswith("KUBE-"):
                return True
    return False


def _synthetic_hook(ruleset: Ruleset, chain: Chain, hook: str) -> Chain | None:
    targets = [name for name in _KUBE_PROXY_HOOKS.get(chain.table, {}).get(hook, ())
               if ruleset.chain(chain.table, name) is not None]
    if not targets:
        return None
    new_state = ("ctstate", frozenset({"NEW"}), False)
    rules = list(chain.rules)
    for name in targets:
        matches = (new_state,) if chain.table == "filter" else ()
        rules.append(Rule(chain.table, chain.name, matches, ("jump", name),
                          f"-A {chain.name} -j {name}  (assumed: kube-proxy installs this jump)"))
    return Chain(chain.table, chain.name, tuple(rules), hook=hook, priority=chain.priority, type=chain.type,
                 policy=chain.policy, general=tuple(range(len(rules))))


def _candidates(chain: Chain, state: _State) -> Sequence[int]:
    if not chain.by_destination and not chain.by_port:
        return chain.general
    specific = chain.by_destination.get(state[_DST][1], ())
    by_port = chain.by_port.get(state[_DPORT], ())
    if not specific and not by_port:
        return chain.general
    if not chain.general and not by_port:
        return specific
    return sorted((*chain.general, *specific, *by_port))


def _run_chain(context: _Context, chain: Chain, state: _State, probability: float, depth: int) -> list[Outcome]:
    """Outcomes of running ``chain``: verdict ``continue`` (fell off / returned) or a final one."""
    if depth > _MAX_DEPTH:
        context.note(f"jumps nested deeper than {_MAX_DEPTH} at chain {chain.name}: a loop?")
        return [(probability, state, "continue")]
    if not chain.rules and not chain.hook:
        # An empty regular chain returns at once (kube-proxy leaves many of them empty).
        return [(probability, state, "continue")]
    ruleset = context.current
    if ruleset is None:
        results = _walk(context, chain, _candidates(chain, state), 0, state, probability, depth)
    else:
        key = id(chain)
        guards: tuple[Guard, ...] | Literal[False] | None = context.purity.get(key)
        if guards is None:
            # Most chains (a Service's, an endpoint's) run once or twice: only a chain that keeps
            # coming back is worth the check that lets its outcome be memoised.
            visits = context.visits.get(key, 0)
            if visits >= _VISITS_BEFORE_MEMO:
                guards = _guards(ruleset, chain)
            else:
                context.visits[key] = visits + 1
        if guards is None or guards is False or (guards and _guarded(context, key, guards, state)):
            results = _walk(context, chain, _candidates(chain, state), 0, state, probability, depth)
        else:
            results = _run_pure(context, ruleset, chain, state, probability, depth)
    if chain.hook and chain.policy == "drop":
        return [(p, s, "drop" if verdict == "continue" else verdict) for p, s, verdict in results]
    return results


#: What a chain may look at and do and still depend only on the packet's mark and NAT state.
_PURE_MATCHES = frozenset({"mark", "ctstate"})
_PURE_ACTIONS = frozenset({"none", "mark", "accept", "drop", "reject", "return", "masquerade"})
#: Matches that can be tested on their own, with no side effect (notes, affinity), and so guard
#: a rule: a packet that fails one never matches the rule, whatever else the rule says.
_GUARD_MATCHES = frozenset({"daddr", "saddr", "dport", "sport", "daddr_set", "saddr_set", "concat_set", "dst_type",
                            "src_type"})
_QUIET_MATCHES = _GUARD_MATCHES | _PURE_MATCHES | {"random", "proto"}
#: Runs of a chain before its purity is worked out.
_VISITS_BEFORE_MEMO = 3
#: More guards than this and walking the chain is as quick as testing them.
_MAX_GUARDS = 8
#: A chain whose guards this many packets met (and no fewer than missed them) is walked from then
#: on without testing them.
_GUARD_HITS_LIMIT = 16

#: A chain's guards: what a packet must miss for the chain to act on its mark and NAT state only.
#: ``("index", chain)`` — no rule of ``chain`` is indexed under the packet's address or port;
#: ``("member", (field, set))`` — the packet's source or destination is not in the set;
#: ``("match", rule)`` — the packet fails ``rule``'s one match; ``("lookup", rule)`` — ``rule``'s
#: map has no element for the packet.
Guard = tuple[str, Any]


def _purity(ruleset: Ruleset) -> dict[int, tuple[Guard, ...] | Literal[False]]:
    """Chain identity → its guards (see :func:`_guards`) or False, filled in as chains are met."""
    memo = ruleset.memo
    cache = memo.get("pure")
    if cache is None:
        cache = memo["pure"] = {}
    return cache


def _guards(ruleset: Ruleset, chain: Chain) -> tuple[Guard, ...] | Literal[False]:
    """The guards under which the chain (and every chain it reaches) reads nothing but the mark
    and NAT state — () for kube-proxy's KUBE-MARK-MASQ, KUBE-POSTROUTING and KUBE-FORWARD; the
    cluster-IP set and service range for nftables' cluster-ips-check — or False.

    A packet that misses every guard gets the chain's outcome from a memo of one per (mark, NAT
    state); any other packet walks the chain."""
    cache = _purity(ruleset)
    # Chains live as long as their rule set, so their identity is a stable key.
    key = id(chain)
    known = cache.get(key)
    if known is not None:
        return known
    cache[key] = False  # a loop through this chain is not pure
    # Only the rule set's own chains: a chain made up for a missing hook may not outlive this
    # trace, and its identity could then be reused by another.
    if ruleset.chains.get((chain.table, chain.name)) is not chain:
        return False
    found: list[Guard] = [("index", chain)] if chain.by_destination or chain.by_port else []
    for position in chain.general:
        rule = chain.rules[position]
        rule_guards = _rule_guard(ruleset, rule)
        if rule_guards is False:
            return False
        if rule_guards is not True:
            found.extend(rule_guards)
        if len(found) > _MAX_GUARDS:
            return False
    unique: dict[object, Guard] = {}
    for guard in found:
        subject = guard[1]
        unique.setdefault((subject.table, subject.matches) if guard[0] == "match" else
                          (subject[0], id(subject[1])) if guard[0] == "member" else id(subject), guard)
    guards = tuple(unique.values())
    cache[key] = guards
    return guards


def _rule_guard(ruleset: Ruleset, rule: Rule) -> tuple[Guard, ...] | bool:
    """True when the rule acts on the mark and NAT state only, its guards, or False."""
    matches = rule.matches
    if any(match[0] not in _QUIET_MATCHES for match in matches):
        return False
    for match in matches:
        kind = match[0]
        if kind not in _GUARD_MATCHES or (match[3] if kind == "concat_set" else match[2]):
            continue
        if kind in ("dst_type", "src_type") and match[1] != "LOCAL":
            continue
        if kind in ("daddr_set", "saddr_set", "concat_set"):
            named = ruleset.sets.get((rule.table, match[2] if kind == "concat_set" else match[1]))
            if kind != "concat_set" and named is None:
                named = ruleset.sets.get(("ipset", match[1]))
            if named is None or named.dynamic or named.unread:
                # A set that is cut or learnt at run time cannot guard a memo.
                continue
            if kind != "concat_set":
                # Tested straight on the set (the commonest guard: nftables' @cluster-ips).
                return (("member", (_DST if kind == "daddr_set" else _SRC, named)),)
        return (("match", Rule(rule.table, rule.chain, (match,), ("none",), rule.text, rule.line)),)
    if any(match[0] not in _PURE_MATCHES for match in matches):
        return False
    action = rule.action
    kind = action[0]
    if kind in ("jump", "goto"):
        target = ruleset.chain(rule.table, action[1])
        return False if target is None else _guards(ruleset, target)
    if kind == "vmap":
        # A look-up in an empty map (kube-proxy's firewall and no-endpoint maps, often) never
        # finds a verdict, whatever the packet: the rule does nothing.
        if action[2] is None:
            return (("lookup", rule),) if action[3] else True
        named = ruleset.sets.get((rule.table, action[2]))
        if named is None or named.dynamic or named.unread:
            return False
        return (("lookup", rule),) if named.elements else True
    return kind in _PURE_ACTIONS


def _guarded(context: _Context, key: int, guards: tuple[Guard, ...], state: _State) -> bool:
    """Whether the packet meets any of a chain's guards (then the chain is walked).

    A chain that at least half the packets meet the guards of (kube-proxy's service dispatch:
    every ClusterIP is in its index) is then walked without asking again."""
    for kind, subject in guards:
        if kind == "index":
            hit = bool(subject.by_destination.get(state[_DST][1]) or subject.by_port.get(state[_DPORT]))
        elif kind == "member":
            value: tuple[int, int] = state[_DST] if subject[0] == _DST else state[_SRC]
            named = subject[1]
            hit = (value,) in named.elements or any(addresses.contains(net, value[0], value[1])
                                                    for net in named.intervals)
        elif kind == "match":
            hit = _match(context, subject, state) > 0.0
        else:
            hit = _lookup(context, subject, subject.action, state) is not None
        if hit:
            counts = context.guard_counts.setdefault(key, [0, 0])
            counts[1] += 1
            if counts[1] >= _GUARD_HITS_LIMIT and counts[1] >= counts[0]:
                context.purity[key] = False
            return True
    missed = context.guard_counts.get(key)
    if missed is None:
        context.guard_counts[key] = [1, 0]
    else:
        missed[0] += 1
    return False


def _run_pure(context: _Context, ruleset: Ruleset, chain: Chain, state: _State, probability: float,
              depth: int) -> list[Outcome]:
    memo = context.outcomes
    key = (id(chain), state[_MARK], state[_DNAT] is not None)
    effects = memo.get(key)
    if effects is None:
        base: _State = (*state[:7], False, ())
        effects = [(share, result[_MARK], result[_MASQUERADE], result[_RULES], verdict) for share, result, verdict in
                   _walk(context, chain, _candidates(chain, base), 0, base, 1.0, depth)]
        memo[key] = effects
    outcomes: list[Outcome] = []
    for share, mark, masquerade, rules, verdict in effects:
        if mark == state[_MARK] and not rules and (masquerade <= state[_MASQUERADE]):
            # The chain changed nothing: the state is immutable from here on, so share it.
            outcomes.append((probability * share, state, verdict))
            continue
        changed: _State = (*state[:5], mark, state[_DNAT], state[_MASQUERADE] or masquerade, state[_RULES] + rules)
        outcomes.append((probability * share, changed, verdict))
    return outcomes


def _walk(context: _Context, chain: Chain, candidates: Sequence[int], start: int, state: _State,
          probability: float, depth: int) -> list[Outcome]:
    results: list[Outcome] = []
    position = start
    total = len(candidates)
    rules = chain.rules
    while position < total:
        rule = rules[candidates[position]]
        position += 1
        chance = _match(context, rule, state) if rule.matches else 1.0
        if chance <= 0.0:
            continue
        action = rule.action
        kind = action[0]
        if kind == "jump" or kind == "goto":
            # Jumps are most of what kube-proxy's rules do: followed straight from here.
            outcomes = _jump(context, rule, kind, action[1], state, _with_rule(state, rule), probability * chance,
                             depth)
        elif kind == "none":
            if chance >= 1.0:
                continue
            outcomes = [(probability * chance, state, "continue")]
        else:
            outcomes = _act(context, rule, state, probability * chance, depth)
        if chance >= 1.0 and len(outcomes) == 1 and outcomes[0][2] == "continue":
            probability, state = outcomes[0][0], outcomes[0][1]
            continue
        for outcome_probability, outcome_state, verdict in outcomes:
            if verdict == "continue":
                results.extend(_walk(context, chain, candidates, position, outcome_state, outcome_probability,
                                     depth))
            elif verdict == "return":
                results.append((outcome_probability, outcome_state, "continue"))
            else:
                results.append((outcome_probability, outcome_state, verdict))
        if chance >= 1.0:
            return results
        probability *= 1.0 - chance
        if probability <= 0.0:
            return results
    results.append((probability, state, "continue"))
    return results


def _jump(context: _Context, rule: Rule, kind: str, name: str, state: _State, followed: _State,
          probability: float, depth: int) -> list[Outcome]:
    """Run the chain ``rule`` jumps or goes to with ``followed`` (the state with the rule in its
    evidence); a chain the dump does not define is noted and the packet goes on as ``state``."""
    ruleset = context.current
    target = ruleset.chains.get((rule.table, name)) if ruleset is not None else None
    if target is None:
        context.note(f"{rule.chain} jumps to {name}, which the dump does not define")
        context.undecide(rule, False)
        return [(probability, state, "continue")]
    outcomes = _run_chain(context, target, followed, probability, depth + 1)
    return _as_goto(outcomes) if kind == "goto" else outcomes


def _as_goto(outcomes: list[Outcome]) -> list[Outcome]:
    """The outcomes of a chain gone to: falling off its end returns from the chain that went."""
    if len(outcomes) == 1 and outcomes[0][2] != "continue":
        return outcomes
    return [(p, s, "return" if verdict == "continue" else verdict) for p, s, verdict in outcomes]


def _with_rule(state: _State, rule: Rule) -> _State:
    return (*state[:8], state[_RULES] + (rule,))


def _act(context: _Context, rule: Rule, state: _State, probability: float, depth: int,
         verdict: Action | None = None) -> list[Outcome]:
    """What ``rule`` does to the packet. ``verdict`` is the one a map or ``numgen`` of ``rule``
    chose: ``rule`` is then already in the state's evidence and is not added twice."""
    action = rule.action if verdict is None else verdict
    kind = action[0]
    if kind == "none":
        return [(probability, state, "continue")]
    hit = state if verdict is not None else _with_rule(state, rule)
    if kind in ("jump", "goto"):
        return _jump(context, rule, kind, action[1], state, hit, probability, depth)
    if kind in ("accept", "drop", "reject", "return"):
        return [(probability, hit, kind)]
    if kind == "dnat":
        ip, port = action[1], action[2] or state[_DPORT]
        translated: _State = (state[_SRC], addresses.address(ip), port, state[_SPORT], state[_PROTO], state[_MARK],
                              (ip, port), state[_MASQUERADE], hit[_RULES])
        return [(probability, translated, "accept")]
    if kind in ("masquerade", "snat"):
        return [(probability, (*state[:7], True, hit[_RULES]), "accept")]
    if kind == "mark":
        operation, value, mask = action[1], action[2], action[3]
        mark = state[_MARK]
        if operation == "or":
            mark |= value
        elif operation == "xor":
            mark ^= value
        elif operation == "and":
            mark &= value
        elif operation == "setx":
            mark = (mark & ~mask) ^ value
        else:
            mark = value
        # Only a mark that sets new bits (kube-proxy's masquerade mark) is evidence.
        rules = hit[_RULES] if mark & ~state[_MARK] else state[_RULES]
        return [(probability, (*state[:5], mark, state[_DNAT], state[_MASQUERADE], rules), "continue")]
    if kind == "recent_set":
        return [(probability, state, "continue")]
    if kind == "vmap":
        chosen = _lookup(context, rule, action, state)
        if chosen is None:
            return [(probability, state, "continue")]
        return _act(context, rule, hit, probability, depth, chosen)
    if kind == "numgen":
        modulus, elements = action[1], action[2]
        split: list[Outcome] = []
        share = probability / modulus if modulus else 0.0
        for value in range(modulus):
            chosen = elements.get(value)
            if chosen is None:
                split.append((share, state, "continue"))
                continue
            split.extend(_act(context, rule, hit, share, depth, chosen))
        return split
    context.note(f"action not understood: {rule.text}")
    context.undecide(rule, False)
    return [(probability, state, "continue")]


def _key_value(field_name: str, state: _State) -> object:
    if field_name == "daddr":
        return state[_DST]
    if field_name == "saddr":
        return state[_SRC]
    if field_name == "l4proto":
        return state[_PROTO]
    if field_name == "dport":
        return state[_DPORT]
    if field_name == "sport":
        return state[_SPORT]
    return None


#: nft key fields → where the packet state holds their value.
_KEY_FIELDS = {"daddr": _DST, "saddr": _SRC, "l4proto": _PROTO, "dport": _DPORT, "sport": _SPORT}
_key_getters: dict[tuple[Any, ...], Any] = {}


def _key_getter(key_fields: tuple[Any, ...]) -> Any:
    """A function from a state to its key for ``key_fields`` (built once per distinct key shape)."""
    getter = _key_getters.get(key_fields)
    if getter is None:
        names = [str(name) for name in key_fields]
        if names and all(name in _KEY_FIELDS for name in names):
            fetch = itemgetter(*(_KEY_FIELDS[name] for name in names))
            getter = (lambda state: (fetch(state),)) if len(names) == 1 else fetch
        else:
            def getter(state: _State) -> tuple[object, ...]:
                return tuple(_key_value(name, state) for name in names)
        _key_getters[key_fields] = getter
    return getter


def _lookup(context: _Context, rule: Rule, action: tuple[Any, ...], state: _State) -> Any:
    key_fields, map_name, inline = action[1], action[2], action[3]
    key = _key_getter(key_fields)(state)
    if map_name:
        named = _named_set(context, rule.table, str(map_name))
        if named is None:
            context.note(f"{rule.chain} looks up map @{map_name}, which the dump does not define")
            context.undecide(rule, False)
            return None
        found = named.elements.get(key)
        if found is None and named.unread:
            context.undecide(rule, False)
        return found
    return inline.get(key)


def _named_set(context: _Context, table: str, name: str) -> NamedSet | None:
    ruleset = context.current
    if ruleset is None:
        return None
    return ruleset.sets.get((table, name))


def _in_set(context: _Context, rule: Rule, match: tuple[object, ...], state: _State) -> float:
    name = str(match[1])
    named = _named_set(context, rule.table, name) or _named_set(context, "ipset", name)
    value = state[_SRC] if match[0] == "saddr_set" else state[_DST]
    if named is None:
        # An ipset is never in iptables-save: the rule is undecided, and traced both ways. An nft
        # set missing from a listing is a cut listing.
        context.note(f"set {name} is not in the dump")
        return -1.0
    if named.dynamic:
        if context.affinity is None:
            context.affinity = _seconds(named.timeout)
        return 0.0
    found = (value,) in named.elements or any(addresses.contains(net, value[0], value[1])
                                               for net in named.intervals)
    if not found and named.unread:
        return -2.0
    return 1.0 if found else 0.0


def _seconds(timeout: str) -> int:
    text = timeout.strip()
    if not text:
        return 0
    total, number = 0, ""
    units = {"d": 86400, "h": 3600, "m": 60, "s": 1}
    for character in text:
        if character.isdigit():
            number += character
        elif character in units and number:
            total += int(number) * units[character]
            number = ""
    return total + (int(number) if number else 0)


_NEW = frozenset({"NEW"})
_NEW_DNAT = frozenset({"NEW", "DNAT"})


def _match(context: _Context, rule: Rule, state: _State) -> float:
    """1.0 when the rule matches, 0.0 when not, the probability for a random split. A rule whose
    other matches hold but one of which cannot be evaluated is recorded as undecided (see
    :meth:`_Context.undecide`) and taken as not matching, or as matching when it is forced."""
    chance = 1.0
    # 0: every match evaluated; 1: one could not be, but the rule's action is known; 2: the rule
    # could not be read, or a set it needs is cut: tracing it as matching would say nothing.
    uncertain = 0
    for match in rule.matches:
        kind = match[0]
        if kind == "daddr" or kind == "saddr":
            value = state[_DST] if kind == "daddr" else state[_SRC]
            networks = match[1]
            if len(networks) == 1:
                # Most rules name one address or prefix: no generator for them.
                net = networks[0]
                hit = net[0] == value[0] and (value[1] & net[2]) == net[1]
            else:
                hit = any(net[0] == value[0] and (value[1] & net[2]) == net[1] for net in networks)
            if hit == match[2]:
                return 0.0
        elif kind == "proto":
            if (match[1] in ("all", state[_PROTO])) == match[2]:
                return 0.0
        elif kind == "dport" or kind == "sport":
            port = state[_DPORT] if kind == "dport" else state[_SPORT]
            ranges = match[1]
            if len(ranges) == 1:
                hit = ranges[0][0] <= port <= ranges[0][1]
            else:
                hit = any(low <= port <= high for low, high in ranges)
            if hit == match[2]:
                return 0.0
        elif kind == "dst_type" or kind == "src_type":
            value = state[_DST] if kind == "dst_type" else state[_SRC]
            if match[1] != "LOCAL":
                context.note(f"address type {match[1]} is not modelled: {rule.text}")
                uncertain = max(uncertain, 1)
            elif context.is_local(value) == match[2]:
                return 0.0
        elif kind == "mark":
            if ((state[_MARK] & match[2]) == match[1]) == match[3]:
                return 0.0
        elif kind == "ctstate":
            states = _NEW_DNAT if state[_DNAT] is not None else _NEW
            if (not states.isdisjoint(match[1])) == match[2]:
                return 0.0
        elif kind == "random":
            chance *= match[1]
        elif kind == "recent":
            if context.affinity is None:
                context.affinity = int(match[2])
            return 0.0
        elif kind == "saddr_set" or kind == "daddr_set":
            hit_chance = _in_set(context, rule, match, state)
            if hit_chance < 0:
                missing_ipset = hit_chance == -1.0 and (context.current is None or context.current.source == "iptables")
                uncertain = max(uncertain, 1 if missing_ipset else 2)
            elif (hit_chance > 0) == bool(match[2]):
                return 0.0
        elif kind == "concat_set":
            named = _named_set(context, rule.table, match[2])
            key = _key_getter(match[1])(state)
            hit = named is not None and key in named.elements
            if named is None:
                context.note(f"set {match[2]} is not in the dump")
                uncertain = 2
            elif not hit and named.unread:
                uncertain = 2
            elif hit == match[3]:
                return 0.0
        elif kind == "iface":
            known = _interface(context, match[1], match[2], state)
            if known is None:
                context.note(f"not evaluated: interface {'! ' if match[3] else ''}{match[2]} in {rule.chain}")
                uncertain = max(uncertain, 1)
            elif known == match[3]:
                return 0.0
        elif kind == "physdev":
            # The traced packet is routed by the node (from a client elsewhere or from the node
            # itself), never bridged: no bridge port is involved, so every physdev test is false.
            if not match[2]:
                return 0.0
        elif kind == "unknown":
            context.note(f"not evaluated: {match[1]} in {rule.chain}")
            uncertain = max(uncertain, 1)
        elif kind == "unreadable":
            uncertain = 2
        else:
            uncertain = 2
    if uncertain:
        # A rule whose action is not known either says nothing when traced as matching.
        flippable = uncertain == 1 and rule.action[0] != "unknown"
        if flippable and id(rule) in context.forced:
            return chance
        context.undecide(rule, flippable)
        return 0.0
    return chance


def _interface(context: _Context, direction: str, name: str, state: _State) -> bool | None:
    """Whether the packet's in/out interface is ``name``, when that can be known: only ``lo`` can
    (a packet from the node to itself comes in and goes out on it; nothing else ever does)."""
    if name != "lo":
        return None
    to_itself = context.entry == "output" and context.is_local(state[_DST])
    return to_itself
