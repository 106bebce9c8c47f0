"""SD801 on a cluster where Cilium replaces kube-proxy: the agent Pod of the client's node and of the
endpoints' nodes, as kube-proxy's Pods are checked elsewhere."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from tests.conftest import SCENARIOS
from tests.test_env_and_dual_stack import check_report, findings_of


def _build(**options: Any) -> list[dict[str, Any]]:
    path = SCENARIOS / "kube-proxy-replaced-by-cilium" / "build.py"
    spec = importlib.util.spec_from_file_location("kube_proxy_replaced_by_cilium", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build(**options)  # type: ignore[no-any-return]


def _client(objects: list[dict[str, Any]]) -> str:
    pod = next(o for o in objects if o["kind"] == "Pod" and o["metadata"]["name"].startswith("frontend-"))
    return f"shop/{pod['metadata']['name']}"


def _step8(report: dict[str, Any]) -> dict[str, Any]:
    return next(step for step in report["steps"] if step["step"] == 8)


def test_a_broken_agent_on_an_endpoints_node_degrades_a_client_elsewhere(tmp_path: Path) -> None:
    objects = _build(agent_states={"node-b": "notready"}, client_node="node-a")
    report = check_report(objects, tmp_path, "cart", "-n", "shop", "--from", _client(objects))
    [finding] = [f for f in findings_of(report, "SD801") if f["severity"] != "info"]
    assert finding["severity"] == "warning" and report["verdict"] == "degraded"
    assert "node node-b (a node of the Service's endpoints)" in finding["message"]
    assert "running but not ready" in finding["message"]


def test_healthy_agents_pass_and_the_replacement_is_said(tmp_path: Path) -> None:
    objects = _build(client_node="node-a")
    report = check_report(objects, tmp_path, "cart", "-n", "shop", "--from", _client(objects))
    assert [f["severity"] for f in findings_of(report, "SD801")] == ["info"]
    assert "SD801" in _step8(report)["checked"]
    assert not [item for item in _step8(report).get("missing", []) if "SD801" in item["checks"]]


def test_agents_not_in_the_snapshot_are_not_checked(tmp_path: Path) -> None:
    objects = [o for o in _build(client_node="node-a")
               if not (o["kind"] == "Pod" and o["metadata"]["name"].startswith("cilium-"))]
    report = check_report(objects, tmp_path, "cart", "-n", "shop", "--from", _client(objects))
    assert [f["severity"] for f in findings_of(report, "SD801")] == ["info"]
    missing = " ".join(item["what"] for item in _step8(report)["missing"] if "SD801" in item["checks"])
    assert "no Cilium agent Pods in the snapshot" in missing
