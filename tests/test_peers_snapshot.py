"""The ``mode: snapshot`` entries of ../shared/oracles/peers/expectations.yaml (popeye's Service fixtures).

Run exactly as the oracle's README says: join the entry's files with "\\n---\\n" into one stream, run
``check NAME -n NS --snapshot STREAM -o json`` and assert fires / not_fires / root_cause / causes /
verdict / exit codes (``may_fire`` is don't-care). An entry whose assertion fails only because a
check it names is not registered yet (written on another branch) is an expected failure, so the
test turns real the moment that check lands.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from svcdoctor.checks.registry import BY_ID
from svcdoctor.sources.files import load_objects
from tests.conftest import ORACLES, run_cli, shared_yaml

pytestmark = pytest.mark.shared("oracles/peers/expectations.yaml")

PEERS = ORACLES / "peers"
ENTRIES: list[dict[str, Any]] = [e for e in shared_yaml("oracles/peers/expectations.yaml", {"entries": []})["entries"]
                                 if e["mode"] == "snapshot"]

#: What an entry's ``requires`` asks to be added to the run, as variants: (name, extra YAML, cause of SD501).
#: pp-checkendpoints-no-ep: "Add a non-ExternalName Service default/svc3 to the run"; its ``causes`` reads
#: "SD301 if the added Service has a selector, SD209 if it has none".
ADDED: dict[str, list[tuple[str, str, dict[str, str]]]] = {
    "pp-checkendpoints-no-ep": [
        ("with-selector", """apiVersion: v1
kind: Service
metadata: {name: svc3, namespace: default}
spec:
  type: NodePort
  clusterIP: 10.96.40.3
  selector: {app: p3}
  ports: [{name: http, port: 80, targetPort: 8080, nodePort: 30403, protocol: TCP}]
""", {"SD501": "SD301"}),
        ("without-selector", """apiVersion: v1
kind: Service
metadata: {name: svc3, namespace: default}
spec:
  type: NodePort
  clusterIP: 10.96.40.3
  ports: [{name: http, port: 80, targetPort: 8080, nodePort: 30403, protocol: TCP}]
""", {"SD501": "SD209"}),
    ],
}


def stream(entry: dict[str, Any], extra: str = "") -> str:
    texts = [(PEERS / name).read_text() for name in entry["files"]]
    if extra:
        texts.append(extra)
    return "\n---\n".join(texts)


def cases() -> list[Any]:
    result = []
    for entry in ENTRIES:
        if entry["service"] is None:
            continue
        for variant, extra, causes in ADDED.get(entry["id"], [("", "", {})]):
            result.append(pytest.param(entry, extra, causes, id=f"{entry['id']}-{variant}" if variant else entry["id"]))
    return result


def plain_causes(expected: dict[str, Any]) -> dict[str, str]:
    """The ``causes`` that name one ID (prose ones are resolved per variant in :data:`ADDED`)."""
    return {str(k): str(v) for k, v in (expected.get("causes") or {}).items() if re.fullmatch(r"SD\d{3}", str(v))}


def check_outcome(entry: dict[str, Any], report: dict[str, Any], exit_code: int, causes: dict[str, str]) -> None:
    expected = entry["svcdoctor"]
    ids = [f["id"] for f in report["findings"]]
    for check_id in expected.get("fires") or []:
        assert check_id in ids, f"{check_id} must fire; got {ids}"
    for check_id in expected.get("not_fires") or []:
        assert check_id not in ids, f"{check_id} must not fire; got {ids}"
    if expected.get("root_cause"):
        assert ids and ids[0] == expected["root_cause"], f"root cause {expected['root_cause']}; got {ids}"
    wanted_causes = {**plain_causes(expected), **causes}
    for finding in report["findings"]:
        if finding["id"] in wanted_causes:
            assert finding["caused_by"] == wanted_causes[finding["id"]], (
                f"{finding['id']} must be caused by {wanted_causes[finding['id']]}; got {finding['caused_by']}")
    if expected.get("verdict"):
        assert report["verdict"] == expected["verdict"]
    if "exit_code" in expected:
        assert exit_code == expected["exit_code"]
    if "exit_code_not" in expected:
        assert exit_code != expected["exit_code_not"]


@pytest.mark.parametrize(("entry", "extra", "causes"), cases())
def test_peer_snapshot_entry(entry: dict[str, Any], extra: str, causes: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "stream.yaml"
    path.write_text(stream(entry, extra))
    service = entry["service"]
    result = run_cli("check", service["name"], "-n", service.get("namespace") or "default", "--snapshot", str(path),
                     "-o", "json")
    assert result.exit_code in (0, 1), f"exit {result.exit_code}: {result.stderr}"
    report = result.json()
    expected = entry["svcdoctor"]
    named = (set(expected.get("fires") or []) | {expected.get("root_cause") or ""} | set(causes.values())
             | set(plain_causes(expected).values()))
    missing = sorted(i for i in named - {""} if i not in BY_ID)
    try:
        check_outcome(entry, report, result.exit_code, causes)
    except AssertionError as error:
        if missing:
            pytest.xfail(f"needs {', '.join(missing)}, not registered on this branch: {error}")
        raise


@pytest.mark.parametrize("entry", [e for e in ENTRIES if e["service"] is None], ids=lambda e: e["id"])
def test_peer_only_snapshot_loads(entry: dict[str, Any], tmp_path: Path) -> None:
    """No Service to check: the stream (typed PodList / NetworkPolicyList documents) must still load."""
    path = tmp_path / "stream.yaml"
    path.write_text(stream(entry))
    command = entry["svcdoctor"].get("command")
    if command:
        pytest.fail(f"a load command is given for {entry['id']}; run it: {command}")
    objects = load_objects(str(path))
    kinds = {str(obj.get("kind")) for obj in objects}
    # Items of typed lists (PodList, NetworkPolicyList) come out as objects of their own kind.
    assert {"Pod", "NetworkPolicy", "Namespace"} <= kinds, kinds
    namespaces = sorted({str(obj["metadata"]["namespace"]) for obj in objects if obj["metadata"].get("namespace")})
    for namespace in namespaces:
        result = run_cli("scan", "-n", namespace, "--snapshot", str(path), "-o", "json")
        assert result.exit_code in (0, 1), f"exit {result.exit_code}: {result.stderr}"
