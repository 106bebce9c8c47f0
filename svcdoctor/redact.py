"""``record --redact``: consistent pseudonyms, so a snapshot can be attached to a public bug.

Namespaces, object names, label and selector values, host names and IP addresses are replaced;
label keys, ports, port names, phases, conditions and reasons are kept, so that the diagnosis of
the redacted file is the diagnosis of the original:

- one map for every identifier: the same string becomes the same pseudonym wherever it appears
  (a Service's name, the ``kubernetes.io/service-name`` label of its EndpointSlices, an Ingress
  backend, an Event's ``involvedObject``), so selectors still match and references still resolve;
- generated names keep their generated tail (``backend-7d9c8-xk2p4`` → ``name-3-7d9c8-xk2p4``),
  so a Pod still reads as a child of its ReplicaSet and Deployment;
- IP addresses are mapped prefix-preservingly (the Crypto-PAn idea, keyed per file), so a Pod IP
  stays inside its node's podCIDR and a NetworkPolicy ``ipBlock`` keeps its meaning;
- free text (Event messages, condition messages) has every known name and address replaced;
- what may hold secrets or is not needed is dropped: annotations other than the functional
  ``*.kubernetes.io/*`` and ``svcdoctor.dev/*`` ones (never ``last-applied-configuration``),
  environment values, commands and arguments, managed fields, node images and machine IDs.

The key is random per run: the same input gives the same pseudonym within a file, never across
files, so pseudonyms cannot be looked up by hashing guesses.
"""

from __future__ import annotations

import copy
import hashlib
import ipaddress
import re
import secrets
from collections.abc import Callable, Iterable
from typing import Any

Obj = dict[str, Any]

#: Names that carry meaning to the checks and reveal nothing about the cluster.
KEEP = frozenset({
    "kube-system", "kube-public", "kube-node-lease", "default", "kube-dns", "coredns", "kube-proxy",
    "kubernetes", "cluster.local", "rke2-coredns-rke2-coredns", "coredns-coredns", "kubelet-config",
    "cilium-config", "antrea-config",
})
#: Words a kept command-line or environment value may hold besides pseudonyms, numbers and flags.
_PLAIN_WORDS = frozenset({
    "http", "https", "tcp", "udp", "grpc", "ws", "wss", "svc", "cluster", "local", "true", "false", "yes", "no",
    "strict", "partial", "disabled", "enabled", "iptables", "ipvs", "nftables", "redacted",
})
#: Label keys whose values are generic (topology, OS, controller identities) and kept as they are.
KEEP_VALUE_KEYS = ("topology.kubernetes.io/", "kubernetes.io/os", "kubernetes.io/arch", "node-role.kubernetes.io/",
                   "node.kubernetes.io/instance-type", "endpointslice.kubernetes.io/managed-by",
                   "pod-template-hash", "pod-template-generation", "service.kubernetes.io/headless",
                   "statefulset.kubernetes.io/pod-name-ordinal")
_GENERATED_TAIL = re.compile(r"^(?:[bcdfghjklmnpqrstvwxz2456789]{4,10}|\d+)$")
_IPV4 = re.compile(r"(?<![\d.])(\d{1,3}(?:\.\d{1,3}){3})(?:/(\d{1,2}))?(?![\d.])")
_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]*[A-Za-z0-9]|[A-Za-z0-9]")
_DROPPED_METADATA = ("managedFields", "selfLink")


class Redactor:
    """Holds the pseudonym map and the IP key of one redacted file."""

    def __init__(self, key: bytes | None = None) -> None:
        self.key = key or secrets.token_bytes(16)
        self.names: dict[str, str] = {}
        self._counters: dict[str, int] = {}
        self._bits: dict[str, int] = {}
        self._pseudonyms: set[str] | None = None

    # -- identifiers ------------------------------------------------------------------------------

    def name(self, value: Any, role: str = "name") -> Any:
        """The pseudonym of an identifier (created on first sight)."""
        if not isinstance(value, str) or not value or value in KEEP:
            return value
        if value in self.names:
            return self.names[value]
        pseudonym = self._derived(value)
        if pseudonym is None:
            if _is_ip(value):
                pseudonym = self.ip(value)
            elif "." in value and role == "host":
                pseudonym = ".".join(self.name(part) for part in value.split("."))
            else:
                count = self._counters.get(role, 0) + 1
                self._counters[role] = count
                pseudonym = f"{role}-{count}"
        self.names[value] = pseudonym
        return pseudonym

    def _derived(self, value: str) -> str | None:
        """``parent-<generated tail>`` keeps the tail when the parent already has a pseudonym."""
        parts = value.split("-")
        for cut in range(len(parts) - 1, 0, -1):
            parent, tail = "-".join(parts[:cut]), parts[cut:]
            if parent in self.names and all(_GENERATED_TAIL.match(part) for part in tail):
                return "-".join([self.names[parent], *tail])
        return None

    def label_value(self, key: str, value: Any) -> Any:
        if any(key == keep or (keep.endswith("/") and key.startswith(keep)) for keep in KEEP_VALUE_KEYS):
            return value
        if key == "kubernetes.io/metadata.name":
            return self.name(value, "ns")
        return self.name(value)

    def labels(self, labels: Any) -> Any:
        if not isinstance(labels, dict):
            return labels
        return {key: self.label_value(key, value) for key, value in labels.items()}

    def label_selector(self, selector: Any) -> Any:
        if not isinstance(selector, dict):
            return selector
        result = dict(selector)
        if isinstance(selector.get("matchLabels"), dict):
            result["matchLabels"] = self.labels(selector["matchLabels"])
        expressions = []
        for expression in selector.get("matchExpressions") or []:
            if isinstance(expression, dict):
                expression = dict(expression)
                key = str(expression.get("key") or "")
                expression["values"] = [self.label_value(key, v) for v in expression.get("values") or []]
            expressions.append(expression)
        if "matchExpressions" in selector:
            result["matchExpressions"] = expressions
        return result

    # -- addresses --------------------------------------------------------------------------------

    def ip(self, value: Any) -> Any:
        """A prefix-preserving pseudonym of an IPv4/IPv6 address or CIDR; loopback and 0/0 kept."""
        if not isinstance(value, str) or not value:
            return value
        address, slash, prefix = value.partition("/")
        try:
            parsed = ipaddress.ip_address(address)
        except ValueError:
            return value
        if parsed.is_loopback or parsed.is_unspecified or parsed.is_link_local:
            return value
        width = parsed.max_prefixlen
        number = int(parsed)
        mapped = 0
        for position in range(width):
            bit = (number >> (width - 1 - position)) & 1
            mapped = (mapped << 1) | (bit ^ self._flip(parsed.version, number >> (width - position), position))
        result = str(ipaddress.ip_address(mapped) if parsed.version == 4 else ipaddress.IPv6Address(mapped))
        if not slash:
            return result
        try:  # a CIDR keeps its length; the host bits the mapping set are cleared again
            return str(ipaddress.ip_network(f"{result}/{prefix}", strict=False))
        except ValueError:
            return f"{result}/{prefix}"

    def _flip(self, version: int, prefix_bits: int, length: int) -> int:
        key = f"{version}/{length}/{prefix_bits}"
        bit = self._bits.get(key)
        if bit is None:
            bit = hashlib.blake2b(key.encode(), key=self.key, digest_size=1).digest()[0] & 1
            self._bits[key] = bit
        return bit

    def text(self, value: Any) -> Any:
        """Free text with every known name and every IPv4 address replaced."""
        if not isinstance(value, str) or not value:
            return value
        value = _IPV4.sub(lambda m: self.ip(m.group(0)), value)
        return _TOKEN.sub(lambda m: self._known(m.group(0)), value)

    def value(self, value: Any) -> Any:
        """A command-line argument or environment value: kept only when nothing unknown is left.

        ``http://backend.shop:8080`` keeps its shape with pseudonyms (checks look for Service
        names in a client's settings); a flag keeps its name; anything holding a word svcdoctor
        does not know — a password, a token, a private host — becomes ``redacted``.
        """
        if not isinstance(value, str):
            return value
        flag, equals, rest = value.partition("=") if value.startswith("-") else ("", "", value)
        if value.startswith("-") and not equals:
            return value if re.fullmatch(r"--?[A-Za-z0-9][A-Za-z0-9-]*", value) else "redacted"
        if flag and not re.fullmatch(r"--?[A-Za-z0-9][A-Za-z0-9-]*", flag):
            return "redacted"
        replaced = self.text(rest)
        if self._pseudonyms is None or len(self._pseudonyms) != len(self.names):
            self._pseudonyms = set(self.names.values())
        for token in re.findall(r"[A-Za-z0-9][A-Za-z0-9-]*", replaced):
            if not (token.isdigit() or token in self._pseudonyms or token.lower() in _PLAIN_WORDS or token in KEEP):
                return f"{flag}{equals}redacted"
        return f"{flag}{equals}{replaced}"

    def _known(self, token: str) -> str:
        if token in self.names:
            return self.names[token]
        derived = self._derived(token)
        if derived is not None:
            return derived
        if "." in token:
            return ".".join(self.names.get(part, part) for part in token.split("."))
        return token


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value.partition("/")[0])
    except ValueError:
        return False
    return True


def _walk_ips(value: Any, redactor: Redactor) -> Any:
    """Replace every string that is an IP address or CIDR, anywhere in ``value``."""
    if isinstance(value, dict):
        return {key: _walk_ips(item, redactor) for key, item in value.items()}
    if isinstance(value, list):
        return [_walk_ips(item, redactor) for item in value]
    if (isinstance(value, str) and value[:1].isdigit()) or (isinstance(value, str) and ":" in value):
        return redactor.ip(value) if _is_ip(value) else value
    return value


def _functional_annotation(key: str) -> bool:
    if "last-applied-configuration" in key:
        return False
    return key.startswith("svcdoctor.dev/") or "kubernetes.io/" in key


class _ObjectRedactor:
    def __init__(self, redactor: Redactor) -> None:
        self.r = redactor

    def metadata(self, obj: Obj, role: str = "name") -> None:
        metadata = obj.get("metadata")
        if not isinstance(metadata, dict):
            return
        for key in _DROPPED_METADATA:
            metadata.pop(key, None)
        if "namespace" in metadata:
            metadata["namespace"] = self.r.name(metadata["namespace"], "ns")
        if "name" in metadata:
            metadata["name"] = self.r.name(metadata["name"], role)
        if "generateName" in metadata:
            metadata["generateName"] = str(self.r.name(str(metadata["generateName"]).rstrip("-"))) + "-"
        metadata["labels"] = self.r.labels(metadata.get("labels")) if "labels" in metadata else None
        if metadata["labels"] is None:
            metadata.pop("labels")
        annotations = metadata.get("annotations")
        if isinstance(annotations, dict):
            kept = {key: value for key, value in annotations.items() if _functional_annotation(key)}
            if kept:
                metadata["annotations"] = kept
            else:
                metadata.pop("annotations")
        for reference in metadata.get("ownerReferences") or []:
            if isinstance(reference, dict):
                reference["name"] = self.r.name(reference.get("name"))

    def pod_spec(self, spec: Any) -> None:
        if not isinstance(spec, dict):
            return
        for key in ("nodeName", "serviceAccountName", "serviceAccount", "hostname", "subdomain"):
            if key in spec:
                spec[key] = self.r.name(spec[key], "node" if key == "nodeName" else "name")
        spec.pop("imagePullSecrets", None)
        for group in ("containers", "initContainers", "ephemeralContainers"):
            for container in spec.get(group) or []:
                if not isinstance(container, dict):
                    continue
                container["image"] = self.r.name(container.get("image"), "image")
                container["name"] = self.r.name(container.get("name"), "container")
                for key in ("envFrom", "lifecycle"):
                    container.pop(key, None)
                for key in ("command", "args"):
                    if isinstance(container.get(key), list):
                        container[key] = [self.r.value(item) for item in container[key]]
                for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
                    handler = container.get(probe)
                    if isinstance(handler, dict) and isinstance(handler.get("exec"), dict):
                        handler["exec"] = {"command": ["redacted"]}
                for variable in container.get("env") or []:
                    if isinstance(variable, dict):
                        variable.pop("valueFrom", None)
                        if "value" in variable:
                            variable["value"] = self.r.value(variable["value"])
        volumes = []
        for volume in spec.get("volumes") or []:
            if isinstance(volume, dict):
                volumes.append({"name": volume.get("name")})
        if "volumes" in spec:
            spec["volumes"] = volumes

    def template(self, template: Any) -> None:
        if isinstance(template, dict):
            self.metadata(template)
            self.pod_spec(template.get("spec"))


def redact_objects(objects: Iterable[Obj], key: bytes | None = None, redactor: Redactor | None = None) -> list[Obj]:
    """A redacted deep copy of ``objects`` (consistent pseudonyms throughout).

    Pass a ``redactor`` to learn the pseudonyms afterwards (``redactor.names``, ``redactor.ip``).
    """
    redactor = redactor or Redactor(key)
    objects = [copy.deepcopy(obj) for obj in objects]
    walker = _ObjectRedactor(redactor)
    # Parents first, so that generated child names keep their tail after the parent's pseudonym.
    order = {"Namespace": 0, "Node": 1, "Service": 2, "Deployment": 3, "StatefulSet": 3, "DaemonSet": 3,
             "CronJob": 3, "ReplicaSet": 4, "Job": 4, "Pod": 5}
    handlers: dict[str, Callable[[Obj], None]] = {
        "Node": lambda o: _node(o, walker), "Service": lambda o: _service(o, walker),
        "EndpointSlice": lambda o: _endpoint_slice(o, walker), "Endpoints": lambda o: _endpoints(o, walker),
        "Pod": lambda o: _pod(o, walker), "NetworkPolicy": lambda o: _network_policy(o, walker),
        "Ingress": lambda o: _ingress(o, walker), "Event": lambda o: _event(o, walker),
        "ConfigMap": lambda o: _config_map(o, walker),
        "AdminNetworkPolicy": lambda o: _admin_policy(o, walker),
        "BaselineAdminNetworkPolicy": lambda o: _admin_policy(o, walker),
        "ClusterNetworkPolicy": lambda o: _admin_policy(o, walker),
        "CiliumNetworkPolicy": lambda o: _cilium_policy(o, walker),
        "CiliumClusterwideNetworkPolicy": lambda o: _cilium_policy(o, walker),
    }
    for obj in sorted(objects, key=lambda o: order.get(str(o.get("kind")), 9)):
        kind = str(obj.get("kind") or "")
        if obj.get("apiVersion") == "svcdoctor.dev/v1":
            continue
        walker.metadata(obj, {"Namespace": "ns", "Node": "node"}.get(kind, "name"))
        handler = handlers.get(kind)
        if handler is not None:
            handler(obj)
        elif kind in ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "ReplicationController"):
            _workload(obj, walker)
        elif kind == "CronJob":
            job_template = (obj.get("spec") or {}).get("jobTemplate") or {}
            walker.metadata(job_template)
            _workload(job_template, walker)
    result = []
    for obj in objects:
        if obj.get("apiVersion") == "svcdoctor.dev/v1":
            result.append(_evidence(obj, redactor))
        else:
            result.append(_walk_ips(obj, redactor))
    for obj in result:
        _messages(obj, redactor)
    return result


def _workload(obj: Obj, walker: _ObjectRedactor) -> None:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    spec["selector"] = walker.r.label_selector(spec.get("selector")) if isinstance(spec.get("selector"), dict) \
        else walker.r.labels(spec.get("selector"))
    if "serviceName" in spec:
        spec["serviceName"] = walker.r.name(spec["serviceName"])
    walker.template(spec.get("template"))


def _pod(obj: Obj, walker: _ObjectRedactor) -> None:
    walker.pod_spec(obj.get("spec"))
    status = obj.get("status")
    if isinstance(status, dict):
        for container_status in (status.get("containerStatuses") or []) + (status.get("initContainerStatuses") or []):
            if isinstance(container_status, dict):
                container_status["image"] = walker.r.name(container_status.get("image"), "image")
                container_status["name"] = walker.r.name(container_status.get("name"), "container")
                container_status.pop("imageID", None)
                container_status.pop("containerID", None)


def _node(obj: Obj, walker: _ObjectRedactor) -> None:
    spec = obj.get("spec")
    if isinstance(spec, dict):
        spec.pop("providerID", None)
    status = obj.get("status")
    if isinstance(status, dict):
        status.pop("images", None)
        info = status.get("nodeInfo")
        if isinstance(info, dict):
            for key in ("machineID", "systemUUID", "bootID"):
                info.pop(key, None)
        for address in status.get("addresses") or []:
            if isinstance(address, dict) and address.get("type") in ("Hostname", "InternalDNS", "ExternalDNS"):
                address["address"] = walker.r.name(address.get("address"), "host")


def _service(obj: Obj, walker: _ObjectRedactor) -> None:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    if isinstance(spec.get("selector"), dict):
        spec["selector"] = walker.r.labels(spec["selector"])
    if "externalName" in spec:
        spec["externalName"] = walker.r.name(spec["externalName"], "host")
    status = obj.get("status")
    for ingress in ((status or {}).get("loadBalancer") or {}).get("ingress") or [] if isinstance(status, dict) else []:
        if isinstance(ingress, dict) and "hostname" in ingress:
            ingress["hostname"] = walker.r.name(ingress["hostname"], "host")


def _target_ref(reference: Any, walker: _ObjectRedactor) -> None:
    if isinstance(reference, dict):
        for key in ("name", "namespace"):
            if key in reference:
                reference[key] = walker.r.name(reference[key], "ns" if key == "namespace" else "name")


def _endpoint_slice(obj: Obj, walker: _ObjectRedactor) -> None:
    for endpoint in obj.get("endpoints") or []:
        if not isinstance(endpoint, dict):
            continue
        _target_ref(endpoint.get("targetRef"), walker)
        for key in ("nodeName", "hostname"):
            if key in endpoint:
                endpoint[key] = walker.r.name(endpoint[key], "node" if key == "nodeName" else "name")


def _endpoints(obj: Obj, walker: _ObjectRedactor) -> None:
    for subset in obj.get("subsets") or []:
        if not isinstance(subset, dict):
            continue
        for group in ("addresses", "notReadyAddresses"):
            for address in subset.get(group) or []:
                if isinstance(address, dict):
                    _target_ref(address.get("targetRef"), walker)
                    for key in ("nodeName", "hostname"):
                        if key in address:
                            address[key] = walker.r.name(address[key], "node" if key == "nodeName" else "name")


def _network_policy(obj: Obj, walker: _ObjectRedactor) -> None:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    spec["podSelector"] = walker.r.label_selector(spec.get("podSelector"))
    for direction, peers_key in (("ingress", "from"), ("egress", "to")):
        for rule in spec.get(direction) or []:
            if not isinstance(rule, dict):
                continue
            for peer in rule.get(peers_key) or []:
                if isinstance(peer, dict):
                    for key in ("podSelector", "namespaceSelector"):
                        if key in peer:
                            peer[key] = walker.r.label_selector(peer[key])


def _admin_selectors(value: Any, walker: _ObjectRedactor) -> None:
    """An admin policy's subject or peer: ``namespaces`` / ``nodes`` selectors, ``pods`` pairs."""
    if not isinstance(value, dict):
        return
    for key in ("namespaces", "nodes"):
        if key in value:
            value[key] = walker.r.label_selector(value[key])
    pods = value.get("pods")
    if isinstance(pods, dict):
        for key in ("namespaceSelector", "podSelector"):
            if key in pods:
                pods[key] = walker.r.label_selector(pods[key])


def _admin_policy(obj: Obj, walker: _ObjectRedactor) -> None:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    _admin_selectors(spec.get("subject"), walker)
    for direction, peers_key in (("ingress", "from"), ("egress", "to")):
        for rule in spec.get(direction) or []:
            if isinstance(rule, dict):
                rule["name"] = walker.r.text(rule.get("name"))
                for peer in rule.get(peers_key) or []:
                    _admin_selectors(peer, walker)
                if rule.get("domainNames"):
                    rule["domainNames"] = ["redacted" for _ in rule["domainNames"]]


def _cilium_selector(selector: Any, walker: _ObjectRedactor) -> Any:
    """A Cilium endpoint selector: keys may carry ``k8s:``; the namespace key holds a namespace name."""
    if not isinstance(selector, dict):
        return selector

    def value_of(key: str, value: Any) -> Any:
        bare = key.split(":", 1)[1] if key.split(":", 1)[0] in ("k8s", "any") and ":" in key else key
        if bare == "io.kubernetes.pod.namespace":
            return walker.r.name(value, "ns")
        return walker.r.label_value(bare, value)

    result = dict(selector)
    if isinstance(selector.get("matchLabels"), dict):
        result["matchLabels"] = {k: value_of(str(k), v) for k, v in selector["matchLabels"].items()}
    if isinstance(selector.get("matchExpressions"), list):
        result["matchExpressions"] = [
            {**e, "values": [value_of(str(e.get("key") or ""), v) for v in e.get("values") or []]}
            if isinstance(e, dict) else e for e in selector["matchExpressions"]]
    return result


def _cilium_policy(obj: Obj, walker: _ObjectRedactor) -> None:
    rules = [obj.get("spec"), *(obj.get("specs") or [])]
    for rule in rules:
        if not isinstance(rule, dict):
            continue
        rule.pop("description", None)
        for key in ("endpointSelector", "nodeSelector"):
            if key in rule:
                rule[key] = _cilium_selector(rule[key], walker)
        for section in ("ingress", "ingressDeny", "egress", "egressDeny"):
            for entry in rule.get(section) or []:
                if not isinstance(entry, dict):
                    continue
                for key in ("fromEndpoints", "toEndpoints", "fromRequires", "toRequires", "fromNodes", "toNodes"):
                    if isinstance(entry.get(key), list):
                        entry[key] = [_cilium_selector(item, walker) for item in entry[key]]
                for port in entry.get("toPorts") or []:
                    if isinstance(port, dict) and port.get("rules"):
                        port["rules"] = {kind: "redacted" for kind in port["rules"]}
                if entry.get("toFQDNs"):
                    entry["toFQDNs"] = [{"matchName": "redacted"} for _ in entry["toFQDNs"]]
    obj.pop("description", None)


def _ingress(obj: Obj, walker: _ObjectRedactor) -> None:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return

    def backend(value: Any) -> None:
        if isinstance(value, dict):
            service = value.get("service")
            if isinstance(service, dict) and "name" in service:
                service["name"] = walker.r.name(service["name"])
            if "serviceName" in value:
                value["serviceName"] = walker.r.name(value["serviceName"])

    backend(spec.get("defaultBackend"))
    backend(spec.get("backend"))
    for rule in spec.get("rules") or []:
        if isinstance(rule, dict):
            if "host" in rule:
                rule["host"] = walker.r.name(rule["host"], "host")
            for path in ((rule.get("http") or {}).get("paths") or []):
                if isinstance(path, dict):
                    backend(path.get("backend"))
    for tls in spec.get("tls") or []:
        if isinstance(tls, dict):
            tls["hosts"] = [walker.r.name(h, "host") for h in tls.get("hosts") or []]
            if "secretName" in tls:
                tls["secretName"] = walker.r.name(tls["secretName"])


def _event(obj: Obj, walker: _ObjectRedactor) -> None:
    for key in ("involvedObject", "regarding", "related"):
        _target_ref(obj.get(key), walker)
    source = obj.get("source")
    if isinstance(source, dict) and "host" in source:
        source["host"] = walker.r.name(source["host"], "node")
    for key in ("reportingInstance",):
        if key in obj:
            obj[key] = walker.r.name(obj[key], "node")


def _config_map(obj: Obj, walker: _ObjectRedactor) -> None:
    # Only the coredns Corefile is ever read; its domains and upstreams may be private.
    data = obj.get("data")
    if isinstance(data, dict):
        obj["data"] = {key: walker.r.text(value) for key, value in data.items()}


_CHAIN = re.compile(r"\b(KUBE-(?:SVC|SEP|FW|XLB|EXT|SVL|EXT)-)([A-Z0-9]{16})\b")
_NFT_CHAIN = re.compile(r"\b((?:service|endpoint|external|firewall|cluster-ip|nodeport)-)([A-Z0-9]{8})-")
_NFT_SERVICE = re.compile(r"(?<![a-z0-9.])([a-z0-9][a-z0-9.-]*)/([a-z0-9][a-z0-9.-]*)/(tcp|udp|sctp)/")
_COMMENT = re.compile(r'((?:--)?comment\s+)("[^"]*"|[^\s"-]\S*)')


def _rules(text: Any, redactor: Redactor) -> Any:
    """Rule dumps: addresses, names inside rule comments, and kube-proxy's hashed chain names.

    Only comments get name replacement: a rule's own words (``tcp``, ``dport``) must survive even
    if an object shares their name. Chain names are hashes of ``namespace/name:port``; they are
    re-hashed with the file's key so they cannot be matched against guessed names.
    """
    if not isinstance(text, str):
        return text
    text = _IPV4.sub(lambda m: redactor.ip(m.group(0)), text)
    text = _COMMENT.sub(lambda m: m.group(1) + redactor.text(m.group(2)), text)

    def chain(match: re.Match[str]) -> str:
        return match.group(1) + _rehash(match.group(2), redactor, 16)

    text = _CHAIN.sub(chain, text)
    # nftables mode names its chains "service-HASH-namespace/name/tcp/port".
    text = _NFT_CHAIN.sub(lambda m: m.group(1) + _rehash(m.group(2), redactor, len(m.group(2))) + "-", text)
    return _NFT_SERVICE.sub(lambda m: f"{redactor.text(m.group(1))}/{redactor.text(m.group(2))}/{m.group(3)}/", text)


def _rehash(value: str, redactor: Redactor, length: int) -> str:
    digest = hashlib.blake2b(value.encode(), key=redactor.key, digest_size=32).digest()
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    return "".join(alphabet[b % 32] for b in digest)[:length]


def _evidence(obj: Obj, redactor: Redactor) -> Obj:
    kind = obj.get("kind")
    if kind == "NodeDump":
        metadata = obj.get("metadata")
        if isinstance(metadata, dict) and "name" in metadata:
            metadata["name"] = redactor.name(metadata["name"], "node")
        for key in ("iptablesSave", "ip6tablesSave", "nftRuleset", "ipvsadm"):
            if key in obj:
                obj[key] = _rules(obj[key], redactor)
        return obj
    if kind in ("DNSAnswer", "ProbeResult"):
        query = obj.get("query")
        if isinstance(query, dict) and "name" in query:
            query["name"] = redactor.text(query["name"])
        target = obj.get("to")
        if isinstance(target, dict):
            target["ip"] = redactor.ip(target.get("ip"))
            if "object" in target:
                target["object"] = redactor.text(target["object"])
        for key in ("from", "server"):
            if key in obj:
                obj[key] = redactor.text(obj[key])
        answers = []
        for answer in obj.get("answers") or []:
            if isinstance(answer, dict):
                answer = {**answer, "value": redactor.text(answer.get("value"))}
            else:
                answer = redactor.ip(answer) if _is_ip(str(answer)) else redactor.text(answer)
            answers.append(answer)
        if "answers" in obj:
            obj["answers"] = answers
        return obj
    if kind == "SnapshotInfo":
        obj["context"] = "redacted"
        obj["redacted"] = True
        for item in obj.get("unavailable") or []:
            if isinstance(item, dict) and item.get("namespace"):
                item["namespace"] = redactor.name(item["namespace"], "ns")
                item["reason"] = redactor.text(item.get("reason"))
    return obj


def _messages(obj: Any, redactor: Redactor) -> None:
    """Names and addresses inside free-text fields (messages, notes)."""
    if isinstance(obj, dict):
        for key, value in obj.items():
            if key in ("message", "note", "fieldPath") and isinstance(value, str):
                obj[key] = redactor.text(value)
            elif isinstance(value, dict | list):
                _messages(value, redactor)
    elif isinstance(obj, list):
        for item in obj:
            _messages(item, redactor)
