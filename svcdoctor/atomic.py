"""Atomic, private file writes: a recording, a node dump or a kubeconfig is whole or absent.

:func:`write_private` writes a temporary file in the target's directory (created with
``O_CREAT | O_EXCL | O_NOFOLLOW``, mode 0600, so nothing already there — a symlink planted by
another user included — is opened), flushes it to disk, and renames it over the target. A failed
write leaves the old file as it was; the target's name is replaced, never followed, so a symlink
at the target path cannot redirect a root-run ``collect node -o`` to another file.
"""

from __future__ import annotations

import contextlib
import os
import secrets

from svcdoctor.errors import InputError

PRIVATE_MODE = 0o600


def write_private(path: str, text: str, mode: int = PRIVATE_MODE) -> None:
    """Write ``text`` to ``path`` atomically with ``mode``; :class:`InputError` when it cannot."""
    target = os.path.abspath(path)
    directory = os.path.dirname(target)
    if os.path.isdir(target):
        raise InputError("is a directory", path)
    temporary = os.path.join(directory, f".{os.path.basename(target)}.{secrets.token_hex(6)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        descriptor = os.open(temporary, flags, mode)
    except OSError as error:
        raise InputError(f"cannot write: {error.strerror or error}", path) from None
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, mode)  # the umask may have narrowed it; never widened beyond mode
        os.replace(temporary, target)
    except BaseException as error:  # whatever failed, the temporary file goes and the target stays
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        if isinstance(error, OSError):
            raise InputError(f"cannot write: {error.strerror or error}", path) from None
        raise
    _sync_directory(directory)


def _sync_directory(directory: str) -> None:
    """Make the rename itself durable (best effort: not every file system allows it)."""
    try:
        descriptor = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
