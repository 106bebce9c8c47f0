"""Parse ``iptables-save`` output (and ``iptables-restore`` input, as kube-proxy writes it).

Reads every table (nat, filter, mangle, raw), chain policies, and the matches and targets
kube-proxy uses: addresses and prefixes (``-s``/``-d``, negated), protocols, ports (``--dport``,
``multiport --dports``), ``addrtype --src-type/--dst-type``, ``mark --mark``, ``conntrack
--ctstate``, ``statistic --mode random --probability`` and ``--mode nth``, ``recent``
(session affinity), ``set --match-set`` (IPVS mode's ipsets), comments; and the targets
``DNAT --to-destination``, ``MARK``, ``MASQUERADE``, ``ACCEPT``, ``DROP``, ``REJECT``,
``RETURN``, jumps (``-j``) and gotos (``-g``). IPv4 and IPv6 dumps read the same way.
Anything else is kept as an ``unknown`` match so that the tracer can say it was unsure.
"""

from __future__ import annotations

import re
from collections import defaultdict
from functools import lru_cache

from svcdoctor.dataplane import addresses
from svcdoctor.dataplane.interface import (
    IPTABLES_TABLE_PRIORITY,
    NAT_SOURCE_PRIORITY,
    Action,
    Chain,
    Match,
    Rule,
    Ruleset,
)

_TOKEN = re.compile(r'"((?:[^"\\]|\\.)*)"|(\S+)')

#: Built-in chains of each table → their netfilter hook.
BUILTIN_HOOKS: dict[str, dict[str, str]] = {
    "raw": {"PREROUTING": "prerouting", "OUTPUT": "output"},
    "mangle": {"PREROUTING": "prerouting", "INPUT": "input", "FORWARD": "forward", "OUTPUT": "output",
               "POSTROUTING": "postrouting"},
    "nat": {"PREROUTING": "prerouting", "INPUT": "input", "OUTPUT": "output", "POSTROUTING": "postrouting"},
    "filter": {"INPUT": "input", "FORWARD": "forward", "OUTPUT": "output"},
    "security": {"INPUT": "input", "FORWARD": "forward", "OUTPUT": "output"},
}

_TERMINAL = {"ACCEPT": ("accept",), "DROP": ("drop",), "REJECT": ("reject",), "RETURN": ("return",),
             "MASQUERADE": ("masquerade",)}
#: Targets that only count, log or tag: the packet goes on to the next rule.
_NON_TERMINAL = {"LOG", "NFLOG", "CONNMARK", "CT", "NOTRACK", "TRACE", "CHECKSUM", "TCPMSS", "NFACCT", ""}
#: Options that never change whether a rule matches.
_INERT_OPTIONS = {"--nfacct-name", "--reap", "--rsource", "--rdest", "--mask", "--random-fully", "--random",
                  "--persistent", "--log-prefix", "--log-level", "--reject-with", "--to-ports",
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


@lru_cache(maxsize=65536)
def _ports(text: str) -> tuple[tuple[int, int], ...]:
    ranges = []
    for part in text.split(","):
        low, _, high = part.partition(":")
        ranges.append((int(low), int(high or low)))
    return tuple(ranges)


@lru_cache(maxsize=200_000)
def _networks(text: str) -> tuple[addresses.Network, ...]:
    return tuple(addresses.network(part) for part in text.split(","))


@lru_cache(maxsize=1024)
def _mark(text: str) -> tuple[int, int]:
    value, _, mask = text.partition("/")
    return int(value, 0), int(mask, 0) if mask else 0xFFFFFFFF


@lru_cache(maxsize=256)
def _states(text: str) -> frozenset[str]:
    return frozenset(text.upper().split(","))


def parse_rule(table: str, chain: str, words: list[str], text: str, line: int) -> Rule:
    """One ``-A CHAIN …`` rule (``words`` are the tokens after the chain name)."""
    matches: list[Match] = []
    action: Action = ("none",)
    comment = ""
    target = ""
    target_options: dict[str, str] = {}
    negate = False
    statistic: dict[str, str] = {}
    recent: dict[str, str] = {}
    index, count = 0, len(words)
    while index < count:
        word = words[index]
        index += 1
        if word == "!":
            negate = True
            continue
        value = words[index] if index < count else ""
        # The most frequent options of kube-proxy's rules come first.
        if word == "-m" or word == "--match":
            index += 1
        elif word == "-j" or word == "--jump" or word == "-g" or word == "--goto":
            target = value
            index += 1
            if word == "-g" or word == "--goto":
                target_options["goto"] = "1"
        elif word in ("-s", "--source"):
            matches.append(("saddr", _networks(value), negate))
            index += 1
        elif word in ("-d", "--destination"):
            matches.append(("daddr", _networks(value), negate))
            index += 1
        elif word in ("-p", "--protocol"):
            matches.append(("proto", value.lower(), negate))
            index += 1
        elif word in ("--dport", "--destination-port", "--dports", "--destination-ports"):
            matches.append(("dport", _ports(value), negate))
            index += 1
        elif word in ("--sport", "--source-port", "--sports", "--source-ports"):
            matches.append(("sport", _ports(value), negate))
            index += 1
        elif word == "--comment":
            if value.startswith("-") or index >= count:
                comment = ""
            else:
                # Tolerate unquoted multi-word comments (kube-proxy's own test data has them).
                parts = [value]
                index += 1
                while index < count and not words[index].startswith("-") and words[index] != "!":
                    parts.append(words[index])
                    index += 1
                comment = " ".join(parts)
                continue
            index += 1
        elif word == "--src-type":
            matches.append(("src_type", value.upper(), negate))
            index += 1
        elif word == "--dst-type":
            matches.append(("dst_type", value.upper(), negate))
            index += 1
        elif word == "--mark" and not target:
            mark_value, mark_mask = _mark(value)
            matches.append(("mark", mark_value, mark_mask, negate))
            index += 1
        elif word in ("--ctstate", "--state"):
            matches.append(("ctstate", _states(value), negate))
            index += 1
        elif word in ("--mode", "--probability", "--every", "--packet"):
            statistic[word] = value
            index += 1
        elif word in ("--name",) and not target:
            recent["name"] = value
            index += 1
        elif word in ("--set", "--rcheck", "--update", "--remove") and not target:
            recent["operation"] = word
        elif word == "--seconds":
            recent["seconds"] = value
            index += 1
        elif word == "--match-set":
            direction = words[index + 1] if index + 1 < count else "dst"
            kind = "saddr_set" if direction.split(",")[0] == "src" else "daddr_set"
            matches.append((kind, value, negate, direction))
            index += 2
        elif word in ("--to-destination", "--or-mark", "--xor-mark", "--set-xmark", "--set-mark", "--and-mark",
                      "--to-source"):
            target_options[word] = value
            index += 1
        elif word in ("-i", "--in-interface", "-o", "--out-interface"):
            # Interfaces are not modelled: a rule bound to one is examined but flagged.
            matches.append(("unknown", f"{word} {value}"))
            index += 1
        elif word in _INERT_OPTIONS:
            if index < count and not words[index].startswith("-"):
                index += 1
        elif word.startswith("-"):
            values = []
            while index < count and not words[index].startswith("-") and words[index] != "!":
                values.append(words[index])
                index += 1
            matches.append(("unknown", " ".join([("! " if negate else "") + word, *values])))
        negate = False
    if statistic:
        mode = statistic.get("--mode", "random")
        if mode == "nth":
            every = int(statistic.get("--every", "1") or 1)
            matches.append(("random", 1.0 / every))
        else:
            matches.append(("random", float(statistic.get("--probability", "1"))))
    if recent:
        operation = recent.get("operation", "--rcheck")
        if operation in ("--rcheck", "--update"):
            matches.append(("recent", recent.get("name", ""), int(recent.get("seconds", "0") or 0)))
        elif operation == "--set":
            # `--set` always matches; it records the client for later connections.
            action_recent = ("recent_set", recent.get("name", ""))
            if not target:
                action = action_recent
    if target in _TERMINAL:
        action = _TERMINAL[target]
    elif target == "DNAT":
        destination = target_options.get("--to-destination", "")
        ip, port = split_host_port(destination)
        action = ("dnat", ip, port)
    elif target == "MARK":
        for option, operation in (("--or-mark", "or"), ("--xor-mark", "xor"), ("--and-mark", "and"),
                                  ("--set-xmark", "setx"), ("--set-mark", "set")):
            if option in target_options:
                mark_value, mark_mask = _mark(target_options[option])
                action = ("mark", operation, mark_value, mark_mask)
                break
    elif target == "SNAT":
        action = ("snat", target_options.get("--to-source", ""))
    elif target in _NON_TERMINAL:
        if action[0] != "recent_set":
            action = ("none",)
    elif target:
        action = ("goto" if target_options.get("goto") else "jump", target)
    return Rule(table, chain, tuple(matches), action, text, line, comment)


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
    for number, raw_line in enumerate(text.splitlines(), start=1):
        line = raw_line.strip()
        if not line or line[0] == "#":
            continue
        first = line[0]
        if first == "*":
            table = line[1:].strip()
            continue
        if first == ":":
            name, _, rest = line[1:].partition(" ")
            key = (table, name)
            if key not in policies:
                order.append(key)
            policies[key] = rest.split(" ", 1)[0] if rest else "-"
            continue
        if line == "COMMIT":
            continue
        if line.startswith("-A ") or line.startswith("-I "):
            if not table:
                problems.append(f"line {number}: rule outside a table: {line[:80]}")
                continue
            words = tokens(line)
            if len(words) < 2:
                problems.append(f"line {number}: rule without a chain: {line[:80]}")
                continue
            chain = words[1]
            key = (table, chain)
            if key not in policies:
                policies[key] = "-"
                order.append(key)
            try:
                rule = parse_rule(table, chain, words[2:], line, number)
            except (ValueError, IndexError) as error:
                problems.append(f"line {number}: {error}: {line[:80]}")
                continue
            if not detected_family:
                for match in rule.matches:
                    if match[0] in ("saddr", "daddr"):
                        detected_family = match[1][0][0]
                        break
            if line.startswith("-I "):
                chain_rules[key].insert(0, rule)
            else:
                chain_rules[key].append(rule)
            continue
        if line.startswith(("-N ", "-X", "-F", "-P ")):
            if line.startswith("-P "):
                parts = line.split()
                if len(parts) >= 3:
                    policies[(table, parts[1])] = parts[2]
            elif line.startswith("-N "):
                key = (table, line.split()[1])
                if key not in policies:
                    policies[key] = "-"
                    order.append(key)
            continue
        problems.append(f"line {number}: not understood: {line[:80]}")
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
    return Ruleset("iptables", chains, family=detected_family or 4, problems=tuple(problems))


def build_chain(table: str, name: str, rules: list[Rule], **base: object) -> Chain:
    """A Chain with its look-up indexes: rules that match exactly one host address, or else
    exactly one destination port, are only examined for packets with that address / port."""
    if len(rules) <= 8:
        # Short chains (most of them) are cheaper to scan than to index.
        return Chain(table, name, tuple(rules), general=tuple(range(len(rules))), **base)  # type: ignore[arg-type]
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
    return Chain(table, name, tuple(rules), by_destination={key: tuple(value) for key, value in by_destination.items()},
                 by_port={key: tuple(value) for key, value in by_port.items()},
                 general=tuple(general), **base)  # type: ignore[arg-type]
