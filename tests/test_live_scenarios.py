"""Every scenario, read live: the targeted reads must give the report the whole file gives.

Each scenario's snapshot is served by the test API server and diagnosed through the real client
with the scenario's own arguments. The live source reads only what one Service needs, so if its
read plan missed anything a check looks at, the report would differ from the report on the full
file. Evidence the API cannot serve (recorded DNS answers and probes) is left out of both sides;
node dumps go in with ``--node-dump``; reads the recording could not make are forbidden (403).
Ages are measured from the snapshot's own time on both sides (the live clock is pinned to it), and
both sides see objects in the API's order (by namespace and name).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from svcdoctor.kinds import RESOURCES
from svcdoctor.serve.apiserver import SnapshotAPIServer
from svcdoctor.snapshot import build_snapshot
from svcdoctor.sources.files import load_objects
from tests.conftest import SCENARIOS, run_cli

EVIDENCE = "svcdoctor.dev/v1"


def snapshot_scenarios() -> list[Path]:
    folders = []
    for folder in sorted(SCENARIOS.iterdir()):
        spec_file = folder / "scenario.yaml"
        if spec_file.exists() and (folder / "snapshot.yaml").exists():
            args = [str(a) for a in yaml.safe_load(spec_file.read_text())["args"]]
            if "--manifests" not in args and "--snapshot" not in args:
                folders.append(folder)
    return folders


def _comparable(report: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in report.items() if key != "source"}


@pytest.mark.parametrize("folder", snapshot_scenarios(), ids=lambda f: f.name)
def test_live_read_gives_the_files_report(folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from svcdoctor.sources import live as live_module

    args = [str(a) for a in yaml.safe_load((folder / "scenario.yaml").read_text())["args"]]
    objects = [dict(obj) for obj in load_objects(str(folder / "snapshot.yaml"))]
    kept = [obj for obj in objects if obj.get("apiVersion") != EVIDENCE or obj.get("kind") in ("SnapshotInfo",
                                                                                               "NodeDump")]
    dumps = [obj for obj in kept if obj.get("kind") == "NodeDump"]
    served = [obj for obj in kept if obj.get("kind") != "NodeDump"]
    # The live read knows what it listed (SnapshotInfo.recorded); so does the file side, as `record`
    # writes it: the API server serves every kind, so a kind with no objects there has none.
    info = next((obj for obj in kept if obj.get("kind") == "SnapshotInfo"), None)
    if info is None:
        info = {"apiVersion": EVIDENCE, "kind": "SnapshotInfo"}
        kept.append(info)
    kept[kept.index(info)] = {**info, "recorded": [{"kind": resource.kind} for resource in RESOURCES]}
    # The API serves every list in name order (its storage keys); a recording made through it
    # holds that order too, so the file side gets it as well (reports name the first Pod of a group).
    kept.sort(key=lambda obj: (str((obj.get("metadata") or {}).get("namespace") or ""),
                               str((obj.get("metadata") or {}).get("name") or "")))
    recorded = tmp_path / "recorded.json"
    recorded.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": kept}))
    extra: list[str] = []
    if dumps:
        dump_file = tmp_path / "dumps.json"
        dump_file.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": dumps}))
        extra = ["--node-dump", str(dump_file)]
    snapshot = build_snapshot(objects)
    monkeypatch.setattr(live_module, "_now", lambda: snapshot.now)
    expected = run_cli(*args, "--snapshot", str(recorded), "-o", "json")
    # The server replays the recording's refused reads (SnapshotInfo.unavailable) as 403s itself.
    with SnapshotAPIServer(served) as api:
        config = api.write_kubeconfig(str(tmp_path / "kubeconfig"), context=snapshot.info.context or "snapshot")
        actual = run_cli(*args, *extra, "--kubeconfig", config, "-o", "json")
        assert {entry.verb for entry in api.requests()} == {"GET"}
    assert actual.exit_code == expected.exit_code, actual.stderr
    live_report, file_report = _comparable(actual.json()), _comparable(expected.json())
    if live_report != file_report:
        differences = [(a, b) for a, b in zip(live_report["findings"], file_report["findings"], strict=False) if a != b]
        shown = differences[0] if differences else (live_report["findings"], file_report["findings"])
        raise AssertionError("live report differs from the file's:\n" + json.dumps(shown, indent=1)[:3000])
