"""``svcdoctor diff BEFORE AFTER [NAME]``: the changes on a Service's path, ranked, and the verdict change."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from svcdoctor.testing.cluster import ClusterBuilder
from tests.conftest import run_cli


def _cluster(*, selector: str = "backend", pod_label: str = "backend", frontend_ready: bool = True) -> list[Any]:
    b = ClusterBuilder()
    b.snapshot_info()
    b.namespace("shop")
    b.node("node-a", "172.18.0.2")
    http = [{"name": "http", "containerPort": 8080}]
    b.deployment("shop", "backend", {"app": "backend"}, [b.container("backend", "backend:1", http)], replicas=2,
                 template_labels={"app": pod_label})
    b.deployment("shop", "frontend", {"app": "frontend"}, [b.container("frontend", "frontend:1", http)], replicas=1,
                 states=None if frontend_ready else ["notready"])
    b.service("shop", "backend", {"app": selector}, [{"name": "http", "port": 80, "targetPort": "http"}])
    b.service("shop", "frontend", {"app": "frontend"}, [{"name": "http", "port": 80, "targetPort": 8080}])
    return b.build()


def _write(tmp_path: Path, name: str, objects: list[Any]) -> str:
    path = tmp_path / name
    path.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": objects}))
    return str(path)


def test_a_selector_change_is_named_first_and_the_verdict_got_worse(tmp_path: Path) -> None:
    before = _write(tmp_path, "before.yaml", _cluster())
    after = _write(tmp_path, "after.yaml", _cluster(selector="backend-v2"))
    result = run_cli("diff", before, after, "backend", "-n", "shop", "-o", "json")
    assert result.exit_code == 1, result.stderr
    service = result.json()["services"][0]
    assert (service["before"], service["after"], service["worse"]) == ("ok", "unreachable", True)
    assert service["rootCauseAfter"] == "SD301"
    first = service["changes"][0]
    assert (first["area"], first["object"], first["field"]) == ("selector", "Service shop/backend", "spec.selector")
    assert (first["before"], first["after"]) == ({"app": "backend"}, {"app": "backend-v2"})
    assert [c["area"] for c in service["changes"]][-1] == "endpoints"
    text = run_cli("diff", before, after, "backend", "-n", "shop").stdout.splitlines()
    assert text[0] == "shop/backend: ok → unreachable (worse; root cause now SD301)"
    assert text[1].split() == ["selector", "Service", "shop/backend", "spec.selector:", "app=backend", "→",
                               "app=backend-v2"]


def test_relabelled_pods_rank_before_their_endpoints(tmp_path: Path) -> None:
    before = _write(tmp_path, "before.yaml", _cluster())
    after = _write(tmp_path, "after.yaml", _cluster(pod_label="backend-v2"))
    service = run_cli("diff", before, after, "backend.shop", "-o", "json").json()["services"][0]
    areas = [c["area"] for c in service["changes"]]
    assert areas[0] == "pod labels" and areas.index("endpoints") > areas.index("pod labels")


def test_without_a_name_every_changed_service_worst_first_and_better_exits_0(tmp_path: Path) -> None:
    good = _write(tmp_path, "good.yaml", _cluster())
    bad = _write(tmp_path, "bad.yaml", _cluster(selector="nothing", frontend_ready=False))
    result = run_cli("diff", good, bad, "-o", "json")
    services = result.json()["services"]
    assert result.exit_code == 1
    assert [(s["target"]["name"], s["after"]) for s in services] == [("backend", "unreachable"),
                                                                     ("frontend", "unreachable")]
    assert run_cli("diff", bad, good).exit_code == 0
    same = run_cli("diff", good, good)
    assert same.exit_code == 0 and same.stdout == "svcdoctor diff: no verdict changed\n"


def test_bad_input_is_exit_2(tmp_path: Path) -> None:
    result = run_cli("diff", str(tmp_path / "missing.yaml"), str(tmp_path / "missing.yaml"))
    assert result.exit_code == 2 and result.stderr.startswith("svcdoctor: error: ") and result.stderr[-1] == "\n"
    assert result.stderr.count("\n") == 1
