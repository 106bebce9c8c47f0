"""``record --redact`` and ``svcdoctor redact``: a snapshot safe to attach to a public bug report.

Redaction works by allowlist, after :func:`svcdoctor.minimal.minimal` has dropped what no check
reads. Every string of every object is classified by the field that holds it:

- **kept as is** — what the checks compare: kinds and API versions, enum fields (``type``,
  ``phase``, ``reason``, ``protocol``, ``operator`` …), timestamps, ports and port names, label
  *keys*, the annotations a check reads (:data:`ANNOTATIONS_READ`), the kube-system names the
  checks look for (:data:`KEEP`) and well-known values such as ``true`` (:data:`PLAIN_VALUES`);
- **pseudonymised** — names, namespaces, label values, host names and UIDs get consistent
  pseudonyms (the same string becomes the same pseudonym everywhere, so selectors still match and
  references still resolve; a generated tail is kept after its parent's pseudonym, so a Pod still
  reads as its ReplicaSet's child), and IPv4/IPv6 addresses and CIDRs are mapped
  prefix-preservingly (the Crypto-PAn idea, keyed per file), so a Pod IP stays inside its node's
  podCIDR and an ``ipBlock`` keeps its meaning. A pseudonym stays in the kind of range its address
  came from (:data:`KEPT_RANGES`: private, benchmark, multicast; only the bits below the range's
  prefix are mapped), and every other address — public ones among them — lands in
  :data:`PUBLIC_HOMES` (``100.64.0.0/10``, ``2001:db8::/32``), so no pseudonym is somebody's real
  public address; and no address is its own pseudonym;
- **structured text** — a Corefile keeps its syntax (directives, options, braces, numbers and
  durations; zones and hosts get pseudonyms, addresses are mapped), and the API server's
  "forbidden" message keeps its words (the user's names get pseudonyms);
- **free text** — messages, ConfigMap data the checks read, rule dumps, everything not named
  above: known names and every address are replaced, words from a fixed vocabulary of Kubernetes
  and networking terms (:data:`VOCABULARY`), short numbers and punctuation stay, and every other
  word becomes ``x``;
- **dropped** — annotations not read, provider and machine IDs, node images, host aliases, DNS
  search domains, volume sources, probe ``exec`` commands, HTTP headers and paths.

The key is random per run: the same input gives the same pseudonym within a file, never across
files, so pseudonyms cannot be looked up by hashing guesses. :meth:`Redactor.mapping` is the
original → pseudonym table, for the person who redacted (``--redact-map``), never for the file.
"""

from __future__ import annotations

import copy
import hashlib
import ipaddress
import re
import secrets
from collections.abc import Iterable, Mapping
from typing import Any

from svcdoctor.minimal import minimal
from svcdoctor.snapshot import DUMP_TEXTS

Obj = dict[str, Any]

#: Names that carry meaning to the checks and reveal nothing about the cluster.
KEEP = frozenset({
    "kube-system", "kube-public", "kube-node-lease", "kube-flannel", "default", "kube-dns", "coredns", "kube-proxy",
    "kubernetes", "cluster.local", "rke2-coredns-rke2-coredns", "coredns-coredns", "kubelet-config", "cilium-config",
    "antrea-config", "kube-flannel-cfg", "calico-config", "kube-router-cfg", "default-scheduler", "kubelet",
    "Corefile",
    # what SD807 and SD703 recognise: flannel (its CNI type, DaemonSet, hairpin key), NodeLocal DNSCache,
    # the CNIs without a hairpin switch
    "flannel", "kube-flannel-ds", "hairpinMode", "node-local-dns", "kube-dns-upstream", "calico-node", "cilium",
})
#: Label and setting values that are the same in every cluster and that checks compare against.
PLAIN_VALUES = frozenset({
    "true", "false", "yes", "no", "on", "off", "enabled", "disabled", "strict", "partial", "none", "auto", "Auto",
    "iptables", "ipvs", "nftables", "tcp", "udp", "sctp", "TCP", "UDP", "SCTP", "http", "https", "grpc",
    "linux", "windows", "amd64", "arm64", "Exists", "Equal", "None",
})
#: Label keys whose values are generic (topology, OS, controller identities) and kept as they are.
KEEP_VALUE_KEYS = ("topology.kubernetes.io/", "kubernetes.io/os", "kubernetes.io/arch", "node-role.kubernetes.io/",
                   "node.kubernetes.io/instance-type", "endpointslice.kubernetes.io/managed-by",
                   "pod-template-hash", "pod-template-generation", "service.kubernetes.io/headless",
                   "statefulset.kubernetes.io/pod-name-ordinal", "app.kubernetes.io/managed-by")
#: Annotations a check reads (their values are settings, not secrets); every other one is dropped.
ANNOTATIONS_READ = frozenset({
    "service.kubernetes.io/topology-mode", "service.kubernetes.io/topology-aware-hints",
    "endpoints.kubernetes.io/over-capacity", "service.alpha.kubernetes.io/tolerate-unready-endpoints",
    "deployment.kubernetes.io/revision",
})
#: Annotation prefixes that are svcdoctor's own (suppressions, manifest stand-ins).
ANNOTATION_PREFIXES_READ = ("svcdoctor.dev/",)
#: Words free text keeps: the vocabulary of kubelet, controller and CoreDNS messages and settings.
VOCABULARY = frozenset("""
a about above access accepted action active add added address addresses affinity after agent all allocate
allowed already an and any api apps are arpa as assigned at attach attempt auto available back back-off backoff
bad be been before being binding body bound but by cache call can cancelled cannot capacity certificate change
check claim class cluster code completed condition conditions config configmap configured conflict connect
connection container containers context cpu crashloopbackoff create created creating current daemonset dead
deadline default delete deleted deleting denied deployment desired did didn't dial disk dns do does done down
drop dropped due during e ephemeral endpoint endpoints endpointslice ensure ensuring err error errimagepull
errors event events exceeded exec exist existing exists exit exited expected external fail failed failedcreate
failedmount failedscheduling failure fall fallthrough false field file finished firewall for forbidden forward
found free from get got grpc had handler has have head health healthy hint hints host hostport hour hours http
https i/o if image imagepullbackoff in in-addr init initialized insecure insufficient internal invalid io ip
ip6 ipv4 ipv6 ipvs is it its job key kill killed killing kubernetes lameduck last limit listen liveness load
loadbalance loadbalancer local log loop match matched max memory message minute minutes missing more mount
mounted name namespace net network no node nodes none not notready now nxdomain of off ok on one oom oomkilled
or other out overlap pending persistentvolumeclaim plugin pod pod's pods policy port ports preemption prefer
probe prometheus protocol provision pull pulled pulling quota reach ready readiness reason reconcile refused
reload remote request requested required reset resolv resource restart restarted restarting result retry
returned rollout route rule rules running s sandbox scale scaled scheduled scheduler scheduling second seconds
secret selector server service services set set-up setup should since size skip some source start started
startup state status statuscode stopped succeeded success successfully sync synced taint taints tcp that the
their them then there this timed timeout to too topology true ttl type udp unable unavailable unhealthy unknown
unready unreachable unschedulable untolerated up update updated upstream use used using v1 valid value volume
volumes waiting want warning was watch when which while will with without would zone zones
autopath backend bind capabilities clustercidr clusterdomain cniversion conf delegate etc flannel hairpinmode
hosts host-gw isdefaultgateway kube mode net-conf plugins portmap portmappings proxy proxyall replacement
rewrite stub template type vxlan whoami json yaml kind apiversion ipv4 mtu bridge ipam subnet routes dst
masked postgres postgresql mysql redis mongodb amqp kafka nats tls ssl
""".split())  # noqa: SIM905 (a word list reads best as words)
#: DNS labels that are the same in every cluster.
DNS_WORDS = frozenset({"svc", "pod", "cluster", "local", "arpa", "in-addr", "ip6"})
_GENERATED_TAIL = re.compile(r"^(?:[bcdfghjklmnpqrstvwxz2456789]{4,10}|\d+)$")
_IPV4 = re.compile(r"(?<![\d.])\d{1,3}(?:\.\d{1,3}){3}(?:/\d{1,2})?(?!\d|\.\d)")
_IPV6 = re.compile(r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?:/\d{1,3})?(?![\w:])")
_WORD = re.compile(r"(?<![\w./-])--?[A-Za-z][A-Za-z0-9-]*(?==)|[A-Za-z0-9][A-Za-z0-9._'-]*[A-Za-z0-9]|[A-Za-z0-9]")
_ENUM = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-_][A-Za-z0-9]+)*")
_TEXT = re.compile(f"(?P<v6>{_IPV6.pattern})|(?P<v4>{_IPV4.pattern})|(?P<word>{_WORD.pattern})")
_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)")
#: The kubelet's discovery variables: ``<NAME>_SERVICE_HOST``, ``<NAME>_SERVICE_PORT…``, ``<NAME>_PORT…``
#: (``NAME`` a Service's name upper-cased, ``-`` as ``_``; SD706 reads them).
_DISCOVERY = re.compile(r"(?<![A-Za-z0-9_])([A-Z][A-Z0-9_]*?)_(?=(?:SERVICE_HOST|SERVICE_PORT|PORT)(?![A-Za-z0-9]))")

#: Fields whose value is an identifier of the cluster's (pseudonymised wherever it appears).
NAME_FIELDS = frozenset({
    "name", "namespace", "generateName", "nodeName", "serviceName", "serviceAccountName", "serviceAccount",
    "hostname", "subdomain", "secretName", "claimName", "priorityClassName", "nominatedNodeName", "uid",
    "host", "externalName", "reportingInstance", "container", "image", "controller-uid", "podName",
    "currentRevision", "updateRevision", "clusterName", "storageClassName", "volumeName", "runtimeClassName",
    "sectionName", "gatewayClassName",
})
#: Fields whose value is an enum, a setting, a number in a string or a time: kept as it is.
VERBATIM_FIELDS = frozenset({
    "kind", "apiVersion", "type", "status", "phase", "reason", "protocol", "operator", "effect", "key",
    "tier", "from", "fromEntities", "toEntities", "group", "controllerName", "namedPort", "destinationNamedPort",
    "policyTypes", "sessionAffinity", "externalTrafficPolicy", "internalTrafficPolicy", "ipFamilies",
    "ipFamilyPolicy", "dnsPolicy", "restartPolicy", "addressType", "appProtocol", "scheme", "port",
    "targetPort", "containerPort", "hostPort", "nodePort", "endPort", "resourceVersion", "qosClass",
    "imagePullPolicy", "terminationMessagePolicy", "preemptionPolicy", "schedulerName", "action",
    "reportingController", "reportingComponent", "component", "fieldPath", "whenUnsatisfiable",
    "topologyKey", "podManagementPolicy", "concurrencyPolicy", "completionMode", "allocateLoadBalancerNodePorts",
    "loadBalancerClass", "ingressClassName", "pathType", "maxSurge", "maxUnavailable", "ipMode",
    "architecture", "operatingSystem", "kubeletVersion", "kubeProxyVersion", "containerRuntimeVersion",
    "cpu", "memory", "pods", "ephemeral-storage", "clusterDomain", "verb", "resource", "rcode", "zone",
    "trafficDistribution", "nodeAffinityPolicy",
    "nodeTaintsPolicy", "updateStrategy", "result",
})
#: Fields dropped wherever they are: identities of machines and accounts, places, secrets' homes.
DROPPED_FIELDS = frozenset({
    "managedFields", "selfLink", "providerID", "images", "machineID", "systemUUID", "bootID", "imageID",
    "containerID", "hostAliases", "searches", "httpHeaders", "path", "imagePullSecrets", "envFrom", "lifecycle",
    "terminationMessagePath", "volumeMounts", "volumeDevices", "workingDir", "securityContext", "kernelVersion",
    "osImage", "binaryData", "externalID", "podCIDRRef", "config", "daemonEndpoints", "volumesInUse",
    "volumesAttached", "finalizers", "resourceClaims", "hostIPC", "emptyDir",
})
#: Maps whose keys are label keys and whose values are label values.
LABEL_MAPS = frozenset({"labels", "matchLabels", "nodeSelector"})
#: Fields holding an address (or a CIDR), or a host name where the address is a name.
ADDRESS_FIELDS = frozenset({
    "ip", "podIP", "hostIP", "clusterIP", "loadBalancerIP", "cidr", "except", "podCIDR", "podCIDRs", "clusterIPs",
    "externalIPs", "addresses", "address", "nameservers", "loadBalancerSourceRanges", "serviceCIDR",
    "networks", "fromCIDR", "toCIDR",
})


#: Ranges whose addresses keep the range: only the bits below its prefix are mapped (private,
#: benchmark, link-local, documentation, multicast, reserved).
KEPT_RANGES = tuple(ipaddress.ip_network(cidr) for cidr in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "198.18.0.0/15", "169.254.0.0/16", "192.0.2.0/24",
    "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4", "fc00::/7", "fe80::/10", "ff00::/8"))
#: Where every other address (public, shared 100.64/10, IPv6 global) lands, its bits below the home's
#: prefix mapped: relations between such addresses hold for prefixes at least as long as the home's.
PUBLIC_HOMES = {4: ipaddress.ip_network("100.64.0.0/10"), 6: ipaddress.ip_network("2001:db8::/32")}
_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Redactor:
    """The pseudonym map and the address key of one redacted file."""

    def __init__(self, key: bytes | None = None) -> None:
        self.key = key or secrets.token_bytes(16)
        self.names: dict[str, str] = {}
        self._counters: dict[str, int] = {}
        self._bits: dict[str, int] = {}
        self._pseudonyms: set[str] = set()

    # -- identifiers ------------------------------------------------------------------------------

    def name(self, value: Any, role: str = "name") -> Any:
        """The pseudonym of an identifier (created on first sight); kept names stay."""
        if not isinstance(value, str) or not value or value in KEEP or value in self._pseudonyms:
            return value
        if value in self.names:
            return self.names[value]
        pseudonym = self._derived(value)
        if pseudonym is None:
            if _is_ip(value):
                pseudonym = self.ip(value)
            elif "." in value and role in ("host", "image"):
                pseudonym = ".".join(part if part in DNS_WORDS or part.isdigit() or not part
                                     else str(self.name(part, "host")) for part in value.split("."))
            else:
                count = self._counters.get(role, 0) + 1
                self._counters[role] = count
                pseudonym = f"{role}-{count}"
        self.names[value] = pseudonym
        self._pseudonyms.add(pseudonym)
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
        if not isinstance(value, str) or value in PLAIN_VALUES or value == "" or (value.isdigit() and len(value) <= 5):
            return value
        if any(key == keep or (keep.endswith("/") and key.startswith(keep)) for keep in KEEP_VALUE_KEYS):
            return value
        if key == "kubernetes.io/metadata.name" or key.split(":", 1)[-1] == "io.kubernetes.pod.namespace":
            return self.name(value, "ns")  # Cilium selectors name a namespace under this key (k8s:…)
        return self.name(value)

    def labels(self, labels: Any) -> Any:
        if not isinstance(labels, dict):
            return labels
        return {key: self.label_value(str(key), value) for key, value in labels.items()}

    def mapping(self) -> dict[str, str]:
        """Original → pseudonym for every name seen (addresses are mapped by key, not listed)."""
        return dict(sorted(self.names.items()))

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
        if parsed.is_loopback or parsed.is_unspecified:
            return value
        width = parsed.max_prefixlen
        number = int(parsed)
        kept = next((network for network in KEPT_RANGES if parsed in network), None)
        home = kept or PUBLIC_HOMES[parsed.version]
        length = int(prefix) if slash and prefix.isdigit() else width
        if length < home.prefixlen:
            # A CIDR wider than the range: kept when it reaches into a kept range (0.0.0.0/1 says nothing),
            # else the public home itself, which holds every public address's pseudonym.
            network = ipaddress.ip_network(f"{address}/{length}", strict=False)
            if kept or any(network.overlaps(other) for other in KEPT_RANGES if other.version == parsed.version):
                return value
            return str(home)
        mapped = int(home.network_address)
        for position in range(home.prefixlen, width):
            bit = (number >> (width - 1 - position)) & 1
            # The first mapped bit always flips: no address is its own pseudonym (a /24 has only 8 bits).
            flip = 1 if position == home.prefixlen else self._flip(parsed.version, number >> (width - position),
                                                                   position)
            mapped |= (bit ^ flip) << (width - 1 - position)
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

    def addresses(self, text: str) -> str:
        """``text`` with every IPv4 and IPv6 address (or CIDR) in it mapped."""
        text = _IPV4.sub(lambda m: str(self.ip(m.group(0))), text)
        return _IPV6.sub(lambda m: str(self.ip(m.group(0))) if _is_ip(m.group(0)) else m.group(0), text)

    # -- free text --------------------------------------------------------------------------------

    def text(self, value: Any) -> Any:
        """Free text: addresses mapped, known names replaced, vocabulary kept, other words ``x``;
        a discovery variable of a known Service (``LEDGER_SERVICE_HOST``) names its pseudonym."""
        if not isinstance(value, str) or not value:
            return value
        pieces = _DISCOVERY.split(value)
        if len(pieces) == 1:
            return _TEXT.sub(self._piece, value)
        result = []
        for index, piece in enumerate(pieces):
            if index % 2:
                result.append(self.variable_prefix(piece) + "_")
            else:
                # what follows a prefix starts with the variable's own words (SERVICE_HOST, PORT_80_TCP)
                words = re.match(r"[A-Z0-9_]*", piece) if index else None
                head = words.group(0) if words else ""
                result.append(head + _TEXT.sub(self._piece, piece[len(head):]))
        return "".join(result)

    def variable_prefix(self, prefix: str) -> str:
        """A discovery variable's Service part, for the Service's pseudonym (unknown names: ``X``)."""
        name = prefix.lower().replace("_", "-")
        if name in self.names or name in self._pseudonyms or name in KEEP:
            return str(self.name(name)).upper().replace("-", "_")
        return "X"

    def variable(self, name: str) -> str:
        """An environment variable's name: kept, unless it is a Service's discovery variable."""
        return _DISCOVERY.sub(lambda m: self.variable_prefix(m.group(1)) + "_", name)

    def _piece(self, match: re.Match[str]) -> str:
        piece = match.group(0)
        if match.lastgroup == "word":
            return self._word(piece)
        if _is_ip(piece):
            return str(self.ip(piece))
        return _WORD.sub(lambda m: self._word(m.group(0)), piece)  # looked like IPv6, was not

    def _word(self, word: str) -> str:
        if word.startswith("-"):
            return word  # a flag's name (--mode=…): the setting follows, and is judged on its own
        if word in self._pseudonyms or _is_ip(word) or word in KEEP or word in PLAIN_VALUES:
            return word
        if word in self.names:
            return self.names[word]
        derived = self._derived(word)
        if derived is not None:
            return derived
        lower = word.lower()
        if lower in VOCABULARY or (word.isdigit() and len(word) <= 5) or _TIMESTAMP.fullmatch(word):
            return word
        stripped = lower.rstrip("s")
        if stripped in VOCABULARY:
            return word
        if "." in word or "'" in word:
            parts = re.split(r"([.'])", word)
            return "".join(part if part in (".", "'", "") else self._word(part) for part in parts)
        if "-" in word and all(part.lower() in VOCABULARY for part in word.split("-")):
            return word
        return "x"

    def value(self, value: Any) -> Any:
        """A command-line argument or environment value (already masked by minimal): free text."""
        return self.text(value)

    def corefile(self, value: Any) -> Any:
        """A CoreDNS Corefile with its syntax whole: each line's directive, the options and braces, numbers
        and durations stay; zones and hosts get pseudonyms (the cluster domain's everywhere), addresses are
        mapped, comments dropped — the checks read the ``kubernetes`` zones and CoreDNS must still parse it."""
        if not isinstance(value, str):
            return value
        lines = []
        for line in value.split("\n"):
            body = line.split("#", 1)[0].rstrip() if "#" in line else line
            pieces = re.split(r"(\s+)", body)
            words = [index for index, piece in enumerate(pieces) if piece and not piece.isspace()]
            for position, index in enumerate(words):
                pieces[index] = self._corefile_word(pieces[index], directive=position == 0 and "{" not in pieces[-1])
            lines.append("".join(pieces))
        return "\n".join(lines)

    def _corefile_word(self, word: str, directive: bool) -> str:
        if word in ("{", "}", ".") or _COREFILE_PLAIN.fullmatch(word):
            return word
        if directive and _COREFILE_KEYWORD.fullmatch(word):
            return word  # a plugin or option name: CoreDNS's vocabulary, not the cluster's
        if word.startswith("/"):
            return str(self.text(word))
        host, colon, port = word.rpartition(":") if _COREFILE_PORT.search(word) else (word, "", "")
        scheme = re.match(r"^[a-z]+://", host)
        head = scheme.group(0) if scheme else ""
        host = host[len(head):]
        if _is_ip(host) or _is_ip(host.strip("[]")):
            mapped = str(self.ip(host.strip("[]")))
            host = f"[{mapped}]" if host.startswith("[") else mapped
        elif host and host not in (".",) and not _COREFILE_KEYWORD.fullmatch(host):
            host = _dns_name(host, self)
        return f"{head}{host}{colon}{port}"

    def forbidden(self, value: Any) -> Any:
        """The API server's 403 text keeps its words — verb, resource, API group — and gives the user
        (``system:serviceaccount:NS:NAME``, a user or a group name) and the namespace their pseudonyms."""
        if not isinstance(value, str):
            return value
        match = _FORBIDDEN.search(value)
        if match is None:
            return self.text(value)
        user = match.group("user")
        parts = user.split(":")
        if len(parts) == 4 and parts[:2] == ["system", "serviceaccount"]:
            user = ":".join([*parts[:2], str(self.name(parts[2], "ns")), str(self.name(parts[3]))])
        elif not user.startswith("system:"):
            user = str(self.name(user, "user"))
        namespace = match.group("namespace")
        tail = f' in the namespace "{self.name(namespace, "ns")}"' if namespace else ""
        return (f"{self.text(value[:match.start()])}{match.group('who')} \"{user}\" cannot {match.group('verb')} "
                f"resource \"{match.group('resource')}\" in API group \"{match.group('group')}\"{tail}"
                f"{self.text(value[match.end():])}")


#: Corefile words that are CoreDNS's own: numbers, durations (``5s``), ports (``:53``), sizes.
_COREFILE_PLAIN = re.compile(r"\d+(?:\.\d+)?(?:ns|us|ms|s|m|h|k|K|M)?|:\d+|\.:\d+")
_COREFILE_KEYWORD = re.compile(r"[a-z][a-z0-9_]*")
_COREFILE_PORT = re.compile(r":\d+$")
#: The API server's 403 message (``User "…" cannot list resource "…" in API group "…" in the namespace "…"``).
_FORBIDDEN = re.compile(r'(?P<who>User|Group|ServiceAccount) "(?P<user>[^"]*)" cannot (?P<verb>[a-z]+) resource '
                        r'"(?P<resource>[a-z0-9.-]*)" in API group "(?P<group>[a-z0-9.-]*)"'
                        r'(?: in the namespace "(?P<namespace>[a-z0-9-]*)")?')


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value.partition("/")[0])
    except ValueError:
        return False
    return True


def _annotation_read(key: str) -> bool:
    return key in ANNOTATIONS_READ or key.startswith(ANNOTATION_PREFIXES_READ)


class _Walker:
    """Classifies every field of an API object by its name (see the module's documentation)."""

    def __init__(self, redactor: Redactor) -> None:
        self.r = redactor

    def object(self, obj: Obj) -> Obj:
        kind = str(obj.get("kind") or "")
        result = self.map(obj, kind)
        if kind == "ConfigMap" and isinstance(obj.get("data"), dict):
            result["data"] = {key: self.r.corefile(value) if key == "Corefile" else self.r.text(value)
                              for key, value in obj["data"].items()}
        return result

    def map(self, value: Mapping[str, Any], parent: str) -> Obj:
        result: Obj = {}
        for key, item in value.items():
            key = str(key)
            if key in DROPPED_FIELDS:
                continue
            if key == "annotations" and isinstance(item, dict):
                kept = {k: v for k, v in item.items() if _annotation_read(str(k))}
                if kept:
                    result[key] = kept
                continue
            if key in LABEL_MAPS or (key == "selector" and _is_string_map(item)):
                result[key] = self.r.labels(item)
                continue
            if key == "values" and isinstance(value.get("key"), str) and isinstance(item, list):
                label_key = str(value["key"])
                result[key] = [self.r.label_value(label_key, v) for v in item]
                continue
            if key == "exec" and isinstance(item, dict):
                result[key] = {"command": ["x"]}
                continue
            if key == "volumes" and isinstance(item, list):
                result[key] = [{"name": self.r.name(v.get("name"))} for v in item if isinstance(v, dict)]
                continue
            if key == "data" and parent == "ConfigMap":
                continue  # handled by object(), which knows it is ConfigMap data
            result[key] = self.field(key, item, parent)
        return result

    def field(self, key: str, item: Any, parent: str) -> Any:
        if isinstance(item, dict):
            return self.map(item, key)
        if isinstance(item, list):
            return [self.field(key, element, parent) for element in item]
        if not isinstance(item, str):
            return item
        if key == "name" and parent == "env":
            return self.r.variable(item)  # what config reads; a Service's discovery variable names it
        if key == "name" and parent in ("ports", "conditions", "readinessGates", "forZones"):
            return item  # port names are what targetPorts name
        if key == "key" and parent in ("secretKeyRef", "configMapKeyRef", "items"):
            return self.r.name(item)
        if key == "fieldPath":  # spec.containers{backend}: the container's name is in braces
            return re.sub(r"\{([^}]*)\}", lambda m: "{" + str(self.r.name(m.group(1))) + "}", item)
        if key in ADDRESS_FIELDS:
            if item in PLAIN_VALUES:
                return item
            return self.r.ip(item) if _is_ip(item) else self.r.name(item, "host")
        if key == "hostname" and parent == "listeners":
            return self.r.text(item)  # as a route's hostnames are, so that wildcards still intersect
        if key in NAME_FIELDS:
            role = {"namespace": "ns", "nodeName": "node", "host": "host", "hostname": "host",
                    "externalName": "host", "image": "image", "uid": "uid", "nominatedNodeName": "node",
                    "container": "container"}.get(key, "name")
            if key == "hostname" and parent != "ingress":
                role = "name"
            if key == "generateName":
                return str(self.r.name(item.rstrip("-"))) + "-"
            return self.r.name(item, role)
        if key in VERBATIM_FIELDS:
            if _is_ip(item):
                return self.r.ip(item)
            return item if _ENUM.fullmatch(item) or _TIMESTAMP.fullmatch(item) or item.isdigit() \
                or key in ("fieldPath", "kubeletVersion", "kubeProxyVersion", "containerRuntimeVersion", "group",
                           "controllerName",
                           "component", "reportingController", "reportingComponent", "cpu", "memory",
                           "ephemeral-storage", "pods", "apiVersion", "resourceVersion") \
                else self.r.text(item)
        if _TIMESTAMP.fullmatch(item):
            return item
        return self.r.text(item)


def _is_string_map(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(item, str) for item in value.values()) and \
        not ({"matchLabels", "matchExpressions"} & set(value))


def redact_objects(objects: Iterable[Mapping[str, Any]], key: bytes | None = None,
                   redactor: Redactor | None = None) -> list[Obj]:
    """A redacted, minimal copy of ``objects`` (consistent pseudonyms throughout).

    Pass a ``redactor`` to learn the pseudonyms afterwards (``redactor.names``, ``redactor.ip``).
    """
    redactor = redactor or Redactor(key)
    objects = minimal(objects)
    # Parents first, so that generated child names keep their tail after the parent's pseudonym.
    order = {"Namespace": 0, "Node": 1, "Service": 2, "Deployment": 3, "StatefulSet": 3, "DaemonSet": 3,
             "CronJob": 3, "ReplicaSet": 4, "Job": 4, "Pod": 5}
    for obj in sorted(objects, key=lambda o: order.get(str(o.get("kind")), 9)):
        metadata = obj.get("metadata")
        if isinstance(metadata, dict) and obj.get("apiVersion") != "svcdoctor.dev/v1":
            redactor.name(metadata.get("namespace"), "ns")
            kind = str(obj.get("kind") or "")
            redactor.name(metadata.get("name"), {"Namespace": "ns", "Node": "node"}.get(kind, "name"))
    _register_cluster_domain(objects, redactor)
    walker = _Walker(redactor)
    return [_evidence(copy.deepcopy(obj), redactor) if obj.get("apiVersion") == "svcdoctor.dev/v1"
            else walker.object(obj) for obj in objects]


def _register_cluster_domain(objects: list[Obj], redactor: Redactor) -> None:
    """A custom cluster domain gets its pseudonym before any text mentions it."""
    for obj in objects:
        if obj.get("kind") == "SnapshotInfo" and isinstance(obj.get("clusterDomain"), str):
            redactor.name(obj["clusterDomain"], "host")
        if obj.get("kind") == "ConfigMap":
            for value in (obj.get("data") or {}).values():
                for match in re.finditer(r"^\s*kubernetes\s+(\S+)", str(value), re.MULTILINE):
                    redactor.name(match.group(1).rstrip("."), "host")


_CHAIN = re.compile(r"\b(KUBE-(?:SVC|SEP|FW|XLB|EXT|SVL)-)([A-Z0-9]{16})\b")
_NFT_CHAIN = re.compile(r"\b((?:service|endpoint|external|firewall|cluster-ip|nodeport)-)([A-Z0-9]{8})-")
_NFT_SERVICE = re.compile(r"(?<![A-Za-z0-9.])([a-z0-9][a-z0-9.-]*)/([a-z0-9][a-z0-9.-]*)/(tcp|udp|sctp)/")
_COMMENT = re.compile(r'((?:--)?comment\s+)("[^"]*"|[^\s"-]\S*)')


def _rules(text: Any, redactor: Redactor) -> Any:
    """Rule dumps: addresses, names inside rule comments, and kube-proxy's hashed chain names.

    A rule's own words (``tcp``, ``dport``) must survive even if an object shares their name, so
    only comments and nft service names get name replacement. Chain names are hashes of
    ``namespace/name:port``; they are re-hashed with the file's key so they cannot be matched
    against guessed names.
    """
    if not isinstance(text, str):
        return text
    text = redactor.addresses(text)
    text = _COMMENT.sub(lambda m: m.group(1) + _comment(m.group(2), redactor), text)
    text = _CHAIN.sub(lambda m: m.group(1) + _rehash(m.group(2), redactor, 16), text)
    text = _NFT_CHAIN.sub(lambda m: m.group(1) + _rehash(m.group(2), redactor, len(m.group(2))) + "-", text)
    return _NFT_SERVICE.sub(lambda m: f"{_comment(m.group(1), redactor)}/{_comment(m.group(2), redactor)}"
                                      f"/{m.group(3)}/", text)


def _comment(text: str, redactor: Redactor) -> str:
    """A rule comment (``"shop/backend:http cluster IP"``): names replaced, port names kept."""
    return re.sub(r"[A-Za-z0-9][A-Za-z0-9.-]*", lambda m: _comment_word(m.group(0), redactor), text)


def _comment_word(word: str, redactor: Redactor) -> str:
    if word in redactor.names:
        return redactor.names[word]
    derived = redactor._derived(word)
    return derived if derived is not None else word


def _rehash(value: str, redactor: Redactor, length: int) -> str:
    digest = hashlib.blake2b(value.encode(), key=redactor.key, digest_size=32).digest()
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    return "".join(alphabet[b % 32] for b in digest)[:length]


def _evidence(obj: Obj, redactor: Redactor) -> Obj:
    kind = obj.get("kind")
    metadata = obj.get("metadata")
    if isinstance(metadata, dict) and "name" in metadata:
        metadata["name"] = redactor.name(metadata["name"], "node" if kind == "NodeDump" else "name")
    if kind == "NodeDump":
        for text in DUMP_TEXTS:
            if text.key in obj:
                obj[text.key] = _rules(obj[text.key], redactor)
        for key in ("nodeName", "node"):
            if isinstance(obj.get(key), str):
                obj[key] = redactor.name(obj[key], "node")
        return obj
    if kind in ("DNSAnswer", "ProbeResult"):
        query = obj.get("query")
        if isinstance(query, dict) and "name" in query:
            query["name"] = _dns_name(query["name"], redactor)
        target = obj.get("to")
        if isinstance(target, dict):
            target["ip"] = redactor.ip(target.get("ip"))
            if "object" in target:
                target["object"] = _object_text(target["object"], redactor)
        for key in ("from", "server"):
            if isinstance(obj.get(key), str):
                obj[key] = _object_text(redactor.addresses(obj[key]), redactor)
        answers = []
        for answer in obj.get("answers") or []:
            if isinstance(answer, dict):
                answer = {**answer, "value": _record_data(answer.get("value"), redactor)}
            elif isinstance(answer, str):
                answer = _record_data(answer, redactor)
            answers.append(answer)
        if "answers" in obj:
            obj["answers"] = answers
        for key in ("error", "detail", "message"):
            if isinstance(obj.get(key), str):
                obj[key] = redactor.text(obj[key])
        return obj
    if kind == "SnapshotInfo":
        obj["context"] = "redacted"
        obj["redacted"] = True
        if isinstance(obj.get("clusterDomain"), str):
            obj["clusterDomain"] = redactor.name(obj["clusterDomain"], "host")
        for item in obj.get("unavailable") or []:
            if isinstance(item, dict):
                if item.get("namespace"):
                    item["namespace"] = redactor.name(item["namespace"], "ns")
                item["reason"] = redactor.forbidden(item.get("reason"))
                if item.get("invalidObject"):
                    item["invalidObject"] = redactor.name(item["invalidObject"])
        for item in obj.get("recorded") or []:
            if isinstance(item, dict) and isinstance(item.get("namespaces"), list):
                item["namespaces"] = [redactor.name(str(namespace), "ns") for namespace in item["namespaces"]]
    return obj


def _dns_name(name: Any, redactor: Redactor) -> Any:
    """A DNS name: each label a known name's pseudonym, a vocabulary word, or a new pseudonym."""
    if not isinstance(name, str) or not name or _is_ip(name):
        return redactor.ip(name) if isinstance(name, str) else name
    trailing = "." if name.endswith(".") else ""
    bare = name.rstrip(".")
    if bare in redactor.names or bare in KEEP:
        return redactor.names.get(bare, bare) + trailing
    return str(redactor.name(bare, "host")) + trailing


def _record_data(value: Any, redactor: Redactor) -> Any:
    """An answer's data: an address, a name, or an SRV/MX line of numbers and a name."""
    if not isinstance(value, str):
        return value
    return " ".join(token if token.isdigit() else redactor.ip(token) if _is_ip(token)
                    else str(_dns_name(token, redactor)) for token in value.split(" "))


def _object_text(text: str, redactor: Redactor) -> str:
    """``pod shop/frontend-x`` or ``Service shop/backend``: the words are names (or kinds)."""
    return re.sub(r"[A-Za-z0-9][A-Za-z0-9.-]*",
                  lambda m: m.group(0) if m.group(0)[:1].isupper() or _is_ip(m.group(0)) or m.group(0) in (
                      "pod", "node", "service", "ip") else str(redactor.name(m.group(0))), text)


def redact_for_sharing(objects: Iterable[Mapping[str, Any]], *, namespace: str = "", service: str = "",
                       map_file: str | None = None) -> tuple[list[Obj], list[str]]:
    """Redact ``objects`` and say how to use the result: the target's pseudonym, the map's place.

    Returns the redacted objects and the lines to print (on stderr: they are for the person who
    redacted, not for the file). ``map_file`` receives the original → pseudonym table (mode 0600);
    it must stay local, since it undoes the redaction.
    """
    from svcdoctor.atomic import write_text

    redactor = Redactor()
    redacted = redact_objects(objects, redactor=redactor)
    lines = []
    if service:
        pseudonym = f"{redactor.names.get(namespace, namespace)}/{redactor.names.get(service, service)}"
        lines.append(f"svcdoctor: Service {namespace}/{service} is {pseudonym} in the redacted file "
                     f"(svcdoctor check {redactor.names.get(service, service)} "
                     f"-n {redactor.names.get(namespace, namespace)} --snapshot FILE)")
    elif namespace:
        lines.append(f"svcdoctor: namespace {namespace} is {redactor.names.get(namespace, namespace)} in the redacted "
                     "file")
    if map_file:
        import json

        write_text(map_file, json.dumps({"names": redactor.mapping()}, indent=1) + "\n")
        lines.append(f"svcdoctor: the pseudonym map is in {map_file}: keep it local, it undoes the redaction")
    return redacted, lines
