"""Properties that keep svcdoctor honest over every scenario (issue 12):

- removing any one kind of evidence (the NodeDumps, the ProbeResults, the DNSAnswers, or every object
  of one API kind) never makes the step that needs it ``pass``;
- refusing a read never turns a verdict that was not ``ok`` into ``ok`` — over every scenario and
  every resource svcdoctor reads, as a recording holds it (the objects gone, the refusal in
  ``SnapshotInfo.unavailable``), and through the real client against the test API server, which
  answers 403 for what it is told to forbid.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from svcdoctor import k8s
from svcdoctor.engine import diagnose_service
from svcdoctor.findings import Client
from svcdoctor.kinds import BY_PLURAL, READ_BY_SVCDOCTOR
from svcdoctor.serve.apiserver import ServerOptions, SnapshotAPIServer
from svcdoctor.snapshot import build_snapshot
from svcdoctor.sources.files import load_objects
from tests.conftest import SCENARIOS, run_cli

EVIDENCE = "svcdoctor.dev/v1"

#: What to take away, and the step that needs it. An API kind is taken away whole (a list that was
#: not recorded); the evidence kinds are the ones nobody has to ask for.
REMOVALS: dict[str, tuple[tuple[str, ...], int]] = {
    "NodeDump": (("NodeDump",), 8),
    "ProbeResult": (("ProbeResult",), 9),
    "DNSAnswer": (("DNSAnswer",), 7),
    "NetworkPolicy": (("NetworkPolicy",), 6),
    "EndpointSlice+Endpoints": (("EndpointSlice", "Endpoints"), 5),
    "Pod": (("Pod",), 4),
    "kube-system DaemonSet+Pod": (("kube-system/DaemonSet", "kube-system/Pod"), 8),
    "Node": (("Node",), 8),
    "Ingress": (("Ingress",), 2),
}


def _client(folder: Path) -> str:
    args = _args(folder)
    return args[args.index("--from") + 1] if "--from" in args else ""


def _without(objects: list[dict[str, Any]], kinds: tuple[str, ...], client: str) -> list[dict[str, Any]]:
    """``objects`` less every object of ``kinds`` (``NS/Kind`` limits one to a namespace); the client Pod stays
    (without it --from is bad input, not a missing kind of evidence)."""
    def gone(obj: dict[str, Any]) -> bool:
        metadata = obj.get("metadata") or {}
        namespace = str(metadata.get("namespace") or "")
        if obj.get("kind") == "Pod" and f"{namespace}/{metadata.get('name')}" == client:
            return False
        return str(obj.get("kind")) in kinds or f"{namespace}/{obj.get('kind')}" in kinds

    return [obj for obj in objects if not gone(obj)]


def _is_endpoint(objects: list[dict[str, Any]], client: str) -> bool:
    """Whether the client Pod is listed in an EndpointSlice."""
    namespace, _, name = client.partition("/")
    return any(str((endpoint.get("targetRef") or {}).get("name")) == name
               and str((endpoint.get("targetRef") or {}).get("namespace")) == namespace
               for obj in objects if obj.get("kind") == "EndpointSlice" for endpoint in obj.get("endpoints") or [])


def _scenarios() -> list[Path]:
    folders = []
    for folder in sorted(SCENARIOS.iterdir()):
        spec = folder / "scenario.yaml"
        if spec.exists() and (folder / "snapshot.yaml").exists():
            args = [str(a) for a in yaml.safe_load(spec.read_text())["args"]]
            if "--manifests" not in args and "--snapshot" not in args and "--baseline" not in args:
                folders.append(folder)
    return folders


def _args(folder: Path) -> list[str]:
    return [str(a) for a in yaml.safe_load((folder / "scenario.yaml").read_text())["args"]]


def _report(folder: Path, objects: list[dict[str, Any]]) -> dict[str, Any]:
    """The scenario's diagnosis of ``objects``, as ``check`` makes it (in-process: the engine, no files)."""
    args = _args(folder)
    namespace = args[args.index("-n") + 1] if "-n" in args else "default"
    client = None
    if "--from" in args:
        pod_namespace, _, pod_name = _client(folder).partition("/")
        client = Client("pod", pod_namespace, pod_name)
    snapshot = build_snapshot(objects)
    if client is not None:
        pod = snapshot.pod(client.namespace, client.name)
        client = Client("pod", client.namespace, client.name, k8s.pod_ip(pod) if pod is not None else "")
    return diagnose_service(snapshot, namespace, args[1], client=client).to_dict()


def _status(report: dict[str, Any], step: int) -> str:
    return next((s["status"] for s in report["steps"] if s["step"] == step), "absent")


@pytest.mark.parametrize("folder", _scenarios(), ids=lambda folder: folder.name)
def test_removing_one_kind_of_evidence_never_makes_its_step_pass(folder: Path, tmp_path: Path) -> None:
    objects = _objects(folder)
    client = _client(folder)
    tried = 0
    for label, (kinds, step) in REMOVALS.items():
        if label == "Pod" and _is_endpoint(objects, client):
            # The client Pod stays, and it is one of the Service's own Pods (hairpin): step 4 still has
            # a Pod to judge, and the endpoints whose Pods are gone are step 5's finding (SD503).
            continue
        kept = _without(objects, kinds, client)
        if len(kept) == len(objects):
            continue
        tried += 1
        report = _report(folder, kept)
        assert _status(report, step) != "pass", (
            f"{folder.name} without {label}: step {step} passes — "
            + json.dumps(next((s for s in report["steps"] if s["step"] == step), {}), indent=1))
    assert tried, f"{folder.name} holds none of the evidence kinds"


def _objects(folder: Path) -> list[dict[str, Any]]:
    return [dict(obj) for obj in load_objects(str(folder / "snapshot.yaml"))]


def _served_verdict(folder: Path) -> str:
    """The verdict on what the test API server serves: the API objects and the node dumps, not probes or answers."""
    return _report(folder, [o for o in _objects(folder) if o.get("apiVersion") != EVIDENCE
                            or o.get("kind") in ("SnapshotInfo", "NodeDump")])["verdict"]


@functools.cache
def _not_ok(served: bool) -> list[Path]:
    """The scenarios whose verdict is not ``ok`` (on what the API server serves, if ``served``): only there can a
    refused read hide a finding, so only they are cases of the refusal properties (no vacuous skips)."""
    return [folder for folder in _scenarios()
            if (_served_verdict(folder) if served else _report(folder, _objects(folder))["verdict"]) != "ok"]


def test_the_refusal_properties_have_cases() -> None:
    # Guards the selection above: were the engine to call everything ok, the properties would test nothing.
    assert len(_not_ok(served=False)) >= 20 and len(_not_ok(served=True)) >= 20


def _refused(objects: list[dict[str, Any]], resource: str) -> list[dict[str, Any]]:
    """The recording a refused list of ``resource`` makes: its objects absent, the refusal noted."""
    kind = BY_PLURAL[resource].kind
    kept = [obj for obj in objects if obj.get("kind") not in (kind, "SnapshotInfo")]
    info = next((dict(obj) for obj in objects if obj.get("kind") == "SnapshotInfo"),
                {"apiVersion": EVIDENCE, "kind": "SnapshotInfo"})
    info["unavailable"] = [*(info.get("unavailable") or []),
                           {"resource": resource, "verb": "list",
                            "reason": f'forbidden: cannot list resource "{resource}"'}]
    return [info, *kept]


@pytest.mark.parametrize("folder", _not_ok(served=False), ids=lambda folder: folder.name)
def test_a_refused_read_never_turns_a_finding_into_ok(folder: Path, tmp_path: Path) -> None:
    objects = _objects(folder)
    before = _report(folder, objects)["verdict"]
    assert before != "ok"
    for resource in READ_BY_SVCDOCTOR:
        report = _report(folder, _refused(objects, resource))
        assert report["verdict"] != "ok", f"{folder.name}: {resource} refused turns {before} into ok"


@pytest.mark.parametrize("folder", _not_ok(served=True), ids=lambda folder: folder.name)
def test_a_read_the_api_server_forbids_never_turns_a_finding_into_ok(folder: Path, tmp_path: Path) -> None:
    objects = _objects(folder)
    before = _served_verdict(folder)
    assert before != "ok"
    served = [o for o in objects if o.get("apiVersion") != EVIDENCE or o.get("kind") == "SnapshotInfo"]
    dumps = [o for o in objects if o.get("kind") == "NodeDump"]
    extra: list[str] = []
    if dumps:
        (tmp_path / "dumps.json").write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": dumps}))
        extra = ["--node-dump", str(tmp_path / "dumps.json")]
    # Every scenario forbids two resources in turn: one fixed (the Pods, which nearly every check
    # reads) and one rotating through what svcdoctor reads, so that all of them are forbidden somewhere.
    index = _not_ok(served=True).index(folder)
    for resource in ("pods", READ_BY_SVCDOCTOR[index % len(READ_BY_SVCDOCTOR)]):
        with SnapshotAPIServer(served, options=ServerOptions(forbid={resource})) as api:
            config = api.write_kubeconfig(str(tmp_path / "kubeconfig"))
            result = run_cli(*_args(folder), *extra, "--kubeconfig", config, "-o", "json")
        assert result.exit_code in (0, 1, 4), result.stderr
        assert result.json()["verdict"] != "ok", f"{folder.name}: {resource} forbidden turns {before} into ok"
