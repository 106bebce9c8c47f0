"""The explicit list of every check, in the order they are documented.

Add a check by writing one module under ``svcdoctor/checks/`` that defines ``CHECK`` and adding
one line here. IDs are stable: add new ones, never renumber. ``docs/checks.md`` is generated from
this list (``svcdoctor checks -o markdown``); a test fails when it is stale.
"""

from __future__ import annotations

from svcdoctor.checks import (
    sd001_unreadable,
    sd002_ignore_annotation,
    sd101_service_missing,
    sd301_selector_matches_nothing,
    sd501_no_endpoints,
    sd502_no_ready_endpoints,
)
from svcdoctor.checks.interface import Check

CHECKS: tuple[Check, ...] = (
    sd001_unreadable.CHECK,
    sd002_ignore_annotation.CHECK,
    # 1 Does the Service exist?
    sd101_service_missing.CHECK,
    # 2 Is it defined correctly?
    # 3 Does the selector select the Pods?
    sd301_selector_matches_nothing.CHECK,
    # 4 Are the Pods running and ready?
    # 5 Does it have Endpoints?
    sd501_no_endpoints.CHECK,
    sd502_no_ready_endpoints.CHECK,
    # 6 Does NetworkPolicy allow it?
    # 7 Does it work by DNS name?
    # 8 Is kube-proxy working?
    # 9 Does traffic get through?
)

BY_ID: dict[str, Check] = {check.id: check for check in CHECKS}


def get(check_id: str) -> Check | None:
    """The check with this ID (case-insensitive), or None."""
    return BY_ID.get(check_id.upper())
