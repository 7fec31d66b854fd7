"""Child processes for benchmarks: CPU pinning, readiness, plain HTTP probes, CPU time.

Children inherit this process's CPU affinity when they start, so `spawn` pins a child by pinning
itself around the fork; every thread the child later creates inherits the same CPUs.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil


class BenchError(Exception):
    """The benchmark could not run (a process did not start, requests failed)."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def spawn(
    argv: list[str], log: Path, cwd: Path, cpus: set[int] | None, env: dict[str, str]
) -> Iterator[psutil.Process]:
    """Run a child pinned to `cpus` (inherited from this process at fork); always stop it."""
    previous = os.sched_getaffinity(0)
    if cpus:
        os.sched_setaffinity(0, cpus)
    try:
        with log.open("wb") as out:
            child = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=cwd, env=env)
    finally:
        os.sched_setaffinity(0, previous)
    try:
        yield psutil.Process(child.pid)
    finally:
        stop(child)


def stop(child: subprocess.Popen[bytes]) -> None:
    if child.poll() is not None:
        return
    child.send_signal(signal.SIGTERM)
    try:
        child.wait(timeout=20)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait(timeout=10)


def http_get(port: int, path: str, timeout_s: float = 2.0) -> tuple[int, bytes]:
    """(status, body) of one `GET path` on a fresh connection; the body is read by Content-Length."""
    request = f"GET {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n".encode()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as sock:
        sock.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            data += _recv(sock)
        head, _, body = data.partition(b"\r\n\r\n")
        match = re.search(rb"(?im)^content-length:\s*(\d+)", head)
        length = int(match.group(1)) if match else 0
        while len(body) < length:
            body += _recv(sock)
    return int(head.split(b" ", 2)[1]), body[:length]


def _recv(sock: socket.socket) -> bytes:
    data = sock.recv(65536)
    if not data:
        raise ConnectionError("connection closed before the response was complete")
    return data


def wait_ready(port: int, path: str, process: psutil.Process, log: Path, timeout_s: float) -> None:
    """Poll `GET path` until it answers 200; fail early if the process dies."""
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    while time.monotonic() < deadline:
        if not process.is_running() or process.status() == psutil.STATUS_ZOMBIE:
            raise BenchError(f"{log.name} exited during start-up:\n{tail(log)}")
        try:
            status, body = http_get(port, path)
            if status == 200:
                return
            last = f"HTTP {status}: {body[:300]!r}"
        except OSError as exc:
            last = str(exc)
        time.sleep(0.1)
    raise BenchError(f"{path} on port {port} not ready after {timeout_s} s ({last}):\n{tail(log)}")


def tail(log: Path, lines: int = 30) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def cpu_s(process: psutil.Process) -> tuple[float, float]:
    """(user, system) CPU seconds of every thread of the process so far."""
    times = process.cpu_times()
    return float(times.user), float(times.system)


def split_cpus(no_pin: bool) -> tuple[set[int] | None, set[int] | None]:
    """(Steward's CPUs, the load side's CPUs): the last CPU for Steward, the rest for load."""
    cpus = sorted(os.sched_getaffinity(0))
    if no_pin or len(cpus) < 2:
        return None, None
    return {cpus[-1]}, set(cpus[:-1])


def thread_affinity(process: psutil.Process) -> list[list[int]]:
    """The distinct CPU sets of every thread, to show the pinning held."""
    sets = {tuple(sorted(os.sched_getaffinity(t.id))) for t in process.threads()}
    return [list(s) for s in sorted(sets)]


def system_cpu_s() -> tuple[float, float]:
    """(busy, steal) CPU seconds of the whole machine so far, from /proc/stat."""
    with open("/proc/stat") as stat:
        fields = [int(x) for x in stat.readline().split()[1:]]
    tick = os.sysconf("SC_CLK_TCK")
    user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq) / tick, steal / tick
