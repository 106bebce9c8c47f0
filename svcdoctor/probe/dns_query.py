"""DNS questions with dnspython, asked the way a client's resolver asks them.

:func:`resolve` walks the client's search list in glibc's order and stops where glibc stops: at the
first answer with data, or at a timeout; NXDOMAIN, an empty answer and SERVFAIL go on to the next
candidate name. The result is one :class:`~svcdoctor.snapshot.DNSAnswer` for the name *as asked*.
"""

from __future__ import annotations

import asyncio
import errno
import time
from collections.abc import Sequence
from typing import Any

from svcdoctor.dns.client import ResolverConfig, search_order
from svcdoctor.dns.records import Record
from svcdoctor.snapshot import DNSAnswer


class _Datagram(asyncio.DatagramProtocol):
    """One connected UDP exchange: the first reply, or the ICMP error the kernel reports."""

    def __init__(self, reply: asyncio.Future[bytes]) -> None:
        self.reply = reply

    def datagram_received(self, data: bytes, address: object) -> None:
        if not self.reply.done():
            self.reply.set_result(data)

    def error_received(self, error: Exception) -> None:
        if not self.reply.done():
            self.reply.set_exception(error)


async def _udp(wire: bytes, server: str, port: int, timeout: float) -> bytes:
    """Send one datagram on a *connected* socket, so an ICMP port-unreachable comes back as an error."""
    loop = asyncio.get_running_loop()
    reply: asyncio.Future[bytes] = loop.create_future()
    transport, _ = await loop.create_datagram_endpoint(lambda: _Datagram(reply), remote_addr=(server, port))
    try:
        transport.sendto(wire)
        return await asyncio.wait_for(reply, timeout)
    finally:
        transport.close()


async def ask(name: str, record_type: str, server: str, timeout: float, port: int = 53) -> tuple[str, list[Any]]:
    """One question to ``server``: (rcode, answers). ``REFUSED`` also stands for an ICMP port-unreachable
    (nothing listens, or a REJECT rule); falls back to TCP when the UDP answer is truncated."""
    import dns.asyncquery
    import dns.exception
    import dns.flags
    import dns.message
    import dns.rcode
    import dns.rdatatype

    query = dns.message.make_query(name, record_type)
    deadline = time.monotonic() + timeout
    try:
        data = await _udp(query.to_wire(), server, port, timeout)
        response = dns.message.from_wire(data)
        if not query.is_response(response):
            return "SERVFAIL", []
        if response.flags & dns.flags.TC:
            response = await dns.asyncquery.tcp(query, server, timeout=max(0.1, deadline - time.monotonic()),
                                                port=port)
    except (TimeoutError, dns.exception.Timeout):
        return "TIMEOUT", []
    except ConnectionRefusedError:
        return "REFUSED", []
    except OSError as error:
        return ("REFUSED" if error.errno == errno.ECONNREFUSED else "TIMEOUT"), []
    except dns.exception.DNSException:
        return "SERVFAIL", []
    rcode = dns.rcode.to_text(response.rcode())
    answers: list[Any] = []
    for rrset in response.answer:
        kind = dns.rdatatype.to_text(rrset.rdtype)
        for item in rrset:
            if kind in ("A", "AAAA"):
                answers.append(item.address)
            elif kind == "SRV":
                answers.append({"type": "SRV", "value": f"{item.port} {str(item.target).lower()}"})
            elif kind in ("CNAME", "PTR"):
                answers.append({"type": kind, "value": str(item.target).lower()})
            else:
                answers.append({"type": kind, "value": item.to_text()})
    return rcode, answers


def _has_type(answers: list[Any], record_type: str) -> bool:
    if record_type in ("A", "AAAA"):
        return any(isinstance(item, str) for item in answers)
    return any(isinstance(item, dict) and item.get("type") == record_type for item in answers)


async def resolve(name: str, record_type: str, config: ResolverConfig, server: str, timeout: float,
                  source: str = "") -> DNSAnswer:
    """Resolve ``name`` as a client with ``config`` would, asking ``server``; one DNSAnswer for it."""
    last_rcode = "NXDOMAIN"
    saw_empty = False
    for candidate in search_order(name, config):
        rcode, answers = await ask(candidate, record_type, server, timeout)
        if rcode == "NOERROR" and _has_type(answers, record_type):
            return DNSAnswer(name, record_type, "NOERROR", tuple(answers), source, server)
        if rcode in ("TIMEOUT", "REFUSED"):
            return DNSAnswer(name, record_type, rcode, (), source, server)
        if rcode == "NOERROR":
            saw_empty = True
        else:
            last_rcode = rcode if rcode in ("NXDOMAIN", "SERVFAIL") else "SERVFAIL"
    return DNSAnswer(name, record_type, "NOERROR" if saw_empty else last_rcode, (), source, server)


def compare_records(records: Sequence[Record], server: str, timeout: float) -> list[str]:
    """Ask ``server`` for every record; for each: ``ok``, ``missing`` or ``wrong: <what came>``."""
    queries = sorted({(r.name, r.type) for r in records})

    async def run() -> list[tuple[str, list[Any]]]:
        return list(await asyncio.gather(*(ask(name, kind, server, timeout) for name, kind in queries)))

    answers = dict(zip(queries, asyncio.run(run()), strict=True))
    verdicts = []
    for record in records:
        rcode, data = answers[(record.name, record.type)]
        values = {item if isinstance(item, str) else str(item.get("value")) for item in data
                  if isinstance(item, str) or str(item.get("type")) == record.type}
        wanted = record.data if record.type in ("A", "AAAA") else record.data.lower()
        if wanted in values:
            verdicts.append("ok")
        elif rcode != "NOERROR" or not values:
            verdicts.append(f"missing ({rcode if rcode != 'NOERROR' else 'no data'})")
        else:
            verdicts.append("wrong: " + ", ".join(sorted(values)))
    return verdicts
