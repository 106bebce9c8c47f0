"""Minimal recordings: a snapshot file holds what the checks read, not what a cluster stores.

``record`` writes files people attach to tickets, so by default (with or without ``--redact``):

- ``metadata.managedFields`` and the ``last-applied-configuration`` annotation are dropped (the
  latter is the whole object again, secrets included);
- an environment value, a command-line argument and a probe's HTTP header value keep only what a
  check reads there — a host and port, a URL's scheme, host and port, a ``$(VAR)`` reference, a
  flag's name, a plain setting such as ``true`` — while credentials, paths and query strings are
  masked and anything else becomes :data:`MASK` (names and ``valueFrom`` stay);
- a ConfigMap keeps its ``data`` only when a check reads it (the Corefile, kubelet and
  kube-proxy configuration, the CNI's settings); ``binaryData`` never.

:func:`masked` is also what reports show for such values (SD704), so a report never prints what a
recording would not hold.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from typing import Any

Obj = dict[str, Any]

#: What a masked value (or the masked part of one) reads as.
MASK = "<masked>"
#: ConfigMaps whose data a check reads, by namespace; names ending in ``*`` are prefixes.
CONFIG_MAPS_READ: Mapping[str, tuple[str, ...]] = {
    "kube-system": ("coredns", "rke2-coredns-rke2-coredns", "coredns-coredns", "kubelet-config*", "kube-proxy",
                    "cilium-config", "antrea-config", "kube-flannel-cfg", "calico-config", "kube-router-cfg"),
    "kube-flannel": ("kube-flannel-cfg",),
}
#: Words kept wherever they stand: the settings checks compare against.
PLAIN_WORDS = frozenset({
    "true", "false", "yes", "no", "on", "off", "strict", "partial", "disabled", "enabled", "iptables", "ipvs",
    "nftables", "kernelspace", "userspace", "tcp", "udp", "sctp", "http", "https", "grpc", "ws", "wss",
})
_SEPARATORS = re.compile(r"([\s,;\"']+)")
_FLAG = re.compile(r"--?[A-Za-z][A-Za-z0-9._-]*")
#: A variable reference: Kubernetes' ``$(VAR)`` and a shell's ``$VAR`` / ``${VAR}`` (SD706 reads them).
_REFERENCE = re.compile(r"\$\([A-Za-z_][A-Za-z0-9_]*\)|\$\{[A-Za-z_][A-Za-z0-9_]*\}|\$[A-Za-z_][A-Za-z0-9_]*")
_HOST = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}"
                   r"[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\]")
_PORT = re.compile(r"\d{1,5}|" + _REFERENCE.pattern)
_URL = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<userinfo>[^@/?#\s]*@)?(?P<host>[^/?#\s:]*|\[[^\]]*\])"
                  r"(?::(?P<port>[^/?#\s]*))?(?P<rest>[/?#].*)?")


def masked(value: str, hosts: frozenset[str] = frozenset()) -> str:
    """``value`` with only what a check reads left: see the module's documentation.

    ``hosts`` are bare names kept as they are (the Services of the recording): a bare word is
    otherwise indistinguishable from a password.
    """
    parts = _SEPARATORS.split(value)
    for index in range(0, len(parts), 2):
        if parts[index]:
            parts[index] = _masked_token(parts[index], hosts)
    return "".join(parts)


def _masked_token(token: str, hosts: frozenset[str]) -> str:
    flag, equals, setting = token.partition("=")
    if _FLAG.fullmatch(flag):
        return f"{flag}={_masked_token(setting, hosts)}" if equals and setting else token
    if token.lower() in PLAIN_WORDS or _REFERENCE.fullmatch(token):
        return token
    url = _URL.fullmatch(token)
    if url is not None:
        text = f"{url.group('scheme')}://"
        if url.group("userinfo"):
            text += f"{MASK}@"
        text += url.group("host")
        if url.group("port") is not None:
            text += ":" + (url.group("port") if _PORT.fullmatch(url.group("port")) else MASK)
        rest = url.group("rest") or ""
        if rest:
            text += rest[0] + MASK
        return text
    host, colon, port = token.rpartition(":") if token.count(":") == 1 or token.startswith("[") else (token, "", "")
    if colon and (_HOST.fullmatch(host) or _REFERENCE.fullmatch(host)) and _PORT.fullmatch(port):
        return token
    if not colon and _HOST.fullmatch(token) and (("." in token and _looks_like_domain(token)) or token in hosts):
        return token
    return MASK


def _looks_like_domain(token: str) -> bool:
    """``db.shop.svc`` or ``10.0.0.1``: dotted labels with a letter-led last label, or an IPv4 address."""
    labels = token.split(".")
    return all(labels) and (labels[-1][:1].isalpha() or all(label.isdigit() for label in labels))


def service_hosts(objects: Iterable[Mapping[str, Any]]) -> frozenset[str]:
    """The bare names of the Services in ``objects`` (what a client may call a Service by)."""
    return frozenset(str((obj.get("metadata") or {}).get("name") or "") for obj in objects
                     if obj.get("kind") == "Service") - {""}


def minimal(objects: Iterable[Mapping[str, Any]]) -> list[Obj]:
    """Deep copies of ``objects`` holding only what the checks read (see the module's documentation)."""
    copies: list[Obj] = [copy.deepcopy(dict(obj)) for obj in objects]
    hosts = service_hosts(copies)
    for obj in copies:
        if obj.get("apiVersion") == "svcdoctor.dev/v1":
            continue
        _metadata(obj.get("metadata"))
        kind = obj.get("kind")
        if kind == "ConfigMap":
            _config_map(obj)
        for spec in _pod_specs(obj):
            _pod_spec(spec, hosts)
    return copies


def drop_unread_metadata(obj: Obj) -> Obj:
    """``obj`` without ``managedFields`` and the last-applied annotation, changed in place (for an object
    its caller owns, as ``watch`` owns what it receives: often most of an object's size)."""
    _metadata(obj.get("metadata"))
    return obj


def _metadata(metadata: Any) -> None:
    if not isinstance(metadata, dict):
        return
    metadata.pop("managedFields", None)
    annotations = metadata.get("annotations")
    if isinstance(annotations, dict):
        for key in [key for key in annotations if "last-applied" in str(key)]:
            del annotations[key]
        if not annotations:
            metadata.pop("annotations")


def _config_map(obj: Obj) -> None:
    metadata = obj.get("metadata")
    metadata = metadata if isinstance(metadata, dict) else {}
    namespace, name = str(metadata.get("namespace") or ""), str(metadata.get("name") or "")
    obj.pop("binaryData", None)
    if not is_read(namespace, name):
        obj.pop("data", None)


def is_read(namespace: str, name: str) -> bool:
    """Whether a check reads the ConfigMap ``namespace/name``."""
    return any(name == wanted or (wanted.endswith("*") and name.startswith(wanted[:-1]))
               for wanted in CONFIG_MAPS_READ.get(namespace, ()))


def _pod_specs(obj: Obj) -> list[Obj]:
    """The Pod specs inside ``obj``: its own, a template's, a CronJob's job template's."""
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return []
    if obj.get("kind") == "Pod":
        return [spec]
    found = []
    for holder in (spec, (spec.get("jobTemplate") or {}).get("spec") if isinstance(spec.get("jobTemplate"), dict)
                   else None):
        template = holder.get("template") if isinstance(holder, dict) else None
        if isinstance(template, dict):
            _metadata(template.get("metadata"))
            if isinstance(template.get("spec"), dict):
                found.append(template["spec"])
    return found


def _pod_spec(spec: Obj, hosts: frozenset[str]) -> None:
    for group in ("containers", "initContainers", "ephemeralContainers"):
        for container in spec.get(group) or []:
            if not isinstance(container, dict):
                continue
            for variable in container.get("env") or []:
                if isinstance(variable, dict) and isinstance(variable.get("value"), str):
                    variable["value"] = masked(variable["value"], hosts)
            for key in ("command", "args"):
                if isinstance(container.get(key), list):
                    container[key] = [masked(item, hosts) if isinstance(item, str) else item for item in container[key]]
            for probe_key in ("readinessProbe", "livenessProbe", "startupProbe"):
                if isinstance(container.get(probe_key), dict):
                    container[probe_key] = masked_probe(container[probe_key])


def masked_probe(probe: Mapping[str, Any]) -> Obj:
    """A copy of a probe whose HTTP header values and query string are :data:`MASK` (an ``Authorization``
    header is a secret) and whose exec command is :func:`masked` (``sh -c 'PGPASSWORD=… psql'``)."""
    result = dict(probe)
    command = result.get("exec")
    if isinstance(command, Mapping) and isinstance(command.get("command"), list):
        result["exec"] = {**command, "command": [masked(str(part)) for part in command["command"]]}
    http = result.get("httpGet")
    if isinstance(http, Mapping):
        http = dict(http)
        if isinstance(http.get("httpHeaders"), list):
            http["httpHeaders"] = [{**header, "value": MASK} if isinstance(header, Mapping) and "value" in header
                                   else header for header in http["httpHeaders"]]
        path, _, query = str(http.get("path") or "").partition("?")
        if query:
            http["path"] = f"{path}?{MASK}"
        result["httpGet"] = http
    return result
