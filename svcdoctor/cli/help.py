"""How ``--help`` reads: ``NAME`` and ``[NAME]`` in the usage line, value names instead of type tags.

typer shows each option's Python type (``<str>``, ``<bool>``, ``<list[str]>``) and puts braces
around required arguments (``{NAME}``), and rich pads every line — blank ones too — with spaces to
the terminal's width. Every command and group of the app is made with :class:`HelpCommand` or
:class:`HelpGroup`, which show an option's value as its ``metavar`` (``FILE``, ``NAMESPACE``; the
option's name in capitals when none is declared), a switch as nothing, an argument without a
type, and drop the padding at line ends.
"""

from __future__ import annotations

import io
import re
import sys
from collections.abc import Callable
from typing import Any

from typer.core import TyperArgument, TyperCommand, TyperGroup

# Spaces and colour codes at the end of a line (rich styles its padding too); the codes are kept.
_LINE_END = re.compile(r"(?:\x1b\[[0-9;]*m| )+$", re.MULTILINE)
_CODE = re.compile(r"\x1b\[[0-9;]*m")


class PlainArgument(TyperArgument):
    """An argument shown as ``NAME`` (``[NAME]`` when optional) in the usage line, without a type tag."""

    def get_usage_pieces(self, ctx: Any) -> list[str]:
        name = self._usage_name()
        return [(name if self.required else f"[{name}]") + ("..." if self.nargs != 1 else "")]

    def _usage_name(self) -> str:
        return self.metavar or (self.name or "value").upper()

    def display_type_rich(self, ctx: Any) -> str | None:
        return None


def plain_parameters(command: Any, ctx: Any) -> None:
    """Give ``command``'s parameters the names ``--help`` shows (an option's metavar, none for a switch)."""
    for parameter in command.get_params(ctx):  # with --help itself
        if isinstance(parameter, TyperArgument):
            if parameter.metavar is None:
                parameter.metavar = (parameter.name or "value").upper()
            # typer makes its own argument objects: the class is how its help display is changed.
            parameter.__class__ = PlainArgument
        elif getattr(parameter, "is_flag", False) or getattr(parameter, "count", False):
            parameter.metavar = ""
        elif parameter.metavar is None:
            parameter.metavar = (parameter.name or "value").upper().replace("_", "-")


class _Tidy(io.TextIOBase):
    """Stands for stdout while rich prints the help: passes each line on as soon as it is complete, without
    its end padding, and answers ``isatty`` as the real stdout does (so rich keeps its colours)."""

    def __init__(self, real: Any) -> None:
        super().__init__()
        self._real = real
        self._pending = ""

    def isatty(self) -> bool:
        return bool(self._real.isatty())

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:  # rich points it at /dev/null when the reader has gone (`| head`)
        return int(self._real.fileno())

    def write(self, text: str) -> int:
        lines = (self._pending + text).split("\n")
        self._pending = lines.pop()
        for line in lines:
            self._real.write(_LINE_END.sub(_codes_only, line) + "\n")
        return len(text)

    def flush(self) -> None:
        self._real.flush()

    def finish(self) -> None:
        if self._pending:
            self._real.write(_LINE_END.sub(_codes_only, self._pending))
            self._pending = ""
        self._real.flush()


def _codes_only(end: re.Match[str]) -> str:
    return "".join(_CODE.findall(end.group(0)))


def _tidy(render: Callable[[], None]) -> None:
    """Run ``render`` (rich prints the help to stdout) with each line's end padding dropped on the way."""
    real = sys.stdout
    tidy = _Tidy(real)
    sys.stdout = tidy
    try:
        render()
    finally:
        sys.stdout = real
        tidy.finish()


class HelpCommand(TyperCommand):
    """A command whose ``--help`` names values instead of types and has no padding at line ends."""

    def format_help(self, ctx: Any, formatter: Any) -> None:
        plain_parameters(self, ctx)
        _tidy(lambda: super(HelpCommand, self).format_help(ctx, formatter))


class HelpGroup(TyperGroup):
    """A command group (the app, ``collect``, ``snapshot``) with the same help as :class:`HelpCommand`."""

    def format_help(self, ctx: Any, formatter: Any) -> None:
        plain_parameters(self, ctx)
        _tidy(lambda: super(HelpGroup, self).format_help(ctx, formatter))
