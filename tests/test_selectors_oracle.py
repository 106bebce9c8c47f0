"""Every case of ../shared/oracles/labels/selector-cases.yaml (transcribed from apimachinery's tests)."""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

import pytest

from svcdoctor.selectors import (
    DOES_NOT_EXIST,
    EQUALS,
    EXISTS,
    GREATER_THAN,
    IN,
    LESS_THAN,
    NOT_IN,
    Requirement,
    Selector,
    SelectorError,
    from_label_selector,
    parse,
)
from tests.conftest import shared_yaml

CASES_FILE = "oracles/labels/selector-cases.yaml"
# Without the oracle every section is empty, and the marked tests skip (or fail in CI).
CASES: dict[str, Any] = shared_yaml(CASES_FILE, defaultdict(list))
uses_oracle = pytest.mark.shared(CASES_FILE)

#: The oracle's operator words → the module's operator constants (unknown words pass through unchanged).
OPERATORS = {"In": IN, "NotIn": NOT_IN, "Exists": EXISTS, "DoesNotExist": DOES_NOT_EXIST, "Gt": GREATER_THAN,
             "Lt": LESS_THAN, "Equals": EQUALS}
PLACEHOLDER = re.compile(r"^<(\d+) x '(.)'>$")


def expand(text: str) -> str:
    """The oracle writes over-long strings as ``<254 x 'a'>``."""
    match = PLACEHOLDER.match(text)
    return match.group(2) * int(match.group(1)) if match else text


def requirement(case: dict[str, Any]) -> Requirement:
    operator = OPERATORS.get(case["op"], case["op"])
    return Requirement.make(expand(case["key"]), operator, [expand(str(v)) for v in case.get("values", [])])


@uses_oracle
def test_the_oracle_has_every_section() -> None:
    for section in ("string_selector_matches", "requirement_matches", "parse_valid", "parse_invalid",
                    "requirement_errors", "valid_requirements", "label_selector_api"):
        assert CASES[section], section
    assert expand("<254 x 'a'>") == "a" * 254


@uses_oracle
@pytest.mark.parametrize("case", CASES["string_selector_matches"], ids=lambda c: f"{c['selector']!r}~{c['labels']}")
def test_string_selector_matches(case: dict[str, Any]) -> None:
    assert parse(case["selector"]).matches(case["labels"]) is case["match"]


@uses_oracle
@pytest.mark.parametrize("case", CASES["requirement_matches"], ids=lambda c: str(c["requirements"]))
def test_requirement_matches(case: dict[str, Any]) -> None:
    selector = Selector(tuple(requirement(r) for r in case["requirements"]))
    assert selector.matches(case["labels"]) is case["match"]


def test_zero_value_requirement_matches_nothing() -> None:
    # "(zero-value/empty Requirement in a selector -> match false)"
    assert Selector((Requirement("", ""),)).matches({"x": "y"}) is False


@uses_oracle
@pytest.mark.parametrize("text", CASES["parse_valid"])
def test_parse_valid(text: str) -> None:
    parse(text)


@uses_oracle
@pytest.mark.parametrize("text", CASES["parse_invalid"])
def test_parse_invalid(text: str) -> None:
    with pytest.raises(SelectorError):
        parse(text)


def test_parse_notes() -> None:
    empty_in = parse("x in ()")
    assert empty_in.matches({"x": ""}) and not empty_in.matches({"x": "a"}) and not empty_in.matches({})
    assert parse("x in (abc,abc)") == parse("x in (abc)")
    assert parse("x=a,\ty=b\n,\rz=c").matches({"x": "a", "y": "b", "z": "c"})
    assert str(parse("z=1,a=2,m in (b,a)")) == "a=2,m in (a,b),z=1"


@uses_oracle
@pytest.mark.parametrize("case", CASES["requirement_errors"], ids=lambda c: c["error"])
def test_requirement_errors(case: dict[str, Any]) -> None:
    with pytest.raises(SelectorError):
        requirement(case)


@uses_oracle
@pytest.mark.parametrize("case", CASES["valid_requirements"], ids=lambda c: c["key"])
def test_valid_requirements(case: dict[str, Any]) -> None:
    made = requirement(case)
    assert made.key == case["key"]


@uses_oracle
@pytest.mark.parametrize("case", CASES["label_selector_api"], ids=lambda c: str(c["labelSelector"]))
def test_label_selector_api(case: dict[str, Any]) -> None:
    if case.get("error"):
        with pytest.raises(SelectorError):
            from_label_selector(case["labelSelector"])
        return
    selector = from_label_selector(case["labelSelector"])
    result = case["result"]
    if result.startswith("labels.Nothing()"):
        assert selector.nothing
        assert not selector.matches({}) and not selector.matches({"foo": "bar"})
    elif result.startswith("labels.Everything()"):
        assert selector.is_everything
        assert selector.matches({}) and selector.matches({"foo": "bar"})
    else:
        assert str(selector) == result
        # The string form parses back to the same selector.
        assert parse(result) == selector or str(parse(result)) == result


@pytest.mark.parametrize("text", ["a,!a", "a=b,a!=b", "a in (b),a notin (b)"])
def test_matches_nothing_is_syntactic(text: str) -> None:
    selector = parse(text)
    assert not selector.nothing
    for labels in ({}, {"a": "b"}, {"a": "c"}):
        assert not selector.matches(labels)
