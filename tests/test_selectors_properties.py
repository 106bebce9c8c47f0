"""Property-based tests of label-selector semantics (hypothesis), and of the index behind select_pods."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from svcdoctor.selectors import (
    DOES_NOT_EXIST,
    EQUALS,
    EXISTS,
    GREATER_THAN,
    IN,
    LESS_THAN,
    NOT_EQUALS,
    NOT_IN,
    Requirement,
    Selector,
    from_label_selector,
    from_service_selector,
    parse,
)
from svcdoctor.snapshot import Snapshot

KEYS = st.sampled_from(["app", "tier", "env", "x", "example.com/team", "a-b_c.d"])
VALUES = st.sampled_from(["", "a", "b", "web", "api", "1", "2", "10", "v1.2"])
NUMBERS = st.integers(min_value=0, max_value=20).map(str)
LABELS = st.dictionaries(KEYS, st.one_of(VALUES, NUMBERS), max_size=5)


@st.composite
def requirements(draw: st.DrawFn) -> Requirement:
    key = draw(KEYS)
    operator = draw(st.sampled_from([IN, NOT_IN, EXISTS, DOES_NOT_EXIST, EQUALS, NOT_EQUALS, GREATER_THAN,
                                     LESS_THAN]))
    if operator in (IN, NOT_IN):
        values = draw(st.lists(VALUES, min_size=1, max_size=3))
    elif operator in (EQUALS, NOT_EQUALS):
        values = [draw(VALUES)]
    elif operator in (GREATER_THAN, LESS_THAN):
        values = [draw(NUMBERS)]
    else:
        values = []
    return Requirement.make(key, operator, values)


SELECTORS = st.lists(requirements(), max_size=4).map(lambda items: Selector(tuple(items)))


@given(key=KEYS, values=st.lists(VALUES, min_size=1, max_size=3), labels=LABELS)
def test_not_in_is_not_in_for_present_keys(key: str, values: list[str], labels: dict[str, str]) -> None:
    inside = Requirement.make(key, IN, values).matches(labels)
    outside = Requirement.make(key, NOT_IN, values).matches(labels)
    if key in labels:
        assert outside is (not inside)
    else:
        assert outside and not inside


@given(key=KEYS, values=st.lists(VALUES, min_size=1, max_size=3), labels=LABELS)
def test_missing_keys(key: str, values: list[str], labels: dict[str, str]) -> None:
    labels.pop(key, None)
    assert Requirement.make(key, NOT_IN, values).matches(labels)
    assert Requirement.make(key, DOES_NOT_EXIST).matches(labels)
    assert Requirement.make(key, NOT_EQUALS, values[:1]).matches(labels)
    assert not Requirement.make(key, IN, values).matches(labels)
    assert not Requirement.make(key, EXISTS).matches(labels)
    assert not Requirement.make(key, EQUALS, values[:1]).matches(labels)
    assert not Requirement.make(key, GREATER_THAN, ["0"]).matches(labels)


@given(first=SELECTORS, second=SELECTORS, labels=LABELS)
def test_and_is_intersection(first: Selector, second: Selector, labels: dict[str, str]) -> None:
    both = Selector(first.requirements + second.requirements)
    assert both.matches(labels) is (first.matches(labels) and second.matches(labels))


@given(selector=SELECTORS, labels=LABELS)
def test_string_form_round_trips(selector: Selector, labels: dict[str, str]) -> None:
    text = str(selector)
    again = parse(text)
    assert str(again) == text
    assert again.matches(labels) is selector.matches(labels)


@given(match_labels=st.dictionaries(KEYS, VALUES, max_size=3), labels=LABELS)
def test_service_selector_is_match_labels(match_labels: dict[str, str], labels: dict[str, str]) -> None:
    service = from_service_selector(match_labels)
    api = from_label_selector({"matchLabels": match_labels})
    assert service.matches(labels) is api.matches(labels)
    assert service.matches(labels) is all(labels.get(k) == v for k, v in match_labels.items())


@given(labels=LABELS)
def test_null_and_empty_label_selectors(labels: dict[str, str]) -> None:
    assert not from_label_selector(None).matches(labels)
    assert from_label_selector({}).matches(labels)


@settings(max_examples=60)
@given(pods=st.lists(st.tuples(st.sampled_from(["prod", "dev"]), LABELS), max_size=25),
       selector=SELECTORS, namespace=st.sampled_from(["prod", "dev", "none"]))
def test_select_pods_equals_brute_force(pods: list[tuple[str, dict[str, str]]], selector: Selector,
                                        namespace: str) -> None:
    objects = [{"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": f"pod-{index}", "namespace": ns, "labels": labels}}
               for index, (ns, labels) in enumerate(pods)]
    snapshot = Snapshot(objects)
    expected = [o["metadata"]["name"] for o in objects
                if o["metadata"]["namespace"] == namespace and selector.matches(o["metadata"]["labels"])]
    actual = [o["metadata"]["name"] for o in snapshot.select_pods(namespace, selector)]
    assert sorted(actual) == sorted(expected)
