"""A small, reusable network-namespace lab for tests: real kernel, real packets, nothing leaks.

A :class:`Lab` makes uniquely named network namespaces (``sd<pid>x<n>-<role>``), wires them
together and always removes them on exit, even when the test fails. The topology is a tiny
Kubernetes node::

    client ns ──veth──┐                        ┌──veth── pod ns "web-0" (198.19.0.10)
    client ns ──veth──┤ bridge "sdc"   node ns  bridge "sdp" ├──veth── pod ns "web-1" (198.19.0.11)
                      │ 198.18.0.1/24  (routes) 198.19.0.1/24 │
                      └─────────────────────────────────────┘

- the **node** namespace forwards between its two bridges (``net.ipv4.ip_forward=1``); it is
  where kube-proxy-style rules are loaded (``load_iptables`` / ``load_nft``) and read back
  (``save_iptables`` / ``list_nft``). Its address on the client side, :data:`NODE_IP`, is the
  node's address for NodePorts.
- **pod** namespaces sit on the pod bridge, default route via :data:`POD_GATEWAY`.
- **client** namespaces sit on the client bridge, default route via :data:`NODE_IP`, so a
  ClusterIP (any address of :data:`SERVICE_CIDR`) is routed to the node, as in a cluster.
- the node's default route points into an "uplink" (``sdup``, a veth pair inside the node
  namespace) that discards what it is given: a packet no rule translated is forwarded (and
  passes the FORWARD chain) as on a real node, yet nothing ever leaves the lab.

Every address comes from 198.18.0.0/15 (RFC 2544 benchmarking space) and every interface lives
inside the lab's namespaces: nothing is created in, or routed to, the host's namespace.

Typical use::

    with Lab() as lab:
        lab.add_pod("web-0", "198.19.0.10")
        lab.add_client("client", "198.18.0.2")
        lab.listen_tcp("web-0", "198.19.0.10", 8080, reply="web-0")
        lab.load_iptables(rules_text)
        assert lab.connect_tcp("client", "198.18.100.1", 80) == "web-0"

Tests that use it must first call
``tests.conftest.require(netns_usable(), "needs root and ip netns")`` so they fail in CI
(where they must run) and skip elsewhere.
"""

from __future__ import annotations

import contextlib
import ipaddress
import itertools
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import TracebackType

#: The lab's whole address space (RFC 2544): nothing outside it is ever configured.
LAB_CIDR = ipaddress.ip_network("198.18.0.0/15")
#: The client-side network and the node's address on it (the node IP for NodePorts).
CLIENT_CIDR = "198.18.0.0/24"
NODE_IP = "198.18.0.1"
#: The pod network and the node's address on it (the pods' default gateway).
POD_CIDR = "198.19.0.0/24"
POD_GATEWAY = "198.19.0.1"
#: The node's "uplink" (a dead end inside the node namespace) and its unanswered gateway.
UPLINK_IP = "198.18.255.1"
UPLINK_GATEWAY = "198.18.255.2"
#: Where tests should take ClusterIPs, external IPs and load-balancer IPs from.
SERVICE_CIDR = "198.18.100.0/24"
EXTERNAL_CIDR = "198.18.200.0/24"

_counter = itertools.count()

# A TCP server that answers every connection with its own name, then closes it. It prints
# "ready" once listening so that start-up is waited for, not slept for.
_LISTENER = r"""
import socket, sys
ip, port, reply = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode() + b"\n"
family = socket.AF_INET6 if ":" in ip else socket.AF_INET
server = socket.socket(family, socket.SOCK_STREAM)
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind((ip, port))
server.listen(64)
print("ready", flush=True)
while True:
    connection, _ = server.accept()
    try:
        connection.sendall(reply)
    finally:
        connection.close()
"""

# A TCP client: for each of ``times`` new connections, prints the first line the server sent,
# or one of refused/timeout/unreachable.
_CONNECT = r"""
import socket, sys, errno
ip, port, timeout, times = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
source = sys.argv[5] if len(sys.argv) > 5 else ""
family = socket.AF_INET6 if ":" in ip else socket.AF_INET
for _ in range(times):
    client = socket.socket(family, socket.SOCK_STREAM)
    client.settimeout(timeout)
    try:
        if source:
            client.bind((source, 0))
        client.connect((ip, port))
        data = b""
        while not data.endswith(b"\n"):
            chunk = client.recv(256)
            if not chunk:
                break
            data += chunk
        print(data.decode().strip() or "closed")
    except ConnectionRefusedError:
        print("refused")
    except (socket.timeout, TimeoutError):
        print("timeout")
    except OSError as error:
        print("unreachable" if error.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH) else f"error:{error.errno}")
    finally:
        client.close()
"""


class LabError(RuntimeError):
    """A lab command failed; the message carries the command and its stderr."""


def in_lab_space(address: str) -> bool:
    """Whether ``address`` (an IP or a CIDR) lies inside 198.18.0.0/15."""
    network = ipaddress.ip_network(address, strict=False)
    return network.version == 4 and network.subnet_of(LAB_CIDR)  # type: ignore[arg-type]


@dataclass
class Lab:
    """A set of network namespaces forming one node with pods and clients; a context manager.

    Namespaces are named ``<prefix>-<role>`` where ``prefix`` is ``sd<pid>x<n>``: unique per
    process and per lab. Roles are the names given to :meth:`add_pod` / :meth:`add_client`
    plus ``node``. Use :meth:`ns` to get a role's real namespace name.
    """

    prefix: str = field(default_factory=lambda: f"sd{os.getpid()}x{next(_counter)}")
    namespaces: dict[str, str] = field(default_factory=dict)
    processes: list[subprocess.Popen[str]] = field(default_factory=list)
    _pod_index: int = 0
    _client_index: int = 0
    #: Each pod's or client's bridge port in the node namespace.
    _ports: dict[str, str] = field(default_factory=dict)

    # -- life cycle ---------------------------------------------------------------------------

    def __enter__(self) -> Lab:
        try:
            self._make_node()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Stop every process the lab started and delete every namespace it made."""
        for process in self.processes:
            if process.poll() is None:
                process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)
            for stream in (process.stdout, process.stderr, process.stdin):
                if stream is not None:
                    stream.close()
        self.processes.clear()
        for name in reversed(list(self.namespaces.values())):
            subprocess.run(["ip", "netns", "del", name], capture_output=True)
        self.namespaces.clear()

    def ns(self, role: str) -> str:
        """The real namespace name of a role (``node``, a pod's or a client's name)."""
        try:
            return self.namespaces[role]
        except KeyError:
            raise LabError(f"no namespace {role!r} in this lab (have: {', '.join(self.namespaces)})") from None

    # -- running things -----------------------------------------------------------------------

    def run(self, role: str, argv: Sequence[str], *, input: str | None = None, check: bool = True,
            timeout: float = 30) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` inside a role's namespace and wait; raise :class:`LabError` on failure."""
        command = ["ip", "netns", "exec", self.ns(role), *argv]
        result = subprocess.run(command, input=input, capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise LabError(f"{' '.join(argv)} in {role}: exit {result.returncode}: {result.stderr.strip()}")
        return result

    def popen(self, role: str, argv: Sequence[str]) -> subprocess.Popen[str]:
        """Start ``argv`` inside a role's namespace; it is killed when the lab closes."""
        process = subprocess.Popen(["ip", "netns", "exec", self.ns(role), *argv], stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.processes.append(process)
        return process

    # -- topology -----------------------------------------------------------------------------

    def _add_namespace(self, role: str) -> str:
        if role in self.namespaces:
            raise LabError(f"namespace role {role!r} already exists")
        name = f"{self.prefix}-{role}"
        subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True)
        self.namespaces[role] = name
        self.run(role, ["ip", "link", "set", "lo", "up"])
        return name

    def _make_node(self) -> None:
        self._add_namespace("node")
        for bridge, address in (("sdc", f"{NODE_IP}/24"), ("sdp", f"{POD_GATEWAY}/24")):
            self.run("node", ["ip", "link", "add", bridge, "type", "bridge"])
            self.run("node", ["ip", "addr", "add", address, "dev", bridge])
            self.run("node", ["ip", "link", "set", bridge, "up"])
        self.run("node", ["sysctl", "-qw", "net.ipv4.ip_forward=1"])
        # The "uplink" is a veth pair with both ends in the node namespace; the gateway behind it
        # is a permanent neighbour entry that nothing answers for, so forwarded packets are
        # silently lost there (as upstream of a real node), after the FORWARD chain saw them.
        self.run("node", ["ip", "link", "add", "sdup", "type", "veth", "peer", "name", "sdupx"])
        self.run("node", ["ip", "addr", "add", f"{UPLINK_IP}/24", "dev", "sdup"])
        self.run("node", ["ip", "link", "set", "sdup", "up"])
        self.run("node", ["ip", "link", "set", "sdupx", "up"])
        self.run("node", ["ip", "neigh", "add", UPLINK_GATEWAY, "lladdr", "02:00:00:00:00:01", "dev", "sdup",
                          "nud", "permanent"])
        self.run("node", ["ip", "route", "add", "default", "via", UPLINK_GATEWAY])

    def _attach(self, role: str, ip: str, bridge: str, gateway: str, index: int) -> None:
        if not in_lab_space(ip):
            raise LabError(f"{ip} is outside the lab's 198.18.0.0/15")
        node_side = f"{bridge}{index}"
        self._ports[role] = node_side
        # The pair is made inside the node namespace and one end moved straight into the
        # other namespace, so no interface ever exists in the host's namespace.
        self.run("node", ["ip", "link", "add", node_side, "type", "veth", "peer", "name", "eth0",
                          "netns", self.ns(role)])
        self.run("node", ["ip", "link", "set", node_side, "master", bridge])
        self.run("node", ["ip", "link", "set", node_side, "up"])
        self.run(role, ["ip", "addr", "add", f"{ip}/24", "dev", "eth0"])
        self.run(role, ["ip", "link", "set", "eth0", "up"])
        self.run(role, ["ip", "route", "add", "default", "via", gateway])

    def add_pod(self, role: str, ip: str) -> str:
        """A pod namespace on the pod bridge with address ``ip`` (in 198.19.0.0/24)."""
        if ipaddress.ip_address(ip) not in ipaddress.ip_network(POD_CIDR):
            raise LabError(f"pod address {ip} must be in {POD_CIDR}")
        name = self._add_namespace(role)
        self._pod_index += 1
        self._attach(role, ip, "sdp", POD_GATEWAY, self._pod_index)
        return name

    def set_hairpin(self, role: str, on: bool = True) -> None:
        """Turn hairpin mode of ``role``'s bridge port on or off (what the bridge CNI's ``hairpinMode`` sets)."""
        self.run("node", ["bridge", "link", "set", "dev", self._ports[role], "hairpin", "on" if on else "off"])

    def add_client(self, role: str, ip: str) -> str:
        """A client namespace on the client bridge with address ``ip`` (in 198.18.0.0/24)."""
        if ipaddress.ip_address(ip) not in ipaddress.ip_network(CLIENT_CIDR):
            raise LabError(f"client address {ip} must be in {CLIENT_CIDR}")
        name = self._add_namespace(role)
        self._client_index += 1
        self._attach(role, ip, "sdc", NODE_IP, self._client_index)
        return name

    # -- real sockets -------------------------------------------------------------------------

    def listen_tcp(self, role: str, ip: str, port: int, *, reply: str) -> subprocess.Popen[str]:
        """A TCP listener in ``role`` that answers every connection with ``reply`` and a newline.

        Returns once the socket is listening.
        """
        process = self.popen(role, [sys.executable, "-c", _LISTENER, ip, str(port), reply])
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        if line != "ready":
            error = process.stderr.read() if process.stderr else ""
            raise LabError(f"listener {role} {ip}:{port} did not start: {error.strip()}")
        return process

    def connect_tcp(self, role: str, ip: str, port: int, *, timeout: float = 2.0, source: str = "") -> str:
        """Connect from ``role`` to ``ip:port``: the peer's reply line, or refused/timeout/unreachable."""
        if not in_lab_space(ip):
            raise LabError(f"refusing to connect to {ip}: outside 198.18.0.0/15")
        argv = [sys.executable, "-c", _CONNECT, ip, str(port), str(timeout), "1"]
        if source:
            argv.append(source)
        return self.run(role, argv, timeout=timeout + 10).stdout.strip()

    def connect_tcp_repeated(self, role: str, ip: str, port: int, times: int, *, timeout: float = 2.0) -> list[str]:
        """``times`` new connections from ``role`` to ``ip:port``, in one process: each one's answer."""
        if not in_lab_space(ip):
            raise LabError(f"refusing to connect to {ip}: outside 198.18.0.0/15")
        argv = [sys.executable, "-c", _CONNECT, ip, str(port), str(timeout), str(times)]
        return self.run(role, argv, timeout=times * (timeout + 1) + 10).stdout.split()

    # -- rules --------------------------------------------------------------------------------

    def load_iptables(self, rules: str, *, role: str = "node", ipv6: bool = False) -> None:
        """Load ``iptables-restore`` input (all tables it names are replaced) into a namespace."""
        self.run(role, ["ip6tables-restore" if ipv6 else "iptables-restore"], input=rules)

    def save_iptables(self, *, role: str = "node", ipv6: bool = False) -> str:
        """What ``iptables-save`` prints in a namespace."""
        return self.run(role, ["ip6tables-save" if ipv6 else "iptables-save"]).stdout

    def load_nft(self, rules: str, *, role: str = "node") -> None:
        """Load an ``nft -f`` script into a namespace."""
        self.run(role, ["nft", "-f", "-"], input=rules)

    def list_nft(self, *, role: str = "node") -> str:
        """What ``nft list ruleset`` prints in a namespace."""
        return self.run(role, ["nft", "list", "ruleset"]).stdout


def netns_usable() -> bool:
    """Whether this process may create network namespaces (root and ``ip netns`` present)."""
    import shutil

    if os.geteuid() != 0 or shutil.which("ip") is None:
        return False
    name = f"sd{os.getpid()}probe"
    made = subprocess.run(["ip", "netns", "add", name], capture_output=True).returncode == 0
    if made:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)
    return made
