"""What a long run is doing, said to whoever shows it.

A 7 MB YAML snapshot parses for seconds, a live read waits on the network, a scan diagnoses
thousands of Services: the sources and the engine say what they are at through a
:class:`Progress` handed to them (what is read, MB parsed, objects so far, requests in flight,
Services diagnosed), and never know whether anyone looks. The command line hands in a status
line on a terminal's stderr (:mod:`svcdoctor.cli.progress`); everything else — servers, watch,
tests, a pipe, CI — gets :data:`NO_PROGRESS`, which draws nothing.

:meth:`Progress.show` is called as often as is cheap for the caller (every chunk parsed, every
Service diagnosed); whoever draws decides how often to redraw.
"""

from __future__ import annotations

import sys
from typing import Protocol


class Progress(Protocol):
    """The receiver of progress: a status that changes, and lines that stay."""

    def show(self, text: str) -> None:
        """What is being done now, e.g. ``parsing prod.yaml: 3.1 of 7.0 MB``; replaces the previous text."""

    def note(self, line: str) -> None:
        """A line on stderr that stays (``--verbose`` request lines), written without tearing the status."""


class NoProgress:
    """Draws nothing; notes go to stderr as plain lines."""

    def show(self, text: str) -> None:
        return None

    def note(self, line: str) -> None:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()


NO_PROGRESS: Progress = NoProgress()


def megabytes(size: int) -> str:
    """``size`` bytes as the status line says it: ``7.0 MB`` (decimal, one digit)."""
    return f"{size / 1_000_000:.1f} MB"


def count(number: int, noun: str) -> str:
    """``12,400 objects``, ``1 object``."""
    return f"{number:,} {noun}{'' if number == 1 else 's'}"
