"""Parse ``ipvsadm -Ln`` output and trace a packet through IPVS virtual servers.

In IPVS mode kube-proxy makes one virtual server per (ClusterIP | externalIP | load-balancer
IP | node address for NodePorts, port, protocol), each with the Service's endpoints as real
servers (weight 1; 0 while an endpoint drains) and ``persistent SECONDS`` for ClientIP session
affinity. A packet to an address:port without a virtual server is not balanced at all; one to a
virtual server without real servers goes nowhere.
"""

from __future__ import annotations

from dataclasses import dataclass

from svcdoctor.dataplane.interface import Branch, Packet, Rule, Trace
from svcdoctor.dataplane.iptables import split_host_port


@dataclass(frozen=True)
class RealServer:
    ip: str
    port: int
    forward: str
    weight: int
    active: int = 0
    inactive: int = 0
    text: str = ""


@dataclass(frozen=True)
class VirtualServer:
    protocol: str
    ip: str
    port: int
    scheduler: str
    persistent_seconds: int | None
    real_servers: tuple[RealServer, ...]
    text: str = ""
    line: int = 0


@dataclass(frozen=True)
class IPVSTable:
    """Every virtual server of a node, indexed by (protocol, address, port)."""

    services: dict[tuple[str, str, int], VirtualServer]
    problems: tuple[str, ...] = ()

    def lookup(self, protocol: str, ip: str, port: int) -> VirtualServer | None:
        return self.services.get((protocol.lower(), ip, port))


def parse(text: str) -> IPVSTable:
    """Parse ``ipvsadm -Ln`` (also ``-L -n --persistent-conn`` style columns)."""
    services: dict[tuple[str, str, int], VirtualServer] = {}
    problems: list[str] = []
    current: dict[str, object] | None = None
    reals: list[RealServer] = []

    def close() -> None:
        if current is not None:
            server = VirtualServer(str(current["protocol"]), str(current["ip"]), int(current["port"]),  # type: ignore[call-overload]
                                   str(current["scheduler"]), current["persistent"],  # type: ignore[arg-type]
                                   tuple(reals), str(current["text"]), int(current["line"]))  # type: ignore[call-overload]
            services[(server.protocol.lower(), server.ip, server.port)] = server

    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith(("IP Virtual Server", "Prot ", "-> RemoteAddress")):
            continue
        words = line.split()
        if words[0] in ("TCP", "UDP", "SCTP"):
            close()
            reals = []
            current = None
            try:
                ip, port = split_host_port(words[1])
            except (IndexError, ValueError):
                problems.append(f"line {number}: not understood: {line[:80]}")
                continue
            persistent = None
            if "persistent" in words:
                at = words.index("persistent")
                persistent = int(words[at + 1]) if at + 1 < len(words) and words[at + 1].isdigit() else 360
            current = {"protocol": words[0], "ip": ip, "port": port, "scheduler": words[2] if len(words) > 2 else "",
                       "persistent": persistent, "text": line, "line": number}
            continue
        if words[0] == "FWM":
            close()
            current = None
            reals = []
            continue
        if words[0] == "->" and len(words) >= 4:
            if current is None:
                continue
            try:
                ip, port = split_host_port(words[1])
                weight = int(words[3])
                active = int(words[4]) if len(words) > 4 else 0
                inactive = int(words[5]) if len(words) > 5 else 0
            except ValueError:
                problems.append(f"line {number}: not understood: {line[:80]}")
                continue
            reals.append(RealServer(ip, port, words[2], weight, active, inactive, line))
            continue
        problems.append(f"line {number}: not understood: {line[:80]}")
    close()
    return IPVSTable(services, tuple(problems))


def trace(table: IPVSTable, packet: Packet) -> Trace:
    """Where IPVS sends a new connection: real servers by weight, or nowhere."""
    server = table.lookup(packet.protocol, packet.dst, packet.dport)
    if server is None:
        return Trace(packet, (Branch(1.0, "", None, False),), notes=("no IPVS virtual server for this address",))
    rule = Rule("ipvs", f"{server.protocol} {server.ip}:{server.port}", (), ("none",), server.text, server.line)
    usable = [real for real in server.real_servers if real.weight > 0]
    if not usable:
        draining = " (only weight-0, draining real servers)" if server.real_servers else ""
        return Trace(packet, (Branch(1.0, "DROP", None, False, (rule,)),),
                     affinity_seconds=server.persistent_seconds,
                     notes=(f"the virtual server has no real servers{draining}: connections go nowhere",))
    total = sum(real.weight for real in usable)
    branches = []
    for real in usable:
        real_rule = Rule("ipvs", rule.chain, (), ("dnat", real.ip, real.port), real.text, server.line)
        branches.append(Branch(real.weight / total, "", (real.ip, real.port), False, (rule, real_rule)))
    return Trace(packet, tuple(branches), affinity_seconds=server.persistent_seconds)
