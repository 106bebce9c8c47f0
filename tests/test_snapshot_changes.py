"""``Snapshot.with_changes``: incremental indexes equal a build from scratch, and the old Snapshot never changes."""

from __future__ import annotations

import copy
import random
import tracemalloc
from typing import Any

import pytest

from benchmarks.generate import generate
from svcdoctor import k8s
from svcdoctor.snapshot import Snapshot

INDEXES = ("_by_name", "_by_namespace", "_by_uid", "_services_by_namespace", "_pods_by_namespace", "_pods_by_ip",
           "_slices_by_service", "_events_by_object", "_policies_by_namespace", "_namespace_labels",
           "_namespaces_by_label")


def _normal(value: Any) -> Any:
    """An index with its lists as sets (of object ids: a moved object may come last), empty entries dropped."""
    if isinstance(value, dict):
        normal = {key: _normal(item) for key, item in value.items()}
        return {key: item for key, item in normal.items() if item not in ({}, frozenset())}
    if isinstance(value, list):
        return frozenset(id(item) if isinstance(item, dict) else item for item in value)
    return value


def _view(snapshot: Snapshot) -> dict[str, Any]:
    view: dict[str, Any] = {name: _normal(getattr(snapshot, name)) for name in INDEXES}
    view["_by_name"] = {key: id(obj) for key, obj in snapshot._by_name.items()}
    view["_by_uid"] = {key: id(obj) for key, obj in snapshot._by_uid.items()}
    view["_pods_by_label"] = {namespace: _normal(index) for namespace, index in snapshot._pods_by_label.items()}
    view["_pods_by_label"] = {key: value for key, value in view["_pods_by_label"].items() if value}
    view["objects"] = [id(obj) for obj in snapshot.objects()]
    return view


def _mutate(rng: random.Random, objects: dict[tuple[str, str, str], Any]) -> list[tuple[Any, Any]]:
    keys = list(objects)
    changes = []
    for _ in range(rng.randint(1, 6)):
        key = rng.choice(keys)
        old = objects.get(key)
        if old is None:
            continue
        action = rng.random()
        if action < 0.15:
            del objects[key]
            changes.append((old, None))
            continue
        new = copy.deepcopy(old)
        metadata = new["metadata"]
        if action < 0.35:  # a copy under a new name: an addition
            metadata["name"] += f"-copy{rng.randint(0, 999)}"
            metadata["uid"] = f"uid-{rng.random()}"
            new_key = (new["kind"], k8s.namespace(new), metadata["name"])
            if new_key in objects:
                continue
            objects[new_key] = new
            changes.append((None, new))
            continue
        labels = metadata.setdefault("labels", {})
        if labels and rng.random() < 0.5:
            labels.pop(rng.choice(list(labels)))
        labels[rng.choice(["app", "tier", "kubernetes.io/service-name", "extra"])] = rng.choice(["a", "b", "web"])
        if new["kind"] == "Pod" and rng.random() < 0.5:
            new.setdefault("status", {})["podIP"] = f"10.9.{rng.randint(0, 3)}.{rng.randint(1, 9)}"
            new["status"]["podIPs"] = [{"ip": new["status"]["podIP"]}]
        if new["kind"] == "Event":
            new["involvedObject"] = {"kind": "Pod", "namespace": k8s.namespace(new), "name": rng.choice("xyz")}
        objects[key] = new
        changes.append((old, new))
    return changes


def test_incremental_indexes_equal_a_build_from_scratch() -> None:
    rng = random.Random(17)
    items = [obj for obj in generate(services=60, pods_per_service=3, services_per_namespace=20)["items"]
             if obj.get("apiVersion") != "svcdoctor.dev/v1"]
    namespace = next(k8s.namespace(obj) for obj in items if obj["kind"] == "Pod")
    for index in range(5):
        items.append({"apiVersion": "v1", "kind": "Event", "metadata": {"name": f"event-{index}",
                      "namespace": namespace}, "involvedObject": {"kind": "Pod", "name": "x"}, "reason": "Unhealthy"})
    items.append({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                  "metadata": {"name": "deny", "namespace": namespace}, "spec": {"podSelector": {}}})
    objects = {(obj["kind"], k8s.namespace(obj), k8s.name(obj)): obj for obj in items}
    kinds = {obj["kind"] for obj in items}
    assert {"Pod", "Service", "EndpointSlice", "Namespace", "Event", "NetworkPolicy", "Deployment"} <= kinds, kinds
    snapshot = Snapshot(list(objects.values()))
    for _ in range(150):
        old_view = _view(snapshot)
        changes = _mutate(rng, objects)
        changed = snapshot.with_changes(changes)
        assert _view(snapshot) == old_view, "with_changes altered the Snapshot it started from"
        assert _view(changed) == _view(Snapshot(list(objects.values()))), changes
        snapshot = changed
    pods = [obj for obj in objects.values() if obj["kind"] == "Pod"]
    assert pods and snapshot.pods_in(k8s.namespace(pods[0]))


def _cluster(services: int) -> tuple[Snapshot, dict[tuple[str, str, str], Any]]:
    items = [obj for obj in generate(services=services, pods_per_service=3, services_per_namespace=20)["items"]
             if obj.get("apiVersion") != "svcdoctor.dev/v1"]
    objects = {(obj["kind"], k8s.namespace(obj), k8s.name(obj)): obj for obj in items}
    return Snapshot(list(objects.values())), objects


def test_changes_in_place_equal_a_build_from_scratch_and_empty_the_old_snapshot() -> None:
    rng = random.Random(23)
    snapshot, objects = _cluster(60)
    for _ in range(150):
        changes = _mutate(rng, objects)
        changed = snapshot.with_changes(changes, reuse=True)
        assert _view(changed) == _view(Snapshot(list(objects.values()))), changes
        with pytest.raises(AttributeError):
            snapshot.pods  # noqa: B018 - the moved-from Snapshot must not answer
        with pytest.raises(AttributeError):
            snapshot.get("Pod", "x", "y")
        snapshot = changed
    # A copying change of a Snapshot changed in place leaves it as it was.
    old_view = _view(snapshot)
    changes = _mutate(rng, objects)
    changed = snapshot.with_changes(changes)
    assert _view(snapshot) == old_view
    assert _view(changed) == _view(Snapshot(list(objects.values())))


def _allocated_by_one_change(services: int, reuse: bool) -> int:
    """Bytes allocated while one Pod's labels change (tracemalloc's peak), in a cluster of ``services``."""
    snapshot, objects = _cluster(services)
    snapshot = snapshot.with_changes([], reuse=reuse)  # the first change of a kind converts it, once
    pod = next(obj for obj in objects.values() if obj["kind"] == "Pod")
    relabelled = copy.deepcopy(pod)
    relabelled["metadata"]["labels"]["app"] = "moved"
    snapshot = snapshot.with_changes([(pod, copy.deepcopy(pod))], reuse=reuse)
    pod = next(obj for obj in snapshot.pods if k8s.name(obj) == k8s.name(pod))
    tracemalloc.start()
    try:
        snapshot.with_changes([(pod, relabelled)], reuse=reuse)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_change_in_place_costs_what_it_touches_not_the_cluster() -> None:
    """Counted in bytes allocated, not timed: copying an index doubles with the cluster, a change in place does not."""
    small, large = _allocated_by_one_change(200, reuse=True), _allocated_by_one_change(400, reuse=True)
    assert large <= small * 1.25 + 4096, (small, large)
    copied_small, copied_large = _allocated_by_one_change(200, reuse=False), _allocated_by_one_change(400, reuse=False)
    assert copied_large > copied_small * 1.6, "the measure does not see an index copied: it shows nothing"
    assert small * 10 < copied_small, (small, copied_small)
