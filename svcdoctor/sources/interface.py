"""The one interface every source of a Snapshot implements.

A source turns *somewhere* (a recorded file, a live cluster, rendered manifests) into a
:class:`~svcdoctor.snapshot.Snapshot`. The core never knows which kind it got: the same checks
run over all of them, and the report names the source in its ``source`` field.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from svcdoctor.snapshot import Snapshot


@dataclass(frozen=True)
class Request:
    """What the caller will diagnose, so that a source can read only what is needed."""

    #: The namespace of the Service (or of the scan); "" with ``all_namespaces``.
    namespace: str = ""
    #: The Service's name; "" for a scan of every Service.
    service: str = ""
    all_namespaces: bool = False
    #: ``NS/POD`` of the client given with ``--from``, "" when none.
    client_pod: str = ""
    #: Anything more a particular source understands (ignored by the others).
    extra: dict[str, Any] = field(default_factory=dict)


class Source(ABC):
    """Reads a Snapshot from somewhere."""

    #: ``snapshot`` | ``live`` | ``manifests``.
    kind: str = ""

    @abstractmethod
    def load(self, request: Request) -> Snapshot:
        """Read what ``request`` needs into a Snapshot; raise an :class:`~svcdoctor.errors.SvcdoctorError`."""

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """The report's ``source`` field, e.g. ``{"kind": "snapshot", "path": "prod.yaml"}``."""
