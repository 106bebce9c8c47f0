"""SYN probes with scapy (root or CAP_NET_RAW): refused (RST) vs dropped (nothing) vs unreachable (ICMP).

Every SYN is sent at once and the answers are collected for one timeout, so the whole batch takes
about one timeout. scapy is imported here only, and this module only when such probes are used.
The kernel answers the SYN-ACKs it did not expect with a RST, so no connection is left open.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence

#: ICMP destination-unreachable codes that mean "this port is closed" (REJECT's default).
ICMP_PORT_UNREACHABLE = 3


def raw_sockets_allowed() -> bool:
    """Whether this process may open raw sockets (root or CAP_NET_RAW)."""
    try:
        probe = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
    except (PermissionError, OSError):
        return False
    probe.close()
    return True


def classify(reply: object, probed: str = "") -> str:
    """What a reply to a SYN sent to ``probed`` means: ``open``, ``refused`` or ``unreachable``.

    A port-unreachable is the Pod refusing only when the Pod sent it: one from another address (a
    router or firewall on the way, REJECTing) says the path is closed, not that nothing listens.
    """
    from scapy.layers.inet import ICMP, IP, TCP

    if reply is None:
        return "timeout"
    if reply.haslayer(TCP):  # type: ignore[attr-defined]
        flags = int(reply[TCP].flags)  # type: ignore[index]
        if flags & 0x12 == 0x12:
            return "open"
        if flags & 0x04:
            return "refused"
        return "timeout"
    if reply.haslayer(ICMP):  # type: ignore[attr-defined]
        icmp = reply[ICMP]  # type: ignore[index]
        sender = str(reply[IP].src) if reply.haslayer(IP) else probed  # type: ignore[attr-defined,index]
        if int(icmp.type) == 3 and int(icmp.code) == ICMP_PORT_UNREACHABLE and (not probed or sender == probed):
            return "refused"
        return "unreachable"
    return "timeout"


def syn_all(targets: Sequence[tuple[str, int]], timeout: float) -> list[tuple[str, float]]:
    """Send a SYN to every (ip, port) (IPv4) and classify the answers; same order as ``targets``."""
    import time

    from scapy.config import conf
    from scapy.layers.inet import IP, TCP
    from scapy.sendrecv import sr
    from scapy.supersocket import L3RawSocket

    conf.verb = 0
    conf.L3socket = L3RawSocket  # the kernel routes and resolves next hops, as for any connect()
    base = 40000 + os.getpid() % 20000
    packets = []
    for index, (ip, port) in enumerate(targets):
        packets.append(IP(dst=ip) / TCP(sport=base + index % 5000, dport=port, flags="S",
                                        seq=(os.getpid() * 7919 + index) & 0xFFFFFFFF))
    started = time.monotonic()
    answered, _ = sr(packets, timeout=timeout, verbose=0, retry=0)
    elapsed = time.monotonic() - started
    replies: dict[tuple[str, int, int], tuple[object, float]] = {}
    for sent, received in answered:
        seconds = float(getattr(received, "time", 0) - getattr(sent, "sent_time", 0) or 0)
        replies[(sent[IP].dst, sent[TCP].sport, sent[TCP].dport)] = (received, max(seconds, 0.0))
    results = []
    for packet in packets:
        key = (packet[IP].dst, packet[TCP].sport, packet[TCP].dport)
        if key in replies:
            reply, seconds = replies[key]
            results.append((classify(reply, packet[IP].dst), seconds))
        else:
            results.append(("timeout", elapsed))
    return results
