"""Corrupting lines of a node dump never buys a better diagnosis.

A dump people paste may be cut by a terminal, mangled by a chat client or edited by hand. Whatever
such damage does to a line, svcdoctor either still reads what the line said or says it could not:
seeded mutations of every dump in the scenarios and in ../fixtures/nodedumps (a token replaced
by one no grammar allows, a line cut inside a word with an ellipsis, a word inserted, a line
replaced) never turn a verdict that was not ``ok`` into ``ok``, and never make a step-8 check
that failed pass. Bounded: a fixed number of mutations per dump, the same ones every run.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from svcdoctor.engine import diagnose_service
from svcdoctor.snapshot import build_snapshot
from tests.conftest import ROOT
from tests.test_dataplane_formats import _cluster, _dump

SCENARIOS = ROOT / "fixtures" / "scenarios"
DUMPS = ROOT / "fixtures" / "nodedumps"
TEXT_FIELDS = ("iptablesSave", "ip6tablesSave", "nftRuleset", "ipvsadm", "ciliumServiceList")
#: Mutations per case (each corrupts one to three lines).
MUTATIONS = 120
#: Not a word of any of the grammars: no option, value, name or punctuation contains it.
GARBAGE = "\u00a7\u00a4"


def _cases() -> Iterator[tuple[str, list[dict[str, Any]], str, str]]:
    for folder in sorted(SCENARIOS.iterdir()):
        snapshot = folder / "snapshot.yaml"
        if not snapshot.exists() or "NodeDump" not in snapshot.read_text():
            continue
        scenario = yaml.safe_load((folder / "scenario.yaml").read_text())
        arguments = [str(item) for item in scenario["args"]]
        name = arguments[1]
        namespace = arguments[arguments.index("-n") + 1] if "-n" in arguments else "default"
        document = yaml.safe_load(snapshot.read_text())
        yield folder.name, list(document["items"]), namespace, name
    for dump, field, node_ip, targets in (
            ("iptables-save-counters.txt", "iptablesSave", "192.168.56.11", [("shop", "web"), ("shop", "empty")]),
            ("nft-kube-proxy-dnat-maps.nft", "nftRuleset", "192.168.56.11", [("shop", "web"), ("shop", "empty")]),
            ("nft-iptables-nft-host-firewall.nft", "nftRuleset", "192.168.56.10",
             [("default", "kubernetes"), ("shop", "web")])):
        objects = [*_cluster("cp-1", node_ip), _dump("cp-1", **{field: (DUMPS / dump).read_text()})]
        for namespace, name in targets:
            yield f"{dump}:{name}", objects, namespace, name


def _corrupt(line: str, rng: random.Random) -> str:
    words = line.split(" ")
    operation = rng.randrange(4)
    if operation == 0 and line.strip():
        # A word replaced by one no grammar allows.
        candidates = [index for index, word in enumerate(words) if word.strip()]
        words[rng.choice(candidates)] = GARBAGE
        return " ".join(words)
    if operation == 1 and len(line.strip()) > 2:
        # Cut inside the line, as a terminal or a chat client does, with the ellipsis it shows.
        start = len(line) - len(line.lstrip())
        return line[:rng.randrange(start + 1, len(line))] + "\u2026"
    if operation == 2:
        words.insert(rng.randrange(len(words) + 1), GARBAGE)
        return " ".join(words)
    return GARBAGE * 3


def _mutated(objects: list[dict[str, Any]], rng: random.Random) -> list[dict[str, Any]]:
    result = []
    dumps = [index for index, obj in enumerate(objects) if obj.get("kind") == "NodeDump"]
    chosen = rng.choice(dumps)
    for index, obj in enumerate(objects):
        if index != chosen:
            result.append(obj)
            continue
        fields = [field for field in TEXT_FIELDS if obj.get(field)]
        field = rng.choice(fields)
        lines = str(obj[field]).split("\n")
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(lines))
            lines[at] = _corrupt(lines[at], rng)
        result.append({**obj, field: "\n".join(lines)})
    return result


def _outcome(objects: list[dict[str, Any]], namespace: str, name: str) -> tuple[str, dict[str, str]]:
    report = diagnose_service(build_snapshot(objects), namespace, name)
    checks = {check.id: check.status for step in report.steps if step.step == 8 for check in step.checks}
    return report.verdict, checks


CASES = list(_cases())


@pytest.mark.parametrize(("label", "objects", "namespace", "name"), CASES, ids=[case[0] for case in CASES])
def test_corrupted_dump_lines_never_improve_the_diagnosis(label: str, objects: list[dict[str, Any]], namespace: str,
                                                          name: str) -> None:
    verdict, checks = _outcome(objects, namespace, name)
    failed = {check for check, status in checks.items() if status == "fail"}
    rng = random.Random(f"{label}:{Path(label).name}")
    for attempt in range(MUTATIONS):
        mutated = _mutated(objects, rng)
        after, after_checks = _outcome(mutated, namespace, name)
        changed = [field for old, new in zip(objects, mutated, strict=True) if old is not new for field in TEXT_FIELDS
                   if old.get(field) != new.get(field)]
        if verdict != "ok":
            assert after != "ok", (label, attempt, changed)
        for check in failed:
            assert after_checks.get(check) != "pass", (label, attempt, check, after_checks)
