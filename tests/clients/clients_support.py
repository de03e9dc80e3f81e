"""Helpers shared by the client tests: run a client as a person would (a subprocess) and read what it prints."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from workbench.testing import REPO_ROOT


def run_client(module: str, port: int, *args: str | Path, timeout: float = 180,
               env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """``python -m workbench.clients.MODULE -s 127.0.0.1 -p PORT ARGS...``; stdout and stderr as text."""
    command = [sys.executable, "-m", f"workbench.clients.{module}", "-s", "127.0.0.1", "-p", str(port),
               *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=cwd or REPO_ROOT,
                          env={**os.environ, **(env or {})})


def run_json(module: str, port: int, *args: str | Path, **kwargs: Any) -> Any:
    """run_client with --json; asserts exit code 0 and returns the parsed output."""
    done = run_client(module, port, *args, "--json", **kwargs)
    assert done.returncode == 0, f"{module} exited {done.returncode}:\n{done.stderr}\n{done.stdout[:2000]}"
    return json.loads(done.stdout)


def one_line_error(done: subprocess.CompletedProcess) -> str:
    """The single line a failing command wrote to stderr (asserts there is exactly one, and no traceback)."""
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert "Traceback" not in done.stderr, done.stderr
    assert len(lines) == 1, f"expected one line on stderr, got:\n{done.stderr}"
    return lines[0]
