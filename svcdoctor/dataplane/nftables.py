"""Parse ``nft list ruleset`` output (and ``nft -f`` transactions, as kube-proxy writes them).

Covers what kube-proxy's nftables mode uses: tables of family ``ip`` / ``ip6`` / ``inet``, sets
and maps (typed, concatenated keys such as ``ipv4_addr . inet_proto . inet_service``, verdict
maps, element comments, interval sets, dynamic affinity sets), base chains with their hook and
priority, and rule statements: address / port / protocol matches (``ip daddr``, ``ip saddr !=
{ … }``, ``meta l4proto``, ``th dport``, ``tcp dport``), set membership (``@cluster-ips``),
concatenated lookups (``ip daddr . meta l4proto . th dport vmap @service-ips``), ``fib … type
local``, ``ct state``, marks, ``numgen random mod N vmap { … }``, ``dnat to``, ``masquerade``,
``update @set``, ``jump`` / ``goto`` / ``accept`` / ``drop`` / ``reject`` / ``return``.
Statements it does not know become ``unknown`` matches, which the tracer reports.
"""

from __future__ import annotations

import re
import socket
from collections import defaultdict
from typing import Any

from svcdoctor.dataplane import addresses
from svcdoctor.dataplane.interface import Action, Chain, Match, NamedSet, Rule, Ruleset
from svcdoctor.dataplane.iptables import build_chain, split_host_port

_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[{},;]|[^\s{},;]+')
_HANDLE = re.compile(r"\s+#\s+handle\s+\d+\s*$")
_PRIORITY_NAMES = {"raw": -300, "mangle": -150, "dstnat": -100, "filter": 0, "security": 50, "srcnat": 100}
_SET_WORDS = {"comment", "flags", "elements", "timeout", "size", "policy", "auto-merge", "gc-interval", "counter"}
_VERDICTS = {"accept", "drop", "reject", "return", "continue"}
_FIELD_NAMES = {("ip", "daddr"): "daddr", ("ip6", "daddr"): "daddr", ("ip", "saddr"): "saddr",
                ("ip6", "saddr"): "saddr", ("meta", "l4proto"): "l4proto", ("th", "dport"): "dport",
                ("th", "sport"): "sport", ("tcp", "dport"): "dport", ("udp", "dport"): "dport",
                ("sctp", "dport"): "dport", ("tcp", "sport"): "sport", ("udp", "sport"): "sport",
                ("ip", "protocol"): "l4proto", ("ip6", "nexthdr"): "l4proto"}


_SPECIAL = frozenset('"{},;')


def tokens(text: str) -> list[str]:
    if _SPECIAL.isdisjoint(text):
        # Without quotes, braces, commas or semicolons the words are whatever whitespace parts.
        return text.split()
    return _TOKEN.findall(text)


def _unquote(token: str) -> str:
    if len(token) >= 2 and token[0] == '"' and token[-1] == '"':
        return token[1:-1].replace('\\"', '"')
    return token


def _port(text: str) -> int:
    if text.isdigit():
        return int(text)
    try:
        return socket.getservbyname(text)
    except OSError:
        raise ValueError(f"not a port: {text}") from None


def _key_part(field_type: str, text: str) -> Any:
    if field_type in ("ipv4_addr", "ipv6_addr"):
        return addresses.address(text)
    if field_type in ("inet_service",):
        return _port(text)
    if field_type == "inet_proto":
        return text.lower()
    if text.isdigit():
        return int(text)
    return text


def _verdict(words: list[str]) -> Action | None:
    if not words:
        return None
    if words[0] in ("goto", "jump") and len(words) > 1:
        return (words[0], words[1])
    if words[0] in _VERDICTS:
        return (words[0],)
    return None


def _split_top(items: list[str], separator: str) -> list[list[str]]:
    groups: list[list[str]] = [[]]
    depth = 0
    for item in items:
        if item == "{":
            depth += 1
        elif item == "}":
            depth -= 1
        if item == separator and depth == 0:
            groups.append([])
        else:
            groups[-1].append(item)
    return [group for group in groups if group]


def _braced(words: list[str], start: int) -> tuple[list[str], int]:
    """The tokens inside ``{ … }`` starting at ``words[start] == "{"``, and the index after it."""
    depth = 0
    for index in range(start, len(words)):
        if words[index] == "{":
            depth += 1
        elif words[index] == "}":
            depth -= 1
            if depth == 0:
                return words[start + 1:index], index + 1
    return words[start + 1:], len(words)


def _parse_elements(words: list[str], key_types: tuple[str, ...], is_map: bool,
                    ) -> tuple[dict[tuple[Any, ...], Action | None], dict[tuple[Any, ...], str],
                               list[addresses.Network]]:
    elements: dict[tuple[Any, ...], Action | None] = {}
    comments: dict[tuple[Any, ...], str] = {}
    intervals: list[addresses.Network] = []
    for element in _split_top([word for word in words if word != ";"], ","):
        verdict: Action | None = None
        if is_map and ":" in element:
            colon = element.index(":")
            verdict = _verdict(element[colon + 1:])
            element = element[:colon]
        comment = ""
        if "comment" in element:
            at = element.index("comment")
            comment = _unquote(element[at + 1]) if at + 1 < len(element) else ""
            element = element[:at]
        for cut in ("timeout", "expires", "counter"):
            if cut in element:
                element = element[:element.index(cut)]
        parts = [part for part in element if part != "."]
        if not parts:
            continue
        if len(key_types) == 1 and key_types[0] in ("ipv4_addr", "ipv6_addr") and ("/" in parts[0] or
                                                                                   "-" in parts[0]):
            if "/" in parts[0]:
                intervals.append(addresses.network(parts[0]))
            else:
                low, _, high = parts[0].partition("-")
                intervals.extend(_range_networks(low, high))
            continue
        try:
            key = tuple(_key_part(key_types[position] if position < len(key_types) else "", part)
                        for position, part in enumerate(parts))
        except ValueError:
            continue
        elements[key] = verdict
        if comment:
            comments[key] = comment
    return elements, comments, intervals


def _range_networks(low: str, high: str) -> list[addresses.Network]:
    import ipaddress

    first, last = ipaddress.ip_address(low), ipaddress.ip_address(high)
    result = []
    for net in ipaddress.summarize_address_range(first, last):
        result.append(addresses.network(str(net)))
    return result


def _value_set(words: list[str], start: int) -> tuple[list[str], int]:
    """A value or ``{ a, b }`` anonymous set at ``start``: its members and the next index."""
    if start < len(words) and words[start] == "{":
        inner, after = _braced(words, start)
        return [word for word in inner if word != ","], after
    return ([words[start]], start + 1) if start < len(words) else ([], start)


def _ports(values: list[str]) -> tuple[tuple[int, int], ...]:
    ranges = []
    for value in values:
        low, _, high = value.partition("-")
        ranges.append((_port(low), _port(high or low)))
    return tuple(ranges)


def parse_rule(table: str, chain: str, text: str, line: int, words: list[str] | None = None) -> Rule:
    """One rule statement list (without ``add rule TABLE CHAIN``)."""
    if words is None:
        words = tokens(text)
    matches: list[Match] = []
    action: Action = ("none",)
    comment = ""
    unknown: list[str] = []
    index, count = 0, len(words)

    def flush_unknown() -> None:
        if unknown:
            matches.append(("unknown", " ".join(unknown)))
            unknown.clear()

    while index < count:
        word = words[index]
        following = words[index + 1] if index + 1 < count else ""
        pair = (word, following)
        if pair in _FIELD_NAMES:
            fields = [_FIELD_NAMES[pair]]
            implied_protocol = word if word in ("tcp", "udp", "sctp") else ""
            index += 2
            while index + 2 < count + 1 and index < count and words[index] == ".":
                fields.append(_FIELD_NAMES.get((words[index + 1], words[index + 2]), words[index + 2]))
                index += 3
            negate = False
            if index < count and words[index] in ("!=", "=="):
                negate = words[index] == "!="
                index += 1
            if index < count and words[index] == "vmap":
                index += 1
                if index < count and words[index].startswith("@"):
                    action = ("vmap", tuple(fields), words[index][1:], {})
                    index += 1
                else:
                    inner, index = _braced(words, index)
                    elements, _, _ = _parse_elements(inner, tuple(_field_type(name) for name in fields), True)
                    action = ("vmap", tuple(fields), None, elements)
                continue
            if index < count and words[index].startswith("@"):
                set_name = words[index][1:]
                index += 1
                if len(fields) == 1 and fields[0] in ("daddr", "saddr"):
                    matches.append((f"{fields[0]}_set", set_name, negate))
                else:
                    matches.append(("concat_set", tuple(fields), set_name, negate))
                continue
            values, index = _value_set(words, index)
            name = fields[0]
            if len(fields) > 1:
                unknown.append(f"{word} {following} … {' '.join(values)}")
                continue
            if implied_protocol:
                matches.append(("proto", implied_protocol, False))
            if name in ("daddr", "saddr"):
                matches.append((name, tuple(addresses.network(value) for value in values), negate))
            elif name in ("dport", "sport"):
                matches.append((name, _ports(values), negate))
            elif name == "l4proto":
                if len(values) == 1:
                    matches.append(("proto", values[0].lower(), negate))
                else:
                    unknown.append(f"{word} {following} {{ {' '.join(values)} }}")
            continue
        if word == "fib" and index + 3 < count + 1:
            direction = following
            index += 2
            while index < count and words[index] in (".", "iif", "oif", "mark"):
                index += 1
            if index < count and words[index] == "type":
                index += 1
                negate = False
                if index < count and words[index] == "!=":
                    negate = True
                    index += 1
                values, index = _value_set(words, index)
                kind = "dst_type" if direction == "daddr" else "src_type"
                matches.append((kind, values[0].upper() if values else "", negate))
            continue
        if word == "ct" and following == "state":
            index += 2
            negate = False
            if index < count and words[index] == "!=":
                negate = True
                index += 1
            values, index = _value_set(words, index)
            matches.append(("ctstate", frozenset(value.upper() for value in values), negate))
            continue
        if word in ("mark", "meta") and (word == "mark" or following == "mark"):
            index += 1 if word == "mark" else 2
            if index < count and words[index] == "set":
                # mark set mark or 0x4000 | meta mark set meta mark | 0x00004000
                index += 1
                rest = []
                while index < count and words[index] not in ("comment", "counter"):
                    rest.append(words[index])
                    index += 1
                operands = [item for item in rest if item not in ("meta", "mark")]
                if len(operands) == 2 and operands[0] in ("or", "|", "xor", "^", "and", "&"):
                    operation = {"|": "or", "^": "xor", "&": "and"}.get(operands[0], operands[0])
                    action = ("mark", operation, int(operands[1], 0), 0xFFFFFFFF)
                elif len(operands) == 1:
                    action = ("mark", "set", int(operands[0], 0), 0xFFFFFFFF)
                else:
                    unknown.append("mark set " + " ".join(rest))
                continue
            mask = 0xFFFFFFFF
            if index < count and words[index] in ("and", "&"):
                mask = int(words[index + 1], 0)
                index += 2
            negate = False
            if index < count and words[index] in ("==", "!="):
                negate = words[index] == "!="
                index += 1
            if index < count:
                matches.append(("mark", int(words[index], 0) & mask, mask, negate))
                index += 1
            continue
        if word == "numgen":
            # numgen random mod N [offset O] vmap { … }
            modulus = int(words[index + 3]) if index + 3 < count and words[index + 2] == "mod" else 0
            index += 4
            offset = 0
            if index < count and words[index] == "offset":
                offset = int(words[index + 1])
                index += 2
            if index < count and words[index] == "vmap":
                inner, index = _braced(words, index + 1)
                elements, _, _ = _parse_elements(inner, ("integer",), True)
                shifted: dict[int, Action] = {}
                for key, verdict in elements.items():
                    if verdict is not None and isinstance(key[0], int):
                        shifted[key[0] - offset] = verdict
                action = ("numgen", modulus, shifted)
            continue
        if word in ("dnat", "snat"):
            index += 1
            while index < count and words[index] in ("ip", "ip6", "to"):
                index += 1
            target = words[index] if index < count else ""
            index += 1
            if word == "dnat":
                ip, port = split_host_port(target)
                action = ("dnat", ip, port)
            else:
                action = ("snat", target)
            while index < count and words[index] in ("fully-random", "random", "persistent", ","):
                index += 1
            continue
        if word == "masquerade":
            action = ("masquerade",)
            index += 1
            while index < count and words[index] in ("fully-random", "random", "persistent", ","):
                index += 1
            continue
        if word in ("jump", "goto") and following:
            action = (word, following)
            index += 2
            continue
        if word in _VERDICTS:
            action = (word,)
            index += 1
            if word == "reject" and index < count and words[index] == "with":
                index += 3
            continue
        if word == "update" or (word == "add" and following.startswith("@")):
            set_name = following[1:]
            inner, index = _braced(words, index + 2)
            action = ("recent_set", set_name)
            continue
        if word == "counter":
            index += 1
            while index + 1 < count and words[index] in ("packets", "bytes"):
                index += 2
            continue
        if word == "comment":
            comment = _unquote(following)
            index += 2
            continue
        if word in ("log", "limit", "notrack"):
            index += 1
            while index < count and words[index] not in _VERDICTS and words[index] not in ("jump", "goto",
                                                                                          "comment", "counter"):
                index += 1
            continue
        if word == "meta" and following in ("nfproto",):
            index += 3
            continue
        unknown.append(word)
        index += 1
    flush_unknown()
    return Rule(table, chain, tuple(matches), action, text.strip(), line, comment)


def _field_type(name: str) -> str:
    return {"daddr": "ipv4_addr", "saddr": "ipv4_addr", "l4proto": "inet_proto", "dport": "inet_service",
            "sport": "inet_service"}.get(name, "")


class _Builder:
    def __init__(self) -> None:
        self.chain_rules: dict[tuple[str, str], list[Rule]] = defaultdict(list)
        self.chain_info: dict[tuple[str, str], dict[str, Any]] = {}
        self.sets: dict[tuple[str, str], dict[str, Any]] = {}
        self.problems: list[str] = []

    def declare_chain(self, table: str, name: str, body: list[str]) -> None:
        info = self.chain_info.setdefault((table, name), {})
        words = [word for word in body if word not in (";",)]
        if "hook" in words:
            info["hook"] = words[words.index("hook") + 1]
        if "type" in words:
            info["type"] = words[words.index("type") + 1]
        if "priority" in words:
            at = words.index("priority") + 1
            expression = []
            while at < len(words) and words[at] not in ("policy", "comment", "device", "type", "hook"):
                expression.append(words[at])
                at += 1
            info["priority"] = _priority(expression)
        if "policy" in words:
            info["policy"] = words[words.index("policy") + 1]

    def declare_set(self, table: str, name: str, is_map: bool, body: list[str], text: str) -> None:
        record = self.sets.setdefault((table, name), {"map": is_map, "types": (), "elements": [], "flags": "",
                                                      "timeout": "", "text": text})
        words = body
        index = 0
        while index < len(words):
            word = words[index]
            if word == "type":
                types = []
                index += 1
                while index < len(words) and words[index] not in (";", ":", "}") and words[index] not in _SET_WORDS:
                    if words[index] != ".":
                        types.append(words[index])
                    index += 1
                record["types"] = tuple(types)
                if index < len(words) and words[index] == ":":
                    index += 2
                continue
            if word == "flags":
                flags: list[str] = []
                index += 1
                while index < len(words) and (not flags or words[index] == ","):
                    if words[index] == ",":
                        index += 1
                    if index < len(words):
                        flags.append(words[index])
                        index += 1
                record["flags"] = ",".join(flags)
                continue
            if word == "timeout":
                record["timeout"] = words[index + 1] if index + 1 < len(words) else ""
                index += 2
                continue
            if word == "elements":
                index += 1
                if index < len(words) and words[index] == "=":
                    index += 1
                if index < len(words) and words[index] == "{":
                    inner, index = _braced(words, index)
                    record["elements"].append(inner)
                continue
            index += 1

    def add_elements(self, table: str, name: str, inner: list[str]) -> None:
        record = self.sets.get((table, name))
        if record is None:
            self.problems.append(f"elements for undeclared set {table} {name}")
            return
        record["elements"].append(inner)

    def build(self) -> Ruleset:
        sets: dict[tuple[str, str], NamedSet] = {}
        for (table, name), record in self.sets.items():
            elements: dict[tuple[Any, ...], Action | None] = {}
            comments: dict[tuple[Any, ...], str] = {}
            intervals: list[addresses.Network] = []
            for inner in record["elements"]:
                found, found_comments, found_intervals = _parse_elements(inner, record["types"], record["map"])
                elements.update(found)
                comments.update(found_comments)
                intervals.extend(found_intervals)
            sets[(table, name)] = NamedSet(table, name, record["types"], elements, tuple(intervals), comments,
                                           dynamic="dynamic" in record["flags"], timeout=record["timeout"],
                                           text=record["text"])
        chains: dict[tuple[str, str], Chain] = {}
        for key in list(self.chain_info) + [key for key in self.chain_rules if key not in self.chain_info]:
            info = self.chain_info.get(key, {})
            chains[key] = build_chain(key[0], key[1], self.chain_rules.get(key, []), hook=info.get("hook", ""),
                                      priority=info.get("priority", 0), type=info.get("type", ""),
                                      policy=info.get("policy", "accept"))
        families = {table.split(" ", 1)[0] for table, _ in chains}
        family = 0 if "inet" in families or {"ip", "ip6"} <= families else 6 if families == {"ip6"} else 4
        return Ruleset("nftables", chains, sets, family=family, problems=tuple(self.problems))


def _priority(expression: list[str]) -> int:
    total = 0
    sign = 1
    for part in expression:
        if part == "-":
            sign = -1
        elif part == "+":
            sign = 1
        elif part.lstrip("-").isdigit():
            total += sign * int(part)
            sign = 1
        elif part in _PRIORITY_NAMES:
            total += sign * _PRIORITY_NAMES[part]
            sign = 1
    return total


def parse(text: str) -> Ruleset:
    """Parse ``nft list ruleset`` output, an ``nft -f`` script of ``add …`` commands, or both."""
    builder = _Builder()
    lines = text.splitlines()
    index = 0
    table = ""
    block: tuple[str, str, bool] | None = None  # (kind, name, is_map) of the open set/map/chain
    block_lines: list[str] = []
    block_start = 0
    depth = 0
    while index < len(lines):
        raw = lines[index]
        index += 1
        line = (_HANDLE.sub("", raw) if "# handle" in raw else raw).strip()
        if not line or line.startswith("#"):
            continue
        if block is not None and block[0] in ("set", "map"):
            block_lines.append(line)
            depth += line.count("{") - line.count("}")
            if depth <= 0:
                body = tokens(" ".join(block_lines)[:-1] if block_lines[-1].endswith("}") else " ".join(block_lines))
                builder.declare_set(table, block[1], block[2], body, "\n".join(block_lines))
                block, block_lines, depth = None, [], 0
            continue
        if block is not None and block[0] == "chain":
            if line == "}":
                block = None
                continue
            # A rule may wrap over several lines while its braces are open.
            while line.count("{") > line.count("}") and index < len(lines):
                following = lines[index]
                line += " " + (_HANDLE.sub("", following) if "# handle" in following else following).strip()
                index += 1
            words = tokens(line)
            if words and words[0] in ("type", "policy", "comment", "devices"):
                builder.declare_chain(table, block[1], words)
                continue
            _add_rule(builder, table, block[1], line, index, words)
            continue
        if block is not None and block[0] == "skip":
            depth += line.count("{") - line.count("}")
            if depth <= 0:
                block, depth = None, 0
            continue
        words = tokens(line)
        if not words:
            continue
        head = words[0]
        if head == "table" and len(words) >= 3:
            table = f"{words[1]} {words[2]}" if words[2] != "{" else f"ip {words[1]}"
            continue
        if head == "}":
            table = ""
            continue
        if head in ("set", "map") and table and len(words) >= 2:
            block, block_lines, depth, block_start = (head, words[1], head == "map"), [line], line.count("{") - \
                line.count("}"), index
            if depth <= 0:
                builder.declare_set(table, words[1], head == "map", tokens(line)[2:], line)
                block, block_lines = None, []
            continue
        if head == "chain" and table and len(words) >= 2:
            builder.chain_info.setdefault((table, words[1]), {})
            block = ("chain", words[1], False)
            continue
        if head in ("flowtable", "counter", "quota", "ct", "limit", "secmark", "synproxy") and table:
            block, depth = ("skip", "", False), line.count("{") - line.count("}")
            if depth <= 0:
                block = None
            continue
        if head in ("add", "create", "insert", "replace") and len(words) >= 4:
            _transaction_line(builder, words, line, index)
            continue
        if head in ("flush", "delete", "destroy") or (head == "comment" and table):
            continue
        builder.problems.append(f"line {index}: not understood: {line[:80]}")
    del block_start
    return builder.build()


def _add_rule(builder: _Builder, table: str, chain: str, text: str, line: int,
              words: list[str] | None = None) -> None:
    try:
        builder.chain_rules[(table, chain)].append(parse_rule(table, chain, text, line, words))
    except (ValueError, IndexError) as error:
        builder.problems.append(f"line {line}: {error}: {text[:80]}")


def _transaction_line(builder: _Builder, words: list[str], line: str, number: int) -> None:
    kind = words[1]
    family, table_name = words[2], words[3]
    table = f"{family} {table_name}"
    name = words[4] if len(words) > 4 else ""
    if kind == "table":
        return
    if kind == "chain":
        builder.chain_info.setdefault((table, name), {})
        if len(words) > 5 and words[5] == "{":
            inner, _ = _braced(words, 5)
            builder.declare_chain(table, name, inner)
        return
    if kind in ("set", "map"):
        inner, _ = _braced(words, 5) if len(words) > 5 and words[5] == "{" else ([], 0)
        builder.declare_set(table, name, kind == "map", inner, line)
        return
    if kind == "element":
        if len(words) > 5 and words[5] == "{":
            inner, _ = _braced(words, 5)
            builder.add_elements(table, name, inner)
        return
    if kind == "rule":
        # add rule FAMILY TABLE CHAIN statements…: cut the first five words off the original text.
        match = re.match(r"\s*\S+\s+\S+\s+\S+\s+\S+\s+\S+\s*(.*)$", line)
        _add_rule(builder, table, name, match.group(1) if match else "", number)
        return
    builder.problems.append(f"line {number}: not understood: {line[:80]}")
