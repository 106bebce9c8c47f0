"""Wall time, CPU time and peak memory of svcdoctor on large snapshots, beside the floors.

Every measurement runs in its own child process (``os.wait4`` gives that child's own peak RSS
and CPU), so the figures include interpreter start-up exactly as a user pays it:

- ``python -c pass`` and ``svcdoctor --help``: start-up;
- ``json.loads`` of the snapshot, in a child that only reads and parses it: the parse floor;
- ``check`` of one broken Service and ``scan -A`` of every Service (``-o json``, ``text``, ``html``), as
  the CLI runs them (``benchmarks/html_bench.py`` times the HTML rendering apart from the scan);
- PyYAML's C loader on a ~2.3 MB YAML snapshot, and ``check`` over that YAML file.

The goal of issue 2: ``check`` costs no more than about 2 × ``json.loads`` + start-up.

    python benchmarks/run.py                      # generates /tmp/svcdoctor-bench/*.json|yaml first
    python benchmarks/run.py --services 1000 --repeat 3
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PARSE_JSON = "import json,sys; json.loads(open(sys.argv[1], 'rb').read())"
PARSE_YAML = ("import sys, yaml; yaml.load(open(sys.argv[1], encoding='utf-8').read(), "
              "Loader=getattr(yaml, 'CSafeLoader', yaml.SafeLoader))")


def measure(command: list[str], repeat: int) -> tuple[float, float, float, int]:
    """Best wall seconds, its CPU seconds (user + system), peak RSS in MB, exit code."""
    best: tuple[float, float, float, int] | None = None
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    for _ in range(repeat):
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=environment,
                                   cwd=ROOT)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        code = os.waitstatus_to_exitcode(status)
        stderr = process.stderr.read().decode() if process.stderr else ""
        if code not in (0, 1):
            raise SystemExit(f"{' '.join(command)} failed ({code}): {stderr.strip()}")
        result = (wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, code)
        if best is None or result[0] < best[0]:
            best = result
    assert best is not None
    return best


def ensure(path: Path, services: int, pods_per_service: int, output_format: str) -> None:
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    print(f"generating {path} …", file=sys.stderr, flush=True)
    # In a child: a parent grown by the generator would pass its peak RSS on to every child it forks.
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "generate.py"), "--services", str(services),
                    "--pods-per-service", str(pods_per_service), "--format", output_format, "-o", str(path)],
                   check=True, stdout=subprocess.DEVNULL)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="svcdoctor benchmarks")
    parser.add_argument("--services", type=int, default=5000)
    parser.add_argument("--pods-per-service", type=int, default=10)
    parser.add_argument("--yaml-services", type=int, default=64, help="Services in the YAML file (~2.3 MB at 64)")
    parser.add_argument("--directory", default="/tmp/svcdoctor-bench")
    parser.add_argument("--repeat", type=int, default=1, help="runs per measurement; the fastest is shown")
    args = parser.parse_args(argv)

    directory = Path(args.directory)
    big = directory / f"snapshot-{args.services}x{args.pods_per_service}.json"
    small_yaml = directory / f"snapshot-{args.yaml_services}x{args.pods_per_service}.yaml"
    ensure(big, args.services, args.pods_per_service, "json")
    ensure(small_yaml, args.yaml_services, args.pods_per_service, "yaml")
    python = sys.executable
    cli = [python, "-m", "svcdoctor"]
    rows = [
        ("python -c pass (start-up)", [python, "-c", "pass"]),
        ("svcdoctor --help", [*cli, "--help"]),
        (f"json.loads {big.name}", [python, "-c", PARSE_JSON, str(big)]),
        ("check (one Service, -o json)", [*cli, "check", "app-003", "-n", "team-000", "--snapshot", str(big),
                                          "-o", "json"]),
        ("check (one Service, -o text)", [*cli, "check", "app-003", "-n", "team-000", "--snapshot", str(big)]),
        ("scan -A (-o json)", [*cli, "scan", "-A", "--snapshot", str(big), "-o", "json"]),
        ("scan -A (-o text)", [*cli, "scan", "-A", "--snapshot", str(big)]),
        ("scan -A (-o html)", [*cli, "scan", "-A", "--snapshot", str(big), "-o", "html"]),
        (f"yaml C loader {small_yaml.name}", [python, "-c", PARSE_YAML, str(small_yaml)]),
        ("check over that YAML (-o json)", [*cli, "check", "app-003", "-n", "team-000", "--snapshot",
                                            str(small_yaml), "-o", "json"]),
    ]
    print(f"{big.name}: {big.stat().st_size / 1e6:.1f} MB;  {small_yaml.name}: "
          f"{small_yaml.stat().st_size / 1e6:.1f} MB;  {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    print(f"{'what':<44} {'wall s':>8} {'cpu s':>8} {'peak MB':>8}")
    results = {}
    for label, command in rows:
        wall, cpu, peak, _ = measure(command, args.repeat)
        results[label] = (wall, cpu)
        print(f"{label:<44} {wall:>8.2f} {cpu:>8.2f} {peak:>8.0f}", flush=True)
    start_cpu = results["python -c pass (start-up)"][1]
    parse_cpu = results[f"json.loads {big.name}"][1] - start_cpu
    check_cpu = results["check (one Service, -o json)"][1]
    print(f"\ncheck CPU / (2 × json.loads + start-up) = {check_cpu:.2f} / {2 * parse_cpu + start_cpu:.2f} = "
          f"{check_cpu / (2 * parse_cpu + start_cpu):.2f}  (goal ≤ 1)")


if __name__ == "__main__":
    main()
