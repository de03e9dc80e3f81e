"""Shared pieces of the bench scripts: real servers as subprocesses, a bare zerorpc baseline, CPU accounting.

Every bench starts what it measures as separate processes on free 127.0.0.1 ports, over temp sqlite files,
and stops them (by their own pids) when it ends, even on Ctrl-C. Baselines run in the same script, interleaved
with the measured thing round by round, so a noisy neighbour on the machine hits both sides alike.
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zerorpc

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from workbench.testing import DATA_DIR  # noqa: E402 - needs the repo root on sys.path first

CLK_TCK = os.sysconf("SC_CLK_TCK")
_started: list[subprocess.Popen] = []
_temp_dirs: list[str] = []


def free_port() -> int:
    """A port nobody listens on right now (bound then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def temp_dir(prefix: str = "workbench-bench-") -> Path:
    """A scratch folder removed when the bench exits."""
    path = tempfile.mkdtemp(prefix=prefix)
    _temp_dirs.append(path)
    return Path(path)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@atexit.register
def _cleanup() -> None:
    for proc in reversed(_started):
        _stop(proc)
    for path in _temp_dirs:
        shutil.rmtree(path, ignore_errors=True)


def _wait_for(proc: subprocess.Popen, log_path: Path, marker: str, what: str) -> None:
    deadline = time.monotonic() + 120
    while marker not in log_path.read_text(errors="replace"):
        if proc.poll() is not None or time.monotonic() > deadline:
            _stop(proc)
            raise RuntimeError(f"{what} did not start:\n{log_path.read_text(errors='replace')}")
        time.sleep(0.05)


@dataclass
class Server:
    """A server child process (workbench-server or the bare baseline) on 127.0.0.1:port."""

    port: int
    proc: subprocess.Popen
    log_path: Path
    clients: list[zerorpc.Client] = field(default_factory=list)

    @property
    def endpoint(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def client(self, timeout: float = 300) -> zerorpc.Client:
        """A connected zerorpc client (the same settings for the baseline and Workbench)."""
        client = zerorpc.Client(timeout=timeout, heartbeat=5)
        client.connect(self.endpoint)
        self.clients.append(client)
        return client

    def pids(self) -> list[int]:
        """The server's pid and its children's (the pool's worker processes)."""
        return [self.proc.pid, *children_of(self.proc.pid)]

    def stop(self) -> None:
        for client in self.clients:
            client.close()
        self.clients.clear()
        _stop(self.proc)


def start_workbench(folder: Path, procs: int, datastore: str | None = None, plugin_dirs: list[Path] | None = None,
                    env: dict[str, str] | None = None) -> Server:
    """``workbench-server --procs N`` over a sqlite file in ``folder`` (or ``datastore``), on a free port."""
    port = free_port()
    datastore = datastore or f"sqlite:///{folder}/workbench.db"
    args = [sys.executable, "-m", "workbench.server.cli", "--port", str(port), "--datastore", datastore,
            "--procs", str(procs)]
    for plugin_dir in plugin_dirs or []:
        args += ["--plugin-dir", str(plugin_dir)]
    log_path = folder / f"server-{port}.log"
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(args, stdout=log_file, stderr=subprocess.STDOUT, cwd=REPO_ROOT,
                                env={**os.environ, **(env or {})})
    _started.append(proc)
    _wait_for(proc, log_path, "listening on", "workbench-server")
    return Server(port, proc, log_path)


def start_bare(folder: Path) -> Server:
    """The baseline: a bare zerorpc server (bare_server.py) with no Workbench code at all."""
    port = free_port()
    log_path = folder / f"bare-{port}.log"
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name("bare_server.py")), str(port)],
                                stdout=log_file, stderr=subprocess.STDOUT, cwd=REPO_ROOT)
    _started.append(proc)
    _wait_for(proc, log_path, "ready", "bare zerorpc server")
    return Server(port, proc, log_path)


def children_of(pid: int) -> list[int]:
    """Direct child pids of ``pid`` (from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (0 if it has gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


class CpuMeter:
    """CPU seconds used by groups of processes between start() and stop()."""

    def __init__(self, groups: dict[str, list[int]]) -> None:
        self.groups = groups
        self.used: dict[str, float] = {}

    def __enter__(self) -> CpuMeter:
        self._start = {name: sum(cpu_seconds(p) for p in pids) for name, pids in self.groups.items()}
        return self

    def __exit__(self, *_: object) -> None:
        for name, pids in self.groups.items():
            self.used[name] = sum(cpu_seconds(p) for p in pids) - self._start[name]


def pe_files() -> list[Path]:
    """Every PE sample of the shared data (pe/good + pe/bad), sorted; exits with a message when absent."""
    folders = [DATA_DIR / "pe" / "good", DATA_DIR / "pe" / "bad"]
    missing = [str(f) for f in folders if not f.is_dir()]
    if missing:
        sys.exit(f"bench needs the shared samples; missing {missing} (set WORKBENCH_TEST_DATA)")
    return sorted(p for folder in folders for p in folder.iterdir() if p.is_file())


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """(seconds, result) of one call."""
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def median(values: list[float]) -> float:
    return statistics.median(values)


def percentile(values: list[float], pct: float) -> float:
    """The pct-th percentile (nearest rank) of ``values``."""
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def machine_line() -> str:
    """Cores and load, printed at the top of every bench (figures on a busy machine say so)."""
    load = os.getloadavg()
    return (f"machine: {os.cpu_count()} cores, python {sys.version.split()[0]}, "
            f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


def print_rows(title: str, rows: list[tuple[str, ...]]) -> None:
    """A small aligned table."""
    print(f"\n{title}")
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
