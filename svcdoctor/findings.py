"""The ground floor of a diagnosis: what a finding is, and what is being diagnosed.

A :class:`Finding` proves itself with :class:`Evidence` and has a :class:`Severity`. A check
that cannot decide raises :class:`Skip` (the evidence was not asked for) or :class:`Unknown`
(evidence that was needed is missing). :class:`Target` is the Service being diagnosed and
:class:`Client` who wants to reach it. Every layer may import this module; it imports only
:mod:`svcdoctor.k8s`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from svcdoctor.k8s import ObjectRef

#: The documented debugging steps, by number (0 is "could not read").
STEPS: dict[int, str] = {
    0: "Can svcdoctor read what it needs?",
    1: "Does the Service exist?",
    2: "Is it defined correctly?",
    3: "Does the selector select the Pods?",
    4: "Are the Pods running and ready?",
    5: "Does it have Endpoints?",
    6: "Does NetworkPolicy allow it?",
    7: "Does it work by DNS name?",
    8: "Is kube-proxy working?",
    9: "Does traffic get through?",
}


class Severity(StrEnum):
    """How bad a finding is. Ordered: error > warning > info."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        """0 for error, 1 for warning, 2 for info (sort ascending = worst first)."""
        return {"error": 0, "warning": 1, "info": 2}[self.value]

    def at_least(self, threshold: str) -> bool:
        """Whether this severity is at or above ``threshold`` (error|warning|info|never)."""
        if threshold == "never":
            return False
        return self.rank <= Severity(threshold).rank


#: What a finding does to the verdict.
IMPACTS = ("unreachable", "degraded", "unknown", "none")
#: How sure a finding is: observed (``certain``) or inferred from declarations (``likely``).
CONFIDENCES = ("certain", "likely")


@dataclass(frozen=True)
class Evidence:
    """One fact that proves a finding: an object, a field of it, and the value seen there."""

    #: The object the fact is about (None for facts about no single object).
    object: ObjectRef | None
    #: Dotted field path inside the object, e.g. ``spec.ports[0].targetPort``.
    field: str | None = None
    #: The value seen (JSON-serialisable).
    value: Any = None
    #: A short note in plain words, when the value alone does not say it.
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = {}
        if self.object is not None:
            result["object"] = str(self.object)
            result["kind"] = self.object.kind
            result["namespace"] = self.object.namespace
            result["name"] = self.object.name
        if self.field is not None:
            result["field"] = self.field
        if self.value is not None:
            result["value"] = self.value
        if self.note:
            result["note"] = self.note
        return result


@dataclass(frozen=True)
class Finding:
    """One thing found wrong (or worth knowing) about the Service."""

    #: The check's stable ID, e.g. ``SD301``.
    id: str
    #: The check's readable name, e.g. ``selector-matches-no-pods``.
    name: str
    severity: Severity
    #: The documented debugging step (1–9; 0 for "could not read").
    step: int
    title: str
    #: What is wrong, in plain words.
    message: str
    evidence: tuple[Evidence, ...] = ()
    #: Commands a person can paste to see it themselves.
    next: tuple[str, ...] = ()
    #: What to change.
    fix: str = ""
    #: The ID of the finding this one follows from, when it is a symptom.
    caused_by: str | None = None
    #: The object the finding is about (anchors SARIF results and fingerprints).
    subject: ObjectRef | None = None
    #: The field of ``subject`` to point at, e.g. ``spec.selector``.
    subject_field: str | None = None
    #: ``unreachable`` | ``degraded`` | ``unknown`` | ``none``: what it does to the verdict.
    impact: str = "none"
    #: Distinguishes several findings of one check (a Pod's name, a port); part of the fingerprint.
    key: str = ""
    #: The node a finding is about, for node-scoped cause links ("" when none).
    node: str = ""
    #: ``certain`` (observed: a probe, a traced rule, an API fact) or ``likely`` (inferred from what
    #: objects declare, e.g. an undeclared containerPort).
    confidence: str = "certain"

    def to_dict(self) -> dict[str, Any]:
        """The finding as the ``svcdoctor/report/v2`` JSON contract has it."""
        return {
            "id": self.id,
            "name": self.name,
            "severity": self.severity.value,
            "step": self.step,
            "title": self.title,
            "message": self.message,
            "evidence": [item.to_dict() for item in self.evidence],
            "next": list(self.next),
            "fix": self.fix,
            "caused_by": self.caused_by,
            "impact": self.impact,
            "confidence": self.confidence,
            "object": str(self.subject) if self.subject else None,
        }


class Skip(Exception):
    """Raised by a check that does not apply (no client given, no dump recorded, …)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class StepDoesNotApply(Skip):
    """Raised by a check when its whole step plays no part in this Service's path (kube-proxy for a headless
    or ExternalName Service): the step is ``skipped`` with this reason, whatever its other checks found to
    pass, so an unrelated check cannot make it ``pass`` on its own."""


class NotChecked(Skip):
    """Raised by a check whose evidence was not given (no node dump, no probes, no DNS answers, a kind the
    snapshot does not hold): nobody asked for it, so the verdict may still be ``ok`` *as far as checked*,
    but the step is ``partial`` (or ``skipped``), never ``pass``.

    ``what`` says what is missing in a few words ("no node dump"); ``how`` says how to add it.
    """

    def __init__(self, what: str, how: str = "") -> None:
        super().__init__(what + (f": {how}" if how else ""))
        self.what = what
        self.how = how


class Unknown(Exception):
    """Raised by a check whose needed evidence is missing: the verdict cannot be ``ok``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Target:
    """The Service being diagnosed."""

    namespace: str
    name: str

    @property
    def ref(self) -> ObjectRef:
        return ObjectRef("Service", self.namespace, self.name)

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class Client:
    """Who wants to reach the Service: a Pod, an address outside the cluster, or a node."""

    #: ``pod`` | ``ip`` | ``node``.
    kind: str
    namespace: str = ""
    name: str = ""
    ip: str = ""
    #: How a report names it when not by namespace/name (a stand-in Pod: its workload's template).
    shown: str = field(default="", compare=False)

    def __str__(self) -> str:
        if self.kind == "pod":
            return self.shown or f"{self.namespace}/{self.name}"
        if self.kind == "node":
            return f"node/{self.name}"
        return self.ip
