"""The errors that map to svcdoctor's documented exit codes.

Exit codes: 0 nothing at or above ``--fail-on``; 1 findings at or above it; 2 bad usage or a
bad input file; 3 the cluster could not be read (unreachable, unauthorized, timed out); 70 an
internal error (a bug in svcdoctor, never the input's fault).
"""

from __future__ import annotations

from svcdoctor import __version__

ISSUES_URL = "https://github.com/svcdoctor/svcdoctor/issues"

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_CLUSTER = 3
#: The verdict is ``unknown``: evidence it needs was refused or unreadable (``--accept-unknown`` makes it 0).
EXIT_UNKNOWN = 4
#: EX_SOFTWARE of sysexits.h: so a CI gate can tell a bug in svcdoctor from a broken input file.
EXIT_INTERNAL = 70


class SvcdoctorError(Exception):
    """Base of every error svcdoctor reports as one line and an exit code."""

    exit_code = EXIT_USAGE


class InputError(SvcdoctorError):
    """Bad usage or a bad input file: exit code 2.

    ``path`` and ``line`` name where the problem is, when known.
    """

    exit_code = EXIT_USAGE

    def __init__(self, message: str, path: str | None = None, line: int | None = None) -> None:
        self.path = path
        self.line = line
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(f"{where}{message}")


class ClusterError(SvcdoctorError):
    """The cluster could not be read at all (unreachable, 401, TLS, timeout): exit code 3."""

    exit_code = EXIT_CLUSTER


def internal_error_message(what: str) -> str:
    """The one line of an internal error: what broke, and that it is a bug to report."""
    return (f"internal error: {what} — a bug in svcdoctor {__version__}, please report it at {ISSUES_URL}"
            " (--debug prints the traceback)")
