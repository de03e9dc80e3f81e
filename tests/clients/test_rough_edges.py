"""What a new user hits first (issue 16, section 3): each rough edge as it was met, now answered clearly."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import zerorpc
from clients_support import one_line_error, run_client, run_json
from conftest import RunningServer, free_port

from workbench.testing import REPO_ROOT

SLOW_WORKER = '''
import time


class Slow:
    """Test fixture: a worker that takes 0.1 s a sample, so a batch can be interrupted halfway."""

    dependencies = ["sample"]

    def execute(self, input_data):
        time.sleep(0.1)
        return {"size": len(input_data["sample"]["raw_bytes"])}
'''


def cli(port: int, *args: str | Path, timeout: float = 120) -> subprocess.CompletedProcess:
    """``python -m workbench.clients.workbench_cli -s 127.0.0.1 -p PORT ARGS...`` as a person would run it."""
    return subprocess.run([sys.executable, "-m", "workbench.clients.workbench_cli", "-s", "127.0.0.1", "-p",
                           str(port), *map(str, args)], capture_output=True, text=True, timeout=timeout,
                          cwd=REPO_ROOT)


def test_ctrl_c_during_batch_out_keeps_the_rows_received_in_a_valid_file(server_factory, tmp_path: Path) -> None:
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "slow.py").write_text(textwrap.dedent(SLOW_WORKER))
    server = server_factory(plugin_dirs=[plugins], procs=1)
    client = server.client()
    for number in range(40):
        client.store_sample(f"sample number {number}".encode(), f"s{number}.txt", "txt")
    out = tmp_path / "f.parquet"
    batch = subprocess.Popen([sys.executable, "-m", "workbench.clients.workbench_cli", "-p", str(server.port),
                              "batch", "slow", "--json", "--out", str(out)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, cwd=REPO_ROOT, env={**os.environ,
                                                                                     "PYTHONUNBUFFERED": "1"})
    first = [json.loads(batch.stdout.readline()) for _ in range(3)]  # results are arriving: interrupt now
    assert all(r["slow"]["size"] > 0 for r in first)
    batch.send_signal(signal.SIGINT)
    stdout, stderr = batch.communicate(timeout=60)
    assert batch.returncode == 130, stderr
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr
    said = [line for line in stderr.splitlines() if "interrupted after" in line]
    assert said, stderr
    received = int(said[0].split("interrupted after ")[1].split()[0])
    assert 0 < received < 40, stderr
    assert f"{out} is a complete file of the {received} results received" in said[0]
    table = pq.read_table(out)  # a valid parquet file: footer written
    assert table.num_rows == received and set(table.column("md5").to_pylist()) <= set(
        client.get_sample_set(client.generate_sample_set(None, "txt")))
    log = server.log()
    deadline = time.monotonic() + 30
    while "client went away" not in log and time.monotonic() < deadline:  # after zerorpc's 10 s heartbeat
        time.sleep(0.5)
        log = server.log()
    assert "client went away: Lost remote" in log and "Traceback" not in log, log[-3000:]
    assert client.info()["samples"] == 40, "the server carries on"
