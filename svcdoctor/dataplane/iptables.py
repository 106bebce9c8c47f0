"""Parse ``iptables-save`` output (and ``iptables-restore`` input, as kube-proxy writes it).

Reads every table (nat, filter, mangle, raw), chain policies, and the matches and targets
kube-proxy uses: addresses and prefixes (``-s``/``-d``, negated), protocols, ports (``--dport``,
``multiport --dports``), ``addrtype --src-type/--dst-type``, ``mark --mark``, ``conntrack
--ctstate``, ``statistic --mode random --probability`` and ``--mode nth``, ``recent``
(session affinity), ``set --match-set`` (IPVS mode's ipsets), comments; and the targets
``DNAT --to-destination``, ``MARK``, ``MASQUERADE``, ``ACCEPT``, ``DROP``, ``REJECT``,
``RETURN``, jumps (``-j``) and gotos (``-g``), ``physdev`` and in/out interfaces. IPv4 and IPv6
dumps read the same way, with or without the ``[packets:bytes]`` counters of ``iptables-save -c``.
Anything else is kept as an ``unknown`` match (a word that belongs to no option, too), and a line
that cannot be read at all stays in its chain as an ``unreadable`` rule, so that the tracer knows
when a packet met something it could not evaluate.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable
from functools import lru_cache

from svcdoctor.dataplane import addresses
from svcdoctor.dataplane.interface import (
    IPTABLES_TABLE_PRIORITY,
    NAT_SOURCE_PRIORITY,
    NO_INDEX,
    Action,
    Chain,
    Match,
    Rule,
    Ruleset,
    new_chain,
    new_rule,
    reject_type,
)

_TOKEN = re.compile(r'"((?:[^"\\]|\\.)*)"|(\S+)')
_MODULE_NAME = re.compile(r"[a-z0-9_]+")

#: Built-in chains of each table → their netfilter hook.
BUILTIN_HOOKS: dict[str, dict[str, str]] = {
    "raw": {"PREROUTING": "prerouting", "OUTPUT": "output"},
    "mangle": {"PREROUTING": "prerouting", "INPUT": "input", "FORWARD": "forward", "OUTPUT": "output",
               "POSTROUTING": "postrouting"},
    "nat": {"PREROUTING": "prerouting", "INPUT": "input", "OUTPUT": "output", "POSTROUTING": "postrouting"},
    "filter": {"INPUT": "input", "FORWARD": "forward", "OUTPUT": "output"},
    "security": {"INPUT": "input", "FORWARD": "forward", "OUTPUT": "output"},
}

_TERMINAL = {"ACCEPT": ("accept",), "DROP": ("drop",), "RETURN": ("return",), "MASQUERADE": ("masquerade",)}
#: Targets that only count, log or tag: the packet goes on to the next rule.
_NON_TERMINAL = {"LOG", "NFLOG", "CONNMARK", "CT", "NOTRACK", "TRACE", "CHECKSUM", "TCPMSS", "NFACCT", ""}
#: Options that never change whether a rule matches.
_INERT_OPTIONS = {"--nfacct-name", "--reap", "--rsource", "--rdest", "--mask", "--random-fully", "--random",
                  "--persistent", "--log-prefix", "--log-level", "--to-ports",
                  "--limit-iface-in", "--limit-iface-out", "--wait", "--hitcount", "--rttl"}


def tokens(line: str) -> list[str]:
    """Split a rule line as the shell would (double quotes, backslash escapes)."""
    if '"' not in line:
        return line.split()
    if "\\" not in line:
        # Quotes alternate: even pieces lie outside them, odd pieces are quoted words.
        words: list[str] = []
        for index, piece in enumerate(line.split('"')):
            if index % 2:
                words.append(piece)
            else:
                words.extend(piece.split())
        return words
    return [quoted.replace('\\"', '"').replace("\\\\", "\\") if quoted or token == "" else token
            for quoted, token in _TOKEN.findall(line)]


class _Values:
    """The values one parse has read, each kept once: a dump repeats the same few prefixes, ports,
    matches and targets thousands of times, and one object per distinct value keeps the parsed
    rules small. Per parse, so that nothing outlives the rule set."""

    __slots__ = ("networks_read", "ports_read", "shared")

    def __init__(self) -> None:
        self.ports_read: dict[str, tuple[tuple[int, int], ...]] = {}
        self.networks_read: dict[str, tuple[addresses.Network, ...]] = {}
        self.shared: dict[tuple[object, ...], tuple[object, ...]] = {}

    def ports(self, text: str) -> tuple[tuple[int, int], ...]:
        found = self.ports_read.get(text)
        if found is None:
            ranges = []
            for part in text.split(","):
                low, _, high = part.partition(":")
                ranges.append((int(low), int(high or low)))
            found = self.ports_read[text] = tuple(ranges)
        return found

    def networks(self, text: str) -> tuple[addresses.Network, ...]:
        found = self.networks_read.get(text)
        if found is None:
            found = (addresses.network(text),) if "," not in text else tuple(
                addresses.network(part) for part in text.split(","))
            self.networks_read[text] = found
        return found

    def share(self, item: tuple[object, ...]) -> tuple[object, ...]:
        """The one object equal to ``item``."""
        found = self.shared.get(item)
        if found is None:
            self.shared[item] = found = item
        return found


@lru_cache(maxsize=1024)
def _mark(text: str) -> tuple[int, int]:
    value, _, mask = text.partition("/")
    return int(value, 0), int(mask, 0) if mask else 0xFFFFFFFF


#: conntrack states (--ctstate / --state) and ct status words iptables and nft print.
CONNTRACK_STATES = frozenset({"NEW", "ESTABLISHED", "RELATED", "INVALID", "UNTRACKED", "SNAT", "DNAT"})
#: The tables iptables-save prints, and chain policies.
TABLES = frozenset(IPTABLES_TABLE_PRIORITY)
POLICIES = frozenset({"ACCEPT", "DROP", "-"})


@lru_cache(maxsize=256)
def _states(text: str) -> frozenset[str]:
    states = frozenset(text.upper().split(","))
    if not states <= CONNTRACK_STATES:
        raise ValueError(f"not a conntrack state: {text}")
    return states


def protocol(text: str) -> str:
    """A protocol name or number as iptables and nft print it (lower case); ValueError otherwise."""
    name = text.lower()
    if not name or not name.replace("-", "").isalnum() or not name.isascii():
        raise ValueError(f"not a protocol: {text}")
    return name


# What each option does, as a small number (one dict look-up instead of a chain of comparisons).
(_MODULE, _JUMP, _GOTO, _SOURCE, _DESTINATION, _PROTOCOL, _DPORT, _SPORT, _COMMENT, _SRC_TYPE, _DST_TYPE,
 _MARK, _STATE, _STATISTIC, _RECENT_NAME, _RECENT_OPERATION, _SECONDS, _MATCH_SET, _TARGET_OPTION, _INTERFACE,
 _INERT, _PHYSDEV_FLAG, _PHYSDEV_NAME) = range(23)
_OPTIONS: dict[str, int] = {
    "-m": _MODULE, "--match": _MODULE, "-j": _JUMP, "--jump": _JUMP, "-g": _GOTO, "--goto": _GOTO,
    "-s": _SOURCE, "--source": _SOURCE, "-d": _DESTINATION, "--destination": _DESTINATION,
    "-p": _PROTOCOL, "--protocol": _PROTOCOL,
    "--dport": _DPORT, "--destination-port": _DPORT, "--dports": _DPORT, "--destination-ports": _DPORT,
    "--sport": _SPORT, "--source-port": _SPORT, "--sports": _SPORT, "--source-ports": _SPORT,
    "--comment": _COMMENT, "--src-type": _SRC_TYPE, "--dst-type": _DST_TYPE, "--mark": _MARK,
    "--ctstate": _STATE, "--state": _STATE,
    "--mode": _STATISTIC, "--probability": _STATISTIC, "--every": _STATISTIC, "--packet": _STATISTIC,
    "--name": _RECENT_NAME, "--set": _RECENT_OPERATION, "--rcheck": _RECENT_OPERATION,
    "--update": _RECENT_OPERATION, "--remove": _RECENT_OPERATION, "--seconds": _SECONDS,
    "--match-set": _MATCH_SET,
    "--to-destination": _TARGET_OPTION, "--or-mark": _TARGET_OPTION, "--xor-mark": _TARGET_OPTION,
    "--set-xmark": _TARGET_OPTION, "--set-mark": _TARGET_OPTION, "--and-mark": _TARGET_OPTION,
    "--to-source": _TARGET_OPTION, "--reject-with": _TARGET_OPTION,
    "--physdev-is-in": _PHYSDEV_FLAG, "--physdev-is-out": _PHYSDEV_FLAG, "--physdev-is-bridged": _PHYSDEV_FLAG,
    "--physdev-in": _PHYSDEV_NAME, "--physdev-out": _PHYSDEV_NAME,
    "-i": _INTERFACE, "--in-interface": _INTERFACE, "-o": _INTERFACE, "--out-interface": _INTERFACE,
    **{option: _INERT for option in _INERT_OPTIONS},
}
#: Options that mean something else once the target is named (``-j MARK --set-mark`` …).
_BEFORE_TARGET_ONLY = frozenset({_MARK, _RECENT_NAME, _RECENT_OPERATION})
_MARK_OPERATIONS = (("--or-mark", "or"), ("--xor-mark", "xor"), ("--and-mark", "and"), ("--set-xmark", "setx"),
                    ("--set-mark", "set"))

def parse_rule(table: str, chain: str, words: list[str], text: str, line: int, values: _Values | None = None) -> Rule:
    """One ``-A CHAIN …`` rule (``words`` are the tokens after the chain name)."""
    # kube-proxy's own test data writes multi-word comments without quotes; iptables-save quotes
    # them, and then a word after the quoted comment is not part of it.
    quoted = '"' in text
    if values is None:
        values = _Values()
    matches: list[Match] = []
    comment = ""
    target = ""
    goto = False
    target_options: dict[str, str] | None = None
    statistic: dict[str, str] | None = None
    recent: dict[str, str] | None = None
    negate = False
    options = _OPTIONS
    shared = values.share
    networks = values.networks
    ports = values.ports
    index, count = 0, len(words)
    while index < count:
        word = words[index]
        index += 1
        if word == "!":
            negate = True
            continue
        code = options.get(word)
        if code is not None and target and code in _BEFORE_TARGET_ONLY:
            code = None
        if code is None:
            # An option this parser does not know, or a word that belongs to no option (a
            # garbled line): kept, so that a packet meeting the rule is known to be undecided.
            arguments = []
            while index < count and words[index][:1] != "-" and words[index] != "!":
                arguments.append(words[index])
                index += 1
            if not (target and word[:2] == "--"):  # after the target, an option is the target's own
                matches.append(("unknown", " ".join([("! " if negate else "") + word, *arguments])))
            negate = False
            continue
        value = words[index] if index < count else ""
        if code == _MODULE:
            if not _MODULE_NAME.fullmatch(value):
                # A cut or garbled module name: what followed it (a target, maybe) is not known.
                raise ValueError(f"not a match module: {value}")
            index += 1
        elif code in (_JUMP, _GOTO):
            target = value
            goto = code == _GOTO
            index += 1
        elif code == _DESTINATION:
            matches.append(shared(("daddr", networks(value), negate)))
            index += 1
        elif code == _PROTOCOL:
            matches.append(shared(("proto", protocol(value), negate)))
            index += 1
        elif code == _DPORT:
            matches.append(shared(("dport", ports(value), negate)))
            index += 1
        elif code == _SOURCE:
            matches.append(shared(("saddr", networks(value), negate)))
            index += 1
        elif code == _COMMENT:
            if value[:1] == "-" or index >= count:
                comment = ""
                index += 1
            else:
                index += 1
                if not quoted and index < count and words[index][:1] != "-" and words[index] != "!":
                    # Tolerate unquoted multi-word comments (kube-proxy's own test data has them).
                    parts = [value]
                    while index < count and words[index][:1] != "-" and words[index] != "!":
                        parts.append(words[index])
                        index += 1
                    value = " ".join(parts)
                comment = value
        elif code == _STATISTIC:
            if statistic is None:
                statistic = {}
            statistic[word] = value
            index += 1
        elif code == _SPORT:
            matches.append(shared(("sport", ports(value), negate)))
            index += 1
        elif code == _TARGET_OPTION:
            if target_options is None:
                target_options = {}
            target_options[word] = value
            index += 1
        elif code in (_SRC_TYPE, _DST_TYPE):
            matches.append(shared(("src_type" if code == _SRC_TYPE else "dst_type", value.upper(), negate)))
            index += 1
        elif code == _MARK:
            mark_value, mark_mask = _mark(value)
            matches.append(shared(("mark", mark_value, mark_mask, negate)))
            index += 1
        elif code == _STATE:
            matches.append(shared(("ctstate", _states(value), negate)))
            index += 1
        elif code == _RECENT_NAME:
            if recent is None:
                recent = {}
            recent["name"] = value
            index += 1
        elif code == _RECENT_OPERATION:
            if recent is None:
                recent = {}
            recent["operation"] = word
        elif code == _SECONDS:
            if recent is None:
                recent = {}
            recent["seconds"] = value
            index += 1
        elif code == _MATCH_SET:
            direction = words[index + 1] if index + 1 < count else "dst"
            kind = "saddr_set" if direction.split(",")[0] == "src" else "daddr_set"
            matches.append(shared((kind, value, negate, direction)))
            index += 2
        elif code == _INTERFACE:
            matches.append(shared(("iface", "in" if word in ("-i", "--in-interface") else "out", value, negate)))
            index += 1
        elif code == _PHYSDEV_FLAG:
            matches.append(shared(("physdev", word[len("--physdev-"):], negate)))
        elif code == _PHYSDEV_NAME:
            matches.append(shared(("physdev", f"{word[len('--physdev-'):]} {value}", negate)))
            index += 1
        elif index < count and words[index][:1] != "-":  # an inert option and its value
            index += 1
        negate = False
    action: Action = ("none",)
    if statistic is not None:
        if statistic.get("--mode", "random") == "nth":
            every = int(statistic.get("--every", "1") or 1)
            matches.append(shared(("random", 1.0 / every)))
        else:
            matches.append(shared(("random", float(statistic.get("--probability", "1")))))
    if recent is not None:
        operation = recent.get("operation", "--rcheck")
        if operation in ("--rcheck", "--update"):
            matches.append(shared(("recent", recent.get("name", ""), int(recent.get("seconds", "0") or 0))))
        elif operation == "--set" and not target:
            # `--set` always matches; it records the client for later connections.
            action = ("recent_set", recent.get("name", ""))
    if target:
        action = _action(target, goto, target_options or {}, action, shared)
    elif action[0] == "none" and any(match[0] == "unknown" for match in matches):
        # What was not understood may have been the rule's target: its action is unknown.
        action = ("unknown", text)
    return new_rule(table, chain, tuple(matches), action, text, line, comment)


def _action(target: str, goto: bool, target_options: dict[str, str], action: Action,
            shared: Callable[[tuple[object, ...]], tuple[object, ...]]) -> Action:
    if target in _TERMINAL:
        return _TERMINAL[target]
    if target == "REJECT":
        return shared(("reject", reject_type(target_options.get("--reject-with", "icmp-port-unreachable"))))
    if target == "DNAT":
        ip, port = split_host_port(target_options.get("--to-destination", ""))
        addresses.address(ip)  # a DNAT to something that is not an address cannot be read
        return ("dnat", ip, port)
    if target == "MARK":
        for option, operation in _MARK_OPERATIONS:
            if option in target_options:
                mark_value, mark_mask = _mark(target_options[option])
                return shared(("mark", operation, mark_value, mark_mask))
        return action
    if target == "SNAT":
        return ("snat", target_options.get("--to-source", ""))
    if target in _NON_TERMINAL:
        return action if action[0] == "recent_set" else ("none",)
    return shared(("goto" if goto else "jump", target))


def split_host_port(text: str) -> tuple[str, int]:
    """``10.0.0.1:80`` / ``[fd00::1]:80`` / ``10.0.0.1`` → (ip, port or 0)."""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else 0
    if text.count(":") == 1:
        host, _, port = text.partition(":")
        return host, int(port.split("-")[0]) if port else 0
    return text, 0


def parse(text: str, *, family: int = 0) -> Ruleset:
    """Parse ``iptables-save`` / ``ip6tables-save`` output or ``iptables-restore`` input."""
    table = ""
    chain_rules: dict[tuple[str, str], list[Rule]] = defaultdict(list)
    policies: dict[tuple[str, str], str] = {}
    order: list[tuple[str, str]] = []
    problems: list[str] = []
    detected_family = family
    values = _Values()
    # iptables-save prints each chain's rules together: keep the current chain's list at hand.
    current_key: tuple[str, str] = ("", "")
    current: list[Rule] = []
    unplaced: list[str] = []
    declared: set[tuple[str, str]] = set()
    #: Tables that declare their chains (iptables-save does; a hand-written snippet may not).
    declaring: set[str] = set()

    def unreadable(chain_key: tuple[str, str], number: int, line: str, reason: str) -> None:
        """Keep a rule line that cannot be read where it stood, as an ``unreadable`` rule."""
        problems.append(f"line {number}: {reason}: {line[:80]}")
        chain_rules[chain_key].append(new_rule(chain_key[0], chain_key[1], (("unreadable", line),),
                                               ("unknown", line), line, number, ""))
        if chain_key not in policies:
            policies[chain_key] = "-"
            order.append(chain_key)

    def unplace(number: int, line: str, reason: str) -> None:
        problems.append(f"line {number}: {reason}: {line[:80]}")
        unplaced.append(f"line {number}: {line[:200]}")

    for number, raw_line in enumerate(text.splitlines(), start=1):
        line = raw_line.strip()
        if not line:
            continue
        first = line[0]
        if first == "[":
            # iptables-save -c: every rule begins with its [packets:bytes] counters.
            close = line.find("]")
            if close > 0 and line[1:close].replace(":", "", 1).isdigit() and line[close + 1:close + 2] == " ":
                line = line[close + 1:].lstrip()
                first = line[:1]
            if not line:
                continue
        if first == "-" and (line.startswith("-A ") or line.startswith("-I ")):
            if not table:
                unplace(number, line, "rule outside a table")
                continue
            if '"' not in line:
                words = line.split()
            elif "\\" not in line and line.count('"') == 2:
                # The usual kube-proxy rule: one quoted comment.
                before, quoted, after = line.split('"')
                words = before.split()
                words.append(quoted)
                words.extend(after.split())
            else:
                words = tokens(line)
            if len(words) < 2:
                unplace(number, line, "rule without a chain")
                continue
            chain = words[1]
            if chain != current_key[1] or table != current_key[0]:
                current_key = (table, chain)
                if current_key not in policies:
                    policies[current_key] = "-"
                    order.append(current_key)
                current = chain_rules[current_key]
            del words[:2]
            if table in declaring and (table, chain) not in declared:
                # iptables-save declares every chain of a table before its rules: a rule for a
                # chain it never declared is a garbled chain name, and the chain it belonged to
                # is missing a rule nobody can place.
                unplace(number, line, f"rule for chain {chain}, which the table does not declare")
            try:
                rule = parse_rule(table, chain, words, line, number, values)
            except (ValueError, IndexError) as error:
                unreadable(current_key, number, line, str(error) or type(error).__name__)
                continue
            if not detected_family:
                for match in rule.matches:
                    if match[0] in ("saddr", "daddr"):
                        detected_family = match[1][0][0]
                        break
            if line[1] == "I":
                current.insert(0, rule)
            else:
                current.append(rule)
            continue
        if first == "#":
            continue
        if first == "*":
            table = line[1:].strip()
            current_key = ("", "")
            if table not in TABLES:
                unplace(number, line, "not a table iptables-save prints")
            continue
        if first == ":":
            name, _, rest = line[1:].partition(" ")
            key = (table, name)
            declared.add(key)
            declaring.add(table)
            if key not in policies:
                order.append(key)
            policies[key] = rest.split(" ", 1)[0] if rest else "-"
            if policies[key] not in POLICIES or not name:
                unplace(number, line, "not a chain declaration")
            continue
        if line == "COMMIT":
            continue
        if line.startswith(("-N ", "-X", "-F", "-P ")):
            if line.startswith("-P "):
                parts = line.split()
                if len(parts) >= 3:
                    policies[(table, parts[1])] = parts[2]
            elif line.startswith("-N "):
                key = (table, line.split()[1])
                declared.add(key)
                declaring.add(table)
                if key not in policies:
                    policies[key] = "-"
                    order.append(key)
            continue
        unplace(number, line, "not understood")
    chains: dict[tuple[str, str], Chain] = {}
    for key in order:
        table_name, chain_name = key
        hook = BUILTIN_HOOKS.get(table_name, {}).get(chain_name, "")
        priority = IPTABLES_TABLE_PRIORITY.get(table_name, 0)
        if table_name == "nat" and hook in ("input", "postrouting"):
            priority = NAT_SOURCE_PRIORITY
        policy = policies.get(key, "-")
        chains[key] = build_chain(table_name, chain_name, chain_rules.get(key, []), hook=hook, priority=priority,
                                  type="nat" if table_name == "nat" else "filter" if hook else "",
                                  policy="drop" if policy == "DROP" else "accept")
    return Ruleset("iptables", chains, family=detected_family or 4, problems=tuple(problems),
                   unplaced=tuple(unplaced))


#: Every rule position of a short chain (shared: most chains are short).
_POSITIONS = tuple(tuple(range(length)) for length in range(9))


def build_chain(table: str, name: str, rules: list[Rule], *, hook: str = "", priority: int = 0, type: str = "",
                policy: str = "accept") -> Chain:
    """A Chain with its look-up indexes: rules that match exactly one host address, or else
    exactly one destination port, are only examined for packets with that address / port."""
    if len(rules) <= 8:
        # Short chains (most of them) are cheaper to scan than to index.
        return new_chain(table, name, tuple(rules), hook, priority, type, policy, NO_INDEX, NO_INDEX,
                         _POSITIONS[len(rules)])
    by_destination: dict[int, list[int]] = defaultdict(list)
    by_port: dict[int, list[int]] = defaultdict(list)
    general: list[int] = []
    for position, rule in enumerate(rules):
        host = port = None
        for match in rule.matches:
            if match[0] == "daddr" and not match[2] and len(match[1]) == 1 and addresses.is_host(match[1][0]):
                host = match[1][0][1]
                break
            if match[0] == "dport" and not match[2] and len(match[1]) == 1 and match[1][0][0] == match[1][0][1]:
                port = match[1][0][0]
        if host is not None:
            by_destination[host].append(position)
        elif port is not None:
            by_port[port].append(position)
        else:
            general.append(position)
    return new_chain(table, name, tuple(rules), hook, priority, type, policy,
                     {key: tuple(value) for key, value in by_destination.items()},
                     {key: tuple(value) for key, value in by_port.items()}, tuple(general))
