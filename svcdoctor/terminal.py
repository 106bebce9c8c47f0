"""Terminal-safe text: what the cluster or a file wrote never reaches a terminal as control codes.

Event messages carry a container's exec-probe output, annotations and names come from whoever
may edit a namespace, and files come from whoever sent them. An ESC or OSC sequence among them
could clear the screen, retitle the window or draw a fake "all good" under the real report, so
every string the text, markdown and github formats print passes :func:`visible` first: control
characters (C0 but tab and newline, DEL, C1) and the invisible bidirectional and zero-width
format characters become their ``\\x1b`` / ``\\u202e`` spelling. JSON, YAML and SARIF escape
them by their own grammar.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any, TypeVar

_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")

T = TypeVar("T")


def _spelled(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: str) -> str:
    """``text`` with every control or invisible format character spelled out."""
    return _UNSAFE.sub(_spelled, text) if _UNSAFE.search(text) else text


def visible_everywhere(value: T) -> T:
    """A copy of ``value`` (strings, lists, dicts, frozen dataclasses of them) made :func:`visible`.

    Values without anything to clean are returned as they are, so a clean report costs one scan.
    """
    cleaned: T = _clean(value)
    return cleaned


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return visible(value)
    if isinstance(value, tuple | list):
        cleaned = [_clean(item) for item in value]
        if all(new is old for new, old in zip(cleaned, value, strict=True)):
            return value
        return type(value)(cleaned)
    if isinstance(value, Mapping):
        pairs = [(_clean(key), _clean(item)) for key, item in value.items()]
        if all(new_key is key and new is old for (new_key, new), (key, old) in zip(pairs, value.items(), strict=True)):
            return value
        return dict(pairs)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {}
        for field in dataclasses.fields(value):
            old = getattr(value, field.name)
            new = _clean(old)
            if new is not old:
                changes[field.name] = new
        return dataclasses.replace(value, **changes) if changes else value
    return value
