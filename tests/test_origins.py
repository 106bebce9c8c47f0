"""Where objects come from: a snapshot's objects carry their file and line (for SARIF and the text)."""

from __future__ import annotations

from pathlib import Path

import yaml

from svcdoctor.k8s import ObjectRef
from svcdoctor.sources.files import load_located_objects
from svcdoctor.sources.snapshot_file import SnapshotFileSource


def _service(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "ns"},
            "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": 8080}]}}


def _line_of(text: str, needle: str) -> int:
    return text.splitlines().index(needle) + 1


def test_list_items_get_their_lines(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    text = "# kubectl get svc -o yaml\n" + yaml.safe_dump(
        {"apiVersion": "v1", "kind": "List", "items": [_service("a"), _service("b")]}, sort_keys=False)
    path.write_text(text)
    lines = {obj["metadata"]["name"]: line for obj, _, line in load_located_objects(str(path))}
    assert lines == {"a": _line_of(text, "- apiVersion: v1"),
                     "b": text.splitlines().index("- apiVersion: v1", lines["a"]) + 1}


def test_documents_get_their_lines(tmp_path: Path) -> None:
    path = tmp_path / "stream.yaml"
    text = yaml.safe_dump_all([_service("a"), _service("b"), _service("c")], sort_keys=False)
    path.write_text(text)
    snapshot = SnapshotFileSource(str(path)).load()
    starts = [i + 1 for i, line in enumerate(text.splitlines()) if line == "apiVersion: v1"]
    assert [snapshot.origins[ObjectRef("Service", "ns", n)].line for n in "abc"] == starts
    assert all(origin.path == str(path) for origin in snapshot.origins.values())


def test_unusual_layout_gets_no_line_rather_than_a_wrong_one(tmp_path: Path) -> None:
    path = tmp_path / "indented.yaml"
    # Items indented under "items:" (valid YAML, not kubectl's layout): no guessing.
    path.write_text("apiVersion: v1\nkind: List\nitems:\n  - " + yaml.safe_dump(_service("a")).replace(
        "\n", "\n    ").rstrip() + "\n")
    assert [line for _, _, line in load_located_objects(str(path))] == [None]
    json_path = tmp_path / "list.json"
    json_path.write_text('{"apiVersion": "v1", "kind": "List", "items": [{"apiVersion": "v1", "kind": "Service", '
                         '"metadata": {"name": "a", "namespace": "ns"}}]}')
    assert [line for _, _, line in load_located_objects(str(json_path))] == [None]
