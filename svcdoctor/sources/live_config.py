"""Which cluster to read and how: the kubeconfig (``--kubeconfig``, ``$KUBECONFIG``, ``~/.kube/config``)
or the in-cluster service account, turned into a ``kubernetes.client.Configuration``.

A kubeconfig is an input file like any other: one that is missing, is not YAML, is not a mapping, or
holds entries the client cannot use is bad input (one line naming the file, exit 2), never an
internal error — ``--kubeconfig FILE`` and ``KUBECONFIG=FILE`` alike. Only when nothing names a
kubeconfig and none is at the default place (and svcdoctor is not in a Pod) is it "the cluster
could not be read" (exit 3). ``insecure-skip-tls-verify`` is said once, in svcdoctor's words,
instead of urllib3's warning on every request.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Any

from svcdoctor.errors import ClusterError, InputError


@dataclass(frozen=True)
class LoadedConfig:
    """A configured client ``Configuration`` and what the report says about it."""

    #: ``kubernetes.client.Configuration``.
    configuration: Any
    #: The kubeconfig context used, or ``in-cluster``.
    context_name: str
    #: The context's namespace (or the service account's).
    namespace: str


def load_configuration(kubeconfig: str | None, context: str | None, in_cluster_namespace_file: str) -> LoadedConfig:
    """The client configuration for ``--kubeconfig``/``--context`` (or ``$KUBECONFIG``, the default
    file, the in-cluster service account); bad input raises :class:`InputError`."""
    from kubernetes import client, config  # the client loads slowly: only for live reads
    from kubernetes.config.config_exception import ConfigException

    configuration = client.Configuration()
    variable = os.environ.get("KUBECONFIG") or ""
    config_file = kubeconfig or variable
    # How the user named the file, for the error line: the flag, or the variable and its value.
    named = config_file if kubeconfig else f"KUBECONFIG={variable}"
    default_file = os.path.expanduser("~/.kube/config")
    if kubeconfig and not os.path.exists(kubeconfig):
        raise InputError("no such kubeconfig file", kubeconfig)
    in_cluster = (not config_file and not os.path.exists(default_file)
                  and bool(os.environ.get("KUBERNETES_SERVICE_HOST")))
    if in_cluster:
        try:
            # Explicitly: load_config() would print a notice to stdout and corrupt -o json.
            config.load_incluster_config(client_configuration=configuration)
        except ConfigException as error:
            raise InputError(f"cannot use the in-cluster service account: {first_line(str(error))}") from None
        return LoadedConfig(configuration, "in-cluster", _read_text(in_cluster_namespace_file) or "default")
    if not config_file:
        config_file = named = default_file
    paths = [os.path.expanduser(p) for p in config_file.split(os.pathsep) if p]
    existing = [path for path in paths if os.path.exists(path)]
    if not existing:
        if variable and not kubeconfig:
            # kubectl skips missing files in the list, but when none exists the variable is wrong.
            raise InputError(f"{named}: no such kubeconfig file")
        raise ClusterError(f"no kubeconfig found ({config_file}) and not running inside a Pod; "
                           "give --kubeconfig, set KUBECONFIG, or use --snapshot FILE")
    for path in existing:
        check_kubeconfig_file(path)
    chosen = context
    try:
        contexts, current = config.list_kube_config_contexts(config_file)
        names = [entry.get("name") for entry in contexts or [] if isinstance(entry, dict)]
        chosen = context or (current or {}).get("name")
        if context and context not in names:
            raise InputError(f"--context {context!r}: no such context in {named} "
                             f"(known: {', '.join(str(n) for n in names) or 'none'})")
        if not chosen:
            raise InputError(f"{named}: no current-context; give --context")
        entry: dict[str, Any] = next((e for e in contexts if isinstance(e, dict) and e.get("name") == chosen), {})
        context_entry = entry.get("context")
        namespace = str((context_entry if isinstance(context_entry, dict) else {}).get("namespace") or "default")
        config.load_kube_config(config_file=config_file, context=chosen, client_configuration=configuration,
                                persist_config=False)
    except ConfigException as error:
        raise InputError(f"cannot use the kubeconfig {named}: {first_line(str(error))}") from None
    except OSError as error:
        raise InputError(f"cannot read the kubeconfig {named}: {first_line(str(error))}") from None
    except (TypeError, AttributeError, KeyError, ValueError) as error:
        # The client indexes into the file's entries without checking their types: a context, cluster
        # or user that is a string (or a list) ends here, and it is the file's fault, not svcdoctor's.
        raise InputError(f"cannot use the kubeconfig {named}: an entry "
                         + (f"of context {chosen!r} " if chosen else "") + "has the wrong "
                         f"shape ({type(error).__name__}: {first_line(str(error))})") from None
    host = str(configuration.host or "")
    if not host.startswith(("https://", "http://")):
        raise InputError(f"cannot use the kubeconfig {named}: the cluster of context {chosen!r} has no server URL "
                         f"(https://HOST:PORT), it has {repr(host) if host else 'none'}")
    return LoadedConfig(configuration, str(chosen), namespace)


def check_kubeconfig_file(path: str) -> None:
    """Refuse a kubeconfig that is not YAML, or whose document is not a mapping, naming file and line."""
    import yaml

    try:
        with open(path, encoding="utf-8") as handle:
            document = yaml.safe_load(handle)
    except OSError as error:
        raise InputError(f"cannot read the kubeconfig: {error.strerror or error}", path) from None
    except UnicodeDecodeError:
        raise InputError("not a kubeconfig: the file is not UTF-8 text", path) from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        problem = getattr(error, "problem", None) or first_line(str(error))
        raise InputError(f"not a valid kubeconfig: the YAML does not parse ({problem})", path,
                         mark.line + 1 if mark is not None else None) from None
    if document is not None and not isinstance(document, dict):
        raise InputError(f"not a kubeconfig: the file holds a {_yaml_kind(document)}, not a mapping "
                         "(apiVersion, clusters, contexts, users)", path)


def say_tls_verification_off(configuration: Any, context_name: str) -> None:
    """With ``insecure-skip-tls-verify``, one line on stderr instead of urllib3's warning per request."""
    if configuration.verify_ssl or not str(configuration.host).startswith("https:"):
        return
    import warnings

    import urllib3

    warnings.filterwarnings("ignore", category=urllib3.exceptions.InsecureRequestWarning)
    sys.stderr.write(f"svcdoctor: warning: context {context_name!r} skips TLS verification "
                     f"(insecure-skip-tls-verify): the identity of {configuration.host} is not checked\n")
    sys.stderr.flush()


def _yaml_kind(document: object) -> str:
    return {list: "list", str: "string", int: "number", float: "number", bool: "boolean"}.get(
        type(document), type(document).__name__)


def first_line(text: str) -> str:
    """``text`` on one line, at most 300 characters."""
    return " ".join(text.split())[:300]


def _read_text(path: str) -> str:
    try:
        with open(path) as handle:
            return handle.read().strip()
    except OSError:
        return ""
