"""Shared fixtures: a real workbench-server on 127.0.0.1 (random free port) over a real sqlite file."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import zerorpc

from workbench.server.workbench import Workbench
from workbench.testing import DATA_DIR, REPO_ROOT, make_workbench, require_data

__all__ = ["DATA_DIR", "REPO_ROOT", "require_data"]


def free_port() -> int:
    """A port nobody listens on right now (bound then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class RunningServer:
    """A workbench-server child process and how to reach it."""

    port: int
    datastore: str
    proc: subprocess.Popen
    log_path: Path
    clients: list[zerorpc.Client] = field(default_factory=list)

    def client(self, timeout: float = 60) -> zerorpc.Client:
        """A connected zerorpc client (closed at teardown)."""
        client = zerorpc.Client(timeout=timeout, heartbeat=5)
        client.connect(f"tcp://127.0.0.1:{self.port}")
        self.clients.append(client)
        return client

    def log(self) -> str:
        """What the server wrote to stdout/stderr so far."""
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        """Stop the server and wait for it; returns its exit code."""
        for client in self.clients:
            client.close()
        self.clients.clear()
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def start_server(tmp_path: Path, datastore: str | None = None, plugin_dirs: list[Path] | None = None,
                 procs: int = 2, extra_env: dict[str, str] | None = None, extra_args: list[str] | None = None
                 ) -> RunningServer:
    """Start workbench-server and wait until it listens (its stdout says so)."""
    port = free_port()
    datastore = datastore or f"sqlite:///{tmp_path}/workbench.db"
    args = [sys.executable, "-m", "workbench.server.cli", "--port", str(port), "--datastore", datastore,
            "--procs", str(procs), *(extra_args or [])]
    for folder in plugin_dirs or []:
        args += ["--plugin-dir", str(folder)]
    log_path = tmp_path / f"server-{port}.log"
    env = {**os.environ, **(extra_env or {})}
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(args, stdout=log_file, stderr=subprocess.STDOUT, env=env, cwd=REPO_ROOT)
    server = RunningServer(port, datastore, proc, log_path)
    deadline = time.monotonic() + 60
    while "listening on" not in server.log():
        if proc.poll() is not None or time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"workbench-server did not start:\n{server.log()}")
        time.sleep(0.05)
    return server


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator:
    """Start servers on demand; all are stopped at teardown."""
    started: list[RunningServer] = []

    def factory(**kwargs: object) -> RunningServer:
        server = start_server(tmp_path, **kwargs)  # type: ignore[arg-type]
        started.append(server)
        return server

    yield factory
    for server in started:
        server.stop()


@pytest.fixture
def server(server_factory) -> RunningServer:  # noqa: ANN001 - fixture
    """One fresh server with 2 worker processes over an empty sqlite file."""
    return server_factory()


@pytest.fixture
def workbench(tmp_path: Path) -> Iterator[Workbench]:
    """An in-process Workbench on a sqlite file of this test's own (chains run here, procs=0).

    Lives here, not in a ``tests/workers/conftest.py``: a second module named ``conftest`` would shadow this
    one for every ``from conftest import ...`` depending on collection order.
    """
    bench = make_workbench(tmp_path)
    yield bench
    bench.close()
