"""The progress line on stderr: what a run is reading or diagnosing, while it takes long.

Shown only when stderr is a terminal, ``CI`` is not set (to anything but ``0``/``false``), ``TERM``
is not ``dumb`` and ``--no-progress`` was not given; stdout is never touched, so ``-o json > file``
stays clean whatever stderr is. It appears once the run has taken a second
(``SVCDOCTOR_PROGRESS_AFTER`` seconds; at 0 — what the tests set — every update is drawn from the
start), is redrawn at most ten times a second, fits one line of the terminal, and is erased
(carriage return, erase line) before anything else is printed — the report, an error line, or a
``--verbose`` line, after which it is drawn again.
"""

from __future__ import annotations

import os
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

from svcdoctor.errors import InputError
from svcdoctor.progress import NO_PROGRESS, Progress
from svcdoctor.terminal import visible

#: Back to the line's start, and erase to its end.
ERASE = "\r\x1b[K"
DELAY_VARIABLE = "SVCDOCTOR_PROGRESS_AFTER"
#: Seconds a run takes before its progress appears, and between two redraws.
DEFAULT_DELAY = 1.0
REDRAW_INTERVAL = 0.1


class TerminalProgress:
    """A status line on a terminal: delayed, throttled, one line wide, erasable."""

    def __init__(self, stream: TextIO, *, delay: float = DEFAULT_DELAY, interval: float = REDRAW_INTERVAL,
                 width: int = 80, clock: Callable[[], float] = time.monotonic) -> None:
        self._stream = stream
        self._clock = clock
        self._interval = interval
        self._width = max(width, 20)
        self._next_draw = clock() + delay
        self._shown = ""
        #: ``--verbose`` lines come from the reading threads.
        self._lock = threading.Lock()

    def show(self, text: str) -> None:
        now = self._clock()
        if now < self._next_draw:
            return
        with self._lock:
            self._next_draw = now + self._interval
            self._draw(text)

    def note(self, line: str) -> None:
        with self._lock:
            shown = self._shown
            self._erase()
            self._stream.write(line + "\n")
            if shown:
                self._draw(shown)
            self._stream.flush()

    def close(self) -> None:
        """Erase the line (before the report or an error line is printed)."""
        with self._lock:
            self._erase()
            self._stream.flush()

    def _draw(self, text: str) -> None:
        line = visible(" ".join(text.split()))
        if len(line) >= self._width:  # a wrapped line could not be erased
            line = line[:self._width - 2] + "…"
        self._stream.write("\r" + line + "\x1b[K")
        self._stream.flush()
        self._shown = line

    def _erase(self) -> None:
        if self._shown:
            self._stream.write(ERASE)
            self._shown = ""


def wanted(no_progress: bool = False) -> bool:
    """Whether a run shows progress: stderr a terminal, not CI, not ``--no-progress``."""
    if no_progress or os.environ.get("TERM") == "dumb":
        return False
    if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
        return False
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # a replaced or closed stderr
        return False


def delay() -> float:
    """``SVCDOCTOR_PROGRESS_AFTER`` (seconds), else one second."""
    value = os.environ.get(DELAY_VARIABLE)
    if not value:
        return DEFAULT_DELAY
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not seconds >= 0:
        raise InputError(f"{DELAY_VARIABLE} must be a number of seconds, not {value!r}")
    return seconds


@contextmanager
def progress(no_progress: bool = False) -> Iterator[Progress]:
    """The run's progress: a line on stderr when :func:`wanted`, erased when the block ends; else nothing."""
    if not wanted(no_progress):
        yield NO_PROGRESS
        return
    after = delay()
    line = TerminalProgress(sys.stderr, delay=after, interval=min(after, REDRAW_INTERVAL), width=_width())
    try:
        yield line
    finally:
        line.close()


def _width() -> int:
    """The columns of the terminal stderr is (stdout may be a file), else $COLUMNS or 80."""
    try:
        columns = os.get_terminal_size(sys.stderr.fileno()).columns
    except (OSError, ValueError):
        columns = 0
    return columns or shutil.get_terminal_size((80, 24)).columns  # a fresh pty reports 0 columns
