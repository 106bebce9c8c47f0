"""Objects the API server would refuse (issue 12): one rule set for every source.

In a file (``--snapshot``, ``--manifests``) the first one is bad input: one line naming the object
and the field, exit 2 — never ``ok`` and never an internal error inside one check. From a live
cluster one odd object must not stop the run: it is left out and reported (SD001 names object and
field), and the checks that read its kind are unknown.
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import pytest
import yaml

from svcdoctor.serve.apiserver import SnapshotAPIServer
from svcdoctor.sources.files import load_objects
from tests.conftest import SCENARIOS, run_cli

SCENARIO = SCENARIOS / "healthy-clusterip-deployment"
ARGS = ["check", "frontend", "-n", "shop"]


def _objects() -> list[dict[str, Any]]:
    return [dict(copy.deepcopy(obj)) for obj in load_objects(str(SCENARIO / "snapshot.yaml"))
            if obj.get("apiVersion") != "svcdoctor.dev/v1"]


def _service(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return next(o for o in objects if o["kind"] == "Service" and o["metadata"]["name"] == "frontend")


def _pod(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return next(o for o in objects if o["kind"] == "Pod" and o["metadata"]["namespace"] == "shop")


#: name → (how to break the objects, the words the one line must hold)
BREAKAGES = {
    "spec-null": (lambda objs: _service(objs).update(spec=None), "Service shop/frontend: spec is null, not a mapping"),
    "port-2-to-the-70": (lambda objs: _service(objs)["spec"]["ports"][0].update(port=2**70),
                         "spec.ports[0].port 1180591620717411303424 is outside 1-65535"),
    "port-nan": (lambda objs: _service(objs)["spec"]["ports"][0].update(port=math.nan),
                 "spec.ports[0].port NaN is not a port number"),
    "annotations-list": (lambda objs: _service(objs)["metadata"].update(annotations=["a", "b"]),
                         "metadata.annotations [\"a\", \"b\"] is not a mapping of strings"),
    "selector-string": (lambda objs: _service(objs)["spec"].update(selector="app=frontend"),
                        "spec.selector \"app=frontend\" is not a mapping of strings"),
    "ports-string": (lambda objs: _service(objs)["spec"].update(ports="80"),
                     "spec.ports \"80\" is not a list of ports"),
    "container-port-string": (lambda objs: _pod(objs)["spec"]["containers"][0].update(ports=[{"containerPort": "x"}]),
                              "spec.containers[0].ports[0].containerPort \"x\" is not a port number"),
}


def _write(path: Path, objects: list[dict[str, Any]]) -> str:
    path.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": objects}))
    return str(path)


@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
@pytest.mark.parametrize("mode", ["--snapshot", "--manifests"])
def test_an_invalid_object_in_a_file_is_one_line_naming_object_and_field(breakage: str, mode: str,
                                                                        tmp_path: Path) -> None:
    objects = _objects()
    if mode == "--manifests":
        objects = [o for o in objects if o["kind"] in ("Service", "Deployment", "Pod")]
    (break_it, words) = BREAKAGES[breakage]
    break_it(objects)
    result = run_cli(*ARGS, mode, _write(tmp_path / "objects.yaml", objects))
    assert result.exit_code == 2, (result.exit_code, result.stdout[:300], result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and words.split(": ", 1)[-1] in lines[0], lines
    assert "frontend" in lines[0] or "Pod" in lines[0]


def test_a_recorded_object_must_name_its_namespace_a_manifest_takes_n(tmp_path: Path) -> None:
    objects = _objects()
    del _service(objects)["metadata"]["namespace"]
    result = run_cli(*ARGS, "--snapshot", _write(tmp_path / "snapshot.yaml", objects))
    assert result.exit_code == 2 and "Service frontend: metadata.namespace is missing" in result.stderr
    manifests = [o for o in objects if o["kind"] in ("Service", "Deployment")]
    assert run_cli(*ARGS, "--manifests", _write(tmp_path / "manifests.yaml", manifests)).exit_code in (0, 1)


def test_an_invalid_object_from_a_live_cluster_is_a_finding_and_its_checks_are_unknown(tmp_path: Path) -> None:
    objects = _objects()
    _service(objects)["spec"]["ports"][0]["port"] = 2**70
    with SnapshotAPIServer(objects) as api:
        config = api.write_kubeconfig(str(tmp_path / "kubeconfig"))
        result = run_cli(*ARGS, "--kubeconfig", config, "-o", "json")
    assert result.exit_code == 4, result.stderr
    report = json.loads(result.stdout)
    assert report["verdict"] == "unknown"
    sd001 = next(f for f in report["findings"] if f["id"] == "SD001")
    assert "Service shop/frontend: spec.ports[0].port 1180591620717411303424 is outside 1-65535" in sd001["message"]
    assert "kubectl get services frontend -n shop -o yaml" in sd001["next"]
    assert {s["step"]: s["status"] for s in report["steps"]}[2] == "unknown"
