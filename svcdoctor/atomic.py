"""Writing an output file atomically: a reader never sees half of it, a failed run leaves the old one."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile

from svcdoctor.errors import InputError


def write_text(path: str, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file beside it; an OSError is bad input (exit 2)."""
    try:
        if os.path.exists(path) and not os.path.isfile(path):  # /dev/stdout, a FIFO: nothing to replace
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(text)
            return
        directory = os.path.dirname(os.path.abspath(path))
        descriptor, temporary = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", dir=directory)
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                handle.write(text)
            os.chmod(temporary, _mode_for(path))
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
    except OSError as error:
        raise InputError(f"cannot write: {error.strerror or error}", path) from None


def _mode_for(path: str) -> int:
    """An existing file keeps its mode; a new one gets what ``open`` would give it (0666 less the umask)."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask
