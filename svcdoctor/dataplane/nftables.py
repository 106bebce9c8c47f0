"""Parse ``nft list ruleset`` output (and ``nft -f`` transactions, as kube-proxy writes them).

Covers what kube-proxy's nftables mode uses: tables of family ``ip`` / ``ip6`` / ``inet``, sets
and maps (typed, concatenated keys such as ``ipv4_addr . inet_proto . inet_service``, verdict
maps, element comments, interval sets, dynamic affinity sets), base chains with their hook and
priority, and rule statements: address / port / protocol matches (``ip daddr``, ``ip saddr !=
{ … }``, ``meta l4proto``, ``th dport``, ``tcp dport``), set membership (``@cluster-ips``),
concatenated lookups (``ip daddr . meta l4proto . th dport vmap @service-ips``), ``fib … type
local``, ``ct state`` (with or without braces), ``ct status dnat``, marks, ``numgen random mod N
vmap { … }``, ``dnat to``, ``dnat ip to numgen random mod N map { 0 : ADDR . PORT, … }`` (kube-proxy
since late 2025), ``masquerade``, ``update @set``, ``jump`` / ``goto`` / ``accept`` / ``drop`` /
``reject [with …]`` / ``return``; and what ``nft list ruleset`` prints for iptables-nft's tables
(``meta random & … < …``, ``numgen inc mod N V``, ``iifname``, ``xt match …``). Statements it does
not know become ``unknown`` matches, and rules or set elements it cannot read at all are kept as
``unreadable`` rules and a set's ``unread`` elements: the tracer reports both.

Speed: a listing of thousands of Services has tens of thousands of rules and set elements, most
of them alike. Values, matches and verdicts are parsed once per distinct text and shared (one
object each, which also keeps the parsed rule set small for the garbage collector); big element
lists are split with string methods rather than token by token.
"""

from __future__ import annotations

import re
import socket
from collections import defaultdict
from collections.abc import Iterator
from itertools import repeat
from operator import getitem
from typing import Any, NamedTuple

from svcdoctor.dataplane import addresses
from svcdoctor.dataplane.interface import Action, Chain, Match, NamedSet, Rule, Ruleset, new_rule, reject_type
from svcdoctor.dataplane.iptables import CONNTRACK_STATES, build_chain, protocol, split_host_port

_inet_pton, _AF_INET = socket.inet_pton, socket.AF_INET
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[{},;]|[^\s{},;]+')
_HANDLE = re.compile(r"\s+#\s+handle\s+\d+\s*$")
_TRANSACTION_RULE = re.compile(r"\s*\S+\s+\S+\s+\S+\s+\S+\s+\S+\s*(.*)$")
_PRIORITY_NAMES = {"raw": -300, "mangle": -150, "dstnat": -100, "filter": 0, "security": 50, "srcnat": 100}
_SET_WORDS = {"comment", "flags", "elements", "timeout", "size", "policy", "auto-merge", "gc-interval", "counter"}
#: Set declaration words followed by one value, and words standing alone.
_SET_VALUED_WORDS = frozenset({"comment", "size", "policy", "gc-interval"})
_SET_BARE_WORDS = frozenset({";", "auto-merge", "counter", "{", "}"})
_VERDICTS = {"accept", "drop", "reject", "return", "continue"}
_FIELD_NAMES = {("ip", "daddr"): "daddr", ("ip6", "daddr"): "daddr", ("ip", "saddr"): "saddr",
                ("ip6", "saddr"): "saddr", ("meta", "l4proto"): "l4proto", ("th", "dport"): "dport",
                ("th", "sport"): "sport", ("tcp", "dport"): "dport", ("udp", "dport"): "dport",
                ("sctp", "dport"): "dport", ("tcp", "sport"): "sport", ("udp", "sport"): "sport",
                ("ip", "protocol"): "l4proto", ("ip6", "nexthdr"): "l4proto"}
#: The same, by first word: ``ip`` → ``daddr`` → (field name, protocol the match implies).
_FIELDS: dict[str, dict[str, tuple[str, str]]] = {
    first: {second: (name, first if first in ("tcp", "udp", "sctp") else "")
            for (head, second), name in _FIELD_NAMES.items() if head == first}
    for first, _ in _FIELD_NAMES}
#: Verdicts as actions (shared by every rule and map element that ends in one).
_VERDICT_ACTIONS: dict[str, Action] = {verdict: (verdict,) for verdict in _VERDICTS}
_NO_ACTION: Action = ("none",)
_MASQUERADE: Action = ("masquerade",)
_CHAIN_WORDS = frozenset({"type", "policy", "comment", "devices"})
_FAMILIES = frozenset({"ip", "ip6", "inet", "arp", "bridge", "netdev"})
_HOOKS = frozenset({"prerouting", "input", "forward", "output", "postrouting", "ingress", "egress"})
_CHAIN_TYPES = frozenset({"filter", "nat", "route"})
_POLICIES = frozenset({"accept", "drop"})
#: Key types whose elements this parser reads (others: every element is left unread).
_KEY_TYPES = frozenset({"ipv4_addr", "ipv6_addr", "inet_proto", "inet_service", "mark", "integer", "verdict",
                        "ifname", "ether_addr", "ct_state", "iface_index", "nf_proto", "ipv4_addr_range"})
_CT_WORDS = frozenset(state.lower() for state in CONNTRACK_STATES)
#: Stands for a set's element list (already split) among the tokens of its declaration; it holds
#: spaces and no quote, so no token of a dump can equal it.
_ELEMENTS_HERE = " elements "

# Statement keywords other than the address / port / protocol fields, as small numbers.
(_FIB, _CT, _MARK, _META, _NUMGEN, _NAT, _MASQ, _JUMP, _VERDICT, _UPDATE, _ADD, _COUNTER, _COMMENT,
 _SKIP) = range(14)
(_XT, _INTERFACE, _ICMP) = range(14, 17)
_STATEMENTS = {"fib": _FIB, "ct": _CT, "mark": _MARK, "meta": _META, "numgen": _NUMGEN, "dnat": _NAT, "snat": _NAT,
               "xt": _XT, "iifname": _INTERFACE, "oifname": _INTERFACE, "iif": _INTERFACE, "oif": _INTERFACE,
               "icmp": _ICMP, "icmpv6": _ICMP,
               "masquerade": _MASQ, "jump": _JUMP, "goto": _JUMP, "update": _UPDATE, "add": _ADD,
               "counter": _COUNTER, "comment": _COMMENT, "log": _SKIP, "limit": _SKIP, "notrack": _SKIP,
               **{verdict: _VERDICT for verdict in _VERDICTS}}
_SKIP_UNTIL = frozenset(_VERDICTS | {"jump", "goto", "comment", "counter"})
_NAT_OPTIONS = frozenset({"fully-random", "random", "persistent", ","})
#: Words between ``dnat``/``snat`` and the address: ``dnat ip to …``, ``dnat ip addr . port to …``.
_NAT_PREFIX = frozenset({"ip", "ip6", "to", "addr", "port", "."})
#: Statements that decide where a packet goes and that the tracer does not model: a rule holding
#: one has an unknown action, never a mere unknown match.
_UNMODELLED_ACTIONS = frozenset({"redirect", "tproxy", "queue", "dup", "fwd", "synproxy"})
_STATEMENT_WORDS = frozenset({"accept", "drop", "reject", "return", "continue", "jump", "goto", "masquerade",
                              "dnat", "snat", "counter", "comment", "log", "limit", "notrack", "update", "add"})


def tokens(text: str) -> list[str]:
    if '"' in text:
        return _TOKEN.findall(text)
    # Without quotes, braces, commas and semicolons are words of their own wherever they are.
    if "{" in text:
        text = text.replace("{", " { ")
    if "}" in text:
        text = text.replace("}", " } ")
    if "," in text:
        text = text.replace(",", " , ")
    if ";" in text:
        text = text.replace(";", " ; ")
    return text.split()


def _stripped(raw: str) -> str:
    """``raw`` stripped of spaces and of the `` # handle N`` that ``nft -a`` appends."""
    if "# handle" not in raw:
        return raw.strip()
    head, _, number = raw.rpartition("# handle")
    if number[:1].isspace() and number.strip().isdecimal() and head[-1:].isspace():
        # The common shape, cut without the regular expression (which removes the same).
        return head.strip()
    return _HANDLE.sub("", raw).strip()


def _network(text: str) -> addresses.Network:
    """``addresses.network(text)``, without its cache's upkeep for a plain IPv4 address (a dump has
    thousands, most of them seen once)."""
    try:
        return 4, int.from_bytes(_inet_pton(_AF_INET, text), "big"), 0xFFFFFFFF
    except (OSError, UnicodeError, ValueError):
        return addresses.network(text)


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
        return protocol(text)
    if text.isdigit():
        return int(text)
    return text


class _KeyParts(dict[str, Any]):
    """Element key parts of one type already parsed: text → value (parsed on first use)."""

    __slots__ = ("field_type",)

    def __init__(self, field_type: str) -> None:
        super().__init__()
        self.field_type = field_type

    def __missing__(self, text: str) -> Any:
        value = self[text] = _key_part(self.field_type, text)
        return value


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


def _groups(words: list[str]) -> list[list[str]]:
    """The elements of a ``{ … }`` list: its tokens (without ``;``) cut at top-level commas."""
    if ";" in words:
        words = [word for word in words if word != ";"]
    if "{" in words or "}" in words:
        return _split_top(words, ",")
    groups = []
    start = 0
    for _ in range(words.count(",")):
        end = words.index(",", start)
        if end > start:
            groups.append(words[start:end])
        start = end + 1
    if start < len(words):
        groups.append(words[start:])
    return groups


def _braced(words: list[str], start: int) -> tuple[list[str], int]:
    """The tokens inside ``{ … }`` starting at ``words[start] == "{"``, and the index after it."""
    if start < len(words) and words[start] == "{":
        # Without nested braces the first closing one after the start is the match.
        try:
            close = words.index("}", start + 1)
        except ValueError:
            close = -1
        if close > 0:
            inner = words[start + 1:close]
            if "{" not in inner:
                return inner, close + 1
    depth = 0
    for index in range(start, len(words)):
        if words[index] == "{":
            depth += 1
        elif words[index] == "}":
            depth -= 1
            if depth == 0:
                return words[start + 1:index], index + 1
    return words[start + 1:], len(words)


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
    if start >= len(words):
        return [], start
    # ``ct state related,established``: a list without braces, as nft prints iptables' --ctstate.
    values, after = [words[start]], start + 1
    while after + 1 < len(words) and words[after] == ",":
        values.append(words[after + 1])
        after += 2
    return values, after


def _negated_values(words: list[str], start: int) -> tuple[bool, list[str], int]:
    """``[!=] VALUE`` or ``[!=] { VALUES }`` at ``start``: whether negated, the values, the next index."""
    negate = start < len(words) and words[start] == "!="
    values, after = _value_set(words, start + 1 if negate else start)
    return negate, values, after


def _ports(values: list[str]) -> tuple[tuple[int, int], ...]:
    ranges = []
    for value in values:
        low, _, high = value.partition("-")
        ranges.append((_port(low), _port(high or low)))
    return tuple(ranges)


#: A field statement (``ip daddr``, ``tcp dport`` …) as the parser keeps it: the field's name, the
#: protocol it implies, and the matches already parsed for each value and each negated value.
_Field = tuple[str, str, dict[str, tuple[Match, ...]], dict[str, tuple[Match, ...]]]
#: Words after a field that are not a plain value.
_NOT_PLAIN = frozenset({".", "!=", "==", "vmap", "{"})
#: Words that end an element's key (what follows them is not part of it).
_KEY_ENDS = frozenset({"comment", "timeout", "expires", "counter"})
_PUNCTUATION = frozenset({",", ";", "{", "}"})


class _Parser:
    """Reads the rules and elements of one dump. Each distinct value, match and verdict is parsed
    once and is one object however many rules and elements hold it."""

    __slots__ = ("fields", "gotos", "items", "jumps", "key_parts")

    def __init__(self) -> None:
        self.items: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        self.fields: dict[str, dict[str, _Field]] = {
            first: {second: (name, implied, {}, {}) for second, (name, implied) in by_second.items()}
            for first, by_second in _FIELDS.items()}
        self.jumps: dict[str, Action] = {}
        self.gotos: dict[str, Action] = {}
        self.key_parts: dict[str, _KeyParts] = {}

    def share(self, item: tuple[Any, ...]) -> tuple[Any, ...]:
        found = self.items.get(item)
        if found is None:
            self.items[item] = found = item
        return found

    def jump(self, kind: str, target: str) -> Action:
        known = self.gotos if kind == "goto" else self.jumps
        found = known.get(target)
        if found is None:
            known[target] = found = (kind, target)
        return found

    def parts(self, field_type: str) -> _KeyParts:
        found = self.key_parts.get(field_type)
        if found is None:
            self.key_parts[field_type] = found = _KeyParts(field_type)
        return found

    def verdict(self, words: list[str], start: int) -> Action | None:
        """The verdict that ``words[start:]`` begins with (``goto x``, ``drop`` …), or None."""
        if start >= len(words):
            return None
        word = words[start]
        if (word == "goto" or word == "jump") and start + 1 < len(words):
            return self.jump(word, words[start + 1])
        return _VERDICT_ACTIONS.get(word)

    def elements(self, groups: list[list[str]], key_types: tuple[str, ...], is_map: bool,
                 elements: dict[tuple[Any, ...], Action | None], comments: dict[tuple[Any, ...], str],
                 intervals: list[addresses.Network], unread: list[str] | None = None) -> None:
        """Add the elements of one element list (see :func:`_groups`) to ``elements`` / ``comments`` /
        ``intervals``; elements whose key does not parse are left out and listed in ``unread``."""
        single_address = len(key_types) == 1 and key_types[0] in ("ipv4_addr", "ipv6_addr")
        if len(groups) > 3 and self.columns(groups, key_types, is_map, single_address, elements):
            return
        type_count = len(key_types)
        caches = [self.parts(field_type) for field_type in key_types]
        for element in groups:
            whole = element
            verdict: Action | None = None
            if is_map and ":" in element:
                colon = element.index(":")
                verdict = self.verdict(element, colon + 1)
                element = element[:colon]
            comment = ""
            if not _KEY_ENDS.isdisjoint(element):
                if "comment" in element:
                    at = element.index("comment")
                    comment = _unquote(element[at + 1]) if at + 1 < len(element) else ""
                    element = element[:at]
                for cut in ("timeout", "expires", "counter"):
                    if cut in element:
                        element = element[:element.index(cut)]
            parts = [part for part in element if part != "."] if "." in element else element
            if not parts:
                continue
            if single_address and ("/" in parts[0] or "-" in parts[0]):
                try:
                    if "/" in parts[0]:
                        intervals.append(addresses.network(parts[0]))
                    else:
                        low, _, high = parts[0].partition("-")
                        intervals.extend(_range_networks(low, high))
                except ValueError:
                    if unread is not None:
                        unread.append(" ".join(whole))
                continue
            converters = caches if len(parts) <= type_count else caches + [self.parts("")] * (len(parts) - type_count)
            try:
                key = tuple(map(getitem, converters, parts))
            except ValueError:
                if unread is not None:
                    unread.append(" ".join(whole))
                continue
            if is_map and verdict is None and unread is not None:
                unread.append(" ".join(whole))
                continue
            elements[key] = verdict
            if comment:
                comments[key] = comment

    def columns(self, groups: list[list[str]], key_types: tuple[str, ...], is_map: bool, single_address: bool,
                elements: dict[tuple[Any, ...], Action | None]) -> bool:
        """Add elements all shaped ``K1 . K2 … Kn`` (for maps followed by ``: VERDICT`` or ``: goto|jump
        TARGET``) column by column, without a Python step per element; False when they are not all so
        (then what was added is what :meth:`elements` adds first anyway)."""
        size, width, key_width = len(groups), len(groups[0]), 2 * len(key_types) - 1
        if not key_types or width not in ((key_width + 2, key_width + 3) if is_map else (key_width,)) or set(
                map(len, groups)) != {width}:
            return False
        columns = list(zip(*groups, strict=True))
        key_columns = columns[0:key_width:2]
        if any(columns[position].count(".") != size for position in range(1, key_width, 2)) or any(
                "." in column or ":" in column or not _KEY_ENDS.isdisjoint(column) for column in key_columns):
            return False
        if single_address:
            joined = "".join(key_columns[0])
            if "/" in joined or "-" in joined:
                return False
        verdicts: Iterator[Action | None] = repeat(None)
        if is_map:
            if columns[key_width].count(":") != size:
                return False
            if width == key_width + 2:
                if not set(columns[key_width + 1]) <= _VERDICT_ACTIONS.keys():
                    return False
                verdicts = map(_VERDICT_ACTIONS.get, columns[key_width + 1])
            else:
                kinds, targets = columns[key_width + 1], columns[key_width + 2]
                if kinds.count("goto") == size:
                    verdicts = map(self.gotos.setdefault, targets, zip(kinds, targets, strict=True))
                elif kinds.count("jump") == size:
                    verdicts = map(self.jumps.setdefault, targets, zip(kinds, targets, strict=True))
                else:
                    return False
        keys = zip(*[map(self.parts(field_type).__getitem__, column)
                     for field_type, column in zip(key_types, key_columns, strict=True)], strict=True)
        try:
            elements.update(zip(keys, verdicts, strict=False))
        except ValueError:
            return False
        return True

    def inline_map(self, words: list[str], key_types: tuple[str, ...]) -> dict[tuple[Any, ...], Action | None]:
        """The elements of the ``{ … }`` verdict map in ``words`` (its inner tokens)."""
        elements: dict[tuple[Any, ...], Action | None] = {}
        self.elements(_groups(words), key_types, True, elements, {}, [])
        return elements

    def numgen_dnat(self, words: list[str], index: int, text: str) -> tuple[int, Action]:
        """``numgen random|inc mod N [offset O] map { K : ADDR [. PORT], … }`` from ``index`` (after
        ``numgen``): the next index and a ``numgen`` action whose elements are DNATs."""
        if not (index + 2 < len(words) and words[index + 1] == "mod"):
            raise ValueError(f"dnat to numgen without a modulus: {text[:60]}")
        modulus = int(words[index + 2])
        index += 3
        offset = 0
        if index + 1 < len(words) and words[index] == "offset":
            offset = int(words[index + 1])
            index += 2
        if not (index + 1 < len(words) and words[index] == "map" and words[index + 1] == "{"):
            raise ValueError(f"dnat to numgen without an inline map: {text[:60]}")
        inner, index = _braced(words, index + 1)
        elements: dict[int, Action] = {}
        for group in _groups(inner):
            if ":" not in group:
                raise ValueError(f"numgen map element without a value: {' '.join(group)}")
            colon = group.index(":")
            keys, value = group[:colon], [word for word in group[colon + 1:] if word != "."]
            if len(keys) != 1 or len(value) not in (1, 2):
                raise ValueError(f"numgen map element not understood: {' '.join(group)}")
            ip, port = split_host_port(value[0]) if len(value) == 1 else (value[0], _port(value[1]))
            addresses.address(ip)
            low, _, high = keys[0].partition("-")
            for number in range(int(low), int(high or low) + 1):
                elements[number - offset] = ("dnat", ip, port)
        if modulus <= 0 or not elements:
            raise ValueError(f"numgen map without elements: {text[:60]}")
        return index, ("numgen", modulus, elements)

    def numgen_map(self, words: list[str], offset: int) -> dict[int, Action]:
        """``numgen … vmap { 0 : goto a, 1 : goto b }`` (``words`` inside the braces): number → verdict."""
        shifted: dict[int, Action] = {}
        if (len(words) + 1) % 5 == 0:
            # Elements ``N : goto|jump TARGET`` as kube-proxy writes them, read five words at a time.
            fives = iter([*words, ","])
            try:
                for number, colon, kind, target, comma in zip(fives, fives, fives, fives, fives, strict=False):
                    if (colon != ":" or comma != "," or (kind != "goto" and kind != "jump") or not number.isdigit()
                            or target in _PUNCTUATION):
                        break
                    shifted[int(number) - offset] = (kind, target)
                else:
                    return shifted
            except ValueError:
                pass
            shifted.clear()
        groups = _groups(words)
        for key_values, verdict in self.inline_map(words, ("integer",)).items():
            if verdict is not None and isinstance(key_values[0], int):
                shifted[key_values[0] - offset] = verdict
        if len(shifted) < len(groups):
            raise ValueError(f"numgen map element not read: {' '.join(words)[:60]}")
        return shifted

    def field_matches(self, name: str, implied_protocol: str, values: list[str], negate: bool,
                      ) -> tuple[Match, ...] | None:
        """The matches of ``FIELD VALUES`` (one field), or None when they are not understood."""
        match: Match
        if name == "daddr" or name == "saddr":
            match = (name, tuple(map(_network, values)), negate)
        elif name == "dport" or name == "sport":
            match = self.share((name, _ports(values), negate))
        elif name == "l4proto":
            if len(values) != 1:
                return None
            match = self.share(("proto", protocol(values[0]), negate))
        else:
            return (self.share(("proto", implied_protocol, False)),) if implied_protocol else ()
        return (self.share(("proto", implied_protocol, False)), match) if implied_protocol else (match,)

    def rule(self, table: str, chain: str, text: str, line: int, words: list[str]) -> Rule:
        """One rule: ``words`` are the tokens of ``text`` (stripped, without ``add rule TABLE CHAIN``)."""
        matches: list[Match] = []
        action: Action = _NO_ACTION
        comment = ""
        unknown: list[str] = []
        # The matches of the last statement read from the cache: when they are all the rule's, the
        # rule holds that tuple too.
        last: tuple[Match, ...] = ()
        index, count = 0, len(words)
        while index < count:
            word = words[index]
            by_field = self.fields.get(word)
            if by_field is not None:
                field = by_field.get(words[index + 1]) if index + 1 < count else None
                if field is not None:
                    # FIELD [!= | ==] VALUE, the commonest statement there is: parsed once per distinct text.
                    at = index + 2
                    value = words[at] if at < count else "."
                    by_value = field[2]
                    if value == "!=" or value == "==":
                        by_value = field[3] if value == "!=" else by_value
                        at += 1
                        value = words[at] if at < count else "."
                    if value not in _NOT_PLAIN and value[0] != "@":
                        known = by_value.get(value)
                        if known is None:
                            known = by_value[value] = self.field_matches(
                                field[0], field[1], [value], by_value is field[3]) or ()
                        matches += known
                        last = known
                        index = at + 1
                        continue
                    index, action = self.field(words, index, field, matches, unknown, action)
                    continue
            kind = _STATEMENTS.get(word)
            following = words[index + 1] if index + 1 < count else ""
            if kind is None:
                pass
            elif kind == _JUMP:
                if following:
                    known_action = (self.gotos if word == "goto" else self.jumps).get(following)
                    action = self.jump(word, following) if known_action is None else known_action
                    index += 2
                    continue
            elif kind == _NAT:
                index += 1
                while index < count and words[index] in _NAT_PREFIX:
                    index += 1
                target = words[index] if index < count else ""
                index += 1
                if word == "dnat" and target == "numgen":
                    # dnat ip to numgen random mod N map { 0 : ADDR . PORT, … } (kube-proxy since late 2025)
                    index, action = self.numgen_dnat(words, index, text)
                elif word == "dnat":
                    # Not shared: kube-proxy writes each endpoint's DNAT once.
                    ip, port = split_host_port(target)
                    addresses.address(ip)  # a DNAT to something else (a map look-up …) is not read
                    action = ("dnat", ip, port)
                else:
                    action = ("snat", target)
                while index < count and words[index] in _NAT_OPTIONS:
                    index += 1
                continue
            elif kind == _NUMGEN:
                # numgen random mod N [offset O] vmap { … }, or, from iptables-nft's statistic
                # match, numgen inc mod N V (true for one value in N)
                modulus = int(words[index + 3]) if index + 3 < count and words[index + 2] == "mod" else 0
                if modulus <= 0:
                    raise ValueError(f"numgen without a modulus: {text[:60]}")
                index += 4
                offset = 0
                if index < count and words[index] == "offset":
                    offset = int(words[index + 1])
                    index += 2
                if index < count and words[index] == "vmap":
                    inner, index = _braced(words, index + 1)
                    action = ("numgen", modulus, self.numgen_map(inner, offset))
                    continue
                negate, values, index = _negated_values(words, index)
                chosen: set[int] = set()
                for value in values:
                    low, _, high = value.partition("-")
                    chosen.update(range(int(low) - offset, int(high or low) - offset + 1))
                share = len(chosen & set(range(modulus))) / modulus
                matches.append(self.share(("random", 1.0 - share if negate else share)))
                continue
            elif kind == _VERDICT:
                action = _VERDICT_ACTIONS[word]
                index += 1
                if word == "reject":
                    # reject [with icmp|icmpv6|icmpx [type] CODE | with tcp reset]
                    code = "port-unreachable"
                    if index < count and words[index] == "with":
                        index += 2
                        if index < count and words[index] == "type":
                            index += 1
                        code = words[index] if index < count else ""
                        index += 1
                    action = self.share(("reject", reject_type(code)))
                continue
            elif kind == _CT:
                if following == "state" or (following == "status" and index + 2 < count
                                             and words[index + 2] in ("dnat", "!=")):
                    # ct status dnat: the connection was DNATed (the tracer knows that state as DNAT).
                    negate, values, index = _negated_values(words, index + 2)
                    if not values or not {value.lower() for value in values} <= _CT_WORDS:
                        raise ValueError(f"not a conntrack state: {' '.join(values)}")
                    matches.append(self.share(("ctstate", frozenset(value.upper() for value in values), negate)))
                    continue
            elif kind == _FIB:
                if index + 3 < count + 1:
                    direction = following
                    index += 2
                    while index < count and words[index] in (".", "iif", "oif", "mark"):
                        index += 1
                    if index < count and words[index] == "type":
                        negate, values, index = _negated_values(words, index + 1)
                        fib_kind = "dst_type" if direction == "daddr" else "src_type"
                        matches.append(self.share((fib_kind, values[0].upper() if values else "", negate)))
                    continue
            elif kind == _MARK or (kind == _META and following == "mark"):
                index, action = self.mark(words, index + (1 if word == "mark" else 2), action, matches, unknown)
                continue
            elif kind == _META:
                if following == "nfproto":
                    index += 3
                    continue
                if (following == "random" and index + 5 < count and words[index + 2] == "&"
                        and words[index + 4] == "<"):
                    # iptables-nft's statistic match: meta random & 2147483647 < 1073741824 (one in two)
                    matches.append(self.share(("random", int(words[index + 5], 0) / (int(words[index + 3], 0) + 1))))
                    index += 6
                    continue
                if following in ("iifname", "oifname", "iif", "oif"):
                    index += 1
                    word, following = following, words[index + 1] if index + 1 < count else ""
                    kind = _INTERFACE
            if kind == _INTERFACE:
                negate, values, index = _negated_values(words, index + 1)
                if len(values) == 1:
                    matches.append(self.share(("iface", "in" if word.startswith("i") else "out", _unquote(values[0]),
                                               negate)))
                else:
                    unknown.append(f"{word} {' '.join(values)}")
                continue
            if kind == _ICMP:
                # icmp type echo-request …: an ICMP packet (never the TCP/UDP/SCTP ones traced)
                matches.append(self.share(("proto", "ipv6-icmp" if word == "icmpv6" else "icmp", False)))
                index += 1
                if index < count and words[index] in ("type", "code"):
                    _, _, index = _negated_values(words, index + 1)
                continue
            if kind == _XT:
                # iptables-nft's compat expressions: nft prints only the module's name, not its options.
                if following == "target":
                    action = ("unknown", " ".join(words[index:index + 3]))
                else:
                    unknown.append(" ".join(words[index:index + 3]))
                index += 3
                continue
            if word in _UNMODELLED_ACTIONS:
                action = ("unknown", " ".join(words[index:]))
                break
            elif kind == _MASQ:
                action = _MASQUERADE
                index += 1
                while index < count and words[index] in _NAT_OPTIONS:
                    index += 1
                continue
            elif kind == _COMMENT:
                comment = _unquote(following)
                index += 2
                continue
            elif kind == _COUNTER:
                index += 1
                while index + 1 < count and words[index] in ("packets", "bytes"):
                    index += 2
                continue
            elif kind == _UPDATE or (kind == _ADD and following.startswith("@")):
                _, index = _braced(words, index + 2)
                action = self.share(("recent_set", following[1:]))
                continue
            elif kind == _SKIP:
                index += 1
                while index < count and words[index] not in _SKIP_UNTIL:
                    index += 1
                continue
            unknown.append(word)
            index += 1
        if unknown:
            matches.append(self.share(("unknown", " ".join(unknown))))
            if action is _NO_ACTION:
                # What was not understood may have been the rule's verdict: its action is unknown.
                action = ("unknown", " ".join(unknown))
        elif len(matches) == len(last):
            return new_rule(table, chain, last, action, text, line, comment)
        return new_rule(table, chain, tuple(matches), action, text, line, comment)

    def field(self, words: list[str], index: int, field: _Field, matches: list[Match], unknown: list[str],
              action: Action) -> tuple[int, Action]:
        """A field statement at ``index`` other than ``FIELD [!=] VALUE``: the next index and the action."""
        word, following = words[index], words[index + 1]
        name, implied_protocol = field[0], field[1]
        count = len(words)
        index += 2
        fields = [name]
        while index + 2 < count + 1 and index < count and words[index] == ".":
            known = _FIELD_NAMES.get((words[index + 1], words[index + 2]))
            if known is None:
                raise ValueError(f"concatenation of a field not understood: {words[index + 1]} {words[index + 2]}")
            fields.append(known)
            index += 3
        negate = False
        if index < count and words[index] in ("!=", "=="):
            negate = words[index] == "!="
            index += 1
        if index < count and words[index] == "vmap":
            index += 1
            if index < count and words[index].startswith("@"):
                return index + 1, ("vmap", tuple(fields), words[index][1:], {})
            inner, index = _braced(words, index)
            return index, ("vmap", tuple(fields), None,
                           self.inline_map(inner, tuple(_field_type(name) for name in fields)))
        if index < count and words[index].startswith("@"):
            set_name = words[index][1:]
            if len(fields) == 1 and name in ("daddr", "saddr"):
                matches.append(self.share((f"{name}_set", set_name, negate)))
            else:
                matches.append(self.share(("concat_set", tuple(fields), set_name, negate)))
            return index + 1, action
        values, index = _value_set(words, index)
        if len(fields) > 1:
            unknown.append(f"{word} {following} … {' '.join(values)}")
            return index, action
        found = self.field_matches(name, implied_protocol, values, negate)
        if found is None:
            unknown.append(f"{word} {following} {{ {' '.join(values)} }}")
        else:
            matches += found
        return index, action

    def mark(self, words: list[str], index: int, action: Action, matches: list[Match],
             unknown: list[str]) -> tuple[int, Action]:
        """``mark …`` / ``meta mark …`` from ``index`` (after those words): the next index and the action."""
        count = len(words)
        if index < count and words[index] == "set":
            # mark set mark or 0x4000 | meta mark set meta mark | 0x00004000
            index += 1
            rest = []
            while index < count and words[index] not in _STATEMENT_WORDS:
                rest.append(words[index])
                index += 1
            operands = [item for item in rest if item not in ("meta", "mark")]
            if len(operands) == 2 and operands[0] in ("or", "|", "xor", "^", "and", "&"):
                operation = {"|": "or", "^": "xor", "&": "and"}.get(operands[0], operands[0])
                action = self.share(("mark", operation, int(operands[1], 0), 0xFFFFFFFF))
            elif len(operands) == 1:
                action = self.share(("mark", "set", int(operands[0], 0), 0xFFFFFFFF))
            else:
                unknown.append("mark set " + " ".join(rest))
            return index, action
        mask = 0xFFFFFFFF
        if index < count and words[index] in ("and", "&"):
            mask = int(words[index + 1], 0)
            index += 2
        negate = False
        if index < count and words[index] in ("==", "!="):
            negate = words[index] == "!="
            index += 1
        if index < count:
            matches.append(self.share(("mark", int(words[index], 0) & mask, mask, negate)))
            index += 1
        return index, action


def parse_rule(table: str, chain: str, text: str, line: int, words: list[str] | None = None) -> Rule:
    """One rule statement list (without ``add rule TABLE CHAIN``)."""
    return _Parser().rule(table, chain, text.strip(), line, tokens(text) if words is None else words)


def _field_type(name: str) -> str:
    return {"daddr": "ipv4_addr", "saddr": "ipv4_addr", "l4proto": "inet_proto", "dport": "inet_service",
            "sport": "inet_service"}.get(name, "")


class _Declaration(NamedTuple):
    """What a set / map declaration says (None where it says nothing)."""

    types: tuple[str, ...] | None
    flags: str | None
    timeout: str | None
    element_lists: list[list[list[str]]]
    #: Whether :data:`_ELEMENTS_HERE`, if it was among the tokens, was read as an element list.
    placed: bool
    #: Words that belong to nothing a set declaration holds (a garbled line, a lost closing brace).
    strays: tuple[str, ...] = ()


def _set_declaration(words: list[str], element_list: list[list[str]] | None = None) -> _Declaration:
    """Read the tokens of a set / map declaration. With ``element_list``, the tokens hold
    :data:`_ELEMENTS_HERE` in place of that (already split) element list."""
    types: tuple[str, ...] | None = None
    flags: str | None = None
    timeout: str | None = None
    element_lists: list[list[list[str]]] = []
    strays: list[str] = []
    placed = element_list is None
    index = 0
    while index < len(words):
        word = words[index]
        if word == "type":
            found_types = []
            index += 1
            while index < len(words) and words[index] not in (";", ":", "}") and words[index] not in _SET_WORDS:
                if words[index] != ".":
                    found_types.append(words[index])
                index += 1
            types = tuple(found_types)
            if index < len(words) and words[index] == ":":
                index += 2
            continue
        if word == "flags":
            found_flags: list[str] = []
            index += 1
            while index < len(words) and (not found_flags or words[index] == ","):
                if words[index] == ",":
                    index += 1
                if index < len(words):
                    found_flags.append(words[index])
                    index += 1
            flags = ",".join(found_flags)
            continue
        if word == "timeout":
            timeout = words[index + 1] if index + 1 < len(words) else ""
            index += 2
            continue
        if word == "elements":
            index += 1
            if index < len(words) and words[index] == "=":
                index += 1
            if index < len(words) and words[index] == "{":
                inner, index = _braced(words, index)
                if element_list is not None and inner == [_ELEMENTS_HERE]:
                    element_lists.append(element_list)
                    placed = True
                else:
                    element_lists.append(_groups(inner))
            continue
        if word in _SET_VALUED_WORDS or (index == 0 and word in ("set", "map")):
            # (``set NAME {`` heads a listing's block.)
            index += 2
            continue
        if word == "typeof":
            # typeof ip daddr . tcp dport: key types this parser does not derive (the elements stay unread).
            types = ()
            while index < len(words) and words[index] != ";":
                index += 1
            continue
        if word not in _SET_BARE_WORDS:
            strays.append(word)
        index += 1
    return _Declaration(types, flags, timeout, element_lists, placed, tuple(strays))


def _split_set_block(lines: list[str], body: str) -> tuple[list[str], list[list[str]]] | None:
    """A set block's tokens, but for the element list that the first line beginning ``elements = {``
    opens: that stands as :data:`_ELEMENTS_HERE`, and its elements come second, each a list of words,
    cut with string methods instead of token by token (a listing's lists hold thousands). None when
    the list holds quotes or braces, or a quote before it might run on into it: then only tokenizing
    the whole block reads it as :func:`tokens` would.

    ``body`` is the block as it is tokenized: its lines joined with spaces, the last brace cut off."""
    opening = next((number for number in range(1, len(lines)) if lines[number].startswith("elements = {")), 0)
    if not opening:
        return None
    before = " ".join(lines[:opening])
    after = body[len(before) + 1 + len("elements = {"):]
    close = after.find("}")
    listed = after[:close]
    if close < 0 or '"' in listed or "{" in listed:
        return None
    head = tokens(before)
    if '"' in before and ("\\" in before or any('"' in word and (len(word) < 2 or word[0] != '"' or word[-1] != '"'
                                                                 or '"' in word[1:-1]) for word in head)):
        # A quote that does not open and close one word of its own might run on into the list.
        return None
    if ";" in listed:
        listed = listed.replace(";", " ")
    element_list = list(filter(None, map(str.split, listed.split(","))))
    return [*head, "elements", "=", "{", _ELEMENTS_HERE, "}", *tokens(after[close + 1:])], element_list


class _Builder:
    def __init__(self) -> None:
        self.chain_rules: dict[tuple[str, str], list[Rule]] = defaultdict(list)
        self.chain_info: dict[tuple[str, str], dict[str, Any]] = {}
        self.sets: dict[tuple[str, str], dict[str, Any]] = {}
        self.problems: list[str] = []
        #: Problems whose place among the rules is not known (see ``Ruleset.unplaced``).
        self.unplaced: list[str] = []
        self.parser = _Parser()

    def unplace(self, text: str) -> None:
        self.problems.append(text)
        self.unplaced.append(text)

    def unreadable(self, table: str, chain: str, number: int, line: str, reason: str) -> None:
        """Keep a rule that cannot be read where it stood, as an ``unreadable`` rule."""
        self.problems.append(f"line {number}: {reason}: {line[:80]}")
        self.chain_rules[(table, chain)].append(new_rule(table, chain, (("unreadable", line),), ("unknown", line),
                                                         line, number, ""))

    def declare_chain(self, table: str, name: str, body: list[str]) -> None:
        info = self.chain_info.setdefault((table, name), {})
        words = [word for word in body if word not in (";",)]
        allowed = {"hook": _HOOKS, "type": _CHAIN_TYPES, "policy": _POLICIES}
        for keyword in ("hook", "type", "policy"):
            if keyword in words:
                at = words.index(keyword) + 1
                if at < len(words) and words[at] in allowed[keyword]:
                    info[keyword] = words[at]
                else:
                    self.unplace(f"chain {table} {name}: `{keyword}` without a value it can have")
        if "priority" in words:
            at = words.index("priority") + 1
            expression = []
            while at < len(words) and words[at] not in ("policy", "comment", "device", "devices", "type", "hook"):
                expression.append(words[at])
                at += 1
            try:
                info["priority"] = _priority(expression)
            except ValueError as error:
                self.unplace(f"chain {table} {name}: {error}")

    def declare_set(self, table: str, name: str, is_map: bool, body: list[str], text: str) -> None:
        self._record_set(table, name, is_map, text, _set_declaration(body))

    def declare_set_block(self, table: str, name: str, is_map: bool, lines: list[str]) -> None:
        """A set / map block of a listing, ``set NAME {`` to its closing brace, one stripped line each."""
        body = " ".join(lines)
        if lines[-1].endswith("}"):
            body = body[:-1]
        split = _split_set_block(lines, body)
        declared = _set_declaration(*split) if split is not None else None
        if declared is None or not declared.placed:
            declared = _set_declaration(tokens(body))
        self._record_set(table, name, is_map, "\n".join(lines), declared)

    def _record_set(self, table: str, name: str, is_map: bool, text: str, declared: _Declaration) -> None:
        if declared.strays:
            self.unplace(f"set {table} {name}: not understood: {' '.join(declared.strays)[:80]}")
        record = self.sets.setdefault((table, name), {"map": is_map, "types": (), "elements": [], "flags": "",
                                                      "timeout": "", "text": text})
        if declared.types is not None:
            record["types"] = declared.types
        if declared.flags is not None:
            record["flags"] = declared.flags
        if declared.timeout is not None:
            record["timeout"] = declared.timeout
        record["elements"].extend(declared.element_lists)

    def add_elements(self, table: str, name: str, inner: list[str]) -> None:
        record = self.sets.get((table, name))
        if record is None:
            self.unplace(f"elements for undeclared set {table} {name}")
            return
        record["elements"].append(_groups(inner))

    def build(self) -> Ruleset:
        sets: dict[tuple[str, str], NamedSet] = {}
        for (table, name), record in self.sets.items():
            elements: dict[tuple[Any, ...], Action | None] = {}
            comments: dict[tuple[Any, ...], str] = {}
            intervals: list[addresses.Network] = []
            unread: list[str] = []
            if record["elements"] and (not record["types"] or not set(record["types"]) <= _KEY_TYPES):
                # Keys of a type this parser does not read would never match: none is read.
                unread.extend(" ".join(element) for element_list in record["elements"] for element in element_list)
                record["elements"] = []
            for element_list in record["elements"]:
                self.parser.elements(element_list, record["types"], record["map"], elements, comments, intervals,
                                     unread)
            self.problems.extend(f"set {table} {name}: element not read: {text[:80]}" for text in unread)
            sets[(table, name)] = NamedSet(table, name, record["types"], elements, tuple(intervals), comments,
                                           dynamic="dynamic" in record["flags"], timeout=record["timeout"],
                                           text=record["text"], unread=tuple(unread))
        chains: dict[tuple[str, str], Chain] = {}
        for key in list(self.chain_info) + [key for key in self.chain_rules if key not in self.chain_info]:
            info = self.chain_info.get(key)
            rules = self.chain_rules.get(key, [])
            if info:
                chains[key] = build_chain(key[0], key[1], rules, hook=info.get("hook", ""),
                                          priority=info.get("priority", 0), type=info.get("type", ""),
                                          policy=info.get("policy", "accept"))
            else:
                # A regular chain: the defaults of a Chain.
                chains[key] = build_chain(key[0], key[1], rules)
        families = {table.split(" ", 1)[0] for table in {table for table, _ in chains}}
        family = 0 if "inet" in families or {"ip", "ip6"} <= families else 6 if families == {"ip6"} else 4
        return Ruleset("nftables", chains, sets, family=family, problems=tuple(self.problems),
                       unplaced=tuple(self.unplaced))


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
        else:
            raise ValueError(f"priority not understood: {' '.join(expression)}")
    return total


def parse(text: str) -> Ruleset:
    """Parse ``nft list ruleset`` output, an ``nft -f`` script of ``add …`` commands, or both."""
    builder = _Builder()
    lines: list[str] = list(map(str.strip, text.splitlines()))
    if "# handle" in text:
        lines = [_stripped(line) if "# handle" in line else line for line in lines]
    numbered = enumerate(lines, 1)
    table = ""
    for index, line in numbered:
        if not line or line[0] == "#":
            continue
        words = tokens(line)
        if not words:
            continue
        head = words[0]
        if head == "chain" and table and len(words) >= 2:
            _read_chain(builder, numbered, table, words[1])
            continue
        if head in ("set", "map") and table and len(words) >= 2:
            depth = line.count("{") - line.count("}")
            if depth <= 0:
                builder.declare_set(table, words[1], head == "map", words[2:], line)
                continue
            block_lines = [line]
            for _, line in numbered:
                if not line or line[0] == "#":
                    continue
                block_lines.append(line)
                if "{" in line or "}" in line:
                    depth += line.count("{") - line.count("}")
                if depth <= 0:
                    builder.declare_set_block(table, words[1], head == "map", block_lines)
                    break
            continue
        if head == "}":
            table = ""
            continue
        if head == "table" and len(words) >= 3:
            table = f"{words[1]} {words[2]}" if words[2] != "{" else f"ip {words[1]}"
            if table.split(" ", 1)[0] not in _FAMILIES:
                builder.unplace(f"line {index}: not a table family: {line[:80]}")
            continue
        if head in ("flowtable", "counter", "quota", "ct", "limit", "secmark", "synproxy") and table:
            depth = line.count("{") - line.count("}")
            if depth > 0:
                for _, line in numbered:
                    if line and line[0] != "#":
                        depth += line.count("{") - line.count("}")
                        if depth <= 0:
                            break
            continue
        if head in ("add", "create", "insert", "replace") and len(words) >= 4:
            _transaction_line(builder, words, line, index)
            continue
        if head in ("flush", "delete", "destroy") or (head == "comment" and table):
            continue
        builder.unplace(f"line {index}: not understood: {line[:80]}")
    return builder.build()


def _read_chain(builder: _Builder, numbered: Iterator[tuple[int, str]], table: str, chain: str) -> None:
    """A chain block of a listing, from the line after ``chain NAME {``: its rules, one a line, up
    to its closing brace."""
    builder.chain_info.setdefault((table, chain), {})
    rules = builder.chain_rules[(table, chain)]
    rule = builder.parser.rule
    for index, line in numbered:
        if not line or line[0] == "#":
            continue
        if line == "}":
            return
        text = line
        if "{" in line:
            # A rule may wrap over several lines while its braces are open.
            while line.count("{") > line.count("}"):
                following = next(numbered, None)
                if following is None:
                    break
                index = following[0]
                line += " " + following[1]
            words = tokens(line)
            text = line.strip()
        elif '"' in line or "}" in line or "," in line or ";" in line:
            words = tokens(line)
        else:
            words = line.split()
        if words[0] in _CHAIN_WORDS:
            builder.declare_chain(table, chain, words)
            continue
        try:
            rules.append(rule(table, chain, text, index, words))
        except (ValueError, IndexError) as error:
            builder.unreadable(table, chain, index, text, str(error) or type(error).__name__)


def _add_rule(builder: _Builder, table: str, chain: str, text: str, line: int) -> None:
    rules = builder.chain_rules[(table, chain)]
    try:
        rules.append(builder.parser.rule(table, chain, text.strip(), line, tokens(text)))
    except (ValueError, IndexError) as error:
        builder.unreadable(table, chain, line, text.strip(), str(error) or type(error).__name__)


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
        match = _TRANSACTION_RULE.match(line)
        _add_rule(builder, table, name, match.group(1) if match else "", number)
        return
    builder.unplace(f"line {number}: not understood: {line[:80]}")
