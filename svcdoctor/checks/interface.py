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

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from svcdoctor import k8s
from svcdoctor.endpoints import Endpoint, service_endpoints
from svcdoctor.findings import Client, Evidence, Finding, Severity, Skip, Target
from svcdoctor.k8s import Obj, ObjectRef
from svcdoctor.selectors import Selector, from_service_selector
from svcdoctor.snapshot import Snapshot


@dataclass(frozen=True)
class Check:
    """A registered check: identity, documentation and the function that runs it."""

    #: Stable ID (never renumbered), e.g. ``SD301``.
    id: str
    #: Readable name, e.g. ``selector-matches-no-pods``.
    name: str
    step: int
    #: One line: what it detects.
    title: str
    #: Why it matters, for ``explain`` and the generated docs.
    why: str
    #: How to fix it, in general (findings may give a more specific fix).
    fix: str
    run: Callable[[Context], Iterable[Finding]]
    #: API resources (plural names) it reads; if one could not be read, the check is ``unknown``.
    needs: tuple[str, ...] = ()
    #: Only meaningful with a client (``--from`` / ``--from-ip`` / ``--from-node``).
    needs_client: bool = False
    #: Needs runtime state (readiness, endpoints, answers): skipped for plain manifests.
    runtime: bool = False
    #: The verdict impact of its error findings (warnings are ``degraded``, info ``none``).
    impact: str = "unreachable"

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
    ) -> Finding:
        """Make a finding of this check, defaulting title, fix and impact from it."""
        severity = Severity(severity)
        if impact is None:
            impact = {Severity.ERROR: self.impact, Severity.WARNING: "degraded", Severity.INFO: "none"}[severity]
        return Finding(
            id=self.id, name=self.name, severity=severity, step=self.step, title=title or self.title,
            message=message, evidence=tuple(evidence), next=tuple(dict.fromkeys(next)),
            fix=fix if fix is not None else self.fix, caused_by=caused_by, subject=subject,
            subject_field=subject_field, impact=impact, key=key, node=node,
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

    @property
    def service_ref(self) -> ObjectRef:
        return self.target.ref
