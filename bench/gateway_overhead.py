"""Gateway overhead: CPU per request, added latency, pinned throughput, RSS and CLI start-up time.

    python bench/gateway_overhead.py [--json results.json] [--check]

Starts `bench/upstream.py` (a fast fake OpenAI upstream) and `steward serve` (uvicorn, uvloop,
httptools: the default pipeline record, auth, parse, route) as subprocesses. With two or more
CPUs, Steward is pinned to one CPU and the upstream and the load generator (this process) to the
others, so Steward's numbers are its own. Phases, after a warm-up:

    direct   c=1   straight to the upstream (the baseline for added latency)
    through  c=1   via Steward: latency, CPU per request
    through  c=64  via Steward: requests/s on one core, CPU per request, then RSS
    stream   c=1, c=16  via Steward, SSE with 20 content chunks: CPU per request

CPU time is Steward's utime + stime from /proc (every thread: event loop, record writer, key
refresher) across a phase, divided by the requests it served. `--check` exits 1 when a target is
missed; any failed request or start-up problem always exits 1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from loadgen import LoadResult, build_request, chat_body, new_event_loop, run_load
from processes import (
    BenchError,
    cpu_s,
    free_port,
    http_get,
    spawn,
    split_cpus,
    system_cpu_s,
    thread_affinity,
    wait_ready,
)

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
STEWARD = BIN / "steward"
UPSTREAM_KEY = "sk-bench-upstream"
SETTLE_S = 0.5  # lets the record writer (flush every 0.2 s) finish the phase's records

TARGETS = {  # requests/s is a floor; the others are ceilings
    "cpu_ms_per_request": 0.5,
    "added_p50_ms": 1.0,
    "rps_one_core_c64": 1500.0,
    "rss_mb": 150.0,
    "help_s": 0.5,
}

CONFIG = """\
[server]
host = "127.0.0.1"
port = {steward_port}

[storage]
url = "sqlite:///steward.db"
spool_dir = "spool"

[logging]
level = "warning"

[providers.up]
type = "openai"
base_url = "http://127.0.0.1:{upstream_port}/v1"
api_key = "env:BENCH_UPSTREAM_KEY"

[models.bench]
targets = ["up/bench-model"]
"""


@dataclass(slots=True)
class PhaseResult:
    name: str
    concurrency: int
    requests: int
    errors: int
    elapsed_s: float
    rps: float
    p50_ms: float
    p99_ms: float
    mean_ms: float
    cpu_ms_per_request: float | None = None
    cpu_system_share: float | None = None  # the kernel's part (sockets, epoll) of that CPU time
    # Upstream connections Steward opened and closed during the phase; 0 and 0 = all reused.
    upstream_opened: int | None = None
    upstream_closed: int | None = None


@dataclass(slots=True)
class Report:
    machine: dict[str, object]
    cli: dict[str, object] = field(default_factory=dict)
    phases: dict[str, PhaseResult] = field(default_factory=dict)  # medians over runs
    runs: list[dict[str, PhaseResult]] = field(default_factory=list)
    steward: dict[str, object] = field(default_factory=dict)
    summary: dict[str, dict[str, object]] = field(default_factory=dict)


# -- machine and CLI ------------------------------------------------------------------------------


def machine_facts() -> dict[str, object]:
    model = "unknown"
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "kernel": platform.release(),
        "loadavg_before": os.getloadavg(),
    }


def measure_cli(runs: int) -> dict[str, object]:
    """Median wall time of `steward --help`, and the slowest imports behind it."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([str(STEWARD), "--help"], check=True, capture_output=True, timeout=60)
        times.append(time.perf_counter() - started)
    return {
        "help_runs_s": [round(t, 4) for t in times],
        "help_median_s": statistics.median(times),
        "import_steward_top": import_time("steward"),
        "import_cli_top": import_time("steward.cli.main"),
    }


def import_time(module: str, top: int = 8) -> list[tuple[str, float]]:
    """(module, cumulative ms) of the slowest imports, from `python -X importtime`."""
    run = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    rows = []
    for line in run.stderr.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+(\d+) \|(\s*)(\S+)", line)
        if match:
            rows.append((match.group(3), int(match.group(1)) / 1000.0))
    return sorted(rows, key=lambda row: row[1], reverse=True)[:top]


# -- phases ---------------------------------------------------------------------------------------


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STEWARD_")}
    env["BENCH_UPSTREAM_KEY"] = UPSTREAM_KEY
    return env


def create_key(config: Path) -> str:
    """A fresh API key from `steward keys create`; the secret is the last line it prints."""
    run = subprocess.run(
        [str(STEWARD), "keys", "create", "--name", "bench", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        env=child_env(),
        cwd=config.parent,
    )
    if run.returncode != 0:
        raise BenchError(f"steward keys create failed: {run.stderr.strip()}")
    return run.stdout.strip().splitlines()[-1].strip()


def upstream_connections(port: int) -> tuple[int, int]:
    """(opened, closed): connections the fake upstream has accepted and seen close so far."""
    status, body = http_get(port, "/stats")
    if status != 200:
        raise BenchError(f"upstream /stats answered HTTP {status}")
    stats = json.loads(body)
    return int(stats["connections"]), int(stats["closed"])


def load(
    port: int, request: bytes, *, requests: int, concurrency: int, stream: bool = False
) -> LoadResult:
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        result = runner.run(
            run_load(
                "127.0.0.1",
                port,
                request,
                requests=requests,
                concurrency=concurrency,
                time_limit_s=60.0,
                stream=stream,
            )
        )
    if result.errors or result.timed_out or not result.completed:
        raise BenchError(
            f"{result.completed} of {requests} requests succeeded, {result.errors} failed "
            f"(timed out: {result.timed_out}); first error: {result.first_error}"
        )
    return result


@dataclass(frozen=True, slots=True)
class Probe:
    """What a phase through Steward observes besides latency."""

    steward: psutil.Process
    upstream_port: int


def phase(
    name: str,
    port: int,
    request: bytes,
    *,
    requests: int,
    concurrency: int,
    stream: bool = False,
    probe: Probe | None = None,
) -> PhaseResult:
    """One measured run; with a probe, Steward's CPU per request and new upstream connections."""
    before = cpu_s(probe.steward) if probe else (0.0, 0.0)
    conns_before = upstream_connections(probe.upstream_port) if probe else (0, 0)
    result = load(port, request, requests=requests, concurrency=concurrency, stream=stream)
    cpu_ms = system_share = opened = closed = None
    if probe:
        time.sleep(SETTLE_S)
        after = cpu_s(probe.steward)
        # Each /stats query is a connection of its own, opened (and closed) outside the phase.
        conns_after = upstream_connections(probe.upstream_port)
        opened = conns_after[0] - conns_before[0] - 1
        closed = conns_after[1] - conns_before[1] - 1
        user, system = after[0] - before[0], after[1] - before[1]
        cpu_ms = (user + system) * 1000.0 / result.completed
        system_share = round(system / (user + system), 3) if user + system > 0 else None
    row = PhaseResult(
        name=name,
        concurrency=concurrency,
        requests=result.completed,
        errors=result.errors,
        elapsed_s=round(result.elapsed_s, 3),
        rps=round(result.rps, 1),
        p50_ms=round(result.percentile_ms(50), 3),
        p99_ms=round(result.percentile_ms(99), 3),
        mean_ms=round(result.mean_ms(), 3),
        cpu_ms_per_request=round(cpu_ms, 4) if cpu_ms is not None else None,
        cpu_system_share=system_share,
        upstream_opened=opened,
        upstream_closed=closed,
    )
    print(f"  {name:<16} {row.requests:>6} req  {row.rps:>8.0f} rps  p50 {row.p50_ms:.3f} ms")
    return row


def run_phases(
    args: argparse.Namespace, ports: tuple[int, int], key: str, steward: psutil.Process
) -> list[dict[str, PhaseResult]]:
    """Warm up, then measure every phase `--repeat` times."""
    upstream_port, steward_port = ports
    plain = chat_body("bench", stream=False)
    streamed = chat_body("bench", stream=True)
    direct_req = build_request("127.0.0.1", upstream_port, "/v1/chat/completions", plain, key)
    via_req = build_request("127.0.0.1", steward_port, "/v1/chat/completions", plain, key)
    stream_req = build_request("127.0.0.1", steward_port, "/v1/chat/completions", streamed, key)

    print("warming up")
    load(upstream_port, direct_req, requests=500, concurrency=1)
    load(steward_port, via_req, requests=500, concurrency=1)
    load(steward_port, via_req, requests=args.requests_c64 // 4, concurrency=64)
    load(steward_port, stream_req, requests=200, concurrency=16, stream=True)
    time.sleep(SETTLE_S)

    probe = Probe(steward, upstream_port)
    runs: list[dict[str, PhaseResult]] = []
    for repeat in range(1, args.repeat + 1):
        print(f"measuring, run {repeat} of {args.repeat}")
        runs.append(
            measure_once(
                args, (upstream_port, steward_port), (direct_req, via_req, stream_req), probe
            )
        )
    return runs


def measure_once(
    args: argparse.Namespace,
    ports: tuple[int, int],
    requests: tuple[bytes, bytes, bytes],
    probe: Probe,
) -> dict[str, PhaseResult]:
    upstream_port, steward_port = ports
    direct_req, via_req, stream_req = requests
    n1, n64 = args.requests_c1, args.requests_c64
    phases = [
        phase("direct c=1", upstream_port, direct_req, requests=n1, concurrency=1),
        phase("through c=1", steward_port, via_req, requests=n1, concurrency=1, probe=probe),
        phase("through c=64", steward_port, via_req, requests=n64, concurrency=64, probe=probe),
    ]
    for concurrency, count in ((1, args.requests_stream_c1), (16, args.requests_stream_c16)):
        phases.append(
            phase(
                f"stream c={concurrency}",
                steward_port,
                stream_req,
                requests=count,
                concurrency=concurrency,
                stream=True,
                probe=probe,
            )
        )
    return {p.name: p for p in phases}


def median_phases(runs: list[dict[str, PhaseResult]]) -> dict[str, PhaseResult]:
    """Per phase, the median of every number across runs (each field on its own)."""
    merged = {}
    for name, first in runs[0].items():
        values: dict[str, Any] = {}
        for key, value in asdict(first).items():
            column = [asdict(run[name])[key] for run in runs]
            if isinstance(value, int | float) and None not in column:
                values[key] = type(value)(statistics.median(column))
            else:
                values[key] = value
        merged[name] = PhaseResult(**values)
    return merged


def idle_cpu_ms_per_s(steward: psutil.Process, seconds: float = 4.0) -> float:
    """Background CPU of an idle Steward (writer polling, key refresher), for context.

    utime and stime count clock ticks (10 ms), so this resolves about 2.5 ms per second.
    """
    before = sum(cpu_s(steward))
    time.sleep(seconds)
    return (sum(cpu_s(steward)) - before) * 1000.0 / seconds


def count_records(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM requests").fetchone()[0])


# -- orchestration --------------------------------------------------------------------------------


def run(args: argparse.Namespace, report: Report, workdir: Path) -> None:
    upstream_port, steward_port = free_port(), free_port()
    config = workdir / "steward.toml"
    config.write_text(CONFIG.format(steward_port=steward_port, upstream_port=upstream_port))
    key = create_key(config)
    steward_cpus, load_cpus = split_cpus(args.no_pin)
    report.steward["pinned_cpus"] = sorted(steward_cpus) if steward_cpus else None
    report.steward["load_cpus"] = sorted(load_cpus) if load_cpus else None
    upstream_argv = [
        sys.executable,
        str(ROOT / "bench" / "upstream.py"),
        "--port",
        str(upstream_port),
        "--chunk-gap-ms",
        str(args.chunk_gap_ms),
    ]
    steward_argv = [str(STEWARD), "serve", "--config", str(config)]
    with (
        spawn(upstream_argv, workdir / "upstream.log", workdir, load_cpus, child_env()) as upstream,
        spawn(steward_argv, workdir / "steward.log", workdir, steward_cpus, child_env()) as steward,
    ):
        wait_ready(upstream_port, "/healthz", upstream, workdir / "upstream.log", 15)
        wait_ready(steward_port, "/readyz", steward, workdir / "steward.log", 60)
        if load_cpus:
            os.sched_setaffinity(0, load_cpus)
        ours = [steward, upstream, psutil.Process()]
        ours_before, (busy_before, steal_before) = sum(sum(cpu_s(p)) for p in ours), system_cpu_s()
        started = time.monotonic()
        report.steward["idle_cpu_ms_per_s"] = round(idle_cpu_ms_per_s(steward), 3)
        report.runs = run_phases(args, (upstream_port, steward_port), key, steward)
        report.phases = median_phases(report.runs)
        wall = time.monotonic() - started
        busy, steal = system_cpu_s()
        others = (busy - busy_before) - (sum(sum(cpu_s(p)) for p in ours) - ours_before)
        report.machine["other_processes_cpus"] = round(max(others, 0.0) / wall, 2)
        report.machine["steal_cpus"] = round((steal - steal_before) / wall, 3)
        report.steward["rss_mb"] = round(steward.memory_info().rss / 2**20, 1)
        report.steward["threads"] = steward.num_threads()
        report.steward["thread_affinity"] = thread_affinity(steward)
    report.steward["records_written"] = count_records(workdir / "steward.db")
    report.machine["loadavg_after"] = os.getloadavg()


def summarise(report: Report) -> None:
    phases, steward, nan = report.phases, report.steward, float("nan")
    direct, via, c64 = phases["direct c=1"], phases["through c=1"], phases["through c=64"]
    rows: list[tuple[str, float | None, float]] = [
        (
            "CPU per request, non-streamed, c=1 (ms)",
            via.cpu_ms_per_request,
            TARGETS["cpu_ms_per_request"],
        ),
        (
            "CPU per request, non-streamed, c=64 (ms)",
            c64.cpu_ms_per_request,
            TARGETS["cpu_ms_per_request"],
        ),
        ("added latency p50, c=1 (ms)", via.p50_ms - direct.p50_ms, TARGETS["added_p50_ms"]),
        ("added latency p99, c=1 (ms)", via.p99_ms - direct.p99_ms, nan),
        ("requests/s, c=64, Steward on one core", c64.rps, TARGETS["rps_one_core_c64"]),
        ("RSS after load (MB)", float(str(steward["rss_mb"])), TARGETS["rss_mb"]),
        ("steward --help, median (s)", float(str(report.cli["help_median_s"])), TARGETS["help_s"]),
        ("CPU per streamed request, c=1 (ms)", phases["stream c=1"].cpu_ms_per_request, nan),
        ("CPU per streamed request, c=16 (ms)", phases["stream c=16"].cpu_ms_per_request, nan),
    ]
    for metric, value, target in rows:
        met = None
        if value is not None and target == target:  # NaN: no target
            met = value >= target if metric.startswith("requests/s") else value <= target
        report.summary[metric] = {"value": value, "target": target, "met": met}


def print_report(report: Report) -> None:
    m = report.machine
    print(f"\nmachine: {m['nproc']} CPUs, {m['cpu_model']}, Python {m['python']}")
    print(f"load average before {m['loadavg_before']}, after {m.get('loadavg_after')}")
    print(
        f"during the measured runs: other processes used {m.get('other_processes_cpus')} CPUs, "
        f"steal {m.get('steal_cpus')} CPUs"
    )
    print(
        f"pinning: Steward on {report.steward['pinned_cpus']}, load on {report.steward['load_cpus']}"
    )
    print(
        f"\n{'phase':<14} {'req':>6} {'rps':>8} {'p50 ms':>8} {'p99 ms':>8} {'CPU ms/req':>10} {'sys':>5} {'up conns +/-':>12}"
    )
    for p in report.phases.values():
        cpu = f"{p.cpu_ms_per_request:.3f}" if p.cpu_ms_per_request is not None else "-"
        sys_share = f"{p.cpu_system_share:.0%}" if p.cpu_system_share is not None else "-"
        conns = "-" if p.upstream_opened is None else f"{p.upstream_opened}/{p.upstream_closed}"
        print(
            f"{p.name:<14} {p.requests:>6} {p.rps:>8.0f} {p.p50_ms:>8.3f} {p.p99_ms:>8.3f} {cpu:>10} {sys_share:>5} {conns:>12}"
        )
    print(f"\n{'metric':<48} {'measured':>9} {'target':>9}  met")
    for metric, row in report.summary.items():
        value, target, met = row["value"], row["target"], row["met"]
        shown = f"{value:.3f}" if isinstance(value, float) else str(value)
        goal = f"{target:g}" if isinstance(target, float) and target == target else "-"
        verdict = {True: "yes", False: "NO", None: ""}[met]  # type: ignore[index]
        print(f"{metric:<48} {shown:>9} {goal:>9}  {verdict}")
    s = report.steward
    print(
        f"\nSteward idle CPU {s['idle_cpu_ms_per_s']} ms/s, {s['threads']} threads, "
        f"thread CPUs {s['thread_affinity']}, records written {s['records_written']}"
    )
    print("slowest imports for `steward --help` (cumulative ms):")
    for module, ms in report.cli["import_cli_top"][:5]:  # type: ignore[index]
        print(f"  {ms:8.1f}  {module}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests-c1", type=int, default=2000)
    parser.add_argument("--requests-c64", type=int, default=20000)
    parser.add_argument("--requests-stream-c1", type=int, default=300)
    parser.add_argument("--requests-stream-c16", type=int, default=2000)
    parser.add_argument(
        "--chunk-gap-ms", type=float, default=1.0, help="upstream delay between stream events"
    )
    parser.add_argument("--repeat", type=int, default=3, help="measured runs; medians reported")
    parser.add_argument("--help-runs", type=int, default=5)
    parser.add_argument("--no-pin", action="store_true", help="do not pin processes to CPUs")
    parser.add_argument("--json", type=Path, help="also write the full results here")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    report = Report(machine=machine_facts())
    print("timing `steward --help`")
    report.cli = measure_cli(args.help_runs)
    try:
        with tempfile.TemporaryDirectory(prefix="steward-bench-") as tmp:
            run(args, report, Path(tmp))
    except (BenchError, subprocess.SubprocessError, OSError) as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1
    summarise(report)
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(asdict(report), indent=2) + "\n")
    missed = [metric for metric, row in report.summary.items() if row["met"] is False]
    if args.check and missed:
        print(f"targets missed: {', '.join(missed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
