"""record --redact: consistent, prefix-preserving pseudonyms that keep the diagnosis intact."""

from __future__ import annotations

import ipaddress
import json
import re
from pathlib import Path

import pytest
import yaml

from svcdoctor.redact import Redactor, redact_objects
from svcdoctor.selectors import from_label_selector
from svcdoctor.sources.files import load_objects
from tests.conftest import SCENARIOS, run_cli


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

    from svcdoctor.redact import KEEP, KEPT_RANGES

    names: set[str] = set()
    port_names: set[str] = set()
    for obj in objects:
        metadata = obj.get("metadata") or {}
        names |= {str(metadata[key]) for key in ("name", "namespace") if metadata.get(key)}
        for match in re.finditer(r"'name': '([^']+)', '(?:containerPort|port|protocol)'", repr(obj)):
            port_names.add(match.group(1))
    # A Corefile's directives are CoreDNS's words (``prometheus :9153``), kept even where a namespace shares one.
    directives = {line.split()[0] for obj in objects if obj.get("kind") == "ConfigMap"
                  for line in str((obj.get("data") or {}).get("Corefile") or "").splitlines() if line.split()}
    names -= KEEP | port_names | directives
    text = re.sub(r'"[^"]*":', ":", text)  # field names are the API's, not the cluster's
    words = set(re.findall(r"(?<![A-Za-z0-9.-])[a-z0-9][a-z0-9.-]*[a-z0-9](?![A-Za-z0-9-])", text))
    assert not names & words, sorted(names & words)
    # A range's own network address (an ipBlock of all 10.0.0.0/8) names the range, which a pseudonym keeps.
    ranges = {str(network.network_address) for network in KEPT_RANGES}
    addresses = set(re.findall(r"\b\d+\.\d+\.\d+\.\d+\b", json.dumps(objects))) - {"127.0.0.1", "0.0.0.0"} - ranges
    assert not {a for a in addresses if re.search(rf"(?<![\d.]){re.escape(a)}(?![\d.])", text)}


def _every_scenario_object() -> list[dict]:
    return [dict(obj) for folder in _scenarios() for obj in load_objects(str(folder / "snapshot.yaml"))]


def test_pseudonymous_addresses_stay_in_the_kind_of_range_they_came_from() -> None:
    """No pseudonym is a public (or multicast) address unless its address was: a Pod IP of 10.244/16 stays
    in 10/8, a public node address lands in 100.64/10; and no address is its own pseudonym."""
    import re

    from svcdoctor.redact import KEPT_RANGES, PUBLIC_HOMES

    redactor = Redactor()
    text = json.dumps(_every_scenario_object())
    originals = sorted(set(re.findall(r"(?<![\d.])\d{1,3}(?:\.\d{1,3}){3}(?![\d.])", text)))
    originals += ["8.8.8.8", "52.14.7.9", "231.1.2.3", "100.64.3.4", "2600:1f18::5", "fd00:10:244::7"]
    checked = 0
    for original in originals:
        address = ipaddress.ip_address(original)
        if address.is_loopback or address.is_unspecified:
            continue
        pseudonym = ipaddress.ip_address(redactor.ip(original))
        assert pseudonym != address, original
        home = next((network for network in KEPT_RANGES if address in network), PUBLIC_HOMES[address.version])
        assert pseudonym in home, (original, str(pseudonym), str(home))
        assert not pseudonym.is_global or (address.is_global and address.is_multicast), (original, str(pseudonym))
        checked += 1
    assert checked > 30
    # Prefixes hold across the public home too: two addresses of one /24 stay in one /24.
    first, second = (ipaddress.ip_address(redactor.ip(a)) for a in ("52.14.7.9", "52.14.7.200"))
    assert ipaddress.ip_network(f"{first}/24", strict=False) == ipaddress.ip_network(f"{second}/24", strict=False)
    assert first in ipaddress.ip_network(str(redactor.ip("52.14.0.0/16")))
    # A CIDR wider than a range that reaches into a kept range stays: it names no host.
    assert redactor.ip("0.0.0.0/1") == "0.0.0.0/1" and redactor.ip("52.0.0.0/8") == "100.64.0.0/10"


def test_a_redacted_corefile_keeps_its_syntax_and_zones() -> None:
    from svcdoctor.dns.domain import corefile_zones

    redactor = Redactor()
    objects = _every_scenario_object()
    corefiles = {str(obj["data"]["Corefile"]) for obj in objects if obj.get("kind") == "ConfigMap"
                 and isinstance(obj.get("data"), dict) and "Corefile" in obj["data"]}
    corefiles.add(".:53 {\n    errors\n    health {\n       lameduck 5s\n    }\n    kubernetes cluster.local "
                  "in-addr.arpa ip6.arpa {\n       pods insecure\n       fallthrough in-addr.arpa ip6.arpa\n    }\n"
                  "    forward . 10.0.0.2:53 /etc/resolv.conf {\n       max_concurrent 1000\n       prefer_udp\n"
                  "    }\n    cache 30\n}\nconsul.corp.example:53 {\n    forward . 10.150.0.1  # our Consul\n}\n")
    assert len(corefiles) > 1
    for corefile in corefiles:
        redacted = redactor.corefile(corefile)
        before, after = corefile.splitlines(), redacted.splitlines()
        assert len(before) == len(after)
        for old, new in zip(before, after, strict=True):
            old_words, new_words = old.split("#")[0].split(), new.split()
            assert len(old_words) == len(new_words), (old, new)
            if (old_words and "{" not in old_words[-1:]) or old_words[:1] in (["}"], ["{"]):
                assert old_words[:1] == new_words[:1], (old, new)  # the directive
            for word, redone in zip(old_words, new_words, strict=True):
                if re.fullmatch(r"[{}]|\d+[a-z]?|:\d+", word):
                    assert redone == word, (old, new)
                assert redone != "x", (old, new)
        assert corefile_zones(redacted) == [str(redactor.names.get(zone, zone)) for zone in corefile_zones(corefile)]
        assert "consul" not in redacted and "corp" not in redacted and "our" not in redacted


def test_a_redacted_forbidden_read_keeps_the_api_servers_words(tmp_path: Path) -> None:
    folder = SCENARIOS / "networkpolicies-forbidden"
    objects = [dict(obj) for obj in load_objects(str(folder / "snapshot.yaml"))]
    redactor = Redactor()
    redacted = tmp_path / "redacted.json"
    redacted.write_text(json.dumps({"apiVersion": "v1", "kind": "List",
                                    "items": redact_objects(objects, redactor=redactor)}))
    report = run_cli("check", str(redactor.names["orders"]), "-n", str(redactor.names["prod"]), "--snapshot",
                     str(redacted), "-o", "json").json()
    (sd001,) = [finding for finding in report["findings"] if finding["id"] == "SD001"]
    (note,) = [item["note"] for item in sd001["evidence"]]
    namespace = redactor.names["prod"]
    assert note == (f'forbidden: User "system:serviceaccount:{redactor.names["ci"]}:{redactor.names["reader"]}" '
                    f'cannot list resource "networkpolicies" in API group "networking.k8s.io" in the namespace '
                    f'"{namespace}"')
    assert "reader" not in json.dumps(report)
