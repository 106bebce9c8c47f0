"""What a check is, what it yields, and what it sees.

A :class:`Check` is a small unit with a stable ID, the documented debugging step it belongs to,
and a pure function of a :class:`Context` that yields :class:`Finding` objects. Checks never call
the API: everything they read is in the Context's :class:`~svcdoctor.snapshot.Snapshot`.

A check that cannot decide raises :class:`~svcdoctor.findings.Skip` (the evidence was not asked
for, e.g. no node dump or no client) or :class:`~svcdoctor.findings.Unknown` (evidence that was
needed is missing); the engine turns those into the step's status, and an ``unknown`` never lets
the verdict be ``ok``. Findings and their parts live on the ground floor, :mod:`svcdoctor.findings`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from svcdoctor import k8s
from svcdoctor.endpoints import Endpoint, service_endpoints
from svcdoctor.findings import Client, Evidence, Finding, NotChecked, Severity, Skip, Target, Unknown
from svcdoctor.k8s import Obj, ObjectRef
from svcdoctor.kinds import BY_KIND
from svcdoctor.selectors import Selector, from_service_selector
from svcdoctor.snapshot import Snapshot

#: How to give a check its client.
CLIENT_HOW = "give the client with --from NS/POD, --from-ip IP or --from-node NODE"

#: The headings of a check module's docstring, in order; each starts a section of the documentation.
DOC_HEADINGS = ("What it detects", "Why it matters", "How to fix", "Example")


@dataclass(frozen=True)
class CheckDoc:
    """A check's documentation, read from its module docstring (its one place).

    The docstring's first line is ``SDNNN — <title>.``; then each heading of :data:`DOC_HEADINGS`
    on a line of its own followed by a colon, and its text indented below it. Paragraphs are
    separated by blank lines; prose is joined into one line, an example keeps its lines.
    """

    #: One line: what it detects (a finding's default title).
    title: str
    #: (heading, its paragraphs) in docstring order.
    sections: tuple[tuple[str, tuple[str, ...]], ...]

    @classmethod
    def parse(cls, docstring: str | None) -> CheckDoc:
        lines = inspect.cleandoc(docstring or "").splitlines()
        first = lines[0] if lines else ""
        title = first.split(" — ", 1)[-1].removesuffix(".")
        sections: dict[str, list[list[str]]] = {}
        current: list[list[str]] | None = None
        for line in lines[1:]:
            if line.endswith(":") and line[:-1] in DOC_HEADINGS:
                current = sections.setdefault(line[:-1], [[]])
            elif current is not None:
                if line.strip():
                    current[-1].append(line.removeprefix("    "))
                elif current[-1]:
                    current.append([])
        result: list[tuple[str, tuple[str, ...]]] = []
        for heading, paragraphs in sections.items():
            kept = [paragraph for paragraph in paragraphs if paragraph]
            if heading == "Example":
                result.append((heading, tuple("\n".join(paragraph) for paragraph in kept)))
            else:
                result.append((heading, tuple(" ".join(line.strip() for line in paragraph) for paragraph in kept)))
        return cls(title, tuple(result))

    @classmethod
    def brief(cls, title: str, why: str = "", fix: str = "") -> CheckDoc:
        """One line each, for a check made in code rather than in a module of its own (tests)."""
        return cls(title, (("Why it matters", (why,)), ("How to fix", (fix,))))

    def section(self, heading: str) -> tuple[str, ...]:
        return dict(self.sections).get(heading, ())

    @property
    def missing(self) -> list[str]:
        """The headings the docstring lacks (or leaves empty)."""
        return [heading for heading in DOC_HEADINGS if not self.section(heading)]


def unrecorded(kinds: Sequence[str]) -> tuple[str, str]:
    """(what, how) for kinds a snapshot does not hold: they may not exist, or were not recorded."""
    names = (", ".join(kinds[:-1]) + " or " if len(kinds) > 1 else "") + f"{kinds[-1]} objects"
    plurals = ",".join(_plural(kind) for kind in kinds)
    return (f"no {names} in the snapshot (none exist, or they were not recorded)",
            f"record them: svcdoctor record, or add kubectl get {plurals} -A -o yaml")


def _plural(kind: str) -> str:
    if kind in BY_KIND:
        return BY_KIND[kind].plural
    lower = kind.lower()
    if lower.endswith("s"):
        return lower
    if lower.endswith("y"):
        return lower[:-1] + "ies"
    return lower + "s"


@dataclass(frozen=True)
class Check:
    """A registered check: identity, documentation and the function that runs it."""

    #: Stable ID (never renumbered), e.g. ``SD301``.
    id: str
    #: Readable name, e.g. ``selector-matches-no-pods``.
    name: str
    step: int
    #: Its documentation: ``CheckDoc.parse(__doc__)`` of its module.
    doc: CheckDoc
    run: Callable[[Context], Iterable[Finding]]
    #: API resources (plural names) it reads; if one could not be read, the check is ``unknown``.
    needs: tuple[str, ...] = ()
    #: Only meaningful with a client (``--from`` / ``--from-ip`` / ``--from-node``).
    needs_client: bool = False
    #: Needs runtime state (readiness, endpoints, answers): skipped for plain manifests.
    runtime: bool = False
    #: The verdict impact of its error findings (warnings are ``degraded``, info ``none``).
    impact: str = "unreachable"
    #: How sure its findings are: ``certain`` (observed, or a fact the API states) or ``likely``
    #: (inferred from declarations); a finding may say otherwise.
    confidence: str = "certain"
    #: The IDs of the findings this one explains when both are present: the engine links each such
    #: symptom (``caused_by``) to the nearest present cause. DESIGN.md's cause table holds (a test says so).
    explains: frozenset[str] = frozenset()
    #: The links of :attr:`explains` hold only when both findings are about the same node.
    explains_on_same_node_only: bool = False

    @property
    def title(self) -> str:
        """One line: what it detects."""
        return self.doc.title

    @property
    def why(self) -> str:
        """Why it matters, in one paragraph (the first of its docstring's section)."""
        return next(iter(self.doc.section("Why it matters")), "")

    @property
    def fix(self) -> str:
        """How to fix it, in general (findings may give a more specific fix)."""
        return next(iter(self.doc.section("How to fix")), "")

    def finding(
        self,
        message: str,
        *,
        severity: Severity | str = Severity.ERROR,
        evidence: Iterable[Evidence] = (),
        next: Iterable[str] = (),
        fix: str | None = None,
        caused_by: str | None = None,
        subject: ObjectRef | None = None,
        subject_field: str | None = None,
        impact: str | None = None,
        key: str = "",
        title: str | None = None,
        node: str = "",
        confidence: str | None = None,
    ) -> Finding:
        """Make a finding of this check, defaulting title, fix and impact from it."""
        severity = Severity(severity)
        if impact is None:
            impact = {Severity.ERROR: self.impact, Severity.WARNING: "degraded", Severity.INFO: "none"}[severity]
        if impact == "unreachable" and severity is not Severity.ERROR:
            # The verdict would say UNREACHABLE while --fail-on error passed it: text and exit code must agree.
            raise ValueError(f"{self.id}: a finding that makes the Service unreachable is an error, not a {severity}")
        return Finding(
            id=self.id, name=self.name, severity=severity, step=self.step, title=title or self.title,
            message=message, evidence=tuple(evidence), next=tuple(dict.fromkeys(next)),
            fix=fix if fix is not None else self.fix, caused_by=caused_by, subject=subject,
            subject_field=subject_field, impact=impact, key=key, node=node,
            confidence=confidence or self.confidence,
        )


@dataclass(frozen=True)
class Options:
    """Settings a diagnosis takes from flags and config."""

    cluster_domain: str = "cluster.local"
    node_port_range: tuple[int, int] = (30000, 32767)
    #: Restarts at or above this count within the window make SD405 fire.
    restart_threshold: int = 5
    #: Whether probes were asked for (``--probe``); without them step 9 reads recorded results only.
    probe: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class Context:
    """Everything a check may look at. Derived views are computed once and cached."""

    snapshot: Snapshot
    target: Target
    client: Client | None = None
    options: Options = field(default_factory=Options)
    #: The IDs of the registered checks (the engine fills them in; an ignore annotation may name only these).
    check_ids: frozenset[str] | None = None

    #: What the running check went without although it could still run (kinds the snapshot does not
    #: hold): (what, how) pairs; the engine empties it before each check and makes the check ``partial``.
    caveats: list[tuple[str, str]] = field(default_factory=list)

    def require_recorded(self, *kinds: str, namespace: str = "") -> None:
        """:class:`NotChecked` unless the snapshot holds (or says it listed) one of ``kinds``."""
        if not any(self.snapshot.holds(kind, namespace) for kind in kinds):
            raise NotChecked(*unrecorded(kinds))

    def note_unverified(self, what: str, how: str) -> None:
        """Run on, but say so: an info finding stands for "could not verify" (``what``), not for "fine".

        The check's step is then ``partial`` with ``how`` (the command that checks it), never ``pass``.
        """
        self.caveats.append((what, how))

    def note_unrecorded(self, kind: str, namespace: str = "") -> None:
        """Run on, but say so, when the snapshot does not hold ``kind``: none there may mean "not recorded"."""
        self.note_unrecorded_kinds([(kind, namespace)])

    def note_unrecorded_kinds(self, wanted: Iterable[tuple[str, str]]) -> None:
        """One caveat naming every kind of the (kind, namespace) pairs that the snapshot does not hold.

        A snapshot holds a kind when it has objects of it or ``SnapshotInfo.recorded`` says it was listed
        there (a live read counts a CRD that is not installed, 404, as listed: none exist). Namespace ""
        stands for a cluster-scoped kind, or one read in every namespace.
        """
        absent = [kind for kind, namespace in wanted if not self.snapshot.holds(kind, namespace)]
        if absent:
            self.caveats.append(unrecorded(list(dict.fromkeys(absent))))

    @cached_property
    def service(self) -> Obj | None:
        """The target Service object, or None when it does not exist."""
        return self.snapshot.service(self.target.namespace, self.target.name)

    def require_service(self) -> Obj:
        """The Service, or :class:`Skip` when it does not exist (SD101 reports that)."""
        if self.service is None:
            raise Skip("the Service does not exist")
        return self.service

    @cached_property
    def has_selector(self) -> bool:
        return bool(self.service and k8s.spec(self.service).get("selector"))

    @cached_property
    def selector(self) -> Selector:
        """The Service's selector (empty when it has none; check :attr:`has_selector`)."""
        return from_service_selector(k8s.as_map(k8s.spec(self.service or {}).get("selector")))

    @cached_property
    def selected_pods(self) -> Sequence[Obj]:
        """The Pods the Service's selector picks in its namespace ([] without a selector)."""
        if not self.has_selector:
            return []
        return self.snapshot.select_pods(self.target.namespace, self.selector)

    def require_selected_pods(self) -> Sequence[Obj]:
        """The Pods the selector picks, or :class:`Skip` when there are none to judge.

        An ExternalName or selector-less Service selects no Pods (SD209 speaks for it), and a
        selector that matches nothing is SD301's finding, not every Pod check's.
        """
        service = self.require_service()
        if k8s.service_type(service) == "ExternalName" or not self.has_selector:
            raise Skip("the Service selects no Pods")
        if not self.selected_pods:
            raise Skip("the selector matches no Pod (SD301)")
        return self.selected_pods

    @cached_property
    def endpoint_slices(self) -> Sequence[Obj]:
        return self.snapshot.endpoint_slices_for(self.target.namespace, self.target.name)

    @cached_property
    def service_endpoints(self) -> Sequence[Endpoint]:
        """Every endpoint of the Service (EndpointSlices, else legacy Endpoints), read once for all checks."""
        return service_endpoints(self.snapshot, self.target.namespace, self.target.name)

    @cached_property
    def endpoints(self) -> Obj | None:
        return self.snapshot.endpoints_for(self.target.namespace, self.target.name)

    @cached_property
    def client_pod(self) -> Obj | None:
        if self.client is None or self.client.kind != "pod":
            return None
        return self.snapshot.pod(self.client.namespace, self.client.name)

    def require_client_pod(self) -> Obj | None:
        """The client's Pod (None when the client is not a Pod); :class:`Unknown` when it could not be read."""
        if self.client is None or self.client.kind != "pod":
            return None
        if self.client_pod is None:
            refused = self.snapshot.missing("pods", self.client.namespace)
            if refused is not None:
                raise Unknown(f"could not {refused.verb} the client Pod {self.client}: {refused.reason}")
            raise Unknown(f"the client Pod {self.client} is not in the snapshot")
        return self.client_pod

    @property
    def service_ref(self) -> ObjectRef:
        return self.target.ref
