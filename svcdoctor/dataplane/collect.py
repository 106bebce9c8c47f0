"""Getting node dumps: read NodeDump files, or record one on a node (``svcdoctor collect node``).

A NodeDump is the ``svcdoctor.dev/v1`` object of DESIGN.md: the node's name, kube-proxy's mode,
and what ``iptables-save``, ``ip6tables-save``, ``nft list ruleset`` and ``ipvsadm -Ln`` print
there. ``collect node`` only reads: it runs those tools (the ones present) and prints YAML.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import yaml

from svcdoctor.errors import ClusterError, InputError
from svcdoctor.snapshot import DUMP_TEXTS, EVIDENCE_GROUP, NodeDump, read_evidence

Runner = Callable[[Sequence[str]], "subprocess.CompletedProcess[str]"]


class NodeUnreadable(ClusterError):
    """The node's data plane could not be read (no tool ran, or none printed a rule): exit code 3,
    as when the cluster cannot be read — the thing diagnosed could not be looked at, which is not
    the user's input being wrong (exit 2)."""


def read_node_dump_files(paths: Iterable[str]) -> list[NodeDump]:
    """Every NodeDump in the given files (a NodeDump document, a List, or a YAML stream).

    Other objects in the files are ignored; a file without any NodeDump is an error.
    """
    from svcdoctor.sources.files import iter_objects, parse_documents, read_text

    dumps: list[NodeDump] = []
    for path in paths:
        found = 0
        for display, text in read_text(path):
            documents = parse_documents(text, display)
            for _, _, obj in iter_objects(documents):
                if obj.get("kind") != "NodeDump":
                    continue
                if obj.get("apiVersion") not in (EVIDENCE_GROUP, None):
                    raise InputError(f"NodeDump has apiVersion {obj.get('apiVersion')!r}, expected "
                                     f"{EVIDENCE_GROUP}", display)
                try:
                    evidence = read_evidence(dict(obj))
                except InputError as error:
                    raise InputError(str(error), display) from None
                assert isinstance(evidence, NodeDump)
                dumps.append(evidence)
                found += 1
        if not found:
            raise InputError("no NodeDump object in the file (make one with `svcdoctor collect node`)", path)
    return dumps


def with_cilium_service_lists(dumps: Iterable[NodeDump], values: Iterable[str]) -> list[NodeDump]:
    """The dumps of the nodes named in ``NODE=FILE`` values, each carrying FILE as its
    ``ciliumServiceList`` (a node without a dump gets one holding just that text)."""
    from dataclasses import replace

    from svcdoctor.sources.files import read_text

    by_node = {dump.node: dump for dump in dumps}
    changed: dict[str, NodeDump] = {}
    for value in values:
        node, separator, path = value.partition("=")
        if not separator or not node.strip() or not path.strip():
            raise InputError(f"--cilium-service-list: {value!r} is not NODE=FILE (the node's name, then the file "
                             "`cilium-dbg service list` was saved to)")
        node = node.strip()
        text = "".join(content for _, content in read_text(path.strip()))
        dump = changed.get(node) or by_node.get(node) or NodeDump(node, "")
        changed[node] = replace(dump, cilium_service_list=text)
    return list(changed.values())


def _run(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=60)


def collect_node(*, node_name: str = "", chroot: str = "", files: Mapping[str, str] | None = None,
                 runner: Runner | None = None, which: Callable[[str], str | None] = shutil.which) -> dict[str, Any]:
    """A NodeDump object (as a dict) of the node this runs on.

    With ``files`` (field → path of saved tool output) nothing is run: the dump is assembled from
    those files, which is how output captured through ``kubectl debug`` becomes a NodeDump.
    Otherwise the tools present are run (inside ``chroot`` when given, e.g. ``/host`` in a
    debug Pod), which needs root.
    """
    texts: dict[str, str] = {}
    notes: list[str] = []
    if files:
        for field, path in files.items():
            try:
                with open(path, encoding="utf-8", errors="replace") as handle:
                    texts[field] = handle.read()
            except OSError as error:
                raise InputError(f"cannot read {field} output: {error.strerror}", path) from None
    else:
        if os.geteuid() != 0:
            raise InputError("collect node must run as root (the rule tools need CAP_NET_ADMIN): "
                             "run it with sudo on the node, or in a privileged host-network Pod (docs/dataplane.md)")
        runner = runner or _run
        for text in DUMP_TEXTS:
            field, command = text.key, text.command
            tool = command[0]
            if chroot:
                if not os.path.exists(os.path.join(chroot, "usr/sbin", tool)) and not os.path.exists(
                        os.path.join(chroot, "sbin", tool)):
                    continue
                argv: list[str] = ["chroot", chroot, *command]
            else:
                if which(tool) is None:
                    continue
                argv = list(command)
            try:
                result = runner(argv)
            except (OSError, subprocess.TimeoutExpired) as error:
                notes.append(f"{' '.join(command)}: {error}")
                continue
            if result.returncode != 0:
                notes.append(f"{' '.join(command)}: exit {result.returncode}: {result.stderr.strip()[:200]}")
                continue
            texts[field] = result.stdout
        if not texts:
            raise NodeUnreadable("none of iptables-save, nft or ipvsadm could be run on this node"
                                 + (f" ({'; '.join(notes)})" if notes else ""))
    from svcdoctor.dataplane.node import load

    name = node_name or os.environ.get("NODE_NAME", "") or socket.gethostname()
    dump = NodeDump(name, "", **{text.attribute: texts.get(text.key, "") for text in DUMP_TEXTS})
    dataplane = load(dump)
    from svcdoctor.dataplane import cilium

    # A Cilium node's dump may hold only its service list (no kube-proxy runs there): that counts.
    if not dataplane.rule_count and not cilium.parse(dump.cilium_service_list).frontends:
        # An empty dump would read as "no kube-proxy rules on this node": never written.
        commands = {text.key: " ".join(text.command) for text in DUMP_TEXTS}
        printed = ", ".join(f"{commands[field]} ({len(text.strip().splitlines())} lines)"
                            for field, text in texts.items()) or "nothing"
        if files:
            raise InputError(f"no rule could be read from the saved output ({printed}): is it what iptables-save, "
                             "nft list ruleset, ipvsadm -Ln or cilium-dbg service list print?",
                             ", ".join(files.values()))
        raise NodeUnreadable(f"no rule could be read on this node ({printed}): run it on the node itself, or in a "
                             "host-network Pod with --chroot /host (docs/dataplane.md); nothing was written")
    mode = dataplane.mode
    document: dict[str, Any] = {"apiVersion": EVIDENCE_GROUP, "kind": "NodeDump", "metadata": {"name": name}}
    if mode:
        document["proxyMode"] = mode
    for text in DUMP_TEXTS:
        if texts.get(text.key, "").strip():
            document[text.key] = texts[text.key]
    return document


class _BlockDumper(yaml.SafeDumper):
    """Writes multi-line strings as ``|`` blocks, so the dump stays readable and diffable."""


def _string(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_BlockDumper.add_representer(str, _string)


def to_yaml(document: Mapping[str, Any]) -> str:
    # Block style cannot carry trailing blanks; strip them (iptables-save never relies on them).
    cleaned = {key: "\n".join(line.rstrip() for line in value.splitlines()) + "\n"
               if isinstance(value, str) and "\n" in value else value for key, value in document.items()}
    return yaml.dump(cleaned, Dumper=_BlockDumper, sort_keys=False, width=100000)
