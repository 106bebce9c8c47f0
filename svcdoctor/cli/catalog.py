"""``svcdoctor explain`` and ``svcdoctor checks``: the documentation of the checks."""

from __future__ import annotations

from typing import Annotated

import typer

from svcdoctor.cli.common import emit, terminal_width
from svcdoctor.cli.options import check_choice, output_option
from svcdoctor.errors import EXIT_OK


def explain(check_id: Annotated[str, typer.Argument(metavar="CHECK", help="A check ID such as SD301, or its name "
                                                                      "(selector-matches-no-pods).")]) -> int:
    """What a check means, why it matters, and how to fix it."""
    from svcdoctor import docs

    emit(docs.explain(check_id, terminal_width()))
    return EXIT_OK


def list_checks(output: Annotated[str, output_option("text | markdown | json")] = "text") -> int:
    """The check catalog."""
    from svcdoctor import docs

    check_choice(output, ("text", "markdown", "json"), "--output")
    emit(docs.catalog(output, terminal_width()))
    return EXIT_OK
