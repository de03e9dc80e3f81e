"""Several workbench-servers over one sqlite file behind a real HAProxy (deploy/haproxy.cfg) on loopback.

What a team relies on when the group grows: every API call works through the balancer (streams, calls
longer than the heartbeat), each server's health endpoint answers from its own loop, and a server that is
killed or hung is taken out of rotation within the health-check interval while the others go on serving.
"""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from haproxy_support import Group, start_group

SLOW_WORKER = '''
import time


class SlowEcho:
    """Slow echo: sleeps longer than two client heartbeats, then answers (tests long calls)."""

    dependencies = ["sample"]
    timeout = 60

    def execute(self, input_data):
        time.sleep(12)
        return {"length": len(input_data["sample"]["raw_bytes"])}
'''


@pytest.fixture
def group(tmp_path: Path) -> Iterator[Group]:
    running = start_group(tmp_path, {"slow_echo.py": SLOW_WORKER})
    yield running
    running.stop()


def test_every_api_call_streams_and_long_calls_work_through_haproxy(group: Group) -> None:
    client = group.client()
    md5s = [client.store_sample(f"sample {i} ".encode() * 20, f"s{i}.txt", "txt") for i in range(300)]
    assert len(set(md5s)) == 300 and client.has_sample(md5s[0])
    one_by_one = list(client.batch_work_request("meta", {"md5_list": md5s}))
    assert sorted(r["md5"] for r in one_by_one) == sorted(md5s)
    batched = [r for batch in client.batch_work_request("meta", {"md5_list": md5s, "batch_size": 50}) for r in batch]
    assert sorted(r["md5"] for r in batched) == sorted(md5s)
    assert client.work_request("meta", md5s[7])["meta"]["length"] == len(b"sample 7 " * 20)
    assert client.get_sample(md5s[1])["sample"]["raw_bytes"] == b"sample 1 " * 20
    assert {w["name"] for w in client.list_all_workers()} >= {"meta", "slow_echo"}
    assert "store_sample" in client.help()
    started = time.monotonic()
    assert client.work_request("slow_echo", md5s[0])["slow_echo"]["length"] == 180  # 12 s > 2 heartbeats
    assert time.monotonic() - started >= 12
    info = client.info()
    assert info["group"]["server_name"] in group.servers
    assert info["group"]["group_address"] == f"tcp://127.0.0.1:{group.haproxy.port}"
    client.close()


def test_each_servers_health_endpoint_answers_from_its_loop(group: Group) -> None:
    for name, (_, health) in group.servers.items():
        with urllib.request.urlopen(f"http://127.0.0.1:{health}/health", timeout=5) as answer:
            body = json.load(answer)
        assert answer.status == 200
        assert (body["status"], body["server_name"], body["procs_alive"]) == ("ok", name, 1)


def test_a_killed_server_is_taken_out_within_the_check_interval_and_the_rest_serve(group: Group) -> None:
    client = group.client()
    md5 = client.store_sample(b"kept across the loss of a server", "kept.txt", "txt")
    client.close()
    victim, _ = group.servers["wb1"]
    victim.proc.send_signal(signal.SIGKILL)
    victim.proc.wait()
    waited = group.haproxy.wait_for("wb1", "DOWN", timeout=10)
    assert waited <= 4.5  # inter 1 s (fastinter 0.5 s) x fall 2, plus one check timeout at most
    for _ in range(10):  # every new connection now lands on wb2, and the store lost nothing
        fresh = group.client(timeout=20)
        assert fresh.work_request("meta", md5)["meta"]["filename"] == "kept.txt"
        assert fresh.info()["group"]["server_name"] == "wb2"
        fresh.close()


def test_a_hung_server_fails_its_check_and_comes_back_when_it_recovers(group: Group) -> None:
    victim, _ = group.servers["wb2"]
    os.kill(victim.proc.pid, signal.SIGSTOP)  # alive, port open, but its loop answers nothing
    try:
        assert group.haproxy.wait_for("wb2", "DOWN", timeout=10) <= 6.5  # check timeout 2 s x fall 2, plus inter
        fresh = group.client(timeout=20)
        assert fresh.info()["group"]["server_name"] == "wb1"
        fresh.close()
    finally:
        os.kill(victim.proc.pid, signal.SIGCONT)
    group.haproxy.wait_for("wb2", "UP", timeout=15)
