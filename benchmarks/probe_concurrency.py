"""Wall time of 64 concurrent probes with a 2 s timeout against addresses that drop everything.

Runs inside a network namespace lab (root needed): a client namespace probes 64 address:port pairs
of a pod namespace whose firewall drops all TCP, with svcdoctor's own connect and SYN probers.
Expected: about one timeout (2 s) for each, not 64 × 2 s.

    python benchmarks/probe_concurrency.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from svcdoctor.testing.netns import Lab, netns_usable  # noqa: E402

SCRIPT = r"""
import asyncio, sys, time
sys.path.insert(0, sys.argv[1])
method = sys.argv[2]
targets = [("198.19.0.12", 8000 + i) for i in range(32)] + [("198.19.0.13", 9000 + i) for i in range(32)]
loading = time.monotonic()
if method == "syn":
    import scapy.all  # what a --probe run as root pays once
    from svcdoctor.probe.syn import syn_all
else:
    from svcdoctor.probe.tcp import connect_all
started = time.monotonic()
if method == "syn":
    results = syn_all(targets, 2.0)
else:
    results = asyncio.run(connect_all(targets, 2.0))
elapsed = time.monotonic() - started
print(f"{elapsed:.2f} {started - loading:.2f} {sorted(set(r for r, _ in results))}")
"""


def main() -> int:
    if not netns_usable():
        print("needs root and ip netns", file=sys.stderr)
        return 2
    with Lab() as lab:
        for role, ip in (("dropped-a", "198.19.0.12"), ("dropped-b", "198.19.0.13")):
            lab.add_pod(role, ip)
            lab.load_iptables("*filter\n:INPUT DROP [0:0]\nCOMMIT\n", role=role)
        lab.add_client("client", "198.18.0.2")
        for method in ("connect", "syn"):
            wall = time.monotonic()
            output = lab.run("client", [sys.executable, "-c", SCRIPT, str(ROOT), method], timeout=60).stdout.split(
                maxsplit=2)
            print(f"{method:>7}: 64 probes, 2 s timeout, all dropped: {output[0]} s probing, {output[1]} s importing "
                  f"({time.monotonic() - wall:.2f} s with interpreter start-up); results {output[2].strip()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
