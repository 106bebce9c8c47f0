"""Two upstream e2e ipBlock cases the oracle folder could not transcribe (they need runtime Pod IPs).

From kubernetes/kubernetes test/e2e/network/netpol/network_policy.go, re-expressed here: with the
upstream model's Pod IPs known, x/a may send only to ``<IP of x/a>/4`` except ``<IP of x/b>/32``:

- "should enforce except clause while egress access to server in CIDR block": only x/a → x/b is
  blocked;
- "should ensure an IP overlapping both IPBlock.CIDR and IPBlock.Except is allowed": a second
  policy allowing ``<IP of x/b>/32`` reopens it (policies are a union).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.conftest import run_cli
from tests.netpol.oracle_model import NAMESPACES, PODS, model_objects


def egress_by_cidr(name: str, cidr: str, excepts: list[str] | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {"cidr": cidr}
    if excepts:
        block["except"] = excepts
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"namespace": "x", "name": name},
            "spec": {"podSelector": {"matchLabels": {"pod": "a"}}, "policyTypes": ["Egress"],
                     "egress": [{"to": [{"ipBlock": block}]},
                                {"ports": [{"protocol": "UDP", "port": 53}]}]}}


def matrix(tmp_path: Path, policies: list[dict[str, Any]]) -> dict[tuple[str, str], str]:
    objects = model_objects([{"port": 80, "protocol": "TCP"}], [])
    ips = {f"{o['metadata']['namespace']}/{o['metadata']['name']}": o["status"]["podIP"]
           for o in objects if o["kind"] == "Pod"}
    rendered = [yaml.safe_load(yaml.safe_dump(p).replace("IP_OF_XA", ips["x/a"]).replace("IP_OF_XB", ips["x/b"]))
                for p in policies]
    path = tmp_path / "snapshot.yaml"
    path.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": objects + rendered}))
    result = run_cli("reach", "-n", "x", "-n", "y", "-n", "z", "--each-pod", "--via-service", "--port", "80",
                     "--snapshot", str(path), "-o", "json")
    assert result.exit_code == 0, result.stderr
    document = result.json()
    sources = [m["id"] for m in document["sources"]]
    destinations = [m["id"] for m in document["destinations"]]
    return {(s, d): document["ports"][0]["matrix"][i][j] for i, s in enumerate(sources)
            for j, d in enumerate(destinations)}


def off_diagonal_denials(cells: dict[tuple[str, str], str]) -> set[tuple[str, str]]:
    everyone = [f"{n}/{p}" for n in NAMESPACES for p in PODS]
    assert {s for s, _ in cells} == set(everyone)
    return {pair for pair, cell in cells.items() if cell == "X" and pair[0] != pair[1]}


def test_except_clause_blocks_only_the_excepted_server(tmp_path: Path) -> None:
    cells = matrix(tmp_path, [egress_by_cidr("allow-client-a-via-cidr-egress-rule", "IP_OF_XA/4",
                                             ["IP_OF_XB/32"])])
    assert off_diagonal_denials(cells) == {("x/a", "x/b")}


def test_an_ip_in_both_cidr_and_except_is_allowed_by_another_policy(tmp_path: Path) -> None:
    cells = matrix(tmp_path, [egress_by_cidr("allow-client-a-via-cidr-egress-rule", "IP_OF_XA/4", ["IP_OF_XB/32"]),
                              egress_by_cidr("allow-client-a-via-cidr-egress-rule-b", "IP_OF_XB/32")])
    assert off_diagonal_denials(cells) == set()
