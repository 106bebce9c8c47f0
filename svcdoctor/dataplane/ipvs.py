"""Parse ``ipvsadm -Ln`` output and trace a packet through IPVS virtual servers.

In IPVS mode kube-proxy makes one virtual server per (ClusterIP | externalIP | load-balancer
IP | node address for NodePorts, port, protocol), each with the Service's endpoints as real
servers (weight 1; 0 while an endpoint drains) and ``persistent SECONDS`` for ClientIP session
affinity. A packet to an address:port without a virtual server is not balanced at all; one to a
virtual server without real servers goes nowhere.

``ipvsadm -L`` without ``-n`` prints names where it can: ports by their service name (``:http``,
``:https``, ``:domain``, from the node's ``/etc/services``) and addresses by the host name the
node's resolver gives them. Port names are read (IANA's names, then this machine's services
database); an address printed as a host name cannot be turned back into the address it stands
for, so that line is not read: a look-up that finds no virtual server while one could not be
read, or a virtual server with a real server that could not be read, is undecided.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

from svcdoctor.dataplane import addresses
from svcdoctor.dataplane.interface import Branch, Packet, Rule, Trace

#: Service names ``ipvsadm -L`` prints for the ports Services use most (IANA's registry, which
#: Debian's and Red Hat's /etc/services follow); others are looked up in this machine's database.
PORT_NAMES = {"http": 80, "www": 80, "www-http": 80, "https": 443, "domain": 53, "http-alt": 8080,
              "webcache": 8080, "pcsync-https": 8443, "sun-sr-https": 6443, "mysql": 3306, "postgresql": 5432,
              "postgres": 5432, "redis": 6379, "amqp": 5672, "amqps": 5671, "mongodb": 27017, "ldap": 389,
              "ldaps": 636, "smtp": 25, "ssh": 22, "ftp": 21, "imap": 143, "imaps": 993, "pop3": 110,
              "pop3s": 995, "ntp": 123, "snmp": 161, "syslog": 514, "kerberos": 88, "xmpp-client": 5222,
              "memcache": 11211, "etcd-client": 2379, "etcd-server": 2380, "kubelet": 10250,
              "sun-as-jpda": 9100, "jetdirect": 9100, "websm": 9090, "zeus-admin": 9090,
              "cslistener": 9000}


def port_number(text: str) -> int:
    """A port as ipvsadm prints it: a number, or a service name."""
    if text.isdigit():
        return int(text)
    known = PORT_NAMES.get(text.lower())
    if known is not None:
        return known
    try:
        return socket.getservbyname(text)
    except OSError:
        raise ValueError(f"port name {text!r} is not known") from None


def host_port(text: str) -> tuple[str, int]:
    """``10.96.0.1:443`` / ``[fd00::1]:443`` / ``10.96.0.1:https`` / ``localhost:30005`` → (ip, port).
    A host name other than ``localhost`` cannot be read (ValueError)."""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port_text = text.rpartition(":")
    if not host or not port_text:
        raise ValueError(f"not an address and port: {text}")
    if host.lower() in ("localhost", "localhost.localdomain"):
        host = "127.0.0.1"
    try:
        addresses.address(host)
    except ValueError:
        raise ValueError(f"{host} is a name, not an address (print the table with `ipvsadm -Ln`)") from None
    return host, port_number(port_text)


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
    #: Its real-server lines that could not be read.
    unread: tuple[str, ...] = ()


@dataclass(frozen=True)
class IPVSTable:
    """Every virtual server of a node, indexed by (protocol, address, port)."""

    services: dict[tuple[str, str, int], VirtualServer]
    problems: tuple[str, ...] = ()
    #: Virtual-server lines that could not be read (any of them may be the one a packet needs).
    unplaced: tuple[str, ...] = ()

    def lookup(self, protocol: str, ip: str, port: int) -> VirtualServer | None:
        return self.services.get((protocol.lower(), ip, port))


def parse(text: str) -> IPVSTable:
    """Parse ``ipvsadm -Ln`` (also ``-L -n --persistent-conn`` style columns)."""
    services: dict[tuple[str, str, int], VirtualServer] = {}
    problems: list[str] = []
    unplaced: list[str] = []
    current: dict[str, object] | None = None
    reals: list[RealServer] = []
    unread: list[str] = []
    # Real-server lines under a virtual server that could not be read belong to nothing known.
    orphaned = False

    def close() -> None:
        if current is not None:
            server = VirtualServer(str(current["protocol"]), str(current["ip"]), int(current["port"]),  # type: ignore[call-overload]
                                   str(current["scheduler"]), current["persistent"],  # type: ignore[arg-type]
                                   tuple(reals), str(current["text"]), int(current["line"]),  # type: ignore[call-overload]
                                   tuple(unread))
            services[(server.protocol.lower(), server.ip, server.port)] = server

    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith(("IP Virtual Server", "Prot ", "-> RemoteAddress")):
            continue
        words = line.split()
        if words[0] in ("TCP", "UDP", "SCTP"):
            close()
            reals = []
            unread = []
            current = None
            orphaned = False
            try:
                ip, port = host_port(words[1])
            except (IndexError, ValueError) as error:
                problems.append(f"line {number}: {error}: {line[:80]}")
                unplaced.append(f"line {number}: {line[:200]}")
                orphaned = True
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
            unread = []
            orphaned = False
            continue
        if words[0] == "->":
            if current is None:
                if orphaned:
                    continue
                problems.append(f"line {number}: a real server outside any virtual server: {line[:80]}")
                unplaced.append(f"line {number}: {line[:200]}")
                continue
            try:
                if len(words) < 4:
                    raise ValueError("too few columns")
                ip, port = host_port(words[1])
                weight = int(words[3])
                active = int(words[4]) if len(words) > 4 else 0
                inactive = int(words[5]) if len(words) > 5 else 0
            except ValueError as error:
                problems.append(f"line {number}: {error}: {line[:80]}")
                unread.append(f"line {number}: {line[:200]}")
                continue
            reals.append(RealServer(ip, port, words[2], weight, active, inactive, line))
            continue
        problems.append(f"line {number}: not understood: {line[:80]}")
        unplaced.append(f"line {number}: {line[:200]}")
        # It may have been a virtual server's line: the real servers below are not the one's above.
        close()
        current = None
        reals = []
        unread = []
        orphaned = True
    close()
    return IPVSTable(services, tuple(problems), tuple(unplaced))


def trace(table: IPVSTable, packet: Packet) -> Trace:
    """Where IPVS sends a new connection: real servers by weight, or nowhere."""
    server = table.lookup(packet.protocol, packet.dst, packet.dport)
    if server is None:
        return Trace(packet, (Branch(1.0, "", None, False),), notes=("no IPVS virtual server for this address",),
                     undecided=tuple(f"ipvsadm: {text} (a virtual server that could not be read)"
                                     for text in table.unplaced))
    undecided = tuple(f"ipvsadm: {text} (a real server of {server.text} that could not be read)"
                      for text in server.unread)
    rule = Rule("ipvs", f"{server.protocol} {server.ip}:{server.port}", (), ("none",), server.text, server.line)
    usable = [real for real in server.real_servers if real.weight > 0]
    if not usable:
        draining = " (only weight-0, draining real servers)" if server.real_servers else ""
        return Trace(packet, (Branch(1.0, "DROP", None, False, (rule,)),),
                     affinity_seconds=server.persistent_seconds,
                     notes=(f"the virtual server has no real servers{draining}: connections go nowhere",),
                     undecided=undecided)
    total = sum(real.weight for real in usable)
    branches = []
    for real in usable:
        real_rule = Rule("ipvs", rule.chain, (), ("dnat", real.ip, real.port), real.text, server.line)
        branches.append(Branch(real.weight / total, "", (real.ip, real.port), False, (rule, real_rule)))
    return Trace(packet, tuple(branches), affinity_seconds=server.persistent_seconds, undecided=undecided)
