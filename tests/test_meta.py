"""Meta-tests over the check registry (in the spirit of kube-linter's): the catalog stays honest.

They fail when docs/checks.md is stale, when a registered check has no scenario that fires it,
when a check's docstring (its one documentation) lacks a heading, when IDs are malformed, repeated
or in the wrong step, and when a check module exists that the registry forgot.
"""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

import pytest

from svcdoctor import docs
from svcdoctor.checks.interface import DOC_HEADINGS, Check, CheckDoc
from svcdoctor.checks.registry import CHECKS
from svcdoctor.findings import STEPS
from tests.conftest import ROOT, SCENARIOS

CHECKS_DOC = ROOT / "docs" / "checks.md"
CHECK_MODULES = sorted((ROOT / "svcdoctor" / "checks").glob("sd[0-9][0-9][0-9]_*.py"))


def _expected_files() -> list[Path]:
    return sorted(SCENARIOS.glob("*/expected.json"))


def _fired_ids() -> set[str]:
    fired: set[str] = set()
    for path in _expected_files():
        fired.update(json.loads(path.read_text()).get("ranked", []))
    return fired


def test_checks_doc_is_generated_from_the_registry() -> None:
    assert CHECKS_DOC.exists(), "docs/checks.md is missing: svcdoctor checks -o markdown > docs/checks.md"
    assert CHECKS_DOC.read_text() == docs.markdown(), (
        "docs/checks.md is stale: regenerate it with `python -m svcdoctor checks -o markdown > docs/checks.md`")


def test_ids_are_unique_and_well_formed() -> None:
    ids = [check.id for check in CHECKS]
    assert len(ids) == len(set(ids)), f"repeated IDs: {sorted({i for i in ids if ids.count(i) > 1})}"
    names = [check.name for check in CHECKS]
    assert len(names) == len(set(names)), f"repeated names: {sorted({n for n in names if names.count(n) > 1})}"


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.id)
def test_check_is_documented_and_in_its_step(check: Check) -> None:
    assert re.fullmatch(r"SD\d{3}", check.id), f"{check.id} does not match ^SD\\d{{3}}$"
    assert int(check.id[2]) == check.step, f"{check.id}: first digit is not its step {check.step}"
    assert check.step in STEPS
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", check.name), f"{check.id}: name {check.name!r} is not kebab-case"
    assert check.title.strip() and not check.title.endswith("."), f"{check.id}: title must be one line, no period"
    assert len(check.why.strip()) >= 20, f"{check.id}: no 'why' text"
    assert len(check.fix.strip()) >= 10, f"{check.id}: no 'fix' text"
    module = importlib.import_module(check.run.__module__)
    assert module.__doc__ and len(module.__doc__.strip()) >= 40, f"{module.__name__} has no module docstring"
    assert check.doc == CheckDoc.parse(module.__doc__), f"{check.id}: doc=CheckDoc.parse(__doc__), its one place"
    assert module.__doc__.startswith(f"{check.id} — "), f"{module.__name__}: start the docstring '{check.id} — '"
    assert not check.doc.missing, (
        f"{module.__name__}: the docstring lacks the heading(s) {check.doc.missing} (each on its own line, then a "
        f"colon, its text indented below; all of {', '.join(DOC_HEADINGS)})")
    assert module.__name__.rsplit(".", 1)[-1].startswith(check.id.lower() + "_"), (
        f"{check.id} lives in {module.__name__}; a check's module is named sdNNN_<name>.py")


def test_registry_is_in_step_order() -> None:
    steps = [check.step for check in CHECKS]
    assert steps == sorted(steps), "registry.py must list checks in step order"


@pytest.mark.parametrize("path", CHECK_MODULES, ids=lambda p: p.stem)
def test_every_check_module_is_registered(path: Path) -> None:
    module = importlib.import_module(f"svcdoctor.checks.{path.stem}")
    check = getattr(module, "CHECK", None)
    assert isinstance(check, Check), f"{path.name} defines no CHECK"
    assert check in CHECKS, f"{check.id} ({path.name}) is not in svcdoctor/checks/registry.py"


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.id)
def test_every_check_has_a_firing_scenario(check: Check) -> None:
    assert check.id in _fired_ids(), (
        f"no scenario under fixtures/scenarios/ fires {check.id} ({check.name}): add one whose expected.json "
        "ranks it")


def test_scenarios_fire_only_registered_checks() -> None:
    known = {check.id for check in CHECKS}
    for path in _expected_files():
        unknown = set(json.loads(path.read_text()).get("ranked", [])) - known
        assert not unknown, f"{path.parent.name} expects unregistered IDs {sorted(unknown)}"


def test_there_are_healthy_scenarios() -> None:
    healthy = [p.parent.name for p in _expected_files() if json.loads(p.read_text()).get("verdict") == "ok"]
    assert len(healthy) >= 3, f"only {len(healthy)} healthy scenario(s) (verdict ok): {healthy}"
