"""The manifests source: plain Kubernetes manifests, checked before they are deployed.

Input is what ``helm template``, ``kustomize build`` or a folder of YAML files holds: a file, a
directory (walked recursively) or ``-`` for standard input. Reading and validation are shared with
the snapshot source (:mod:`svcdoctor.sources.files`); what this adds:

- **Positions.** Documents are composed with marks (PyYAML's C composer when it is there), so every
  object remembers its file and line and the line of each of its fields. They become
  :class:`~svcdoctor.snapshot.Origin` entries, and findings point at the offending field.
- **Workloads stand in for their Pods.** A cluster would run Pods made from each workload's
  template; here one representative Pod is made from it (labels, namespace, containers, ports,
  probes), carrying the replica count. StatefulSets get their ordinal Pods (``web-0``…, capped),
  with ``hostname`` and ``subdomain`` as the controller sets them. Each stand-in carries the labels
  its controller adds with values known before deploy (:func:`controller_labels`); the keys whose
  values only exist after deploy (``pod-template-hash``…) are listed in the
  ``svcdoctor.dev/deploy-time-labels`` annotation, so a selector on them is not judged. The made-up Pods are marked
  with the ``svcdoctor.dev/template-of`` annotation and owned by their workload, so a report says
  which template they come from.
- **Kustomizations.** A directory with a ``kustomization.yaml`` is rendered with ``kubectl
  kustomize`` (:mod:`svcdoctor.sources.kustomize`) and each object keeps its source file and lines.
- **Namespaces as kubectl apply sets them.** An object without ``metadata.namespace`` takes the
  ``-n`` namespace, or ``default``.
- **Types the API server would refuse.** Ports that are not numbers (an unrendered
  ``${PORT}`` or ``{{ .Values.port }}``) end the run with exit code 2 and the file and line.

The Snapshot is marked ``static``: checks that need runtime state (readiness, endpoints, DNS
answers, node rules, probes) are skipped by the engine, never passed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import yaml

from svcdoctor import k8s
from svcdoctor.errors import InputError
from svcdoctor.k8s import Obj, ObjectRef
from svcdoctor.kinds import TEMPLATE_PATHS
from svcdoctor.progress import NO_PROGRESS, Progress, count
from svcdoctor.snapshot import Origin, Snapshot, build_snapshot
from svcdoctor.sources import kustomize
from svcdoctor.sources.files import MAX_EXPANDED_NODES, Document, collector_paused, iter_objects, read_text
from svcdoctor.sources.interface import Request, Source
from svcdoctor.validation import CLUSTER_SCOPED, object_problems, shown

try:
    _Loader: Any = yaml.CSafeLoader
except AttributeError:  # PyYAML built without libyaml
    _Loader = yaml.SafeLoader

#: Annotation on a made-up Pod: the workload whose template it stands for, e.g. ``Deployment shop/web``.
TEMPLATE_OF = k8s.TEMPLATE_OF
#: Annotation on a made-up Pod: how many Pods the workload would run.
REPLICAS = k8s.REPLICAS
#: Annotation on a made-up Pod: the label keys its controller adds whose values exist only after deploy.
DEPLOY_TIME_LABELS = k8s.DEPLOY_TIME_LABELS
#: At most this many ordinal Pods are made for one StatefulSet.
MAX_STATEFULSET_PODS = 16



@dataclass
class _Parsed:
    """One object as read: the dict, where it came from and the lines of its fields."""

    obj: dict[str, Any]
    path: str
    line: int | None
    fields: dict[str, int]
    #: The Helm template it was rendered from (its ``# Source:`` comment), "" when none.
    source: str = ""


class ManifestsSource(Source):
    """Reads plain manifests from ``path`` (a file, a directory or ``-``) into a static Snapshot."""

    kind = "manifests"

    def __init__(self, path: str, default_namespace: str = "default", progress: Progress = NO_PROGRESS) -> None:
        self.path = path
        self.default_namespace = default_namespace or "default"
        self.progress = progress

    def load(self, request: Request | None = None) -> Snapshot:
        parsed: list[_Parsed] = []
        with collector_paused():
            if self.path != "-" and kustomize.kustomization_in(Path(self.path)) is not None:
                self.progress.show(f"rendering {self.path} with kubectl kustomize")
                parsed = read_kustomization(self.path, self.progress)
            else:
                self.progress.show(f"reading {self.path}")
                texts = read_text(self.path)
                for number, (display, text) in enumerate(texts, 1):
                    doing = f"reading {display}" + (f" (file {number} of {len(texts)}, {count(len(parsed), 'object')}"
                                                    " before it)" if len(texts) > 1 else "")
                    parsed.extend(read_manifests(text, display, self.progress, doing))
            self.progress.show(f"placing {count(len(parsed), 'object')} and their Pods")
            return snapshot_from(parsed, self.default_namespace, self.path)

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "path": self.path if self.path != "-" else "<stdin>"}


# -- reading, with positions -------------------------------------------------------------------


def read_kustomization(path: str, progress: Progress = NO_PROGRESS) -> list[_Parsed]:
    """A kustomization rendered by ``kubectl kustomize``, each object placed at its source file and lines.

    The origin annotation names the file; the object is found there by kind and name (a
    ``namePrefix`` or ``nameSuffix`` keeps the source name inside the rendered one), and its field
    lines are the source's: a field a patch added falls back to its nearest parent there.
    """
    text, wrapper = kustomize.render(path)
    sources: dict[str, list[_Parsed]] = {}
    result = []
    for item in read_manifests(text, f"kubectl kustomize {path}", progress, f"reading what kubectl kustomize {path} "
                                                                             "rendered"):
        annotations = k8s.as_map(k8s.meta(item.obj).get("annotations"))
        source_path = kustomize.origin_path(annotations.get(kustomize.ORIGIN), wrapper, path)
        if isinstance(item.obj.get("metadata"), dict) and isinstance(annotations, dict):
            annotations.pop(kustomize.ORIGIN, None)
            if not annotations:
                item.obj["metadata"].pop("annotations", None)
        if not source_path:
            result.append(item)
            continue
        if source_path not in sources:
            try:
                sources[source_path] = [entry for display, source_text in read_text(source_path)
                                        for entry in read_manifests(source_text, display)]
            except InputError:
                sources[source_path] = []  # a generator's kustomization.yaml, or a file kustomize alone can read
        match = _source_object(item.obj, sources[source_path])
        result.append(_Parsed(item.obj, source_path, match.line if match else None,
                              match.fields if match else {}, item.source))
    return result


def _source_object(rendered: Obj, candidates: list[_Parsed]) -> _Parsed | None:
    """The object of a source file that ``rendered`` was made from."""
    kind, name = rendered.get("kind"), k8s.name(rendered)
    same_kind = [c for c in candidates if c.obj.get("kind") == kind]
    exact = [c for c in same_kind if k8s.name(c.obj) == name]
    within = [c for c in same_kind if k8s.name(c.obj) and k8s.name(c.obj) in name]
    for found in (exact, within, same_kind):
        if len(found) == 1:
            return found[0]
    return max(within, key=lambda c: len(k8s.name(c.obj)), default=None)


def read_manifests(text: str, path: str, progress: Progress = NO_PROGRESS, doing: str = "") -> list[_Parsed]:
    """Every object of one file's text, with its line and the lines of its fields; ``progress`` is told
    ``doing`` (e.g. ``reading x.yaml (file 3 of 40, …)``) and the document being read."""
    try:
        entries = _compose(text, path, progress, doing or f"reading {path}")
    except InputError:
        # JSON is YAML too, and composing it gives positions; only JSON that YAML cannot read
        # (rare escapes) is taken without them.
        body = _json_loads(text) if text.lstrip()[:1] in ("{", "[") else None
        if body is None:
            raise
        entries = [(Document(path, 0, body, 1), {})]
    documents = [document for document, _ in entries]
    if all(document.body is None for document in documents):
        raise InputError("no Kubernetes objects found (only comments or empty documents)", path)
    positions: dict[int, tuple[int | None, dict[str, int]]] = {}
    for _, found in entries:
        positions.update(found)
    sources = _helm_sources(text, documents)
    result: list[_Parsed] = []
    for document, _position, obj in iter_objects(documents):
        line, fields = positions.get(id(obj), (document.line, {}))
        assert isinstance(obj, dict)
        parsed = _Parsed(obj, path, line, fields, sources.get(document.index, ""))
        _validate(parsed)
        result.append(parsed)
    return result


_HELM_SOURCE = re.compile(r"^# Source: (\S.*?)\s*$", re.MULTILINE)


def _helm_sources(text: str, documents: list[Document]) -> dict[int, str]:
    """Document index → the ``# Source: chart/templates/x.yaml`` comment ``helm template`` put above it."""
    if "# Source: " not in text:
        return {}
    comments: list[tuple[int, str]] = []
    line, counted_to = 1, 0
    for match in _HELM_SOURCE.finditer(text):  # line numbers counted incrementally: one pass over the text
        line += text.count("\n", counted_to, match.start())
        counted_to = match.start()
        comments.append((line, match.group(1)))
    result: dict[int, str] = {}
    position, previous_start = 0, 0
    for document in documents:
        if document.line is None or document.body is None:
            continue
        source = ""
        while position < len(comments) and comments[position][0] < document.line:
            if comments[position][0] > previous_start:
                source = comments[position][1]
            position += 1
        if source:
            result[document.index] = source
        previous_start = document.line
    return result


def _json_loads(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


class _FastLoader(_Loader):
    """The C loader with implicit scalar resolution memoised: keys and values repeat a lot."""

    resolved: ClassVar[dict[str, str]] = {}

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is yaml.ScalarNode and implicit[0] and len(value) < 64:
            # For a plain scalar the tag depends on the text alone (no path resolvers are set).
            tag = self.resolved.get(value)
            if tag is None:
                tag = super().resolve(kind, value, implicit)
                self.resolved[value] = tag
            return tag
        return super().resolve(kind, value, implicit)


def _compose(text: str, path: str, progress: Progress = NO_PROGRESS, doing: str = ""
             ) -> list[tuple[Document, dict[int, tuple[int | None, dict[str, int]]]]]:
    """Each document with, per object in it, (line, field → line), built in one walk of its nodes."""
    entries = []
    loader = _FastLoader(text)
    try:
        index = 0
        while loader.check_node():
            progress.show(f"{doing}: document {index + 1}")
            node = loader.get_node()
            builder = _Builder(loader, path)
            positions: dict[int, tuple[int | None, dict[str, int]]] = {}
            body = builder.document(node, positions) if node is not None else None
            line = node.start_mark.line + 1 if node is not None else None
            entries.append((Document(path, index, body, line), positions))
            index += 1
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        problem = (error.problem or error.context or "invalid YAML").strip()
        raise InputError(f"invalid YAML: {problem}", path, mark.line + 1 if mark is not None else None) from None
    except yaml.YAMLError as error:
        raise InputError(f"invalid YAML: {str(error).splitlines()[0]}", path) from None
    except RecursionError:
        raise InputError("nested too deeply", path) from None
    finally:
        loader.dispose()
    return entries


_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_NULL = "tag:yaml.org,2002:null"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_MERGE = "tag:yaml.org,2002:merge"


class _Builder:
    """Builds Python data from composed nodes exactly as PyYAML's safe loader would, recording lines.

    One walk does both, so positions cost little beyond loading. A node reached again through an
    alias is built once and shared (as PyYAML does) and its fields keep the anchor's lines; a
    document whose aliases would expand beyond :data:`MAX_EXPANDED_NODES` is refused, and so is
    an alias inside the object that holds it.
    """

    def __init__(self, loader: Any, path: str) -> None:
        self.loader = loader
        self.path = path
        self.built: dict[int, Any] = {}
        self.sizes: dict[int, int] = {}
        self.open: set[int] = set()

    def document(self, node: yaml.Node, positions: dict[int, tuple[int | None, dict[str, int]]]) -> Any:
        if isinstance(node, yaml.MappingNode) and node.tag == _MAP:
            kind = next((v.value for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == "kind"
                         and isinstance(v, yaml.ScalarNode)), "")
            items = next((v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == "items"), None)
            if str(kind).endswith("List") and isinstance(items, yaml.SequenceNode) and items.tag == _SEQ:
                # A List: each item is an object of its own, with its own positions.
                body: dict[Any, Any] = {}
                for key_node, value_node in node.value:
                    key = self.build(key_node, "", None)
                    if value_node is items:
                        objects = []
                        for item_node in items.value:
                            fields: dict[str, int] = {}
                            item = self.build(item_node, "", fields)
                            positions[id(item)] = (item_node.start_mark.line + 1, fields)
                            objects.append(item)
                        body[key] = objects
                    else:
                        body[key] = self.build(value_node, "", None)
                return body
        fields = {}
        body = self.build(node, "", fields)
        positions[id(body)] = (node.start_mark.line + 1, fields)
        return body

    def build(self, node: yaml.Node, prefix: str, fields: dict[str, int] | None) -> Any:
        if isinstance(node, yaml.ScalarNode):
            tag = node.tag
            if tag == _STR:
                return node.value
            if tag == _NULL:
                return None
            value = node.value
            if tag == _INT and value.isdigit() and (len(value) == 1 or value[0] != "0"):
                return int(value)
            return self._construct(node)
        identity = id(node)
        if identity in self.built:
            return self.built[identity]
        if identity in self.open:
            raise InputError("a YAML alias refers to the object that holds it", self.path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode) and node.tag == _MAP:
            self.open.add(identity)
            if any(key_node.tag == _MERGE for key_node, _ in node.value):
                self.loader.flatten_mapping(node)
            mapping: dict[Any, Any] = {}
            size = 1
            for key_node, value_node in node.value:
                key = self.build(key_node, "", None)
                if isinstance(key, (dict, list)):
                    raise InputError("a mapping key is itself a mapping or a list", self.path,
                                     key_node.start_mark.line + 1)
                child_fields = None
                field_path = ""
                if fields is not None:
                    field_path = f"{prefix}.{key}" if prefix else str(key)
                    if field_path not in fields:
                        fields[field_path] = key_node.start_mark.line + 1
                    child_fields = fields
                mapping[key] = self.build(value_node, field_path, child_fields)
                size += self.sizes.get(id(value_node), 1)
            result: Any = mapping
        elif isinstance(node, yaml.SequenceNode) and node.tag == _SEQ:
            self.open.add(identity)
            sequence: list[Any] = []
            size = 1
            for index, item_node in enumerate(node.value):
                child_fields = None
                field_path = ""
                if fields is not None:
                    field_path = f"{prefix}[{index}]"
                    if field_path not in fields:
                        fields[field_path] = item_node.start_mark.line + 1
                    child_fields = fields
                sequence.append(self.build(item_node, field_path, child_fields))
                size += self.sizes.get(id(item_node), 1)
            result = sequence
        else:
            return self._construct(node)  # !!omap, !!set and other rare explicit tags
        self.open.discard(identity)
        if size > MAX_EXPANDED_NODES:
            raise InputError("YAML aliases expand to more than 5,000,000 nodes (an alias bomb?)", self.path,
                             node.start_mark.line + 1)
        self.sizes[identity] = size
        self.built[identity] = result
        return result

    def _construct(self, node: yaml.Node) -> Any:
        try:
            return self.loader.construct_object(node, deep=True)
        except yaml.constructor.ConstructorError as error:
            mark = error.problem_mark or error.context_mark
            problem = (error.problem or "cannot read this value").strip()
            raise InputError(f"invalid YAML: {problem}", self.path, mark.line + 1 if mark else None) from None


# -- types the API server would refuse -------------------------------------------------------


def _validate(parsed: _Parsed) -> None:
    """Refuse the object on its first problem (the rules a recorded snapshot and a live read share)."""
    for problem in object_problems(parsed.obj, require_namespace=False):
        _refuse(parsed, problem.field, problem.value, problem.problem)


def _refuse(parsed: _Parsed, where: str, value: Any, problem: str) -> None:
    hint = " (an unrendered template?)" if isinstance(value, str) and ("${" in value or "{{" in value) else ""
    ref = f"{parsed.obj.get('kind')} {k8s.name(parsed.obj)}"
    problem_text = problem if value is None else f"{shown(value)} {problem}"
    raise InputError(f"{ref}: {where} {problem_text}{hint}", parsed.path,
                     _line_of(parsed.fields, where) or parsed.line)


def _line_of(fields: Mapping[str, int], field_path: str) -> int | None:
    return Origin("", None, fields).line_of(field_path)


# -- the static Snapshot -----------------------------------------------------------------------


def snapshot_from(parsed: list[_Parsed], default_namespace: str, source_path: str) -> Snapshot:
    """Default namespaces, make stand-in Pods from templates, and build the static Snapshot."""
    latest: dict[tuple[str, str, str], _Parsed] = {}
    evidence: list[_Parsed] = []
    for item in parsed:
        obj = item.obj
        if obj.get("apiVersion") == "svcdoctor.dev/v1":
            evidence.append(item)
            continue
        kind = str(obj.get("kind") or "")
        metadata = obj.get("metadata")
        if kind not in CLUSTER_SCOPED and isinstance(metadata, dict) and not metadata.get("namespace"):
            metadata["namespace"] = default_namespace
        # A later object of the same kind and name replaces an earlier one, as kubectl apply would.
        key = (kind, k8s.namespace(obj), k8s.name(obj))
        latest.pop(key, None)
        latest[key] = item
    kept = list(latest.values())

    origins: dict[ObjectRef, Origin] = {}
    objects: list[Obj] = []
    for item in kept:
        objects.append(item.obj)
        note = f"from {item.source}" if item.source else ""
        origins.setdefault(k8s.ref(item.obj), Origin(item.path, item.line, item.fields, note))

    present = {(str(item.obj.get("kind")), k8s.namespace(item.obj), k8s.name(item.obj)) for item in kept}
    taken = {(k8s.namespace(item.obj), k8s.name(item.obj)) for item in kept if item.obj.get("kind") == "Pod"}
    for item in kept:
        for pod, template_prefix in stand_in_pods(item.obj, present):
            pod_key = (k8s.namespace(pod), k8s.name(pod))
            if pod_key in taken:
                continue  # a real Pod of that name was given: it wins
            taken.add(pod_key)
            objects.append(pod)
            origins[k8s.ref(pod)] = _rerooted_origin(item, template_prefix)
    return build_snapshot([*objects, *(item.obj for item in evidence)], origins=origins, static=True,
                          source_path=source_path if source_path != "-" else "<stdin>")


def _rerooted_origin(item: _Parsed, template_prefix: str) -> Origin:
    """The workload's positions, re-rooted so that a Pod's ``spec.containers`` finds its template line."""
    fields: dict[str, int] = {}
    cut = len(template_prefix) + 1
    for field_path, line in item.fields.items():
        if field_path.startswith(template_prefix + "."):
            fields[field_path[cut:]] = line
    note = f"{item.obj.get('kind')} {k8s.namespace(item.obj)}/{k8s.name(item.obj)}'s template"
    if item.source:
        note += f", from {item.source}"
    return Origin(item.path, item.fields.get(template_prefix, item.line), fields, note)


def stand_in_pods(workload: Obj, present: set[tuple[str, str, str]]) -> list[tuple[dict[str, Any], str]]:
    """The Pods a workload's template stands for, each with the template's dotted path."""
    kind = str(workload.get("kind") or "")
    template_path = TEMPLATE_PATHS.get(kind)
    if template_path is None:
        return []
    template: Any = workload
    for step in template_path:
        template = template.get(step) if isinstance(template, Mapping) else None
    if not isinstance(template, Mapping):
        return []
    namespace, name = k8s.namespace(workload), k8s.name(workload)
    if kind == "ReplicaSet":
        for owner in k8s.as_list(k8s.meta(workload).get("ownerReferences")):
            if isinstance(owner, Mapping) and (str(owner.get("kind")), namespace, str(owner.get("name"))) in present:
                return []  # its Deployment speaks for it
    replicas = _replicas(workload)
    if replicas == 0:
        return []
    template_meta = k8s.as_map(template.get("metadata"))
    template_spec = dict(k8s.as_map(template.get("spec")))
    annotations = {str(k): str(v) for k, v in k8s.as_map(template_meta.get("annotations")).items()}
    annotations[TEMPLATE_OF] = f"{kind} {namespace}/{name}"
    annotations[REPLICAS] = str(replicas) if replicas is not None else "one per node" if kind == "DaemonSet" else "1"
    owner_reference = {"apiVersion": str(workload.get("apiVersion") or ""), "kind": kind, "name": name,
                       "controller": True}
    if k8s.uid(workload):
        owner_reference["uid"] = k8s.uid(workload)

    deploy_time = _deploy_time_labels(workload)
    if deploy_time:
        annotations[DEPLOY_TIME_LABELS] = ",".join(deploy_time)

    def pod(pod_name: str, spec: dict[str, Any], ordinal: int | None = None) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": pod_name,
                "namespace": namespace,
                "labels": {**k8s.as_map(template_meta.get("labels")), **controller_labels(workload, ordinal)},
                "annotations": dict(annotations),
                "ownerReferences": [dict(owner_reference)],
            },
            "spec": spec,
        }

    prefix = ".".join(template_path)
    if kind == "StatefulSet":
        service_name = k8s.spec(workload).get("serviceName")
        pods = []
        for ordinal in range(min(replicas if replicas is not None else 1, MAX_STATEFULSET_PODS)):
            spec = dict(template_spec)
            spec["hostname"] = f"{name}-{ordinal}"
            if service_name:
                spec["subdomain"] = str(service_name)
            pods.append((pod(f"{name}-{ordinal}", spec, ordinal), prefix))
        return pods
    return [(pod(f"{name}-template", template_spec), prefix)]


def controller_labels(workload: Obj, ordinal: int | None = None) -> dict[str, str]:
    """The labels a workload's controller adds to each Pod, where their values are known before deploy.

    From the controllers' code: the StatefulSet controller's ``updateIdentity`` sets
    ``statefulset.kubernetes.io/pod-name`` to the Pod's name and ``apps.kubernetes.io/pod-index``
    to its ordinal (Kubernetes 1.28+); the API server's Job strategy adds
    ``batch.kubernetes.io/job-name`` and the legacy ``job-name`` to a Job's template unless
    ``manualSelector`` is set. A CronJob's Jobs get generated names, so theirs are deploy-time values.
    """
    kind = str(workload.get("kind") or "")
    name = k8s.name(workload)
    if kind == "StatefulSet" and ordinal is not None:
        return {"statefulset.kubernetes.io/pod-name": f"{name}-{ordinal}", "apps.kubernetes.io/pod-index": str(ordinal)}
    if kind == "Job" and not k8s.spec(workload).get("manualSelector"):
        return {"batch.kubernetes.io/job-name": name, "job-name": name}
    return {}


def _deploy_time_labels(workload: Obj) -> tuple[str, ...]:
    """The label keys a workload's controllers add with values that exist only once it runs.

    ``pod-template-hash`` (Deployment → ReplicaSet: a hash of the template), ``controller-revision-hash``
    (StatefulSet, DaemonSet: the ControllerRevision's name), ``pod-template-generation`` (DaemonSet),
    ``controller-uid`` (Job: the Job's UID, given by the API server) and, for a CronJob's Jobs,
    their generated names; an Indexed Job's per-Pod completion index.
    """
    kind = str(workload.get("kind") or "")
    job_spec = k8s.spec(workload) if kind == "Job" else k8s.as_map(
        k8s.as_map(k8s.spec(workload).get("jobTemplate")).get("spec"))
    if kind == "Deployment":
        return ("pod-template-hash",)
    if kind == "StatefulSet":
        return ("controller-revision-hash",)
    if kind == "DaemonSet":
        return ("controller-revision-hash", "pod-template-generation")
    if kind in ("Job", "CronJob"):
        keys = ["batch.kubernetes.io/controller-uid", "controller-uid"]
        if kind == "CronJob":
            keys += ["batch.kubernetes.io/job-name", "job-name"]
        if job_spec.get("completionMode") == "Indexed":
            keys.append("batch.kubernetes.io/job-completion-index")
        return tuple(keys)
    return ()


def _replicas(workload: Obj) -> int | None:
    """How many Pods the workload runs (None: not fixed, e.g. a DaemonSet's one per node)."""
    kind = str(workload.get("kind") or "")
    spec = k8s.spec(workload)
    if kind == "DaemonSet":
        return None
    if kind == "CronJob":
        job_spec = k8s.as_map(k8s.as_map(spec.get("jobTemplate")).get("spec"))
        value = job_spec.get("parallelism")
    elif kind == "Job":
        value = spec.get("parallelism")
    else:
        value = spec.get("replicas")
    if isinstance(value, bool) or not isinstance(value, int):
        return 1
    return max(value, 0)


def stand_in_for(snapshot: Snapshot, namespace: str, workload: str) -> Obj | None:
    """The stand-in Pod of the workload named ``workload`` (any kind) in ``namespace``, if one was made."""
    for pod in snapshot.pods_in(namespace):
        made_from = str(k8s.object_annotations(pod).get(TEMPLATE_OF) or "")
        if made_from.endswith(f" {namespace}/{workload}"):
            return pod
    return None
