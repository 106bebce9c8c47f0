"""Atomic, private file writes: a recording, a node dump or a kubeconfig is whole or absent.

:func:`write_text` writes a temporary file in the target's directory (created with
``O_CREAT | O_EXCL | O_NOFOLLOW``, mode 0600 unless told otherwise, so nothing already there — a
symlink planted by another user included — is opened), flushes it to disk and renames it over the
target. A reader never sees half a file and a failed write leaves the old one as it was; the
target's name is replaced, never followed, so a symlink at the target path cannot redirect a
root-run ``collect node -o`` to another file. A target that exists but is no regular file
(``/dev/stdout``, a FIFO) cannot be replaced and is written in place.
"""

from __future__ import annotations

import contextlib
import os
import secrets

from svcdoctor.errors import InputError

#: Recordings and kubeconfigs hold what a cluster holds: readable by their owner only.
PRIVATE_MODE = 0o600


def write_text(path: str, text: str, mode: int = PRIVATE_MODE) -> None:
    """Write ``text`` to ``path`` atomically with ``mode``; an OSError is bad input (exit 2)."""
    try:
        if os.path.exists(path) and not os.path.isfile(path) and not os.path.isdir(path):
            with open(path, "w", encoding="utf-8") as handle:  # /dev/stdout, a FIFO: nothing to replace
                handle.write(text)
            return
        _replace(path, text, mode)
    except OSError as error:
        raise InputError(f"cannot write: {error.strerror or error}", path) from None


def _replace(path: str, text: str, mode: int) -> None:
    target = os.path.abspath(path)
    directory = os.path.dirname(target)
    temporary = os.path.join(directory, f".{os.path.basename(target)}.{secrets.token_hex(6)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    descriptor = os.open(temporary, flags, mode)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, mode)  # the umask may have narrowed it at creation
        os.replace(temporary, target)
    except BaseException:  # whatever failed, the temporary file goes and the target stays
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    _sync_directory(directory)


def _sync_directory(directory: str) -> None:
    """Make the rename itself durable (best effort: not every file system allows it)."""
    try:
        descriptor = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    with contextlib.suppress(OSError):
        os.fsync(descriptor)
    os.close(descriptor)
