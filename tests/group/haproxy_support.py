"""A real HAProxy (Debian's package) on loopback in front of real workbench-servers, run from deploy/haproxy.cfg.

The shipped config is used as it is except for the lines a deployment changes anyway (the frontend's bind and
the server lines) plus a stats socket, through which the tests read what HAProxy thinks of each server.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from workbench.testing import REPO_ROOT

SHIPPED = REPO_ROOT / "deploy" / "haproxy.cfg"


def require_haproxy() -> str:
    """The haproxy binary, or skip: these tests need Debian's 'haproxy' package (install.sh installs it)."""
    path = shutil.which("haproxy") or ("/usr/sbin/haproxy" if Path("/usr/sbin/haproxy").exists() else None)
    if path is None:
        pytest.skip("haproxy is not installed: run ./install.sh (apt-get install haproxy)")
    return path


def config_for(port: int, servers: list[tuple[str, int, int]], stats_socket: Path) -> str:
    """deploy/haproxy.cfg with the bind on 127.0.0.1:port and one server line per (name, port, health port)."""
    text = SHIPPED.read_text()
    text = re.sub(r"(?m)^    bind .*$", f"    bind 127.0.0.1:{port}", text)
    lines = "\n".join(f"    server {name} 127.0.0.1:{rpc} check port {health}" for name, rpc, health in servers)
    text = re.sub(r"(?m)(^    server .*\n)+", lines + "\n", text)
    return text.replace("global\n", f"global\n    stats socket {stats_socket} mode 600 level admin\n", 1)


@dataclass
class RunningHaproxy:
    """An haproxy child process and its stats socket."""

    port: int
    proc: subprocess.Popen
    stats_socket: Path

    def _server_rows(self) -> list[list[str]]:
        """The backend's server rows of HAProxy's ``show stat`` (CSV: name in column 1, stot 7, status 17)."""
        with socket.socket(socket.AF_UNIX) as sock:
            sock.connect(str(self.stats_socket))
            sock.sendall(b"show stat\n")
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        rows = [line.split(",") for line in data.decode().splitlines() if line and not line.startswith("#")]
        return [row for row in rows if row[0] == "workbench_servers" and row[1] not in ("BACKEND", "FRONTEND")]

    def statuses(self) -> dict[str, str]:
        """{server name: 'UP' | 'DOWN' | ...} as HAProxy's health checks see them now."""
        return {row[1]: row[17].split(" ")[0] for row in self._server_rows()}

    def sessions(self) -> dict[str, int]:
        """{server name: connections HAProxy has passed to it so far}."""
        return {row[1]: int(row[7]) for row in self._server_rows()}

    def wait_for(self, name: str, status: str, timeout: float) -> float:
        """Seconds until HAProxy reports ``name`` in ``status``; fails the test after ``timeout``."""
        started = time.monotonic()
        while self.statuses().get(name) != status:
            if time.monotonic() - started > timeout:
                raise AssertionError(f"{name} not {status} after {timeout} s: {self.statuses()}")
            time.sleep(0.05)
        return time.monotonic() - started

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def start_haproxy(tmp_path: Path, port: int, servers: list[tuple[str, int, int]]) -> RunningHaproxy:
    """Start haproxy in the foreground on 127.0.0.1:port and wait until it listens and sees every server UP."""
    binary = require_haproxy()
    stats = tmp_path / "haproxy.sock"
    config = tmp_path / "haproxy.cfg"
    config.write_text(config_for(port, servers, stats))
    check = subprocess.run([binary, "-c", "-f", str(config)], capture_output=True, text=True)
    assert check.returncode == 0, f"haproxy refused the config: {check.stdout}{check.stderr}"
    log = open(tmp_path / "haproxy.log", "wb")  # noqa: SIM115 - kept open for the child's lifetime
    proc = subprocess.Popen([binary, "-db", "-f", str(config)], stdout=log, stderr=subprocess.STDOUT)
    running = RunningHaproxy(port, proc, stats)
    deadline = time.monotonic() + 20
    while not stats.exists() or any(s != "UP" for s in _statuses_or_empty(running).values()) \
            or len(_statuses_or_empty(running)) < len(servers):
        if proc.poll() is not None or time.monotonic() > deadline:
            running.stop()
            raise RuntimeError(f"haproxy did not come up: {(tmp_path / 'haproxy.log').read_text()}")
        time.sleep(0.1)
    return running


def _statuses_or_empty(running: RunningHaproxy) -> dict[str, str]:
    try:
        return running.statuses()
    except OSError:
        return {}


@dataclass
class Group:
    """Servers over one sqlite file, each with a health port, behind one HAProxy."""

    servers: dict  # name -> (RunningServer, health port)
    haproxy: RunningHaproxy

    def client(self, timeout: float = 60, heartbeat: float = 5):  # noqa: ANN201 - zerorpc.Client
        import zerorpc

        client = zerorpc.Client(timeout=timeout, heartbeat=heartbeat)
        client.connect(f"tcp://127.0.0.1:{self.haproxy.port}")
        return client

    def stop(self) -> None:
        import os
        import signal

        self.haproxy.stop()
        for server, _ in self.servers.values():
            if server.proc.poll() is None:
                os.kill(server.proc.pid, signal.SIGCONT)
            server.stop()


def start_group(tmp_path: Path, workers: dict[str, str], names: tuple[str, ...] = ("wb1", "wb2"),
                procs: int = 1, extra_env: dict[str, str] | None = None) -> Group:
    """Servers ``names`` (workers = {file name: source} in a shared plugin folder) behind a real HAProxy."""
    from conftest import free_port, start_server

    require_haproxy()
    plugins = tmp_path / "plugins"
    plugins.mkdir(exist_ok=True)
    for name, source in workers.items():
        (plugins / name).write_text(source)
    datastore = f"sqlite:///{tmp_path}/group.db"
    lb_port = free_port()
    servers = {}
    for name in names:
        health = free_port()
        servers[name] = (start_server(tmp_path, datastore=datastore, plugin_dirs=[plugins], procs=procs,
                                      extra_env=extra_env,
                                      extra_args=["--health-port", str(health), "--server-name", name,
                                                  "--group-address", f"tcp://127.0.0.1:{lb_port}"]), health)
    return Group(servers, start_haproxy(tmp_path, lb_port, [(n, s.port, h) for n, (s, h) in servers.items()]))
