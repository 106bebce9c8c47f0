"""The recorded-snapshot source: a file (or directory, or stdin) of Kubernetes objects.

Exactly what ``kubectl get svc,pods,endpointslices,... -o yaml|json`` prints is valid input,
plus the ``svcdoctor.dev/v1`` evidence kinds of DESIGN.md. Nothing here touches the network.
"""

from __future__ import annotations

from typing import Any

from svcdoctor import k8s
from svcdoctor.errors import InputError
from svcdoctor.progress import NO_PROGRESS, Progress, count
from svcdoctor.snapshot import EVIDENCE_GROUP, Origin, Snapshot, build_snapshot
from svcdoctor.sources.files import collector_paused, load_located_objects
from svcdoctor.sources.interface import Request, Source
from svcdoctor.validation import object_problems, ref_text


class SnapshotFileSource(Source):
    """Reads a recorded snapshot from ``path`` (a file, a directory or ``-``)."""

    kind = "snapshot"

    def __init__(self, path: str, progress: Progress = NO_PROGRESS) -> None:
        self.path = path
        self.progress = progress

    def load(self, request: Request | None = None) -> Snapshot:
        located = load_located_objects(self.path, self.progress)
        self.progress.show(f"checking and indexing {count(len(located), 'object')}")
        for obj, display, line in located:
            if obj.get("apiVersion") == EVIDENCE_GROUP:
                continue
            # The API server never serves these; in a file they are a broken input, named in one line.
            for problem in object_problems(obj, require_namespace=True):
                raise InputError(f"{ref_text(obj)}: {problem.text()}", display, line)
        origins = {k8s.ref(obj): Origin(display, line) for obj, display, line in located
                   if line is not None and obj.get("apiVersion") != EVIDENCE_GROUP}
        try:
            with collector_paused():
                return build_snapshot([obj for obj, _, _ in located], source_path=self.path, origins=origins)
        except InputError as error:
            if error.path is None:
                raise InputError(str(error), self.path if self.path != "-" else "<stdin>") from None
            raise

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "path": self.path if self.path != "-" else "<stdin>"}
