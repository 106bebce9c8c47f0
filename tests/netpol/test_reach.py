"""``svcdoctor reach``: grouping, ports, outside sources, the --expect gate, and bad input."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.conftest import SCENARIOS, run_cli

WHO = str(SCENARIOS / "netpol-who-can-reach" / "snapshot.yaml")


def test_groups_replicas_and_decides_per_port() -> None:
    result = run_cli("reach", "-n", "shop", "-n", "monitoring", "--snapshot", WHO, "-o", "json")
    assert result.exit_code == 0, result.stderr
    document = result.json()
    assert document["schema"] == "svcdoctor/reach/v1"
    ids = [m["id"] for m in document["sources"]]
    assert sorted(ids) == ["monitoring/prometheus", "shop/backend", "shop/frontend"]
    backend = next(m for m in document["sources"] if m["id"] == "shop/backend")
    assert len(backend["pods"]) == 2
    table = next(p for p in document["ports"] if p["port"] == 8080)
    column = [m["id"] for m in document["destinations"]].index("shop/backend")
    cells = {m["id"]: row[column] for m, row in zip(document["sources"], table["matrix"], strict=True)}
    assert cells == {"shop/frontend": ".", "shop/backend": "X", "monitoring/prometheus": "X"}
    denied = [d for d in table["denied"] if d["to"] == "shop/backend"]
    assert {d["by"] for d in denied} == {"ingress"}


def test_each_pod_and_outside_sources() -> None:
    result = run_cli("reach", "-n", "shop", "--each-pod", "--from-ip", "203.0.113.5", "--port", "http",
                     "--snapshot", WHO)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith("port http/TCP") for line in lines)
    header = next(line for line in lines if line.startswith("from\\to")).split()[1:]
    assert len(header) == 4  # two frontends, two backends
    outside = next(line for line in lines if line.startswith("203.0.113.5")).split()[1:]
    assert outside == ["X"] * 4  # default-deny selects every Pod of shop; no rule admits addresses
    frontend_row = next(line for line in lines if line.startswith("shop/frontend")).split()[1:]
    assert [cell for name, cell in zip(header, frontend_row, strict=True) if "backend" in name] == [".", "."]


def test_expect_gate_passes_then_fails_on_a_changed_cell(tmp_path: Path) -> None:
    for output in ("text", "json"):
        expected = tmp_path / f"expected.{output}"
        first = run_cli("reach", "-n", "shop", "--snapshot", WHO, "-o", output)
        expected.write_text(first.stdout)
        again = run_cli("reach", "-n", "shop", "--snapshot", WHO, "--expect", str(expected))
        assert again.exit_code == 0, again.stderr
    policy_opened = yaml.safe_load(Path(WHO).read_text())
    for item in policy_opened["items"]:
        if item["kind"] == "NetworkPolicy" and item["metadata"]["name"] == "backend-allow-frontend":
            item["spec"]["ingress"][0]["from"].append({"namespaceSelector": {}})
    changed = tmp_path / "changed.yaml"
    changed.write_text(yaml.safe_dump(policy_opened))
    result = run_cli("reach", "-n", "shop", "--snapshot", str(changed), "--expect", str(tmp_path / "expected.text"))
    assert result.exit_code == 1
    assert "port 8080/TCP: shop/backend -> shop/backend is allowed, expected denied" in result.stderr


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    for args in (["--port", "http/ICMP"], ["--port", "70000"], ["--from-ip", "not-an-ip"], ["--pod", "shop/nope"],
                 ["--pod", "nope"], ["-o", "sarif"], ["--expect", str(tmp_path / "missing.json")]):
        result = run_cli("reach", "-n", "shop", "--snapshot", WHO, *args)
        assert result.exit_code == 2, (args, result.stderr)
        assert result.stderr.count("\n") == 1 and result.stderr.startswith("svcdoctor: error:"), result.stderr
    empty = run_cli("reach", "-n", "nowhere", "--snapshot", WHO)
    assert empty.exit_code == 2 and "no Pods" in empty.stderr


def test_unreadable_policies_fail_instead_of_guessing(tmp_path: Path) -> None:
    document = yaml.safe_load(Path(WHO).read_text())
    for item in document["items"]:
        if item["kind"] == "SnapshotInfo":
            item["unavailable"] = [{"resource": "networkpolicies", "namespace": "shop", "reason": "forbidden"}]
    path = tmp_path / "forbidden.yaml"
    path.write_text(yaml.safe_dump(document))
    result = run_cli("reach", "-n", "shop", "--snapshot", str(path))
    assert result.exit_code == 3
    assert "kubectl auth can-i list networkpolicies -n shop" in result.stderr


def test_via_service_reaches_each_pod_at_the_target_port() -> None:
    result = run_cli("reach", "-n", "shop", "--via-service", "--port", "80", "--snapshot", WHO, "-o", "json")
    assert result.exit_code == 0, result.stderr
    document = result.json()
    table = document["ports"][0]
    assert table["via"] == "service" and table["port"] == 80
    sources = [m["id"] for m in document["sources"]]
    destinations = [m["id"] for m in document["destinations"]]
    frontend, backend = sources.index("shop/frontend"), destinations.index("shop/backend")
    assert table["matrix"][frontend][backend] == "."  # Service port 80 → targetPort http → 8080, admitted
    assert table["matrix"][frontend][destinations.index("shop/frontend")] == "-"  # no Service selects it
    assert run_cli("reach", "-n", "shop", "--via-service", "--snapshot", WHO).exit_code == 2


def test_help_renders() -> None:
    result = run_cli("reach", "--help")
    assert result.exit_code == 0, result.stderr
    assert "--via-service" in result.stdout and "--expect" in result.stdout
