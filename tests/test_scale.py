"""Scaling without a clock: ``scan -A`` does work proportional to the cluster, never Services × Pods.

The work is counted, not timed (timings flake on shared CI machines): every selector match, label
read and edit distance during a scan of a generated cluster, then of one twice as large with the
same mix of healthy and broken Services. Linear work doubles; Services × Pods would quadruple.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from benchmarks.generate import generate
from svcdoctor import engine, k8s, similarity
from svcdoctor.checks import sd301_selector_matches_nothing
from svcdoctor.selectors import Selector
from svcdoctor.snapshot import build_snapshot


def _counting(counter: Counter[str], name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    def counted(*args: Any, **kwargs: Any) -> Any:
        counter[name] += 1
        return function(*args, **kwargs)

    return counted


def scan_work(monkeypatch: pytest.MonkeyPatch, namespaces: int) -> Counter[str]:
    document = generate(services=namespaces * 25, pods_per_service=2, services_per_namespace=25)
    snapshot = build_snapshot(document["items"])
    counter: Counter[str] = Counter()
    with monkeypatch.context() as patch:
        patch.setattr(Selector, "matches", _counting(counter, "selector matches", Selector.matches))
        patch.setattr(k8s, "labels", _counting(counter, "label reads", k8s.labels))
        patch.setattr(k8s, "namespace", _counting(counter, "namespace reads", k8s.namespace))
        distance = _counting(counter, "edit distances", similarity.edit_distance)
        patch.setattr(similarity, "edit_distance", distance)
        patch.setattr(sd301_selector_matches_nothing, "edit_distance", distance)
        reports = engine.scan(snapshot, None)
    assert len(reports) == namespaces * 25
    assert sum(r.verdict != "ok" for r in reports) >= namespaces * 3, "the generated faults did not show"
    return counter


def test_scan_work_grows_linearly(monkeypatch: pytest.MonkeyPatch) -> None:
    small = scan_work(monkeypatch, 4)
    large = scan_work(monkeypatch, 8)
    for name in ("selector matches", "label reads", "namespace reads", "edit distances"):
        assert small[name] > 0, f"nothing counted for {name}: the counter is not wired"
        assert large[name] <= 2.2 * small[name], (name, small[name], large[name])
