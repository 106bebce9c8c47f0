"""``svcdoctor diff BEFORE AFTER [NAME]``: what changed between a working and a broken recording."""

from __future__ import annotations

from typing import Annotated

import typer

from svcdoctor.cli.common import emit
from svcdoctor.cli.options import AllNamespacesOption, NoProgressOption, check_choice, namespace_option, output_option
from svcdoctor.errors import EXIT_FINDINGS, EXIT_OK


def diff(
    before: Annotated[str, typer.Argument(metavar="BEFORE", help="The working recording (a snapshot file).")],
    after: Annotated[str, typer.Argument(metavar="AFTER", help="The broken recording.")],
    name: Annotated[str | None, typer.Argument(metavar="NAME", help="One Service (else every Service "
                                               "whose verdict changed).")] = None,
    namespace: Annotated[str | None, namespace_option("The namespace of NAME, or the namespace to compare.")] = None,
    all_namespaces: AllNamespacesOption = False,
    manifests: Annotated[bool, typer.Option("--manifests", help="BEFORE and AFTER are manifests (files or "
                                            "directories), not recordings.")] = False,
    output: Annotated[str, output_option("text | json")] = "text",
    no_progress: NoProgressOption = False,
) -> int:
    """What changed between two recordings, ranked by relevance to a Service's path; exit 1 if a verdict got worse."""
    from svcdoctor.cli.progress import progress
    from svcdoctor.client_names import parse_service
    from svcdoctor.diff import diff_service, worst_first
    from svcdoctor.engine import diagnose_service, scan
    from svcdoctor.render.diff import FORMATS, render
    from svcdoctor.sources.interface import Request

    check_choice(output, FORMATS, "--output")
    with progress(no_progress) as shown:
        snapshots = []
        for path in (before, after):
            if manifests:
                from svcdoctor.sources.manifests import ManifestsSource

                source = ManifestsSource(path, default_namespace=namespace or "default", progress=shown)
            else:
                from svcdoctor.sources.snapshot_file import SnapshotFileSource

                source = SnapshotFileSource(path, shown)  # type: ignore[assignment]
            snapshots.append(source.load(Request(namespace=namespace or "", all_namespaces=True)))
        old, new = snapshots
        if name is not None:
            name, given = parse_service(name, namespace)
            where = given or "default"
            diffs = [diff_service(old, new, where, name, diagnose_service(old, where, name),
                                  diagnose_service(new, where, name))]
        else:
            # Recordings and manifests name their namespaces: without -n, compare every Service they hold.
            wanted = [namespace] if namespace is not None and not all_namespaces else None
            reports_before = {(r.target.namespace, r.target.name): r for r in scan(old, wanted, progress=shown)}
            reports_after = {(r.target.namespace, r.target.name): r for r in scan(new, wanted, progress=shown)}
            diffs = []
            for key in sorted(set(reports_before) | set(reports_after)):
                one = diff_service(old, new, key[0], key[1], reports_before.get(key), reports_after.get(key))
                if one.changed:
                    diffs.append(one)
            diffs = worst_first(diffs)
    code = EXIT_FINDINGS if any(d.worse for d in diffs) else EXIT_OK
    emit(render(diffs, output, code))
    return code
