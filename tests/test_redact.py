"""record --redact: consistent, prefix-preserving pseudonyms that keep the diagnosis intact."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import pytest
import yaml

from svcdoctor.redact import Redactor, redact_objects
from svcdoctor.selectors import from_label_selector
from svcdoctor.sources.files import load_objects
from tests.conftest import run_cli


def test_same_input_same_pseudonym_and_generated_tails_kept() -> None:
    redactor = Redactor(b"k" * 16)
    deployment = redactor.name("checkout")
    assert redactor.name("checkout") == deployment != "checkout"
    assert redactor.name("checkout-7d9c8bf5d") == f"{deployment}-7d9c8bf5d"
    assert redactor.name("checkout-7d9c8bf5d-xk2p4") == f"{deployment}-7d9c8bf5d-xk2p4"
    # A tail that is a word, not a generated suffix, gets its own pseudonym.
    assert "gateway" not in redactor.name("checkout-gateway")
    assert redactor.name("kube-system") == "kube-system"


def test_ip_mapping_preserves_prefixes() -> None:
    redactor = Redactor(b"k" * 16)
    network = ipaddress.ip_network(redactor.ip("10.244.1.0/24"))
    for host in ("10.244.1.5", "10.244.1.200"):
        assert ipaddress.ip_address(redactor.ip(host)) in network
    assert ipaddress.ip_address(redactor.ip("10.244.2.5")) not in network
    assert redactor.ip("10.244.1.5") == redactor.ip("10.244.1.5") != "10.244.1.5"
    assert redactor.ip("127.0.0.1") == "127.0.0.1"
    assert Redactor(b"x" * 16).ip("10.244.1.5") != redactor.ip("10.244.1.5")  # keyed per file
    assert ":" in redactor.ip("fd00::1")


def test_selectors_still_match_and_secrets_are_dropped() -> None:
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "api-1", "namespace": "payments", "labels": {"app": "api", "tier": "web"},
                        "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{...}",
                                        "team.example.com/owner": "alice"}},
           "spec": {"containers": [{"name": "api", "image": "corp.example/api:1", "command": ["run", "--pw=x"],
                                    "env": [{"name": "TOKEN", "value": "hunter2"}]}]},
           "status": {"podIP": "10.1.2.3"}}
    policy = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
              "metadata": {"name": "allow", "namespace": "payments"},
              "spec": {"podSelector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["api"]}]},
                       "ingress": [{"from": [{"ipBlock": {"cidr": "10.1.0.0/16"}}]}]}}
    event = {"apiVersion": "v1", "kind": "Event", "metadata": {"name": "api-1.1", "namespace": "payments"},
             "involvedObject": {"kind": "Pod", "name": "api-1", "namespace": "payments"},
             "message": 'Readiness probe failed: Get "http://10.1.2.3:8080/": connection refused on api-1'}
    red_pod, red_policy, red_event = redact_objects([pod, policy, event])
    text = repr([red_pod, red_policy, red_event])
    for word in ("payments", "hunter2", "alice", "corp.example", "10.1.2.3", "--pw=x", "last-applied"):
        assert word not in text, word
    selector = from_label_selector(red_policy["spec"]["podSelector"])
    assert selector.matches(red_pod["metadata"]["labels"])
    assert red_event["involvedObject"]["name"] == red_pod["metadata"]["name"]
    assert red_pod["status"]["podIP"] in red_event["message"]
    cidr = ipaddress.ip_network(red_policy["spec"]["ingress"][0]["from"][0]["ipBlock"]["cidr"])
    assert ipaddress.ip_address(red_pod["status"]["podIP"]) in cidr


def _scenarios() -> list[Path]:
    from tests.test_live_scenarios import snapshot_scenarios

    return snapshot_scenarios()


@pytest.mark.parametrize("folder", _scenarios(), ids=lambda f: f.name)
def test_redacted_scenario_keeps_its_diagnosis(folder: Path, tmp_path: Path) -> None:
    """Every scenario, redacted: the same findings in the same order, the same verdict."""
    args = [str(a) for a in yaml.safe_load((folder / "scenario.yaml").read_text())["args"]]
    objects = [dict(obj) for obj in load_objects(str(folder / "snapshot.yaml"))]
    redactor = Redactor(b"scenario-key-123")
    redacted = tmp_path / "redacted.json"
    redacted.write_text(json.dumps({"apiVersion": "v1", "kind": "List",
                                    "items": redact_objects(objects, redactor=redactor)}))
    mapped = []
    for position, arg in enumerate(args):
        flag = args[position - 1] if position else ""
        if position == 1 or flag in ("-n", "--namespace", "--from-node"):
            mapped.append(redactor.names.get(arg, arg))
        elif flag == "--from":
            mapped.append("/".join(redactor.names.get(part, part) for part in arg.split("/")))
        elif flag == "--from-ip":
            mapped.append(redactor.ip(arg))
        else:
            mapped.append(arg)
    _assert_no_leaks(objects, redacted.read_text())
    original = run_cli(*args, "--snapshot", str(folder / "snapshot.yaml"), "-o", "json")
    after = run_cli(*mapped, "--snapshot", str(redacted), "-o", "json")
    assert after.exit_code == original.exit_code, after.stderr

    def outline(report: dict) -> list[tuple[str, str, str | None]]:
        return [(f["id"], f["severity"], f["caused_by"]) for f in report["findings"]]

    assert outline(after.json()) == outline(original.json())
    assert after.json()["verdict"] == original.json()["verdict"]


def _assert_no_leaks(objects: list[dict], text: str) -> None:
    """No original name, namespace or address survives as a whole word (port names are kept)."""
    import re

    from svcdoctor.redact import KEEP

    names: set[str] = set()
    port_names: set[str] = set()
    for obj in objects:
        metadata = obj.get("metadata") or {}
        names |= {str(metadata[key]) for key in ("name", "namespace") if metadata.get(key)}
        for match in re.finditer(r"'name': '([^']+)', '(?:containerPort|port|protocol)'", repr(obj)):
            port_names.add(match.group(1))
    names -= KEEP | port_names
    text = re.sub(r'"[^"]*":', ":", text)  # field names are the API's, not the cluster's
    words = set(re.findall(r"(?<![A-Za-z0-9.-])[a-z0-9][a-z0-9.-]*[a-z0-9](?![A-Za-z0-9-])", text))
    assert not names & words, sorted(names & words)
    addresses = set(re.findall(r"\b\d+\.\d+\.\d+\.\d+\b", json.dumps(objects))) - {"127.0.0.1", "0.0.0.0"}
    assert not {a for a in addresses if re.search(rf"(?<![\d.]){re.escape(a)}(?![\d.])", text)}
