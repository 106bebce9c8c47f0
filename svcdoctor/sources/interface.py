"""The one interface every source of a Snapshot implements.

A source turns *somewhere* (a recorded file, a live cluster, rendered manifests) into a
:class:`~svcdoctor.snapshot.Snapshot`. The core never knows which kind it got: the same checks
run over all of them, and the report names the source in its ``source`` field.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from svcdoctor.errors import InputError
from svcdoctor.snapshot import Snapshot

_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")


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

    def validate(self) -> None:
        """Refuse names the API could not hold, whatever the source: a live read would make them paths and
        selectors, and a file could never hold such a Service (one line, exit 2, in every mode). A live
        source calls it before reading; :func:`svcdoctor.app.load` after a file was read, so that a bad
        file is reported as such first."""
        checks = [("namespace", self.namespace, _DNS_LABEL), ("Service name", self.service, _DNS_LABEL)]
        client_namespace, _, client_name = self.client_pod.partition("/")
        checks += [("--from namespace", client_namespace, _DNS_LABEL),
                   ("--from Pod name", client_name, _DNS_SUBDOMAIN)]
        for what, value, pattern in checks:
            if value and not pattern.fullmatch(value):
                raise InputError(f"{what} {value!r} is not a valid Kubernetes name")


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
