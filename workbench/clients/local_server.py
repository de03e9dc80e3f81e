"""Find a Workbench server, or start a private one on a free loopback port (local mode).

``workbench analyze`` and the notebooks use this so that a newcomer sees Workbench work with no set-up: when
nothing answers at the configured address, a ``workbench-server`` child process is started over a store in the
user's data folder (``~/.local/share/workbench/local.db``), used, and stopped again. The child gets SIGTERM if
this process dies first (PR_SET_PDEATHSIG), so no server is left behind either way.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import zerorpc

from workbench.clients.client_helper import connect, port_answers

PR_SET_PDEATHSIG = 1


def data_dir() -> Path:
    """The user's Workbench data folder (``$XDG_DATA_HOME/workbench``, by default ~/.local/share/workbench)."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "workbench"


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _die_with_parent() -> None:  # runs in the child between fork and exec
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class LocalServer:
    """A ``workbench-server`` child process on 127.0.0.1; ``stop()`` ends it and its worker processes."""

    def __init__(self, datastore: str | None = None, plugin_dirs: list[str | Path] | None = None,
                 procs: int | None = None, startup_timeout: float = 120.0) -> None:
        self.datastore = datastore or f"sqlite:///{data_dir() / 'local.db'}"
        self.plugin_dirs = [str(d) for d in plugin_dirs or []]
        self.procs = procs
        self.startup_timeout = startup_timeout
        self.port = 0
        self.proc: subprocess.Popen | None = None
        self.log_path = data_dir() / "local-server.log"

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs."""
        return self.proc.pid if self.proc else None

    def start(self) -> LocalServer:
        """Start the server and wait until it listens; its log goes to ``data_dir()/local-server.log``."""
        self.port = free_port()
        args = [sys.executable, "-m", "workbench.server.cli", "--bind", "127.0.0.1", "--port", str(self.port),
                "--datastore", self.datastore]
        if self.procs is not None:
            args += ["--procs", str(self.procs)]
        for folder in self.plugin_dirs:
            args += ["--plugin-dir", folder]
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         preexec_fn=_die_with_parent if sys.platform == "linux" else None)
        atexit.register(self.stop)
        deadline = time.monotonic() + self.startup_timeout
        while "listening on" not in self.log():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                log = self.log()
                self.stop()
                raise RuntimeError(f"the local workbench-server did not start; its log ({self.log_path}):\n{log}")
            time.sleep(0.05)
        return self

    def log(self) -> str:
        """What the server wrote so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def client(self, timeout: float | None = None) -> zerorpc.Client:
        """A connected client (checked with a cheap call)."""
        return connect("127.0.0.1", self.port, timeout=timeout)

    def stop(self) -> int | None:
        """SIGTERM, wait (its worker processes stop with it), SIGKILL after 20 s; returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        atexit.unregister(self.stop)
        return self.proc.returncode

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


def connect_or_start(server: str = "127.0.0.1", port: int | None = None, datastore: str | None = None,
                     plugin_dirs: list[str | Path] | None = None) -> tuple[zerorpc.Client, LocalServer | None]:
    """A client of the server at server:port ($WORKBENCH_PORT, else 4242) if one answers, else of a local
    server started here (stopped when this process exits). Returns (client, the LocalServer or None)."""
    port = int(port or os.environ.get("WORKBENCH_PORT") or 4242)
    if port_answers(server, port):
        return connect(server, port), None
    local = LocalServer(datastore, plugin_dirs).start()
    return local.client(), local
