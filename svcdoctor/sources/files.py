"""Reading Kubernetes object files: what ``kubectl get -o yaml|json`` prints, safely.

Shared by the snapshot source and the manifests source. A path may be a file, a directory or
``-`` for standard input. A manifests directory is walked recursively (charts and overlays nest);
a snapshot directory is read at its top level only — a recording is one file, or a few files side
by side (``kubectl get … -o yaml > dir/pods.yaml``), and a tree such as ``/tmp`` is no recording.
JSON takes a fast path (``json.loads`` is some 50× faster than a YAML loader); YAML uses
PyYAML's C loader when it is there. Every failure becomes an :class:`InputError` naming the file
and, where known, the line — never a traceback.
"""

from __future__ import annotations

import gc
import json
import os
import re
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import yaml

from svcdoctor.errors import InputError
from svcdoctor.progress import NO_PROGRESS, Progress, count, megabytes

try:
    _SafeLoader: Any = yaml.CSafeLoader
except AttributeError:  # PyYAML built without libyaml
    _SafeLoader = yaml.SafeLoader

FILE_SUFFIXES = (".yaml", ".yml", ".json")
#: An expanded document larger than this many nodes is refused (YAML alias bombs).
MAX_EXPANDED_NODES = 5_000_000
#: Deeper nesting is refused: Kubernetes objects nest a few dozen levels, and libyaml's composer
#: recurses in C, so some tens of thousands of levels crash the interpreter instead of raising.
MAX_DEPTH = 1000
_BRACKETS = re.compile(r"[\[\]{}]")
_BLOCK_PREFIX = re.compile(r"^[ \t?:-]*", re.MULTILINE)
#: kubectl writes a List's items at column 0 ("- apiVersion: …") and separates documents by "---".
_ITEM_START = re.compile(r"^- ", re.MULTILINE)
#: Default of :func:`input_limit`, in MiB.
DEFAULT_INPUT_MB = 512
INPUT_LIMIT_VARIABLE = "SVCDOCTOR_MAX_INPUT_MB"
_DOCUMENT_START = re.compile(r"^---", re.MULTILINE)
#: Where a YAML anchor may stand ("key: &name", "- &name", "[&name"); only then can aliases multiply.
_ANCHOR = re.compile(r"(?:^|[\s\[{,:-])&[^\s&]")
#: The YAML parse says how far it got at most once per this many characters.
_PROGRESS_STEP = 100_000


@dataclass(frozen=True)
class Document:
    """One top-level document of a file."""

    path: str
    #: 0-based position of the document in its file.
    index: int
    body: Any
    #: 1-based line where the document starts, when known.
    line: int | None = None


def input_limit() -> int:
    """Most bytes read from files and stdin in one run (``SVCDOCTOR_MAX_INPUT_MB`` changes it).

    Parsed YAML takes several times its size in memory; a file (or a pipe) that never ends must
    end the run with one line, not exhaust the machine.
    """
    try:
        megabytes = float(os.environ.get(INPUT_LIMIT_VARIABLE) or DEFAULT_INPUT_MB)
    except ValueError:
        raise InputError(f"{INPUT_LIMIT_VARIABLE} must be a number of megabytes") from None
    return int(megabytes * 1024 * 1024)


def _bounded_read(handle: BinaryIO, path: str, limit: int, whole: int | None = None) -> bytes:
    """At most ``limit`` bytes (what is left of the run's ``whole`` limit), else one clear line."""
    data = handle.read(limit + 1)
    if len(data) > limit:
        raise InputError(f"larger than {(whole or limit) / 1024 / 1024:.3g} MiB, the most svcdoctor reads "
                         f"(set {INPUT_LIMIT_VARIABLE} to read more)", path)
    return data


def read_text(path: str, recursive: bool = True) -> list[tuple[str, str]]:
    """The text of ``path`` as (display name, text) pairs: one per file read.

    A directory is walked for ``.yaml``, ``.yml`` and ``.json`` files: its whole tree when
    ``recursive``, else its top level only (a snapshot directory).
    """
    limit = input_limit()
    if path == "-":
        data = _bounded_read(sys.stdin.buffer, "<stdin>", limit)
        return [("<stdin>", _decode(data, "<stdin>"))]
    target = Path(path)
    if target.is_dir():
        files = sorted(
            p for p in (target.rglob("*") if recursive else target.iterdir())
            if p.is_file() and p.suffix.lower() in FILE_SUFFIXES and not any(part.startswith(".") for part in
                                                                              p.relative_to(target).parts)
        )
        if not files and not recursive:
            raise InputError("not a snapshot: no .yaml, .yml or .json files at its top level "
                             "(a snapshot directory is not searched below it; give the recording's file)", path)
        if not files:
            raise InputError("directory holds no .yaml, .yml or .json files", path)
        texts, left = [], limit
        for file in files:
            texts.append((str(file), _read_file(str(file), left, whole=(f"{path} (all its files)", limit))))
            left -= len(texts[-1][1].encode())
        return texts
    return [(path, _read_file(path, limit))]


def _read_file(path: str, limit: int, whole: tuple[str, int] | None = None) -> str:
    try:
        with open(path, "rb") as handle:
            data = _bounded_read(handle, whole[0] if whole else path, max(0, limit), whole[1] if whole else None)
    except FileNotFoundError:
        raise InputError("no such file", path) from None
    except IsADirectoryError:
        raise InputError("is a directory", path) from None
    except PermissionError:
        raise InputError("permission denied", path) from None
    except OSError as error:
        raise InputError(f"cannot read: {error.strerror or error}", path) from None
    return _decode(data, path)


def _decode(data: bytes, path: str) -> str:
    if b"\x00" in data[:65536]:
        raise InputError("binary file, not YAML or JSON", path)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InputError(f"not UTF-8 text (byte {error.start})", path) from None
    if not text.strip():
        raise InputError("empty file: no objects", path)
    return text


@contextmanager
def collector_paused() -> Iterator[None]:
    """Run the block with Python's cyclic garbage collector off.

    Parsing and indexing allocate millions of objects and free none in cycles, yet each burst of
    allocations makes the collector walk the growing heap again: 55–70 % of a parse's time (a
    34 MB JSON snapshot loads in 0.7 s instead of 1.6 s, YAML 2.6× faster). Refcounting still
    frees everything as usual; cycles made meanwhile wait for the collector's next run.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class _ReadAsParsed:
    """The text handed to the YAML parser a chunk at a time, saying how far it got: libyaml reads as
    it parses, so where it has read to is where the parse is."""

    def __init__(self, text: str, path: str, progress: Progress) -> None:
        self._text = text
        self._position = 0
        self._next = 0
        self._progress = progress
        self._prefix = f"parsing {path} (YAML): "
        self._total = f" of {megabytes(len(text))}"

    def read(self, size: int = -1) -> str:
        end = len(self._text) if size < 0 else self._position + size
        chunk = self._text[self._position:end]
        self._position += len(chunk)
        if self._position >= self._next or self._position == len(self._text):
            self._next = self._position + _PROGRESS_STEP
            self._progress.show(self._prefix + megabytes(self._position) + self._total)
        return chunk


def parse_documents(text: str, path: str, progress: Progress = NO_PROGRESS) -> list[Document]:
    """Parse a JSON document or a YAML stream into :class:`Document` objects."""
    stripped = text.lstrip()
    json_error: json.JSONDecodeError | None = None
    if stripped[:1] in ("{", "["):
        progress.show(f"parsing {path} (JSON, {megabytes(len(text))})")
        try:
            return [Document(path, 0, json.loads(text), 1)]
        except RecursionError:
            raise InputError(f"nested too deeply (more than {MAX_DEPTH} levels)", path) from None
        except json.JSONDecodeError as error:
            json_error = error  # YAML flow style also starts with { or [; let the YAML parser judge it.
    _refuse_deep_nesting(text, path)
    documents: list[Document] = []
    try:
        for index, body in enumerate(yaml.load_all(_ReadAsParsed(text, path, progress), Loader=_SafeLoader)):
            documents.append(Document(path, index, body))
            progress.show(f"parsing {path} (YAML): {count(index + 1, 'document')}")
    except yaml.MarkedYAMLError as error:
        if json_error is not None:  # it looked like JSON and is no YAML either: say what JSON saw
            raise InputError(f"invalid JSON: {json_error.msg} (column {json_error.colno})", path,
                             json_error.lineno) from None
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = (error.problem or error.context or "invalid YAML").strip()
        raise InputError(f"invalid YAML: {problem}", path, line) from None
    except yaml.YAMLError as error:
        raise InputError(f"invalid YAML: {str(error).splitlines()[0]}", path) from None
    except RecursionError:
        raise InputError("nested too deeply", path) from None
    if _ANCHOR.search(text):
        for document in documents:
            _refuse_alias_bomb(document.body, path)
    return documents


def _refuse_deep_nesting(text: str, path: str) -> None:
    """Refuse YAML nested deeper than :data:`MAX_DEPTH` before libyaml composes it.

    A cheap upper bound first (brackets, and the indentation and ``- ``/``? `` prefixes that open
    block collections); only a suspicious text pays for the exact count over parser events.
    """
    flow = 0
    deepest = 0
    for bracket in _BRACKETS.findall(text):
        flow = flow + 1 if bracket in "[{" else max(0, flow - 1)
        deepest = max(deepest, flow)
    block = max((len(prefix) for prefix in _BLOCK_PREFIX.findall(text)), default=0)
    if deepest + block <= MAX_DEPTH:
        return
    depth = 0
    try:
        for event in yaml.parse(text, Loader=_SafeLoader):
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    line = event.start_mark.line + 1 if event.start_mark is not None else None
                    raise InputError(f"nested too deeply (more than {MAX_DEPTH} levels)", path, line)
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.YAMLError:
        return  # the real parse reports the syntax error with its line


def _refuse_alias_bomb(body: Any, path: str) -> None:
    """Refuse a document whose aliases expand it beyond :data:`MAX_EXPANDED_NODES` nodes.

    Anchors and aliases share one Python object, so the memoised size is cheap to compute while
    a naive walk of a "billion laughs" document would never end.
    """
    sizes: dict[int, int] = {}
    stack: list[tuple[Any, bool]] = [(body, False)]
    open_nodes: set[int] = set()  # entered, not finished: meeting one again means an alias cycle
    while stack:
        node, children_done = stack.pop()
        if not isinstance(node, dict | list) or id(node) in sizes:
            continue
        children = list(node.values()) if isinstance(node, dict) else node
        if not children_done:
            if id(node) in open_nodes:
                raise InputError("a YAML alias refers to the object that holds it", path)
            open_nodes.add(id(node))
            stack.append((node, True))
            stack.extend((child, False) for child in children if isinstance(child, dict | list))
            continue
        total = 1
        for child in children:
            total += sizes.get(id(child), 1)
        if total > MAX_EXPANDED_NODES:
            raise InputError("YAML aliases expand to more than 5,000,000 nodes (an alias bomb?)", path)
        open_nodes.discard(id(node))
        sizes[id(node)] = total


def iter_objects(documents: list[Document]) -> Iterator[tuple[Document, int | None, Mapping[str, Any]]]:
    """Every object in the documents, with ``List`` and typed ``*List`` kinds flattened.

    Yields (document, position in its list or None, object); raises :class:`InputError` for a
    document that is not an object or an object without ``kind``.
    """
    for document in documents:
        body = document.body
        if body is None:
            continue  # an empty document, e.g. a leading '---'
        where = f"document {document.index + 1}"
        if not isinstance(body, Mapping):
            raise InputError(f"{where} is a {_type_name(body)}, not a Kubernetes object", document.path,
                             document.line)
        kind = body.get("kind")
        if isinstance(kind, str) and kind.endswith("List") and "items" in body:
            items = body.get("items")
            if items is None:
                continue
            if not isinstance(items, list):
                raise InputError(f"{where}: {kind}.items is not a list", document.path, document.line)
            for position, item in enumerate(items):
                _validate(item, f"{where}, item {position + 1}", document, kind[:-4] or None)
                yield document, position, item
        else:
            _validate(body, where, document, None)
            yield document, None, body


def _validate(obj: Any, where: str, document: Document, list_kind: str | None) -> None:
    if not isinstance(obj, Mapping):
        raise InputError(f"{where} is a {_type_name(obj)}, not a Kubernetes object", document.path, document.line)
    kind = obj.get("kind")
    if not isinstance(kind, str) or not kind:
        if list_kind and isinstance(obj, dict):
            # Typed lists (PodList…) from kubectl omit kind on their items.
            obj["kind"] = list_kind
            return
        raise InputError(f"{where} has no 'kind'", document.path, document.line)
    if obj.get("apiVersion") == "svcdoctor.dev/v1":
        return  # metadata is optional on the evidence kinds; read_evidence checks them.
    metadata = obj.get("metadata")
    if not isinstance(metadata, Mapping):
        raise InputError(f"{where} ({kind}) has no 'metadata'", document.path, document.line)
    name = metadata.get("name")
    if kind != "List" and name is not None and not isinstance(name, str):
        # YAML reads `name: 123` as a number: the API server refuses it, and so does svcdoctor, in those words.
        raise InputError(f"{where} ({kind}): metadata.name is a {_type_name(name)} ({_short(name)}), not a string "
                         "(quote it)", document.path, document.line)
    if kind != "List" and not isinstance(name, str) and not metadata.get("generateName"):
        raise InputError(f"{where} ({kind}) has no metadata.name", document.path, document.line)


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 40 else text[:39] + "…"


def _type_name(value: Any) -> str:
    if isinstance(value, list):
        return "list"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


def load_objects(path: str) -> list[Mapping[str, Any]]:
    """Every object of the recording ``path`` (file, snapshot directory or ``-``), flattened and validated."""
    return [obj for obj, _, _ in load_located_objects(path)]


def load_located_objects(path: str, progress: Progress = NO_PROGRESS) -> list[tuple[Mapping[str, Any], str,
                                                                                     int | None]]:
    """Like :func:`load_objects`, with the file each object came from and its line when known.

    A directory is a snapshot directory: its top level only (see :func:`read_text`).

    Lines are found for YAML as kubectl writes it (List items at column 0, documents split by
    ``---``); where the layout is anything else the line is None rather than a guess.
    """
    located: list[tuple[Mapping[str, Any], str, int | None]] = []
    progress.show(f"reading {path}")
    with collector_paused():
        for display, text in read_text(path, recursive=False):
            documents = parse_documents(text, display, progress)
            if all(document.body is None for document in documents):
                raise InputError("no Kubernetes objects found (only comments or empty documents)", display)
            lines = _object_lines(text, documents)
            located.extend((obj, display, lines.get((document.index, position)))
                           for document, position, obj in iter_objects(documents))
            progress.show(f"read {display}: {count(len(located), 'object')} so far")
    return located


def _object_lines(text: str, documents: list[Document]) -> dict[tuple[int, int | None], int]:
    """(document index, item position) → 1-based line, for the layouts kubectl prints."""
    if len(documents) == 1 and documents[0].line == 1:  # the JSON fast path
        return {}
    separators = [match.start() for match in _DOCUMENT_START.finditer(text)]
    if len(documents) == len(separators) + 1:
        spans = [0, *separators]
    elif len(documents) == len(separators):
        spans = separators
    else:
        return {}
    ends = [*spans[1:], len(text)]
    result: dict[tuple[int, int | None], int] = {}
    for document, start, end in zip(documents, spans, ends, strict=True):
        body = document.body
        first_line = text.count("\n", 0, start) + 1 + (1 if start in separators else 0)
        if isinstance(body, Mapping) and isinstance(body.get("items"), list):
            starts = [match.start() for match in _ITEM_START.finditer(text, start, end)]
            if len(starts) != len(body["items"]):
                continue
            line = text.count("\n", 0, start) + 1
            previous = start
            for position, offset in enumerate(starts):
                line += text.count("\n", previous, offset)
                previous = offset
                result[(document.index, position)] = line
        else:
            result[(document.index, None)] = first_line
    return result
