"""``svcdoctor watch`` at scale: first evaluation, one change, memory over many events.

    python benchmarks/watch_bench.py                       # 5,000 Services / 15,000 Pods, 10,000 events
    python benchmarks/watch_bench.py --services 500 --events 1000

No API server: the changes go straight into :class:`svcdoctor.watch.loop.WatchState` as the
followers would hand them over (the list, then MODIFIED Pods), so what is measured is the
re-indexing and the re-diagnosis, not the network. Memory is the process's resident set (ru_maxrss
and /proc/self/statm) after the first evaluation and after every 1,000 events.
"""

from __future__ import annotations

import argparse
import copy
import gc
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.generate import generate
from svcdoctor.kinds import BY_KIND
from svcdoctor.watch.follow import Change
from svcdoctor.watch.loop import WatchState
from svcdoctor.watch.metrics import WatchMetrics


def resident_mb() -> float:
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1024 / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--services", type=int, default=5000)
    parser.add_argument("--pods-per-service", type=int, default=3)
    parser.add_argument("--events", type=int, default=10_000)
    arguments = parser.parse_args()
    items = [obj for obj in generate(services=arguments.services, pods_per_service=arguments.pods_per_service)["items"]
             if obj.get("apiVersion") != "svcdoctor.dev/v1"]
    by_kind: dict[str, list[Any]] = {}
    for obj in items:
        by_kind.setdefault(obj["kind"], []).append(obj)
    pod_keys = [("Pod", obj["metadata"]["namespace"], obj["metadata"]["name"]) for obj in by_kind["Pod"]]
    print(f"{len(by_kind['Service'])} Services, {len(pod_keys)} Pods, {len(items)} objects")
    state = WatchState(None, WatchMetrics(), log=open(os.devnull, "w"))  # noqa: SIM115
    started = time.perf_counter()
    cpu = time.process_time()
    first = state.apply([Change(BY_KIND[kind], "", "LISTED", listed=tuple(objects))
                         for kind, objects in by_kind.items()], full=True)
    print(f"first full evaluation: {time.perf_counter() - started:.2f} s wall, {time.process_time() - cpu:.2f} s CPU, "
          f"{first.diagnosed} Services diagnosed; resident {resident_mb():.0f} MB")
    del items, by_kind  # only the watcher's state holds the objects from here on, as in `svcdoctor watch`
    gc.collect()

    latencies = []
    cpu_times = []
    diagnosed = []
    baseline = None
    for index in range(arguments.events):
        pod = copy.deepcopy(state.objects[pod_keys[index % len(pod_keys)]])
        pod["metadata"]["annotations"] = {"bench/revision": str(index)}
        if index % 2:
            pod["status"]["conditions"] = [{"type": "Ready", "status": "False"}]
        started, cpu = time.perf_counter(), time.process_time()
        evaluation = state.apply([Change(BY_KIND["Pod"], "", "MODIFIED", pod)])
        latencies.append(time.perf_counter() - started)
        cpu_times.append(time.process_time() - cpu)
        diagnosed.append(evaluation.diagnosed)
        if (index + 1) % 1000 == 0:
            gc.collect()
            now = resident_mb()
            baseline = baseline or now
            print(f"after {index + 1} events: resident {now:.0f} MB")
    for what, seconds in (("wall", latencies), ("CPU", cpu_times)):
        seconds.sort()
        print(f"one Pod change ({what}): median {seconds[len(seconds) // 2] * 1000:.0f} ms, "
              f"p99 {seconds[int(len(seconds) * 0.99)] * 1000:.0f} ms, max {seconds[-1] * 1000:.0f} ms")
    print(f"Services diagnosed per change: max {max(diagnosed)}; load average {os.getloadavg()[0]:.1f}")
    print(f"peak resident (ru_maxrss): {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
