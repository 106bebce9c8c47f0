"""The project configuration file, ``.svcdoctor.yaml``, found from the working directory upwards.

It holds the settings a repository wants on every run, so that CI and people at a terminal get
the same gate::

    fail-on: warning            # error | warning | info | never
    ignore: [SD212, SD207]      # or "SD212,SD207"
    cluster-domain: cluster.local
    output: text                # text | json | yaml | markdown | sarif | junit | github

A flag given on the command line always wins over the file (``--ignore`` replaces the file's list).
An unknown key or a bad value is an input error (exit 2) naming the file and line, so that a typo
never silently weakens a gate. ``SVCDOCTOR_CONFIG`` names a file to use instead of the search, or
``none`` to use no file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from svcdoctor.errors import InputError

FILE_NAME = ".svcdoctor.yaml"
KEYS = ("fail-on", "ignore", "cluster-domain", "output")
FAIL_ON = ("error", "warning", "info", "never")


def find(start: Path | None = None) -> Path | None:
    """The nearest ``.svcdoctor.yaml`` in ``start`` (the working directory) or a parent of it."""
    chosen = os.environ.get("SVCDOCTOR_CONFIG")
    if chosen:
        return None if chosen.lower() == "none" else Path(chosen)
    directory = (start or Path.cwd()).resolve()
    for folder in (directory, *directory.parents):
        candidate = folder / FILE_NAME
        if candidate.is_file():
            return candidate
    return None


def load(path: Path | None) -> dict[str, Any]:
    """Read and check a config file; ``{}`` when there is none. The result carries ``path``."""
    if path is None:
        return {}
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise InputError(f"cannot read the config file: {error.strerror or error}", str(path)) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        body = yaml.safe_load(text)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        raise InputError(f"invalid YAML: {(error.problem or 'invalid YAML').strip()}", str(path),
                         mark.line + 1 if mark else None) from None
    except yaml.YAMLError as error:
        raise InputError(f"invalid YAML: {str(error).splitlines()[0]}", str(path)) from None
    if body is None:
        return {"path": str(path)}
    if not isinstance(body, Mapping):
        raise InputError("the config file must be a mapping of settings", str(path), 1)
    lines = {key_node.value: key_node.start_mark.line + 1 for key_node, _ in getattr(node, "value", [])
             if isinstance(key_node, yaml.ScalarNode)}
    settings: dict[str, Any] = {"path": str(path)}
    for key, value in body.items():
        line = lines.get(key)
        if key not in KEYS:
            raise InputError(f"unknown setting {key!r} (known: {', '.join(KEYS)})", str(path), line)
        if key == "ignore":
            settings["ignore"] = split_ids(value, str(path), line)
        elif key == "fail-on":
            if value not in FAIL_ON:
                raise InputError(f"fail-on: {value!r} is not one of {', '.join(FAIL_ON)}", str(path), line)
            settings["fail-on"] = value
        elif key == "output":
            from svcdoctor.render import FORMATS

            if value not in FORMATS:
                raise InputError(f"output: {value!r} is not one of {', '.join(FORMATS)}", str(path), line)
            settings["output"] = value
        else:
            from svcdoctor.k8s import dns1123_subdomain_problem

            domain = value[:-1] if isinstance(value, str) and value.endswith(".") else value
            problem = (dns1123_subdomain_problem(domain) or "") if isinstance(domain, str) and domain else "it is empty"
            if problem:
                raise InputError(f"cluster-domain: {value!r} is not a DNS name: {problem}", str(path), line)
            settings["cluster-domain"] = domain
    return settings


def split_ids(value: Any, path: str = "", line: int | None = None) -> tuple[str, ...]:
    """``SD212,SD207`` or ``[SD212, SD207]`` as a tuple of upper-case IDs."""
    items = value if isinstance(value, list) else [value] if isinstance(value, str) else None
    if items is None or not all(isinstance(item, str) for item in items):
        raise InputError("ignore: give check IDs, e.g. [SD212, SD207]", path or None, line)
    ids: list[str] = []
    for item in items:
        ids += [part.strip().upper() for part in item.split(",") if part.strip()]
    return tuple(ids)


def _explicit(parameter: str) -> bool:
    """Whether ``parameter`` of the running command was given on the command line."""
    import importlib

    try:
        globals_module = importlib.import_module("typer._click.globals")
    except ImportError:  # pragma: no cover - older typer uses click itself
        globals_module = importlib.import_module("click.globals")
    context = globals_module.get_current_context(silent=True)
    if context is None:
        return True
    source = context.get_parameter_source(parameter)
    return source is not None and source.name not in ("DEFAULT", "DEFAULT_MAP")


def configured(output: str, fail_on: str, ignore: list[str] | None,
               cluster_domain: str | None) -> tuple[str, str, list[str] | None, str | None, dict[str, Any]]:
    """The flags with the config file filled in where a flag was not given, and the config itself."""
    settings = load(find())
    if not settings:
        return output, fail_on, ignore, cluster_domain, {}
    if "output" in settings and not _explicit("output"):
        output = settings["output"]
    if "fail-on" in settings and not _explicit("fail_on"):
        fail_on = settings["fail-on"]
    if "ignore" in settings and not ignore:
        ignore = list(settings["ignore"])
    if "cluster-domain" in settings and cluster_domain is None:
        cluster_domain = settings["cluster-domain"]
    return output, fail_on, ignore, cluster_domain, settings
