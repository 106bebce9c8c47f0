"""What every command shares at run time: the run's Session, writing to stdout, error lines."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import typer

from svcdoctor.errors import internal_error_message

if TYPE_CHECKING:
    from svcdoctor.checks.interface import Check
    from svcdoctor.render import RenderOptions
    from svcdoctor.report import Report


@dataclass
class Session:
    """One run's state shared by the root options and the commands (click's ``ctx.obj``)."""

    #: ``--debug``: print the traceback of an internal error.
    debug: bool = False
    #: The checks to run; None: the registry. Tests hand in others through ``run(checks=…)``.
    checks: Sequence[Check] | None = None


def session(click_context: typer.Context) -> Session:
    return click_context.ensure_object(Session)


def emit(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def error(message: str) -> None:
    """``svcdoctor: error: …`` as one line on stderr, whatever the message holds."""
    from svcdoctor.terminal import visible

    # File names and server messages come from outside: no control sequence reaches the terminal.
    first_line = visible(" ".join(message.split())) if message else "error"
    sys.stderr.write(f"svcdoctor: error: {first_line}\n")


def render_options(fail_on: str = "error", show_suppressed: bool = False, *, accept_unknown: bool = False,
                   scan_all: bool = False, verbose: bool = False) -> RenderOptions:
    from svcdoctor.render import RenderOptions

    return RenderOptions(color=_color_wanted(), width=terminal_width(), show_suppressed=show_suppressed,
                         fail_on=fail_on, accept_unknown=accept_unknown, scan_all=scan_all, verbose=verbose)


def report_crashes(reports: Sequence[Report], run: Session) -> None:
    """One line per crashed check (naming a Service it crashed on); with --debug, its first traceback."""
    by_check: dict[str, list[Report]] = {}
    for report in reports:
        for crash in report.internal_errors:
            by_check.setdefault(crash.check, []).append(report)
    for check_id, crashed in by_check.items():
        report = crashed[0]
        crash = next(crash for crash in report.internal_errors if crash.check == check_id)
        more = f" (and {len(crashed) - 1} more Service{'s' if len(crashed) > 2 else ''})" if len(crashed) > 1 else ""
        if run.debug:
            sys.stderr.write(crash.traceback)
        error(internal_error_message(f"check {check_id} crashed on Service {report.target}{more}: {crash.error}"))


def _color_wanted() -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return sys.stdout.isatty()


#: Narrowest width the text is laid out for: below it, labels and indents leave no room for words.
MIN_WIDTH = 30


def terminal_width() -> int:
    """``$COLUMNS``, else the terminal's width on a terminal, else 100 (a file or a pipe); never under
    :data:`MIN_WIDTH`. Wide terminals get wide lines: only prose is folded, commands never are."""
    import shutil

    if sys.stdout.isatty() or os.environ.get("COLUMNS"):
        return max(MIN_WIDTH, shutil.get_terminal_size((100, 24)).columns)
    return 100
