"""Every upstream NetworkPolicy truth table in ../shared/oracles/netpol/cases must come out of ``reach``.

Each case's policies go into the upstream model (namespaces x, y, z; Pods a, b, c; see
oracle_model.py). As upstream probes each server Pod through its own Service, ``svcdoctor reach -n x
-n y -n z --each-pod --via-service --port P/PROTO -o json`` runs on it through the CLI, and every
cell but the diagonal (ignored upstream) must equal the expected matrix.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.conftest import ORACLES, require, run_cli
from tests.netpol.oracle_model import model_objects, parse_truth_table

pytestmark = pytest.mark.shared("oracles/netpol/cases")

CASES = ORACLES / "netpol" / "cases"


def case_files() -> list[Path]:
    return sorted(CASES.glob("*.yaml")) if CASES.is_dir() else []


def test_the_oracle_is_there() -> None:
    require(len(case_files()) >= 10, f"the netpol oracle cases are missing from {CASES}")


@pytest.mark.parametrize("case_file", case_files(), ids=lambda p: p.stem)
def test_oracle_case(case_file: Path, tmp_path: Path) -> None:
    case = yaml.safe_load(case_file.read_text())
    objects = model_objects(case["served_ports"], case["policies"])
    snapshot = tmp_path / "snapshot.yaml"
    snapshot.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": objects}))
    for probe in case["probes"]:
        port = f"{probe['port']}/{probe.get('protocol', 'TCP')}"
        result = run_cli("reach", "-n", "x", "-n", "y", "-n", "z", "--each-pod", "--via-service", "--port", port,
                         "--snapshot", str(snapshot), "-o", "json")
        assert result.exit_code == 0, result.stderr
        document = result.json()
        sources = [m["id"] for m in document["sources"]]
        destinations = [m["id"] for m in document["destinations"]]
        table = document["ports"][0]
        actual = {(source, destination): cell
                  for source, row in zip(sources, table["matrix"], strict=True)
                  for destination, cell in zip(destinations, row, strict=True)}
        expected = parse_truth_table(probe["expected"])
        wrong = [f"{source} -> {destination}: got {actual[(source, destination)]}, want {cell}"
                 for (source, destination), cell in expected.items()
                 if source != destination and actual[(source, destination)] != cell]
        assert not wrong, f"{case['id']} port {port}:\n" + "\n".join(wrong)
