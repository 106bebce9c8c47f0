"""A kustomization directory, rendered with ``kubectl kustomize`` and mapped back to its source files.

The most common layout of manifests is a kustomization (``kustomization.yaml`` with bases,
overlays, patches and generators); its files are not the objects that get applied. When
``kubectl`` is on the PATH the directory is rendered as ``kubectl kustomize`` renders it, through
a small wrapper kustomization that asks for ``buildMetadata: [originAnnotations]``: kustomize then
writes into each object the file it came from (``config.kubernetes.io/origin``), so findings point
at the source file and the line of the field there, not at the rendered stream.

Remote bases (a URL, ``github.com/…``, ``?ref=``) would need the network: they are refused in one
line. Without ``kubectl``, the error says which command to pipe in instead.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from svcdoctor.errors import InputError

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
#: The annotation kustomize writes with ``buildMetadata: [originAnnotations]``.
ORIGIN = "config.kubernetes.io/origin"
#: Fields of a kustomization that name other kustomizations or files to load.
_REFERENCES = ("resources", "bases", "components")
_REMOTE = re.compile(r"^(?:[a-z][a-z0-9+.-]*://|git@|(?:github|gitlab|bitbucket)\.(?:com|org)/)|[?&]ref=|\.git(?:/|$)",
                     re.IGNORECASE)
#: Seconds ``kubectl kustomize`` may take (it reads local files only).
TIMEOUT = 60


def kustomization_in(directory: Path) -> Path | None:
    """The kustomization file of ``directory``, if it is a kustomization."""
    for name in KUSTOMIZATION_FILES:
        candidate = directory / name
        if candidate.is_file():
            return candidate
    return None


def remote_reference(directory: Path, seen: set[Path] | None = None) -> tuple[Path, str] | None:
    """The first remote base of a kustomization or of the local ones it loads: (file, entry)."""
    seen = set() if seen is None else seen
    directory = directory.resolve()
    if directory in seen:
        return None
    seen.add(directory)
    kustomization = kustomization_in(directory)
    if kustomization is None:
        return None
    try:
        body = yaml.safe_load(kustomization.read_text())
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        return None  # kubectl kustomize will say what is wrong with it
    if not isinstance(body, dict):
        return None
    for field in _REFERENCES:
        entries = body.get(field)
        for entry in entries if isinstance(entries, list) else []:
            if not isinstance(entry, str):
                continue
            local = directory / entry
            if local.exists():
                if local.is_dir():
                    found = remote_reference(local, seen)
                    if found:
                        return found
            elif _REMOTE.search(entry):
                return kustomization, entry
    return None


def pipe_command(path: str) -> str:
    """The command that renders ``path`` and pipes it into this same svcdoctor command."""
    arguments = sys.argv[1:]
    if path in arguments:
        arguments = ["-" if argument == path else argument for argument in arguments]
        return f"kubectl kustomize {path} | svcdoctor {' '.join(arguments)}"
    return f"kubectl kustomize {path} | svcdoctor scan --manifests -"


def render(path: str) -> tuple[str, Path]:
    """The rendered objects of the kustomization at ``path``, and the directory origin paths are relative to."""
    directory = Path(path)
    remote = remote_reference(directory)
    if remote is not None:
        kustomization, entry = remote
        raise InputError(f"{kustomization} loads the remote base {entry!r}: svcdoctor does not use the network; "
                         f"render it where that is allowed and pipe it in: {pipe_command(path)}", path)
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        raise InputError(f"is a kustomization, and kubectl is not on the PATH to render it; run: {pipe_command(path)}",
                         path)
    with tempfile.TemporaryDirectory(prefix="svcdoctor-kustomize-") as wrapper:
        # kustomize refuses absolute roots: the wrapper names the directory by a relative path.
        relative = os.path.relpath(directory.resolve(), wrapper)
        Path(wrapper, "kustomization.yaml").write_text(
            yaml.safe_dump({"resources": [relative], "buildMetadata": ["originAnnotations"]}))
        try:
            done = subprocess.run([kubectl, "kustomize", wrapper], capture_output=True, text=True, timeout=TIMEOUT,
                                  check=False)
        except subprocess.TimeoutExpired:
            raise InputError(f"kubectl kustomize took longer than {TIMEOUT} s", path) from None
        except OSError as error:
            raise InputError(f"cannot run kubectl kustomize: {error.strerror or error}", path) from None
        if done.returncode != 0:
            problem = _kubectl_error(done.stderr) or f"exit code {done.returncode}"
            raise InputError(f"kubectl kustomize failed: {problem.replace(wrapper, '<wrapper>')}", path)
        return done.stdout, Path(wrapper)


def _kubectl_error(stderr: str) -> str:
    """The message of kubectl's log line ``E… "command failed" err="…"`` (or ``err=<`` … ``>``), in one line."""
    quoted = re.search(r'err="((?:[^"\\]|\\.)*)"', stderr)
    if quoted:
        return quoted.group(1).replace('\\"', '"')
    block = stderr.split("err=<", 1)
    lines = [line.strip() for line in (block[1] if len(block) > 1 else stderr).splitlines()
             if line.strip() and line.strip() not in (">", "`")]
    return lines[-1] if lines else ""


def origin_path(origin: object, wrapper: Path, directory: str) -> str:
    """The source file an origin annotation names, shown under the directory the user gave ("" if none)."""
    if not isinstance(origin, str):
        return ""
    try:
        body = yaml.safe_load(origin)
    except yaml.YAMLError:
        return ""
    if not isinstance(body, dict) or body.get("repo"):
        return ""
    relative = body.get("path") or body.get("configuredIn")
    if not isinstance(relative, str):
        return ""
    real = os.path.normpath(os.path.join(wrapper, relative))
    inside = os.path.relpath(real, Path(directory).resolve())
    return os.path.normpath(os.path.join(directory, inside))
