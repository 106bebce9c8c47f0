"""Kubernetes label selectors, with the semantics of k8s.io/apimachinery.

Three ways in, one matcher out:

- :func:`from_service_selector` — a Service's plain ``spec.selector`` map (equality only);
- :func:`from_label_selector` — a ``metav1.LabelSelector`` (``matchLabels`` + ``matchExpressions``
  with ``In``, ``NotIn``, ``Exists``, ``DoesNotExist``); ``None`` selects nothing, ``{}`` everything;
- :func:`parse` — the string form (``app=web,tier in (a,b),!canary,x>1``) that ``kubectl -l`` and
  the API's ``labelSelector`` query parameter take.

``NotIn`` and ``DoesNotExist`` (and ``!=``) match objects that lack the key; ``In`` never does,
not even with the value ``""``. Everything here is a pure function of its input.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

IN = "In"
NOT_IN = "NotIn"
EXISTS = "Exists"
DOES_NOT_EXIST = "DoesNotExist"
EQUALS = "="
DOUBLE_EQUALS = "=="
NOT_EQUALS = "!="
GREATER_THAN = "Gt"
LESS_THAN = "Lt"

_API_OPERATORS = {IN, NOT_IN, EXISTS, DOES_NOT_EXIST}
_ALL_OPERATORS = _API_OPERATORS | {EQUALS, DOUBLE_EQUALS, NOT_EQUALS, GREATER_THAN, LESS_THAN}

_NAME_PART = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_INTEGER = re.compile(r"^[+-]?[0-9]+$")


class SelectorError(ValueError):
    """A selector that Kubernetes itself would reject."""


def validate_label_key(key: str) -> None:
    """Raise :class:`SelectorError` unless ``key`` is a qualified name (``[prefix/]name``)."""
    if len(key) > 253 + 1 + 63:
        raise SelectorError(f"label key {key[:20]}…: longer than 253 characters")
    prefix, _, name = key.rpartition("/")
    if "/" in key and not prefix:
        raise SelectorError(f"label key {key!r}: empty prefix")
    if prefix and (len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix)):
        raise SelectorError(f"label key {key!r}: prefix is not a DNS subdomain")
    if not name or len(name) > 63 or not _NAME_PART.match(name):
        raise SelectorError(
            f"label key {key[:40]!r}: name must be 63 characters or less, alphanumeric, '-', '_' or '.'"
        )


def validate_label_value(value: str) -> None:
    """Raise :class:`SelectorError` unless ``value`` is a valid label value ("" is valid)."""
    if value == "":
        return
    if len(value) > 63:
        raise SelectorError(f"label value {value[:20]}…: longer than 63 characters")
    if not _NAME_PART.match(value):
        raise SelectorError(f"label value {value!r}: must be alphanumeric, '-', '_' or '.'")


@dataclass(frozen=True)
class Requirement:
    """One ANDed condition of a selector: ``key``, an operator and its values."""

    key: str
    operator: str
    values: frozenset[str] = frozenset()

    @classmethod
    def make(cls, key: str, operator: str, values: Any = ()) -> Requirement:
        """Build a requirement, validated as ``labels.NewRequirement`` validates it."""
        if operator not in _ALL_OPERATORS:
            raise SelectorError(f"operator {operator!r} is not supported")
        validate_label_key(key)
        value_list = [str(v) for v in (values or ())]
        if operator in (IN, NOT_IN) and not value_list:
            raise SelectorError(f"{key}: values must be non-empty for {operator}")
        if operator in (EQUALS, DOUBLE_EQUALS, NOT_EQUALS) and len(value_list) != 1:
            raise SelectorError(f"{key}: exactly one value is required for {operator}")
        if operator in (EXISTS, DOES_NOT_EXIST) and value_list:
            raise SelectorError(f"{key}: {operator} takes no values")
        if operator in (GREATER_THAN, LESS_THAN):
            if len(value_list) != 1:
                raise SelectorError(f"{key}: {operator} needs exactly one value")
            if not _INTEGER.match(value_list[0]):
                raise SelectorError(f"{key}: {operator} value must be an integer")
        else:
            for value in value_list:
                validate_label_value(value)
        return cls(key, operator, frozenset(value_list))

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether an object with these labels satisfies this requirement."""
        present = self.key in labels
        op = self.operator
        if op in (IN, EQUALS, DOUBLE_EQUALS):
            return present and labels[self.key] in self.values
        if op in (NOT_IN, NOT_EQUALS):
            return not present or labels[self.key] not in self.values
        if op == EXISTS:
            return present
        if op == DOES_NOT_EXIST:
            return not present
        if op in (GREATER_THAN, LESS_THAN):
            if not present or not _INTEGER.match(labels[self.key]):
                return False
            have, bound = int(labels[self.key]), int(next(iter(self.values)))
            return have > bound if op == GREATER_THAN else have < bound
        return False

    def equality_value(self) -> str | None:
        """The single value this requirement pins the key to, if it is an equality."""
        if self.operator in (IN, EQUALS, DOUBLE_EQUALS) and len(self.values) == 1:
            return next(iter(self.values))
        return None

    def __str__(self) -> str:
        values = sorted(self.values)
        if self.operator in (EQUALS, DOUBLE_EQUALS) or (self.operator == IN and len(values) == 1):
            return f"{self.key}={values[0]}"
        if self.operator == NOT_EQUALS:
            return f"{self.key}!={values[0]}"
        if self.operator == EXISTS:
            return self.key
        if self.operator == DOES_NOT_EXIST:
            return f"!{self.key}"
        if self.operator == GREATER_THAN:
            return f"{self.key}>{values[0]}"
        if self.operator == LESS_THAN:
            return f"{self.key}<{values[0]}"
        word = "in" if self.operator == IN else "notin"
        return f"{self.key} {word} ({','.join(values)})"


@dataclass(frozen=True)
class Selector:
    """An AND of requirements. ``nothing`` is ``labels.Nothing()``: it matches no object."""

    requirements: tuple[Requirement, ...] = ()
    nothing: bool = False

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        """Whether an object with these labels is selected."""
        if self.nothing:
            return False
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)

    @property
    def is_everything(self) -> bool:
        """True for the empty selector, which selects every object."""
        return not self.nothing and not self.requirements

    def equality_pairs(self) -> list[tuple[str, str]]:
        """The ``key=value`` pairs a matching object must carry (for index look-ups)."""
        pairs = []
        for requirement in self.requirements:
            value = requirement.equality_value()
            if value is not None:
                pairs.append((requirement.key, value))
        return pairs

    def __str__(self) -> str:
        if self.nothing:
            return "<nothing>"
        return ",".join(sorted((str(r) for r in self.requirements), key=lambda text: (_key_of(text), text)))


def _key_of(requirement_text: str) -> str:
    """The key of a requirement's string form (for sorting as ``labels.Selector.String`` does)."""
    text = requirement_text.lstrip("!")
    for separator in ("!=", "=", " in ", " notin ", ">", "<"):
        text = text.split(separator, 1)[0]
    return text


EVERYTHING = Selector()
NOTHING = Selector(nothing=True)


def from_service_selector(selector: Mapping[str, Any] | None) -> Selector:
    """A Service's ``spec.selector`` map: every pair must be equal. Empty → :data:`EVERYTHING`.

    Callers decide what an empty Service selector means (no endpoints are managed for it).
    """
    if not selector:
        return EVERYTHING
    return Selector(tuple(Requirement(str(k), EQUALS, frozenset({str(v)})) for k, v in selector.items()))


def from_label_selector(selector: Mapping[str, Any] | None) -> Selector:
    """A ``metav1.LabelSelector`` as ``LabelSelectorAsSelector`` reads it.

    ``None`` selects nothing; ``{}`` selects everything; only the four API operators are allowed.
    """
    if selector is None:
        return NOTHING
    if not isinstance(selector, Mapping):
        raise SelectorError("a label selector must be a mapping")
    requirements: list[Requirement] = []
    match_labels = selector.get("matchLabels") or {}
    if not isinstance(match_labels, Mapping):
        raise SelectorError("matchLabels must be a mapping")
    for key, value in match_labels.items():
        requirements.append(Requirement.make(str(key), EQUALS, [str(value)]))
    expressions = selector.get("matchExpressions") or []
    if not isinstance(expressions, list):
        raise SelectorError("matchExpressions must be a list")
    for expression in expressions:
        if not isinstance(expression, Mapping):
            raise SelectorError("each matchExpressions entry must be a mapping")
        operator = str(expression.get("operator", ""))
        if operator not in _API_OPERATORS:
            raise SelectorError(f"{operator!r} is not a valid label selector operator")
        requirements.append(
            Requirement.make(str(expression.get("key", "")), operator, expression.get("values") or [])
        )
    return Selector(tuple(requirements))


# -- the string form -------------------------------------------------------------------------

_SPECIALS = ("!=", "==", "=", "!", ",", "(", ")", ">", "<")


def _tokenize(text: str) -> list[str]:
    tokens: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        for special in _SPECIALS:
            if text.startswith(special, i):
                tokens.append(special)
                i += len(special)
                break
        else:
            start = i
            while i < n and not text[i].isspace() and text[i] not in "!=,()><":
                i += 1
            tokens.append(text[start:i])
    return tokens


def _is_identifier(token: str | None) -> bool:
    return token is not None and token not in _SPECIALS


def parse(text: str) -> Selector:
    """Parse the string form of a selector (``labels.Parse``); raise :class:`SelectorError`."""
    tokens = _tokenize(text)
    if not tokens:
        return EVERYTHING
    position = 0

    def peek() -> str | None:
        return tokens[position] if position < len(tokens) else None

    def take() -> str | None:
        nonlocal position
        token = peek()
        position += 1
        return token

    requirements: list[Requirement] = []
    while True:
        token = take()
        if token == "!":
            key = take()
            if not _is_identifier(key):
                raise SelectorError(f"{text!r}: expected a key after '!'")
            requirements.append(Requirement.make(str(key), DOES_NOT_EXIST))
        elif _is_identifier(token):
            key = str(token)
            operator = peek()
            if operator is None or operator == ",":
                requirements.append(Requirement.make(key, EXISTS))
            elif operator in ("=", "==", "!="):
                take()
                value = peek()
                if _is_identifier(value):
                    take()
                    value_text = str(value)
                else:
                    value_text = ""
                requirements.append(Requirement.make(key, NOT_EQUALS if operator == "!=" else EQUALS, [value_text]))
            elif operator in (">", "<"):
                take()
                value = take()
                if not _is_identifier(value):
                    raise SelectorError(f"{text!r}: expected an integer after {operator!r}")
                requirements.append(
                    Requirement.make(key, GREATER_THAN if operator == ">" else LESS_THAN, [str(value)])
                )
            elif operator in ("in", "notin"):
                take()
                if take() != "(":
                    raise SelectorError(f"{text!r}: expected '(' after {operator!r}")
                values: list[str] = []
                expect_value = True
                while True:
                    item = take()
                    if item is None:
                        raise SelectorError(f"{text!r}: missing ')'")
                    if item == ")":
                        if expect_value:
                            values.append("")
                        break
                    if item == ",":
                        if expect_value:
                            values.append("")
                        expect_value = True
                        continue
                    if not _is_identifier(item) or not expect_value:
                        raise SelectorError(f"{text!r}: unexpected {item!r} in a value list")
                    values.append(item)
                    expect_value = False
                requirements.append(Requirement.make(key, IN if operator == "in" else NOT_IN, values))
            else:
                raise SelectorError(f"{text!r}: unexpected {operator!r} after key {key!r}")
        else:
            raise SelectorError(f"{text!r}: expected a requirement, found {token!r}")
        following = take()
        if following is None:
            break
        if following != ",":
            raise SelectorError(f"{text!r}: expected ',' or the end, found {following!r}")
        if peek() is None:
            raise SelectorError(f"{text!r}: a trailing ','")
    return Selector(tuple(requirements))
